"""What `deploy`, `logs` and `rollback` read from the emulator: tasks' awslogs streams, builds a
pipeline runs (status, phases, log), FilterLogEvents' logStreamNamePrefix, ListBuildsForProject's
order, DescribeTaskDefinition of a family."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.codebuild.models import codebuild_backends

from ecs_cicd.emulator import codebuild as cb_patch
from ecs_cicd.emulator import codepipeline as cp_patch
from ecs_cicd.emulator._util import now
from tests.unit.emulator.emulator_helpers import (
    ACCOUNT,
    REGION,
    call_checked,
    create_project,
    make_role,
)
from tests.unit.emulator.test_emulator_codepipeline import _pipeline

GROUP = "/ecs/shop-dev"


def _taskdef(ecs: Any, image: str = "repo/app:1") -> str:
    containers = [
        {
            "name": name,
            "image": img,
            "memory": 128,
            "portMappings": [{"containerPort": port}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": GROUP,
                    "awslogs-region": "ap-northeast-1",
                    "awslogs-stream-prefix": name,
                },
            },
        }
        for name, img, port in (("nginx", "nginx:stable", 80), ("app", image, 5000))
    ]
    td = ecs.register_task_definition(
        family="shop-dev", containerDefinitions=containers, networkMode="awsvpc"
    )["taskDefinition"]
    return str(td["taskDefinitionArn"])


def _service(aws: Any, count: int = 2) -> tuple[Any, Any]:
    ecs, logs = aws("ecs"), aws("logs")
    logs.create_log_group(logGroupName=GROUP)
    ecs.create_cluster(clusterName="shop")
    ecs.create_service(
        cluster="shop",
        serviceName="web",
        taskDefinition=_taskdef(ecs),
        desiredCount=count,
        launchType="FARGATE",
    )
    return ecs, logs


def test_running_tasks_write_to_their_containers_awslogs_streams(aws: Any) -> None:
    ecs, logs = _service(aws, count=2)
    streams = [
        s["logStreamName"] for s in logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    ]
    # prefix/container/task id: two tasks x two containers
    assert len(streams) == 4
    assert {s.split("/")[0] for s in streams} == {"nginx", "app"}
    assert all(s.split("/")[0] == s.split("/")[1] and len(s.split("/")[2]) == 32 for s in streams)
    events = logs.filter_log_events(logGroupName=GROUP)["events"]
    nginx = [e["message"] for e in events if e["logStreamName"].startswith("nginx/")]
    app = [e["message"] for e in events if e["logStreamName"].startswith("app/")]
    assert any('"GET /health HTTP/1.1" 200' in m for m in nginx)
    assert any("Running on http://0.0.0.0:5000" in m for m in app)
    # A new deployment's tasks log to new streams; the old ones stay.
    ecs.update_service(cluster="shop", service="web", taskDefinition=_taskdef(ecs, "repo/app:2"))
    after = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert len(after) == 8
    assert any(
        "repo/app:2" in e["message"] for e in logs.filter_log_events(logGroupName=GROUP)["events"]
    )


def test_no_log_group_no_logs(aws: Any) -> None:
    ecs = aws("ecs")
    ecs.create_cluster(clusterName="shop")
    ecs.create_service(
        cluster="shop", serviceName="web", taskDefinition=_taskdef(ecs), desiredCount=1
    )
    with pytest.raises(ClientError):
        aws("logs").describe_log_streams(logGroupName=GROUP)


def test_filter_log_events_honours_the_stream_prefix(aws: Any) -> None:
    _ecs, logs = _service(aws, count=1)
    got = call_checked(
        logs, "filter_log_events", logGroupName=GROUP, logStreamNamePrefix="app/app/"
    )
    assert got["events"] and all(e["logStreamName"].startswith("app/app/") for e in got["events"])
    none = logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix="worker/")
    assert none["events"] == []
    quoted = logs.filter_log_events(
        logGroupName=GROUP, logStreamNamePrefix="app/", filterPattern='"Running on"'
    )["events"]
    assert [e["message"] for e in quoted] == [" * Running on http://0.0.0.0:5000"]


def _pipeline_with_project(aws: Any) -> tuple[Any, Any]:
    iam, codebuild, cp = aws("iam"), aws("codebuild"), aws("codepipeline")
    create_project(
        codebuild,
        make_role(iam, "cb-role", "codebuild.amazonaws.com"),
        logsConfig={
            "cloudWatchLogs": {
                "status": "ENABLED",
                "groupName": "/aws/codebuild/shop-dev",
                "streamName": "build",
            }
        },
    )
    cp.create_pipeline(pipeline=_pipeline(make_role(iam, "cp-role", "codepipeline.amazonaws.com")))
    return codebuild, cp


def _build_of(cp: Any, execution_id: str) -> str:
    details = cp.list_action_executions(
        pipelineName="shop-dev", filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    build = next(d for d in details if d["stageName"] == "Build")
    return str(build["output"]["executionResult"]["externalExecutionId"])


def test_a_pipeline_build_succeeds_with_phases_and_a_log(aws: Any) -> None:
    codebuild, cp = _pipeline_with_project(aws)
    execution = cp.start_pipeline_execution(name="shop-dev")["pipelineExecutionId"]
    build_id = _build_of(cp, execution)
    [build] = call_checked(codebuild, "batch_get_builds", ids=[build_id])["builds"]
    assert build["buildStatus"] == "SUCCEEDED" and build["currentPhase"] == "COMPLETED"
    phases = [(p["phaseType"], p.get("phaseStatus")) for p in build["phases"]]
    assert ("BUILD", "SUCCEEDED") in phases and phases[-1] == ("COMPLETED", None)
    logs = build["logs"]
    assert logs["groupName"] == "/aws/codebuild/shop-dev"
    assert logs["streamName"] == f"build/{build_id.split(':', 1)[1]}"
    lines = [
        e["message"]
        for e in aws("logs").get_log_events(
            logGroupName=logs["groupName"], logStreamName=logs["streamName"], startFromHead=True
        )["events"]
    ]
    assert "[Container] Phase complete: BUILD State: SUCCEEDED" in lines
    # Newest first, as AWS lists them by default.
    ids = codebuild.list_builds_for_project(projectName="shop-dev")["ids"]
    assert ids[0] == build_id and len(ids) == 2


def test_a_pipeline_made_to_fail_at_build_fails_its_build(aws: Any) -> None:
    codebuild, cp = _pipeline_with_project(aws)
    cp_patch.fail_next_execution(
        "Build", "Error while executing command: docker build. Reason: exit status 1"
    )
    execution = cp.start_pipeline_execution(name="shop-dev")["pipelineExecutionId"]
    [build] = codebuild.batch_get_builds(ids=[_build_of(cp, execution)])["builds"]
    assert build["buildStatus"] == "FAILED"
    failed = next(p for p in build["phases"] if p["phaseType"] == "BUILD")
    assert failed["phaseStatus"] == "FAILED"
    assert failed["contexts"][0]["statusCode"] == "COMMAND_EXECUTION_ERROR"
    lines = [
        e["message"]
        for e in aws("logs").get_log_events(
            logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"]
        )["events"]
    ]
    assert "[Container] Phase complete: BUILD State: FAILED" in lines
    assert any("exit status 1" in line for line in lines)


def test_build_in_progress_follows_the_clock(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cp_patch.PIPELINE_SECONDS_ENV, "300")
    codebuild, cp = _pipeline_with_project(aws)
    cp.start_pipeline_execution(name="shop-dev")
    # The Build stage is the second of three: its build runs during [100s, 200s) from now.
    ids = codebuild.list_builds_for_project(projectName="shop-dev")["ids"]
    [build] = codebuild.batch_get_builds(ids=ids[:1])["builds"]
    assert build["buildStatus"] == "IN_PROGRESS" and not build["buildComplete"]
    assert [p["phaseType"] for p in build["phases"]] == []
    plans = cb_patch._plans(codebuild_backends[ACCOUNT][REGION])
    assert plans[ids[0]]["end"] - plans[ids[0]]["start"] == pytest.approx(100, abs=1)
    assert plans[ids[0]]["start"] > now() + 90


def test_describe_task_definition_of_a_family_is_its_latest_active_revision(aws: Any) -> None:
    ecs = aws("ecs")
    first, second = _taskdef(ecs), _taskdef(ecs, "repo/app:2")
    assert (
        ecs.describe_task_definition(taskDefinition="shop-dev")["taskDefinition"]["revision"] == 2
    )
    ecs.deregister_task_definition(taskDefinition=second)
    assert (
        ecs.describe_task_definition(taskDefinition="shop-dev")["taskDefinition"]["revision"] == 1
    )
    # A revision by number is described whatever its status.
    got = ecs.describe_task_definition(taskDefinition=second)["taskDefinition"]
    assert got["status"] == "INACTIVE"
    ecs.deregister_task_definition(taskDefinition=first)
    with pytest.raises(ClientError) as err:
        ecs.describe_task_definition(taskDefinition="shop-dev")
    assert err.value.response["Error"]["Code"] == "ClientException"


def test_start_pipeline_execution_deploys_the_builds_images_to_the_service(aws: Any) -> None:
    ecs = aws("ecs")
    aws("logs").create_log_group(logGroupName=GROUP)
    uri = aws("ecr").create_repository(repositoryName="shop-dev/app")["repository"]["repositoryUri"]
    ecs.create_cluster(clusterName="c")
    first = _taskdef(ecs)
    ecs.create_service(cluster="c", serviceName="s", taskDefinition=first, desiredCount=1)
    _codebuild, cp = _pipeline_with_project(aws)  # its Deploy action targets c/s
    # The execution CreatePipeline started deployed nothing.
    assert (
        ecs.describe_services(cluster="c", services=["s"])["services"][0]["taskDefinition"] == first
    )
    execution = cp.start_pipeline_execution(name="shop-dev")["pipelineExecutionId"]
    svc = ecs.describe_services(cluster="c", services=["s"])["services"][0]
    assert svc["taskDefinition"].endswith("task-definition/shop-dev:2")
    assert svc["deployments"][0]["taskDefinition"] == svc["taskDefinition"]
    got = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"], include=["TAGS"])
    images = {c["name"]: c["image"] for c in got["taskDefinition"]["containerDefinitions"]}
    assert images == {"nginx": "nginx:stable", "app": f"{uri}:{execution[:8]}"}
    assert got.get("tags", []) == []  # as the ECS deploy action registers it
    # A failed build deploys nothing.
    cp_patch.fail_next_execution("Build", "exit status 1")
    cp.start_pipeline_execution(name="shop-dev")
    again = ecs.describe_services(cluster="c", services=["s"])["services"][0]
    assert again["taskDefinition"] == svc["taskDefinition"]
