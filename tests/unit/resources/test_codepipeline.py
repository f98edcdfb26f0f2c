"""The pipeline and its GitHub webhook: the desired models (the declaration as data, placeholders
for the bucket and role, no secret), then on moto (+ emulator) exact stage and action
declarations, idempotence, adoption, drift, ownership, deletes, the role-propagation retry — and
the secrets (the GitHub token, the webhook's HMAC secret) appearing nowhere outside the request."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

import boto3
import pytest
from moto.codepipeline.models import codepipeline_backends

from ecs_cicd.config import Config, parse_config
from ecs_cicd.emulator.webhooks import webhook_records
from ecs_cicd.errors import AwsError, ConfigError
from ecs_cicd.lifecycle import Ctx, Diff, ForeignResources, Outcome
from ecs_cicd.resources import codepipeline
from ecs_cicd.resources.codebuild import Ref
from ecs_cicd.resources.codepipeline import PipelineKind, pipeline_declaration
from ecs_cicd.state import Record
from tests.conftest import TOKEN
from tests.unit.resources.helpers import (
    client_error,
    config_with,
    delete,
    ensure,
    example,
    inject,
    plan,
    record_role,
    recorded,
    stack_of,
    want,
)

STACK = "test-codepipeline-dev"
ACCOUNT = "123456789012"
REGION = "ap-northeast-1"
BUCKET = f"{STACK}-artifacts-{ACCOUNT}-{REGION}"
WEBHOOK = f"{STACK}-webhook"
STACK_TAG = "ecs-cicd:stack"
REGISTERED_TAG = "ecs-cicd:registered"
CONNECTION = "arn:aws:codestar-connections:ap-northeast-1:123456789012:connection/abc-123"
ROLE_LAG = (
    f"CodePipeline is not authorized to perform AssumeRole on role arn:aws:iam::{ACCOUNT}:role/x"
)
REGISTER = "GitHub: register the webhook with GitHub"


def cfg_with(source: dict[str, Any] | None = None, **deploy: Any) -> Config:
    data = example()
    if source is not None:
        data["pipeline"]["source"] = source
    data["pipeline"]["deploy"].update(deploy)
    return parse_config(data, check_env=False)


def prepare(ctx: Ctx) -> str:
    """The pipeline's dependencies: the real service role, the recorded bucket and service (the
    deploy action names the service as recorded). The role's ARN."""
    ctx.state.put(Record("bucket.artifacts", "artifact_bucket", BUCKET, outputs={"name": BUCKET}))
    ctx.state.put(Record("service", "service", STACK, outputs={"cluster": STACK}))
    return record_role(
        ctx,
        ctx.client("iam"),
        "role.codepipeline",
        f"{STACK}-codepipeline",
        "codepipeline.amazonaws.com",
    )


def cp() -> Any:
    """A client outside the context: its calls are not counted."""
    return boto3.client("codepipeline", region_name=REGION)


def stored_pipeline() -> dict[str, Any]:
    """What the emulator holds (unmasked), to see what we sent."""
    return dict(codepipeline_backends[ACCOUNT][REGION].pipelines[STACK].pipeline)


def actions(p: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s["actions"][0] for s in p["stages"]}


def pipeline_tags() -> dict[str, str]:
    arn = cp().get_pipeline(name=STACK)["metadata"]["pipelineArn"]
    return {t["key"]: t["value"] for t in cp().list_tags_for_resource(resourceArn=arn)["tags"]}


def webhook_item() -> dict[str, Any]:
    return next(w for w in cp().list_webhooks()["webhooks"] if w["definition"]["name"] == WEBHOOK)


def webhook_tags() -> dict[str, str]:
    tags = cp().list_tags_for_resource(resourceArn=webhook_item()["arn"])["tags"]
    return {t["key"]: t["value"] for t in tags}


def executions() -> list[dict[str, Any]]:
    return list(cp().list_pipeline_executions(pipelineName=STACK)["pipelineExecutionSummaries"])


# --- the declaration (pure) ------------------------------------------------------------------
def declare(cfg: Config, token: str | None = "tok") -> dict[str, Any]:
    return pipeline_declaration(
        cfg, bucket=BUCKET, role_arn="arn:aws:iam::1:role/r", oauth_token=token
    )


def test_declaration_rolling_from_github() -> None:
    d = declare(cfg_with())
    assert d["name"] == STACK and d["pipelineType"] == "V1"
    assert d["artifactStore"] == {"type": "S3", "location": BUCKET}
    assert [s["name"] for s in d["stages"]] == ["Source", "Build", "Deploy"]
    a = actions(d)
    assert a["Source"]["actionTypeId"] == {
        "category": "Source",
        "owner": "ThirdParty",
        "provider": "GitHub",
        "version": "1",
    }
    assert a["Source"]["configuration"] == {
        "Owner": "my-github-user",
        "Repo": "test-codepipeline",
        "Branch": "master",
        "OAuthToken": "tok",
        "PollForSourceChanges": "false",
    }
    assert a["Source"]["outputArtifacts"] == [{"name": "SourceOutput"}]
    assert a["Build"]["actionTypeId"] == {
        "category": "Build",
        "owner": "AWS",
        "provider": "CodeBuild",
        "version": "1",
    }
    assert a["Build"]["configuration"] == {"ProjectName": f"{STACK}-build"}
    assert a["Build"]["inputArtifacts"] == [{"name": "SourceOutput"}]
    assert a["Build"]["outputArtifacts"] == [{"name": "BuildOutput"}]
    assert a["Deploy"]["actionTypeId"] == {
        "category": "Deploy",
        "owner": "AWS",
        "provider": "ECS",
        "version": "1",
    }
    assert a["Deploy"]["configuration"] == {
        "ClusterName": STACK,
        "ServiceName": STACK,
        "FileName": "imagedefinitions.json",
        "DeploymentTimeout": "15",
    }
    assert a["Deploy"]["inputArtifacts"] == [{"name": "BuildOutput"}]


def test_declaration_polls_without_a_webhook_and_omits_an_absent_token() -> None:
    data = example()
    data["pipeline"]["source"]["webhook"] = False
    conf = actions(declare(parse_config(data, check_env=False), None))["Source"]["configuration"]
    assert conf["PollForSourceChanges"] == "true" and "OAuthToken" not in conf


def test_declaration_blue_green() -> None:
    a = actions(declare(cfg_with(strategy="blue_green")))["Deploy"]
    assert a["actionTypeId"] == {
        "category": "Deploy",
        "owner": "AWS",
        "provider": "CodeDeployToECS",
        "version": "1",
    }
    assert a["configuration"] == {
        "ApplicationName": STACK,
        "DeploymentGroupName": STACK,
        "TaskDefinitionTemplateArtifact": "BuildOutput",
        "TaskDefinitionTemplatePath": "taskdef.json",
        "AppSpecTemplateArtifact": "BuildOutput",
        "AppSpecTemplatePath": "appspec.yaml",
        "Image1ArtifactName": "BuildOutput",
        "Image1ContainerName": "IMAGE1_NAME",
    }
    assert a["inputArtifacts"] == [{"name": "BuildOutput"}]


@pytest.mark.parametrize(
    ("source", "type_id", "configuration"),
    [
        (
            {
                "type": "codestar",
                "connection_arn": CONNECTION,
                "repository": "me/shop",
                "branch": "main",
            },
            ("AWS", "CodeStarSourceConnection"),
            {
                "ConnectionArn": CONNECTION,
                "FullRepositoryId": "me/shop",
                "BranchName": "main",
                "OutputArtifactFormat": "CODE_ZIP",
                "DetectChanges": "true",
            },
        ),
        (
            {"type": "codecommit", "repository": "shop", "branch": "dev"},
            ("AWS", "CodeCommit"),
            {"RepositoryName": "shop", "BranchName": "dev", "PollForSourceChanges": "true"},
        ),
        (
            {"type": "s3", "bucket": "src", "key": "app.zip"},
            ("AWS", "S3"),
            {"S3Bucket": "src", "S3ObjectKey": "app.zip", "PollForSourceChanges": "true"},
        ),
    ],
)
def test_declaration_other_sources(
    source: dict[str, Any], type_id: tuple[str, str], configuration: dict[str, str]
) -> None:
    a = actions(declare(cfg_with(source), None))["Source"]
    assert (a["actionTypeId"]["owner"], a["actionTypeId"]["provider"]) == type_id
    assert a["configuration"] == configuration
    assert a["outputArtifacts"] == [{"name": "SourceOutput"}]
    p = want(cfg_with(source), "pipeline")
    assert isinstance(p, codepipeline.Pipeline) and p.token_env is None
    assert "webhook" not in stack_of(cfg_with(source)).ids


def test_differences_ignore_the_masked_token_and_aws_defaults() -> None:
    wanted = declare(cfg_with(), None)
    have = declare(cfg_with(), "****")
    for stage in have["stages"]:
        stage["actions"][0].pop("runOrder")
        stage["actions"][0]["region"] = REGION
    have["version"] = 3
    assert codepipeline.declaration_differences(wanted, have) == []
    have["stages"][2]["actions"][0]["configuration"]["FileName"] = "x.json"
    assert [str(d) for d in codepipeline.declaration_differences(wanted, have)] == [
        "Deploy/Deploy FileName: 'x.json' -> 'imagedefinitions.json'"
    ]


# --- the desired models ----------------------------------------------------------------------
def test_desired_pipeline_is_data_without_the_token(cfg: Config) -> None:
    stack = stack_of(cfg)
    p = stack.get("pipeline")
    assert isinstance(p, codepipeline.Pipeline) and p.kind == "pipeline" and p.name == STACK
    assert p.bucket is stack.get("bucket.artifacts") and p.role is stack.get("role.codepipeline")
    assert p.project is stack.get("codebuild") and p.deploy_target is stack.get("service")
    assert {p.bucket, p.role, p.project, p.deploy_target} <= set(p.deps())
    d = p.declaration
    assert d["roleArn"] == Ref(p.role, "arn")
    assert d["artifactStore"] == {"type": "S3", "location": Ref(p.bucket, "id")}
    assert [s["name"] for s in d["stages"]] == ["Source", "Build", "Deploy"]
    assert "OAuthToken" not in actions(d)["Source"]["configuration"]
    assert actions(d)["Build"]["configuration"] == {"ProjectName": f"{STACK}-build"}
    assert actions(d)["Deploy"]["actionTypeId"]["provider"] == "ECS"
    assert p.token_env == "GITHUB_TOKEN" and TOKEN not in repr(p) + repr(d)
    assert dict(p.tags)[STACK_TAG] == STACK and dict(p.tags)["ecs-cicd:id"] == "pipeline"


def test_desired_pipeline_deploys_with_codedeploy_to_the_deployment_group() -> None:
    stack = stack_of(config_with(pipeline__deploy__strategy="blue_green"))
    p = stack.get("pipeline")
    assert isinstance(p, codepipeline.Pipeline)
    assert p.deploy_target is stack.get("codedeploy.group")
    deploy = actions(p.declaration)["Deploy"]
    assert deploy["actionTypeId"]["provider"] == "CodeDeployToECS"
    assert deploy["configuration"]["DeploymentGroupName"] == STACK


def test_desired_webhook_is_data(cfg: Config) -> None:
    stack = stack_of(cfg)
    w = stack.get("webhook")
    assert isinstance(w, codepipeline.Webhook) and w.kind == "webhook" and w.name == WEBHOOK
    assert w.pipeline is stack.get("pipeline")
    assert w.definition == {
        "name": WEBHOOK,
        "targetPipeline": STACK,
        "targetAction": "Source",
        "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}],
        "authentication": "GITHUB_HMAC",
    }
    data = example()
    data["pipeline"]["source"]["webhook"] = False
    assert "webhook" not in stack_of(parse_config(data, check_env=False)).ids


def test_notes_name_the_execution_a_new_pipeline_starts(cfg: Config) -> None:
    p = want(cfg, "pipeline")
    assert isinstance(p, codepipeline.Pipeline)
    kind = PipelineKind()
    assert any("starts one execution" in n and "up waits" in n for n in kind.notes(p, []))
    assert any("starts no execution" in n for n in kind.notes(p, [Diff("roleArn", "a", "b")]))


# --- pipeline on the emulator ----------------------------------------------------------------
def test_creates_the_pipeline(ctx: Ctx, cfg: Config) -> None:
    role = prepare(ctx)
    out = ensure(ctx, cfg, "pipeline")
    assert out.action == "create" and out.physical_id == STACK
    # One creating call, with the tags in it.
    assert dict(ctx.aws.stats.mutating) == {"iam:CreateRole": 1, "codepipeline:CreatePipeline": 1}
    resp = cp().get_pipeline(name=STACK)
    p = resp["pipeline"]
    assert p["roleArn"] == role
    assert p["artifactStore"] == {"type": "S3", "location": BUCKET}
    a = actions(p)
    assert set(a["Source"]["configuration"]) == {
        "Owner",
        "Repo",
        "Branch",
        "OAuthToken",
        "PollForSourceChanges",
    }
    assert a["Source"]["configuration"]["PollForSourceChanges"] == "false"
    assert a["Source"]["configuration"]["OAuthToken"] == "****"
    assert actions(stored_pipeline())["Source"]["configuration"]["OAuthToken"] == TOKEN
    assert a["Build"]["configuration"] == {"ProjectName": f"{STACK}-build"}
    assert set(a["Deploy"]["configuration"]) == {
        "ClusterName",
        "ServiceName",
        "FileName",
        "DeploymentTimeout",
    }
    assert pipeline_tags()[STACK_TAG] == STACK and pipeline_tags()["ecs-cicd:id"] == "pipeline"
    rec = recorded(ctx, "pipeline")
    assert rec.kind == "pipeline" and rec.arn == resp["metadata"]["pipelineArn"]
    assert set(rec.outputs) == {"created"}
    datetime.fromisoformat(rec.outputs["created"])
    # AWS (and the emulator) start the first execution on create; we start none ourselves.
    assert len(executions()) == 1


def test_second_ensure_makes_no_mutating_call(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")
    created = recorded(ctx, "pipeline").outputs["created"]
    before = ctx.aws.stats.mutating_total
    out = ensure(ctx, cfg, "pipeline")
    assert out.action == "unchanged" and out.changes == [] and out.notes == []
    assert ctx.aws.stats.mutating_total == before
    assert recorded(ctx, "pipeline").outputs["created"] == created
    assert len(executions()) == 1


def test_adopts_after_a_lost_record(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")
    ctx.state.remove("pipeline")
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, cfg, "pipeline").action == "adopt"
    assert ctx.aws.stats.mutating_total == before
    assert [p["name"] for p in cp().list_pipelines()["pipelines"]] == [STACK]
    datetime.fromisoformat(recorded(ctx, "pipeline").outputs["created"])


def test_plan_of_a_new_pipeline_needs_no_token(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(ctx)
    monkeypatch.delenv("GITHUB_TOKEN")
    before = ctx.aws.stats.mutating_total
    out = plan(ctx, cfg, "pipeline")
    assert out.action == "create" and out.changes == [
        "source github my-github-user/test-codepipeline",
        "deploy rolling",
    ]
    assert ctx.aws.stats.mutating_total == before


def test_plan_of_a_pipeline_whose_dependencies_are_not_made_yet(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")
    ctx.state.remove("role.codepipeline")  # as if the role were to be made first
    out = plan(ctx, cfg, "pipeline")
    assert out.action == "update" and out.changes == ["role.codepipeline: updated once it exists"]


def test_converges_a_hand_edited_stage_and_restores_the_token(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")
    p = cp().get_pipeline(name=STACK)["pipeline"]
    actions(p)["Deploy"]["configuration"]["FileName"] = "other.json"
    cp().update_pipeline(pipeline=p)  # sends back the masked token, as a console edit would
    assert actions(stored_pipeline())["Source"]["configuration"]["OAuthToken"] == "****"

    before = ctx.aws.stats.mutating_total
    planned = plan(ctx, cfg, "pipeline")
    assert planned.action == "update"
    assert planned.changes == ["Deploy/Deploy FileName: 'other.json' -> 'imagedefinitions.json'"]
    assert planned.notes and "starts no execution" in planned.notes[0]
    assert ctx.aws.stats.mutating_total == before

    out = ensure(ctx, cfg, "pipeline")
    assert out.action == "update" and out.changes == planned.changes
    stored = actions(stored_pipeline())
    assert stored["Deploy"]["configuration"]["FileName"] == "imagedefinitions.json"
    assert stored["Source"]["configuration"]["OAuthToken"] == TOKEN
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, cfg, "pipeline").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before
    assert len(executions()) == 1  # UpdatePipeline starts none


def test_the_masked_token_is_not_drift(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")
    assert actions(cp().get_pipeline(name=STACK)["pipeline"])["Source"]["configuration"][
        "OAuthToken"
    ] == ("****")
    assert plan(ctx, cfg, "pipeline").action == "unchanged"


def test_restores_a_removed_stage(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")
    p = cp().get_pipeline(name=STACK)["pipeline"]
    p["stages"] = p["stages"][:2]
    cp().update_pipeline(pipeline=p)
    out = ensure(ctx, cfg, "pipeline")
    assert out.changes == ["stages: ['Source', 'Build'] -> ['Source', 'Build', 'Deploy']"]
    assert [s["name"] for s in stored_pipeline()["stages"]] == ["Source", "Build", "Deploy"]


def test_follows_a_config_change(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")
    out = ensure(ctx, config_with(pipeline__source__branch="release"), "pipeline")
    assert out.action == "update" and out.changes == ["Source/Source Branch: 'master' -> 'release'"]
    assert actions(stored_pipeline())["Source"]["configuration"]["Branch"] == "release"


def test_create_retries_role_propagation(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(ctx)
    err = client_error("InvalidStructureException", ROLE_LAG, "CreatePipeline")
    calls = inject(monkeypatch, ctx.client("codepipeline"), "create_pipeline", [err, err])
    assert ensure(ctx, cfg, "pipeline").action == "create"
    assert len(calls) == 3


def test_other_invalid_structure_fails_at_once(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(ctx)
    err = client_error(
        "InvalidStructureException", "ArtifactStore location is not valid", "CreatePipeline"
    )
    calls = inject(monkeypatch, ctx.client("codepipeline"), "create_pipeline", [err])
    with pytest.raises(AwsError, match="InvalidStructureException") as e:
        ensure(ctx, cfg, "pipeline")
    assert len(calls) == 1 and TOKEN not in str(e.value)
    assert ctx.state.get("pipeline") is None


def miss_once_then_in_use(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """GetPipeline misses the pipeline once; CreatePipeline then says the name is in use."""
    c = ctx.client("codepipeline")
    miss = client_error("PipelineNotFoundException", "no pipeline", "GetPipeline")
    inject(monkeypatch, c, "get_pipeline", [miss])
    in_use = client_error("PipelineNameInUseException", f"{STACK} is in use", "CreatePipeline")
    inject(monkeypatch, c, "create_pipeline", [in_use])


def test_pipeline_of_this_stack_created_meanwhile_is_taken_on(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")
    ctx.state.remove("pipeline")
    miss_once_then_in_use(ctx, monkeypatch)
    assert ensure(ctx, cfg, "pipeline").action == "adopt"  # found again after the conflict
    assert [p["name"] for p in cp().list_pipelines()["pipelines"]] == [STACK]
    assert recorded(ctx, "pipeline").physical_id == STACK


def test_pipeline_of_someone_else_created_meanwhile_is_an_error(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger_pipeline(cfg, prepare(ctx))
    miss_once_then_in_use(ctx, monkeypatch)
    with pytest.raises(AwsError, match="PipelineNameInUseException"):
        ensure(ctx, cfg, "pipeline")
    assert ctx.state.get("pipeline") is None and STACK_TAG not in pipeline_tags()


def test_missing_token_is_a_config_error(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(ctx)
    monkeypatch.delenv("GITHUB_TOKEN")
    with pytest.raises(ConfigError, match="GITHUB_TOKEN is not set"):
        ensure(ctx, cfg, "pipeline")
    assert cp().list_pipelines()["pipelines"] == []


def test_the_token_is_read_from_the_variable_the_config_names(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(ctx)
    monkeypatch.setenv("OTHER_TOKEN", "ghp_other")
    cfg = config_with(pipeline__source__token_env="OTHER_TOKEN")
    ensure(ctx, cfg, "pipeline")
    assert actions(stored_pipeline())["Source"]["configuration"]["OAuthToken"] == "ghp_other"


def test_delete_and_delete_again(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")
    assert delete(ctx, "pipeline").action == "delete"
    assert cp().list_pipelines()["pipelines"] == []
    assert delete(ctx, "pipeline").action == "gone"


# --- pipeline ownership ----------------------------------------------------------------------
def stranger_pipeline(cfg: Config, role: str) -> None:
    """A pipeline with our name that someone else made (another deploy file, no stack tag)."""
    d = pipeline_declaration(cfg, bucket=BUCKET, role_arn=role, oauth_token="ghp_theirs")
    actions(d)["Deploy"]["configuration"]["FileName"] = "theirs.json"
    cp().create_pipeline(pipeline=d, tags=[{"key": "owner", "value": "someone"}])


def test_a_strangers_pipeline_is_foreign_and_left_alone(ctx: Ctx, cfg: Config) -> None:
    stranger_pipeline(cfg, prepare(ctx))
    out = plan(ctx, cfg, "pipeline")
    assert out.action == "foreign" and out.physical_id == STACK and STACK_TAG in out.changes[0]
    with pytest.raises(ForeignResources, match="pipeline"):
        ensure(ctx, cfg, "pipeline")
    stored = actions(stored_pipeline())
    assert stored["Deploy"]["configuration"]["FileName"] == "theirs.json"
    assert stored["Source"]["configuration"]["OAuthToken"] == "ghp_theirs"
    assert ctx.state.get("pipeline") is None and STACK_TAG not in pipeline_tags()


def test_take_over_on_request(ctx: Ctx, cfg: Config) -> None:
    stranger_pipeline(cfg, prepare(ctx))
    ctx.adopt = frozenset({"pipeline"})
    out = ensure(ctx, cfg, "pipeline")
    assert out.action == "take"
    assert "Deploy/Deploy FileName: 'theirs.json' -> 'imagedefinitions.json'" in out.changes
    tags = pipeline_tags()
    assert tags[STACK_TAG] == STACK and tags["ecs-cicd:id"] == "pipeline" and tags["owner"]
    stored = actions(stored_pipeline())
    assert stored["Deploy"]["configuration"]["FileName"] == "imagedefinitions.json"
    assert stored["Source"]["configuration"]["OAuthToken"] == TOKEN
    ctx.adopt = frozenset()
    assert ensure(ctx, cfg, "pipeline").action == "unchanged"


def test_delete_of_a_pipeline_whose_stack_tag_was_removed_is_skipped(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")
    cp().untag_resource(resourceArn=recorded(ctx, "pipeline").arn, tagKeys=[STACK_TAG])
    assert delete(ctx, "pipeline").action == "skip"
    assert [p["name"] for p in cp().list_pipelines()["pipelines"]] == [STACK]


def test_pipeline_deleted_by_hand_is_planned_again_and_gone(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")
    cp().delete_pipeline(name=STACK)
    assert plan(ctx, cfg, "pipeline").action == "create"
    assert delete(ctx, "pipeline").action == "gone"


# --- webhook ---------------------------------------------------------------------------------
def with_pipeline(ctx: Ctx, cfg: Config) -> None:
    prepare(ctx)
    ensure(ctx, cfg, "pipeline")


def registered() -> bool:
    return bool(webhook_records(codepipeline_backends[ACCOUNT][REGION])[WEBHOOK]["_registered"])


def test_creates_and_registers_the_webhook(ctx: Ctx, cfg: Config) -> None:
    with_pipeline(ctx, cfg)
    out = ensure(ctx, cfg, "webhook")
    assert out.action == "create"
    item = webhook_item()
    d = item["definition"]
    assert d["targetPipeline"] == STACK and d["targetAction"] == "Source"
    assert d["filters"] == [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}]
    assert d["authentication"] == "GITHUB_HMAC"
    assert registered()
    tags = webhook_tags()
    assert tags["ecs-cicd:id"] == "webhook" and tags[STACK_TAG] == STACK
    assert tags[REGISTERED_TAG] == "true"
    rec = recorded(ctx, "webhook")
    assert rec.kind == "webhook" and rec.physical_id == WEBHOOK and rec.arn == item["arn"]
    assert rec.outputs == {"url": item["url"], "registered": True}
    assert ctx.aws.stats.mutating["codepipeline:PutWebhook"] == 1
    assert ctx.aws.stats.mutating["codepipeline:RegisterWebhookWithThirdParty"] == 1


def test_plan_of_a_new_webhook(ctx: Ctx, cfg: Config) -> None:
    with_pipeline(ctx, cfg)
    before = ctx.aws.stats.mutating_total
    out = plan(ctx, cfg, "webhook")
    assert out.action == "create" and out.changes == ["register with GitHub"]
    assert ctx.aws.stats.mutating_total == before


def test_a_failed_registration_is_recorded_and_retried(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_pipeline(ctx, cfg)
    err = client_error("ValidationException", "Bad credentials", "RegisterWebhookWithThirdParty")
    inject(monkeypatch, ctx.client("codepipeline"), "register_webhook_with_third_party", [err])
    with pytest.raises(AwsError, match="admin:repo_hook"):
        ensure(ctx, cfg, "webhook")
    # PutWebhook made it: recorded at once, not registered (and not tagged so).
    assert recorded(ctx, "webhook").outputs["registered"] is False
    assert REGISTERED_TAG not in webhook_tags() and not registered()
    out = plan(ctx, cfg, "webhook")
    assert out.action == "update" and out.changes == [REGISTER]
    assert ensure(ctx, cfg, "webhook").action == "update"
    assert registered() and webhook_tags()[REGISTERED_TAG] == "true"
    assert len(cp().list_webhooks()["webhooks"]) == 1
    assert ctx.aws.stats.mutating["codepipeline:PutWebhook"] == 1


def test_second_up_leaves_the_webhook_and_its_secret_alone(ctx: Ctx, cfg: Config) -> None:
    with_pipeline(ctx, cfg)
    ensure(ctx, cfg, "webhook")
    before = ctx.aws.stats.mutating_total
    out = ensure(ctx, cfg, "webhook")
    assert out.action == "unchanged" and out.changes == []
    assert ctx.aws.stats.mutating_total == before


def test_adopting_a_registered_webhook_changes_nothing(ctx: Ctx, cfg: Config) -> None:
    # State lost after a complete up: the registration tag says GitHub has the hook.
    with_pipeline(ctx, cfg)
    ensure(ctx, cfg, "webhook")
    ctx.state.remove("webhook")
    before = ctx.aws.stats.mutating_total
    out = ensure(ctx, cfg, "webhook")
    assert out.action == "adopt" and out.changes == []
    assert ctx.aws.stats.mutating_total == before
    assert recorded(ctx, "webhook").outputs["registered"] is True


def test_adopt_registers_once_more_without_a_second_webhook(ctx: Ctx, cfg: Config) -> None:
    # A crash between PutWebhook and RegisterWebhookWithThirdParty: no registration tag.
    with_pipeline(ctx, cfg)
    ensure(ctx, cfg, "webhook")
    cp().untag_resource(resourceArn=webhook_item()["arn"], tagKeys=[REGISTERED_TAG])
    ctx.state.remove("webhook")
    puts = ctx.aws.stats.mutating["codepipeline:PutWebhook"]
    out = ensure(ctx, cfg, "webhook")
    assert out.action == "adopt" and out.changes == [REGISTER]
    assert ctx.aws.stats.mutating["codepipeline:PutWebhook"] == puts
    assert ctx.aws.stats.mutating["codepipeline:DeregisterWebhookWithThirdParty"] == 1
    assert registered() and webhook_tags()[REGISTERED_TAG] == "true"
    assert len(cp().list_webhooks()["webhooks"]) == 1
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, cfg, "webhook").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_a_changed_webhook_gets_a_new_secret_and_registration(ctx: Ctx, cfg: Config) -> None:
    with_pipeline(ctx, cfg)
    ensure(ctx, cfg, "webhook")
    d = dict(webhook_item()["definition"])
    d["filters"] = [{"jsonPath": "$.ref", "matchEquals": "refs/heads/other"}]
    d["authenticationConfiguration"] = {"SecretToken": "by-hand"}
    cp().put_webhook(webhook=d)

    before = ctx.aws.stats.mutating_total
    planned = plan(ctx, cfg, "webhook")
    assert planned.action == "update" and ctx.aws.stats.mutating_total == before

    out = ensure(ctx, cfg, "webhook")
    assert out.action == "update" and out.changes == planned.changes
    assert out.changes[-1] == "secret: new secret, registered again with GitHub"
    assert webhook_item()["definition"]["filters"] == [
        {"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}
    ]
    stored = webhook_records(codepipeline_backends[ACCOUNT][REGION])[WEBHOOK]
    assert stored["definition"]["authenticationConfiguration"]["SecretToken"] not in (
        "by-hand",
        "****",
    )
    assert registered() and webhook_tags()[REGISTERED_TAG] == "true"
    assert ctx.aws.stats.mutating["codepipeline:DeregisterWebhookWithThirdParty"] == 1
    assert recorded(ctx, "webhook").outputs["registered"] is True


def test_webhook_delete_deregisters_then_deletes(ctx: Ctx, cfg: Config) -> None:
    with_pipeline(ctx, cfg)
    ensure(ctx, cfg, "webhook")
    calls: list[str] = []
    c = ctx.client("codepipeline")
    for method in ("deregister_webhook_with_third_party", "delete_webhook"):
        real = getattr(c, method)

        def spy(*, _real: Any = real, _name: str = method, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(**kwargs)

        setattr(c, method, spy)
    try:
        assert delete(ctx, "webhook").action == "delete"
    finally:
        for method in ("deregister_webhook_with_third_party", "delete_webhook"):
            delattr(c, method)
    assert calls == ["deregister_webhook_with_third_party", "delete_webhook"]
    assert cp().list_webhooks()["webhooks"] == []
    assert delete(ctx, "webhook").action == "gone"


def test_webhook_delete_survives_a_failed_deregistration(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_pipeline(ctx, cfg)
    ensure(ctx, cfg, "webhook")
    logged: list[str] = []
    ctx.log = logged.append
    err = client_error(
        "ValidationException", "GitHub said: Bad credentials", "DeregisterWebhookWithThirdParty"
    )
    inject(monkeypatch, ctx.client("codepipeline"), "deregister_webhook_with_third_party", [err])
    assert delete(ctx, "webhook").action == "delete"
    assert len(logged) == 1
    assert (
        "GitHub hook not removed (ValidationException: GitHub said: Bad credentials)" in logged[0]
    )
    assert cp().list_webhooks()["webhooks"] == []


# --- webhook ownership -----------------------------------------------------------------------
def stranger_webhook() -> None:
    """A webhook with our name that someone else made (another filter, no stack tag)."""
    cp().put_webhook(
        webhook={
            "name": WEBHOOK,
            "targetPipeline": STACK,
            "targetAction": "Source",
            "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/theirs"}],
            "authentication": "GITHUB_HMAC",
            "authenticationConfiguration": {"SecretToken": "theirs"},
        },
        tags=[{"key": "owner", "value": "someone"}],
    )


def test_a_strangers_webhook_is_foreign_and_left_alone(ctx: Ctx, cfg: Config) -> None:
    with_pipeline(ctx, cfg)
    stranger_webhook()
    out = plan(ctx, cfg, "webhook")
    assert out.action == "foreign" and out.physical_id == WEBHOOK
    with pytest.raises(ForeignResources, match="webhook"):
        ensure(ctx, cfg, "webhook")
    stored = webhook_records(codepipeline_backends[ACCOUNT][REGION])[WEBHOOK]
    assert stored["definition"]["authenticationConfiguration"]["SecretToken"] == "theirs"
    assert STACK_TAG not in webhook_tags() and ctx.state.get("webhook") is None


def test_webhook_take_over_on_request(ctx: Ctx, cfg: Config) -> None:
    with_pipeline(ctx, cfg)
    stranger_webhook()
    ctx.adopt = frozenset({"webhook"})
    out = ensure(ctx, cfg, "webhook")
    assert out.action == "take"
    tags = webhook_tags()
    assert tags[STACK_TAG] == STACK and tags["ecs-cicd:id"] == "webhook"
    assert tags[REGISTERED_TAG] == "true" and registered()
    assert webhook_item()["definition"]["filters"][0]["matchEquals"] == "refs/heads/{Branch}"
    ctx.adopt = frozenset()
    assert ensure(ctx, cfg, "webhook").action == "unchanged"


def test_delete_of_a_webhook_whose_stack_tag_was_removed_is_skipped(ctx: Ctx, cfg: Config) -> None:
    with_pipeline(ctx, cfg)
    ensure(ctx, cfg, "webhook")
    cp().untag_resource(resourceArn=webhook_item()["arn"], tagKeys=[STACK_TAG])
    before = ctx.aws.stats.mutating_total
    assert delete(ctx, "webhook").action == "skip"
    assert ctx.aws.stats.mutating_total == before  # not even deregistered
    assert registered() and len(cp().list_webhooks()["webhooks"]) == 1


def test_webhook_deleted_by_hand_is_planned_again_and_gone(ctx: Ctx, cfg: Config) -> None:
    with_pipeline(ctx, cfg)
    ensure(ctx, cfg, "webhook")
    cp().delete_webhook(name=WEBHOOK)
    assert plan(ctx, cfg, "webhook").action == "create"
    assert delete(ctx, "webhook").action == "gone"


# --- secrets ---------------------------------------------------------------------------------
def test_secrets_appear_nowhere_but_in_aws(
    ctx: Ctx,
    cfg: Config,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)  # botocore logs request bodies at DEBUG
    generated: list[str] = []
    real_token_hex = secrets.token_hex

    def spy(n: int) -> str:
        generated.append(real_token_hex(n))
        return generated[-1]

    monkeypatch.setattr(secrets, "token_hex", spy)  # the module codepipeline uses
    logged: list[str] = []
    ctx.log = logged.append
    outcomes: list[Outcome] = []
    prepare(ctx)
    outcomes += [plan(ctx, cfg, "pipeline"), ensure(ctx, cfg, "pipeline")]
    outcomes += [plan(ctx, cfg, "webhook"), ensure(ctx, cfg, "webhook")]
    # Drift on both, so update paths (token put back, secret rotated) run too.
    p = cp().get_pipeline(name=STACK)["pipeline"]
    actions(p)["Build"]["configuration"]["ProjectName"] = "x"
    cp().update_pipeline(pipeline=p)
    d = dict(
        webhook_item()["definition"],
        targetAction="Other",
        authenticationConfiguration={"SecretToken": "s"},
    )
    cp().put_webhook(webhook=d)
    outcomes += [plan(ctx, cfg, "pipeline"), plan(ctx, cfg, "webhook")]
    outcomes += [ensure(ctx, cfg, "pipeline"), ensure(ctx, cfg, "webhook")]
    err = client_error("InvalidStructureException", "bad action configuration", "UpdatePipeline")
    inject(monkeypatch, ctx.client("codepipeline"), "update_pipeline", [err])
    cp().update_pipeline(pipeline=p)
    with pytest.raises(AwsError) as failed:
        ensure(ctx, cfg, "pipeline")
    outcomes += [delete(ctx, "webhook"), delete(ctx, "pipeline")]

    assert len(generated) == 2 and all(len(g) == 64 for g in generated)
    assert actions(p)["Source"]["configuration"]["OAuthToken"] == "****"
    captured = capsys.readouterr()
    stack = stack_of(cfg)
    places = {
        "desired model": repr(stack) + repr([vars(r) for r in stack.resources]),
        "state file": ctx.state.path.read_text(),
        "outcomes": repr([o.to_dict() for o in outcomes]) + repr(outcomes),
        "error": str(failed.value) + repr(failed.value.__dict__),
        "ctx.log": "\n".join(logged),
        "logs": caplog.text,
        "stdout/stderr": captured.out + captured.err,
    }
    assert "botocore" in caplog.text  # DEBUG logging really was on
    for secret in [TOKEN, *generated]:
        for where, text in places.items():
            assert secret not in text, f"a secret leaked into the {where}"


def test_redaction_masks_a_secret_in_botocore_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("botocore.endpoint")
    with codepipeline.redacted("s3cr3t", None):
        log.debug("body: %s", {"OAuthToken": "s3cr3t"})
    log.debug("after: s3cr3t")
    assert "s3cr3t" not in caplog.records[0].getMessage()
    assert "****" in caplog.records[0].getMessage()
    assert "s3cr3t" in caplog.records[1].getMessage()  # the filter is gone afterwards
