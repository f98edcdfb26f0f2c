"""ECR repositories, one per container the pipeline builds: scan on push, mutable tags (the
buildspec pushes `latest`), and a lifecycle policy keeping the newest `ecr.keep_images` images.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, error_code, is_not_found, tags_list
from ecs_cicd.engine import Action, Ctx, Outcome, Spec
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


def _describe(ctx: Ctx, name: str) -> dict[str, Any] | None:
    try:
        repos: list[dict[str, Any]] = ctx.client("ecr").describe_repositories(
            repositoryNames=[name]
        )["repositories"]
    except ClientError as e:
        if is_not_found(e):
            return None
        raise aws_error("Reading", f"ECR repository {name}", e) from None
    return repos[0] if repos else None


def _lifecycle(ctx: Ctx, name: str) -> dict[str, Any] | None:
    try:
        text = ctx.client("ecr").get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]
    except ClientError as e:
        if is_not_found(e):
            return None
        raise aws_error("Reading", f"lifecycle policy of ECR repository {name}", e) from None
    try:
        doc: dict[str, Any] = json.loads(text)
    except ValueError:
        return None
    return doc


class RepositoryHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        ecr = ctx.client("ecr")
        name = names.repository(ctx.cfg, str(spec.param("container")))
        scan = ctx.cfg.ecr.scan_on_push
        policy = lifecycle_policy(ctx.cfg.ecr.keep_images)
        rec = ctx.state.get(spec.logical_id)
        repo = _describe(ctx, name)
        action: Action
        if repo is None:
            if ctx.dry_run:
                changes: list[str] = [f"scan on push {scan}, keep {ctx.cfg.ecr.keep_images} images"]
                return Outcome(spec.logical_id, spec.kind, "create", changes, "")
            try:
                repo = ecr.create_repository(
                    repositoryName=name,
                    imageTagMutability=TAG_MUTABILITY,
                    imageScanningConfiguration={"scanOnPush": scan},
                    tags=tags_list(ctx.tags(spec.logical_id)),
                )["repository"]
                action = "create"
            except ClientError as e:
                # Created between our look-up and now (a concurrent or crashed run): adopt it.
                repo = (
                    _describe(ctx, name)
                    if error_code(e) == "RepositoryAlreadyExistsException"
                    else None
                )
                if repo is None:
                    raise aws_error("Creating", f"ECR repository {name}", e) from None
                action = "adopt"
        else:
            action = "adopt" if rec is None else "unchanged"
        ctx.record(
            Record(
                spec.logical_id,
                spec.kind,
                name,
                arn=repo["repositoryArn"],
                outputs={"uri": repo["repositoryUri"]},
            )
        )

        what = f"ECR repository {name}"
        changes = []
        have_scan = bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush"))
        if have_scan != scan:
            changes.append(f"scan on push {have_scan} -> {scan}")
            if not ctx.dry_run:
                _mutate(
                    what,
                    lambda: ecr.put_image_scanning_configuration(
                        repositoryName=name, imageScanningConfiguration={"scanOnPush": scan}
                    ),
                )
        if repo.get("imageTagMutability") != TAG_MUTABILITY:
            changes.append(f"tag mutability {repo.get('imageTagMutability')} -> {TAG_MUTABILITY}")
            if not ctx.dry_run:
                _mutate(
                    what,
                    lambda: ecr.put_image_tag_mutability(
                        repositoryName=name, imageTagMutability=TAG_MUTABILITY
                    ),
                )
        if action == "create" or _lifecycle(ctx, name) != policy:
            changes.append(f"lifecycle policy: keep the newest {ctx.cfg.ecr.keep_images} images")
            if not ctx.dry_run:
                _mutate(
                    what,
                    lambda: ecr.put_lifecycle_policy(
                        repositoryName=name, lifecyclePolicyText=json.dumps(policy)
                    ),
                )
        if action == "create":
            changes = []
        elif changes and action == "unchanged":
            action = "update"
        return Outcome(spec.logical_id, spec.kind, action, changes, name)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        name = record.physical_id
        try:
            # force: the pipeline pushed images into it (RepositoryNotEmptyException otherwise);
            # the repository is ours, so are they.
            ctx.client("ecr").delete_repository(repositoryName=name, force=True)
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], name)
            raise aws_error("Deleting", f"ECR repository {name}", e) from None
        return Outcome(record.logical_id, record.kind, "delete", [], name)


def _mutate(what: str, call: Any) -> None:
    try:
        call()
    except ClientError as e:
        raise aws_error("Updating", what, e) from None
