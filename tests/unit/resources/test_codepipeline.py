"""The pipeline and its GitHub webhook on moto (+ emulator): exact stage and action declarations,
idempotence, adoption, drift, deletes, the role-propagation retry — and the secrets (the GitHub
token, the webhook's HMAC secret) appearing nowhere outside the AWS request."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.codepipeline.models import codepipeline_backends

from ecs_cicd.config import Config, parse_config
from ecs_cicd.emulator.webhooks import webhook_records
from ecs_cicd.engine import Ctx, Outcome
from ecs_cicd.errors import AwsError, ConfigError
from ecs_cicd.resources import codepipeline, iam
from ecs_cicd.resources.codepipeline import PipelineHandler, WebhookHandler, pipeline_declaration
from ecs_cicd.state import Record
from tests.conftest import TOKEN
from tests.unit.resources.helpers import client_error, example, inject, spec_of

STACK = "test-codepipeline-dev"
ACCOUNT = "123456789012"
REGION = "ap-northeast-1"
BUCKET = f"{STACK}-artifacts-{ACCOUNT}-{REGION}"
WEBHOOK = f"{STACK}-webhook"
CONNECTION = "arn:aws:codestar-connections:ap-northeast-1:123456789012:connection/abc-123"
ROLE_LAG = (
    f"CodePipeline is not authorized to perform AssumeRole on role arn:aws:iam::{ACCOUNT}:role/x"
)


def cfg_with(source: dict[str, Any] | None = None, **deploy: Any) -> Config:
    data = example()
    if source is not None:
        data["pipeline"]["source"] = source
    data["pipeline"]["deploy"].update(deploy)
    return parse_config(data, check_env=False)


def prepare(ctx: Ctx) -> None:
    iam.RoleHandler().ensure(ctx, spec_of(ctx, "role.codepipeline"))
    ctx.state.put(Record("bucket.artifacts", "artifact_bucket", BUCKET, outputs={"name": BUCKET}))


def ensure(ctx: Ctx) -> Outcome:
    return PipelineHandler().ensure(ctx, spec_of(ctx, "pipeline"))


def ensure_webhook(ctx: Ctx) -> Outcome:
    return WebhookHandler().ensure(ctx, spec_of(ctx, "webhook"))


def cp() -> Any:
    return boto3.client("codepipeline", region_name=REGION)


def stored_pipeline() -> dict[str, Any]:
    """What the emulator holds (unmasked), to see what we sent."""
    return dict(codepipeline_backends[ACCOUNT][REGION].pipelines[STACK].pipeline)


def actions(p: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s["actions"][0] for s in p["stages"]}


def webhook_item() -> dict[str, Any]:
    return next(w for w in cp().list_webhooks()["webhooks"] if w["definition"]["name"] == WEBHOOK)


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


def test_differences_ignore_the_masked_token_and_aws_defaults() -> None:
    want = declare(cfg_with(), None)
    have = declare(cfg_with(), "****")
    for stage in have["stages"]:
        stage["actions"][0].pop("runOrder")
        stage["actions"][0]["region"] = REGION
    have["version"] = 3
    assert codepipeline.declaration_differences(want, have) == []
    have["stages"][2]["actions"][0]["configuration"]["FileName"] = "x.json"
    assert codepipeline.declaration_differences(want, have) == [
        "Deploy/Deploy FileName: 'x.json' -> 'imagedefinitions.json'"
    ]


# --- pipeline on the emulator ----------------------------------------------------------------
def test_creates_the_pipeline(ctx: Ctx) -> None:
    prepare(ctx)
    out = ensure(ctx)
    assert out.action == "create" and out.physical_id == STACK
    resp = cp().get_pipeline(name=STACK)
    p = resp["pipeline"]
    assert p["roleArn"] == ctx.out("role.codepipeline", "arn")
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
    tags = {
        t["key"]: t["value"]
        for t in cp().list_tags_for_resource(resourceArn=resp["metadata"]["pipelineArn"])["tags"]
    }
    assert tags["ecs-cicd:stack"] == STACK and tags["ecs-cicd:id"] == "pipeline"
    rec = ctx.state.get("pipeline")
    assert rec is not None and rec.arn == resp["metadata"]["pipelineArn"]
    assert set(rec.outputs) == {"created"}
    datetime.fromisoformat(rec.outputs["created"])
    # AWS (and the emulator) start the first execution on create; we start none ourselves.
    assert "codepipeline:StartPipelineExecution" not in ctx.aws.stats.mutating
    assert len(cp().list_pipeline_executions(pipelineName=STACK)["pipelineExecutionSummaries"]) == 1


def test_second_ensure_makes_no_mutating_call(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)
    created = ctx.out("pipeline", "created")
    before = ctx.aws.stats.mutating_total
    out = ensure(ctx)
    assert out.action == "unchanged" and out.changes == []
    assert ctx.aws.stats.mutating_total == before
    assert ctx.out("pipeline", "created") == created


def test_adopts_after_a_lost_record(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)
    ctx.state.remove("pipeline")
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx).action == "adopt"
    assert ctx.aws.stats.mutating_total == before
    assert [p["name"] for p in cp().list_pipelines()["pipelines"]] == [STACK]
    datetime.fromisoformat(ctx.out("pipeline", "created"))


def test_plan_of_a_new_pipeline(ctx: Ctx) -> None:
    prepare(ctx)
    ctx.dry_run = True
    before = ctx.aws.stats.mutating_total
    out = ensure(ctx)
    assert out.action == "create" and out.changes == [
        "source github my-github-user/test-codepipeline",
        "deploy rolling",
    ]
    assert ctx.aws.stats.mutating_total == before


def test_converges_a_hand_edited_stage_and_restores_the_token(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)
    p = cp().get_pipeline(name=STACK)["pipeline"]
    actions(p)["Deploy"]["configuration"]["FileName"] = "other.json"
    cp().update_pipeline(pipeline=p)  # sends back the masked token, as a console edit would
    assert actions(stored_pipeline())["Source"]["configuration"]["OAuthToken"] == "****"

    ctx.dry_run = True
    before = ctx.aws.stats.mutating_total
    planned = ensure(ctx)
    assert planned.action == "update"
    assert planned.changes == ["Deploy/Deploy FileName: 'other.json' -> 'imagedefinitions.json'"]
    assert ctx.aws.stats.mutating_total == before

    ctx.dry_run = False
    out = ensure(ctx)
    assert out.action == "update" and out.changes == planned.changes
    stored = actions(stored_pipeline())
    assert stored["Deploy"]["configuration"]["FileName"] == "imagedefinitions.json"
    assert stored["Source"]["configuration"]["OAuthToken"] == TOKEN
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx).action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_restores_a_removed_stage(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)
    p = cp().get_pipeline(name=STACK)["pipeline"]
    p["stages"] = p["stages"][:2]
    cp().update_pipeline(pipeline=p)
    out = ensure(ctx)
    assert out.changes == ["stages: ['Source', 'Build'] -> ['Source', 'Build', 'Deploy']"]
    assert [s["name"] for s in stored_pipeline()["stages"]] == ["Source", "Build", "Deploy"]


def test_follows_a_config_change(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)
    data = example()
    data["pipeline"]["source"]["branch"] = "release"
    ctx.cfg = parse_config(data, check_env=False)
    out = ensure(ctx)
    assert out.action == "update" and out.changes == ["Source/Source Branch: 'master' -> 'release'"]
    assert actions(stored_pipeline())["Source"]["configuration"]["Branch"] == "release"


def test_create_retries_role_propagation(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare(ctx)
    err = client_error("InvalidStructureException", ROLE_LAG, "CreatePipeline")
    calls = inject(monkeypatch, ctx.client("codepipeline"), "create_pipeline", [err, err])
    assert ensure(ctx).action == "create"
    assert len(calls) == 3


def test_other_invalid_structure_fails_at_once(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare(ctx)
    err = client_error(
        "InvalidStructureException", "ArtifactStore location is not valid", "CreatePipeline"
    )
    calls = inject(monkeypatch, ctx.client("codepipeline"), "create_pipeline", [err])
    with pytest.raises(AwsError, match="InvalidStructureException") as e:
        ensure(ctx)
    assert len(calls) == 1 and TOKEN not in str(e.value)
    assert ctx.state.get("pipeline") is None


def test_pipeline_created_meanwhile_is_adopted(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare(ctx)
    ensure(ctx)
    ctx.state.remove("pipeline")
    c = ctx.client("codepipeline")
    real = c.get_pipeline
    misses = [client_error("PipelineNotFoundException", "no pipeline", "GetPipeline")]
    inject(monkeypatch, c, "get_pipeline", misses)
    in_use = client_error("PipelineNameInUseException", f"{STACK} is in use", "CreatePipeline")
    inject(monkeypatch, c, "create_pipeline", [in_use])
    assert ensure(ctx).action == "adopt"
    assert real(name=STACK)["pipeline"]["name"] == STACK


def test_missing_token_is_a_config_error(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare(ctx)
    monkeypatch.delenv("GITHUB_TOKEN")
    with pytest.raises(ConfigError, match="GITHUB_TOKEN is not set"):
        ensure(ctx)


def test_delete_and_delete_again(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)
    rec = ctx.state.get("pipeline")
    assert rec is not None
    assert PipelineHandler().delete(ctx, rec).action == "delete"
    assert cp().list_pipelines()["pipelines"] == []
    assert PipelineHandler().delete(ctx, rec).action == "gone"


# --- webhook ---------------------------------------------------------------------------------
def with_pipeline(ctx: Ctx) -> None:
    prepare(ctx)
    ensure(ctx)


def registered() -> bool:
    return bool(webhook_records(codepipeline_backends[ACCOUNT][REGION])[WEBHOOK]["_registered"])


def test_creates_and_registers_the_webhook(ctx: Ctx) -> None:
    with_pipeline(ctx)
    out = ensure_webhook(ctx)
    assert out.action == "create"
    item = webhook_item()
    d = item["definition"]
    assert d["targetPipeline"] == STACK and d["targetAction"] == "Source"
    assert d["filters"] == [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}]
    assert d["authentication"] == "GITHUB_HMAC"
    assert registered()
    tags = {
        t["key"]: t["value"] for t in cp().list_tags_for_resource(resourceArn=item["arn"])["tags"]
    }
    assert tags["ecs-cicd:id"] == "webhook"
    rec = ctx.state.get("webhook")
    assert rec is not None and rec.arn == item["arn"]
    assert rec.outputs == {"url": item["url"], "registered": True}
    assert ctx.aws.stats.mutating["codepipeline:RegisterWebhookWithThirdParty"] == 1


def test_second_up_leaves_the_webhook_and_its_secret_alone(ctx: Ctx) -> None:
    with_pipeline(ctx)
    ensure_webhook(ctx)
    before = ctx.aws.stats.mutating_total
    out = ensure_webhook(ctx)
    assert out.action == "unchanged" and out.changes == []
    assert ctx.aws.stats.mutating_total == before


def test_adopting_a_registered_webhook_changes_nothing(ctx: Ctx) -> None:
    # State lost after a complete up: the registration tag says GitHub has the hook.
    with_pipeline(ctx)
    ensure_webhook(ctx)
    ctx.state.remove("webhook")
    before = ctx.aws.stats.mutating_total
    out = ensure_webhook(ctx)
    assert out.action == "adopt" and out.changes == []
    assert ctx.aws.stats.mutating_total == before
    rec = ctx.state.get("webhook")
    assert rec is not None and rec.outputs["registered"] is True


def test_adopt_registers_once_more_without_a_second_webhook(ctx: Ctx) -> None:
    # A crash between PutWebhook and RegisterWebhookWithThirdParty: no registration tag.
    with_pipeline(ctx)
    ensure_webhook(ctx)
    arn = webhook_item()["arn"]
    cp().untag_resource(resourceArn=arn, tagKeys=["ecs-cicd:registered"])
    ctx.state.remove("webhook")
    puts = ctx.aws.stats.mutating["codepipeline:PutWebhook"]
    out = ensure_webhook(ctx)
    assert out.action == "adopt" and out.changes == ["register with GitHub"]
    assert ctx.aws.stats.mutating["codepipeline:PutWebhook"] == puts
    assert ctx.aws.stats.mutating["codepipeline:DeregisterWebhookWithThirdParty"] == 1
    assert registered()
    assert len(cp().list_webhooks()["webhooks"]) == 1
    before = ctx.aws.stats.mutating_total
    assert ensure_webhook(ctx).action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_a_changed_webhook_gets_a_new_secret_and_registration(ctx: Ctx) -> None:
    with_pipeline(ctx)
    ensure_webhook(ctx)
    d = dict(webhook_item()["definition"])
    d["filters"] = [{"jsonPath": "$.ref", "matchEquals": "refs/heads/other"}]
    d["authenticationConfiguration"] = {"SecretToken": "by-hand"}
    cp().put_webhook(webhook=d)

    ctx.dry_run = True
    before = ctx.aws.stats.mutating_total
    planned = ensure_webhook(ctx)
    assert planned.action == "update" and ctx.aws.stats.mutating_total == before

    ctx.dry_run = False
    out = ensure_webhook(ctx)
    assert out.action == "update" and out.changes == planned.changes
    assert out.changes[-1] == "new secret, registered again with GitHub"
    assert webhook_item()["definition"]["filters"] == [
        {"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}
    ]
    stored = webhook_records(codepipeline_backends[ACCOUNT][REGION])[WEBHOOK]
    assert stored["definition"]["authenticationConfiguration"]["SecretToken"] not in (
        "by-hand",
        "****",
    )
    assert registered()


def test_webhook_delete_deregisters_then_deletes(ctx: Ctx) -> None:
    with_pipeline(ctx)
    ensure_webhook(ctx)
    rec = ctx.state.get("webhook")
    assert rec is not None
    assert WebhookHandler().delete(ctx, rec).action == "delete"
    assert ctx.aws.stats.mutating["codepipeline:DeregisterWebhookWithThirdParty"] == 1
    assert cp().list_webhooks()["webhooks"] == []
    assert WebhookHandler().delete(ctx, rec).action == "gone"


def test_webhook_delete_survives_a_failed_deregistration(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_pipeline(ctx)
    ensure_webhook(ctx)
    logged: list[str] = []
    ctx.log = logged.append
    err = client_error(
        "ValidationException", "GitHub said: Bad credentials", "DeregisterWebhookWithThirdParty"
    )
    inject(monkeypatch, ctx.client("codepipeline"), "deregister_webhook_with_third_party", [err])
    rec = ctx.state.get("webhook")
    assert rec is not None
    out = WebhookHandler().delete(ctx, rec)
    assert out.action == "delete"
    assert (
        "GitHub hook not removed (ValidationException: GitHub said: Bad credentials)"
        in out.changes[0]
    )
    assert logged and "GitHub hook not removed" in logged[0]
    assert cp().list_webhooks()["webhooks"] == []


# --- secrets ---------------------------------------------------------------------------------
def test_secrets_appear_nowhere_but_in_aws(
    ctx: Ctx,
    tmp_path: Path,
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
    outcomes = []
    prepare(ctx)
    outcomes.append(ensure(ctx))
    outcomes.append(ensure_webhook(ctx))
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
    outcomes += [ensure(ctx), ensure_webhook(ctx)]
    err = client_error("InvalidStructureException", "bad action configuration", "UpdatePipeline")
    inject(monkeypatch, ctx.client("codepipeline"), "update_pipeline", [err])
    cp().update_pipeline(pipeline=p)
    with pytest.raises(AwsError) as failed:
        ensure(ctx)
    for lid in ("webhook", "pipeline"):
        rec = ctx.state.get(lid)
        assert rec is not None
        outcomes.append(
            (WebhookHandler() if lid == "webhook" else PipelineHandler()).delete(ctx, rec)
        )

    assert len(generated) == 2 and all(len(g) == 64 for g in generated)
    assert actions(p)["Source"]["configuration"]["OAuthToken"] == "****"
    captured = capsys.readouterr()
    state_text = ctx.state.path.read_text()
    places = {
        "state file": state_text,
        "outcomes": repr(outcomes),
        "error": str(failed.value) + repr(failed.value.__dict__),
        "ctx.log": "\n".join(logged),
        "logs": caplog.text,
        "stdout/stderr": captured.out + captured.err,
    }
    assert "botocore" in caplog.text  # DEBUG logging really was on
    for secret in [TOKEN, *generated]:
        for where, text in places.items():
            assert secret not in text, f"a secret leaked into the {where}"
