"""The pipeline's artifact bucket: versioned, encrypted (SSE-S3), all public access blocked, and a
policy refusing any request not made over TLS. `down` empties every object version first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import error_code, is_not_found, retry_on, tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource, Target, tags_of
from ecs_cicd.names import STACK_TAG
from ecs_cicd.state import Record

# "A conflicting conditional operation is currently in progress": the name was deleted recently
# (AWS-BEHAVIOUR.md, S3 CreateBucket).
CREATE_CONFLICT_DEADLINE = 300
# Objects written while we empty the bucket make DeleteBucket say BucketNotEmpty: empty again.
DELETE_ATTEMPTS = 5
DELETE_BATCH = 1000  # DeleteObjects' limit

ENCRYPTION = "AES256"
VERSIONING = "Enabled"
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


@dataclass(frozen=True, eq=False, kw_only=True)
class ArtifactBucket(Resource):
    kind = "artifact_bucket"
    name: str
    arn: str
    region: str  # CreateBucket's LocationConstraint (none in us-east-1)
    versioning: str
    encryption: str  # the default SSE algorithm
    public_access_block: dict[str, bool]  # never mutated
    policy: dict[str, Any]  # the bucket policy document; never mutated


def build_bucket(cfg: Config, target: Target, tags: tuple[tuple[str, str], ...]) -> ArtifactBucket:
    name = names.artifact_bucket(cfg, target.account, target.region)
    arn = target.arn("s3", name, region=False, account=False)
    return ArtifactBucket(
        logical_id="bucket.artifacts",
        tags=tags,
        name=name,
        arn=arn,
        region=target.region,
        versioning=VERSIONING,
        encryption=ENCRYPTION,
        public_access_block=dict(PUBLIC_ACCESS_BLOCK),
        policy=bucket_policy(arn),
    )


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


def _tags(ctx: Ctx, name: str) -> dict[str, str]:
    """The bucket's tags; NoSuchTagSet (never tagged) is no tags."""

    def read() -> dict[str, str]:
        tagging = _read(ctx.client("s3").get_bucket_tagging, Bucket=name)
        return tags_dict((tagging or {}).get("TagSet"))

    return tags_of(ctx, f"arn:{ctx.target.partition}:s3:::{name}", read)


def _create_configuration(ctx: Ctx, want: ArtifactBucket) -> dict[str, Any]:
    conf: dict[str, Any] = {}
    if want.region != "us-east-1":
        conf["LocationConstraint"] = want.region
    model = ctx.client("s3").meta.service_model.operation_model("CreateBucket")
    members = model.input_shape.members["CreateBucketConfiguration"].members
    # Tags at creation: CreateBucketConfiguration.Tags (in current botocore; needs s3:TagResource).
    # A botocore without it (or an endpoint that ignores it) gets them from `configure`.
    if "Tags" in members:
        conf["Tags"] = tags_list(want.tag_dict)
    return conf


class ArtifactBucketKind(Kind[ArtifactBucket]):
    kind = "artifact_bucket"
    label = "bucket"
    settings_reads = True

    def find(self, ctx: Ctx, want: ArtifactBucket, rec: Record | None) -> Live | None:
        # A bucket's name is its id, and the desired name is fixed by account and region: a
        # record naming another bucket (an older naming) is not looked at, as before.
        if not self._exists(ctx, want.name):
            return None
        tags = _tags(ctx, want.name)
        if not tags and rec is not None and rec.physical_id == want.name:
            # Crash window: CreateBucket may not carry the tags (older botocore, an emulator), so
            # `configure` tags the bucket right after it is recorded. A crash between the two
            # leaves a bucket our record names that has no tags at all: ownership is then our
            # record (tags=None), and `diff` puts the tags back. A bucket with tags that lack our
            # stack tag stays someone else's, as does any bucket we hold no record of.
            return Live(want.name, want.arn, None, None, {"name": want.name})
        return Live(want.name, want.arn, tags, None, {"name": want.name})

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        name = rec.physical_id
        if not self._exists(ctx, name):
            return None
        tags = _tags(ctx, name)
        if not tags and not self._has_objects(ctx, name):
            # The same crash window for `down`: an untagged bucket our record names is deleted
            # only while it is empty, and `delete` then does not empty it first (an object
            # written meanwhile makes DeleteBucket fail, not disappear). One with objects and no
            # tags is left alone: we never empty a bucket that does not carry our tag.
            return Live(name, rec.arn, None, {"untagged": True}, dict(rec.outputs))
        return Live(name, rec.arn, tags, None, dict(rec.outputs))

    def _exists(self, ctx: Ctx, name: str) -> bool:
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
            raise
        return True

    def _has_objects(self, ctx: Ctx, name: str) -> bool:
        resp = ctx.client("s3").list_object_versions(Bucket=name, MaxKeys=1)
        return bool(resp.get("Versions") or resp.get("DeleteMarkers"))

    def create(self, ctx: Ctx, want: ArtifactBucket) -> Live:
        conf = _create_configuration(ctx, want)
        retry_on(
            lambda: ctx.client("s3").create_bucket(
                Bucket=want.name, **({"CreateBucketConfiguration": conf} if conf else {})
            ),
            codes=("OperationAborted",),
            fragment="conflicting conditional operation",
            deadline=CREATE_CONFLICT_DEADLINE,
            sleep=ctx.sleep,
        )
        return Live(want.name, want.arn, want.tag_dict, None, {"name": want.name})

    def configure(self, ctx: Ctx, want: ArtifactBucket, live: Live) -> Live | None:
        # First the tags, if CreateBucket did not carry them: the bucket is ours from then on.
        have = _tags(ctx, want.name)
        if any(have.get(k) != v for k, v in want.tags):
            self._put_tags(ctx, want.name, {**have, **want.tag_dict})
        self.update(ctx, want, live, [Diff(f) for f in SETTINGS])
        return None

    def diff(self, ctx: Ctx, want: ArtifactBucket, live: Live) -> list[Diff]:
        s3 = ctx.client("s3")
        name = live.physical_id
        out: list[Diff] = []

        # Tags: only on a bucket that is ours (by its stack tag or, tags None, by our record). A
        # stranger's bucket reaches here only to be taken over, and `tag` sets them then.
        have_tags = live.tags or {}
        if live.tags is None or have_tags.get(STACK_TAG) == ctx.stack:
            stale = sorted(k for k, v in want.tags if have_tags.get(k) != v)
            if stale:
                out.append(Diff("tags", note=f"set {', '.join(stale)}"))
        if ctx.trusts(want, live):
            return out

        status = s3.get_bucket_versioning(Bucket=name).get("Status")
        if status != want.versioning:
            out.append(Diff("versioning", note=f"{status or 'off'} -> {want.versioning}"))

        enc = _read(s3.get_bucket_encryption, Bucket=name)
        rules = (enc or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        algos = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
        if algos != [want.encryption]:
            out.append(Diff("default encryption", note=f"{algos or 'none'} -> {want.encryption}"))

        pab = _read(s3.get_public_access_block, Bucket=name)
        have_pab = (pab or {}).get("PublicAccessBlockConfiguration", {})
        off = sorted(k for k, v in want.public_access_block.items() if have_pab.get(k) is not v)
        if off:
            out.append(Diff("public access block", note=f"{', '.join(off)} -> true"))

        current = _read(s3.get_bucket_policy, Bucket=name)
        try:
            have_policy = json.loads(current["Policy"]) if current else None
        except ValueError:
            have_policy = None
        if have_policy is None or _normalise(have_policy) != _normalise(want.policy):
            out.append(Diff("bucket policy", note="deny requests without TLS"))
        return out

    def update(self, ctx: Ctx, want: ArtifactBucket, live: Live, diffs: list[Diff]) -> Live | None:
        s3 = ctx.client("s3")
        name = live.physical_id
        fields = {d.field for d in diffs}
        if "tags" in fields:
            self._put_tags(ctx, name, {**_tags(ctx, name), **want.tag_dict})
        if "versioning" in fields:
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": want.versioning}
            )
        if "default encryption" in fields:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": want.encryption}}
                    ]
                },
            )
        if "public access block" in fields:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=dict(want.public_access_block)
            )
        if "bucket policy" in fields:
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps(want.policy))
        return None

    def _put_tags(self, ctx: Ctx, name: str, tags: dict[str, str]) -> None:
        """PutBucketTagging replaces the whole set: callers pass the tags to keep too."""
        ctx.client("s3").put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags_list(tags)})

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        self._put_tags(ctx, live.physical_id, {**_tags(ctx, live.physical_id), **tags})

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        s3 = ctx.client("s3")
        name = rec.physical_id
        if live.tags is None:
            # Untagged and empty when looked at (see find_recorded): never emptied by us.
            s3.delete_bucket(Bucket=name)
            return
        for attempt in range(1, DELETE_ATTEMPTS + 1):
            try:
                _empty(ctx, name)
                s3.delete_bucket(Bucket=name)
            except ClientError as e:
                if error_code(e) == "BucketNotEmpty" and attempt < DELETE_ATTEMPTS:
                    ctx.sleep(float(attempt))
                    continue
                raise
            return

    def summary(self, want: ArtifactBucket) -> list[str]:
        return ["versioned, AES256, public access blocked, TLS only"]


# What `configure` sets on a fresh bucket (the Diff fields `update` knows, tags aside).
SETTINGS = ("versioning", "default encryption", "public access block", "bucket policy")


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


KINDS = (ArtifactBucketKind(),)
