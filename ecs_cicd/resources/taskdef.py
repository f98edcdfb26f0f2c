"""The task definition family: registers a new revision when the config changes.

The pipeline registers revisions of the same family with new images. `up` keeps those images
for the containers the pipeline builds, so re-running `up` never rolls a deploy back; anything
else that differs from the config (cpu, memory, env, health check...) makes a new revision.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, is_not_found, tags_list
from ecs_cicd.engine import Ctx, Outcome, Spec
from ecs_cicd.state import Record
from ecs_cicd.taskdef import build_task_definition

# Container keys the config manages: present live but absent from the config means "removed".
MANAGED_CONTAINER_KEYS = (
    "portMappings",
    "dependsOn",
    "healthCheck",
    "environment",
    "secrets",
    "command",
    "entryPoint",
    "workingDirectory",
    "user",
    "cpu",
    "memory",
    "memoryReservation",
    "stopTimeout",
    "startTimeout",
    "readonlyRootFilesystem",
)
TASK_KEYS = (
    "cpu",
    "memory",
    "networkMode",
    "executionRoleArn",
    "taskRoleArn",
    "requiresCompatibilities",
    "runtimePlatform",
    "volumes",
)


def latest_revision(ctx: Ctx, family: str) -> dict[str, Any] | None:
    try:
        td = ctx.client("ecs").describe_task_definition(taskDefinition=family, include=["TAGS"])
    except ClientError as e:
        if (
            is_not_found(e)
            or "Unable to describe task definition" in str(e)
            or e.response["Error"]["Code"] == "ClientException"
        ):
            return None
        raise
    out = dict(td["taskDefinition"])
    if out.get("status") != "ACTIVE":
        return None
    return out


def _empty(v: Any) -> bool:
    return v in (None, [], {}, "", 0, False)


def differences(desired: dict[str, Any], live: dict[str, Any]) -> list[str]:
    """Human-readable differences on the keys `up` manages (ECS adds defaults we ignore)."""
    out: list[str] = []
    for key in TASK_KEYS:
        if (
            key in desired
            and str(desired[key]) != str(live.get(key))
            and not (_empty(desired[key]) and _empty(live.get(key)))
        ):
            out.append(f"{key}: {live.get(key)!r} -> {desired[key]!r}")
    live_c = {c["name"]: c for c in live.get("containerDefinitions", [])}
    want_c = {c["name"]: c for c in desired["containerDefinitions"]}
    for name in sorted(set(live_c) - set(want_c)):
        out.append(f"container {name}: remove")
    for name, want in want_c.items():
        have = live_c.get(name)
        if have is None:
            out.append(f"container {name}: add")
            continue
        for key, value in want.items():
            if not _same(value, have.get(key)):
                out.append(f"container {name}.{key}: {_short(have.get(key))} -> {_short(value)}")
        for key in MANAGED_CONTAINER_KEYS:
            if key not in want and not _empty(have.get(key)):
                out.append(f"container {name}.{key}: remove")
    return out


def _same(want: Any, have: Any) -> bool:
    if isinstance(want, dict) and isinstance(have, dict):
        return all(_same(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list) and isinstance(have, list):
        return len(want) == len(have) and all(_same(a, b) for a, b in zip(want, have, strict=True))
    if _empty(want) and _empty(have):
        return True
    return bool(want == have)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def desired_definition(ctx: Ctx, live: dict[str, Any] | None) -> dict[str, Any]:
    """The config's task definition; built containers keep the image the pipeline deployed."""
    images: dict[str, str] = {}
    if live is not None:
        built = {c.name for c in ctx.cfg.built_containers()}
        images = {
            c["name"]: c["image"]
            for c in live.get("containerDefinitions", [])
            if c["name"] in built
        }
    return build_task_definition(
        ctx.cfg,
        region=ctx.region,
        account_id=ctx.account,
        execution_role_arn=ctx.out("role.execution", "arn"),
        task_role_arn=ctx.out("role.task", "arn"),
        images=images,
    )


class TaskDefinitionHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        family = names.family(ctx.cfg)
        rec = ctx.state.get(spec.logical_id)
        live = latest_revision(ctx, family)
        if live is not None and rec is None:
            # Record what exists before reading dependencies, so a scan finds it even when the
            # roles are already gone.
            ctx.record(
                Record(
                    spec.logical_id,
                    spec.kind,
                    family,
                    arn=live["taskDefinitionArn"],
                    outputs={"revision": live["revision"]},
                )
            )
        desired = desired_definition(ctx, live)
        if live is not None:
            changes = differences(desired, live)
            arn = live["taskDefinitionArn"]
            if not changes:
                ctx.record(
                    Record(
                        spec.logical_id,
                        spec.kind,
                        family,
                        arn=arn,
                        outputs={"revision": live["revision"]},
                    )
                )
                return Outcome(
                    spec.logical_id, spec.kind, "adopt" if rec is None else "unchanged", [], arn
                )
            action = "update"
        else:
            changes = [f"{c['name']}: {c['image']}" for c in desired["containerDefinitions"]]
            action = "create"
        if ctx.dry_run:
            return Outcome(
                spec.logical_id,
                spec.kind,
                action,
                changes,
                live["taskDefinitionArn"] if live else None,
            )
        try:
            td = ctx.client("ecs").register_task_definition(
                **desired, tags=tags_list(ctx.tags(spec.logical_id), "key", "value")
            )["taskDefinition"]
        except ClientError as e:
            raise aws_error("Registering", f"task definition {family}", e) from None
        arn = td["taskDefinitionArn"]
        ctx.record(
            Record(
                spec.logical_id, spec.kind, family, arn=arn, outputs={"revision": td["revision"]}
            )
        )
        return Outcome(spec.logical_id, spec.kind, action, changes, arn)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        """Deregister every ACTIVE revision of the family, then delete them (nothing left listed)."""
        ecs = ctx.client("ecs")
        found: dict[str, list[str]] = {"ACTIVE": [], "INACTIVE": []}
        for status, bucket in found.items():
            token: dict[str, str] = {}
            while True:
                page = ecs.list_task_definitions(
                    familyPrefix=record.physical_id, status=status, **token
                )
                bucket += [
                    a
                    for a in page.get("taskDefinitionArns", [])
                    if a.rsplit("/", 1)[-1].rsplit(":", 1)[0] == record.physical_id
                ]
                if not page.get("nextToken"):
                    break
                token = {"nextToken": page["nextToken"]}
        arns = found["ACTIVE"] + found["INACTIVE"]
        if not arns:
            return Outcome(record.logical_id, record.kind, "gone", [], record.physical_id)
        for arn in found["ACTIVE"]:
            try:
                ecs.deregister_task_definition(taskDefinition=arn)
            except ClientError as e:
                if not is_not_found(e):
                    raise aws_error("Deregistering", f"task definition {arn}", e) from None
        for i in range(0, len(arns), 10):
            try:
                ecs.delete_task_definitions(taskDefinitions=arns[i : i + 10])
            except ClientError as e:
                if not is_not_found(e):
                    raise aws_error(
                        "Deleting", f"task definitions of {record.physical_id}", e
                    ) from None
        return Outcome(
            record.logical_id,
            record.kind,
            "delete",
            [f"{len(arns)} revision(s)"],
            record.physical_id,
        )
