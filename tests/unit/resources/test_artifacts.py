"""The artifact bucket: the desired model, then on moto hardened settings, converge per setting,
ownership (strangers, take-over, the crash window before tagging) and a delete that empties every
object version and delete marker — only of a bucket that is ours."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.aws import Aws
from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError
from ecs_cicd.lifecycle import Ctx, ForeignResources, Target
from ecs_cicd.resources import artifacts
from ecs_cicd.state import Record
from tests.unit.resources.helpers import (
    client_error,
    delete,
    ensure,
    inject,
    plan,
    recorded,
    want,
)

LID = "bucket.artifacts"
STACK_TAG = "ecs-cicd:stack"


def bucket(cfg: Config) -> str:
    return f"{cfg.stack}-artifacts-123456789012-ap-northeast-1"


def all_versions(ctx: Ctx, name: str) -> list[Any]:
    resp = ctx.client("s3").list_object_versions(Bucket=name)
    return [*resp.get("Versions", []), *resp.get("DeleteMarkers", [])]


def tags_of(ctx: Ctx, name: str) -> dict[str, str]:
    try:
        tagset = ctx.client("s3").get_bucket_tagging(Bucket=name)["TagSet"]
    except ClientError:
        return {}
    return {t["Key"]: t["Value"] for t in tagset}


def versioning(ctx: Ctx, name: str) -> str | None:
    status: str | None = ctx.client("s3").get_bucket_versioning(Bucket=name).get("Status")
    return status


def make_bucket(ctx: Ctx, name: str, tags: dict[str, str] | None = None) -> None:
    s3 = ctx.client("s3")
    s3.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    if tags:
        s3.put_bucket_tagging(
            Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
        )


def _fill(ctx: Ctx, name: str) -> None:
    """Several versions of two keys and a delete marker."""
    s3 = ctx.client("s3")
    for i in range(3):
        s3.put_object(Bucket=name, Key="source.zip", Body=f"v{i}".encode())
        s3.put_object(Bucket=name, Key="build/imagedefinitions.json", Body=b"[]")
    s3.delete_object(Bucket=name, Key="source.zip")  # a delete marker


# --- the desired model -----------------------------------------------------------------------
def test_desired_bucket_is_data(cfg: Config) -> None:
    b = want(cfg, LID)
    assert isinstance(b, artifacts.ArtifactBucket) and b.kind == "artifact_bucket"
    name = bucket(cfg)
    arn = f"arn:aws:s3:::{name}"
    assert b.name == name and b.arn == arn and b.region == "ap-northeast-1"
    assert b.versioning == "Enabled" and b.encryption == "AES256"
    assert b.public_access_block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    (stmt,) = b.policy["Statement"]
    assert stmt["Effect"] == "Deny" and stmt["Principal"] == "*" and stmt["Action"] == "s3:*"
    assert sorted(stmt["Resource"]) == [arn, f"{arn}/*"]
    assert stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert b.tag_dict[STACK_TAG] == cfg.stack and b.tag_dict["ecs-cicd:id"] == LID


def test_desired_bucket_follows_the_target(cfg: Config) -> None:
    b = artifacts.build_bucket(cfg, Target("210987654321", "cn-north-1", "aws-cn"), ())
    assert b.name == f"{cfg.stack}-artifacts-210987654321-cn-north-1"
    assert b.arn == f"arn:aws-cn:s3:::{b.name}" and b.region == "cn-north-1"


def test_policy_compare_is_by_meaning() -> None:
    arn = "arn:aws:s3:::b"
    doc = artifacts.bucket_policy(arn)
    reordered = json.loads(json.dumps(doc))
    reordered["Statement"][0]["Resource"] = [f"{arn}/*", arn]
    reordered["Statement"][0]["Action"] = ["s3:*"]
    assert artifacts._normalise(reordered) == artifacts._normalise(doc)
    reordered["Statement"][0]["Effect"] = "Allow"
    assert artifacts._normalise(reordered) != artifacts._normalise(doc)


# --- on moto ---------------------------------------------------------------------------------
def test_bucket_created_hardened_and_tagged(ctx: Ctx, cfg: Config) -> None:
    name = bucket(cfg)
    assert plan(ctx, cfg, LID).action == "create"
    assert ctx.aws.stats.mutating_total == 0
    out = ensure(ctx, cfg, LID)
    assert out.action == "create" and out.physical_id == name
    s3 = ctx.client("s3")
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "ap-northeast-1"
    assert versioning(ctx, name) == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules] == ["AES256"]
    assert s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert artifacts._normalise(
        json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    ) == artifacts._normalise(artifacts.bucket_policy(f"arn:aws:s3:::{name}"))
    tags = tags_of(ctx, name)
    assert tags[STACK_TAG] == cfg.stack and tags["ecs-cicd:id"] == LID
    rec = recorded(ctx, LID)
    assert rec.kind == "artifact_bucket" and rec.physical_id == name
    assert rec.arn == f"arn:aws:s3:::{name}" and rec.outputs == {"name": name}


def test_tags_are_passed_at_creation(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = inject(monkeypatch, ctx.client("s3"), "create_bucket", [])
    ensure(ctx, cfg, LID)
    conf = calls[0]["CreateBucketConfiguration"]
    assert conf["LocationConstraint"] == "ap-northeast-1"
    assert {"Key": "ecs-cicd:id", "Value": LID} in conf["Tags"]


def test_us_east_1_has_no_location_constraint(ctx: Ctx, cfg: Config) -> None:
    target = Target("123456789012", "us-east-1")
    c = Ctx(Aws(region="us-east-1"), ctx.state, target, stack=cfg.stack, sleep=lambda _s: None)
    b = artifacts.build_bucket(cfg, target, want(cfg, LID).tags)
    kind = artifacts.ArtifactBucketKind()
    from ecs_cicd.lifecycle import apply, examine

    assert apply(c, examine(c, kind, b)).action == "create"
    name = f"{cfg.stack}-artifacts-123456789012-us-east-1"
    assert c.client("s3").get_bucket_location(Bucket=name)["LocationConstraint"] in (
        None,
        "us-east-1",
    )


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
    assert recorded(ctx, LID).physical_id == bucket(cfg)


def test_bucket_already_owned_by_you_and_ours_is_taken_on(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HeadBucket missed it (eventual consistency), CreateBucket says it is this account's: a
    # parallel run of this stack made it (it carries our stack tag).
    make_bucket(ctx, bucket(cfg), want(cfg, LID).tag_dict)
    real = artifacts.ArtifactBucketKind._exists
    misses = [True]  # the first look-up misses it; the look-up after the conflict finds it

    def exists(self: Any, c: Ctx, name: str) -> bool:
        return False if misses and misses.pop() else real(self, c, name)

    monkeypatch.setattr(artifacts.ArtifactBucketKind, "_exists", exists)
    assert ensure(ctx, cfg, LID).action == "adopt"
    assert versioning(ctx, bucket(cfg)) == "Enabled"


def test_bucket_already_owned_by_you_but_not_ours_is_an_error(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_bucket(ctx, bucket(cfg), {"owner": "someone"})
    monkeypatch.setattr(artifacts.ArtifactBucketKind, "_exists", lambda _s, _c, _n: False)
    with pytest.raises(AwsError, match=r"Creating bucket .*BucketAlreadyOwnedByYou"):
        ensure(ctx, cfg, LID)
    assert ctx.state.get(LID) is None
    assert versioning(ctx, bucket(cfg)) is None


def test_create_retries_conflicting_conditional_operation(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    msg = "A conflicting conditional operation is currently in progress against this resource."
    errors = [client_error("OperationAborted", msg, "CreateBucket") for _ in range(2)]
    calls = inject(monkeypatch, ctx.client("s3"), "create_bucket", errors)
    assert ensure(ctx, cfg, LID).action == "create"
    assert len(calls) == 3


def test_create_other_operation_aborted_fails_at_once(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = [client_error("OperationAborted", "something else", "CreateBucket")] * 3
    calls = inject(monkeypatch, ctx.client("s3"), "create_bucket", list(errors))
    with pytest.raises(AwsError, match=r"Creating bucket .*OperationAborted"):
        ensure(ctx, cfg, LID)
    assert len(calls) == 1


def test_a_bucket_of_another_account_is_refused(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    def head(**_kw: Any) -> Any:
        raise client_error("403", "Forbidden", "HeadBucket")

    monkeypatch.setattr(ctx.client("s3"), "head_bucket", head)
    with pytest.raises(AwsError, match="not owned by this account"):
        plan(ctx, cfg, LID)
    assert ctx.aws.stats.mutating_total == 0


@pytest.mark.parametrize("setting", ["versioning", "encryption", "public_access_block", "policy"])
def test_drift_is_planned_then_converged(ctx: Ctx, cfg: Config, setting: str) -> None:
    name = bucket(cfg)
    ensure(ctx, cfg, LID)
    s3 = ctx.client("s3")
    expected = {
        "versioning": "versioning: Suspended -> Enabled",
        "encryption": "default encryption: ['aws:kms'] -> AES256",
        "public_access_block": (
            "public access block: BlockPublicPolicy, RestrictPublicBuckets -> true"
        ),
        "policy": "bucket policy: deny requests without TLS",
    }[setting]
    if setting == "versioning":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    elif setting == "encryption":
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
            },
        )
    elif setting == "public_access_block":
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": False,
                "RestrictPublicBuckets": False,
            },
        )
    else:
        s3.delete_bucket_policy(Bucket=name)
    assert plan(ctx, cfg, LID).action == "unchanged"  # verified when made: taken from the state
    ctx.refresh = True  # changed outside ecs_cicd: only a refresh reads these settings again
    before = ctx.aws.stats.mutating_total
    planned = plan(ctx, cfg, LID)
    assert planned.action == "update" and planned.changes == [expected]
    assert ctx.aws.stats.mutating_total == before
    out = ensure(ctx, cfg, LID)
    assert out.action == "update" and out.changes == [expected]
    assert ensure(ctx, cfg, LID).action == "unchanged"


def test_one_of_our_tags_drifted_is_put_back_keeping_the_others(ctx: Ctx, cfg: Config) -> None:
    name = bucket(cfg)
    ensure(ctx, cfg, LID)
    tags = {**tags_of(ctx, name), "ecs-cicd:id": "other", "team": "x"}
    make_tags = [{"Key": k, "Value": v} for k, v in tags.items()]
    ctx.client("s3").put_bucket_tagging(Bucket=name, Tagging={"TagSet": make_tags})
    out = ensure(ctx, cfg, LID)
    assert out.action == "update" and out.changes == ["tags: set ecs-cicd:id"]
    assert tags_of(ctx, name) == {**tags, "ecs-cicd:id": LID}


# --- the crash window between CreateBucket and PutBucketTagging ------------------------------
def test_crash_before_tagging_is_ours_by_our_record(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CreateBucket that ignores its Tags (moto, an older botocore) and a failure right after:
    # the bucket is recorded, untagged and unconfigured.
    s3 = ctx.client("s3")
    name = bucket(cfg)
    real_create = s3.create_bucket

    def create_ignoring_tags(**kwargs: Any) -> Any:
        conf = {k: v for k, v in kwargs.pop("CreateBucketConfiguration", {}).items() if k != "Tags"}
        return real_create(**kwargs, CreateBucketConfiguration=conf)

    monkeypatch.setattr(s3, "create_bucket", create_ignoring_tags)
    inject(monkeypatch, s3, "put_bucket_tagging", [client_error("InternalError", "boom", "x")])
    with pytest.raises(AwsError, match=r"Configuring bucket .*InternalError"):
        ensure(ctx, cfg, LID)
    assert recorded(ctx, LID).physical_id == name
    assert tags_of(ctx, name) == {}
    out = plan(ctx, cfg, LID)
    assert out.action == "update"
    assert out.changes[0] == "tags: set ecs-cicd:id, ecs-cicd:stack"
    assert ensure(ctx, cfg, LID).action == "update"
    assert tags_of(ctx, name)[STACK_TAG] == cfg.stack
    assert versioning(ctx, name) == "Enabled"
    assert ensure(ctx, cfg, LID).action == "unchanged"


def test_all_tags_removed_from_our_recorded_bucket_are_put_back(ctx: Ctx, cfg: Config) -> None:
    name = bucket(cfg)
    ensure(ctx, cfg, LID)
    ctx.client("s3").delete_bucket_tagging(Bucket=name)
    out = ensure(ctx, cfg, LID)
    assert out.action == "update" and out.changes == ["tags: set ecs-cicd:id, ecs-cicd:stack"]
    assert tags_of(ctx, name)["ecs-cicd:id"] == LID


def test_an_untagged_bucket_without_our_record_is_foreign(ctx: Ctx, cfg: Config) -> None:
    make_bucket(ctx, bucket(cfg))
    assert plan(ctx, cfg, LID).action == "foreign"


def test_down_in_the_crash_window_deletes_the_empty_untagged_bucket(ctx: Ctx, cfg: Config) -> None:
    name = bucket(cfg)
    make_bucket(ctx, name)
    ctx.state.put(Record(LID, "artifact_bucket", name, arn=f"arn:aws:s3:::{name}"))
    assert delete(ctx, LID).action == "delete"
    with pytest.raises(ClientError):
        ctx.client("s3").head_bucket(Bucket=name)


def test_an_untagged_recorded_bucket_with_objects_is_never_emptied(ctx: Ctx, cfg: Config) -> None:
    name = bucket(cfg)
    make_bucket(ctx, name)
    ctx.client("s3").put_bucket_versioning(
        Bucket=name, VersioningConfiguration={"Status": "Enabled"}
    )
    _fill(ctx, name)
    ctx.state.put(Record(LID, "artifact_bucket", name, arn=f"arn:aws:s3:::{name}"))
    out = delete(ctx, LID)
    assert out.action == "skip"
    assert len(all_versions(ctx, name)) == 7
    assert ctx.aws.stats.mutating.get("s3:DeleteObjects") is None


# --- ownership -------------------------------------------------------------------------------
def test_a_strangers_bucket_is_foreign_and_left_alone(ctx: Ctx, cfg: Config) -> None:
    name = bucket(cfg)
    make_bucket(ctx, name, {"owner": "someone"})
    out = plan(ctx, cfg, LID)
    assert out.action == "foreign" and out.physical_id == name
    before = ctx.aws.stats.mutating_total
    with pytest.raises(ForeignResources, match=LID):
        ensure(ctx, cfg, LID)
    assert ctx.aws.stats.mutating_total == before
    assert ctx.state.get(LID) is None
    assert tags_of(ctx, name) == {"owner": "someone"}
    assert versioning(ctx, name) is None
    with pytest.raises(ClientError):
        ctx.client("s3").get_bucket_policy(Bucket=name)


def test_take_over_on_request_keeps_the_strangers_tags(ctx: Ctx, cfg: Config) -> None:
    name = bucket(cfg)
    make_bucket(ctx, name, {"owner": "someone"})
    ctx.adopt = frozenset({LID})
    assert plan(ctx, cfg, LID).action == "take"
    assert ensure(ctx, cfg, LID).action == "take"
    tags = tags_of(ctx, name)
    assert tags[STACK_TAG] == cfg.stack and tags["ecs-cicd:id"] == LID
    assert tags["owner"] == "someone"
    assert versioning(ctx, name) == "Enabled"
    assert recorded(ctx, LID).physical_id == name
    ctx.adopt = frozenset()
    assert ensure(ctx, cfg, LID).action == "unchanged"


@pytest.mark.parametrize("tags", [{"owner": "someone"}, {STACK_TAG: "other-stack"}])
def test_a_strangers_recorded_bucket_with_objects_is_never_emptied(
    ctx: Ctx, cfg: Config, tags: dict[str, str]
) -> None:
    # Our state names it (an old record, a name re-used), but it is not ours.
    name = bucket(cfg)
    make_bucket(ctx, name, tags)
    _fill(ctx, name)
    ctx.state.put(Record(LID, "artifact_bucket", name, arn=f"arn:aws:s3:::{name}"))
    before = len(all_versions(ctx, name))
    out = delete(ctx, LID)
    assert out.action == "skip"
    assert len(all_versions(ctx, name)) == before > 0
    ctx.client("s3").head_bucket(Bucket=name)
    assert ctx.aws.stats.mutating.get("s3:DeleteObjects") is None


def test_delete_of_a_bucket_whose_stack_tag_was_removed_is_skipped(ctx: Ctx, cfg: Config) -> None:
    name = bucket(cfg)
    ensure(ctx, cfg, LID)
    _fill(ctx, name)
    left = {k: v for k, v in tags_of(ctx, name).items() if k != STACK_TAG}
    ctx.client("s3").put_bucket_tagging(
        Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in left.items()]}
    )
    assert delete(ctx, LID).action == "skip"
    assert len(all_versions(ctx, name)) == 7


def test_deleted_by_hand_is_planned_again_and_gone(ctx: Ctx, cfg: Config) -> None:
    name = bucket(cfg)
    ensure(ctx, cfg, LID)
    ctx.client("s3").delete_bucket(Bucket=name)
    assert plan(ctx, cfg, LID).action == "create"
    assert delete(ctx, LID).action == "gone"
    assert ensure(ctx, cfg, LID).action == "create"


# --- delete ----------------------------------------------------------------------------------
def test_delete_empties_versions_and_delete_markers(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = bucket(cfg)
    ensure(ctx, cfg, LID)
    _fill(ctx, name)
    resp = ctx.client("s3").list_object_versions(Bucket=name)
    assert len(resp["Versions"]) == 6 and len(resp["DeleteMarkers"]) == 1
    monkeypatch.setattr(artifacts, "DELETE_BATCH", 3)
    s3 = ctx.client("s3")
    batches: list[int] = []
    original = s3.delete_objects

    def delete_objects(**kw: Any) -> Any:
        batches.append(len(kw["Delete"]["Objects"]))  # the list is reused once sent
        assert kw["Delete"]["Quiet"] is True
        return original(**kw)

    monkeypatch.setattr(s3, "delete_objects", delete_objects)
    assert delete(ctx, LID).action == "delete"
    assert batches == [3, 3, 1]
    with pytest.raises(ClientError):
        ctx.client("s3").head_bucket(Bucket=name)
    assert delete(ctx, LID).action == "gone"


def test_bucket_not_empty_from_a_concurrent_write_is_emptied_again(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = bucket(cfg)
    ensure(ctx, cfg, LID)
    _fill(ctx, name)
    s3 = ctx.client("s3")
    original = s3.delete_bucket
    calls: list[int] = []

    def delete_bucket(**kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            # the pipeline wrote one more object (and a delete marker) while we emptied it
            s3.put_object(Bucket=name, Key="late.zip", Body=b"x")
            s3.delete_object(Bucket=name, Key="late.zip")
        return original(**kw)  # moto answers BucketNotEmpty, as AWS does

    monkeypatch.setattr(s3, "delete_bucket", delete_bucket)
    assert delete(ctx, LID).action == "delete"
    assert len(calls) == 2
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)


def test_bucket_not_empty_every_time_gives_up(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, LID)
    errors = [
        client_error(
            "BucketNotEmpty", "The bucket you tried to delete is not empty", "DeleteBucket"
        )
    ] * 10
    calls = inject(monkeypatch, ctx.client("s3"), "delete_bucket", list(errors))
    with pytest.raises(AwsError, match="BucketNotEmpty"):
        delete(ctx, LID)
    assert len(calls) == artifacts.DELETE_ATTEMPTS


def test_delete_of_a_missing_bucket_is_gone(ctx: Ctx) -> None:
    ctx.state.put(Record(LID, "artifact_bucket", "never-created-bucket-x"))
    assert delete(ctx, LID).action == "gone"
