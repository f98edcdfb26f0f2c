"""Log groups: the desired model, then on moto exact-name look-up, tags, retention (with
OperationAborted retries), ownership and delete."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError
from ecs_cicd.lifecycle import Ctx, ForeignResources
from ecs_cicd.resources import logs
from tests.unit.resources.helpers import (
    client_error,
    config_with,
    delete,
    ensure,
    inject,
    plan,
    recorded,
    want,
)

STACK_TAG = "ecs-cicd:stack"


def app_name(cfg: Config) -> str:
    return f"/ecs/{cfg.stack}"


def groups(ctx: Ctx, prefix: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ctx.client("logs").describe_log_groups(logGroupNamePrefix=prefix)[
        "logGroups"
    ]
    return found


def tags_of(ctx: Ctx, name: str) -> dict[str, str]:
    arn = f"arn:aws:logs:ap-northeast-1:123456789012:log-group:{name}"
    tags: dict[str, str] = ctx.client("logs").list_tags_for_resource(resourceArn=arn)["tags"]
    return tags


def aborted() -> ClientError:
    return client_error(
        "OperationAbortedException",
        "A conflicting operation is currently in progress",
        "PutRetentionPolicy",
    )


def stranger(ctx: Ctx, name: str, tags: dict[str, str] | None = None) -> None:
    """A group with our name that someone else made: never expires."""
    ctx.client("logs").create_log_group(logGroupName=name, tags=tags or {"owner": "someone"})


# --- the desired model -----------------------------------------------------------------------
def test_desired_log_groups_are_data(cfg: Config) -> None:
    app, build = want(cfg, "logs.app"), want(cfg, "logs.codebuild")
    assert isinstance(app, logs.LogGroup) and isinstance(build, logs.LogGroup)
    assert app.kind == "log_group"
    assert app.name == app_name(cfg) and app.retention_days == 30
    assert app.arn == f"arn:aws:logs:ap-northeast-1:123456789012:log-group:{app.name}"
    assert build.name == f"/aws/codebuild/{cfg.stack}-build"
    assert app.tag_dict[STACK_TAG] == cfg.stack and app.tag_dict["ecs-cicd:id"] == "logs.app"
    assert build.tag_dict["ecs-cicd:id"] == "logs.codebuild"
    c = config_with(logs__retention_days=7)
    seven = want(c, "logs.app")
    assert isinstance(seven, logs.LogGroup) and seven.retention_days == 7


# --- on moto ---------------------------------------------------------------------------------
def test_app_and_codebuild_groups_created_with_retention_and_tags(ctx: Ctx, cfg: Config) -> None:
    app, build = app_name(cfg), f"/aws/codebuild/{cfg.stack}-build"
    assert plan(ctx, cfg, "logs.app").action == "create"
    assert ctx.aws.stats.mutating_total == 0
    assert ensure(ctx, cfg, "logs.app").action == "create"
    assert ensure(ctx, cfg, "logs.codebuild").action == "create"
    for lid, name in (("logs.app", app), ("logs.codebuild", build)):
        (g,) = groups(ctx, name)
        assert g["logGroupName"] == name
        assert g["retentionInDays"] == 30
        rec = recorded(ctx, lid)
        assert rec.kind == "log_group" and rec.physical_id == name
        assert rec.arn == f"arn:aws:logs:ap-northeast-1:123456789012:log-group:{name}"
        assert rec.outputs == {"name": name}
        tags = tags_of(ctx, name)
        assert tags[STACK_TAG] == cfg.stack and tags["ecs-cicd:id"] == lid
    assert "logs:TagResource" not in ctx.aws.stats.mutating
    assert "logs:TagLogGroup" not in ctx.aws.stats.mutating


def test_a_group_whose_name_only_starts_like_ours_is_not_ours(ctx: Ctx, cfg: Config) -> None:
    ctx.client("logs").create_log_group(logGroupName=f"{app_name(cfg)}-other")
    assert plan(ctx, cfg, "logs.app").action == "create"
    assert ensure(ctx, cfg, "logs.app").action == "create"
    assert len(groups(ctx, app_name(cfg))) == 2


def test_second_ensure_makes_no_mutating_call(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "logs.app")
    before = ctx.aws.stats.mutating_total
    assert plan(ctx, cfg, "logs.app").action == "unchanged"
    assert ensure(ctx, cfg, "logs.app").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_adopted_when_missing_from_state(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "logs.app")
    ctx.state.remove("logs.app")
    assert ensure(ctx, cfg, "logs.app").action == "adopt"
    assert recorded(ctx, "logs.app").physical_id == app_name(cfg)
    assert len(groups(ctx, app_name(cfg))) == 1


def test_retention_drift_is_planned_then_converged(ctx: Ctx, cfg: Config) -> None:
    name = app_name(cfg)
    ensure(ctx, cfg, "logs.app")
    ctx.client("logs").delete_retention_policy(logGroupName=name)
    before = ctx.aws.stats.mutating_total
    planned = plan(ctx, cfg, "logs.app")
    expected = ["retentionInDays: 'never expire' -> 30"]
    assert planned.action == "update" and planned.changes == expected
    assert ctx.aws.stats.mutating_total == before
    assert "retentionInDays" not in groups(ctx, name)[0]
    out = ensure(ctx, cfg, "logs.app")
    assert out.action == "update" and out.changes == expected
    assert groups(ctx, name)[0]["retentionInDays"] == 30
    assert ensure(ctx, cfg, "logs.app").action == "unchanged"


def test_retention_follows_the_config(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "logs.app")
    c = config_with(logs__retention_days=7)
    assert ensure(ctx, c, "logs.app").changes == ["retentionInDays: 30 -> 7"]
    assert groups(ctx, app_name(cfg))[0]["retentionInDays"] == 7


def test_retention_retries_operation_aborted(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = inject(monkeypatch, ctx.client("logs"), "put_retention_policy", [aborted(), aborted()])
    assert ensure(ctx, cfg, "logs.app").action == "create"
    assert len(calls) == 3
    assert groups(ctx, app_name(cfg))[0]["retentionInDays"] == 30


def test_retention_other_errors_fail_at_once(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = [client_error("InvalidParameterException", "bad", "PutRetentionPolicy")] * 3
    calls = inject(monkeypatch, ctx.client("logs"), "put_retention_policy", list(bad))
    with pytest.raises(AwsError, match=r"Configuring log group .*InvalidParameterException"):
        ensure(ctx, cfg, "logs.app")
    assert len(calls) == 1
    # recorded at once, before the failing call: the next run updates it, not adopts it
    assert recorded(ctx, "logs.app").physical_id == app_name(cfg)
    out = plan(ctx, cfg, "logs.app")
    assert out.action == "update" and out.changes == ["retentionInDays: 'never expire' -> 30"]


def test_delete_then_gone(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "logs.app")
    assert delete(ctx, "logs.app").action == "delete"
    assert groups(ctx, app_name(cfg)) == []
    assert delete(ctx, "logs.app").action == "gone"


def test_delete_retries_operation_aborted(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, "logs.app")
    errors = [client_error("OperationAbortedException", "in progress", "DeleteLogGroup")]
    calls = inject(monkeypatch, ctx.client("logs"), "delete_log_group", errors)
    assert delete(ctx, "logs.app").action == "delete"
    assert len(calls) == 2


# --- ownership -------------------------------------------------------------------------------
def test_a_strangers_group_is_foreign_and_left_alone(ctx: Ctx, cfg: Config) -> None:
    name = app_name(cfg)
    stranger(ctx, name)
    out = plan(ctx, cfg, "logs.app")
    assert out.action == "foreign" and out.physical_id == name
    before = ctx.aws.stats.mutating_total
    with pytest.raises(ForeignResources, match=r"logs\.app"):
        ensure(ctx, cfg, "logs.app")
    assert ctx.aws.stats.mutating_total == before
    assert ctx.state.get("logs.app") is None
    assert "retentionInDays" not in groups(ctx, name)[0]
    assert tags_of(ctx, name) == {"owner": "someone"}


def test_a_group_of_another_stack_is_foreign(ctx: Ctx, cfg: Config) -> None:
    stranger(ctx, app_name(cfg), {STACK_TAG: "other-stack"})
    out = plan(ctx, cfg, "logs.app")
    assert out.action == "foreign" and "other-stack" in out.changes[0]


def test_take_over_on_request(ctx: Ctx, cfg: Config) -> None:
    name = app_name(cfg)
    stranger(ctx, name)
    ctx.adopt = frozenset({"logs.app"})
    assert plan(ctx, cfg, "logs.app").action == "take"
    assert ensure(ctx, cfg, "logs.app").action == "take"
    tags = tags_of(ctx, name)
    assert tags[STACK_TAG] == cfg.stack and tags["ecs-cicd:id"] == "logs.app"
    assert tags["owner"] == "someone"
    assert groups(ctx, name)[0]["retentionInDays"] == 30
    ctx.adopt = frozenset()
    assert ensure(ctx, cfg, "logs.app").action == "unchanged"


def test_delete_of_a_group_whose_stack_tag_was_removed_is_skipped(ctx: Ctx, cfg: Config) -> None:
    name = app_name(cfg)
    ensure(ctx, cfg, "logs.app")
    arn = recorded(ctx, "logs.app").arn
    ctx.client("logs").untag_resource(resourceArn=arn, tagKeys=[STACK_TAG])
    assert delete(ctx, "logs.app").action == "skip"
    assert len(groups(ctx, name)) == 1


def test_deleted_by_hand_is_planned_again_and_gone(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "logs.app")
    ctx.client("logs").delete_log_group(logGroupName=app_name(cfg))
    assert plan(ctx, cfg, "logs.app").action == "create"
    assert delete(ctx, "logs.app").action == "gone"
    assert ensure(ctx, cfg, "logs.app").action == "create"
