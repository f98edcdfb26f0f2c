"""The deploy follower and the hot-fix / rollback roll-out, on recorded API answers (no AWS)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ecs_cicd import release
from ecs_cicd.errors import DeploymentFailed, UsageError

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
BUILD_ID = "shop-dev-build:1b2c3d4e-0000-0000-0000-000000000000"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def action(
    stage: str,
    status: str,
    start: float,
    end: float,
    provider: str,
    external: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if external:
        result["externalExecutionId"] = external
    if error:
        result["errorDetails"] = {"code": "JobFailed", "message": error}
    return {
        "stageName": stage,
        "actionName": stage,
        "status": status,
        "startTime": at(start),
        "lastUpdateTime": at(end),
        "input": {"actionTypeId": {"provider": provider}},
        "output": {"executionResult": result},
    }


def phases(*done: str, current: str | None = None, failed: str | None = None) -> dict[str, Any]:
    out: list[dict[str, Any]] = [
        {"phaseType": p, "phaseStatus": "SUCCEEDED", "durationInSeconds": 3} for p in done
    ]
    if failed:
        out.append(
            {
                "phaseType": failed,
                "phaseStatus": "FAILED",
                "durationInSeconds": 41,
                "contexts": [
                    {"statusCode": "COMMAND_EXECUTION_ERROR", "message": "docker build: exit 1"}
                ],
            }
        )
    if current:
        out.append({"phaseType": current})
    return {
        "id": BUILD_ID,
        "phases": out,
        "logs": {"groupName": "/aws/codebuild/x", "streamName": "build/1b2c"},
    }


# A failing run, as ListActionExecutions (newest first) and BatchGetBuilds answered it, poll by poll.
EXECUTION = "e0e1e2e3-aaaa-bbbb-cccc-000000000000"
FAILING_RUN: list[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]] = [
    (
        {"pipelineExecutionId": EXECUTION, "status": "InProgress"},
        [action("Source", "InProgress", 0, 1, "GitHub")],
        None,
    ),
    (
        {"pipelineExecutionId": EXECUTION, "status": "InProgress"},
        [
            action("Build", "InProgress", 5, 20, "CodeBuild", BUILD_ID),
            action("Source", "Succeeded", 0, 5, "GitHub"),
        ],
        phases("SUBMITTED", "QUEUED", current="BUILD"),
    ),
    (
        {"pipelineExecutionId": EXECUTION, "status": "InProgress"},
        [
            action("Build", "InProgress", 5, 30, "CodeBuild", BUILD_ID),
            action("Source", "Succeeded", 0, 5, "GitHub"),
        ],
        phases("SUBMITTED", "QUEUED", current="BUILD"),
    ),
    (
        {"pipelineExecutionId": EXECUTION, "status": "Failed", "statusSummary": "Build failed"},
        [
            action(
                "Build",
                "Failed",
                5,
                95,
                "CodeBuild",
                BUILD_ID,
                error="Build terminated with state: FAILED",
            ),
            action("Source", "Succeeded", 0, 5, "GitHub"),
        ],
        phases("SUBMITTED", "QUEUED", failed="BUILD"),
    ),
]


def test_follower_reports_each_change_once_with_durations() -> None:
    follower = release.PipelineFollower("ap-northeast-1", "123456789012")
    polls = [
        follower.observe(
            ex, release.action_views(details, now=at(40)), {BUILD_ID: build} if build else {}
        )
        for ex, details, build in FAILING_RUN
    ]
    assert polls[0] == ["execution e0e1e2e3: InProgress", "  Source / Source: InProgress"]
    assert polls[1][0] == "  Source / Source: Succeeded (5s)"
    assert polls[1][1] == "  Build / Build: InProgress"
    assert polls[1][2].startswith(
        f"    build {BUILD_ID}: https://ap-northeast-1.console.aws.amazon.com/codesuite/codebuild/123456789012/projects/shop-dev-build/build/shop-dev-build%3A1b2c"
    )
    assert (
        polls[1][3] == "    phases: SUBMITTED SUCCEEDED 3s, QUEUED SUCCEEDED 3s, BUILD IN_PROGRESS"
    )
    assert polls[2] == []  # nothing changed: nothing said
    assert polls[3] == [
        "execution e0e1e2e3: Failed",
        "  Build / Build: Failed (1m30s)",
        "    phases: BUILD FAILED 41s",
    ]


def test_action_views_keep_the_pipeline_order_for_actions_started_together() -> None:
    details = [
        action("Deploy", "Succeeded", 0, 0, "ECS"),
        action("Build", "Succeeded", 0, 0, "CodeBuild"),
        action("Source", "Succeeded", 0, 0, "GitHub"),
    ]
    assert [a.stage for a in release.action_views(details)] == ["Source", "Build", "Deploy"]


def test_failure_message_names_the_action_aws_message_phase_and_log_tail() -> None:
    ex, details, build = FAILING_RUN[-1]
    msg = release.failure_message(
        "shop-dev",
        ex,
        release.action_views(details),
        build,
        ["Step 3/6 : RUN pip install", "exit code: 1"],
    )
    assert msg.splitlines() == [
        f"pipeline shop-dev: execution {EXECUTION} Failed at Build / Build: Build terminated with state: FAILED",
        f"  build {BUILD_ID}: phase BUILD FAILED (COMMAND_EXECUTION_ERROR: docker build: exit 1)",
        "  last 2 line(s) of the build log:",
        "    | Step 3/6 : RUN pip install",
        "    | exit code: 1",
    ]


# --- follow_execution against scripted clients -----------------------------------------------
class Scripted:
    """A client whose methods answer from queues (the last answer repeats)."""

    def __init__(self, **answers: Any) -> None:
        self.answers = {k: list(v) if isinstance(v, list) else [v] for k, v in answers.items()}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        if name not in self.answers:
            raise AttributeError(name)

        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            queue = self.answers[name]
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            if isinstance(answer, Exception):
                raise answer
            return answer

        return call


class Target:
    account = "123456789012"
    region = "ap-northeast-1"


class FakeCtx:
    def __init__(self, **clients: Scripted) -> None:
        self.clients = clients
        self.lines: list[str] = []
        self.cancel = threading.Event()
        self.target = Target()
        self.region = "ap-northeast-1"

    def client(self, name: str) -> Scripted:
        return self.clients[name]

    def log(self, line: str) -> None:
        self.lines.append(line)

    def emit(self, event: Any) -> None:
        # The waiters report through structured events; as text, as the library's log= gets them.
        from ecs_cicd.progress import TextEvents

        TextEvents(self.log)(event)

    def status(self, key: str, text: str) -> None:
        from ecs_cicd.progress import WaitStatus

        self.emit(WaitStatus(key=key, text=text))

    def note(self, text: str, *, source: str = "", level: str = "info") -> None:
        from ecs_cicd.progress import Note

        self.emit(Note(text=text, source=source, level=level))

    def sleep(self, _seconds: float) -> None:
        return None

    def deadline(self, name: str) -> float:
        return {"poll_min": 0.0, "poll_fraction": 0.0}.get(name, 60.0)


def _pipeline_client(run: list[Any]) -> Scripted:
    return Scripted(
        get_pipeline_execution=[{"pipelineExecution": ex} for ex, _d, _b in run],
        list_action_executions=[{"actionExecutionDetails": d} for _e, d, _b in run],
    )


def test_follow_execution_fails_with_the_action_message_and_the_build_log_tail() -> None:
    builds = [{"builds": [b]} for _e, _d, b in FAILING_RUN if b] + [
        {"builds": [FAILING_RUN[-1][2]]}
    ]
    log_lines = [{"message": f"line {i}\n"} for i in range(release.LOG_TAIL)]
    ctx = FakeCtx(
        codepipeline=_pipeline_client(FAILING_RUN),
        codebuild=Scripted(batch_get_builds=builds),
        logs=Scripted(get_log_events={"events": log_lines}),
    )
    with pytest.raises(DeploymentFailed) as err:
        release.follow_execution(ctx, "shop-dev", EXECUTION, timeout=30)  # type: ignore[arg-type]
    text = str(err.value)
    assert (
        f"execution {EXECUTION} Failed at Build / Build: Build terminated with state: FAILED"
        in text
    )
    assert "phase BUILD FAILED (COMMAND_EXECUTION_ERROR: docker build: exit 1)" in text
    assert f"    | line {release.LOG_TAIL - 1}" in text
    assert "codesuite/codepipeline/pipelines/shop-dev/executions/" in text  # the hint: console link
    # The tail was asked for as the last LOG_TAIL lines of the build's own stream.
    _name, kwargs = ctx.clients["logs"].calls[-1]
    assert kwargs == {
        "logGroupName": "/aws/codebuild/x",
        "logStreamName": "build/1b2c",
        "startFromHead": False,
        "limit": release.LOG_TAIL,
    }
    assert "  Build / Build: Failed (1m30s)" in ctx.lines


def test_follow_execution_succeeds_showing_the_deployment_the_deploy_action_makes() -> None:
    source_done = action("Source", "Succeeded", 0, 9, "GitHub")
    deploying = action("Deploy", "InProgress", 9, 20, "ECS")
    run = [
        (
            {"pipelineExecutionId": EXECUTION, "status": "InProgress"},
            [action("Source", "InProgress", 0, 1, "GitHub")],
            None,
        ),
        (
            {"pipelineExecutionId": EXECUTION, "status": "InProgress"},
            [deploying, source_done],
            None,
        ),
        (
            {"pipelineExecutionId": EXECUTION, "status": "InProgress"},
            [deploying, source_done],
            None,
        ),
        (
            {"pipelineExecutionId": EXECUTION, "status": "InProgress"},
            [deploying, source_done],
            None,
        ),
        (
            {"pipelineExecutionId": EXECUTION, "status": "Succeeded"},
            [action("Deploy", "Succeeded", 9, 70, "ECS"), source_done],
            None,
        ),
    ]
    td = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/shop:5"

    def dep(state: str, running: int) -> dict[str, Any]:
        return {
            "id": "ecs-svc/9",
            "taskDefinition": td,
            "rolloutState": state,
            "runningCount": running,
            "desiredCount": 1,
        }

    ctx = FakeCtx(
        codepipeline=_pipeline_client(run),
        codebuild=Scripted(batch_get_builds={"builds": []}),
        ecs=Scripted(
            describe_services=[
                _svc([dep("IN_PROGRESS", 0)]),
                _svc([dep("IN_PROGRESS", 0)]),
                _svc([dep("COMPLETED", 1)]),
            ]
        ),
    )
    out = release.follow_execution(  # type: ignore[arg-type]
        ctx, "shop-dev", EXECUTION, timeout=30, service=("c", "web")
    )
    assert out["status"] == "Succeeded"
    assert [a["stage"] for a in out["actions"]] == ["Source", "Deploy"]
    assert ctx.lines[-5:] == [
        "  Deploy / Deploy: InProgress",
        "    service web: deployment ecs-svc/9 of shop:5 IN_PROGRESS, running 0/1",
        "    service web: deployment ecs-svc/9 of shop:5 COMPLETED, running 1/1",
        "execution e0e1e2e3: Succeeded",
        "  Deploy / Deploy: Succeeded (1m01s)",
    ]


def test_a_failed_ecs_deploy_action_says_why_the_tasks_did_not_run() -> None:
    run = [
        (
            {"pipelineExecutionId": EXECUTION, "status": "Failed"},
            [
                action("Deploy", "Failed", 9, 600, "ECS", error="Deployment ecs-svc/9 failed"),
                action("Source", "Succeeded", 0, 9, "GitHub"),
            ],
            None,
        )
    ]
    ctx = FakeCtx(
        codepipeline=_pipeline_client(run),
        codebuild=Scripted(batch_get_builds={"builds": []}),
        ecs=Scripted(
            describe_services=_svc([], ("(service web) deployment ecs-svc/9 failed.",)),
            list_tasks={"taskArns": ["arn:aws:ecs:r:1:task/c/f00d"]},
            describe_tasks={
                "tasks": [
                    {
                        "taskArn": "arn:aws:ecs:r:1:task/c/f00d",
                        "stoppedReason": "Task failed ELB health checks",
                    }
                ]
            },
        ),
    )
    with pytest.raises(DeploymentFailed) as err:
        release.follow_execution(  # type: ignore[arg-type]
            ctx, "shop-dev", EXECUTION, timeout=30, service=("c", "web")
        )
    lines = str(err.value).splitlines()
    assert lines[0].endswith("Failed at Deploy / Deploy: Deployment ecs-svc/9 failed")
    assert "  service event: (service web) deployment ecs-svc/9 failed." in lines
    assert any(
        line.startswith("  stopped task f00d: Task failed ELB health checks") for line in lines
    )


# --- deploy --image / rollback: the roll-out -------------------------------------------------
def _svc(deployments: list[dict[str, Any]], events: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "services": [
            {
                "serviceName": "web",
                "desiredCount": 1,
                "deployments": deployments,
                "events": [{"id": str(i), "message": m} for i, m in enumerate(events)],
            }
        ]
    }


def test_roll_fails_when_the_circuit_breaker_rolls_the_new_deployment_back() -> None:
    new = {
        "id": "ecs-svc/new",
        "status": "PRIMARY",
        "rolloutState": "IN_PROGRESS",
        "runningCount": 0,
        "desiredCount": 1,
    }
    old = {
        "id": "ecs-svc/old",
        "status": "PRIMARY",
        "rolloutState": "COMPLETED",
        "runningCount": 1,
        "desiredCount": 1,
    }
    ecs = Scripted(
        update_service={"service": {"deployments": [new, dict(old, status="ACTIVE")]}},
        describe_services=[
            _svc([new, dict(old, status="ACTIVE")]),
            _svc([old], ("(service web) deployment ecs-svc/new deployment failed: tasks failed.",)),
        ],
        list_tasks={"taskArns": ["arn:aws:ecs:r:1:task/c/abc123"]},
        describe_tasks={
            "tasks": [
                {
                    "taskArn": "arn:aws:ecs:r:1:task/c/abc123",
                    "stoppedReason": "Essential container in task exited",
                    "containers": [
                        {"name": "app", "reason": "CannotPullContainerError: repo/app:v2 not found"}
                    ],
                }
            ]
        },
    )
    ctx = FakeCtx(ecs=ecs)
    svc = {"deploymentController": {"type": "ECS"}}
    arn = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/shop-dev:7"
    with pytest.raises(DeploymentFailed) as err:
        release._roll(ctx, None, "c", "web", svc, arn, "deploy --image", wait=True)  # type: ignore[arg-type]
    text = str(err.value)
    assert "rolled back or superseded" in text
    assert "CannotPullContainerError: repo/app:v2 not found" in text
    assert ecs.calls[0] == (
        "update_service",
        {"cluster": "c", "service": "web", "taskDefinition": arn},
    )
    assert "service web: deployment ecs-svc/new of shop-dev:7 started" in ctx.lines


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("repo/app:v2", ("app", "repo/app:v2")),
        ("nginx=nginx:1.27", ("nginx", "nginx:1.27")),
        (
            "123.dkr.ecr.ap-northeast-1.amazonaws.com/shop/app@sha256:ab",
            ("app", "123.dkr.ecr.ap-northeast-1.amazonaws.com/shop/app@sha256:ab"),
        ),
    ],
)
def test_parse_image(spec: str, want: tuple[str, str]) -> None:
    assert release.parse_image(spec, ["nginx", "app"], "app") == want


@pytest.mark.parametrize("spec", ["worker=repo:1", "app=", "app=has space"])
def test_parse_image_refuses(spec: str) -> None:
    with pytest.raises(UsageError):
        release.parse_image(spec, ["nginx", "app"], "app")


def test_previous_revision_is_the_active_one_just_before() -> None:
    arns = [f"arn:aws:ecs:r:1:task-definition/f:{n}" for n in (1, 3, 10, 12)]
    assert release.previous_revision(arns, arns[3]) == arns[2]  # 10 < 12, not lexical
    assert release.previous_revision(arns, arns[1]) == arns[0]
    assert release.previous_revision(arns, arns[0]) is None


def test_console_links() -> None:
    assert release.pipeline_link("eu-west-1", "p") == (
        "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/p/view?region=eu-west-1"
    )
    assert release.service_link("eu-west-1", "c", "s").endswith(
        "/ecs/v2/clusters/c/services/s/deployments?region=eu-west-1"
    )
