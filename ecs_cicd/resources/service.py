"""The ECS service: Fargate, public subnets, behind the target group on the endpoint container.

Records the deployment `up` started so the wait follows that deployment (not "services stable").
The deployment controller (ECS for rolling, CODE_DEPLOY for blue/green) cannot change in place:
such a change is a replacement, which `up` makes only with --replace-service, without downtime:
the new service is created alongside the old one under the service's other name (`alt_name`),
and the old one is deleted once traffic has moved (switch.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names, scaling
from ecs_cicd.aws import is_not_found, retry_on, tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.errors import ConfigError
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource
from ecs_cicd.names import STACK_TAG
from ecs_cicd.resources.alarms import alarm_name
from ecs_cicd.resources.cluster import Cluster
from ecs_cicd.resources.taskdef import TaskDefinition
from ecs_cicd.state import Record
from ecs_cicd.waiters import wait_for_service_inactive

__all__ = [
    "KINDS",
    "Service",
    "ServiceKind",
    "build_service",
    "describe_service",
    "primary_deployment",
    "status_details",
    "wait_for_service_inactive",
]

# IAM / cluster / listener propagation on CreateService (AWS-BEHAVIOUR.md).
CREATE_RETRY_DEADLINE = 240
CREATE_RETRY_FRAGMENTS = (
    "does not have an associated load balancer",
    "verify that the ECS service role being passed has the proper permissions",
    "Unable to assume the service linked role",
)


@dataclass(frozen=True, eq=False, kw_only=True)
class Service(Resource):
    kind = "service"
    name: str
    alt_name: str  # the name of a new service created alongside this one (strategy switch)
    cluster: Cluster
    task_definition: TaskDefinition
    security_group: Resource
    subnets: tuple[Resource, ...]
    target_group: Resource
    controller: str  # ECS (rolling) | CODE_DEPLOY (blue/green)
    desired_count: int
    grace_period: int
    min_healthy_percent: int
    max_percent: int
    circuit_breaker: bool
    capacity_provider: str
    enable_execute_command: bool
    assign_public_ip: bool
    container: str  # the load balancer's target: container and port
    container_port: int
    # service.rollback_on_alarms: the CloudWatch alarms its deployments watch (ECS controller).
    alarm_names: tuple[str, ...] = ()
    # autoscaling owns the desired count: never diffed nor sent after creation.
    autoscaled: bool = False

    @property
    def deployment_configuration(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "maximumPercent": self.max_percent,
            "minimumHealthyPercent": self.min_healthy_percent,
        }
        if self.controller == "ECS":
            out["deploymentCircuitBreaker"] = {
                "enable": self.circuit_breaker,
                "rollback": self.circuit_breaker,
            }
            if self.alarm_names:
                out["alarms"] = deployment_alarms(self.alarm_names)
        return out

    @property
    def public_ip(self) -> str:
        return "ENABLED" if self.assign_public_ip else "DISABLED"


def deployment_alarms(alarm_names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """deploymentConfiguration.alarms: none (switched off) when `alarm_names` is empty."""
    on = bool(alarm_names)
    return {"alarmNames": sorted(alarm_names), "enable": on, "rollback": on}


def _alarms_of(config: dict[str, Any]) -> dict[str, Any]:
    """A service's deployment alarms, none when it has no `alarms` (as AWS omits them)."""
    have = config.get("alarms") or {}
    if not have.get("enable") and not have.get("alarmNames"):
        return deployment_alarms(())
    return {
        "alarmNames": sorted(have.get("alarmNames") or []),
        "enable": bool(have.get("enable")),
        "rollback": bool(have.get("rollback")),
    }


def build_service(
    cfg: Config,
    cluster: Cluster,
    taskdef: TaskDefinition,
    sg_tasks: Resource,
    subnets: tuple[Resource, ...] | list[Resource],
    target_group: Resource,
    tags: tuple[tuple[str, str], ...],
    *,
    after: tuple[Resource, ...] = (),
) -> Service:
    s = cfg.service
    rolling = cfg.pipeline.deploy.strategy != "blue_green"
    alarms = (
        tuple(alarm_name(cfg, spec) for spec in scaling.ALARMS)
        if s.rollback_on_alarms and rolling
        else ()
    )
    return Service(
        logical_id="service",
        tags=tags,
        after=after,
        name=names.service(cfg),
        alt_name=names.service_alternate(cfg),
        cluster=cluster,
        task_definition=taskdef,
        security_group=sg_tasks,
        subnets=tuple(subnets),
        target_group=target_group,
        controller="CODE_DEPLOY" if cfg.pipeline.deploy.strategy == "blue_green" else "ECS",
        desired_count=scaling.initial_count(cfg),
        alarm_names=alarms,
        autoscaled=cfg.autoscaling is not None,
        grace_period=s.health_check_grace_period,
        min_healthy_percent=s.min_healthy_percent,
        max_percent=s.max_percent,
        circuit_breaker=s.circuit_breaker,
        capacity_provider=s.capacity_provider,
        enable_execute_command=s.enable_execute_command,
        assign_public_ip=s.assign_public_ip,
        container=cfg.task.endpoint.container,
        container_port=cfg.task.endpoint.port,
    )


def describe_service(ctx: Ctx, cluster: str, name: str) -> dict[str, Any] | None:
    """The service as DescribeServices reports it (any status, with its tags), or None."""
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


def primary_deployment(svc: dict[str, Any]) -> str | None:
    for d in svc.get("deployments", []):
        if d.get("status") == "PRIMARY":
            return str(d["id"])
    return None


def status_details(ctx: Ctx, rec: Record) -> dict[str, Any] | None:
    """What `status` shows of the recorded service: counts, task definition, deployments."""
    svc = describe_service(ctx, str(rec.outputs.get("cluster") or rec.physical_id), rec.physical_id)
    if svc is None:
        return None
    keys = ("id", "status", "rolloutState", "desiredCount", "runningCount", "taskDefinition")
    return {
        "status": svc.get("status"),
        "desired": svc.get("desiredCount"),
        "running": svc.get("runningCount"),
        "pending": svc.get("pendingCount"),
        "task_definition": svc.get("taskDefinition"),
        "deployments": [{k: d.get(k) for k in keys} for d in svc.get("deployments", [])],
    }


def controller_of(svc: dict[str, Any]) -> str:
    return str(svc.get("deploymentController", {}).get("type", "ECS"))


def _live(cluster: str, svc: dict[str, Any]) -> Live:
    return Live(
        svc["serviceName"],
        svc["serviceArn"],
        tags_dict(svc.get("tags"), "key", "value"),
        svc,
        {"cluster": cluster, "deployment": primary_deployment(svc)},
    )


class ServiceKind(Kind[Service]):
    kind = "service"
    label = "ECS service"

    def find(self, ctx: Ctx, want: Service, rec: Record | None) -> Live | None:
        """ACTIVE only: a DRAINING service is on its way out (create waits for it). The recorded
        one first; else by either of its names, one with the desired controller first."""
        if rec is not None:
            cluster = str(rec.outputs.get("cluster") or want.cluster.name)
            svc = describe_service(ctx, cluster, rec.physical_id)
            if svc is not None and svc.get("status") == "ACTIVE":
                return _live(cluster, svc)
        found: list[dict[str, Any]] = []
        for name in (want.name, want.alt_name):
            if rec is not None and name == rec.physical_id:
                continue
            svc = describe_service(ctx, want.cluster.name, name)
            if svc is None or svc.get("status") != "ACTIVE":
                continue
            ours = tags_dict(svc.get("tags"), "key", "value").get(STACK_TAG) == ctx.stack
            if name == want.alt_name and not ours:
                continue  # the other name is only ever ours (a switch's new service)
            found.append(svc)
        found.sort(key=lambda svc: controller_of(svc) != want.controller)
        return _live(want.cluster.name, found[0]) if found else None

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        cluster = str(rec.outputs.get("cluster") or rec.physical_id)
        svc = describe_service(ctx, cluster, rec.physical_id)
        if svc is None or svc.get("status") == "INACTIVE":
            return None
        return _live(cluster, svc)

    # --- create ------------------------------------------------------------------------------
    def create(self, ctx: Ctx, want: Service, *, name: str | None = None) -> Live:
        """Create the service under `want.name`, or `name` (the other name, alongside)."""
        name = name or want.name
        cluster = ctx.id_of(want.cluster)
        old = describe_service(ctx, cluster, name)
        if old is not None and old.get("status") == "DRAINING":
            # "Creation of service was not idempotent" until the old one is INACTIVE.
            wait_for_service_inactive(ctx, cluster, name)
        kwargs: dict[str, Any] = {
            "cluster": cluster,
            "serviceName": name,
            "taskDefinition": ctx.arn_of(want.task_definition),
            "capacityProviderStrategy": [{"capacityProvider": want.capacity_provider, "weight": 1}],
            "platformVersion": "LATEST",
            "deploymentController": {"type": want.controller},
            "propagateTags": "SERVICE",
            "tags": tags_list(want.tag_dict, "key", "value"),
            "desiredCount": want.desired_count,
            "healthCheckGracePeriodSeconds": want.grace_period,
            "enableExecuteCommand": want.enable_execute_command,
            "networkConfiguration": self._network(ctx, want),
            "deploymentConfiguration": want.deployment_configuration,
            "loadBalancers": [
                {
                    "targetGroupArn": ctx.arn_of(want.target_group),
                    "containerName": want.container,
                    "containerPort": want.container_port,
                }
            ],
        }
        svc = retry_on(
            lambda: ctx.client("ecs").create_service(**kwargs)["service"],
            codes=("InvalidParameterException", "ClusterNotFoundException"),
            fragment=(*CREATE_RETRY_FRAGMENTS, "Cluster not found"),
            deadline=CREATE_RETRY_DEADLINE,
            sleep=ctx.sleep,
        )
        live = _live(cluster, svc)
        live.tags = want.tag_dict
        return live

    def create_alongside(self, ctx: Ctx, want: Service, old: Live) -> Live:
        """The new service of a strategy switch, next to `old` (which keeps serving): under
        whichever of the service's two names `old` does not have. One already ACTIVE under that
        name (an earlier run that stopped before recording it) is ours to continue with when it
        carries our tag and the desired controller."""
        name = want.alt_name if old.physical_id == want.name else want.name
        cluster = ctx.id_of(want.cluster)
        svc = describe_service(ctx, cluster, name)
        if svc is None or svc.get("status") != "ACTIVE":
            return self.create(ctx, want, name=name)
        live = _live(cluster, svc)
        if (live.tags or {}).get(STACK_TAG) != ctx.stack:
            raise ConfigError(
                f"cannot create the new service {name} alongside {old.physical_id}: a service "
                f"of that name exists without the tag {STACK_TAG}={ctx.stack}",
                field="pipeline.deploy.strategy",
                hint=f"delete or rename the ECS service {name} in cluster {cluster}",
            )
        if controller_of(svc) != want.controller:
            raise ConfigError(
                f"cannot create the new service {name} alongside {old.physical_id}: it exists "
                f"with the {controller_of(svc)} deployment controller, not {want.controller}",
                field="pipeline.deploy.strategy",
                hint=f"delete the ECS service {name} in cluster {cluster} and run `up` again",
            )
        return live

    def _network(self, ctx: Ctx, want: Service) -> dict[str, Any]:
        return {
            "awsvpcConfiguration": {
                "subnets": sorted(ctx.id_of(s) for s in want.subnets),
                "securityGroups": [ctx.id_of(want.security_group)],
                "assignPublicIp": want.public_ip,
            }
        }

    # --- diff / update -----------------------------------------------------------------------
    def diff(self, ctx: Ctx, want: Service, live: Live) -> list[Diff]:
        svc: dict[str, Any] = live.data
        out: list[Diff] = []
        have_controller = controller_of(svc)
        if have_controller != want.controller:
            out.append(Diff("deploymentController", have_controller, want.controller, replace=True))
        if want.controller == "ECS":
            # A CODE_DEPLOY service's task definition and network change through a CodeDeploy
            # deployment (resources/codedeploy.py), not UpdateService.
            taskdef = ctx.arn_of(want.task_definition)
            if svc.get("taskDefinition") != taskdef:
                out.append(Diff("taskDefinition", svc.get("taskDefinition"), taskdef))
        for key, value, default in (
            # Autoscaling owns the count: a count it changed is not drift.
            *([] if want.autoscaled else [("desiredCount", want.desired_count, None)]),
            ("healthCheckGracePeriodSeconds", want.grace_period, None),
            ("enableExecuteCommand", want.enable_execute_command, False),
        ):
            if svc.get(key, default) != value:
                out.append(Diff(key, svc.get(key), value))
        if want.controller == "ECS":
            have_net = svc.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
            have = {
                "subnets": sorted(have_net.get("subnets", [])),
                "securityGroups": sorted(have_net.get("securityGroups", [])),
                "assignPublicIp": have_net.get("assignPublicIp", "DISABLED"),
            }
            net = self._network(ctx, want)["awsvpcConfiguration"]
            if have != net:
                out.append(Diff("networkConfiguration", have, net))
        have_dc = svc.get("deploymentConfiguration", {})
        if want.controller == "ECS":
            have_alarms = _alarms_of(have_dc)
            want_alarms = deployment_alarms(want.alarm_names)
            if have_alarms != want_alarms:
                out.append(Diff("deploymentConfiguration.alarms", have_alarms, want_alarms))
        for key, value in want.deployment_configuration.items():
            if key == "alarms":
                continue
            have_value = have_dc.get(key)
            if isinstance(value, dict) and isinstance(have_value, dict):
                have_value = {k: have_value.get(k) for k in value}
            if have_value != value:
                out.append(Diff(f"deploymentConfiguration.{key}", have_value, value))
        return out

    def update(self, ctx: Ctx, want: Service, live: Live, diffs: list[Diff]) -> Live | None:
        if any(d.replace for d in diffs):
            # Never delete-then-create (downtime): `up --replace-service` creates the new
            # service alongside and moves traffic first (switch.py).
            raise ConfigError(
                f"the service uses the {controller_of(live.data)} deployment controller, the "
                f"config asks for {want.controller}; AWS cannot switch it in place",
                field="pipeline.deploy.strategy",
                hint="run `up --replace-service`: it creates the new service alongside the old "
                "one, moves traffic, then deletes the old one",
            )
        cluster = str(live.outputs.get("cluster") or ctx.id_of(want.cluster))
        config = want.deployment_configuration
        if want.controller == "ECS":
            config["alarms"] = deployment_alarms(want.alarm_names)  # off: switched off
        update: dict[str, Any] = {
            "cluster": cluster,
            "service": live.physical_id,
            "healthCheckGracePeriodSeconds": want.grace_period,
            "enableExecuteCommand": want.enable_execute_command,
            "deploymentConfiguration": config,
        }
        if not want.autoscaled:
            update["desiredCount"] = want.desired_count
        if want.controller == "ECS":
            update["taskDefinition"] = ctx.arn_of(want.task_definition)
            update["networkConfiguration"] = self._network(ctx, want)
        svc = ctx.client("ecs").update_service(**update)["service"]
        new = _live(cluster, svc)
        new.tags = live.tags
        return new

    # --- delete ------------------------------------------------------------------------------
    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        self._delete(ctx, str(live.outputs["cluster"]), live)

    def _delete(self, ctx: Ctx, cluster: str, live: Live) -> None:
        ecs = ctx.client("ecs")
        if live.data.get("status") == "ACTIVE":
            if live.data.get("desiredCount", 0) > 0:
                # "The service cannot be stopped while it is scaled above 0."
                ecs.update_service(cluster=cluster, service=live.physical_id, desiredCount=0)
            ecs.delete_service(cluster=cluster, service=live.physical_id, force=True)
        wait_for_service_inactive(ctx, cluster, live.physical_id)

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("ecs").tag_resource(resourceArn=live.arn, tags=tags_list(tags, "key", "value"))

    # --- plan text ---------------------------------------------------------------------------
    def summary(self, want: Service) -> list[str]:
        return [
            f"desired {want.desired_count}" + (" (then autoscaling's)" if want.autoscaled else ""),
            *([f"rolls back on alarms {', '.join(want.alarm_names)}"] if want.alarm_names else []),
            f"{want.controller} deployment controller",
            f"{want.capacity_provider}",
        ]

    def notes(self, want: Service, diffs: list[Diff]) -> list[str]:
        out: list[str] = []
        if any(d.replace for d in diffs):
            out.append(
                f"the deployment controller cannot change in place: the service is replaced by a "
                f"new one with the {want.controller} controller, created alongside the old one "
                f"before traffic moves: no downtime (needs --replace-service)"
            )
        elif any(d.field in ("taskDefinition", "networkConfiguration") for d in diffs):
            out.append("starts a deployment (rolling)")
        return out


KINDS = (ServiceKind(),)
