"""ECS: services that reach steady state, and AWS's refusals.

* Every service is steady as soon as it is created or updated: runningCount == desiredCount,
  pendingCount 0, and (ECS deployment controller) exactly one PRIMARY deployment with
  rolloutState COMPLETED for the current task definition. A new task definition, network or
  load balancer configuration, or forceNewDeployment replaces the deployment with a new one
  (the old one is gone, as once AWS has finished). CODE_DEPLOY services have no deployments.
  Services get AWS's "deployment completed" / "reached a steady state" events.
* With pacing (``pacing.py``: ``service_seconds``, ``alb_seconds``), a new deployment is
  IN_PROGRESS instead, with no running tasks of its own and the previous deployment ACTIVE
  beside it, until ``service_seconds`` after the later of its start and the moment the load
  balancers it targets turn active; it settles as above on the first read after that.
  A change of desired count alone settles at once, as without pacing.
* DeleteService (with pacing) leaves its ENIs holding its subnets and security groups for
  ``eni_release_seconds`` (``ec2.linger``).
* CreateService stores and returns what moto dropped (deploymentConfiguration with its
  circuit breaker, healthCheckGracePeriodSeconds, enableExecuteCommand, capacityProviderStrategy,
  platformVersion, createdAt) and refuses like AWS: a second ACTIVE service of the same name
  ("Creation of service was not idempotent."), and a target group no listener forwards to
  ("... does not have an associated load balancer.").
* A service's running tasks are registered (healthy) in its target groups, one IP target per
  task, as ECS does once they pass the health check; deregistered when the service is deleted.
* Running tasks write a few lines to their containers' awslogs streams (``cwlogs.task_logs``).
* UpdateService stores the task definition as its full ARN and refuses INACTIVE services.
* DeleteService leaves the service INACTIVE with no tasks; ListServices omits INACTIVE services.
* DeleteCluster refuses while services or tasks are active; activeServicesCount is counted.
* UpdateClusterSettings (moto lacks it).
* Deployment alarms (``deploymentConfiguration.alarms``) are stored and returned; an alarm trip
  armed through the control plane (``scaling.arm_alarm``) rolls the next new deployment of a
  service watching that alarm back on the first read after it starts (see ``scaling.py``).
* ``scale_service``: the desired count set as Application Auto Scaling would (test control).
* DescribeTaskDefinition of a family alone is its latest ACTIVE revision, as on AWS (moto took
  the latest of any status); none ACTIVE: ClientException "Unable to describe task definition.".
"""

from __future__ import annotations

import copy
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Service
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.elbv2.models import elbv2_backends
from moto.moto_api._internal import mock_random

from ecs_cicd.emulator import cwlogs, ec2, pacing
from ecs_cicd.emulator import elbv2 as elbv2_patch
from ecs_cicd.emulator import scaling as scaling_patch
from ecs_cicd.emulator._util import add, now, replace

DEFAULT_DEPLOYMENT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


def _event(service: Service, message: str) -> None:
    # AWS lists a service's events newest first.
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": utcnow(), "message": message})


def _new_deployment(service: Service) -> dict[str, Any]:
    deployment_id = f"ecs-svc/{mock_random.randint(0, 32**12)}"
    stamp = utcnow()
    return {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": service.task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": service.desired_count,
        "failedTasks": 0,
        "createdAt": stamp,
        "updatedAt": stamp,
        "launchType": service.launch_type,
        "platformVersion": service.platform_version,
        "platformFamily": "EC2" if service.launch_type == "EC2" else "FARGATE",
        "networkConfiguration": service.network_configuration or None,
        "rolloutState": "COMPLETED",
        "rolloutStateReason": f"ECS deployment {deployment_id} completed.",
    }


_PENDING = "_ecs_cicd_pending"
_TRIP = "_ecs_cicd_alarm_trip"


@dataclass(frozen=True)
class _Trip:
    """A deployment an armed alarm rolls back on the next read (scaling.arm_alarm)."""

    deployment_id: str
    alarm: str
    reason: str


def _rollback_alarms(service: Service) -> list[str]:
    """The deployment alarms that roll `service` back (enabled, with rollback)."""
    config = getattr(service, "deployment_configuration", None) or {}
    alarms = config.get("alarms") or {}
    if not (alarms.get("enable") and alarms.get("rollback")):
        return []
    return list(alarms.get("alarmNames") or [])


@dataclass(frozen=True)
class _Pending:
    """A paced deployment in progress: settles ``seconds`` after ``started`` (or the ALB)."""

    deployment_id: str
    started: float
    seconds: float


def _running(deployments: list[dict[str, Any]]) -> int:
    return sum(int(d.get("runningCount") or 0) for d in deployments)


def _paced() -> bool:
    p = pacing.current()
    return p.service_seconds > 0 or p.alb_seconds > 0


def _pending(service: Service) -> _Pending | None:
    return getattr(service, _PENDING, None)


def _start_deployment(service: Service) -> None:
    """A new deployment that AWS has only begun: IN_PROGRESS, its tasks still pending."""
    deployment = _new_deployment(service)
    deployment.update(
        runningCount=0,
        pendingCount=service.desired_count,
        rolloutState="IN_PROGRESS",
        rolloutStateReason=f"ECS deployment {deployment['id']} in progress.",
    )
    previous = [dict(d, status="ACTIVE") for d in service.deployments]
    service.deployments = [deployment, *previous]
    service.running_count = _running(previous)
    service.pending_count = service.desired_count
    setattr(
        service,
        _PENDING,
        _Pending(deployment["id"], now(), pacing.current().service_seconds),
    )


def _ready_at(service: Service, pending: _Pending) -> float:
    """The later of the deployment's start and its load balancers turning active, plus
    the settle time."""
    start = pending.started
    elb = elbv2_backends[service._account_id][service.region_name]
    for entry in service.load_balancers or []:
        group = elb.target_groups.get(entry.get("targetGroupArn") or "")
        for arn in group.load_balancer_arns if group is not None else []:
            balancer = elb.load_balancers.get(arn)
            if balancer is not None:
                start = max(start, elbv2_patch.active_at(balancer))
    return start + pending.seconds


def _roll_back(service: Service, trip: _Trip) -> None:
    """The alarm went off during the deployment: FAILED, and ECS rolls back to the previous
    task definition (a new PRIMARY deployment, completed at once)."""
    setattr(service, _TRIP, None)
    ours = next((d for d in service.deployments if d["id"] == trip.deployment_id), None)
    if ours is None or service.status == "INACTIVE":
        return
    scaling_patch.set_alarm(service._account_id, service.region_name, trip.alarm, trip.reason)
    previous: str = next(
        (str(d["taskDefinition"]) for d in service.deployments if d["id"] != trip.deployment_id),
        str(service.task_definition),
    )
    ours.update(
        status="ACTIVE",
        rolloutState="FAILED",
        rolloutStateReason=f"ECS deployment {ours['id']} failed: alarm(s) detected: "
        f"{trip.alarm} is in ALARM state. Rolling back.",
        desiredCount=0,
        runningCount=0,
        pendingCount=0,
        updatedAt=utcnow(),
    )
    _event(
        service,
        f"(service {service.name}) (deployment {ours['id']}) deployment failed: alarm "
        f"{trip.alarm} in ALARM state.",
    )
    service.task_definition = previous
    rollback = _new_deployment(service)
    service.deployments = [rollback, ours]
    service.running_count = service.desired_count
    service.pending_count = 0
    _event(
        service,
        f"(service {service.name}) rolling back to deployment {rollback['id']} "
        f"(task definition {previous}).",
    )
    _event(service, f"(service {service.name}) has reached a steady state.")
    _register_tasks(service)


def scale_service(account_id: str, region: str, cluster: str, name: str, desired: int) -> int:
    """Set the desired count as Application Auto Scaling would; it settles at once."""
    from moto.ecs.models import ecs_backends

    backend: EC2ContainerServiceBackend = ecs_backends[account_id][region]
    service = backend._get_service(cluster, name)
    if service.status != "ACTIVE":
        raise ValueError(f"service {name} is {service.status}")
    _advance(service)
    service.desired_count = desired
    _settle(service, new_deployment=False)
    return int(service.desired_count)


def _advance(service: Service) -> None:
    """Settle a paced deployment whose time has come (called on every read and update)."""
    trip: _Trip | None = getattr(service, _TRIP, None)
    if trip is not None:
        _roll_back(service, trip)
        return
    pending = _pending(service)
    if pending is None or now() < _ready_at(service, pending):
        return
    setattr(service, _PENDING, None)
    ours = next((d for d in service.deployments if d["id"] == pending.deployment_id), None)
    if ours is None or service.status == "INACTIVE":
        return
    ours.update(
        status="PRIMARY",
        rolloutState="COMPLETED",
        rolloutStateReason=f"ECS deployment {ours['id']} completed.",
        desiredCount=service.desired_count,
        runningCount=service.desired_count,
        pendingCount=0,
        updatedAt=utcnow(),
    )
    service.deployments = [ours]
    service.running_count = service.desired_count
    service.pending_count = 0
    _event(service, f"(service {service.name}) (deployment {ours['id']}) deployment completed.")
    _event(service, f"(service {service.name}) has reached a steady state.")
    _register_tasks(service)


def _settle(service: Service, new_deployment: bool) -> None:
    """Make the service look as it does once AWS has finished deploying it (or, paced, as it
    does when AWS has just begun); its target groups hold its running tasks."""
    _settle_deployments(service, new_deployment)
    _register_tasks(service)


def _settle_deployments(service: Service, new_deployment: bool) -> None:
    if service.deployment_controller.get("type", "ECS") != "ECS":
        service.running_count = service.desired_count
        service.pending_count = 0
        service.deployments = []
        return
    if new_deployment and service.deployments:
        trip = scaling_patch.take_trip(_rollback_alarms(service))
        if trip is not None:
            _start_deployment(service)
            setattr(service, _PENDING, None)
            setattr(service, _TRIP, _Trip(str(service.deployments[0]["id"]), *trip))
            return
    if (new_deployment or not service.deployments) and _paced():
        _start_deployment(service)
        return
    if not new_deployment and _pending(service) is not None:
        # A new count for the deployment in progress: it settles with it.
        service.deployments[0].update(
            desiredCount=service.desired_count,
            pendingCount=service.desired_count,
            updatedAt=utcnow(),
        )
        service.running_count = _running(service.deployments)
        service.pending_count = service.desired_count
        return
    setattr(service, _PENDING, None)
    service.running_count = service.desired_count
    service.pending_count = 0
    if new_deployment or not service.deployments:
        service.deployments = [_new_deployment(service)]
        _event(
            service,
            f"(service {service.name}) (deployment {service.deployments[0]['id']})"
            " deployment completed.",
        )
    else:
        primary = service.deployments[0]
        primary.update(
            desiredCount=service.desired_count,
            runningCount=service.desired_count,
            pendingCount=0,
            taskDefinition=service.task_definition,
            updatedAt=utcnow(),
        )
    _event(service, f"(service {service.name}) has reached a steady state.")


def _task_ips(service: Service, count: int) -> list[str]:
    """Stable private IPs for the service's tasks (a /24 per service, from its ARN)."""
    base = zlib.crc32(service.arn.encode())
    return [f"10.{(base >> 8) & 255}.{base & 255}.{10 + i}" for i in range(count)]


def _register_tasks(service: Service) -> None:
    """Its target groups hold exactly its running tasks (other targets are left alone)."""
    groups = elbv2_backends[service._account_id][service.region_name].target_groups
    mine = set(_task_ips(service, 245))
    want = _task_ips(service, min(service.running_count, 245))
    for entry in service.load_balancers or []:
        group = groups.get(entry.get("targetGroupArn") or "")
        if group is None:
            continue
        for ip in [t for t in group.targets if t in mine and t not in want]:
            group.deregister([{"Id": ip}])
        port = entry.get("containerPort") or group.port
        group.register([{"Id": ip, "Port": port} for ip in want if ip not in group.targets])
    cwlogs.task_logs(service)


def _service_init(original: Any) -> Any:
    def __init__(self: Service, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.deployments = []  # moto's own first deployment: ours replaces it
        _settle(self, new_deployment=True)

    return __init__


def _check_target_groups(
    account_id: str, region: str, load_balancers: list[dict[str, Any]]
) -> None:
    target_groups = elbv2_backends[account_id][region].target_groups
    for entry in load_balancers:
        arn = entry.get("targetGroupArn")
        group = target_groups.get(arn) if arn else None
        if group is not None and not group.load_balancer_arns:
            raise InvalidParameterException(
                f"The target group with targetGroupArn {arn} does not have an associated "
                "load balancer."
            )


def _create_service(original: Any) -> Any:
    def create_service(self: EC2ContainerServiceResponse) -> ActionResult:
        backend: EC2ContainerServiceBackend = self.ecs_backend
        cluster = backend._get_cluster(self._get_param("cluster", "default"))
        existing = backend.services.get(f"{cluster.name}:{self._get_param('serviceName')}")
        if existing is not None and existing.status != "INACTIVE":
            raise InvalidParameterException("Creation of service was not idempotent.")
        _check_target_groups(
            self.current_account, self.region, self._get_param("loadBalancers") or []
        )
        result: ActionResult = original(self)
        service: Service = result.result["service"]  # type: ignore[index]
        _store_create_fields(self, service)
        return result

    return create_service


def _store_create_fields(response: EC2ContainerServiceResponse, service: Service) -> None:
    given = response._get_param("deploymentConfiguration") or {}
    config = copy.deepcopy(DEFAULT_DEPLOYMENT_CONFIGURATION)
    if service.deployment_controller.get("type", "ECS") != "ECS":
        config.pop("deploymentCircuitBreaker")
    config.update(given)
    service.deployment_configuration = config  # type: ignore[attr-defined]
    grace = response._get_param("healthCheckGracePeriodSeconds")
    if grace is not None:
        service.health_check_grace_period_seconds = grace  # type: ignore[attr-defined]
    service.enable_execute_command = bool(  # type: ignore[attr-defined]
        response._get_param("enableExecuteCommand", False)
    )
    strategy = response._get_param("capacityProviderStrategy")
    if strategy and not response._get_param("launchType"):
        # AWS reports a capacity provider strategy instead of a launch type, not both.
        service.capacity_provider_strategy = strategy  # type: ignore[attr-defined]
        service.launch_type = None
        for deployment in service.deployments:
            deployment["launchType"] = None
            deployment["capacityProviderStrategy"] = strategy
    uses_fargate = service.launch_type == "FARGATE" or any(
        s.get("capacityProvider", "").startswith("FARGATE") for s in strategy or []
    )
    if uses_fargate and not service.platform_version:
        service.platform_version = "LATEST"
        for deployment in service.deployments:
            deployment["platformVersion"] = "LATEST"
    service.created_at = utcnow()  # type: ignore[attr-defined]
    service.created_by = f"arn:aws:iam::{response.current_account}:root"  # type: ignore[attr-defined]


def _update_service(original: Any) -> Any:
    def update_service(
        self: EC2ContainerServiceBackend, service_properties: dict[str, Any]
    ) -> Service:
        props = dict(service_properties)
        cluster = self._get_cluster(props.get("cluster", "default"))
        service = self._get_service(cluster.name, props["service"].split("/")[-1])
        if service.status != "ACTIVE":
            raise ECSException("ServiceNotActiveException", "Service was not ACTIVE.")
        _advance(service)
        before = (
            service.task_definition,
            copy.deepcopy(service.network_configuration),
            copy.deepcopy(service.load_balancers),
        )
        updated: Service = original(self, service_properties)
        if props.get("task_definition"):
            # moto keeps the string as given ("family" or "family:3"); AWS reports the ARN.
            updated.task_definition = self.describe_task_definition(props["task_definition"]).arn
        after = (updated.task_definition, updated.network_configuration, updated.load_balancers)
        _settle(updated, new_deployment=bool(props.get("force_new_deployment")) or before != after)
        return updated

    return update_service


def _delete_service(original: Any) -> Any:
    def delete_service(
        self: EC2ContainerServiceBackend, cluster_name: str, service_name: str, force: bool
    ) -> Service:
        service: Service = original(self, cluster_name, service_name, force)
        setattr(service, _PENDING, None)
        awsvpc = (service.network_configuration or {}).get("awsvpcConfiguration") or {}
        ec2.linger(
            self.account_id,
            self.region_name,
            holder=f"ECS service {service.name}",
            subnets=set(awsvpc.get("subnets") or []),
            groups=set(awsvpc.get("securityGroups") or []),
        )
        # Once drained on AWS: no tasks, and nothing left to deploy.
        service.desired_count = 0
        service.running_count = 0
        service.pending_count = 0
        _register_tasks(service)
        for deployment in service.deployments:
            deployment.update(desiredCount=0, runningCount=0, pendingCount=0)
        return service

    return delete_service


def _describe_services(original: Any) -> Any:
    def describe_services(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Any:
        services, failures = original(self, *args, **kwargs)
        for service in services:
            _advance(service)
        return services, failures

    return describe_services


def _list_services(original: Any) -> Any:
    def list_services(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> list[str]:
        arns: list[str] = original(self, *args, **kwargs)
        inactive = {s.arn for s in self.services.values() if s.status == "INACTIVE"}
        return [arn for arn in arns if arn not in inactive]

    return list_services


def _active_services(backend: EC2ContainerServiceBackend, cluster_name: str) -> list[Service]:
    return [
        s
        for s in backend.services.values()
        if s.cluster_name == cluster_name and s.status != "INACTIVE"
    ]


def _delete_cluster(original: Any) -> Any:
    def delete_cluster(self: EC2ContainerServiceBackend, cluster_str: str) -> Any:
        cluster = self._get_cluster(cluster_str)
        if _active_services(self, cluster.name):
            raise ECSException(
                "ClusterContainsServicesException",
                "The Cluster cannot be deleted while Services are active.",
            )
        tasks = self.tasks.get(cluster.name, {}).values()
        if any(t.desired_status == "RUNNING" for t in tasks):
            raise ECSException(
                "ClusterContainsTasksException",
                "The Cluster cannot be deleted while Tasks are active.",
            )
        return original(self, cluster_str)

    return delete_cluster


def _describe_clusters(original: Any) -> Any:
    def describe_clusters(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Any:
        clusters, failures = original(self, *args, **kwargs)
        for cluster in clusters:
            cluster.active_services_count = len(_active_services(self, cluster.name))
        return clusters, failures

    return describe_clusters


def update_cluster_settings(self: EC2ContainerServiceResponse) -> ActionResult:
    cluster = self.ecs_backend.update_cluster(
        cluster_name=self._get_param("cluster"),
        cluster_settings=self._get_param("settings"),
        configuration=None,
        service_connect_defaults=None,
    )
    return ActionResult({"cluster": cluster})


def _describe_task_definition(original: Any) -> Any:
    def describe_task_definition(self: EC2ContainerServiceBackend, task_definition_str: str) -> Any:
        name = task_definition_str.split("/")[-1]
        if ":" in name:
            return original(self, task_definition_str)
        # A family alone names its latest ACTIVE revision (moto: the latest of any status).
        revisions = self.task_definitions.get(name, {})
        active = [r for r, td in revisions.items() if getattr(td, "status", "ACTIVE") == "ACTIVE"]
        if revisions and not active:
            raise ECSException("ClientException", "Unable to describe task definition.")
        return original(self, f"{name}:{max(active)}" if active else task_definition_str)

    return describe_task_definition


def apply() -> None:
    replace(Service, "__init__", _service_init)
    replace(EC2ContainerServiceResponse, "create_service", _create_service)
    replace(EC2ContainerServiceBackend, "update_service", _update_service)
    replace(EC2ContainerServiceBackend, "delete_service", _delete_service)
    replace(EC2ContainerServiceBackend, "describe_services", _describe_services)
    replace(EC2ContainerServiceBackend, "list_services", _list_services)
    replace(EC2ContainerServiceBackend, "delete_cluster", _delete_cluster)
    replace(EC2ContainerServiceBackend, "describe_clusters", _describe_clusters)
    add(EC2ContainerServiceResponse, "update_cluster_settings", update_cluster_settings)
    replace(EC2ContainerServiceBackend, "describe_task_definition", _describe_task_definition)
