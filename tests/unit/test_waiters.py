"""Waiters: follow the deployment `up` started; fail fast on FAILED with AWS's reasons; notice a
circuit-breaker rollback that botocore's services_stable would call success; MISSING is 'not yet';
pipeline failures name the stage and action."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from ecs_cicd import waiters
from ecs_cicd.errors import DeploymentFailed, WaitTimeout
from ecs_cicd.lifecycle import Ctx


class FakeEcs:
    def __init__(self, responses: list[dict[str, Any]] | Iterator[dict[str, Any]]) -> None:
        self.responses: Iterator[dict[str, Any]] = iter(responses)
        self.calls = 0

    def describe_services(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        return next(self.responses)

    def list_tasks(self, **_: Any) -> dict[str, Any]:
        return {"taskArns": ["arn:aws:ecs:r:1:task/c/abc"]}

    def describe_tasks(self, **_: Any) -> dict[str, Any]:
        return {
            "tasks": [
                {
                    "taskArn": "arn:aws:ecs:r:1:task/c/abc",
                    "stoppedReason": "Essential container in task exited",
                    "containers": [
                        {"name": "app", "reason": "CannotPullContainerError: not found"}
                    ],
                }
            ]
        }


def svc(*deps: dict[str, Any], desired: int = 1, events: list[str] | None = None) -> dict[str, Any]:
    return {
        "services": [
            {
                "desiredCount": desired,
                "deployments": list(deps),
                "events": [{"id": str(i), "message": m} for i, m in enumerate(events or [])],
            }
        ]
    }


def dep(
    id_: str, status: str, rollout: str, running: int = 1, desired: int = 1, reason: str = ""
) -> dict[str, Any]:
    return {
        "id": id_,
        "status": status,
        "rolloutState": rollout,
        "runningCount": running,
        "desiredCount": desired,
        "rolloutStateReason": reason,
    }


@pytest.fixture
def wctx(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> Ctx:
    logs: list[str] = []
    ctx.log = logs.append
    ctx.logs = logs  # type: ignore[attr-defined]
    return ctx


def use(ctx: Ctx, monkeypatch: pytest.MonkeyPatch, fake: Any) -> None:
    monkeypatch.setattr(ctx, "client", lambda service: fake)


def test_succeeds_when_our_deployment_completes(wctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeEcs(
        [
            {"services": [], "failures": [{"reason": "MISSING"}]},
            svc(
                dep("ecs-svc/new", "PRIMARY", "IN_PROGRESS", 0),
                dep("ecs-svc/old", "ACTIVE", "COMPLETED"),
            ),
            svc(dep("ecs-svc/new", "PRIMARY", "COMPLETED", 1)),
        ]
    )
    use(wctx, monkeypatch, fake)
    waiters.wait_for_service(wctx, "c", "s", "ecs-svc/new")
    assert fake.calls == 3
    assert any("IN_PROGRESS" in line for line in wctx.logs)  # type: ignore[attr-defined]


def test_a_steady_service_the_run_already_read_needs_no_call(
    wctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`up` left the service unchanged and its examination saw it steady: the first check uses
    that read; one still deploying is polled as before."""
    steady = svc(dep("ecs-svc/a", "PRIMARY", "COMPLETED", 1))["services"][0]
    fake = FakeEcs([])
    use(wctx, monkeypatch, fake)
    assert waiters.wait_for_service(wctx, "c", "s", "ecs-svc/a", read=steady) == steady
    assert fake.calls == 0
    deploying = svc(dep("ecs-svc/a", "PRIMARY", "IN_PROGRESS", 0))["services"][0]
    fake = FakeEcs([svc(dep("ecs-svc/a", "PRIMARY", "COMPLETED", 1))])
    use(wctx, monkeypatch, fake)
    waiters.wait_for_service(wctx, "c", "s", "ecs-svc/a", read=deploying)
    assert fake.calls == 1


def test_an_active_load_balancer_the_run_already_read_needs_no_call(
    wctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FakeElb:
        calls = 0

        def describe_load_balancers(self, **_: Any) -> dict[str, Any]:
            self.calls += 1
            return {"LoadBalancers": [{"State": {"Code": "active"}}]}

    fake = FakeElb()
    use(wctx, monkeypatch, fake)
    waiters.wait_for_load_balancer(wctx, "arn", read={"State": {"Code": "active"}})
    assert fake.calls == 0
    waiters.wait_for_load_balancer(wctx, "arn", read={"State": {"Code": "provisioning"}})
    assert fake.calls == 1
    waiters.wait_for_load_balancer(wctx, "arn")
    assert fake.calls == 2


def test_failed_rollout_fails_at_once_with_reasons(
    wctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeEcs(
        [
            svc(
                dep(
                    "ecs-svc/new",
                    "PRIMARY",
                    "FAILED",
                    0,
                    reason="ECS deployment circuit breaker: tasks failed to start.",
                ),
                events=["(service s) has started 1 tasks", "(service s) deployment failed"],
            )
        ]
    )
    use(wctx, monkeypatch, fake)
    with pytest.raises(DeploymentFailed) as e:
        waiters.wait_for_service(wctx, "c", "s", "ecs-svc/new")
    msg = str(e.value)
    assert (
        "circuit breaker" in msg
        and "deployment failed" in msg
        and "CannotPullContainerError" in msg
    )
    assert fake.calls == 1


def test_rollback_is_a_failure_not_steady_state(wctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    # After a circuit-breaker rollback the old deployment is the only PRIMARY, running == desired:
    # botocore's services_stable calls that success (AWS-BEHAVIOUR.md).
    fake = FakeEcs([svc(dep("ecs-svc/old", "PRIMARY", "COMPLETED", 1))])
    use(wctx, monkeypatch, fake)
    with pytest.raises(DeploymentFailed, match="replaced"):
        waiters.wait_for_service(wctx, "c", "s", "ecs-svc/new")


def test_deadline_gives_last_seen_state(wctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeEcs(itertools.repeat(svc(dep("ecs-svc/new", "PRIMARY", "IN_PROGRESS", 0))))
    use(wctx, monkeypatch, fake)
    wctx.deadlines = {"service": 0.05}
    with pytest.raises(WaitTimeout, match="IN_PROGRESS, running 0/1"):
        waiters.wait_for_service(wctx, "c", "s", "ecs-svc/new")


class FakePipeline:
    def __init__(self, status: str) -> None:
        self.status = status

    def list_pipeline_executions(self, **_: Any) -> dict[str, Any]:
        return {
            "pipelineExecutionSummaries": [
                {"pipelineExecutionId": "e-123456789", "status": self.status}
            ]
        }

    def get_pipeline_state(self, **_: Any) -> dict[str, Any]:
        return {
            "stageStates": [
                {
                    "stageName": "Source",
                    "actionStates": [
                        {"actionName": "Source", "latestExecution": {"status": "Succeeded"}}
                    ],
                },
                {
                    "stageName": "Build",
                    "actionStates": [
                        {
                            "actionName": "Build",
                            "latestExecution": {
                                "status": "Failed",
                                "errorDetails": {"message": "Build terminated with state: FAILED"},
                                "externalExecutionId": "proj:build-1",
                            },
                        }
                    ],
                },
            ]
        }

    def batch_get_builds(self, **_: Any) -> dict[str, Any]:
        return {"builds": [{"logs": {"groupName": "/aws/codebuild/proj", "streamName": "build/1"}}]}


def test_pipeline_failure_names_stage_action_build_and_log(
    wctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(wctx, monkeypatch, FakePipeline("Failed"))
    with pytest.raises(DeploymentFailed) as e:
        waiters.wait_for_pipeline(wctx, "p")
    msg = str(e.value)
    assert (
        "stage Build, action Build" in msg
        and "FAILED" in msg
        and "proj:build-1" in msg
        and "/aws/codebuild/proj" in msg
    )


def test_pipeline_success(wctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    use(wctx, monkeypatch, FakePipeline("Succeeded"))
    assert waiters.wait_for_pipeline(wctx, "p")["status"] == "Succeeded"


@pytest.mark.parametrize(("waited", "bound"), [(0.0, 1.0), (5.0, 1.0), (60.0, 6.0), (300.0, 30.0)])
def test_a_change_is_noticed_within_a_tenth_of_the_time_waited(waited: float, bound: float) -> None:
    from tenacity import RetryCallState

    wait = waiters.cadence(1.0, 0.1)
    state = RetryCallState(None, None, (), {})
    state.outcome_timestamp = state.start_time + waited  # a poll `waited` seconds in
    pauses = [wait(state) for _ in range(200)]
    assert max(pauses) <= bound + 0.05 and min(pauses) >= bound / 2 - 0.05
    assert len({round(p, 3) for p in pauses}) > 1  # jittered: parallel waits do not poll in step


def test_cadence_cap_bounds_long_waits() -> None:
    from tenacity import RetryCallState

    state = RetryCallState(None, None, (), {})
    state.outcome_timestamp = state.start_time + 1000
    assert max(waiters.cadence(1.0, 0.1, cap=15)(state) for _ in range(50)) <= 15
