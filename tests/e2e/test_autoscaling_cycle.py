"""Autoscaling and rollback on alarms through the real CLI against the emulator, one stack:
up creates the scalable target, its policies and the deployment alarms (tagged); a count
autoscaling changed is not reset and the next up makes no mutating call; after a lost state
they are found again, not duplicated; a deployment an alarm rolls back fails `up` naming the
alarm and its reason; turned off, up removes them; down removes policies, target and alarms."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from ecs_cicd.emulator.client import (
    alarm_on_deploy,
    clear_alarm_trips,
    fetch_calls,
    reset_calls,
    scale_service,
)
from ecs_cicd.inventory import inventory, non_empty
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e
STACK = "test-codepipeline-dev"
SCALING = {
    "min_count": 1,
    "max_count": 4,
    "cpu_target": 60,
    "memory_target": 75,
    "requests_per_target": 500,
}


def mutating(endpoint: str) -> list[str]:
    return [f"{c['service']}:{c['action']}" for c in fetch_calls(endpoint) if c["mutating"]]


def write_config(cli: Cli, **env: str) -> None:
    path = cli.workdir / "ecs_cicd.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    data["autoscaling"] = SCALING
    data["service"] = {"rollback_on_alarms": True}  # no desired_count: autoscaling's min_count
    app = next(c for c in data["task"]["containers"] if c["name"] == "app")
    app["environment"] = {**app.get("environment", {}), **env}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def service_of(cli: Cli) -> dict[str, Any]:
    ecs = cli.aws().client("ecs")
    svc: dict[str, Any] = ecs.describe_services(cluster=STACK, services=[STACK])["services"][0]
    return svc


def test_autoscaling_and_alarm_rollback(cli: Cli) -> None:
    write_config(cli)
    up = json.loads(cli.run("up", "--output", "json").stdout)
    actions = {r["id"]: r["action"] for r in up["resources"]}
    new = ["scaling.target", "scaling.cpu", "scaling.memory", "scaling.requests"]
    new += ["alarm.5xx", "alarm.unhealthy"]
    assert {actions[i] for i in new} == {"create"}, actions

    aws = cli.aws()
    aas, cw = aws.client("application-autoscaling"), aws.client("cloudwatch")
    [target] = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["ResourceId"] == f"service/{STACK}/{STACK}"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    tags = aas.list_tags_for_resource(ResourceARN=target["ScalableTargetARN"])["Tags"]
    assert tags["ecs-cicd:stack"] == STACK
    policies = {
        p["PolicyName"]: p["TargetTrackingScalingPolicyConfiguration"]
        for p in aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    }
    assert set(policies) == {f"{STACK}-cpu", f"{STACK}-memory", f"{STACK}-requests"}
    assert policies[f"{STACK}-cpu"]["TargetValue"] == 60
    label = policies[f"{STACK}-requests"]["PredefinedMetricSpecification"]["ResourceLabel"]
    [lb] = aws.client("elbv2").describe_load_balancers()["LoadBalancers"]
    assert label.startswith(lb["LoadBalancerArn"].split(":loadbalancer/")[1] + "/targetgroup/")

    names = [f"{STACK}-deploy-5xx", f"{STACK}-deploy-unhealthy"]
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    assert set(alarms) == set(names)
    assert alarms[names[0]]["MetricName"] == "HTTPCode_Target_5XX_Count"
    assert alarms[names[1]]["MetricName"] == "UnHealthyHostCount"
    for a in alarms.values():
        alarm_tags = cw.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]
        assert {"Key": "ecs-cicd:stack", "Value": STACK} in alarm_tags
    svc = service_of(cli)
    assert svc["deploymentConfiguration"]["alarms"] == {
        "alarmNames": names,
        "enable": True,
        "rollback": True,
    }
    assert svc["desiredCount"] == 1

    # Autoscaling scales out behind the tool's back: not drift; a second up changes nothing.
    assert scale_service(cli.endpoint, STACK, STACK, 3) == 3
    reset_calls(cli.endpoint)
    again = json.loads(cli.run("up", "--output", "json").stdout)
    changed = [r for r in again["resources"] if r["action"] != "unchanged"]
    assert changed == [], json.dumps(changed)
    assert mutating(cli.endpoint) == []
    assert service_of(cli)["desiredCount"] == 3

    # Lost state: everything is found again by tag and name (adopted, nothing duplicated).
    state_file = cli.workdir / ".ecs_cicd" / f"{STACK}-ap-northeast-1.json"
    state_file.unlink()
    reset_calls(cli.endpoint)
    found = json.loads(cli.run("up", "--output", "json").stdout)
    assert {found_r["action"] for found_r in found["resources"]} == {"adopt"}
    assert mutating(cli.endpoint) == []
    assert len(aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]) == 1
    assert service_of(cli)["desiredCount"] == 3

    # A deployment that sets an alarm off is rolled back: up fails, naming alarm and reason.
    write_config(cli, RELEASE="2")
    reason = "Threshold Crossed: 2 datapoints [42.0, 37.0] were >= the threshold (10.0)."
    alarm_on_deploy(cli.endpoint, names[0], reason)
    try:
        failed = cli.run("up", check=False)
    finally:
        clear_alarm_trips(cli.endpoint)
    assert failed.returncode == 1, failed.stderr
    assert f"alarm {names[0]} is in ALARM: {reason}" in failed.stderr
    assert "Rolling back" in failed.stderr
    svc = service_of(cli)
    assert svc["deployments"][0]["rolloutState"] == "COMPLETED"  # rolled back
    assert svc["deployments"][1]["rolloutState"] == "FAILED"

    # Turned off: plan says what goes; up removes target, policies and alarms, detaches the
    # alarms from the service, and the count is the config's again.
    path = cli.workdir / "ecs_cicd.yaml"
    data = yaml.safe_load(path.read_text())
    del data["autoscaling"], data["service"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    plan = json.loads(cli.run("plan", "--output", "json").stdout)
    deleting = {r["id"] for r in plan["resources"] if r["action"] == "delete"}
    assert deleting == {*new}
    cli.run("up")
    assert aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"] == []
    assert cw.describe_alarms(AlarmNames=names)["MetricAlarms"] == []
    svc = service_of(cli)
    assert svc["desiredCount"] == 1
    assert svc["deploymentConfiguration"]["alarms"]["enable"] is False
    reset_calls(cli.endpoint)
    assert {
        r["action"] for r in json.loads(cli.run("up", "--output", "json").stdout)["resources"]
    } == {"unchanged"}
    assert mutating(cli.endpoint) == []

    # Back on, then down removes policies, target and alarms with the rest.
    write_config(cli, RELEASE="2")
    cli.run("up")
    cli.run("down", "--yes")
    assert aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"] == []
    assert cw.describe_alarms(AlarmNames=names)["MetricAlarms"] == []
    assert non_empty(inventory(aws, prefix="test-codepipeline")) == {}
