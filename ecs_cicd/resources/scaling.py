"""Application Auto Scaling of the service: a scalable target on its desired count (min..max,
tagged at creation) and one target-tracking policy per tracked metric.

The target's id is `service/<cluster>/<service>`, read from the service's record, so it follows
the service (a strategy switch moves it to the service's other name). Policies cannot be tagged:
one is ours when the scalable target that holds it is. Deregistering a target deletes its
policies (AWS), so `down` deleting the policies first and the target next never leaves one.

Once autoscaling owns the desired count, the service kind neither diffs nor sends desiredCount:
only min/max and the targets are converged here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecs_cicd import names, scaling
from ecs_cicd.config import Config
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Outcome, Resource, remove
from ecs_cicd.scaling import NAMESPACE, SCALABLE_DIMENSION
from ecs_cicd.state import Record, State


@dataclass(frozen=True, eq=False, kw_only=True)
class ScalableTarget(Resource):
    kind = "scalable_target"
    service: Resource
    cluster_name: str
    service_name: str
    min_count: int
    max_count: int

    @property
    def name(self) -> str:
        return f"service/{self.cluster_name}/{self.service_name}"


@dataclass(frozen=True, eq=False, kw_only=True)
class ScalingPolicy(Resource):
    kind = "scaling_policy"
    name: str
    scalable_target: ScalableTarget
    metric: str
    target_value: float
    scale_in_cooldown: int
    scale_out_cooldown: int
    # ALBRequestCountPerTarget: the load balancer and target group its ResourceLabel names.
    load_balancer: Resource | None = None
    target_group: Resource | None = None


def build_scaling(
    cfg: Config,
    svc: Resource,
    alb: Resource,
    target_group: Resource,
    tags: Any,
) -> list[Resource]:
    """The scalable target and its policies (nothing without `autoscaling`). `tags(lid)`."""
    spec = cfg.autoscaling
    if spec is None:
        return []
    target = ScalableTarget(
        logical_id="scaling.target",
        tags=tags("scaling.target"),
        service=svc,
        cluster_name=names.cluster(cfg),
        service_name=names.service(cfg),
        min_count=spec.min_count,
        max_count=spec.max_count,
    )
    out: list[Resource] = [target]
    for p in scaling.policy_specs(cfg):
        out.append(
            ScalingPolicy(
                logical_id=f"scaling.{p.suffix}",
                name=f"{cfg.stack}-{p.suffix}",
                scalable_target=target,
                metric=p.metric,
                target_value=p.target,
                scale_in_cooldown=spec.scale_in_cooldown,
                scale_out_cooldown=spec.scale_out_cooldown,
                load_balancer=alb if p.needs_label else None,
                target_group=target_group if p.needs_label else None,
            )
        )
    return out


def _client(ctx: Ctx) -> Any:
    return ctx.client("application-autoscaling")


def resource_id(ctx: Ctx, service: Resource) -> str:
    """`service/<cluster>/<service>` of the recorded service (Pending before it exists)."""
    rec = ctx.ref(service)
    cluster = rec.outputs.get("cluster") or getattr(service, "cluster", None)
    cluster_name = cluster if isinstance(cluster, str) else getattr(cluster, "name", "")
    return f"service/{cluster_name}/{rec.physical_id}"


class ScalableTargetKind(Kind[ScalableTarget]):
    kind = "scalable_target"
    label = "scalable target"

    def lookup(self, ctx: Ctx, rid: str, rec: Record | None) -> Live | None:
        client = _client(ctx)
        found = client.describe_scalable_targets(
            ServiceNamespace=NAMESPACE, ResourceIds=[rid], ScalableDimension=SCALABLE_DIMENSION
        ).get("ScalableTargets", [])
        if not found:
            return None
        target = found[0]
        arn = target.get("ScalableTargetARN")
        tags = client.list_tags_for_resource(ResourceARN=arn).get("Tags", {}) if arn else {}
        return Live(rid, arn, dict(tags), target, {"resource_id": rid})

    def find(self, ctx: Ctx, want: ScalableTarget, rec: Record | None) -> Live | None:
        live = self.lookup(ctx, rec.physical_id, rec) if rec else None
        if live is None:
            rid = resource_id(ctx, want.service)
            if rec is None or rid != rec.physical_id:
                live = self.lookup(ctx, rid, None)
        return live

    def create(self, ctx: Ctx, want: ScalableTarget) -> Live:
        rid = resource_id(ctx, want.service)
        resp = _client(ctx).register_scalable_target(
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=want.min_count,
            MaxCapacity=want.max_count,
            Tags=want.tag_dict,
        )
        data = {"MinCapacity": want.min_count, "MaxCapacity": want.max_count}
        return Live(rid, resp.get("ScalableTargetARN"), want.tag_dict, data, {"resource_id": rid})

    def diff(self, ctx: Ctx, want: ScalableTarget, live: Live) -> list[Diff]:
        out = []
        rid = resource_id(ctx, want.service)
        if live.physical_id != rid:
            out.append(Diff("ResourceId", live.physical_id, rid))
        for key, value in (("MinCapacity", want.min_count), ("MaxCapacity", want.max_count)):
            if live.data.get(key) != value:
                out.append(Diff(key, live.data.get(key), value))
        return out

    def update(self, ctx: Ctx, want: ScalableTarget, live: Live, diffs: list[Diff]) -> Live | None:
        rid = resource_id(ctx, want.service)
        if live.physical_id != rid:
            # The service moved (a strategy switch): scale the one that serves now.
            made = self.create(ctx, want)
            _client(ctx).deregister_scalable_target(
                ServiceNamespace=NAMESPACE,
                ResourceId=live.physical_id,
                ScalableDimension=SCALABLE_DIMENSION,
            )
            return made
        _client(ctx).register_scalable_target(
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=want.min_count,
            MaxCapacity=want.max_count,
        )
        data = dict(live.data, MinCapacity=want.min_count, MaxCapacity=want.max_count)
        return Live(rid, live.arn, live.tags, data, dict(live.outputs))

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        _client(ctx).deregister_scalable_target(
            ServiceNamespace=NAMESPACE,
            ResourceId=live.physical_id,
            ScalableDimension=SCALABLE_DIMENSION,
        )

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        _client(ctx).tag_resource(ResourceARN=live.arn, Tags=tags)

    def summary(self, want: ScalableTarget) -> list[str]:
        return [f"desired count {want.min_count}..{want.max_count}"]


class ScalingPolicyKind(Kind[ScalingPolicy]):
    kind = "scaling_policy"
    label = "scaling policy"
    taggable = False

    def lookup(self, ctx: Ctx, name: str, rec: Record | None) -> Live | None:
        raise NotImplementedError  # found through its scalable target: see find

    def _lookup(self, ctx: Ctx, rid: str, name: str, holder_ours: bool) -> Live | None:
        found = (
            _client(ctx)
            .describe_scaling_policies(
                ServiceNamespace=NAMESPACE,
                ResourceId=rid,
                ScalableDimension=SCALABLE_DIMENSION,
                PolicyNames=[name],
            )
            .get("ScalingPolicies", [])
        )
        policy = next((p for p in found if p.get("PolicyName") == name), None)
        if policy is None:
            return None
        return Live(
            name,
            policy.get("PolicyARN"),
            None,
            policy,
            {"resource_id": rid},
            owned_by_holder=holder_ours,
        )

    def find(self, ctx: Ctx, want: ScalingPolicy, rec: Record | None) -> Live | None:
        # Ours when its scalable target is: recorded (apply adopts or creates it first).
        holder = ctx.ref(want.scalable_target)
        return self._lookup(ctx, holder.physical_id, want.name, holder.owned)

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        rid = str(rec.outputs.get("resource_id") or "")
        return self._lookup(ctx, rid, rec.physical_id, True) if rid else None

    def _configuration(self, ctx: Ctx, want: ScalingPolicy) -> dict[str, Any]:
        metric: dict[str, Any] = {"PredefinedMetricType": want.metric}
        if want.load_balancer is not None and want.target_group is not None:
            lb = scaling.load_balancer_dimension(ctx.arn_of(want.load_balancer))
            tg = scaling.target_group_dimension(ctx.arn_of(want.target_group))
            metric["ResourceLabel"] = f"{lb}/{tg}"
        return {
            "TargetValue": float(want.target_value),
            "PredefinedMetricSpecification": metric,
            "ScaleInCooldown": want.scale_in_cooldown,
            "ScaleOutCooldown": want.scale_out_cooldown,
        }

    def _put(self, ctx: Ctx, want: ScalingPolicy) -> Live:
        rid = ctx.id_of(want.scalable_target)
        config = self._configuration(ctx, want)
        resp = _client(ctx).put_scaling_policy(
            PolicyName=want.name,
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=SCALABLE_DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=config,
        )
        data = {"TargetTrackingScalingPolicyConfiguration": config, "ResourceId": rid}
        return Live(
            want.name, resp.get("PolicyARN"), None, data, {"resource_id": rid}, owned_by_holder=True
        )

    def create(self, ctx: Ctx, want: ScalingPolicy) -> Live:
        return self._put(ctx, want)

    def diff(self, ctx: Ctx, want: ScalingPolicy, live: Live) -> list[Diff]:
        have = live.data.get("TargetTrackingScalingPolicyConfiguration") or {}
        out = []
        if live.data.get("ResourceId") != ctx.id_of(want.scalable_target):
            rid = ctx.id_of(want.scalable_target)
            out.append(Diff("ResourceId", live.data.get("ResourceId"), rid))
        for key, value in self._configuration(ctx, want).items():
            got = have.get(key)
            if key == "TargetValue" and got is not None:
                got = float(got)
            if got != value:
                out.append(Diff(key, got, value))
        return out

    def update(self, ctx: Ctx, want: ScalingPolicy, live: Live, diffs: list[Diff]) -> Live | None:
        return self._put(ctx, want)

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        _client(ctx).delete_scaling_policy(
            PolicyName=rec.physical_id,
            ServiceNamespace=NAMESPACE,
            ResourceId=str(live.outputs.get("resource_id")),
            ScalableDimension=SCALABLE_DIMENSION,
        )

    def summary(self, want: ScalingPolicy) -> list[str]:
        return [f"target tracking {want.metric} = {want.target_value:g}"]


KINDS = (ScalableTargetKind(), ScalingPolicyKind())


# --- turned off: what the config no longer builds --------------------------------------------
# Removed by `up` when their config key is turned off (the rest of the stack stays as `down`
# leaves it): autoscaling before the service converges (so it stops resizing a service whose
# count the config owns again), the alarms after it (once the service no longer names them).
RETIRED_BEFORE = ("scaling_policy", "scalable_target")
RETIRED_AFTER = ("metric_alarm",)


def retired(state: State, stack_ids: list[str], kinds_: tuple[str, ...]) -> list[Record]:
    """Records of `kinds_` (in that order) the stack no longer builds."""
    out = [r for r in state.records.values() if r.kind in kinds_ and r.logical_id not in stack_ids]
    return sorted(out, key=lambda r: (kinds_.index(r.kind), r.logical_id))


def retire(
    ctx: Ctx, stack_ids: list[str], kinds_: tuple[str, ...], table: dict[str, Kind[Any]]
) -> list[Outcome]:
    """Delete what `retired` names (ours only), each record dropped once it is gone. `table`:
    the kinds by name (resources.kinds(); passed in, as this module is one of them)."""
    out = []
    for rec in retired(ctx.state, stack_ids, kinds_):
        outcome = remove(ctx, table[rec.kind], rec)
        outcome.changes.append("turned off in the config")
        ctx.state.remove(rec.logical_id)
        ctx.log(
            f"{outcome.action:<9} {rec.logical_id} {rec.physical_id} (turned off in the config)"
        )
        out.append(outcome)
    return out


def retiring_outcomes(state: State, stack_ids: list[str]) -> list[Outcome]:
    """What `plan` says `up` will delete of them."""
    return [
        Outcome(r.logical_id, r.kind, "delete", ["turned off in the config"], r.physical_id)
        for r in retired(state, stack_ids, (*RETIRED_BEFORE, *RETIRED_AFTER))
    ]
