"""Application Auto Scaling tags and policy filters, deployment alarms returned by
DescribeServices, an armed alarm rolling a deployment back, and the scale control."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.emulator import ecs as ecs_patch
from ecs_cicd.emulator import scaling
from tests.unit.emulator.emulator_helpers import ACCOUNT, REGION, call_checked, web_cluster

RID = "service/c/web"
DIM = "ecs:service:DesiredCount"
ALARMS = {"alarmNames": ["web-5xx"], "enable": True, "rollback": True}


@pytest.fixture(autouse=True)
def no_trips() -> Iterator[None]:
    scaling.clear_alarms()
    yield
    scaling.clear_alarms()


@pytest.fixture
def ecs(aws: Any) -> Any:
    client = web_cluster(aws("ecs"))
    client.create_service(
        cluster="c",
        serviceName="web",
        taskDefinition="web:1",
        desiredCount=1,
        launchType="FARGATE",
        deploymentConfiguration={
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "alarms": ALARMS,
        },
    )
    return client


def describe(ecs: Any) -> dict[str, Any]:
    svc: dict[str, Any] = call_checked(ecs, "describe_services", cluster="c", services=["web"])[
        "services"
    ][0]
    return svc


def test_deployment_alarms_are_returned(ecs: Any) -> None:
    assert describe(ecs)["deploymentConfiguration"]["alarms"] == ALARMS
    off = {"alarmNames": [], "enable": False, "rollback": False}
    ecs.update_service(cluster="c", service="web", deploymentConfiguration={"alarms": off})
    assert describe(ecs)["deploymentConfiguration"]["alarms"] == off


def test_scalable_target_tags(aws: Any, ecs: Any) -> None:
    aas = aws("application-autoscaling")
    arn = aas.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId=RID,
        ScalableDimension=DIM,
        MinCapacity=1,
        MaxCapacity=3,
        Tags={"owner": "me"},
    )["ScalableTargetARN"]
    assert call_checked(aas, "list_tags_for_resource", ResourceARN=arn)["Tags"] == {"owner": "me"}
    # An update keeps the tags (AWS takes Tags only when it creates the target).
    aas.register_scalable_target(
        ServiceNamespace="ecs", ResourceId=RID, ScalableDimension=DIM, MaxCapacity=5, Tags={}
    )
    aas.tag_resource(ResourceARN=arn, Tags={"team": "x"})
    aas.untag_resource(ResourceARN=arn, TagKeys=["owner"])
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"team": "x"}
    with pytest.raises(ClientError) as e:
        aas.list_tags_for_resource(ResourceARN=arn + "x")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_policy_names_filter_and_deregister_removes_policies(aws: Any, ecs: Any) -> None:
    aas = aws("application-autoscaling")
    aas.register_scalable_target(
        ServiceNamespace="ecs", ResourceId=RID, ScalableDimension=DIM, MinCapacity=1, MaxCapacity=3
    )
    for name, metric in (
        ("cpu", "ECSServiceAverageCPUUtilization"),
        ("mem", "ECSServiceAverageMemoryUtilization"),
    ):
        aas.put_scaling_policy(
            PolicyName=name,
            ServiceNamespace="ecs",
            ResourceId=RID,
            ScalableDimension=DIM,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 50.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
            },
        )
    found = aas.describe_scaling_policies(ServiceNamespace="ecs", PolicyNames=["mem"])
    assert [p["PolicyName"] for p in found["ScalingPolicies"]] == ["mem"]
    aas.deregister_scalable_target(ServiceNamespace="ecs", ResourceId=RID, ScalableDimension=DIM)
    assert aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"] == []
    # Their target-tracking alarms went with them.
    assert aws("cloudwatch").describe_alarms()["MetricAlarms"] == []


def test_an_armed_alarm_rolls_the_next_deployment_back(aws: Any, ecs: Any) -> None:
    cw = aws("cloudwatch")
    cw.put_metric_alarm(
        AlarmName="web-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=2,
        Threshold=10,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    before = describe(ecs)["taskDefinition"]
    scaling.arm_alarm("other-alarm", "not this service's")
    scaling.arm_alarm("web-5xx", "Threshold Crossed: 12 >= 10")
    started = ecs.update_service(cluster="c", service="web", taskDefinition="web:2")["service"]
    ours = started["deployments"][0]
    assert ours["rolloutState"] == "IN_PROGRESS"
    svc = describe(ecs)
    failed = next(d for d in svc["deployments"] if d["id"] == ours["id"])
    assert failed["rolloutState"] == "FAILED" and "web-5xx" in failed["rolloutStateReason"]
    primary = svc["deployments"][0]
    assert primary["status"] == "PRIMARY" and primary["rolloutState"] == "COMPLETED"
    assert svc["taskDefinition"] == before == primary["taskDefinition"]
    assert any("web-5xx" in e["message"] for e in svc["events"])
    [alarm] = cw.describe_alarms(AlarmNames=["web-5xx"])["MetricAlarms"]
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "Threshold Crossed: 12 >= 10")
    # Consumed: the next deployment completes.
    ecs.update_service(cluster="c", service="web", taskDefinition="web:2")
    svc = describe(ecs)
    assert [d["rolloutState"] for d in svc["deployments"]] == ["COMPLETED"]
    assert svc["taskDefinition"].endswith("web:2")


def test_a_trip_needs_alarms_with_rollback(aws: Any, ecs: Any) -> None:
    ecs.update_service(
        cluster="c",
        service="web",
        deploymentConfiguration={"alarms": {**ALARMS, "rollback": False}},
    )
    scaling.arm_alarm("*", "x")
    ecs.update_service(cluster="c", service="web", taskDefinition="web:2")
    assert [d["rolloutState"] for d in describe(ecs)["deployments"]] == ["COMPLETED"]


def test_scale_control_sets_the_count_without_a_deployment(ecs: Any) -> None:
    deployment = describe(ecs)["deployments"][0]["id"]
    assert ecs_patch.scale_service(ACCOUNT, REGION, "c", "web", 3) == 3
    svc = describe(ecs)
    assert (svc["desiredCount"], svc["runningCount"]) == (3, 3)
    assert [d["id"] for d in svc["deployments"]] == [deployment]
