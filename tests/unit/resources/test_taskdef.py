"""The task definition kind on moto: the desired revision as data, registration with tags, new
revisions on config changes that keep the pipeline's images, ownership of the family, deletion."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from ecs_cicd.config import Config
from ecs_cicd.lifecycle import Ctx, ForeignResources
from ecs_cicd.names import STACK_TAG
from ecs_cicd.resources.taskdef import TaskDefinition
from tests.unit.resources.helpers import (
    config_with,
    delete,
    ensure,
    example,
    plan,
    recorded,
    want,
)

REGION = "ap-northeast-1"
FAMILY = "test-codepipeline-dev"
PIPELINE_IMAGE = (
    "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/test-codepipeline-dev/app:abc1234"
)


def ecs() -> Any:
    return boto3.client("ecs", region_name=REGION)


def latest() -> dict[str, Any]:
    resp = ecs().describe_task_definition(taskDefinition=FAMILY, include=["TAGS"])
    return {**resp["taskDefinition"], "tags": {t["key"]: t["value"] for t in resp.get("tags", [])}}


def taskdef(cfg: Config) -> TaskDefinition:
    w = want(cfg, "taskdef")
    assert isinstance(w, TaskDefinition)
    return w


def register_like_the_pipeline(image: str = PIPELINE_IMAGE) -> None:
    """What the pipeline's deploy does: a new revision with a new app image, and no tags."""
    td = ecs().describe_task_definition(taskDefinition=FAMILY)["taskDefinition"]
    keep = (
        "family",
        "networkMode",
        "cpu",
        "memory",
        "executionRoleArn",
        "taskRoleArn",
        "requiresCompatibilities",
        "runtimePlatform",
    )
    containers = td["containerDefinitions"]
    for c in containers:
        if c["name"] == "app":
            c["image"] = image
    ecs().register_task_definition(**{k: td[k] for k in keep}, containerDefinitions=containers)


def register_foreign() -> None:
    """A family of our name that someone else registered (no stack tag)."""
    ecs().register_task_definition(
        family=FAMILY,
        containerDefinitions=[{"name": "web", "image": "nginx", "essential": True}],
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
    )


# --- the desired state, without a client -----------------------------------------------------
def test_desired_task_definition_is_data(cfg: Config) -> None:
    w = taskdef(cfg)
    assert (w.family, w.cpu, w.memory) == (FAMILY, "256", "512")
    assert w.runtime_platform == {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"}
    assert w.execution_role_arn == "arn:aws:iam::123456789012:role/test-codepipeline-dev-execution"
    assert w.task_role_arn == "arn:aws:iam::123456789012:role/test-codepipeline-dev-task"
    assert {d.logical_id for d in w.deps()} >= {"role.execution", "role.task", "logs.app"}
    assert w.built == ("nginx", "app")
    by_name = {c["name"]: c for c in w.containers}
    assert by_name["nginx"]["dependsOn"] == [{"containerName": "app", "condition": "HEALTHY"}]
    assert by_name["nginx"]["portMappings"][0]["containerPort"] == 80
    assert by_name["app"]["healthCheck"]["command"][0] == "CMD-SHELL"
    assert by_name["app"]["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/ecs/test-codepipeline-dev",
            "awslogs-region": REGION,
            "awslogs-stream-prefix": "app",
        },
    }
    d = w.definition()
    assert d["networkMode"] == "awsvpc" and d["requiresCompatibilities"] == ["FARGATE"]
    assert d["executionRoleArn"] == w.execution_role_arn
    # kept images replace the config's, without changing the model
    assert w.definition({"app": "x:1"})["containerDefinitions"][1]["image"] == "x:1"
    assert w.containers[1]["image"] != "x:1"


def test_config_changes_show_in_the_model() -> None:
    w = taskdef(config_with(task__memory=1024, task__cpu_architecture="ARM64"))
    assert w.memory == "1024" and w.runtime_platform["cpuArchitecture"] == "ARM64"


# --- create, converge ------------------------------------------------------------------------
def test_created_with_tags_and_recorded(ctx: Ctx, cfg: Config) -> None:
    assert plan(ctx, cfg, "taskdef").action == "create"
    assert ensure(ctx, cfg, "taskdef").action == "create"
    td = latest()
    assert td["revision"] == 1 and td["cpu"] == "256" and td["memory"] == "512"
    assert td["networkMode"] == "awsvpc" and td["requiresCompatibilities"] == ["FARGATE"]
    assert td["tags"][STACK_TAG] == cfg.stack and td["tags"]["ecs-cicd:id"] == "taskdef"
    by_name = {c["name"]: c for c in td["containerDefinitions"]}
    assert by_name["nginx"]["dependsOn"] == [{"containerName": "app", "condition": "HEALTHY"}]
    assert by_name["app"]["logConfiguration"]["options"]["awslogs-stream-prefix"] == "app"
    rec = recorded(ctx, "taskdef")
    assert (rec.kind, rec.physical_id, rec.arn) == (
        "task_definition",
        FAMILY,
        td["taskDefinitionArn"],
    )
    assert rec.outputs == {"revision": 1}


def test_second_ensure_is_a_no_op(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "taskdef")
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, cfg, "taskdef").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_config_change_registers_a_new_revision_keeping_pipeline_images(
    ctx: Ctx, cfg: Config
) -> None:
    ensure(ctx, cfg, "taskdef")
    register_like_the_pipeline()  # revision 2, untagged
    # Unchanged config: the pipeline's image is not rolled back, and the family is still ours.
    out = ensure(ctx, cfg, "taskdef")
    assert out.action == "unchanged", out
    assert recorded(ctx, "taskdef").outputs == {"revision": 2}
    # Changed memory: a new revision that keeps the pipeline's image.
    bigger = config_with(task__memory=1024)
    p = plan(ctx, bigger, "taskdef")
    assert p.action == "update" and p.changes == ["memory: '512' -> '1024'"]
    assert p.notes and "new revision" in p.notes[0]
    assert ensure(ctx, bigger, "taskdef").action == "update"
    new = latest()
    assert new["memory"] == "1024" and new["revision"] == 3
    assert {c["name"]: c["image"] for c in new["containerDefinitions"]}["app"] == PIPELINE_IMAGE
    assert new["tags"][STACK_TAG] == cfg.stack  # tags at registration
    rec = recorded(ctx, "taskdef")
    assert rec.arn == new["taskDefinitionArn"] and rec.outputs == {"revision": 3}


def test_container_changes_are_listed_in_full(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "taskdef")
    containers = example()["task"]["containers"]
    changed = config_with(
        task__containers=[
            {**c, "environment": {"MODE": "x" * 120}} if c["name"] == "app" else c
            for c in containers
        ]
    )
    p = plan(ctx, changed, "taskdef")
    assert p.action == "update"
    assert any(c.startswith("container app.environment") and "x" * 120 in c for c in p.changes)


def test_a_recorded_family_without_state_is_adopted_through_its_first_revision(
    ctx: Ctx, cfg: Config
) -> None:
    ensure(ctx, cfg, "taskdef")
    register_like_the_pipeline()  # the latest revision carries no tag
    ctx.state.records.clear()  # state lost
    out = plan(ctx, cfg, "taskdef")
    assert out.action == "adopt", out


# --- ownership -------------------------------------------------------------------------------
def test_a_stranger_is_foreign_and_left_alone(ctx: Ctx, cfg: Config) -> None:
    register_foreign()
    assert plan(ctx, cfg, "taskdef").action == "foreign"
    with pytest.raises(ForeignResources):
        ensure(ctx, cfg, "taskdef")
    td = latest()
    assert td["revision"] == 1 and td["tags"] == {}
    assert ctx.state.get("taskdef") is None


def test_take_over_with_adopt(ctx: Ctx, cfg: Config) -> None:
    register_foreign()
    ctx.adopt = frozenset({"taskdef"})
    out = ensure(ctx, cfg, "taskdef")
    assert out.action == "take"
    td = latest()
    assert td["revision"] == 2  # converged: the config's containers
    assert td["tags"][STACK_TAG] == cfg.stack
    first = ecs().describe_task_definition(taskDefinition=f"{FAMILY}:1", include=["TAGS"])
    assert {t["key"]: t["value"] for t in first.get("tags", [])}[STACK_TAG] == cfg.stack


def test_delete_skips_a_family_whose_tag_was_removed(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "taskdef")
    arn = recorded(ctx, "taskdef").arn
    ecs().untag_resource(resourceArn=arn, tagKeys=[STACK_TAG])
    assert delete(ctx, "taskdef").action == "skip"
    assert latest()["status"] == "ACTIVE"


def test_deleted_by_hand(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "taskdef")
    arn = recorded(ctx, "taskdef").arn
    ecs().deregister_task_definition(taskDefinition=arn)
    ecs().delete_task_definitions(taskDefinitions=[arn])
    assert plan(ctx, cfg, "taskdef").action == "create"
    assert delete(ctx, "taskdef").action == "gone"


# --- delete ----------------------------------------------------------------------------------
def test_delete_removes_every_revision_and_is_tolerant(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "taskdef")
    register_like_the_pipeline()
    assert delete(ctx, "taskdef").action == "delete"
    assert delete(ctx, "taskdef").action == "gone"
    for status in ("ACTIVE", "INACTIVE"):
        assert (
            ecs().list_task_definitions(familyPrefix=FAMILY, status=status)["taskDefinitionArns"]
            == []
        )
