"""ECR repositories, one per container the pipeline builds: scan on push, mutable tags (the
buildspec pushes `latest`), and a lifecycle policy keeping the newest `ecr.keep_images` images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import is_not_found, tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource, tags_of
from ecs_cicd.state import Record

TAG_MUTABILITY = "MUTABLE"


def lifecycle_policy(keep: int) -> dict[str, Any]:
    """One rule: expire everything beyond the newest `keep` images, tagged or not."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the newest {keep} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep,
                },
                "action": {"type": "expire"},
            }
        ]
    }


@dataclass(frozen=True, eq=False, kw_only=True)
class Repository(Resource):
    kind = "ecr_repository"
    name: str
    container: str
    scan_on_push: bool
    tag_mutability: str
    keep_images: int
    lifecycle_policy: dict[str, Any]  # the document, as PutLifecyclePolicy gets it (never mutated)


def build_repository(
    cfg: Config, container_name: str, tags: tuple[tuple[str, str], ...]
) -> Repository:
    return Repository(
        logical_id=f"ecr.{container_name}",
        tags=tags,
        name=names.repository(cfg, container_name),
        container=container_name,
        scan_on_push=cfg.ecr.scan_on_push,
        tag_mutability=TAG_MUTABILITY,
        keep_images=cfg.ecr.keep_images,
        lifecycle_policy=lifecycle_policy(cfg.ecr.keep_images),
    )


def _tags(ctx: Ctx, arn: str) -> dict[str, str]:
    def read() -> dict[str, str]:
        return tags_dict(ctx.client("ecr").list_tags_for_resource(resourceArn=arn).get("tags"))

    return tags_of(ctx, arn, read)


class RepositoryKind(Kind[Repository]):
    kind = "ecr_repository"
    label = "ECR repository"
    named_ids = True
    settings_reads = True

    def lookup(self, ctx: Ctx, name: str, rec: Record | None) -> Live | None:
        ecr = ctx.client("ecr")
        try:
            repos = ecr.describe_repositories(repositoryNames=[name])["repositories"]
        except ClientError as e:
            if is_not_found(e):
                return None
            raise
        if not repos:
            return None
        r = repos[0]
        return self._live(r, _tags(ctx, r["repositoryArn"]))

    def lookup_many(self, ctx: Ctx, recs: list[Record]) -> dict[str, Live | None] | None:
        """The repositories in one DescribeRepositories (it takes up to 100 names; one missing
        fails the call: then one listing of the account's). Tags are per repository."""
        names = sorted({r.physical_id for r in recs})
        if len(names) < 2 or len(names) > 100:
            return None
        ecr = ctx.client("ecr")
        try:
            repos = ecr.describe_repositories(repositoryNames=names)["repositories"]
        except ClientError as e:
            if not is_not_found(e):
                raise
            # One of them is missing: the account's repositories, 1000 a page, tell which.
            repos = [
                r
                for page in ecr.get_paginator("describe_repositories").paginate(
                    PaginationConfig={"PageSize": 1000}
                )
                for r in page["repositories"]
                if r["repositoryName"] in names
            ]
        out: dict[str, Live | None] = dict.fromkeys(names)
        for r in repos:
            out[r["repositoryName"]] = self._live(r, _tags(ctx, r["repositoryArn"]))
        return out

    @staticmethod
    def _live(r: dict[str, Any], tags: dict[str, str]) -> Live:
        return Live(r["repositoryName"], r["repositoryArn"], tags, r, {"uri": r["repositoryUri"]})

    def create(self, ctx: Ctx, want: Repository) -> Live:
        r = ctx.client("ecr").create_repository(
            repositoryName=want.name,
            imageTagMutability=want.tag_mutability,
            imageScanningConfiguration={"scanOnPush": want.scan_on_push},
            tags=tags_list(want.tag_dict),
        )["repository"]
        return self._live(r, want.tag_dict)

    def configure(self, ctx: Ctx, want: Repository, live: Live) -> Live | None:
        self._put_policy(ctx, want)
        return None

    def diff(self, ctx: Ctx, want: Repository, live: Live) -> list[Diff]:
        r = live.data
        out: list[Diff] = []
        have_scan = bool(r.get("imageScanningConfiguration", {}).get("scanOnPush"))
        if have_scan != want.scan_on_push:
            out.append(Diff("scanOnPush", have_scan, want.scan_on_push))
        if r.get("imageTagMutability") != want.tag_mutability:
            out.append(Diff("imageTagMutability", r.get("imageTagMutability"), want.tag_mutability))
        if (
            not ctx.trusts(want, live)
            and self._policy(ctx, live.physical_id) != want.lifecycle_policy
        ):
            out.append(Diff("lifecyclePolicy", note=f"keep the newest {want.keep_images} images"))
        return out

    def _policy(self, ctx: Ctx, name: str) -> dict[str, Any] | None:
        """The repository's lifecycle policy document; None when it has none (or not JSON)."""
        try:
            text = ctx.client("ecr").get_lifecycle_policy(repositoryName=name)[
                "lifecyclePolicyText"
            ]
        except ClientError as e:
            if is_not_found(e):
                return None
            raise
        try:
            doc: dict[str, Any] = json.loads(text)
        except ValueError:
            return None
        return doc

    def update(self, ctx: Ctx, want: Repository, live: Live, diffs: list[Diff]) -> Live | None:
        ecr = ctx.client("ecr")
        fields = {d.field for d in diffs}
        if "scanOnPush" in fields:
            ecr.put_image_scanning_configuration(
                repositoryName=live.physical_id,
                imageScanningConfiguration={"scanOnPush": want.scan_on_push},
            )
        if "imageTagMutability" in fields:
            ecr.put_image_tag_mutability(
                repositoryName=live.physical_id, imageTagMutability=want.tag_mutability
            )
        if "lifecyclePolicy" in fields:
            self._put_policy(ctx, want, live.physical_id)
        return None

    def _put_policy(self, ctx: Ctx, want: Repository, name: str | None = None) -> None:
        ctx.client("ecr").put_lifecycle_policy(
            repositoryName=name or want.name, lifecyclePolicyText=json.dumps(want.lifecycle_policy)
        )

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("ecr").tag_resource(resourceArn=live.arn, tags=tags_list(tags))

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        # force: the pipeline pushed images into it (RepositoryNotEmptyException otherwise). The
        # lifecycle calls this only for a repository carrying our stack tag: so are its images.
        ctx.client("ecr").delete_repository(repositoryName=rec.physical_id, force=True)

    def summary(self, want: Repository) -> list[str]:
        return [f"scan on push {want.scan_on_push}, keep {want.keep_images} images"]


KINDS = (RepositoryKind(),)
