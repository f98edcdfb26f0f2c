"""The artifact bucket on moto: hardened settings, converge per setting, adopt, and a delete that
empties every object version and delete marker."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.engine import Ctx, Outcome, Spec
from ecs_cicd.errors import AwsError
from ecs_cicd.resources import artifacts
from ecs_cicd.state import Record
from tests.unit.resources.helpers import client_error, dry, inject, recorded

HANDLER = artifacts.ArtifactBucketHandler()
SPEC = Spec("bucket.artifacts", "artifact_bucket")


def ensure(ctx: Ctx) -> Outcome:
    return HANDLER.ensure(ctx, SPEC)


def delete(ctx: Ctx) -> Outcome:
    return HANDLER.delete(ctx, recorded(ctx, "bucket.artifacts"))


def bucket(ctx: Ctx) -> str:
    return f"{ctx.cfg.stack}-artifacts-123456789012-ap-northeast-1"


def all_versions(ctx: Ctx, name: str) -> list[Any]:
    resp = ctx.client("s3").list_object_versions(Bucket=name)
    return [*resp.get("Versions", []), *resp.get("DeleteMarkers", [])]


def test_bucket_created_hardened_and_tagged(ctx: Ctx) -> None:
    name = bucket(ctx)
    out = ensure(ctx)
    assert out.action == "create" and out.physical_id == name
    s3 = ctx.client("s3")
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "ap-northeast-1"
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules] == ["AES256"]
    assert s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    (stmt,) = policy["Statement"]
    arn = f"arn:aws:s3:::{name}"
    assert stmt["Effect"] == "Deny" and stmt["Principal"] == "*" and stmt["Action"] == "s3:*"
    assert sorted(stmt["Resource"]) == [arn, f"{arn}/*"]
    assert stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    assert tags["ecs-cicd:stack"] == ctx.cfg.stack and tags["ecs-cicd:id"] == "bucket.artifacts"
    rec = ctx.state.get("bucket.artifacts")
    assert rec is not None and rec.arn == arn


def test_tags_are_passed_at_creation(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = ctx.client("s3")
    seen: list[dict[str, Any]] = []
    original = s3.create_bucket

    def create(**kw: Any) -> Any:
        seen.append(kw)
        return original(**kw)

    monkeypatch.setattr(s3, "create_bucket", create)
    ensure(ctx)
    conf = seen[0]["CreateBucketConfiguration"]
    assert conf["LocationConstraint"] == "ap-northeast-1"
    assert {"Key": "ecs-cicd:id", "Value": "bucket.artifacts"} in conf["Tags"]


def test_us_east_1_has_no_location_constraint(ctx: Ctx) -> None:
    from ecs_cicd.aws import Aws

    c = Ctx(ctx.cfg, Aws(region="us-east-1"), ctx.state, sleep=lambda _s: None)
    assert ensure(c).action == "create"
    name = f"{ctx.cfg.stack}-artifacts-123456789012-us-east-1"
    assert c.client("s3").get_bucket_location(Bucket=name)["LocationConstraint"] in (
        None,
        "us-east-1",
    )


def test_second_ensure_makes_no_mutating_call(ctx: Ctx) -> None:
    ensure(ctx)
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx).action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_adopted_when_missing_from_state(ctx: Ctx) -> None:
    ensure(ctx)
    ctx.state.remove("bucket.artifacts")
    assert ensure(ctx).action == "adopt"
    assert ctx.state.get("bucket.artifacts") is not None


def test_bucket_already_owned_by_you_is_adopted(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    # HeadBucket missed it (eventual consistency), CreateBucket says it is ours already.
    ctx.client("s3").create_bucket(
        Bucket=bucket(ctx), CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    monkeypatch.setattr(artifacts, "_exists", lambda _ctx, _name: False)
    out = ensure(ctx)
    assert out.action == "adopt"
    assert ctx.client("s3").get_bucket_versioning(Bucket=bucket(ctx))["Status"] == "Enabled"


def test_create_retries_conflicting_conditional_operation(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    msg = "A conflicting conditional operation is currently in progress against this resource."
    errors = [client_error("OperationAborted", msg, "CreateBucket") for _ in range(2)]
    calls = inject(monkeypatch, ctx.client("s3"), "create_bucket", errors)
    assert ensure(ctx).action == "create"
    assert len(calls) == 3


def test_create_other_operation_aborted_fails_at_once(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = [client_error("OperationAborted", "something else", "CreateBucket")] * 3
    calls = inject(monkeypatch, ctx.client("s3"), "create_bucket", list(errors))
    with pytest.raises(AwsError, match=r"Creating bucket .*OperationAborted"):
        ensure(ctx)
    assert len(calls) == 1


def test_a_bucket_of_another_account_is_refused(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    def head(**_kw: Any) -> Any:
        raise client_error("403", "Forbidden", "HeadBucket")

    monkeypatch.setattr(ctx.client("s3"), "head_bucket", head)
    with pytest.raises(AwsError, match="not owned by this account"):
        ensure(ctx)


@pytest.mark.parametrize(
    "setting", ["versioning", "encryption", "public_access_block", "policy", "tags"]
)
def test_drift_is_planned_then_converged(ctx: Ctx, setting: str) -> None:
    name = bucket(ctx)
    ensure(ctx)
    s3 = ctx.client("s3")
    expected = {
        "versioning": "versioning Suspended -> Enabled",
        "encryption": "default encryption ['aws:kms'] -> AES256",
        "public_access_block": (
            "public access block: BlockPublicPolicy, RestrictPublicBuckets -> true"
        ),
        "policy": "bucket policy: deny requests without TLS",
        "tags": "tags: set ecs-cicd:id, ecs-cicd:stack",
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
    elif setting == "policy":
        s3.delete_bucket_policy(Bucket=name)
    else:
        s3.delete_bucket_tagging(Bucket=name)
    before = ctx.aws.stats.mutating_total
    planned = ensure(dry(ctx))
    assert planned.action == "update" and planned.changes == [expected]
    assert ctx.aws.stats.mutating_total == before
    out = ensure(ctx)
    assert out.action == "update" and out.changes == [expected]
    assert ensure(ctx).action == "unchanged"


def test_policy_compare_is_by_meaning() -> None:
    arn = "arn:aws:s3:::b"
    doc = artifacts.bucket_policy(arn)
    reordered = json.loads(json.dumps(doc))
    reordered["Statement"][0]["Resource"] = [f"{arn}/*", arn]
    reordered["Statement"][0]["Action"] = ["s3:*"]
    assert artifacts._normalise(reordered) == artifacts._normalise(doc)
    reordered["Statement"][0]["Effect"] = "Allow"
    assert artifacts._normalise(reordered) != artifacts._normalise(doc)


def _fill(ctx: Ctx, name: str) -> None:
    """Several versions of two keys and a delete marker."""
    s3 = ctx.client("s3")
    for i in range(3):
        s3.put_object(Bucket=name, Key="source.zip", Body=f"v{i}".encode())
        s3.put_object(Bucket=name, Key="build/imagedefinitions.json", Body=b"[]")
    s3.delete_object(Bucket=name, Key="source.zip")  # a delete marker


def test_delete_empties_versions_and_delete_markers(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = bucket(ctx)
    ensure(ctx)
    _fill(ctx, name)
    resp = ctx.client("s3").list_object_versions(Bucket=name)
    assert len(resp["Versions"]) == 6 and len(resp["DeleteMarkers"]) == 1
    monkeypatch.setattr(artifacts, "DELETE_BATCH", 3)
    s3 = ctx.client("s3")
    batches: list[int] = []
    original = s3.delete_objects

    def delete_objects(**kw: Any) -> Any:
        batches.append(len(kw["Delete"]["Objects"]))
        assert kw["Delete"]["Quiet"] is True
        return original(**kw)

    monkeypatch.setattr(s3, "delete_objects", delete_objects)
    assert delete(ctx).action == "delete"
    assert batches == [3, 3, 1]
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)
    assert delete(ctx).action == "gone"


def test_bucket_not_empty_from_a_concurrent_write_is_emptied_again(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = bucket(ctx)
    ensure(ctx)
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
    assert delete(ctx).action == "delete"
    assert len(calls) == 2
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)


def test_bucket_not_empty_every_time_gives_up(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure(ctx)
    errors = [
        client_error(
            "BucketNotEmpty", "The bucket you tried to delete is not empty", "DeleteBucket"
        )
    ] * 10
    calls = inject(monkeypatch, ctx.client("s3"), "delete_bucket", list(errors))
    with pytest.raises(AwsError, match="BucketNotEmpty"):
        delete(ctx)
    assert len(calls) == artifacts.DELETE_ATTEMPTS


def test_delete_of_a_missing_bucket_is_gone(ctx: Ctx) -> None:
    ctx.state.put(Record("bucket.artifacts", "artifact_bucket", "never-created-bucket-x"))
    assert delete(ctx).action == "gone"
