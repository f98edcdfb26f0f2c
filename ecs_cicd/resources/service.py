"""The ECS service: Fargate, public subnets, behind the target group on the endpoint container.

Records the deployment `up` started so the wait follows that deployment (not "services stable").
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, is_not_found, retry_on, tags_list
from ecs_cicd.engine import Ctx, Outcome, Spec
from ecs_cicd.errors import ConfigError
from ecs_cicd.state import Record
from ecs_cicd.waiters import wait_for_service_inactive

# IAM / cluster / listener propagation on CreateService (AWS-BEHAVIOUR.md).
CREATE_RETRY_DEADLINE = 240
CREATE_RETRY_FRAGMENTS = (
    "does not have an associated load balancer",
    "verify that the ECS service role being passed has the proper permissions",
    "Unable to assume the service linked role",
)


def controller(ctx: Ctx) -> str:
    return "CODE_DEPLOY" if ctx.cfg.pipeline.deploy.strategy == "blue_green" else "ECS"


def describe_service(ctx: Ctx, cluster: str, name: str) -> dict[str, Any] | None:
    try:
        resp = ctx.client("ecs").describe_services(
            cluster=cluster, services=[name], include=["TAGS"]
        )
    except ClientError as e:
        if is_not_found(e):
            return None
        raise
    items = resp.get("services", [])
    return items[0] if items else None


def desired_settings(ctx: Ctx, spec: Spec) -> dict[str, Any]:
    cfg = ctx.cfg
    subnets = [ctx.out(d) for d in spec.deps if d.startswith("subnet.")]
    prod_tg = "tg.blue" if controller(ctx) == "CODE_DEPLOY" else "tg.main"
    return {
        "desiredCount": cfg.service.desired_count,
        "healthCheckGracePeriodSeconds": cfg.service.health_check_grace_period,
        "enableExecuteCommand": cfg.service.enable_execute_command,
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": sorted(subnets),
                "securityGroups": [ctx.out("sg.tasks")],
                "assignPublicIp": "ENABLED" if cfg.service.assign_public_ip else "DISABLED",
            }
        },
        "deploymentConfiguration": {
            "maximumPercent": cfg.service.max_percent,
            "minimumHealthyPercent": cfg.service.min_healthy_percent,
            **(
                {
                    "deploymentCircuitBreaker": {
                        "enable": cfg.service.circuit_breaker,
                        "rollback": cfg.service.circuit_breaker,
                    }
                }
                if controller(ctx) == "ECS"
                else {}
            ),
        },
        "loadBalancers": [
            {
                "targetGroupArn": ctx.out(prod_tg),
                "containerName": cfg.task.endpoint.container,
                "containerPort": cfg.task.endpoint.port,
            }
        ],
    }


def service_differences(want: dict[str, Any], svc: dict[str, Any], taskdef_arn: str) -> list[str]:
    out = []
    if svc.get("taskDefinition") != taskdef_arn:
        out.append(f"taskDefinition: {svc.get('taskDefinition')} -> {taskdef_arn}")
    for key in ("desiredCount", "healthCheckGracePeriodSeconds", "enableExecuteCommand"):
        if svc.get(key, False if key == "enableExecuteCommand" else None) != want[key]:
            out.append(f"{key}: {svc.get(key)!r} -> {want[key]!r}")
    have_net = svc.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
    want_net = want["networkConfiguration"]["awsvpcConfiguration"]
    if (
        sorted(have_net.get("subnets", [])) != want_net["subnets"]
        or sorted(have_net.get("securityGroups", [])) != want_net["securityGroups"]
        or have_net.get("assignPublicIp", "DISABLED") != want_net["assignPublicIp"]
    ):
        out.append("networkConfiguration")
    have_dc = svc.get("deploymentConfiguration", {})
    for key, value in want["deploymentConfiguration"].items():
        have = have_dc.get(key)
        if isinstance(value, dict) and isinstance(have, dict):
            have = {k: have.get(k) for k in value}
        if have != value:
            out.append(f"deploymentConfiguration.{key}: {have!r} -> {value!r}")
    return out


def check_controller(ctx: Ctx) -> None:
    """Before `up` changes anything: a service whose deployment controller differs from the
    strategy cannot be switched in place; say so (exit 2) unless --replace-service."""
    if ctx.replace_service or ctx.state.get("service") is None:
        return
    svc = describe_service(ctx, names.cluster(ctx.cfg), names.service(ctx.cfg))
    if svc is None or svc.get("status") != "ACTIVE":
        return
    have = svc.get("deploymentController", {}).get("type", "ECS")
    if have != controller(ctx):
        raise ConfigError(
            f"the service uses the {have} deployment controller, the config asks for "
            f"{controller(ctx)}; AWS cannot switch it in place",
            field="pipeline.deploy.strategy",
            hint="re-run with --replace-service to delete and recreate the service (downtime)",
        )


def primary_deployment(svc: dict[str, Any]) -> str | None:
    for d in svc.get("deployments", []):
        if d.get("status") == "PRIMARY":
            return str(d["id"])
    return None


class ServiceHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        cfg = ctx.cfg
        ecs = ctx.client("ecs")
        cluster, name = names.cluster(cfg), names.service(cfg)
        rec = ctx.state.get(spec.logical_id)
        taskdef_arn = ctx.out("taskdef", "arn")
        want = desired_settings(ctx, spec)
        svc = describe_service(ctx, cluster, name)
        if svc is not None and svc.get("status") == "DRAINING":
            if ctx.dry_run:
                return Outcome(
                    spec.logical_id, spec.kind, "create", ["(a previous service is still draining)"]
                )
            # "Creation of service was not idempotent" until the old one is INACTIVE.
            wait_for_service_inactive(ctx, cluster, name)
            svc = None
        if svc is not None and svc.get("status") == "INACTIVE":
            svc = None
        if svc is not None:
            have_controller = svc.get("deploymentController", {}).get("type", "ECS")
            if have_controller != controller(ctx):
                if not ctx.replace_service:
                    raise ConfigError(
                        f"the service uses the {have_controller} deployment controller, the config "
                        f"asks for {controller(ctx)}; AWS cannot switch it in place",
                        field="pipeline.deploy.strategy",
                        hint="re-run with --replace-service to delete and recreate the service (downtime)",
                    )
                if ctx.dry_run:
                    return Outcome(
                        spec.logical_id,
                        spec.kind,
                        "update",
                        ["replace the service (deployment controller)"],
                    )
                self.delete(ctx, Record(spec.logical_id, spec.kind, name, arn=svc["serviceArn"]))
                svc = None
        if svc is None:
            if ctx.dry_run:
                return Outcome(
                    spec.logical_id, spec.kind, "create", [f"desired {cfg.service.desired_count}"]
                )
            svc = self._create(ctx, spec, cluster, name, taskdef_arn, want)
            ctx.record(
                Record(
                    spec.logical_id,
                    spec.kind,
                    name,
                    arn=svc["serviceArn"],
                    outputs={"cluster": cluster, "deployment": primary_deployment(svc)},
                )
            )
            return Outcome(spec.logical_id, spec.kind, "create", [], name)
        action = "adopt" if rec is None else "unchanged"
        changes = service_differences(want, svc, taskdef_arn)
        if controller(ctx) == "CODE_DEPLOY":
            # Task definition and network changes of a CODE_DEPLOY service go through a
            # CodeDeploy deployment (resources/codedeploy.py), not UpdateService.
            changes = [
                c for c in changes if not c.startswith(("taskDefinition", "networkConfiguration"))
            ]
        deployment = primary_deployment(svc)
        if changes and not ctx.dry_run:
            update: dict[str, Any] = {
                "cluster": cluster,
                "service": name,
                "desiredCount": want["desiredCount"],
                "healthCheckGracePeriodSeconds": want["healthCheckGracePeriodSeconds"],
                "enableExecuteCommand": want["enableExecuteCommand"],
                "deploymentConfiguration": want["deploymentConfiguration"],
            }
            if controller(ctx) == "ECS":
                update["taskDefinition"] = taskdef_arn
                update["networkConfiguration"] = want["networkConfiguration"]
            try:
                svc = ecs.update_service(**update)["service"]
            except ClientError as e:
                raise aws_error("Updating", f"ECS service {name}", e) from None
            deployment = primary_deployment(svc)
        ctx.record(
            Record(
                spec.logical_id,
                spec.kind,
                name,
                arn=svc["serviceArn"],
                outputs={"cluster": cluster, "deployment": deployment},
            )
        )
        if changes and action == "unchanged":
            action = "update"
        return Outcome(spec.logical_id, spec.kind, action, changes, name)

    def _create(
        self, ctx: Ctx, spec: Spec, cluster: str, name: str, taskdef_arn: str, want: dict[str, Any]
    ) -> dict[str, Any]:
        ecs = ctx.client("ecs")
        kwargs: dict[str, Any] = {
            "cluster": cluster,
            "serviceName": name,
            "taskDefinition": taskdef_arn,
            "capacityProviderStrategy": [
                {"capacityProvider": ctx.cfg.service.capacity_provider, "weight": 1}
            ],
            "platformVersion": "LATEST",
            "deploymentController": {"type": controller(ctx)},
            "propagateTags": "SERVICE",
            "tags": tags_list(ctx.tags(spec.logical_id), "key", "value"),
            **want,
        }
        try:
            resp = retry_on(
                lambda: ecs.create_service(**kwargs),
                codes=("InvalidParameterException", "ClusterNotFoundException"),
                fragment=(*CREATE_RETRY_FRAGMENTS, "Cluster not found"),
                deadline=CREATE_RETRY_DEADLINE,
                sleep=ctx.sleep,
            )
        except ClientError as e:
            raise aws_error("Creating", f"ECS service {name}", e) from None
        return dict(resp["service"])

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        ecs = ctx.client("ecs")
        cluster = record.outputs.get("cluster") or names.cluster(ctx.cfg)
        svc = describe_service(ctx, cluster, record.physical_id)
        if svc is None or svc.get("status") == "INACTIVE":
            return Outcome(record.logical_id, record.kind, "gone", [], record.physical_id)
        try:
            if svc.get("status") == "ACTIVE":
                if svc.get("desiredCount", 0) > 0:
                    # "The service cannot be stopped while it is scaled above 0."
                    ecs.update_service(cluster=cluster, service=record.physical_id, desiredCount=0)
                ecs.delete_service(cluster=cluster, service=record.physical_id, force=True)
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], record.physical_id)
            raise aws_error("Deleting", f"ECS service {record.physical_id}", e) from None
        wait_for_service_inactive(ctx, cluster, record.physical_id)
        return Outcome(record.logical_id, record.kind, "delete", [], record.physical_id)
