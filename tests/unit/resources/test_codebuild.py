"""The CodeBuild project: the desired model (the whole request as data), then on moto (+ emulator)
CODEPIPELINE source and artifacts, privileged docker builds, the buildspec's environment
variables, logs; idempotent; adopted; drift converged with UpdateProject; the service-role
propagation retry injected; ownership (strangers, take-over) and a tolerant delete."""

from __future__ import annotations

from typing import Any

import pytest

from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError, ConfigError
from ecs_cicd.lifecycle import Ctx, ForeignResources
from ecs_cicd.resources import codebuild
from ecs_cicd.resources.codebuild import Ref
from ecs_cicd.state import Record
from tests.unit.resources.helpers import (
    client_error,
    config_with,
    delete,
    ensure,
    inject,
    plan,
    record_role,
    recorded,
    stack_of,
    want,
)

STACK = "test-codepipeline-dev"
NAME = f"{STACK}-build"
ACCOUNT = "123456789012"
STACK_TAG = "ecs-cicd:stack"
URIS = {c: f"{ACCOUNT}.dkr.ecr.ap-northeast-1.amazonaws.com/{STACK}/{c}" for c in ("nginx", "app")}
ROLE_LAG = (
    "CodeBuild is not authorized to perform: sts:AssumeRole on arn:aws:iam::123456789012:role/x"
)


def prepare(ctx: Ctx) -> str:
    """The project's dependencies: the real service role, recorded repositories. The role's ARN."""
    arn = record_role(
        ctx, ctx.client("iam"), "role.codebuild", f"{STACK}-codebuild", "codebuild.amazonaws.com"
    )
    for name, uri in URIS.items():
        ctx.state.put(
            Record(f"ecr.{name}", "ecr_repository", f"{STACK}/{name}", outputs={"uri": uri})
        )
    return arn


def project(ctx: Ctx) -> dict[str, Any]:
    return dict(ctx.client("codebuild").batch_get_projects(names=[NAME])["projects"][0])


def projects(ctx: Ctx) -> list[str]:
    return list(ctx.client("codebuild").list_projects()["projects"])


def tags_of(ctx: Ctx) -> dict[str, str]:
    return {t["key"]: t["value"] for t in project(ctx)["tags"]}


def variables(p: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v["value"] for v in p["environment"]["environmentVariables"]}


def stranger(ctx: Ctx, role_arn: str) -> None:
    """A project with our name that someone else made (another image, no stack tag)."""
    ctx.client("codebuild").create_project(
        name=NAME,
        source={"type": "NO_SOURCE", "buildspec": "version: 0.2"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:6.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=role_arn,
        tags=[{"key": "owner", "value": "someone"}],
    )


# --- the desired model -----------------------------------------------------------------------
def test_desired_project_is_data(cfg: Config) -> None:
    stack = stack_of(cfg)
    p = stack.get("codebuild")
    assert isinstance(p, codebuild.Project) and p.kind == "codebuild_project"
    assert p.name == NAME and p.description == f"ecs-cicd {STACK}: builds the images"
    role, repos = stack.get("role.codebuild"), p.repos
    assert p.role is role and [r.logical_id for r in repos] == ["ecr.nginx", "ecr.app"]
    assert p.log_group is stack.get("logs.codebuild")
    assert set(p.deps()) >= {role, p.log_group, *repos}
    r = p.request
    assert r["source"] == {"type": "CODEPIPELINE", "buildspec": "buildspec.yml"}
    assert r["artifacts"] == {"type": "CODEPIPELINE"}
    env = r["environment"]
    assert env["type"] == "LINUX_CONTAINER" and env["image"] == "aws/codebuild/standard:7.0"
    assert env["computeType"] == "BUILD_GENERAL1_SMALL" and env["privilegedMode"] is True
    assert {v["name"]: v["value"] for v in env["environmentVariables"]} == {
        "AWS_ACCOUNT_ID": ACCOUNT,
        "IMAGE_REPO_URI_NGINX": Ref(repos[0], "uri"),
        "IMAGE_REPO_URI_APP": Ref(repos[1], "uri"),
        "CONTAINER_NAMES": "nginx app",
        "IMAGE_DEFINITIONS_FILE": "imagedefinitions.json",
        "ENDPOINT_CONTAINER": "nginx",
        "ENDPOINT_PORT": "80",
        "DEPLOY_STRATEGY": "rolling",
    }
    assert {v["type"] for v in env["environmentVariables"]} == {"PLAINTEXT"}
    assert r["serviceRole"] == Ref(role, "arn")
    assert r["timeoutInMinutes"] == 30
    assert r["logsConfig"] == {
        "cloudWatchLogs": {
            "status": "ENABLED",
            "groupName": f"/aws/codebuild/{NAME}",
            "streamName": "build",
        }
    }
    assert dict(p.tags)[STACK_TAG] == STACK and dict(p.tags)["ecs-cicd:id"] == "codebuild"


def test_desired_project_follows_the_config() -> None:
    cfg = config_with(
        pipeline__build__environment={"NODE_ENV": "production"},
        pipeline__build__compute_type="BUILD_GENERAL1_MEDIUM",
        pipeline__build__timeout_minutes=45,
    )
    p = want(cfg, "codebuild")
    assert isinstance(p, codebuild.Project)
    r = p.request
    assert r["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"
    assert r["timeoutInMinutes"] == 45
    names = [v["name"] for v in r["environment"]["environmentVariables"]]
    assert "NODE_ENV" in names and names == sorted(names)


@pytest.mark.parametrize("key", ["AWS_ACCOUNT_ID", "IMAGE_REPO_URI_APP", "IMAGE_REPO_URI_OTHER"])
def test_reserved_variables_cannot_be_redefined(key: str) -> None:
    with pytest.raises(ConfigError, match=f"pipeline.build.environment.{key}"):
        want(config_with(pipeline__build__environment={key: "x"}), "codebuild")


def test_repo_uri_variable_names() -> None:
    assert codebuild.repo_uri_variable("my-app.v2") == "IMAGE_REPO_URI_MY_APP_V2"
    assert codebuild.repo_uri_variable("Web_1") == "IMAGE_REPO_URI_WEB_1"


# --- on moto ---------------------------------------------------------------------------------
def test_creates_the_project_with_its_tags(ctx: Ctx, cfg: Config) -> None:
    role = prepare(ctx)
    out = ensure(ctx, cfg, "codebuild")
    assert out.action == "create" and out.physical_id == NAME
    # One creating call, with the tags in it.
    assert dict(ctx.aws.stats.mutating) == {"iam:CreateRole": 1, "codebuild:CreateProject": 1}
    p = project(ctx)
    assert p["source"]["type"] == "CODEPIPELINE" and p["source"]["buildspec"] == "buildspec.yml"
    assert "location" not in p["source"]
    assert p["artifacts"]["type"] == "CODEPIPELINE"
    env = p["environment"]
    assert env["image"] == "aws/codebuild/standard:7.0" and env["privilegedMode"] is True
    assert variables(p)["IMAGE_REPO_URI_NGINX"] == URIS["nginx"]
    assert variables(p)["IMAGE_REPO_URI_APP"] == URIS["app"]
    assert variables(p)["AWS_ACCOUNT_ID"] == ACCOUNT
    assert p["serviceRole"] == role
    assert p["timeoutInMinutes"] == 30
    assert p["logsConfig"]["cloudWatchLogs"]["groupName"] == f"/aws/codebuild/{NAME}"
    assert tags_of(ctx)[STACK_TAG] == STACK and tags_of(ctx)["ecs-cicd:id"] == "codebuild"
    rec = recorded(ctx, "codebuild")
    assert rec.kind == "codebuild_project" and rec.physical_id == NAME and rec.arn == p["arn"]


def test_second_ensure_makes_no_mutating_call(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "codebuild")
    before = ctx.aws.stats.mutating_total
    out = ensure(ctx, cfg, "codebuild")
    assert out.action == "unchanged" and out.changes == []
    assert ctx.aws.stats.mutating_total == before


def test_adopts_after_a_lost_record(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "codebuild")
    ctx.state.remove("codebuild")
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, cfg, "codebuild").action == "adopt"
    assert ctx.aws.stats.mutating_total == before
    assert projects(ctx) == [NAME] and recorded(ctx, "codebuild").physical_id == NAME


def test_plan_of_a_new_project(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    before = ctx.aws.stats.mutating_total
    out = plan(ctx, cfg, "codebuild")
    assert out.action == "create"
    assert out.changes == ["image aws/codebuild/standard:7.0", "compute BUILD_GENERAL1_SMALL"]
    assert ctx.aws.stats.mutating_total == before and projects(ctx) == []


def test_plan_before_the_role_exists(ctx: Ctx, cfg: Config) -> None:
    out = plan(ctx, cfg, "codebuild")
    assert out.action == "create"


def test_converges_a_hand_edit(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "codebuild")
    env = dict(project(ctx)["environment"])
    env["privilegedMode"] = False
    env["environmentVariables"] = [
        v for v in env["environmentVariables"] if v["name"] != "DEPLOY_STRATEGY"
    ] + [{"name": "EXTRA", "value": "1", "type": "PLAINTEXT"}]
    ctx.client("codebuild").update_project(name=NAME, environment=env)

    before = ctx.aws.stats.mutating_total
    planned = plan(ctx, cfg, "codebuild")
    assert planned.action == "update"
    assert ctx.aws.stats.mutating_total == before
    assert project(ctx)["environment"]["privilegedMode"] is False

    out = ensure(ctx, cfg, "codebuild")
    assert out.action == "update" and out.changes == planned.changes
    assert set(out.changes) == {
        "environment.privilegedMode: False -> True",
        "environment variable DEPLOY_STRATEGY: added",
        "environment variable EXTRA: removed",
    }
    p = project(ctx)
    assert p["environment"]["privilegedMode"] is True
    assert variables(p)["DEPLOY_STRATEGY"] == "rolling" and "EXTRA" not in variables(p)
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, cfg, "codebuild").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_a_changed_variable_value_is_not_shown(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "codebuild")
    changed = config_with(pipeline__build__environment={"API_KEY": "old-value"})
    ensure(ctx, changed, "codebuild")
    out = ensure(
        ctx, config_with(pipeline__build__environment={"API_KEY": "new-value"}), "codebuild"
    )
    assert out.action == "update" and out.changes == ["environment variable API_KEY: changed"]
    assert "old-value" not in repr(out.to_dict()) and "new-value" not in repr(out.to_dict())
    assert variables(project(ctx))["API_KEY"] == "new-value"


def test_follows_config_changes(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "codebuild")
    changed = config_with(
        pipeline__build__environment={"NODE_ENV": "production"},
        pipeline__build__compute_type="BUILD_GENERAL1_MEDIUM",
    )
    out = ensure(ctx, changed, "codebuild")
    assert out.action == "update"
    assert "environment variable NODE_ENV: added" in out.changes
    assert "environment.computeType: 'BUILD_GENERAL1_SMALL' -> 'BUILD_GENERAL1_MEDIUM'" in (
        out.changes
    )
    p = project(ctx)
    assert variables(p)["NODE_ENV"] == "production"
    assert p["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"
    assert tags_of(ctx)[STACK_TAG] == STACK  # UpdateProject without `tags` keeps them


def test_create_retries_role_propagation(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    assert ensure(ctx, cfg, "codebuild").action == "create"
    assert len(calls) == 3


def test_other_invalid_input_fails_at_once(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(ctx)
    err = client_error("InvalidInputException", "Invalid compute type provided: X", "CreateProject")
    calls = inject(monkeypatch, ctx.client("codebuild"), "create_project", [err])
    with pytest.raises(AwsError, match="InvalidInputException") as e:
        ensure(ctx, cfg, "codebuild")
    assert len(calls) == 1 and NAME in str(e.value)
    assert ctx.state.get("codebuild") is None


def test_update_retries_role_propagation(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "codebuild")
    ctx.client("codebuild").update_project(name=NAME, timeoutInMinutes=99)
    err = client_error("InvalidInputException", ROLE_LAG, "UpdateProject")
    calls = inject(monkeypatch, ctx.client("codebuild"), "update_project", [err, err])
    out = ensure(ctx, cfg, "codebuild")
    assert out.action == "update" and out.changes == ["timeoutInMinutes: 99 -> 30"]
    assert len(calls) == 3
    assert project(ctx)["timeoutInMinutes"] == 30


def lagging_reads(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """BatchGetProjects misses the project once (made meanwhile, or a lagging read)."""
    c = ctx.client("codebuild")
    real = c.batch_get_projects
    misses = [True]

    def lagging(**kwargs: Any) -> Any:
        if misses:
            misses.pop()
            return {"projects": [], "projectsNotFound": kwargs["names"]}
        return real(**kwargs)

    monkeypatch.setattr(c, "batch_get_projects", lagging)


def test_project_of_this_stack_created_meanwhile_is_taken_on(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "codebuild")
    ctx.state.remove("codebuild")
    lagging_reads(ctx, monkeypatch)
    assert ensure(ctx, cfg, "codebuild").action == "adopt"  # found again after the conflict
    assert projects(ctx) == [NAME] and recorded(ctx, "codebuild").physical_id == NAME


def test_project_of_someone_else_created_meanwhile_is_an_error(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger(ctx, prepare(ctx))
    lagging_reads(ctx, monkeypatch)
    with pytest.raises(AwsError, match="ResourceAlreadyExistsException"):
        ensure(ctx, cfg, "codebuild")
    assert ctx.state.get("codebuild") is None
    assert STACK_TAG not in tags_of(ctx)


def test_delete_and_delete_again(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "codebuild")
    assert delete(ctx, "codebuild").action == "delete"
    assert projects(ctx) == []
    assert delete(ctx, "codebuild").action == "gone"


# --- ownership -------------------------------------------------------------------------------
def test_a_strangers_project_is_foreign_and_left_alone(ctx: Ctx, cfg: Config) -> None:
    stranger(ctx, prepare(ctx))
    before = project(ctx)
    out = plan(ctx, cfg, "codebuild")
    assert out.action == "foreign" and out.physical_id == NAME
    assert STACK_TAG in out.changes[0]
    with pytest.raises(ForeignResources, match="codebuild"):
        ensure(ctx, cfg, "codebuild")
    assert project(ctx) == before and ctx.state.get("codebuild") is None


def test_take_over_on_request(ctx: Ctx, cfg: Config) -> None:
    role = prepare(ctx)
    stranger(ctx, role)
    ctx.adopt = frozenset({"codebuild"})
    out = ensure(ctx, cfg, "codebuild")
    assert out.action == "take"
    assert any("environment.image" in c for c in out.changes)
    tags = tags_of(ctx)
    assert tags[STACK_TAG] == STACK and tags["ecs-cicd:id"] == "codebuild"
    assert tags["owner"] == "someone"  # the tags it had are kept
    p = project(ctx)
    assert p["environment"]["image"] == "aws/codebuild/standard:7.0"
    assert p["source"]["type"] == "CODEPIPELINE" and p["serviceRole"] == role
    ctx.adopt = frozenset()
    assert ensure(ctx, cfg, "codebuild").action == "unchanged"


def test_delete_of_a_project_whose_stack_tag_was_removed_is_skipped(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "codebuild")
    kept = [t for t in project(ctx)["tags"] if t["key"] != STACK_TAG]
    ctx.client("codebuild").update_project(name=NAME, tags=kept)
    out = delete(ctx, "codebuild")
    assert out.action == "skip"
    assert projects(ctx) == [NAME]


def test_deleted_by_hand_is_planned_again_and_gone(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "codebuild")
    ctx.client("codebuild").delete_project(name=NAME)
    assert plan(ctx, cfg, "codebuild").action == "create"
    assert delete(ctx, "codebuild").action == "gone"
