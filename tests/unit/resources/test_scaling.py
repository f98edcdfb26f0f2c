"""Autoscaling (scalable target, target-tracking policies), deployment alarms, and the service
leaving an autoscaled count alone, on moto with the emulator's patches."""

from __future__ import annotations

from typing import Any

import boto3

from ecs_cicd.config import Config
from ecs_cicd.lifecycle import Ctx
from ecs_cicd.names import STACK_TAG
from ecs_cicd.state import Record
from tests.unit.resources.helpers import config_with, delete, ensure, plan, recorded
from tests.unit.resources.test_service import NAME, REGION, fake_dependencies

SCALING = {"min_count": 1, "max_count": 4, "cpu_target": 60, "requests_per_target": 500}


def scaled(**changes: Any) -> Config:
    return config_with(
        autoscaling={**SCALING, **changes.pop("autoscaling", {})},
        service__rollback_on_alarms=True,
        **changes,
    )


def stand_up(ctx: Ctx, cfg: Config) -> None:
    fake_dependencies(ctx)
    lb = boto3.client("elbv2", region_name=REGION).describe_load_balancers()["LoadBalancers"][0]
    ctx.state.put(Record("alb", "load_balancer", lb["LoadBalancerArn"], arn=lb["LoadBalancerArn"]))
    for lid in ("cluster", "taskdef", "service"):
        ensure(ctx, cfg, lid)


def aas() -> Any:
    return boto3.client("application-autoscaling", region_name=REGION)


def test_an_autoscaled_count_is_not_drift_and_never_sent(ctx: Ctx) -> None:
    cfg = scaled()
    stand_up(ctx, cfg)
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.update_service(cluster=NAME, service=NAME, desiredCount=3)  # autoscaling scaled out
    assert plan(ctx, cfg, "service").action == "unchanged"
    # Another change still converges, without touching the count.
    changed = scaled(service__health_check_grace_period=90)
    out = ensure(ctx, changed, "service")
    assert out.action == "update" and out.changes == ["healthCheckGracePeriodSeconds: 60 -> 90"]
    svc = ecs.describe_services(cluster=NAME, services=[NAME])["services"][0]
    assert svc["desiredCount"] == 3 and svc["healthCheckGracePeriodSeconds"] == 90


def test_without_autoscaling_a_changed_count_is_put_back(ctx: Ctx) -> None:
    cfg = config_with()
    stand_up(ctx, cfg)
    boto3.client("ecs", region_name=REGION).update_service(
        cluster=NAME, service=NAME, desiredCount=3
    )
    assert plan(ctx, cfg, "service").changes == ["desiredCount: 3 -> 1"]


def test_target_and_policies_created_tagged_converged_deleted(ctx: Ctx) -> None:
    cfg = scaled()
    stand_up(ctx, cfg)
    assert ensure(ctx, cfg, "scaling.target").action == "create"
    rid = f"service/{NAME}/{NAME}"
    assert recorded(ctx, "scaling.target").physical_id == rid
    [target] = aas().describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    tags = aas().list_tags_for_resource(ResourceARN=target["ScalableTargetARN"])["Tags"]
    assert tags[STACK_TAG] == cfg.stack
    for lid in ("scaling.cpu", "scaling.requests"):
        assert ensure(ctx, cfg, lid).action == "create"
        assert plan(ctx, cfg, lid).action == "unchanged"
    policies = aas().describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    label = next(p for p in policies if p["PolicyName"].endswith("-requests"))[
        "TargetTrackingScalingPolicyConfiguration"
    ]["PredefinedMetricSpecification"]["ResourceLabel"]
    assert label.startswith("app/lb/") and "/targetgroup/tg/" in label

    # min/max and targets converge in place.
    more = scaled(autoscaling={"max_count": 8, "cpu_target": 40})
    assert plan(ctx, more, "scaling.target").changes == ["MaxCapacity: 4 -> 8"]
    assert ensure(ctx, more, "scaling.target").action == "update"
    assert plan(ctx, more, "scaling.cpu").changes == ["TargetValue: 60.0 -> 40.0"]
    ensure(ctx, more, "scaling.cpu")
    assert (
        aas().describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"][0]["MaxCapacity"]
        == 8
    )

    for lid in ("scaling.cpu", "scaling.requests", "scaling.target"):
        assert delete(ctx, lid).action == "delete"
    assert aas().describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert aas().describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"] == []


def test_an_untagged_target_is_foreign(ctx: Ctx) -> None:
    cfg = scaled()
    stand_up(ctx, cfg)
    aas().register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=f"service/{NAME}/{NAME}",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=2,
    )
    assert plan(ctx, cfg, "scaling.target").action == "foreign"


def test_deployment_alarms_created_tagged_and_converged(ctx: Ctx) -> None:
    cfg = scaled()
    stand_up(ctx, cfg)
    cw = boto3.client("cloudwatch", region_name=REGION)
    assert ensure(ctx, cfg, "alarm.5xx").action == "create"
    assert plan(ctx, cfg, "alarm.5xx").action == "unchanged"
    [alarm] = cw.describe_alarms(AlarmNames=[f"{NAME}-deploy-5xx"])["MetricAlarms"]
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Threshold"]) == (
        "HTTPCode_Target_5XX_Count",
        "Sum",
        10.0,
    )
    dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dims["LoadBalancer"].startswith("app/lb/")
    assert dims["TargetGroup"].startswith("targetgroup/tg/")
    tags = {
        t["Key"]: t["Value"]
        for t in cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    }
    assert tags[STACK_TAG] == cfg.stack
    # Drift (someone rewrote it with a higher threshold) is put back.
    cw.put_metric_alarm(**{**_settings(alarm), "Threshold": 500.0})
    assert "Threshold: 500.0 -> 10.0" in plan(ctx, cfg, "alarm.5xx").changes
    ensure(ctx, cfg, "alarm.5xx")
    assert cw.describe_alarms(AlarmNames=[alarm["AlarmName"]])["MetricAlarms"][0]["Threshold"] == 10
    assert delete(ctx, "alarm.5xx").action == "delete"
    assert cw.describe_alarms(AlarmNames=[alarm["AlarmName"]])["MetricAlarms"] == []


def test_turning_alarms_off_detaches_them(ctx: Ctx) -> None:
    stand_up(ctx, scaled())
    off = config_with(autoscaling=SCALING)
    assert plan(ctx, off, "service").changes == [
        "deploymentConfiguration.alarms: {'alarmNames': ['test-codepipeline-dev-deploy-5xx', "
        "'test-codepipeline-dev-deploy-unhealthy'], 'enable': True, 'rollback': True} -> "
        "{'alarmNames': [], 'enable': False, 'rollback': False}"
    ]
    ensure(ctx, off, "service")
    assert plan(ctx, off, "service").action == "unchanged"


def _settings(alarm: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "AlarmName",
        "MetricName",
        "Namespace",
        "Statistic",
        "Period",
        "EvaluationPeriods",
        "Threshold",
        "ComparisonOperator",
        "Dimensions",
    )
    return {k: alarm[k] for k in keys}
