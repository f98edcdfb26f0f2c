"""CodePipeline: executions CreatePipeline starts, pipeline state, action executions, webhooks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.emulator import codepipeline as cp_patch
from ecs_cicd.emulator import webhooks
from tests.unit.emulator.emulator_helpers import (
    ACCOUNT,
    REGION,
    call_checked,
    create_project,
    make_role,
)

TOKEN = "ghp_secret_token_value"


def _pipeline(role_arn: str, name: str = "shop-dev") -> dict[str, Any]:
    return {
        "name": name,
        "roleArn": role_arn,
        "artifactStore": {"type": "S3", "location": "shop-dev-artifacts"},
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Source",
                        "actionTypeId": {
                            "category": "Source",
                            "owner": "ThirdParty",
                            "provider": "GitHub",
                            "version": "1",
                        },
                        "configuration": {
                            "Owner": "me",
                            "Repo": "shop",
                            "Branch": "main",
                            "OAuthToken": TOKEN,
                            "PollForSourceChanges": "false",
                        },
                        "outputArtifacts": [{"name": "src"}],
                    }
                ],
            },
            {
                "name": "Build",
                "actions": [
                    {
                        "name": "Build",
                        "actionTypeId": {
                            "category": "Build",
                            "owner": "AWS",
                            "provider": "CodeBuild",
                            "version": "1",
                        },
                        "configuration": {"ProjectName": "shop-dev"},
                        "inputArtifacts": [{"name": "src"}],
                        "outputArtifacts": [{"name": "bld"}],
                    }
                ],
            },
            {
                "name": "Deploy",
                "actions": [
                    {
                        "name": "Deploy",
                        "actionTypeId": {
                            "category": "Deploy",
                            "owner": "AWS",
                            "provider": "ECS",
                            "version": "1",
                        },
                        "configuration": {"ClusterName": "c", "ServiceName": "s"},
                        "inputArtifacts": [{"name": "bld"}],
                    }
                ],
            },
        ],
    }


@pytest.fixture
def cp(aws: Any) -> Any:
    return aws("codepipeline")


@pytest.fixture
def pipeline(aws: Any, cp: Any) -> dict[str, Any]:
    role = make_role(aws("iam"), "cp-role", "codepipeline.amazonaws.com")
    declaration = _pipeline(role)
    cp.create_pipeline(pipeline=declaration)
    return declaration


def test_create_pipeline_starts_exactly_one_execution_that_succeeds(
    cp: Any, pipeline: dict[str, Any]
) -> None:
    summaries = call_checked(cp, "list_pipeline_executions", pipelineName="shop-dev")[
        "pipelineExecutionSummaries"
    ]
    assert len(summaries) == 1
    assert summaries[0]["status"] == "Succeeded"
    assert summaries[0]["trigger"]["triggerType"] == "CreatePipeline"
    execution = call_checked(
        cp,
        "get_pipeline_execution",
        pipelineName="shop-dev",
        pipelineExecutionId=summaries[0]["pipelineExecutionId"],
    )["pipelineExecution"]
    assert execution["status"] == "Succeeded"
    assert execution["pipelineVersion"] == 1


def test_update_pipeline_starts_no_execution_start_pipeline_execution_does(
    cp: Any, pipeline: dict[str, Any]
) -> None:
    cp.update_pipeline(pipeline=pipeline)
    assert (
        len(cp.list_pipeline_executions(pipelineName="shop-dev")["pipelineExecutionSummaries"]) == 1
    )
    started = call_checked(cp, "start_pipeline_execution", name="shop-dev")["pipelineExecutionId"]
    summaries = cp.list_pipeline_executions(pipelineName="shop-dev")["pipelineExecutionSummaries"]
    assert summaries[0]["pipelineExecutionId"] == started  # newest first
    assert len(summaries) == 2
    assert summaries[0]["trigger"]["triggerType"] == "StartPipelineExecution"


def test_pipeline_state_reports_every_stage_of_the_latest_execution(
    cp: Any, pipeline: dict[str, Any]
) -> None:
    state = call_checked(cp, "get_pipeline_state", name="shop-dev")
    execution_id = cp.list_pipeline_executions(pipelineName="shop-dev")[
        "pipelineExecutionSummaries"
    ][0]["pipelineExecutionId"]
    assert [s["stageName"] for s in state["stageStates"]] == ["Source", "Build", "Deploy"]
    for stage in state["stageStates"]:
        assert stage["latestExecution"] == {
            "pipelineExecutionId": execution_id,
            "status": "Succeeded",
        }
        [action] = stage["actionStates"]
        assert action["latestExecution"]["status"] == "Succeeded"
    assert state["pipelineVersion"] == 1


def test_execution_progresses_over_the_configured_seconds(
    cp: Any, pipeline: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(cp_patch, "now", lambda: clock[0])
    monkeypatch.setenv(cp_patch.PIPELINE_SECONDS_ENV, "30")
    execution_id = cp.start_pipeline_execution(name="shop-dev")["pipelineExecutionId"]

    def stage_statuses() -> list[str | None]:
        stages = cp.get_pipeline_state(name="shop-dev")["stageStates"]
        return [
            s.get("latestExecution", {}).get("status")
            if s.get("latestExecution", {}).get("pipelineExecutionId") == execution_id
            else None
            for s in stages
        ]

    def status() -> str:
        return str(
            cp.get_pipeline_execution(pipelineName="shop-dev", pipelineExecutionId=execution_id)[
                "pipelineExecution"
            ]["status"]
        )

    clock[0] = 1005.0
    assert status() == "InProgress"
    assert stage_statuses() == ["InProgress", None, None]
    clock[0] = 1015.0
    assert stage_statuses() == ["Succeeded", "InProgress", None]
    clock[0] = 1031.0
    assert status() == "Succeeded"
    assert stage_statuses() == ["Succeeded", "Succeeded", "Succeeded"]


def test_failed_execution_is_reported_with_aws_error_details(
    cp: Any, pipeline: dict[str, Any]
) -> None:
    cp_patch.fail_next_execution("Build", "Build failed: exit status 1", code="JobFailed")
    execution_id = cp.start_pipeline_execution(name="shop-dev")["pipelineExecutionId"]
    execution = cp.get_pipeline_execution(
        pipelineName="shop-dev", pipelineExecutionId=execution_id
    )["pipelineExecution"]
    assert execution["status"] == "Failed"
    assert execution["statusSummary"] == "Build failed: exit status 1"

    stages = {s["stageName"]: s for s in cp.get_pipeline_state(name="shop-dev")["stageStates"]}
    assert stages["Build"]["latestExecution"]["status"] == "Failed"
    build_action = stages["Build"]["actionStates"][0]["latestExecution"]
    assert build_action["errorDetails"] == {
        "code": "JobFailed",
        "message": "Build failed: exit status 1",
    }
    # Deploy never ran in the failed execution: its latest is still the first (successful) one.
    assert stages["Deploy"]["latestExecution"]["pipelineExecutionId"] != execution_id

    details = call_checked(
        cp,
        "list_action_executions",
        pipelineName="shop-dev",
        filter={"pipelineExecutionId": execution_id},
    )["actionExecutionDetails"]
    assert [(d["stageName"], d["status"]) for d in details] == [
        ("Build", "Failed"),
        ("Source", "Succeeded"),
    ]
    assert details[0]["output"]["executionResult"]["errorDetails"]["message"] == (
        "Build failed: exit status 1"
    )
    assert details[1]["input"]["configuration"]["OAuthToken"] == "****"
    # The failure was used up: the next execution succeeds.
    next_id = cp.start_pipeline_execution(name="shop-dev")["pipelineExecutionId"]
    assert (
        cp.get_pipeline_execution(pipelineName="shop-dev", pipelineExecutionId=next_id)[
            "pipelineExecution"
        ]["status"]
        == "Succeeded"
    )


def test_codebuild_action_starts_a_build_of_its_project(aws: Any, cp: Any) -> None:
    iam = aws("iam")
    codebuild = aws("codebuild")
    create_project(codebuild, make_role(iam, "cb-role", "codebuild.amazonaws.com"))
    cp.create_pipeline(pipeline=_pipeline(make_role(iam, "cp-role", "codepipeline.amazonaws.com")))
    stages = {s["stageName"]: s for s in cp.get_pipeline_state(name="shop-dev")["stageStates"]}
    build_id = stages["Build"]["actionStates"][0]["latestExecution"]["externalExecutionId"]
    [build] = codebuild.batch_get_builds(ids=[build_id])["builds"]
    assert build["projectName"] == "shop-dev"


def test_get_pipeline_masks_the_oauth_token(cp: Any, pipeline: dict[str, Any]) -> None:
    got = cp.get_pipeline(name="shop-dev")["pipeline"]
    assert got["stages"][0]["actions"][0]["configuration"]["OAuthToken"] == "****"
    updated = cp.update_pipeline(pipeline=pipeline)["pipeline"]
    assert updated["stages"][0]["actions"][0]["configuration"]["OAuthToken"] == "****"
    assert TOKEN not in json.dumps(cp.list_action_executions(pipelineName="shop-dev"), default=str)


def test_deleted_pipeline_has_no_executions(cp: Any, pipeline: dict[str, Any]) -> None:
    execution_id = cp.list_pipeline_executions(pipelineName="shop-dev")[
        "pipelineExecutionSummaries"
    ][0]["pipelineExecutionId"]
    cp.delete_pipeline(name="shop-dev")
    with pytest.raises(ClientError) as err:
        cp.get_pipeline_execution(pipelineName="shop-dev", pipelineExecutionId=execution_id)
    assert err.value.response["Error"]["Code"] == "PipelineNotFoundException"


def test_unknown_execution_id(cp: Any, pipeline: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as err:
        cp.get_pipeline_execution(pipelineName="shop-dev", pipelineExecutionId="nope")
    assert err.value.response["Error"]["Code"] == "PipelineExecutionNotFoundException"


WEBHOOK = {
    "name": "shop-dev-github",
    "targetPipeline": "shop-dev",
    "targetAction": "Source",
    "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}],
    "authentication": "GITHUB_HMAC",
    "authenticationConfiguration": {"SecretToken": "hmac-secret"},
}


def test_webhook_round_trip(cp: Any, pipeline: dict[str, Any]) -> None:
    put = call_checked(
        cp, "put_webhook", webhook=WEBHOOK, tags=[{"key": "ecs-cicd:stack", "value": "shop-dev"}]
    )["webhook"]
    assert put["arn"] == f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:webhook:shop-dev-github"
    assert put["url"].startswith(f"https://{REGION}.webhooks.aws/trigger?t=")
    listed = call_checked(cp, "list_webhooks")["webhooks"]
    assert [w["definition"]["name"] for w in listed] == ["shop-dev-github"]
    assert listed[0]["url"] == put["url"]
    assert listed[0]["definition"]["filters"] == WEBHOOK["filters"]
    # AWS redacts the secret token in every response.
    assert "hmac-secret" not in json.dumps([put, listed], default=str)
    assert cp.list_tags_for_resource(resourceArn=put["arn"])["tags"] == [
        {"key": "ecs-cicd:stack", "value": "shop-dev"}
    ]
    cp.tag_resource(resourceArn=put["arn"], tags=[{"key": "registered", "value": "true"}])
    cp.untag_resource(resourceArn=put["arn"], tagKeys=["ecs-cicd:stack"])
    assert cp.list_tags_for_resource(resourceArn=put["arn"])["tags"] == [
        {"key": "registered", "value": "true"}
    ]
    with pytest.raises(ClientError) as err:
        cp.tag_resource(resourceArn=put["arn"] + "x", tags=[{"key": "a", "value": "b"}])
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"

    cp.register_webhook_with_third_party(webhookName="shop-dev-github")
    records = webhooks.webhook_records(_backend())
    assert records["shop-dev-github"]["_registered"] is True
    cp.deregister_webhook_with_third_party(webhookName="shop-dev-github")
    assert records["shop-dev-github"]["_registered"] is False

    # PutWebhook again updates in place and keeps the URL.
    changed = dict(WEBHOOK, filters=[{"jsonPath": "$.ref", "matchEquals": "refs/heads/dev"}])
    again = cp.put_webhook(webhook=changed)["webhook"]
    assert again["url"] == put["url"]
    assert len(cp.list_webhooks()["webhooks"]) == 1

    cp.delete_webhook(name="shop-dev-github")
    assert cp.list_webhooks()["webhooks"] == []
    cp.delete_webhook(name="shop-dev-github")  # unknown name: success, like AWS


def _backend() -> Any:
    from moto.codepipeline.models import codepipeline_backends

    return codepipeline_backends[ACCOUNT][REGION]


def test_webhook_refusals(cp: Any, pipeline: dict[str, Any]) -> None:
    cases = [
        (dict(WEBHOOK, targetPipeline="nope"), "PipelineNotFoundException"),
        (
            dict(WEBHOOK, authenticationConfiguration={}),
            "InvalidWebhookAuthenticationParametersException",
        ),
        (dict(WEBHOOK, filters=[{"jsonPath": "ref"}]), "InvalidWebhookFilterPatternException"),
    ]
    for webhook, code in cases:
        with pytest.raises(ClientError) as err:
            cp.put_webhook(webhook=webhook)
        assert err.value.response["Error"]["Code"] == code
    for method in ("register_webhook_with_third_party", "deregister_webhook_with_third_party"):
        with pytest.raises(ClientError) as err:
            getattr(cp, method)(webhookName="nope")
        assert err.value.response["Error"]["Code"] == "WebhookNotFoundException"
