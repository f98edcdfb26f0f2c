"""An independent inventory of what exists in an account and region, by kind: what a stack can
leave behind (and bill for). Used by the demo and the tests to prove `down` left nothing, and to
count resources after crash-and-rerun. It lists with plain boto3 calls, not the handlers' own
lookups, so it cannot share their blind spots.
"""

from __future__ import annotations

from typing import Any

from ecs_cicd.aws import Aws

DEFAULT_VPC_CIDR = "172.31.0.0/16"


def inventory(aws: Aws, prefix: str = "") -> dict[str, list[str]]:
    """Resource ids by kind; `prefix` narrows named resources to a stack (e.g. 'shop-dev')."""
    ec2, elb, ecs = aws.client("ec2"), aws.client("elbv2"), aws.client("ecs")
    out: dict[str, list[str]] = {}

    def named(values: list[str]) -> list[str]:
        return sorted(v for v in values if prefix in v)

    vpcs = [v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    vpc_ids = {v["VpcId"] for v in vpcs}
    out["vpc"] = sorted(vpc_ids)
    out["subnet"] = sorted(
        s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] in vpc_ids
    )
    out["internet_gateway"] = sorted(
        g["InternetGatewayId"]
        for g in ec2.describe_internet_gateways()["InternetGateways"]
        if any(t["Key"] == "ecs-cicd:stack" for t in g.get("Tags", []))
        or any(a.get("VpcId") in vpc_ids for a in g.get("Attachments", []))
    )
    out["route_table"] = sorted(
        r["RouteTableId"]
        for r in ec2.describe_route_tables()["RouteTables"]
        if r["VpcId"] in vpc_ids and not any(a.get("Main") for a in r.get("Associations", []))
    )
    out["security_group"] = sorted(
        g["GroupId"]
        for g in ec2.describe_security_groups()["SecurityGroups"]
        if g["GroupName"] != "default"
    )
    out["load_balancer"] = named(
        [lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancers"]]
    )
    out["target_group"] = named(
        [t["TargetGroupName"] for t in elb.describe_target_groups()["TargetGroups"]]
    )
    out["ecr_repository"] = named(
        [r["repositoryName"] for r in aws.client("ecr").describe_repositories()["repositories"]]
    )
    out["log_group"] = named(
        [g["logGroupName"] for g in aws.client("logs").describe_log_groups()["logGroups"]]
    )
    out["s3_bucket"] = named(
        [b["Name"] for b in aws.client("s3").list_buckets().get("Buckets", [])]
    )
    roles = aws.client("iam").list_roles()["Roles"]
    out["iam_role"] = named(
        [r["RoleName"] for r in roles if not r["Path"].startswith("/aws-service-role/")]
    )
    clusters = ecs.list_clusters()["clusterArns"]
    live_clusters = [
        c["clusterName"]
        for c in (ecs.describe_clusters(clusters=clusters)["clusters"] if clusters else [])
        if c["status"] == "ACTIVE"
    ]
    out["ecs_cluster"] = named(live_clusters)
    services: list[str] = []
    for name in live_clusters:
        arns = ecs.list_services(cluster=name)["serviceArns"]
        if arns:
            services += [
                s["serviceName"]
                for s in ecs.describe_services(cluster=name, services=arns)["services"]
                if s["status"] != "INACTIVE"
            ]
    out["ecs_service"] = named(services)
    out["task_definition"] = named(ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"])
    out["codebuild_project"] = named(aws.client("codebuild").list_projects()["projects"])
    cp = aws.client("codepipeline")
    out["pipeline"] = named([p["name"] for p in cp.list_pipelines()["pipelines"]])
    out["webhook"] = named([w["definition"]["name"] for w in _webhooks(cp)])
    cd = aws.client("codedeploy")
    out["codedeploy_application"] = named(cd.list_applications().get("applications", []))
    aas = aws.client("application-autoscaling")
    out["scalable_target"] = named(
        [
            t["ResourceId"]
            for t in aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        ]
    )
    out["scaling_policy"] = named(
        [
            p["PolicyName"]
            for p in aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
        ]
    )
    # Alarms a target-tracking policy makes for itself (TargetTracking-...) go with the policy.
    out["cloudwatch_alarm"] = named(
        [
            a["AlarmName"]
            for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
            if not a["AlarmName"].startswith("TargetTracking-")
        ]
    )
    return out


def _webhooks(cp: Any) -> list[dict[str, Any]]:
    try:
        return list(cp.list_webhooks().get("webhooks", []))
    except Exception:
        return []


def total(inv: dict[str, list[str]]) -> int:
    return sum(len(v) for v in inv.values())


def non_empty(inv: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: v for k, v in inv.items() if v}
