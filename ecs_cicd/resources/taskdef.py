"""The task definition family: registers a new revision when the config changes.

The pipeline registers revisions of the same family with new images. `up` keeps those images
for the containers the pipeline builds, so re-running `up` never rolls a deploy back; anything
else that differs from the config (cpu, memory, env, health check...) makes a new revision.

A task definition revision is immutable, so the family is the resource: its physical id is the
family, its ARN the latest revision's. Revisions the pipeline registers may carry no tags; the
family is ours when its latest revision, the revision our state records, or its first revision
carries our stack tag.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import taskdef as definitions
from ecs_cicd.aws import is_not_found, tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource, Target
from ecs_cicd.names import STACK_TAG
from ecs_cicd.resources.logs import LogGroup
from ecs_cicd.state import Record

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


@dataclass(frozen=True, eq=False, kw_only=True)
class TaskDefinition(Resource):
    kind = "task_definition"
    family: str
    cpu: str
    memory: str
    runtime_platform: dict[str, str]
    execution_role: Resource
    task_role: Resource
    log_group: LogGroup
    execution_role_arn: str
    task_role_arn: str
    # Full RegisterTaskDefinition container definitions, with the config's (initial) images.
    containers: tuple[dict[str, Any], ...]
    volumes: tuple[dict[str, Any], ...] = ()
    # Containers the pipeline builds: a live revision's image for them is kept.
    built: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.family

    def definition(self, images: dict[str, str] | None = None) -> dict[str, Any]:
        """RegisterTaskDefinition kwargs (without tags); `images` override images by container."""
        images = images or {}
        containers = []
        for c in self.containers:
            d = copy.deepcopy(c)
            d["image"] = images.get(d["name"], d["image"])
            containers.append(d)
        td: dict[str, Any] = {
            "family": self.family,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": self.cpu,
            "memory": self.memory,
            "runtimePlatform": dict(self.runtime_platform),
            "executionRoleArn": self.execution_role_arn,
            "taskRoleArn": self.task_role_arn,
            "containerDefinitions": containers,
        }
        if self.volumes:
            td["volumes"] = copy.deepcopy(list(self.volumes))
        return td

    def kept_images(self, live: dict[str, Any] | None) -> dict[str, str]:
        """The images the pipeline deployed (live revision) of the containers it builds."""
        if not live:
            return {}
        return {
            c["name"]: c["image"]
            for c in live.get("containerDefinitions", [])
            if c["name"] in self.built
        }


def _role_arn(target: Target, role: Resource) -> str:
    arn = getattr(role, "arn", None)
    if isinstance(arn, str) and arn:
        return arn
    name = getattr(role, "name", None)
    assert isinstance(name, str), f"{role.logical_id} has no role name"
    return target.arn("iam", f"role/{name}", region=False)


def build_task_definition(
    cfg: Config,
    target: Target,
    exec_role: Resource,
    task_role: Resource,
    log_group: LogGroup,
    tags: tuple[tuple[str, str], ...],
) -> TaskDefinition:
    exec_arn, task_arn = _role_arn(target, exec_role), _role_arn(target, task_role)
    td = definitions.build_task_definition(
        cfg,
        region=target.region,
        account_id=target.account,
        execution_role_arn=exec_arn,
        task_role_arn=task_arn,
        log_group=log_group.name,
    )
    return TaskDefinition(
        logical_id="taskdef",
        tags=tags,
        family=td["family"],
        cpu=td["cpu"],
        memory=td["memory"],
        runtime_platform=td["runtimePlatform"],
        execution_role=exec_role,
        task_role=task_role,
        log_group=log_group,
        execution_role_arn=exec_arn,
        task_role_arn=task_arn,
        containers=tuple(td["containerDefinitions"]),
        volumes=tuple(td.get("volumes", ())),
        built=tuple(c.name for c in cfg.built_containers()),
    )


# --- differences -----------------------------------------------------------------------------
def _empty(v: Any) -> bool:
    return v in (None, [], {}, "", 0, False)


def _same(want: Any, have: Any) -> bool:
    if isinstance(want, dict) and isinstance(have, dict):
        return all(_same(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list) and isinstance(have, list):
        return len(want) == len(have) and all(_same(a, b) for a, b in zip(want, have, strict=True))
    if _empty(want) and _empty(have):
        return True
    return bool(want == have)


def differences(desired: dict[str, Any], live: dict[str, Any]) -> list[Diff]:
    """Differences on the keys `up` manages (ECS adds defaults, which are ignored)."""
    out: list[Diff] = []
    for key in TASK_KEYS:
        if (
            key in desired
            and str(desired[key]) != str(live.get(key))
            and not (_empty(desired[key]) and _empty(live.get(key)))
        ):
            out.append(Diff(key, live.get(key), desired[key]))
    live_c = {c["name"]: c for c in live.get("containerDefinitions", [])}
    want_c = {c["name"]: c for c in desired["containerDefinitions"]}
    for name in sorted(set(live_c) - set(want_c)):
        out.append(Diff(f"container {name}", note="remove"))
    for name, want in want_c.items():
        have = live_c.get(name)
        if have is None:
            out.append(Diff(f"container {name}", note="add"))
            continue
        for key, value in want.items():
            if not _same(value, have.get(key)):
                if key in ("environment", "secrets"):
                    out += _variable_diffs(f"container {name}.{key}", have.get(key), value)
                else:
                    out.append(Diff(f"container {name}.{key}", have.get(key), value))
        for key in MANAGED_CONTAINER_KEYS:
            if key not in want and not _empty(have.get(key)):
                out.append(Diff(f"container {name}.{key}", note="remove"))
    return out


def _variable_diffs(where: str, have: Any, want: Any) -> list[Diff]:
    """One line per variable added, removed or changed, in full: `environment` values are the
    config's plaintext; for `secrets` only the name is shown (where ECS reads it from
    changed), never a value."""
    key = "valueFrom" if where.endswith(".secrets") else "value"
    old = {v["name"]: v.get(key) for v in have or []}
    new = {v["name"]: v.get(key) for v in want or []}
    secret = key == "valueFrom"
    out = []
    for n in sorted(old.keys() | new.keys()):
        if n not in old:
            out.append(Diff(f"{where} {n}", note="added" if secret else f"added {new[n]!r}"))
        elif n not in new:
            out.append(Diff(f"{where} {n}", note="removed"))
        elif old[n] != new[n]:
            if secret:
                out.append(Diff(f"{where} {n}", note="source changed"))
            else:
                out.append(Diff(f"{where} {n}", old[n], new[n]))
    return out


# --- the kind --------------------------------------------------------------------------------
def _family_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


class TaskDefinitionKind(Kind[TaskDefinition]):
    kind = "task_definition"
    label = "task definition"

    def name(self, want: TaskDefinition) -> str:
        return want.family

    def lookup(self, ctx: Ctx, family: str, rec: Record | None) -> Live | None:
        return self._latest(ctx, family, rec)

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        """Every ACTIVE and INACTIVE revision of the family (down deletes them all)."""
        revisions = {
            s: list(self._revisions(ctx, rec.physical_id, s)) for s in ("ACTIVE", "INACTIVE")
        }
        if not revisions["ACTIVE"] and not revisions["INACTIVE"]:
            return None
        newest = (revisions["ACTIVE"] or revisions["INACTIVE"])[-1]
        td, tags = self._describe(ctx, newest)
        tags = self._owner_tags(ctx, rec.physical_id, tags, rec)
        return Live(rec.physical_id, newest, tags, revisions, self._outputs(td))

    def _latest(self, ctx: Ctx, family: str, rec: Record | None) -> Live | None:
        try:
            td, tags = self._describe(ctx, family)
        except ClientError as e:
            # A family without an ACTIVE revision: "Unable to describe task definition".
            if is_not_found(e) or e.response["Error"]["Code"] == "ClientException":
                return None
            raise
        if td.get("status") != "ACTIVE":
            return None
        tags = self._owner_tags(ctx, family, tags, rec)
        return Live(family, td["taskDefinitionArn"], tags, td, self._outputs(td))

    def _describe(self, ctx: Ctx, name: str) -> tuple[dict[str, Any], dict[str, str]]:
        resp = ctx.client("ecs").describe_task_definition(taskDefinition=name, include=["TAGS"])
        return dict(resp["taskDefinition"]), tags_dict(resp.get("tags"), "key", "value")

    def _owner_tags(
        self, ctx: Ctx, family: str, tags: dict[str, str], rec: Record | None
    ) -> dict[str, str]:
        """Revisions the pipeline registers may be untagged: then the recorded revision's tags,
        or the first revision's (the one `up` registered), decide whose the family is."""
        if STACK_TAG in tags:
            return tags
        candidates = [rec.arn] if rec and rec.arn and _family_of(rec.arn) == family else []
        first = next(self._revisions(ctx, family, "ACTIVE"), None)
        candidates += [first] if first and first not in candidates else []
        for arn in candidates:
            try:
                _, older = self._describe(ctx, arn)
            except ClientError as e:
                if is_not_found(e) or e.response["Error"]["Code"] == "ClientException":
                    continue
                raise
            if STACK_TAG in older:
                return older
        return tags

    def _revisions(self, ctx: Ctx, family: str, status: str) -> Iterator[str]:
        """The revision ARNs of exactly `family` (familyPrefix matches a prefix), oldest first."""
        pages = ctx.client("ecs").get_paginator("list_task_definitions")
        for page in pages.paginate(familyPrefix=family, status=status, sort="ASC"):
            for arn in page.get("taskDefinitionArns", []):
                if _family_of(arn) == family:
                    yield arn

    @staticmethod
    def _outputs(td: dict[str, Any]) -> dict[str, Any]:
        return {"revision": td.get("revision")}

    def create(self, ctx: Ctx, want: TaskDefinition) -> Live:
        return self._register(ctx, want, {})

    def _register(self, ctx: Ctx, want: TaskDefinition, images: dict[str, str]) -> Live:
        td = ctx.client("ecs").register_task_definition(
            **want.definition(images), tags=tags_list(want.tag_dict, "key", "value")
        )["taskDefinition"]
        return Live(want.family, td["taskDefinitionArn"], want.tag_dict, td, self._outputs(td))

    def diff(self, ctx: Ctx, want: TaskDefinition, live: Live) -> list[Diff]:
        return differences(want.definition(want.kept_images(live.data)), live.data)

    def update(self, ctx: Ctx, want: TaskDefinition, live: Live, diffs: list[Diff]) -> Live | None:
        """A new revision, keeping the images the pipeline deployed."""
        return self._register(ctx, want, want.kept_images(live.data))

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("ecs").tag_resource(resourceArn=live.arn, tags=tags_list(tags, "key", "value"))

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        """Deregister every ACTIVE revision of the family, then delete them (none left listed)."""
        ecs = ctx.client("ecs")
        active, inactive = live.data["ACTIVE"], live.data["INACTIVE"]
        for arn in active:
            _tolerate_missing(lambda a=arn: ecs.deregister_task_definition(taskDefinition=a))
        arns = active + inactive
        for i in range(0, len(arns), 10):
            chunk = arns[i : i + 10]
            _tolerate_missing(lambda c=chunk: ecs.delete_task_definitions(taskDefinitions=c))

    def summary(self, want: TaskDefinition) -> list[str]:
        return [f"{c['name']}: {c['image']}" for c in want.containers]

    def notes(self, want: TaskDefinition, diffs: list[Diff]) -> list[str]:
        return [
            "registers a new revision (images the pipeline deployed are kept); "
            "the service then deploys it"
        ]


def _tolerate_missing(call: Any) -> None:
    """One revision of several already gone: go on with the others."""
    try:
        call()
    except ClientError as e:
        if not is_not_found(e):
            raise


KINDS = (TaskDefinitionKind(),)
