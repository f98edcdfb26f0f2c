"""The library API in-process (moto): up, plan, status, outputs, recover, down with a Session."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
import yaml

from ecs_cicd import ConfigError, down, load_config, parse_config, plan, recover, status, up
from ecs_cicd import outputs as stack_outputs
from ecs_cicd.aws import Aws
from ecs_cicd.inventory import inventory, non_empty
from tests.conftest import EXAMPLE


def no_sleep(_s: float) -> None:
    return None


def test_library_cycle_with_a_session(mock: None, tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE)
    session = boto3.Session(region_name="ap-northeast-1")
    state = tmp_path / "dev.json"
    lines: list[str] = []
    result = up(cfg, session=session, state_path=state, log=lines.append, sleep=no_sleep)
    assert result.outputs["url"].startswith("http://")
    assert {o.action for o in result.outcomes} == {"create"}
    assert result.calls["mutating"] > 40 and any("create" in line for line in lines)

    again = up(cfg, session=session, state_path=state, sleep=no_sleep)
    assert {o.action for o in again.outcomes} == {"unchanged"} and again.calls["mutating"] == 0
    planned = plan(cfg, session=session, state_path=state)
    assert {o.action for o in planned.outcomes} == {"unchanged"} and planned.calls["mutating"] == 0
    st = status(cfg, session=session, state_path=state)
    assert st.details["service"]["running"] == 1
    assert stack_outputs(cfg, state_path=state).outputs["service"] == "test-codepipeline-dev"

    state.unlink()
    recovered = recover(cfg, session=session, state_path=state)
    assert {o.logical_id for o in recovered.outcomes} == {o.logical_id for o in result.outcomes}

    gone = down(cfg, session=session, state_path=state, confirm=lambda _r: True, sleep=no_sleep)
    assert {o.action for o in gone.outcomes} == {"delete"}
    assert not state.exists()
    assert (
        non_empty(inventory(Aws(session, region="ap-northeast-1"), prefix="test-codepipeline"))
        == {}
    )


def test_plan_on_an_empty_account_creates_everything_and_mutates_nothing(
    mock: None, tmp_path: Path
) -> None:
    cfg = load_config(EXAMPLE)
    result = plan(cfg, state_path=tmp_path / "s.json")
    assert {o.action for o in result.outcomes} == {"create"}
    assert result.calls["mutating"] == 0
    assert not (tmp_path / "s.json").exists()


def test_config_changes_converge(mock: None, tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    up(load_config(EXAMPLE), state_path=state, sleep=no_sleep)
    d = yaml.safe_load(EXAMPLE.read_text())
    d["service"]["desired_count"] = 2
    d["task"]["memory"] = 1024
    d["load_balancer"]["health_check"]["path"] = "/ready"
    d["logs"] = {"retention_days": 7}
    cfg = parse_config(d)
    planned = {o.logical_id: o for o in plan(cfg, state_path=state).outcomes}
    assert {k for k, o in planned.items() if o.action == "update"} == {
        "service",
        "taskdef",
        "tg.main",
        "logs.app",
        "logs.codebuild",
    }
    up(cfg, state_path=state, sleep=no_sleep)
    assert {o.action for o in plan(cfg, state_path=state).outcomes} == {"unchanged"}
    ecs = boto3.client("ecs", region_name="ap-northeast-1")
    svc = ecs.describe_services(
        cluster="test-codepipeline-dev", services=["test-codepipeline-dev"]
    )["services"][0]
    assert svc["desiredCount"] == 2 and svc["taskDefinition"].endswith(":2")
    down(cfg, state_path=state, confirm=lambda _r: True, sleep=no_sleep)


def test_confirmation_refused_deletes_nothing(mock: None, tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE)
    state = tmp_path / "s.json"
    up(cfg, state_path=state, sleep=no_sleep)
    result = down(cfg, state_path=state, confirm=lambda _r: False, sleep=no_sleep)
    assert result.details == {"aborted": True} and result.outcomes == []
    assert state.exists()
    down(cfg, state_path=state, confirm=lambda _r: True, sleep=no_sleep)


def test_region_is_required(mock: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    d = yaml.safe_load(EXAMPLE.read_text())
    del d["region"]
    with pytest.raises(ConfigError, match="region"):
        plan(parse_config(d))


def test_stats_name_calls_phases_and_resources(mock: None, tmp_path: Path) -> None:
    from ecs_cicd import ui

    cfg = load_config(EXAMPLE)
    result = up(cfg, state_path=tmp_path / "s.json", sleep=no_sleep)
    calls = result.calls
    assert sum(calls["read_calls"].values()) == calls["reads"]
    assert sum(calls["mutating_calls"].values()) == calls["mutating"]
    assert calls["retries"] == 0
    assert set(result.phases) == {"examine", "apply", "wait"}
    assert sum(result.phases.values()) <= result.seconds
    text = ui.format_stats(result)
    assert "ecs:CreateService" in text and "seconds: examine" in text
    assert all(o.logical_id in text for o in result.outcomes)
    down(cfg, state_path=tmp_path / "s.json", confirm=lambda _r: True, sleep=no_sleep)


def test_a_no_op_up_and_plan_read_at_most_once_per_resource(mock: None, tmp_path: Path) -> None:
    """The issue's target: no mutating call, reads <= resources. Settings verified when they
    were made are taken from the state (`settings_from_state`); `refresh` reads them all."""
    cfg = load_config(EXAMPLE)
    state = tmp_path / "s.json"
    up(cfg, state_path=state, sleep=no_sleep)
    again = up(cfg, state_path=state, sleep=no_sleep)
    resources = len(again.outcomes)
    assert {o.action for o in again.outcomes} == {"unchanged"}
    assert all(o.seconds > 0 for o in again.outcomes)  # reading it counts: --stats per resource
    assert again.calls["mutating"] == 0
    assert again.calls["reads"] <= resources, again.calls["read_calls"]
    # The waits started from the examination's reads: one describe each, no poll.
    assert again.calls["read_calls"]["elbv2:DescribeLoadBalancers"] == 1
    assert again.calls["read_calls"]["ecs:DescribeServices"] == 1
    trusted = set(again.details["settings_from_state"])
    assert {"vpc", "alb", "tg.main", "bucket.artifacts", "ecr.app", "ecr.nginx"} <= trusted
    planned = plan(cfg, state_path=state, sleep=no_sleep)
    assert planned.calls["mutating"] == 0 and planned.calls["reads"] <= resources
    full = plan(cfg, state_path=state, sleep=no_sleep, refresh=True)
    assert "settings_from_state" not in full.details
    assert full.calls["read_calls"]["s3:GetBucketPolicy"] == 1
    assert full.calls["reads"] > planned.calls["reads"]
    down(cfg, state_path=state, confirm=lambda _r: True, sleep=no_sleep)


def test_strategy_switch_through_the_library(mock: None, tmp_path: Path) -> None:
    """rolling -> blue_green: refused without replace_service (nothing changed); with it, the
    new service is made alongside, the traffic moves, then the old service and tg.main go."""
    state = tmp_path / "s.json"
    up(load_config(EXAMPLE), state_path=state, sleep=no_sleep)
    d = yaml.safe_load(EXAMPLE.read_text())
    d["pipeline"]["deploy"] = {"strategy": "blue_green"}
    bg = parse_config(d)
    with pytest.raises(ConfigError) as refused:
        up(bg, state_path=state, sleep=no_sleep)
    assert refused.value.exit_code == 2
    planned = {o.logical_id: o for o in plan(bg, state_path=state).outcomes}
    assert planned["service"].action == "replace"
    assert {planned["service.previous"].action, planned["tg.main"].action} == {"delete"}

    lines: list[str] = []
    result = up(bg, state_path=state, replace_service=True, log=lines.append, sleep=no_sleep)
    actions = {o.logical_id: o.action for o in result.outcomes}
    assert actions["service"] == "replace"
    assert actions["service.previous"] == actions["tg.main"] == "delete"

    def first(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    created = first("switch: test-codepipeline-dev-alt created alongside test-codepipeline-dev")
    healthy = first("switch: 1/1 healthy targets in test-codepipeline-dev-blue")
    assert created < healthy < first("traffic moved") < first("service.previous")
    assert result.outputs["service"] == "test-codepipeline-dev-alt"
    assert {o.action for o in plan(bg, state_path=state).outcomes} == {"unchanged"}
    down(bg, state_path=state, confirm=lambda _r: True, sleep=no_sleep)
    assert non_empty(inventory(Aws(region="ap-northeast-1"), prefix="test-codepipeline")) == {}
