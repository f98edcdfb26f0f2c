"""The CodeBuild project on moto (+ emulator): CODEPIPELINE source and artifacts, privileged
docker builds, the buildspec's environment variables, logs; idempotent; adopted; drift converged
with UpdateProject; tolerant delete; the service-role propagation retry injected."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from ecs_cicd.engine import Ctx
from ecs_cicd.errors import AwsError, ConfigError
from ecs_cicd.resources import codebuild, iam
from ecs_cicd.state import Record
from tests.unit.resources.helpers import client_error, inject, spec_of

STACK = "test-codepipeline-dev"
NAME = f"{STACK}-build"
ACCOUNT = "123456789012"
URIS = {c: f"{ACCOUNT}.dkr.ecr.ap-northeast-1.amazonaws.com/{STACK}/{c}" for c in ("nginx", "app")}
ROLE_LAG = (
    "CodeBuild is not authorized to perform: sts:AssumeRole on arn:aws:iam::123456789012:role/x"
)


def prepare(ctx: Ctx) -> None:
    """The project's dependencies: the real service role, recorded repositories."""
    iam.RoleHandler().ensure(ctx, spec_of(ctx, "role.codebuild"))
    for name, uri in URIS.items():
        ctx.state.put(
            Record(f"ecr.{name}", "ecr_repository", f"{STACK}/{name}", outputs={"uri": uri})
        )


def ensure(ctx: Ctx) -> Any:
    return codebuild.ProjectHandler().ensure(ctx, spec_of(ctx, "codebuild"))


def project() -> dict[str, Any]:
    c = boto3.client("codebuild", region_name="ap-northeast-1")
    return dict(c.batch_get_projects(names=[NAME])["projects"][0])


def variables(p: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in p["environment"]["environmentVariables"]}


def test_creates_the_project(ctx: Ctx) -> None:
    prepare(ctx)
    out = ensure(ctx)
    assert out.action == "create" and out.physical_id == NAME
    p = project()
    assert p["source"]["type"] == "CODEPIPELINE" and p["source"]["buildspec"] == "buildspec.yml"
    assert "location" not in p["source"]
    assert p["artifacts"]["type"] == "CODEPIPELINE"
    env = p["environment"]
    assert env["type"] == "LINUX_CONTAINER"
    assert env["image"] == "aws/codebuild/standard:7.0"
    assert env["computeType"] == "BUILD_GENERAL1_SMALL"
    assert env["privilegedMode"] is True
    assert variables(p) == {
        "AWS_ACCOUNT_ID": ACCOUNT,
        "IMAGE_REPO_URI_NGINX": URIS["nginx"],
        "IMAGE_REPO_URI_APP": URIS["app"],
        "CONTAINER_NAMES": "nginx app",
        "IMAGE_DEFINITIONS_FILE": "imagedefinitions.json",
        "ENDPOINT_CONTAINER": "nginx",
        "ENDPOINT_PORT": "80",
        "DEPLOY_STRATEGY": "rolling",
    }
    assert {v["type"] for v in env["environmentVariables"]} == {"PLAINTEXT"}
    assert p["serviceRole"] == ctx.out("role.codebuild", "arn")
    assert p["timeoutInMinutes"] == 30
    assert p["logsConfig"]["cloudWatchLogs"] == {
        "status": "ENABLED",
        "groupName": f"/aws/codebuild/{NAME}",
        "streamName": "build",
    }
    tags = {t["key"]: t["value"] for t in p["tags"]}
    assert tags["ecs-cicd:stack"] == STACK and tags["ecs-cicd:id"] == "codebuild"
    rec = ctx.state.get("codebuild")
    assert rec is not None and rec.physical_id == NAME and rec.arn == p["arn"]


def test_second_ensure_makes_no_mutating_call(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)
    before = ctx.aws.stats.mutating_total
    out = ensure(ctx)
    assert out.action == "unchanged" and out.changes == []
    assert ctx.aws.stats.mutating_total == before


def test_adopts_after_a_lost_record(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)
    ctx.state.remove("codebuild")
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx).action == "adopt"
    assert ctx.aws.stats.mutating_total == before
    assert boto3.client("codebuild", region_name="ap-northeast-1").list_projects()["projects"] == [
        NAME
    ]


def test_plan_of_a_new_project(ctx: Ctx) -> None:
    prepare(ctx)
    ctx.dry_run = True
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx).action == "create"
    assert ctx.aws.stats.mutating_total == before


def test_converges_a_hand_edit(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)
    p = project()
    env = dict(p["environment"])
    env["privilegedMode"] = False
    env["environmentVariables"] = [
        v for v in env["environmentVariables"] if v["name"] != "DEPLOY_STRATEGY"
    ] + [{"name": "EXTRA", "value": "1", "type": "PLAINTEXT"}]
    boto3.client("codebuild", region_name="ap-northeast-1").update_project(
        name=NAME, environment=env
    )

    ctx.dry_run = True
    before = ctx.aws.stats.mutating_total
    planned = ensure(ctx)
    assert planned.action == "update"
    assert ctx.aws.stats.mutating_total == before
    assert project()["environment"]["privilegedMode"] is False

    ctx.dry_run = False
    out = ensure(ctx)
    assert out.action == "update" and out.changes == planned.changes
    assert set(out.changes) == {
        "environment.privilegedMode: False -> True",
        "environment variable DEPLOY_STRATEGY added",
        "environment variable EXTRA removed",
    }
    p = project()
    assert p["environment"]["privilegedMode"] is True
    assert variables(p)["DEPLOY_STRATEGY"] == "rolling" and "EXTRA" not in variables(p)
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx).action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_follows_config_changes(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)
    cfg = ctx.cfg
    build = cfg.pipeline.build.model_copy(
        update={"environment": {"NODE_ENV": "production"}, "compute_type": "BUILD_GENERAL1_MEDIUM"}
    )
    ctx.cfg = cfg.model_copy(update={"pipeline": cfg.pipeline.model_copy(update={"build": build})})
    out = ensure(ctx)
    assert out.action == "update"
    assert "environment variable NODE_ENV added" in out.changes
    p = project()
    assert variables(p)["NODE_ENV"] == "production"
    assert p["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"


def test_reserved_variables_cannot_be_redefined(ctx: Ctx) -> None:
    prepare(ctx)
    cfg = ctx.cfg
    for key in ("AWS_ACCOUNT_ID", "IMAGE_REPO_URI_APP"):
        build = cfg.pipeline.build.model_copy(update={"environment": {key: "x"}})
        ctx.cfg = cfg.model_copy(
            update={"pipeline": cfg.pipeline.model_copy(update={"build": build})}
        )
        with pytest.raises(ConfigError, match=f"pipeline.build.environment.{key}"):
            ensure(ctx)


def test_repo_uri_variable_names() -> None:
    assert codebuild.repo_uri_variable("my-app.v2") == "IMAGE_REPO_URI_MY_APP_V2"
    assert codebuild.repo_uri_variable("Web_1") == "IMAGE_REPO_URI_WEB_1"


def test_create_retries_role_propagation(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare(ctx)
    errors = [
        client_error("InvalidInputException", ROLE_LAG, "CreateProject"),
        client_error(
            "InvalidInputException",
            "Not authorized to perform DescribeSecurityGroups",
            "CreateProject",
        ),
    ]
    calls = inject(monkeypatch, ctx.client("codebuild"), "create_project", errors)
    assert ensure(ctx).action == "create"
    assert len(calls) == 3


def test_other_invalid_input_fails_at_once(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare(ctx)
    err = client_error("InvalidInputException", "Invalid compute type provided: X", "CreateProject")
    calls = inject(monkeypatch, ctx.client("codebuild"), "create_project", [err])
    with pytest.raises(AwsError, match="InvalidInputException") as e:
        ensure(ctx)
    assert len(calls) == 1 and NAME in str(e.value)
    assert ctx.state.get("codebuild") is None


def test_update_retries_role_propagation(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare(ctx)
    ensure(ctx)
    boto3.client("codebuild", region_name="ap-northeast-1").update_project(
        name=NAME, timeoutInMinutes=99
    )
    err = client_error("InvalidInputException", ROLE_LAG, "UpdateProject")
    calls = inject(monkeypatch, ctx.client("codebuild"), "update_project", [err, err])
    out = ensure(ctx)
    assert out.action == "update" and out.changes == ["timeoutInMinutes: 99 -> 30"]
    assert len(calls) == 3
    assert project()["timeoutInMinutes"] == 30


def test_project_created_meanwhile_is_adopted(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare(ctx)
    ensure(ctx)
    ctx.state.remove("codebuild")
    c = ctx.client("codebuild")
    real = c.batch_get_projects
    misses = [True]

    def lagging(**kwargs: Any) -> Any:
        if misses:
            misses.pop()
            return {"projects": [], "projectsNotFound": kwargs["names"]}
        return real(**kwargs)

    monkeypatch.setattr(c, "batch_get_projects", lagging)
    assert ensure(ctx).action == "adopt"
    assert c.list_projects()["projects"] == [NAME]


def test_delete_and_delete_again(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)
    rec = ctx.state.get("codebuild")
    assert rec is not None
    assert codebuild.ProjectHandler().delete(ctx, rec).action == "delete"
    assert boto3.client("codebuild", region_name="ap-northeast-1").list_projects()["projects"] == []
    assert codebuild.ProjectHandler().delete(ctx, rec).action == "gone"
