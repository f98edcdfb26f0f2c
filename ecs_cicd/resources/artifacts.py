"""The pipeline's artifact bucket: versioned, encrypted (SSE-S3), all public access blocked, and a
policy refusing any request not made over TLS. `down` empties every object version first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, error_code, is_not_found, retry_on, tags_list
from ecs_cicd.engine import Action, Ctx, Outcome, Spec
from ecs_cicd.errors import AwsError
from ecs_cicd.state import Record

# "A conflicting conditional operation is currently in progress": the name was deleted recently
# (AWS-BEHAVIOUR.md, S3 CreateBucket).
CREATE_CONFLICT_DEADLINE = 300
# Objects written while we empty the bucket make DeleteBucket say BucketNotEmpty: empty again.
DELETE_ATTEMPTS = 5
DELETE_BATCH = 1000  # DeleteObjects' limit

ENCRYPTION = "AES256"
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
# Read errors that mean "this setting is not configured".
UNSET_CODES = frozenset(
    {
        "NoSuchBucketPolicy",
        "NoSuchTagSet",
        "NoSuchPublicAccessBlockConfiguration",
        "ServerSideEncryptionConfigurationNotFoundError",
    }
)


def bucket_policy(arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def _normalise(doc: Any) -> Any:
    """Compare policies by meaning: one-item lists equal the item, order does not matter."""
    if isinstance(doc, dict):
        return {k: _normalise(v) for k, v in sorted(doc.items())}
    if isinstance(doc, list):
        items = sorted((_normalise(v) for v in doc), key=lambda v: json.dumps(v, sort_keys=True))
        return items[0] if len(items) == 1 else items
    return doc


def _read(call: Any, **kwargs: Any) -> dict[str, Any] | None:
    """A bucket sub-resource; None when it is not configured."""
    try:
        resp: dict[str, Any] = call(**kwargs)
    except ClientError as e:
        if error_code(e) in UNSET_CODES:
            return None
        raise
    return resp


def _create_configuration(ctx: Ctx, tags: dict[str, str]) -> dict[str, Any]:
    conf: dict[str, Any] = {}
    if ctx.region != "us-east-1":
        conf["LocationConstraint"] = ctx.region
    model = ctx.client("s3").meta.service_model.operation_model("CreateBucket")
    members = model.input_shape.members["CreateBucketConfiguration"].members
    # Tags at creation: CreateBucketConfiguration.Tags (in current botocore; needs s3:TagResource).
    # A botocore without it gets the tags from _converge right after the create instead.
    if "Tags" in members:
        conf["Tags"] = tags_list(tags)
    return conf


class ArtifactBucketHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        s3 = ctx.client("s3")
        name = names.artifact_bucket(ctx.cfg, ctx.account, ctx.region)
        arn = f"arn:{ctx.aws.partition}:s3:::{name}"
        tags = ctx.tags(spec.logical_id)
        rec = ctx.state.get(spec.logical_id)
        action: Action
        if not _exists(ctx, name):
            if ctx.dry_run:
                changes = ["versioned, AES256, public access blocked, TLS only"]
                return Outcome(spec.logical_id, spec.kind, "create", changes, "")
            conf = _create_configuration(ctx, tags)
            try:
                retry_on(
                    lambda: s3.create_bucket(
                        Bucket=name, **({"CreateBucketConfiguration": conf} if conf else {})
                    ),
                    codes=("OperationAborted",),
                    fragment="conflicting conditional operation",
                    deadline=CREATE_CONFLICT_DEADLINE,
                    sleep=ctx.sleep,
                )
                action = "create"
            except ClientError as e:
                if error_code(e) != "BucketAlreadyOwnedByYou":
                    raise aws_error("Creating", f"bucket {name}", e) from None
                action = "adopt"
        else:
            action = "adopt" if rec is None else "unchanged"
        ctx.record(Record(spec.logical_id, spec.kind, name, arn=arn, outputs={"name": name}))
        try:
            changes = _converge(ctx, name, arn, tags)
        except ClientError as e:
            raise aws_error("Configuring", f"bucket {name}", e) from None
        if action == "create":
            changes = []
        elif changes and action == "unchanged":
            action = "update"
        return Outcome(spec.logical_id, spec.kind, action, changes, name)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        s3 = ctx.client("s3")
        name = record.physical_id
        for attempt in range(1, DELETE_ATTEMPTS + 1):
            try:
                _empty(ctx, name)
                s3.delete_bucket(Bucket=name)
            except ClientError as e:
                if is_not_found(e):
                    return Outcome(record.logical_id, record.kind, "gone", [], name)
                if error_code(e) == "BucketNotEmpty" and attempt < DELETE_ATTEMPTS:
                    ctx.sleep(float(attempt))
                    continue
                raise aws_error("Deleting", f"bucket {name}", e) from None
            return Outcome(record.logical_id, record.kind, "delete", [], name)
        raise AssertionError("unreachable")  # pragma: no cover


def _exists(ctx: Ctx, name: str) -> bool:
    try:
        ctx.client("s3").head_bucket(Bucket=name, ExpectedBucketOwner=ctx.account)
    except ClientError as e:
        if is_not_found(e):
            return False
        if error_code(e) in ("403", "AccessDenied"):
            raise AwsError(
                "Reading",
                f"bucket {name}",
                "BucketAlreadyExists",
                "the bucket exists but is not owned by this account",
                hint="change project or environment",
            ) from None
        raise aws_error("Reading", f"bucket {name}", e) from None
    return True


def _converge(ctx: Ctx, name: str, arn: str, tags: dict[str, str]) -> list[str]:
    """Read each setting, put it only when it differs; the differences, for the Outcome."""
    s3 = ctx.client("s3")
    dry = ctx.dry_run
    changes: list[str] = []

    tagging = _read(s3.get_bucket_tagging, Bucket=name)
    have_tags = {t["Key"]: t["Value"] for t in (tagging or {}).get("TagSet", [])}
    stale = sorted(k for k, v in tags.items() if have_tags.get(k) != v)
    if stale:
        changes.append(f"tags: set {', '.join(stale)}")
        if not dry:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags_list({**have_tags, **tags})})

    status = s3.get_bucket_versioning(Bucket=name).get("Status")
    if status != "Enabled":
        changes.append(f"versioning {status or 'off'} -> Enabled")
        if not dry:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})

    enc = _read(s3.get_bucket_encryption, Bucket=name)
    rules = (enc or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    algos = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
    if algos != [ENCRYPTION]:
        changes.append(f"default encryption {algos or 'none'} -> {ENCRYPTION}")
        if not dry:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": ENCRYPTION}}]
                },
            )

    pab = _read(s3.get_public_access_block, Bucket=name)
    have_pab = (pab or {}).get("PublicAccessBlockConfiguration", {})
    if any(have_pab.get(k) is not True for k in PUBLIC_ACCESS_BLOCK):
        off = sorted(k for k in PUBLIC_ACCESS_BLOCK if have_pab.get(k) is not True)
        changes.append(f"public access block: {', '.join(off)} -> true")
        if not dry:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=dict(PUBLIC_ACCESS_BLOCK)
            )

    policy = bucket_policy(arn)
    current = _read(s3.get_bucket_policy, Bucket=name)
    try:
        have_policy = json.loads(current["Policy"]) if current else None
    except ValueError:
        have_policy = None
    if have_policy is None or _normalise(have_policy) != _normalise(policy):
        changes.append("bucket policy: deny requests without TLS")
        if not dry:
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    return changes


def _versions(ctx: Ctx, name: str) -> Iterator[dict[str, str]]:
    pages = ctx.client("s3").get_paginator("list_object_versions").paginate(Bucket=name)
    for page in pages:
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            yield {"Key": item["Key"], "VersionId": item["VersionId"]}


def _empty(ctx: Ctx, name: str) -> None:
    """Delete every object version and delete marker (a versioned bucket keeps them all)."""
    s3 = ctx.client("s3")
    batch: list[dict[str, str]] = []

    def flush() -> None:
        resp = s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
        errors = resp.get("Errors", [])
        if errors:
            first = errors[0]
            raise AwsError(
                "Emptying",
                f"bucket {name}",
                str(first.get("Code", "DeleteObjectsError")),
                f"{len(errors)} object version(s) not deleted, e.g. {first.get('Key')}: "
                f"{first.get('Message', '')}",
            )
        batch.clear()

    for version in _versions(ctx, name):
        batch.append(version)
        if len(batch) == DELETE_BATCH:
            flush()
    if batch:
        flush()
