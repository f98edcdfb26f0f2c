"""Log groups on moto: exact-name look-up, tags, retention (with OperationAborted retries)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.engine import Ctx, Outcome
from ecs_cicd.errors import AwsError
from ecs_cicd.resources import logs
from tests.unit.resources.helpers import (
    client_error,
    dry,
    inject,
    recorded,
    spec_of,
    with_config,
)

HANDLER = logs.LogGroupHandler()


def ensure(ctx: Ctx, lid: str = "logs.app") -> Outcome:
    return HANDLER.ensure(ctx, spec_of(ctx, lid))


def delete(ctx: Ctx, lid: str = "logs.app") -> Outcome:
    return HANDLER.delete(ctx, recorded(ctx, lid))


def groups(ctx: Ctx, prefix: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ctx.client("logs").describe_log_groups(logGroupNamePrefix=prefix)[
        "logGroups"
    ]
    return found


def aborted() -> ClientError:
    return client_error(
        "OperationAbortedException",
        "A conflicting operation is currently in progress",
        "PutRetentionPolicy",
    )


def test_app_and_codebuild_groups_created_with_retention_and_tags(ctx: Ctx) -> None:
    app, build = f"/ecs/{ctx.cfg.stack}", f"/aws/codebuild/{ctx.cfg.stack}-build"
    assert ensure(ctx, "logs.app").action == "create"
    assert ensure(ctx, "logs.codebuild").action == "create"
    for lid, name in (("logs.app", app), ("logs.codebuild", build)):
        (g,) = groups(ctx, name)
        assert g["logGroupName"] == name
        assert g["retentionInDays"] == 30
        rec = ctx.state.get(lid)
        assert rec is not None and rec.physical_id == name
        assert rec.arn == f"arn:aws:logs:ap-northeast-1:123456789012:log-group:{name}"
        tags = ctx.client("logs").list_tags_for_resource(resourceArn=rec.arn)["tags"]
        assert tags["ecs-cicd:stack"] == ctx.cfg.stack and tags["ecs-cicd:id"] == lid
    assert "logs:TagResource" not in ctx.aws.stats.mutating
    assert "logs:TagLogGroup" not in ctx.aws.stats.mutating


def test_a_group_whose_name_only_starts_like_ours_is_not_ours(ctx: Ctx) -> None:
    ctx.client("logs").create_log_group(logGroupName=f"/ecs/{ctx.cfg.stack}-other")
    assert ensure(ctx).action == "create"
    assert len(groups(ctx, f"/ecs/{ctx.cfg.stack}")) == 2


def test_second_ensure_makes_no_mutating_call(ctx: Ctx) -> None:
    ensure(ctx)
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx).action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_adopted_when_missing_from_state(ctx: Ctx) -> None:
    ensure(ctx)
    ctx.state.remove("logs.app")
    assert ensure(ctx).action == "adopt"
    assert len(groups(ctx, f"/ecs/{ctx.cfg.stack}")) == 1


def test_retention_drift_is_planned_then_converged(ctx: Ctx) -> None:
    name = f"/ecs/{ctx.cfg.stack}"
    ensure(ctx)
    ctx.client("logs").delete_retention_policy(logGroupName=name)
    before = ctx.aws.stats.mutating_total
    planned = ensure(dry(ctx))
    assert planned.action == "update" and planned.changes == ["retention never expire -> 30 days"]
    assert ctx.aws.stats.mutating_total == before
    assert "retentionInDays" not in groups(ctx, name)[0]
    out = ensure(ctx)
    assert out.action == "update"
    assert groups(ctx, name)[0]["retentionInDays"] == 30


def test_retention_follows_the_config(ctx: Ctx) -> None:
    ensure(ctx)
    c = with_config(ctx, logs={"retention_days": 7})
    assert ensure(c).changes == ["retention 30 -> 7 days"]
    assert groups(c, f"/ecs/{c.cfg.stack}")[0]["retentionInDays"] == 7


def test_retention_retries_operation_aborted(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = inject(monkeypatch, ctx.client("logs"), "put_retention_policy", [aborted(), aborted()])
    assert ensure(ctx).action == "create"
    assert len(calls) == 3
    assert groups(ctx, f"/ecs/{ctx.cfg.stack}")[0]["retentionInDays"] == 30


def test_retention_other_errors_fail_at_once(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def put(**_kw: Any) -> Any:
        calls.append(1)
        raise client_error("InvalidParameterException", "bad", "PutRetentionPolicy")

    monkeypatch.setattr(ctx.client("logs"), "put_retention_policy", put)
    with pytest.raises(AwsError, match="InvalidParameterException"):
        ensure(ctx)
    assert len(calls) == 1
    # recorded at once, before the failing converge: the next run adopts nothing twice
    assert ctx.state.get("logs.app") is not None


def test_delete_then_gone(ctx: Ctx) -> None:
    ensure(ctx)
    assert delete(ctx).action == "delete"
    assert groups(ctx, f"/ecs/{ctx.cfg.stack}") == []
    assert delete(ctx).action == "gone"
