"""CloudWatch alarms the service's deployments watch (`service.rollback_on_alarms`): the target
group's 5xx count and unhealthy hosts (thresholds in scaling.ALARMS). Tagged at creation
(PutMetricAlarm Tags; AWS ignores Tags when the call updates an alarm), found by name then
checked by tag, converged with PutMetricAlarm, deleted after the service that names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecs_cicd import scaling
from ecs_cicd.aws import tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource
from ecs_cicd.scaling import AlarmSpec
from ecs_cicd.state import Record

# The alarm's settings we manage: compared by diff, sent by every PutMetricAlarm.
MANAGED = (
    "MetricName",
    "Namespace",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "Dimensions",
    "AlarmDescription",
)


@dataclass(frozen=True, eq=False, kw_only=True)
class MetricAlarm(Resource):
    kind = "metric_alarm"
    name: str
    spec: AlarmSpec
    load_balancer: Resource
    target_group: Resource


def alarm_name(cfg: Config, spec: AlarmSpec) -> str:
    return f"{cfg.stack}-deploy-{spec.suffix}"


def build_alarms(
    cfg: Config, alb: Resource, target_group: Resource, tags: Any
) -> list[MetricAlarm]:
    """The deployment alarms (none unless service.rollback_on_alarms). `tags(lid)`."""
    if not cfg.service.rollback_on_alarms:
        return []
    return [
        MetricAlarm(
            logical_id=f"alarm.{spec.suffix}",
            tags=tags(f"alarm.{spec.suffix}"),
            name=alarm_name(cfg, spec),
            spec=spec,
            load_balancer=alb,
            target_group=target_group,
        )
        for spec in scaling.ALARMS
    ]


class MetricAlarmKind(Kind[MetricAlarm]):
    kind = "metric_alarm"
    label = "CloudWatch alarm"

    def lookup(self, ctx: Ctx, name: str, rec: Record | None) -> Live | None:
        cw = ctx.client("cloudwatch")
        found = cw.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm"]).get(
            "MetricAlarms", []
        )
        alarm = next((a for a in found if a.get("AlarmName") == name), None)
        if alarm is None:
            return None
        arn = alarm["AlarmArn"]
        tags = tags_dict(cw.list_tags_for_resource(ResourceARN=arn).get("Tags"))
        return Live(name, arn, tags, alarm, {"name": name})

    def settings(self, ctx: Ctx, want: MetricAlarm) -> dict[str, Any]:
        s = want.spec
        dims = [
            {
                "Name": "LoadBalancer",
                "Value": scaling.load_balancer_dimension(ctx.arn_of(want.load_balancer)),
            },
            {
                "Name": "TargetGroup",
                "Value": scaling.target_group_dimension(ctx.arn_of(want.target_group)),
            },
        ]
        return {
            "MetricName": s.metric,
            "Namespace": "AWS/ApplicationELB",
            "Statistic": s.statistic,
            "Period": s.period,
            "EvaluationPeriods": s.evaluation_periods,
            "DatapointsToAlarm": s.datapoints,
            "Threshold": float(s.threshold),
            "ComparisonOperator": s.comparison,
            "TreatMissingData": s.treat_missing,
            "Dimensions": dims,
            "AlarmDescription": f"ecs_cicd deployment alarm: {s.description}",
        }

    def create(self, ctx: Ctx, want: MetricAlarm) -> Live:
        settings = self.settings(ctx, want)
        ctx.client("cloudwatch").put_metric_alarm(
            AlarmName=want.name, **settings, Tags=tags_list(want.tag_dict)
        )
        arn = ctx.target.arn("cloudwatch", f"alarm:{want.name}")
        return Live(want.name, arn, want.tag_dict, settings, {"name": want.name})

    def diff(self, ctx: Ctx, want: MetricAlarm, live: Live) -> list[Diff]:
        out = []
        for key, value in self.settings(ctx, want).items():
            have = live.data.get(key)
            if key == "Dimensions":
                have = sorted(have or [], key=lambda d: str(d.get("Name")))
            elif key == "Threshold" and have is not None:
                have = float(have)
            if have != value:
                out.append(Diff(key, have, value))
        return out

    def update(self, ctx: Ctx, want: MetricAlarm, live: Live, diffs: list[Diff]) -> Live | None:
        settings = self.settings(ctx, want)
        ctx.client("cloudwatch").put_metric_alarm(AlarmName=want.name, **settings)
        return Live(live.physical_id, live.arn, live.tags, settings, dict(live.outputs))

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        ctx.client("cloudwatch").delete_alarms(AlarmNames=[rec.physical_id])

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("cloudwatch").tag_resource(ResourceARN=live.arn, Tags=tags_list(tags))

    def summary(self, want: MetricAlarm) -> list[str]:
        s = want.spec
        op = ">=" if s.comparison.startswith("GreaterThanOrEqual") else s.comparison
        return [
            f"{s.metric} {s.statistic} {op} {s.threshold:g} for {s.datapoints} of "
            f"{s.evaluation_periods} x {s.period}s"
        ]


KINDS = (MetricAlarmKind(),)
