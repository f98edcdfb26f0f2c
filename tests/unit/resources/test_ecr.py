"""ECR repositories: the desired model, then on moto scan on push, mutable tags, lifecycle policy,
converge, ownership (strangers, take-over) and delete."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError
from ecs_cicd.lifecycle import Ctx, ForeignResources
from ecs_cicd.resources import ecr
from tests.unit.resources.helpers import (
    client_error,
    config_with,
    delete,
    ensure,
    inject,
    plan,
    recorded,
    want,
)

STACK_TAG = "ecs-cicd:stack"


def name_of(cfg: Config, container: str = "app") -> str:
    return f"{cfg.stack}/{container}"


def repo(ctx: Ctx, name: str) -> dict[str, Any]:
    r: dict[str, Any] = ctx.client("ecr").describe_repositories(repositoryNames=[name])[
        "repositories"
    ][0]
    return r


def tags_of(ctx: Ctx, name: str) -> dict[str, str]:
    arn = repo(ctx, name)["repositoryArn"]
    return {
        t["Key"]: t["Value"]
        for t in ctx.client("ecr").list_tags_for_resource(resourceArn=arn)["tags"]
    }


def policy(ctx: Ctx, name: str) -> dict[str, Any]:
    text = ctx.client("ecr").get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"]
    doc: dict[str, Any] = json.loads(text)
    return doc


def push_image(ctx: Ctx, name: str) -> None:
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}
    )
    ctx.client("ecr").put_image(repositoryName=name, imageManifest=manifest, imageTag="latest")


def stranger(ctx: Ctx, name: str, tags: dict[str, str] | None = None) -> None:
    """A repository with our name that someone else made: no scan, immutable, no policy."""
    ctx.client("ecr").create_repository(
        repositoryName=name,
        imageTagMutability="IMMUTABLE",
        tags=[{"Key": k, "Value": v} for k, v in (tags or {"owner": "someone"}).items()],
    )


# --- the desired model -----------------------------------------------------------------------
def test_desired_repository_is_data(cfg: Config) -> None:
    r = want(cfg, "ecr.app")
    assert isinstance(r, ecr.Repository) and r.kind == "ecr_repository"
    assert r.name == name_of(cfg) and r.container == "app"
    assert r.scan_on_push is True and r.tag_mutability == "MUTABLE" and r.keep_images == 30
    assert r.lifecycle_policy == ecr.lifecycle_policy(30)
    rule = r.lifecycle_policy["rules"][0]
    assert rule["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 30,
    }
    assert rule["action"] == {"type": "expire"}
    assert r.tag_dict[STACK_TAG] == cfg.stack and r.tag_dict["ecs-cicd:id"] == "ecr.app"
    nginx = want(cfg, "ecr.nginx")
    assert isinstance(nginx, ecr.Repository) and nginx.name == name_of(cfg, "nginx")


def test_desired_repository_follows_the_config() -> None:
    c = config_with(ecr__keep_images=5, ecr__scan_on_push=False)
    r = want(c, "ecr.app")
    assert isinstance(r, ecr.Repository)
    assert r.scan_on_push is False and r.keep_images == 5
    assert r.lifecycle_policy["rules"][0]["selection"]["countNumber"] == 5


# --- on moto ---------------------------------------------------------------------------------
def test_repository_created_with_scan_lifecycle_and_tags(ctx: Ctx, cfg: Config) -> None:
    name = name_of(cfg)
    assert plan(ctx, cfg, "ecr.app").action == "create"
    assert ctx.aws.stats.mutating_total == 0
    out = ensure(ctx, cfg, "ecr.app")
    assert out.action == "create" and out.physical_id == name
    r = repo(ctx, name)
    assert r["imageScanningConfiguration"] == {"scanOnPush": True}
    assert r["imageTagMutability"] == "MUTABLE"
    rec = recorded(ctx, "ecr.app")
    assert rec.kind == "ecr_repository" and rec.physical_id == name
    assert rec.arn == r["repositoryArn"]
    assert rec.outputs == {"uri": r["repositoryUri"]}
    tags = tags_of(ctx, name)
    assert tags[STACK_TAG] == cfg.stack and tags["ecs-cicd:id"] == "ecr.app"
    assert "ecr:TagResource" not in ctx.aws.stats.mutating  # tags at creation
    assert policy(ctx, name) == ecr.lifecycle_policy(30)


def test_every_built_container_has_its_own_repository(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "ecr.app")
    ensure(ctx, cfg, "ecr.nginx")
    names = {r["repositoryName"] for r in ctx.client("ecr").describe_repositories()["repositories"]}
    assert names == {name_of(cfg), name_of(cfg, "nginx")}


def test_second_ensure_makes_no_mutating_call(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "ecr.app")
    before = ctx.aws.stats.mutating_total
    assert plan(ctx, cfg, "ecr.app").action == "unchanged"
    assert ensure(ctx, cfg, "ecr.app").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_adopted_when_missing_from_state(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "ecr.app")
    ctx.state.remove("ecr.app")
    assert ensure(ctx, cfg, "ecr.app").action == "adopt"
    assert recorded(ctx, "ecr.app").outputs["uri"] == repo(ctx, name_of(cfg))["repositoryUri"]
    assert len(ctx.client("ecr").describe_repositories()["repositories"]) == 1


def test_created_concurrently_by_this_stack_is_taken_on(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The look-up says absent, then CreateRepository says it exists: a parallel run of this
    # stack made it (it carries our stack tag).
    client = ctx.client("ecr")
    w = want(cfg, "ecr.app")
    client.create_repository(
        repositoryName=name_of(cfg), tags=[{"Key": k, "Value": v} for k, v in w.tags]
    )
    missed = client_error("RepositoryNotFoundException", "x", "DescribeRepositories")
    inject(monkeypatch, client, "describe_repositories", [missed])
    assert ensure(ctx, cfg, "ecr.app").action == "adopt"  # found again after the conflict
    assert recorded(ctx, "ecr.app").outputs["uri"] == repo(ctx, name_of(cfg))["repositoryUri"]
    assert policy(ctx, name_of(cfg)) == ecr.lifecycle_policy(30)


def test_created_concurrently_by_someone_else_is_an_error(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ctx.client("ecr")
    stranger(ctx, name_of(cfg))
    missed = client_error("RepositoryNotFoundException", "x", "DescribeRepositories")
    inject(monkeypatch, client, "describe_repositories", [missed])
    with pytest.raises(AwsError, match=r"Creating ECR repository .*RepositoryAlreadyExists"):
        ensure(ctx, cfg, "ecr.app")
    assert ctx.state.get("ecr.app") is None
    assert repo(ctx, name_of(cfg))["imageTagMutability"] == "IMMUTABLE"


def test_drift_is_planned_then_converged(ctx: Ctx, cfg: Config) -> None:
    name = name_of(cfg)
    ensure(ctx, cfg, "ecr.app")
    client = ctx.client("ecr")
    client.put_image_scanning_configuration(
        repositoryName=name, imageScanningConfiguration={"scanOnPush": False}
    )
    client.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
    client.delete_lifecycle_policy(repositoryName=name)
    ctx.refresh = True  # changed outside ecs_cicd: only a refresh reads these settings again
    before = ctx.aws.stats.mutating_total
    planned = plan(ctx, cfg, "ecr.app")
    expected = [
        "scanOnPush: False -> True",
        "imageTagMutability: 'IMMUTABLE' -> 'MUTABLE'",
        "lifecyclePolicy: keep the newest 30 images",
    ]
    assert planned.action == "update" and planned.changes == expected
    assert ctx.aws.stats.mutating_total == before
    out = ensure(ctx, cfg, "ecr.app")
    assert out.action == "update" and out.changes == expected
    r = repo(ctx, name)
    assert r["imageScanningConfiguration"] == {"scanOnPush": True}
    assert r["imageTagMutability"] == "MUTABLE"
    assert policy(ctx, name) == ecr.lifecycle_policy(30)
    assert ensure(ctx, cfg, "ecr.app").action == "unchanged"


def test_a_policy_that_is_not_json_is_replaced(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, "ecr.app")
    client = ctx.client("ecr")
    monkeypatch.setattr(
        client, "get_lifecycle_policy", lambda **_kw: {"lifecyclePolicyText": "not json"}
    )
    ctx.refresh = True
    assert plan(ctx, cfg, "ecr.app").changes == ["lifecyclePolicy: keep the newest 30 images"]


def test_config_change_converges_scan_and_lifecycle(ctx: Ctx, cfg: Config) -> None:
    name = name_of(cfg)
    ensure(ctx, cfg, "ecr.app")
    c = config_with(ecr__keep_images=5, ecr__scan_on_push=False)
    out = ensure(ctx, c, "ecr.app")
    assert out.action == "update"
    assert out.changes == ["scanOnPush: True -> False", "lifecyclePolicy: keep the newest 5 images"]
    assert repo(ctx, name)["imageScanningConfiguration"] == {"scanOnPush": False}
    assert policy(ctx, name)["rules"][0]["selection"]["countNumber"] == 5
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, c, "ecr.app").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_delete_with_images_then_gone(ctx: Ctx, cfg: Config) -> None:
    name = name_of(cfg)
    ensure(ctx, cfg, "ecr.app")
    push_image(ctx, name)
    assert delete(ctx, "ecr.app").action == "delete"
    with pytest.raises(ClientError):
        ctx.client("ecr").describe_repositories(repositoryNames=[name])
    assert delete(ctx, "ecr.app").action == "gone"


def test_delete_other_errors_are_reported(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, "ecr.app")

    def refuse(**_kw: Any) -> Any:
        raise client_error("AccessDeniedException", "no", "DeleteRepository")

    monkeypatch.setattr(ctx.client("ecr"), "delete_repository", refuse)
    with pytest.raises(AwsError, match=r"Deleting ECR repository .*AccessDeniedException"):
        delete(ctx, "ecr.app")


# --- ownership -------------------------------------------------------------------------------
def test_a_strangers_repository_is_foreign_and_left_alone(ctx: Ctx, cfg: Config) -> None:
    name = name_of(cfg)
    stranger(ctx, name)
    out = plan(ctx, cfg, "ecr.app")
    assert out.action == "foreign" and out.physical_id == name
    before = ctx.aws.stats.mutating_total
    with pytest.raises(ForeignResources, match=r"ecr\.app"):
        ensure(ctx, cfg, "ecr.app")
    assert ctx.aws.stats.mutating_total == before
    assert ctx.state.get("ecr.app") is None
    r = repo(ctx, name)
    assert r["imageTagMutability"] == "IMMUTABLE"
    assert r["imageScanningConfiguration"] == {"scanOnPush": False}
    assert tags_of(ctx, name) == {"owner": "someone"}
    with pytest.raises(ClientError):
        ctx.client("ecr").get_lifecycle_policy(repositoryName=name)


def test_a_repository_of_another_stack_is_foreign(ctx: Ctx, cfg: Config) -> None:
    stranger(ctx, name_of(cfg), {STACK_TAG: "other-stack"})
    out = plan(ctx, cfg, "ecr.app")
    assert out.action == "foreign" and "other-stack" in out.changes[0]


def test_take_over_on_request(ctx: Ctx, cfg: Config) -> None:
    name = name_of(cfg)
    stranger(ctx, name)
    ctx.adopt = frozenset({"ecr.app"})
    assert plan(ctx, cfg, "ecr.app").action == "take"
    out = ensure(ctx, cfg, "ecr.app")
    assert out.action == "take"
    tags = tags_of(ctx, name)
    assert tags[STACK_TAG] == cfg.stack and tags["ecs-cicd:id"] == "ecr.app"
    assert tags["owner"] == "someone"
    assert repo(ctx, name)["imageTagMutability"] == "MUTABLE"
    assert policy(ctx, name) == ecr.lifecycle_policy(30)
    assert recorded(ctx, "ecr.app").outputs["uri"] == repo(ctx, name)["repositoryUri"]
    ctx.adopt = frozenset()
    assert ensure(ctx, cfg, "ecr.app").action == "unchanged"


def test_delete_of_a_repository_whose_stack_tag_was_removed_is_skipped(
    ctx: Ctx, cfg: Config
) -> None:
    name = name_of(cfg)
    ensure(ctx, cfg, "ecr.app")
    push_image(ctx, name)
    arn = repo(ctx, name)["repositoryArn"]
    ctx.client("ecr").untag_resource(resourceArn=arn, tagKeys=[STACK_TAG])
    out = delete(ctx, "ecr.app")
    assert out.action == "skip"
    assert len(ctx.client("ecr").list_images(repositoryName=name)["imageIds"]) == 1


def test_deleted_by_hand_is_planned_again_and_gone(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "ecr.app")
    ctx.client("ecr").delete_repository(repositoryName=name_of(cfg), force=True)
    assert plan(ctx, cfg, "ecr.app").action == "create"
    assert delete(ctx, "ecr.app").action == "gone"
    assert ensure(ctx, cfg, "ecr.app").action == "create"
