"""Batched look-ups (Kind.lookup_many, Ctx.shared): a Ctx that batches reads looks up all
recorded resources of a kind in one call, answers from it, and falls back to single look-ups for
what the batch does not know; a kind without the verb is looked up as before; drift is still
found (IAM from GetAccountAuthorizationDetails, and with that call denied)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from botocore.exceptions import EndpointConnectionError

from ecs_cicd.aws import Aws
from ecs_cicd.config import Config
from ecs_cicd.lifecycle import Ctx, Kind, Live, Resource, Target, examine
from ecs_cicd.names import STACK_TAG
from ecs_cicd.resources import iam, kinds
from ecs_cicd.state import Record, State
from tests.unit.resources.helpers import client_error, ensure_all, want

STACK = "s"
ROLES = ("role.execution", "role.task", "role.codebuild", "role.codepipeline")


@dataclass(frozen=True, eq=False, kw_only=True)
class Thing(Resource):
    kind = "thing"
    name: str


class Counting(Kind[Thing]):
    """Things that exist: a, b (and c when `also_c`); counts its reads."""

    kind = "thing"

    def __init__(self, *, batched: bool, knows: tuple[str, ...] = ("a", "b", "c")) -> None:
        self.batched, self.knows = batched, knows
        self.singles: list[str] = []
        self.batches: list[list[str]] = []

    def lookup(self, ctx: Ctx, physical_id: str, rec: Record | None) -> Live | None:
        self.singles.append(physical_id)
        return Live(physical_id, tags={STACK_TAG: STACK}) if physical_id in ("a", "b") else None

    def lookup_many(self, ctx: Ctx, recs: list[Record]) -> dict[str, Live | None] | None:
        if not self.batched:
            return super().lookup_many(ctx, recs)
        self.batches.append(sorted(r.physical_id for r in recs))
        return {
            r.physical_id: Live(r.physical_id, tags={STACK_TAG: STACK})
            if r.physical_id in ("a", "b")
            else None
            for r in recs
            if r.physical_id in self.knows
        }


def ctx_with(tmp_path: Path, *, batch_reads: bool, recorded: tuple[str, ...]) -> Ctx:
    state = State(tmp_path / "s.json", stack=STACK, region="r", persist=False)
    for pid in recorded:
        state.records[pid] = Record(pid, "thing", pid)
    return Ctx(cast(Aws, None), state, Target("1", "r"), stack=STACK, batch_reads=batch_reads)


def things(*names: str) -> list[Thing]:
    return [Thing(logical_id=n, name=n) for n in names]


def test_one_batched_read_answers_every_recorded_resource(tmp_path: Path) -> None:
    kind = Counting(batched=True)
    ctx = ctx_with(tmp_path, batch_reads=True, recorded=("a", "b", "c"))
    actions = {t.logical_id: examine(ctx, kind, t).outcome.action for t in things("a", "b", "c")}
    assert actions == {"a": "unchanged", "b": "unchanged", "c": "create"}
    assert kind.batches == [["a", "b", "c"]] and kind.singles == []


def test_what_the_batch_does_not_know_is_looked_up_alone(tmp_path: Path) -> None:
    kind = Counting(batched=True, knows=("a",))
    ctx = ctx_with(tmp_path, batch_reads=True, recorded=("a", "b"))
    actions = {t.logical_id: examine(ctx, kind, t).outcome.action for t in things("a", "b", "d")}
    assert actions == {"a": "unchanged", "b": "unchanged", "d": "create"}
    assert kind.batches == [["a", "b"]] and kind.singles == ["b", "d"]


@pytest.mark.parametrize("batched, batch_reads", [(False, True), (True, False)])
def test_without_the_verb_or_a_batching_ctx_each_is_looked_up(
    tmp_path: Path, batched: bool, batch_reads: bool
) -> None:
    kind = Counting(batched=batched)
    ctx = ctx_with(tmp_path, batch_reads=batch_reads, recorded=("a", "b"))
    for t in things("a", "b"):
        assert examine(ctx, kind, t).outcome.action == "unchanged"
    assert kind.batches == [] and kind.singles == ["a", "b"]


def test_shared_loads_once(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, batch_reads=True, recorded=())
    loads: list[int] = []

    def load() -> dict[str, int]:
        loads.append(1)
        return {"x": 1}

    for _ in range(3):
        assert ctx.shared("k", load) == {"x": 1}
    assert loads == [1]


# --- IAM: GetAccountAuthorizationDetails ------------------------------------------------------
def drifted_roles(ctx: Ctx, cfg: Config) -> None:
    ensure_all(ctx, cfg, *ROLES)
    client = ctx.client("iam")
    client.put_role_policy(
        RoleName=iam_name(cfg, "role.codebuild"),
        PolicyName="ecs-cicd",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    client.attach_role_policy(
        RoleName=iam_name(cfg, "role.task"),
        PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess",
    )


def iam_name(cfg: Config, lid: str) -> str:
    w = want(cfg, lid)
    assert isinstance(w, iam.Role)
    return w.name


def examine_roles(ctx: Ctx, cfg: Config) -> dict[str, Any]:
    batching = Ctx(ctx.aws, ctx.state.scratch_copy(), ctx.target, stack=ctx.stack, batch_reads=True)
    before = dict(ctx.aws.stats.reads)
    out = {}
    for lid in ROLES:
        w = want(cfg, lid)
        step = examine(batching, kinds()[w.kind], w)
        out[lid] = (step.outcome.action, sorted(d.field for d in step.diffs))
    reads = {k: v - before.get(k, 0) for k, v in ctx.aws.stats.reads.items()}
    return {"outcomes": out, "reads": {k: v for k, v in reads.items() if v}}


EXPECTED = {
    "role.execution": ("unchanged", []),
    "role.task": ("update", [iam.MANAGED]),
    "role.codebuild": ("update", [iam.INLINE_DOC]),
    "role.codepipeline": ("unchanged", []),
}


def test_roles_and_their_drift_in_one_call(ctx: Ctx, cfg: Config, managed_policies: None) -> None:
    drifted_roles(ctx, cfg)
    seen = examine_roles(ctx, cfg)
    assert seen["outcomes"] == EXPECTED
    assert seen["reads"] == {"iam:GetAccountAuthorizationDetails": 1}


def test_roles_read_one_by_one_when_the_batched_read_is_denied(
    ctx: Ctx, cfg: Config, managed_policies: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted_roles(ctx, cfg)
    client = ctx.client("iam")
    real = client.get_paginator

    def paginator(name: str) -> Any:
        if name == "get_account_authorization_details":
            raise client_error("AccessDenied", "not allowed", "GetAccountAuthorizationDetails")
        return real(name)

    monkeypatch.setattr(client, "get_paginator", paginator)
    seen = examine_roles(ctx, cfg)
    assert seen["outcomes"] == EXPECTED
    assert seen["reads"]["iam:GetRole"] == 4


def test_a_batched_answer_older_than_the_max_age_is_read_again(tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, batch_reads=True, recorded=())
    ctx.batch_max_age = -1.0  # every answer is already too old
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    assert [ctx.shared("k", load) for _ in range(3)] == [1, 2, 3]
    ctx.batch_max_age = 3600.0
    assert ctx.shared("k", load) == 3 and len(loads) == 3


# --- tags from one Resource Groups Tagging API listing (lifecycle.tags_of) -------------------
def examine_lids(
    ctx: Ctx, cfg: Config, lids: tuple[str, ...], *, tag_listing: bool = True
) -> dict[str, Any]:
    batching = Ctx(
        ctx.aws,
        ctx.state.scratch_copy(),
        ctx.target,
        stack=ctx.stack,
        batch_reads=True,
        tag_listing=tag_listing,
    )
    before = dict(ctx.aws.stats.reads)
    out = {}
    for lid in lids:
        w = want(cfg, lid)
        out[lid] = examine(batching, kinds()[w.kind], w).outcome.action
    reads = {k: v - before.get(k, 0) for k, v in ctx.aws.stats.reads.items()}
    return {"outcomes": out, "reads": {k: v for k, v in reads.items() if v}}


TAGGED = ("ecr.app", "ecr.nginx", "logs.app", "logs.codebuild", "bucket.artifacts")


def test_tags_of_the_stack_come_from_one_tagging_api_listing(ctx: Ctx, cfg: Config) -> None:
    ensure_all(ctx, cfg, *TAGGED)
    seen = examine_lids(ctx, cfg, TAGGED)
    assert set(seen["outcomes"].values()) == {"unchanged"}
    assert seen["reads"]["resourcegroupstaggingapi:GetResources"] == 1
    own = {"ecr:ListTagsForResource", "logs:ListTagsForResource", "s3:GetBucketTagging"}
    assert not own & set(seen["reads"])


def test_a_resource_the_listing_does_not_show_is_asked_of_its_service(
    ctx: Ctx, cfg: Config
) -> None:
    """The listing only confirms: a repository without our stack tag (someone else's, or ours
    tagged moments ago) gets its tags from ECR, and is then judged as before."""
    ensure_all(ctx, cfg, "ecr.app")
    ecr = ctx.client("ecr")
    arn = ecr.describe_repositories(repositoryNames=[want(cfg, "ecr.app").name])["repositories"][0][
        "repositoryArn"
    ]
    ecr.untag_resource(resourceArn=arn, tagKeys=[STACK_TAG])
    seen = examine_lids(ctx, cfg, ("ecr.app",))
    assert seen["outcomes"] == {"ecr.app": "foreign"}
    assert seen["reads"]["ecr:ListTagsForResource"] == 1


@pytest.mark.parametrize(
    "error",
    [
        client_error("AccessDeniedException", "not allowed", "GetResources"),
        client_error("ThrottlingException", "slow down", "GetResources"),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ],
    ids=["denied", "throttled", "unreachable"],
)
def test_without_the_listing_each_service_is_asked(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    ensure_all(ctx, cfg, *TAGGED)
    client = ctx.client("resourcegroupstaggingapi")

    def failing(_name: str) -> Any:
        raise error

    monkeypatch.setattr(client, "get_paginator", failing)
    seen = examine_lids(ctx, cfg, TAGGED)
    assert set(seen["outcomes"].values()) == {"unchanged"}
    assert seen["reads"]["ecr:ListTagsForResource"] == 2
    assert seen["reads"]["logs:ListTagsForResource"] == 2
    assert seen["reads"]["s3:GetBucketTagging"] == 1


def test_down_and_scans_never_use_the_listing(ctx: Ctx, cfg: Config) -> None:
    """Ownership that decides a delete is read from each service: the tagging index lags."""
    ensure_all(ctx, cfg, *TAGGED)
    seen = examine_lids(ctx, cfg, TAGGED, tag_listing=False)
    assert "resourcegroupstaggingapi:GetResources" not in seen["reads"]
    assert seen["reads"]["s3:GetBucketTagging"] == 1


def test_up_confirms_ownership_with_the_service_before_changing(
    mock: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tagging index still lists our stack tag on a log group that lost it (the index
    lags): the examination calls it ours, but before `up` changes it, its own tags are read,
    and `up` refuses to touch it."""
    from ecs_cicd import lifecycle, load_config, up
    from ecs_cicd.errors import EcsCicdError
    from tests.conftest import ROOT

    cfg = load_config(ROOT / "config.example.yaml")
    state = tmp_path / "s.json"
    up(cfg, state_path=state, sleep=lambda _s: None)
    aws = Aws(region=cfg.region)
    logs = aws.client("logs")
    name = f"/ecs/{cfg.stack}"
    arn = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["arn"].removesuffix(
        ":*"
    )
    stale = lifecycle._stack_tagged

    def lagging(ctx: Ctx) -> dict[str, dict[str, str]]:
        return {**stale(ctx), arn: {STACK_TAG: cfg.stack}}

    monkeypatch.setattr(lifecycle, "_stack_tagged", lagging)
    logs.untag_resource(resourceArn=arn, tagKeys=[STACK_TAG])
    logs.put_retention_policy(logGroupName=name, retentionInDays=1)
    with pytest.raises(EcsCicdError, match=r"logs\.app"):
        up(cfg, state_path=state, sleep=lambda _s: None)
    group = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
    assert group["retentionInDays"] == 1  # left as it was
