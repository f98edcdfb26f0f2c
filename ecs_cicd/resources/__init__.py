"""One module per resource kind. Each handler class exposes ensure(ctx, spec) -> Outcome and
delete(ctx, record) -> Outcome; HANDLERS maps a spec's kind to its handler."""

from __future__ import annotations

from ecs_cicd.engine import Handler


def handlers() -> dict[str, Handler]:
    from ecs_cicd.resources import (
        artifacts,
        cluster,
        codebuild,
        codepipeline,
        ecr,
        iam,
        loadbalancer,
        logs,
        network,
        security,
        service,
        taskdef,
    )

    table: dict[str, Handler] = {
        "vpc": network.VpcHandler(),
        "vpc.existing": network.ExistingVpcHandler(),
        "subnet": network.SubnetHandler(),
        "subnet.existing": network.ExistingSubnetHandler(),
        "igw": network.InternetGatewayHandler(),
        "route_table": network.RouteTableHandler(),
        "security_group": security.SecurityGroupHandler(),
        "load_balancer": loadbalancer.LoadBalancerHandler(),
        "target_group": loadbalancer.TargetGroupHandler(),
        "listener": loadbalancer.ListenerHandler(),
        "ecr_repository": ecr.RepositoryHandler(),
        "log_group": logs.LogGroupHandler(),
        "artifact_bucket": artifacts.ArtifactBucketHandler(),
        "iam_role": iam.RoleHandler(),
        "cluster": cluster.ClusterHandler(),
        "task_definition": taskdef.TaskDefinitionHandler(),
        "service": service.ServiceHandler(),
        "codebuild_project": codebuild.ProjectHandler(),
        "pipeline": codepipeline.PipelineHandler(),
        "webhook": codepipeline.WebhookHandler(),
    }
    try:
        from ecs_cicd.resources import codedeploy
    except ImportError:  # blue/green lands separately
        return table
    table["codedeploy_app"] = codedeploy.ApplicationHandler()
    table["deployment_group"] = codedeploy.DeploymentGroupHandler()
    return table
