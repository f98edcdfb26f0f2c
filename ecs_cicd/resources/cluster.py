"""ECS cluster with the FARGATE and FARGATE_SPOT capacity providers; Container Insights setting."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, is_not_found, retry_on, tags_list
from ecs_cicd.engine import Ctx, Outcome, Spec
from ecs_cicd.state import Record

PROVIDERS = ["FARGATE", "FARGATE_SPOT"]
# A fresh account creates the ECS service-linked role on first use (AWS-BEHAVIOUR.md).
SERVICE_LINKED_ROLE_LAG = 120
# Services still DRAINING / Fargate tasks stopping (AWS-BEHAVIOUR.md).
DELETE_DEADLINE = 600


def describe_cluster(ctx: Ctx, name: str) -> dict[str, Any] | None:
    resp = ctx.client("ecs").describe_clusters(clusters=[name], include=["SETTINGS", "TAGS"])
    live = [c for c in resp.get("clusters", []) if c.get("status") != "INACTIVE"]
    return live[0] if live else None


class ClusterHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        ecs = ctx.client("ecs")
        name = names.cluster(ctx.cfg)
        rec = ctx.state.get(spec.logical_id)
        insights = "enabled" if ctx.cfg.cluster.container_insights else "disabled"
        strategy = [{"capacityProvider": ctx.cfg.service.capacity_provider, "weight": 1}]
        cluster = describe_cluster(ctx, name)
        if cluster is None:
            if ctx.dry_run:
                return Outcome(
                    spec.logical_id, spec.kind, "create", [f"container insights {insights}"]
                )
            try:
                cluster = retry_on(
                    lambda: ecs.create_cluster(
                        clusterName=name,
                        capacityProviders=PROVIDERS,
                        defaultCapacityProviderStrategy=strategy,
                        settings=[{"name": "containerInsights", "value": insights}],
                        tags=tags_list(ctx.tags(spec.logical_id), "key", "value"),
                    )["cluster"],
                    codes=("InvalidParameterException",),
                    fragment="Unable to assume the service linked role",
                    deadline=SERVICE_LINKED_ROLE_LAG,
                    sleep=ctx.sleep,
                )
            except ClientError as e:
                raise aws_error("Creating", f"ECS cluster {name}", e) from None
            ctx.record(Record(spec.logical_id, spec.kind, name, arn=cluster["clusterArn"]))
            return Outcome(spec.logical_id, spec.kind, "create", [], name)
        action = "adopt" if rec is None else "unchanged"
        ctx.record(Record(spec.logical_id, spec.kind, name, arn=cluster["clusterArn"]))
        changes: list[str] = []
        settings = {s["name"]: s["value"] for s in cluster.get("settings", [])}
        if settings.get("containerInsights", "disabled") != insights:
            changes.append(f"containerInsights: {settings.get('containerInsights')} -> {insights}")
            if not ctx.dry_run:
                ecs.update_cluster_settings(
                    cluster=name, settings=[{"name": "containerInsights", "value": insights}]
                )
        have = sorted(cluster.get("capacityProviders", []))
        have_strategy = [
            {"capacityProvider": s["capacityProvider"], "weight": s.get("weight", 0)}
            for s in cluster.get("defaultCapacityProviderStrategy", [])
        ]
        if have != PROVIDERS or have_strategy != strategy:
            changes.append(
                f"capacity providers: {have} -> {PROVIDERS} (default {strategy[0]['capacityProvider']})"
            )
            if not ctx.dry_run:
                ecs.put_cluster_capacity_providers(
                    cluster=name,
                    capacityProviders=PROVIDERS,
                    defaultCapacityProviderStrategy=strategy,
                )
        if changes and action == "unchanged":
            action = "update"
        return Outcome(spec.logical_id, spec.kind, action, changes, name)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        ecs = ctx.client("ecs")
        if describe_cluster(ctx, record.physical_id) is None:
            return Outcome(record.logical_id, record.kind, "gone", [], record.physical_id)
        try:
            retry_on(
                lambda: ecs.delete_cluster(cluster=record.physical_id),
                codes=(
                    "ClusterContainsServicesException",
                    "ClusterContainsTasksException",
                    "UpdateInProgressException",
                ),
                fragment=None,
                deadline=DELETE_DEADLINE,
                sleep=ctx.sleep,
            )
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], record.physical_id)
            raise aws_error("Deleting", f"ECS cluster {record.physical_id}", e) from None
        return Outcome(record.logical_id, record.kind, "delete", [], record.physical_id)
