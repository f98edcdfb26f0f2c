"""Switching the deployment strategy (rolling <-> blue/green) without downtime.

A service's deployment controller (ECS for rolling, CODE_DEPLOY for blue/green) cannot change in
place. `up --replace-service` replaces the service this way:

1. what the new strategy needs and the old one lacked (target groups...) is created as by any
   `up`;
2. the production listener(s) also forward to the new service's target group, at weight 0: the
   group is then associated with the load balancer (ECS refuses a service on a group that is
   not) and no traffic moves;
3. the old service is recorded as `service.previous`, and the new one is created alongside it
   under the service's other name (service.py `create_alongside`), recorded as `service`;
4. once the new service runs its desired count (rolling: its deployment completed) and its
   target group has as many healthy targets, the listener(s) forward to that group only;
5. once the rest of the stack is applied, the old service is deleted, then what only the old
   strategy used (its target group(s), the CodeDeploy group...).

Until step 4 the old service takes all the traffic, and nothing of its path is removed before
step 5. A run that stops anywhere leaves `service.previous` in the state: the next
`up --replace-service` continues from there (without the flag, `up` refuses as for a new switch).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecs_cicd.aws import tags_dict
from ecs_cicd.config import Config
from ecs_cicd.lifecycle import (
    Ctx,
    ForeignResources,
    Outcome,
    Resource,
    Step,
    Target,
    apply,
    examine,
    mutate,
    remove,
)
from ecs_cicd.names import STACK_TAG
from ecs_cicd.resources import codedeploy, kinds
from ecs_cicd.resources.loadbalancer import Listener, ListenerKind
from ecs_cicd.resources.service import (
    Service,
    ServiceKind,
    controller_of,
    describe_service,
    primary_deployment,
)
from ecs_cicd.stack import Stack, build_stack
from ecs_cicd.state import Record, State
from ecs_cicd.waiters import poll, wait_for_service

SERVICE = "service"
RETIRING = "service.previous"
# What only one of the strategies builds, in the order it goes once the switch is done: the
# deployment group first (it stops a deployment in flight), the old service, then what served it.
CLEANUP = (
    "codedeploy.group",
    RETIRING,
    "listener.test",
    "tg.main",
    "tg.blue",
    "tg.green",
    "codedeploy.app",
    "role.codedeploy",
)


@dataclass
class Switch:
    """A strategy switch `up` makes (or continues): the desired service, the production
    listeners forwarding to its target group, and the names involved."""

    service: Service
    listeners: tuple[Listener, ...]
    old_name: str
    new_name: str
    continuing: bool

    @property
    def listener_ids(self) -> tuple[str, ...]:
        return tuple(x.logical_id for x in self.listeners)


def detect(steps: list[Step], state: State) -> Switch | None:
    """A switch when the service's controller differs from the desired one, or one an earlier
    run left unfinished (`service.previous` recorded)."""
    step = next((s for s in steps if s.want.logical_id == SERVICE), None)
    if step is None or not isinstance(step.want, Service):
        return None
    want = step.want
    retiring = state.get(RETIRING)
    live = step.live
    if live is not None and controller_of(live.data) != want.controller:
        old = live.physical_id
    elif retiring is not None:
        old = retiring.physical_id
    else:
        return None
    listeners = tuple(
        s.want
        for s in steps
        if isinstance(s.want, Listener)
        and s.want.redirect is None
        and s.want.target_group is want.target_group
    )
    new = want.alt_name if old == want.name else want.name
    return Switch(want, listeners, old, new, continuing=retiring is not None)


def annotate(
    switch: Switch, steps: list[Step], state: State, stack_ids: list[str]
) -> list[Outcome]:
    """What the plan says of the switch: the service line is a `replace` naming its steps, the
    production listeners say when their traffic moves; returns the `delete` lines of what goes
    once it is done."""
    want, old, new = switch.service, switch.old_name, switch.new_name
    tg = want.target_group.name  # type: ignore[attr-defined]
    listeners = ", ".join(switch.listener_ids) or "the production listener"
    leftovers = [lid for lid in CLEANUP if lid in state.records and lid not in stack_ids]
    if RETIRING not in leftovers:
        leftovers.insert(1 if "codedeploy.group" in leftovers else 0, RETIRING)
    for s in steps:
        if s.want.logical_id == SERVICE:
            made = s.live is not None and controller_of(s.live.data) == want.controller
            s.outcome.action = "replace"
            if switch.continuing:
                s.outcome.changes.insert(0, f"strategy switch in progress ({RETIRING}: {old})")
            s.outcome.notes = [
                f"no downtime: {old} keeps serving until {new} runs",
                f"1. {listeners} also forward(s) to {tg} at weight 0 (attaches it, moves no "
                "traffic)",
                (
                    f"2. {new} ({want.controller} controller) runs alongside {old} (an earlier "
                    "run created it)"
                    if made
                    else f"2. creates {new} ({want.controller} controller) alongside {old}"
                ),
                f"3. once {new} runs its desired count, healthy in {tg}, {listeners} "
                f"forward(s) to {tg} only",
                f"4. then deletes {old} and what only the old strategy used",
                f"if a step fails, {old} keeps serving; `up --replace-service` again continues",
            ]
        elif s.want.logical_id in switch.listener_ids and s.outcome.action == "update":
            s.outcome.notes.append(
                f"strategy switch: forwards to {tg} at weight 0 first; traffic moves once {new} "
                "runs"
            )
    out = []
    for lid in leftovers:
        rec = state.get(lid)
        pid = old if lid == RETIRING else (rec.physical_id if rec else None)
        kind = rec.kind if rec else "service"
        out.append(Outcome(lid, kind, "delete", ["once traffic has moved to " + new], pid))
    return out


def other_strategy(cfg: Config, target: Target, stack: Stack) -> tuple[Resource, ...]:
    """What only the other strategy builds (its target groups, CodeDeploy group...): where the
    stack is looked for without a state file, a switch may have left them."""
    deploy = cfg.pipeline.deploy
    other = "rolling" if deploy.strategy == "blue_green" else "blue_green"
    flipped = cfg.model_copy(
        update={
            "pipeline": cfg.pipeline.model_copy(
                update={"deploy": deploy.model_copy(update={"strategy": other})}
            )
        }
    )
    theirs = build_stack(flipped, target)
    return tuple(
        r for r in theirs.resources if r.logical_id in CLEANUP and r.logical_id not in stack.ids
    )


def find_retiring(ctx: Ctx, want: Service, service: Record | None) -> Record | None:
    """Without a state file (`down`, `state recover`): an unfinished switch's old service, i.e.
    an ACTIVE service of ours under the service's other name than the one `service` records."""
    if service is None:
        return None
    cluster = str(service.outputs.get("cluster") or want.cluster.name)
    for name in (want.name, want.alt_name):
        if name == service.physical_id:
            continue
        svc = describe_service(ctx, cluster, name)
        if svc is None or svc.get("status") != "ACTIVE":
            continue
        if tags_dict(svc.get("tags"), "key", "value").get(STACK_TAG) != ctx.stack:
            continue
        outputs = {"cluster": cluster, "deployment": primary_deployment(svc)}
        return Record(RETIRING, SERVICE, name, arn=svc.get("serviceArn"), outputs=outputs)
    return None


# --- apply: the production listeners, then the service --------------------------------------
def apply_listener(ctx: Ctx, step: Step) -> Outcome:
    """Step 2: converge the listener, except that it forwards to the new target group at
    weight 0 besides the groups serving traffic (the move itself is `apply_service`'s)."""
    kind, want = step.kind, step.want
    assert isinstance(kind, ListenerKind) and isinstance(want, Listener)
    step = examine(ctx, kind, want)
    live = step.live
    forwarding = live is not None and any(
        a.get("Type") == "forward" for a in live.data.get("DefaultActions", [])
    )
    if live is None or not forwarding or step.outcome.action == "foreign":
        return apply(ctx, step)  # no traffic to keep (created, redirecting...)
    attach = kind.attach_action(ctx, want, live)
    step.diffs = [d for d in step.diffs if d.field != "default action"]
    step.outcome.changes = [c for c in step.outcome.changes if not c.startswith("default action")]
    out = apply(ctx, step)
    if attach is not None:
        mutate(
            kind,
            "Updating",
            kind.name(want),
            lambda: ctx.client("elbv2").modify_listener(
                ListenerArn=live.physical_id, DefaultActions=[attach]
            ),
        )
        out.action = "update"
        out.changes.append(
            f"default action: also forward to {want.target_group.name} at weight 0 "
            "(no traffic moves)"
        )
    elif not step.diffs:
        out.action = "unchanged"
    return out


def apply_service(ctx: Ctx, step: Step, switch: Switch) -> Outcome:
    """Steps 3-4: the new service alongside the old one, the wait, the listeners' move."""
    kind, want = step.kind, step.want
    assert isinstance(kind, ServiceKind) and isinstance(want, Service)
    step = examine(ctx, kind, want)
    live = step.live
    if step.outcome.action == "foreign":
        raise ForeignResources([step.outcome])
    if live is not None and controller_of(live.data) != want.controller:
        ctx.record(
            Record(RETIRING, SERVICE, live.physical_id, arn=live.arn, outputs=dict(live.outputs))
        )
        old = live
        new = mutate(
            kind, "Creating", switch.new_name, lambda: kind.create_alongside(ctx, want, old)
        )
        ctx.record(kind.record(want, new))
        ctx.log(f"switch: {new.physical_id} created alongside {old.physical_id}")
        out = Outcome(SERVICE, SERVICE, "replace", list(step.outcome.changes), new.physical_id)
    else:
        # Continuing: the new service is recorded (converge it), or gone with the old one.
        out = apply(ctx, step)
    rec = ctx.state.get(SERVICE)
    assert rec is not None
    wait_running(ctx, want, rec)
    listener_kind = kinds()["listener"]
    for listener in switch.listeners:
        moved = apply(ctx, examine(ctx, listener_kind, listener))
        if moved.action == "update":
            tg = listener.target_group.name
            ctx.log(f"switch: {listener.logical_id} forwards to {tg} only: traffic moved")
    out.action = "replace"
    out.physical_id = rec.physical_id
    return out


def wait_running(ctx: Ctx, want: Service, rec: Record) -> None:
    """Until the new service runs its desired count (rolling: its deployment completed) and
    its target group has as many healthy targets: the load balancer can send it traffic."""
    cluster = str(rec.outputs.get("cluster") or want.cluster.name)
    if want.controller == "ECS":
        wait_for_service(ctx, cluster, rec.physical_id, rec.outputs.get("deployment"))
    else:
        codedeploy.wait_for_service_running(
            ctx, cluster, rec.physical_id, deadline=ctx.deadline("service")
        )
    wait_healthy(ctx, want)


def wait_healthy(ctx: Ctx, want: Service) -> None:
    """Until the service's target group has `desired_count` healthy targets."""
    elb = ctx.client("elbv2")
    arn = ctx.arn_of(want.target_group)
    name = want.target_group.name  # type: ignore[attr-defined]
    last = {"summary": ""}

    def check() -> bool | None:
        found = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        healthy = sum(1 for t in found if t.get("TargetHealth", {}).get("State") == "healthy")
        summary = f"{healthy}/{want.desired_count} healthy targets in {name}"
        if summary != last["summary"]:
            ctx.status("switch", summary)
            last["summary"] = summary
        return True if healthy >= want.desired_count else None

    poll(
        ctx,
        f"target group {name} to have {want.desired_count} healthy targets",
        check,
        deadline=ctx.deadline("service"),
        last_seen=lambda: last["summary"],
        key="switch",
    )


# --- finish: the old path goes ---------------------------------------------------------------
def finish(ctx: Ctx, stack_ids: list[str]) -> list[Outcome]:
    """Step 5: delete the old service, then what only the old strategy used (records the config
    no longer builds), in that order; each record goes from the state once deleted."""
    table = kinds()
    out: list[Outcome] = []
    for lid in CLEANUP:
        rec = ctx.state.get(lid)
        if rec is None or lid in stack_ids:
            continue
        outcome = remove(ctx, table[rec.kind], rec)
        ctx.state.remove(lid)
        out.append(outcome)
    return out
