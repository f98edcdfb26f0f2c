"""autoscaling and service.rollback_on_alarms: refused at load when AWS would refuse (or undo)
them, and the desired stack they build (no AWS)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ecs_cicd.config import parse_config
from ecs_cicd.errors import ConfigError, ConfigErrors
from ecs_cicd.lifecycle import Target
from ecs_cicd.resources.alarms import MetricAlarm
from ecs_cicd.resources.scaling import ScalableTarget, ScalingPolicy
from ecs_cicd.resources.service import Service
from ecs_cicd.stack import build_stack
from tests.conftest import EXAMPLE

TARGET = Target("123456789012", "ap-northeast-1")


def config(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    for path, value in changes.items():
        node = data
        *parents, last = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return data


def problems(data: dict[str, Any]) -> list[ConfigError]:
    with pytest.raises(ConfigError) as e:
        parse_config(data, check_env=False)
    assert e.value.exit_code == 2
    return e.value.problems if isinstance(e.value, ConfigErrors) else [e.value]


def one(data: dict[str, Any], field: str, *fragments: str) -> ConfigError:
    found = [p for p in problems(data) if p.field == field]
    assert found, [(p.field, str(p)) for p in problems(data)]
    for f in fragments:
        assert f in str(found[0]), str(found[0])
    return found[0]


def test_min_above_max_is_refused() -> None:
    one(
        config(autoscaling={"min_count": 5, "max_count": 2, "cpu_target": 60}),
        "autoscaling",
        "min_count 5 is more than max_count 2",
    )


def test_a_target_is_required() -> None:
    one(config(autoscaling={"max_count": 2}), "autoscaling", "no target to track")


@pytest.mark.parametrize(
    ("key", "value"),
    [("cpu_target", 0), ("cpu_target", 101), ("memory_target", -5), ("requests_per_target", 0)],
)
def test_targets_out_of_range_are_refused(key: str, value: int) -> None:
    one(config(autoscaling={"max_count": 2, key: value}), f"autoscaling.{key}")


def test_max_count_is_required() -> None:
    one(config(autoscaling={"cpu_target": 50}), "autoscaling.max_count", "required")


def test_desired_count_outside_min_max_is_refused() -> None:
    data = config(autoscaling={"min_count": 2, "max_count": 4, "cpu_target": 60})
    data["service"] = {"desired_count": 6}
    err = one(data, "service.desired_count", "outside autoscaling's 2..4")
    assert err.hint and "remove service.desired_count" in err.hint


def test_blue_green_refuses_alarms_and_requests_per_target() -> None:
    data = config(
        autoscaling={"max_count": 3, "requests_per_target": 100},
        pipeline__deploy__strategy="blue_green",
    )
    data["service"] = {"rollback_on_alarms": True}
    fields = {p.field for p in problems(data)}
    assert {"service.rollback_on_alarms", "autoscaling.requests_per_target"} <= fields


def test_blue_green_accepts_cpu_autoscaling() -> None:
    data = config(
        autoscaling={"max_count": 3, "cpu_target": 70}, pipeline__deploy__strategy="blue_green"
    )
    stack = build_stack(parse_config(data, check_env=False), TARGET)
    assert isinstance(stack.get("scaling.target"), ScalableTarget)


def test_off_by_default_builds_nothing_new() -> None:
    stack = build_stack(parse_config(config(), check_env=False), TARGET)
    assert not [i for i in stack.ids if i.startswith(("scaling.", "alarm."))]
    svc = stack.get("service")
    assert isinstance(svc, Service)
    assert not svc.autoscaled and svc.alarm_names == ()
    assert "alarms" not in svc.deployment_configuration


def test_the_stack_autoscaling_and_alarms_build() -> None:
    data = config(
        autoscaling={"min_count": 2, "max_count": 6, "cpu_target": 60, "requests_per_target": 500}
    )
    data["service"] = {"rollback_on_alarms": True}
    stack = build_stack(parse_config(data, check_env=False), TARGET)
    svc = stack.get("service")
    assert isinstance(svc, Service)
    # No desired_count given: autoscaling's min_count; the service never sends it again.
    assert svc.desired_count == 2 and svc.autoscaled
    names = ("test-codepipeline-dev-deploy-5xx", "test-codepipeline-dev-deploy-unhealthy")
    assert svc.alarm_names == names
    assert svc.deployment_configuration["alarms"] == {
        "alarmNames": list(names),
        "enable": True,
        "rollback": True,
    }
    # The alarms exist before the service that names them; policies after the target.
    ids = stack.ids
    assert ids.index("alarm.5xx") < ids.index("service") < ids.index("scaling.target")
    assert ids.index("scaling.target") < ids.index("scaling.cpu")
    requests = stack.get("scaling.requests")
    assert isinstance(requests, ScalingPolicy)
    assert requests.metric == "ALBRequestCountPerTarget" and requests.target_group is not None
    cpu = stack.get("scaling.cpu")
    assert isinstance(cpu, ScalingPolicy) and cpu.target_group is None
    alarm = stack.get("alarm.5xx")
    assert isinstance(alarm, MetricAlarm)
    assert alarm.spec.metric == "HTTPCode_Target_5XX_Count" and alarm.tag_dict


def test_min_count_zero_still_starts_one_task() -> None:
    data = config(autoscaling={"min_count": 0, "max_count": 3, "cpu_target": 60})
    svc = build_stack(parse_config(data, check_env=False), TARGET).get("service")
    assert isinstance(svc, Service) and svc.desired_count == 1


def test_preflight_checks_the_new_create_calls_against_the_models() -> None:
    from ecs_cicd import preflight

    data = config(autoscaling={"max_count": 4, "cpu_target": 60, "requests_per_target": 500})
    data["service"] = {"rollback_on_alarms": True}
    cfg = parse_config(data, check_env=False)
    stack = build_stack(cfg, TARGET)
    calls = {
        (req.service, req.operation)
        for r in stack.resources
        for req in preflight._requests(cfg, r)
        if req.service in ("application-autoscaling", "cloudwatch")
    }
    assert calls == {
        ("application-autoscaling", "RegisterScalableTarget"),
        ("application-autoscaling", "PutScalingPolicy"),
        ("cloudwatch", "PutMetricAlarm"),
    }
    assert preflight.problems(cfg, "ap-northeast-1") == []
