"""ECR repositories on moto: scan on push, mutable tags, lifecycle policy, converge, delete."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.engine import Ctx, Outcome
from ecs_cicd.errors import AwsError
from ecs_cicd.resources import ecr
from tests.unit.resources.helpers import (
    client_error,
    dry,
    inject,
    recorded,
    spec_of,
    with_config,
)

HANDLER = ecr.RepositoryHandler()


def ensure(ctx: Ctx, lid: str = "ecr.app") -> Outcome:
    return HANDLER.ensure(ctx, spec_of(ctx, lid))


def delete(ctx: Ctx, lid: str = "ecr.app") -> Outcome:
    return HANDLER.delete(ctx, recorded(ctx, lid))


def repo(ctx: Ctx, name: str) -> dict[str, Any]:
    r: dict[str, Any] = ctx.client("ecr").describe_repositories(repositoryNames=[name])[
        "repositories"
    ][0]
    return r


def policy(ctx: Ctx, name: str) -> dict[str, Any]:
    text = ctx.client("ecr").get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]
    doc: dict[str, Any] = json.loads(text)
    return doc


def test_repository_created_with_scan_lifecycle_and_tags(ctx: Ctx) -> None:
    name = f"{ctx.cfg.stack}/app"
    out = ensure(ctx)
    assert out.action == "create" and out.physical_id == name
    r = repo(ctx, name)
    assert r["imageScanningConfiguration"] == {"scanOnPush": True}
    assert r["imageTagMutability"] == "MUTABLE"
    rec = ctx.state.get("ecr.app")
    assert rec is not None
    assert rec.arn == r["repositoryArn"]
    assert rec.outputs == {"uri": r["repositoryUri"]}
    tags = {
        t["Key"]: t["Value"]
        for t in ctx.client("ecr").list_tags_for_resource(resourceArn=rec.arn)["tags"]
    }
    assert tags["ecs-cicd:stack"] == ctx.cfg.stack and tags["ecs-cicd:id"] == "ecr.app"
    assert "ecr:TagResource" not in ctx.aws.stats.mutating
    rule = policy(ctx, name)["rules"][0]
    assert rule["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 30,
    }
    assert rule["action"] == {"type": "expire"}


def test_every_built_container_has_its_own_repository(ctx: Ctx) -> None:
    ensure(ctx, "ecr.app")
    ensure(ctx, "ecr.nginx")
    names = {r["repositoryName"] for r in ctx.client("ecr").describe_repositories()["repositories"]}
    assert names == {f"{ctx.cfg.stack}/app", f"{ctx.cfg.stack}/nginx"}


def test_second_ensure_makes_no_mutating_call(ctx: Ctx) -> None:
    ensure(ctx)
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx).action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_adopted_when_missing_from_state(ctx: Ctx) -> None:
    ensure(ctx)
    ctx.state.remove("ecr.app")
    out = ensure(ctx)
    assert out.action == "adopt"
    assert ctx.state.get("ecr.app") is not None
    assert len(ctx.client("ecr").describe_repositories()["repositories"]) == 1


def test_created_concurrently_is_adopted(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    # The look-up says absent, then CreateRepository says it exists (a crashed or parallel run).
    client = ctx.client("ecr")
    client.create_repository(repositoryName=f"{ctx.cfg.stack}/app")
    missed = client_error("RepositoryNotFoundException", "x", "DescribeRepositories")
    inject(monkeypatch, client, "describe_repositories", [missed])
    assert ensure(ctx).action == "adopt"


def test_drift_is_planned_then_converged(ctx: Ctx) -> None:
    name = f"{ctx.cfg.stack}/app"
    ensure(ctx)
    client = ctx.client("ecr")
    client.put_image_scanning_configuration(
        repositoryName=name, imageScanningConfiguration={"scanOnPush": False}
    )
    client.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
    client.delete_lifecycle_policy(repositoryName=name)
    before = ctx.aws.stats.mutating_total
    planned = ensure(dry(ctx))
    assert planned.action == "update"
    assert planned.changes == [
        "scan on push False -> True",
        "tag mutability IMMUTABLE -> MUTABLE",
        "lifecycle policy: keep the newest 30 images",
    ]
    assert ctx.aws.stats.mutating_total == before
    assert ensure(ctx).action == "update"
    r = repo(ctx, name)
    assert r["imageScanningConfiguration"] == {"scanOnPush": True}
    assert r["imageTagMutability"] == "MUTABLE"
    assert policy(ctx, name) == ecr.lifecycle_policy(30)
    assert ensure(ctx).action == "unchanged"


def test_config_change_converges_scan_and_lifecycle(ctx: Ctx) -> None:
    name = f"{ctx.cfg.stack}/app"
    ensure(ctx)
    c = with_config(ctx, ecr={"keep_images": 5, "scan_on_push": False})
    out = ensure(c)
    assert out.action == "update"
    assert repo(c, name)["imageScanningConfiguration"] == {"scanOnPush": False}
    assert policy(c, name)["rules"][0]["selection"]["countNumber"] == 5
    before = c.aws.stats.mutating_total
    assert ensure(c).action == "unchanged"
    assert c.aws.stats.mutating_total == before


def test_delete_with_images_then_gone(ctx: Ctx) -> None:
    name = f"{ctx.cfg.stack}/app"
    ensure(ctx)
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}
    )
    ctx.client("ecr").put_image(repositoryName=name, imageManifest=manifest, imageTag="latest")
    assert delete(ctx).action == "delete"
    with pytest.raises(ClientError):
        ctx.client("ecr").describe_repositories(repositoryNames=[name])
    assert delete(ctx).action == "gone"


def test_delete_other_errors_are_reported(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure(ctx)

    def refuse(**_kw: Any) -> Any:
        raise client_error("AccessDeniedException", "no", "DeleteRepository")

    monkeypatch.setattr(ctx.client("ecr"), "delete_repository", refuse)
    with pytest.raises(AwsError, match=r"Deleting ECR repository .*AccessDeniedException"):
        delete(ctx)
