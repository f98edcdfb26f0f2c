"""The ECS cluster: the desired model, then on moto (with the emulator's ECS behaviour) capacity
providers, Container Insights, the service-linked role retry, converge, ownership and delete."""

from __future__ import annotations

from typing import Any

import pytest

from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError
from ecs_cicd.lifecycle import Ctx, ForeignResources
from ecs_cicd.resources import cluster
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

LID = "cluster"
STACK_TAG = "ecs-cicd:stack"


def describe(ctx: Ctx, name: str) -> dict[str, Any] | None:
    found = ctx.client("ecs").describe_clusters(clusters=[name], include=["SETTINGS", "TAGS"])
    active = [c for c in found["clusters"] if c["status"] == "ACTIVE"]
    return active[0] if active else None


def described(ctx: Ctx, name: str) -> dict[str, Any]:
    c = describe(ctx, name)
    assert c is not None, f"no cluster {name}"
    return c


def tags_of(c: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in c.get("tags", [])}


def insights(c: dict[str, Any]) -> str | None:
    return {s["name"]: s["value"] for s in c.get("settings", [])}.get("containerInsights")


def stranger(ctx: Ctx, name: str, tags: dict[str, str] | None = None) -> None:
    """A cluster with our name that someone else made: no capacity providers."""
    ctx.client("ecs").create_cluster(
        clusterName=name,
        tags=[{"key": k, "value": v} for k, v in (tags or {"owner": "someone"}).items()],
    )


# --- the desired model -----------------------------------------------------------------------
def test_desired_cluster_is_data(cfg: Config) -> None:
    c = want(cfg, LID)
    assert isinstance(c, cluster.Cluster) and c.kind == "cluster"
    assert c.name == cfg.stack
    assert c.container_insights is False and c.insights == "disabled"
    assert c.capacity_provider == "FARGATE"
    assert c.strategy == [{"capacityProvider": "FARGATE", "weight": 1}]
    assert c.tag_dict[STACK_TAG] == cfg.stack and c.tag_dict["ecs-cicd:id"] == LID


def test_desired_cluster_follows_the_config() -> None:
    c = want(
        config_with(cluster__container_insights=True, service__capacity_provider="FARGATE_SPOT"),
        LID,
    )
    assert isinstance(c, cluster.Cluster)
    assert c.insights == "enabled" and c.capacity_provider == "FARGATE_SPOT"


# --- on moto ---------------------------------------------------------------------------------
def test_cluster_created_with_providers_insights_and_tags(ctx: Ctx, cfg: Config) -> None:
    assert plan(ctx, cfg, LID).action == "create"
    assert ctx.aws.stats.mutating_total == 0
    out = ensure(ctx, cfg, LID)
    assert out.action == "create" and out.physical_id == cfg.stack
    c = described(ctx, cfg.stack)
    assert sorted(c["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    assert [s["capacityProvider"] for s in c["defaultCapacityProviderStrategy"]] == ["FARGATE"]
    assert insights(c) == "disabled"
    tags = tags_of(c)
    assert tags[STACK_TAG] == cfg.stack and tags["ecs-cicd:id"] == LID
    assert "ecs:TagResource" not in ctx.aws.stats.mutating  # tags at creation
    rec = recorded(ctx, LID)
    assert rec.kind == "cluster" and rec.physical_id == cfg.stack
    assert rec.arn == c["clusterArn"]


def test_create_retries_the_service_linked_role_lag(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    msg = "Unable to assume the service linked role. Please verify that the ECS service linked role exists."
    errors = [client_error("InvalidParameterException", msg, "CreateCluster") for _ in range(2)]
    calls = inject(monkeypatch, ctx.client("ecs"), "create_cluster", errors)
    assert ensure(ctx, cfg, LID).action == "create"
    assert len(calls) == 3


def test_create_other_invalid_parameter_fails_at_once(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = [client_error("InvalidParameterException", "something else", "CreateCluster")] * 3
    calls = inject(monkeypatch, ctx.client("ecs"), "create_cluster", list(errors))
    with pytest.raises(AwsError, match=r"Creating ECS cluster .*InvalidParameterException"):
        ensure(ctx, cfg, LID)
    assert len(calls) == 1
    assert ctx.state.get(LID) is None


def test_second_ensure_makes_no_mutating_call(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, LID)
    before = ctx.aws.stats.mutating_total
    assert plan(ctx, cfg, LID).action == "unchanged"
    assert ensure(ctx, cfg, LID).action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_adopted_when_missing_from_state(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, LID)
    ctx.state.remove(LID)
    assert ensure(ctx, cfg, LID).action == "adopt"
    assert recorded(ctx, LID).arn == described(ctx, cfg.stack)["clusterArn"]


def test_drift_is_planned_then_converged(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, LID)
    ecs = ctx.client("ecs")
    ecs.update_cluster_settings(
        cluster=cfg.stack, settings=[{"name": "containerInsights", "value": "enabled"}]
    )
    ecs.put_cluster_capacity_providers(
        cluster=cfg.stack,
        capacityProviders=["FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    )
    before = ctx.aws.stats.mutating_total
    planned = plan(ctx, cfg, LID)
    expected = [
        "containerInsights: 'enabled' -> 'disabled'",
        "capacityProviders: \"['FARGATE_SPOT'] default ['FARGATE_SPOT']\" -> "
        "\"['FARGATE', 'FARGATE_SPOT'] default ['FARGATE']\"",
    ]
    assert planned.action == "update" and planned.changes == expected
    assert ctx.aws.stats.mutating_total == before
    out = ensure(ctx, cfg, LID)
    assert out.action == "update" and out.changes == expected
    c = described(ctx, cfg.stack)
    assert insights(c) == "disabled"
    assert sorted(c["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    assert [s["capacityProvider"] for s in c["defaultCapacityProviderStrategy"]] == ["FARGATE"]
    assert ensure(ctx, cfg, LID).action == "unchanged"


def test_config_change_converges_insights_and_default_provider(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, LID)
    c = config_with(cluster__container_insights=True, service__capacity_provider="FARGATE_SPOT")
    out = ensure(ctx, c, LID)
    assert out.action == "update"
    assert [ch.split(":")[0] for ch in out.changes] == ["containerInsights", "capacityProviders"]
    live = described(ctx, cfg.stack)
    assert insights(live) == "enabled"
    assert [s["capacityProvider"] for s in live["defaultCapacityProviderStrategy"]] == [
        "FARGATE_SPOT"
    ]
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, c, LID).action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_delete_then_gone(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, LID)
    assert delete(ctx, LID).action == "delete"
    assert describe(ctx, cfg.stack) is None
    assert delete(ctx, LID).action == "gone"


def test_delete_waits_for_draining_services(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, LID)
    errors = [
        client_error("ClusterContainsServicesException", "draining", "DeleteCluster"),
        client_error("ClusterContainsTasksException", "stopping", "DeleteCluster"),
    ]
    calls = inject(monkeypatch, ctx.client("ecs"), "delete_cluster", errors)
    assert delete(ctx, LID).action == "delete"
    assert len(calls) == 3
    assert describe(ctx, cfg.stack) is None


def test_delete_other_errors_are_reported(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, LID)
    errors = [client_error("AccessDeniedException", "no", "DeleteCluster")] * 3
    calls = inject(monkeypatch, ctx.client("ecs"), "delete_cluster", list(errors))
    with pytest.raises(AwsError, match=r"Deleting ECS cluster .*AccessDeniedException"):
        delete(ctx, LID)
    assert len(calls) == 1


# --- ownership -------------------------------------------------------------------------------
def test_a_strangers_cluster_is_foreign_and_left_alone(ctx: Ctx, cfg: Config) -> None:
    stranger(ctx, cfg.stack)
    out = plan(ctx, cfg, LID)
    assert out.action == "foreign" and out.physical_id == cfg.stack
    before = ctx.aws.stats.mutating_total
    with pytest.raises(ForeignResources, match=LID):
        ensure(ctx, cfg, LID)
    assert ctx.aws.stats.mutating_total == before
    assert ctx.state.get(LID) is None
    c = described(ctx, cfg.stack)
    assert not c.get("capacityProviders")
    assert tags_of(c) == {"owner": "someone"}


def test_a_cluster_of_another_stack_is_foreign(ctx: Ctx, cfg: Config) -> None:
    stranger(ctx, cfg.stack, {STACK_TAG: "other-stack"})
    out = plan(ctx, cfg, LID)
    assert out.action == "foreign" and "other-stack" in out.changes[0]


def test_take_over_on_request(ctx: Ctx, cfg: Config) -> None:
    stranger(ctx, cfg.stack)
    ctx.adopt = frozenset({LID})
    assert plan(ctx, cfg, LID).action == "take"
    assert ensure(ctx, cfg, LID).action == "take"
    c = described(ctx, cfg.stack)
    tags = tags_of(c)
    assert tags[STACK_TAG] == cfg.stack and tags["ecs-cicd:id"] == LID
    assert tags["owner"] == "someone"
    assert sorted(c["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    ctx.adopt = frozenset()
    assert ensure(ctx, cfg, LID).action == "unchanged"


def test_delete_of_a_cluster_whose_stack_tag_was_removed_is_skipped(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, LID)
    arn = recorded(ctx, LID).arn
    ctx.client("ecs").untag_resource(resourceArn=arn, tagKeys=[STACK_TAG])
    assert delete(ctx, LID).action == "skip"
    assert describe(ctx, cfg.stack) is not None


def test_deleted_by_hand_is_planned_again_and_gone(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, LID)
    ctx.client("ecs").delete_cluster(cluster=cfg.stack)
    assert plan(ctx, cfg, LID).action == "create"
    assert delete(ctx, LID).action == "gone"
    assert ensure(ctx, cfg, LID).action == "create"
