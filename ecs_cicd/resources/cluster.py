"""ECS cluster with the FARGATE and FARGATE_SPOT capacity providers; Container Insights setting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecs_cicd.aws import retry_on, tags_dict, tags_list
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource
from ecs_cicd.state import Record

PROVIDERS = ("FARGATE", "FARGATE_SPOT")
# A fresh account creates the ECS service-linked role on first use (AWS-BEHAVIOUR.md).
SERVICE_LINKED_ROLE_LAG = 120
# Services still DRAINING / Fargate tasks stopping (AWS-BEHAVIOUR.md).
DELETE_DEADLINE = 600


@dataclass(frozen=True, eq=False, kw_only=True)
class Cluster(Resource):
    kind = "cluster"
    name: str
    container_insights: bool
    capacity_provider: str  # the default strategy's provider

    @property
    def insights(self) -> str:
        return "enabled" if self.container_insights else "disabled"

    @property
    def strategy(self) -> list[dict[str, Any]]:
        return [{"capacityProvider": self.capacity_provider, "weight": 1}]


class ClusterKind(Kind[Cluster]):
    kind = "cluster"
    label = "ECS cluster"

    def lookup(self, ctx: Ctx, name: str, rec: Record | None) -> Live | None:
        resp = ctx.client("ecs").describe_clusters(clusters=[name], include=["SETTINGS", "TAGS"])
        live = [c for c in resp.get("clusters", []) if c.get("status") != "INACTIVE"]
        if not live:
            return None
        c = live[0]
        return Live(c["clusterName"], c["clusterArn"], tags_dict(c.get("tags"), "key", "value"), c)

    def create(self, ctx: Ctx, want: Cluster) -> Live:
        c = retry_on(
            lambda: ctx.client("ecs").create_cluster(
                clusterName=want.name,
                capacityProviders=list(PROVIDERS),
                defaultCapacityProviderStrategy=want.strategy,
                settings=[{"name": "containerInsights", "value": want.insights}],
                tags=tags_list(want.tag_dict, "key", "value"),
            )["cluster"],
            codes=("InvalidParameterException",),
            fragment="Unable to assume the service linked role",
            deadline=SERVICE_LINKED_ROLE_LAG,
            sleep=ctx.sleep,
        )
        return Live(want.name, c["clusterArn"], want.tag_dict, c)

    def diff(self, ctx: Ctx, want: Cluster, live: Live) -> list[Diff]:
        c = live.data
        out: list[Diff] = []
        settings = {s["name"]: s["value"] for s in c.get("settings", [])}
        have = settings.get("containerInsights", "disabled")
        if have != want.insights:
            out.append(Diff("containerInsights", have, want.insights))
        providers = sorted(c.get("capacityProviders", []))
        strategy = [
            {"capacityProvider": s["capacityProvider"], "weight": s.get("weight", 0)}
            for s in c.get("defaultCapacityProviderStrategy", [])
        ]
        if providers != sorted(PROVIDERS) or strategy != want.strategy:
            out.append(
                Diff(
                    "capacityProviders",
                    f"{providers} default {[s['capacityProvider'] for s in strategy]}",
                    f"{list(PROVIDERS)} default {[want.capacity_provider]}",
                )
            )
        return out

    def update(self, ctx: Ctx, want: Cluster, live: Live, diffs: list[Diff]) -> Live | None:
        ecs = ctx.client("ecs")
        fields = {d.field for d in diffs}
        if "containerInsights" in fields:
            ecs.update_cluster_settings(
                cluster=live.physical_id,
                settings=[{"name": "containerInsights", "value": want.insights}],
            )
        if "capacityProviders" in fields:
            ecs.put_cluster_capacity_providers(
                cluster=live.physical_id,
                capacityProviders=list(PROVIDERS),
                defaultCapacityProviderStrategy=want.strategy,
            )
        return None

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("ecs").tag_resource(resourceArn=live.arn, tags=tags_list(tags, "key", "value"))

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        retry_on(
            lambda: ctx.client("ecs").delete_cluster(cluster=rec.physical_id),
            codes=(
                "ClusterContainsServicesException",
                "ClusterContainsTasksException",
                "UpdateInProgressException",
            ),
            fragment=None,
            deadline=DELETE_DEADLINE,
            sleep=ctx.sleep,
        )

    def summary(self, want: Cluster) -> list[str]:
        return [f"container insights {want.insights}", f"default {want.capacity_provider}"]


KINDS = (ClusterKind(),)
