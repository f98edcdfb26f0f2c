"""Autoscaling and deployment alarms: the rules the config must obey, and the pure desired values
(policy names, predefined metrics, alarm thresholds) the resource kinds and the docs share.

AWS's rules checked at load:
* ECS deployment alarms (`deploymentConfiguration.alarms`) work only with the ECS deployment
  controller (ECS API reference, DeploymentAlarms): `service.rollback_on_alarms` is refused with
  `pipeline.deploy.strategy: blue_green` (CodeDeploy controller).
* ALBRequestCountPerTarget names one target group in its ResourceLabel; a blue/green service
  moves between two target groups at every deployment, so the label would name the idle one
  half of the time: `autoscaling.requests_per_target` is refused with blue/green.
* RegisterScalableTarget keeps the desired count within min..max: a `service.desired_count` given
  outside it would be changed by AWS at once; refused. Not given: min_count (at least 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecs_cicd.config import Config

SCALABLE_DIMENSION = "ecs:service:DesiredCount"
NAMESPACE = "ecs"


def initial_count(cfg: Config) -> int:
    """The service's desired count at creation: the config's, or with autoscaling and no
    desired_count given, min_count (at least 1, so the first deploy has a task to check)."""
    scaling = cfg.autoscaling
    if scaling is None or "desired_count" in cfg.service.model_fields_set:
        return cfg.service.desired_count
    return max(scaling.min_count, min(1, scaling.max_count))


@dataclass(frozen=True)
class PolicySpec:
    suffix: str  # of the policy's name and logical id
    metric: str  # PredefinedMetricType
    target: float
    needs_label: bool = False  # ALBRequestCountPerTarget: ResourceLabel of the target group


def policy_specs(cfg: Config) -> list[PolicySpec]:
    scaling = cfg.autoscaling
    if scaling is None:
        return []
    out = []
    if scaling.cpu_target is not None:
        out.append(PolicySpec("cpu", "ECSServiceAverageCPUUtilization", scaling.cpu_target))
    if scaling.memory_target is not None:
        out.append(
            PolicySpec("memory", "ECSServiceAverageMemoryUtilization", scaling.memory_target)
        )
    if scaling.requests_per_target:
        out.append(
            PolicySpec(
                "requests",
                "ALBRequestCountPerTarget",
                float(scaling.requests_per_target),
                needs_label=True,
            )
        )
    return out


@dataclass(frozen=True)
class AlarmSpec:
    """One deployment alarm on the target group (namespace AWS/ApplicationELB, dimensions
    TargetGroup and LoadBalancer), evaluated every `period` seconds."""

    suffix: str
    metric: str
    statistic: str
    threshold: float
    evaluation_periods: int
    datapoints: int
    description: str
    period: int = 60
    comparison: str = "GreaterThanOrEqualToThreshold"
    treat_missing: str = "notBreaching"


# Thresholds (README, "Rollback on alarms"): sensitive enough to stop a bad deploy within a few
# minutes, not so sensitive that one stray error or one task being replaced rolls it back.
ALARMS = (
    AlarmSpec(
        "5xx",
        "HTTPCode_Target_5XX_Count",
        "Sum",
        threshold=10,
        evaluation_periods=2,
        datapoints=2,
        description="the tasks answered 10 or more 5xx responses a minute, two minutes running",
    ),
    AlarmSpec(
        "unhealthy",
        "UnHealthyHostCount",
        "Maximum",
        threshold=1,
        evaluation_periods=3,
        datapoints=3,
        description="a task behind the load balancer failed its health check three minutes running",
    ),
)


def load_balancer_dimension(arn: str) -> str:
    """`app/<name>/<id>` of a load balancer ARN (the LoadBalancer metric dimension)."""
    return arn.split(":loadbalancer/", 1)[-1]


def target_group_dimension(arn: str) -> str:
    """`targetgroup/<name>/<id>` of a target group ARN (the TargetGroup metric dimension)."""
    return "targetgroup/" + arn.split(":targetgroup/", 1)[-1]
