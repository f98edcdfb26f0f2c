"""Live progress: the waiters emit structured events (status on change, service events once,
stopped tasks' reasons), and the reporter renders recorded event sequences — success and
failures — live with rich on a terminal, as plain timestamped lines elsewhere or with NO_COLOR,
and only failures with --quiet."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from ecs_cicd import waiters
from ecs_cicd.errors import DeploymentFailed
from ecs_cicd.lifecycle import Ctx
from ecs_cicd.progress import (
    Event,
    Note,
    Recorder,
    ResourceFinished,
    ResourceStarted,
    TextEvents,
    WaitFinished,
    WaitStarted,
    WaitStatus,
    union_length,
)
from ecs_cicd.reporter import Reporter, wants_live
from tests.unit.test_waiters import FakeEcs, FakePipeline, dep

T0 = 1000.0
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def at(seconds: float) -> float:
    return T0 + seconds


# --- recorded event sequences ----------------------------------------------------------------
def successful_up() -> list[Event]:
    return [
        ResourceStarted(resource="vpc", kind="vpc", action="create", at=at(0.1)),
        ResourceFinished(
            resource="vpc",
            kind="vpc",
            action="create",
            seconds=0.4,
            physical_id="vpc-123",
            changes=("cidr 10.0.0.0/16",),
            calls=(("ec2:CreateVpc", 1), ("ec2:ModifyVpcAttribute", 2)),
            at=at(0.5),
        ),
        ResourceStarted(resource="logs.app", kind="log_group", action="unchanged", at=at(0.1)),
        ResourceFinished(
            resource="logs.app", kind="log_group", action="unchanged", seconds=0.1, at=at(0.2)
        ),
        ResourceStarted(resource="alb", kind="load_balancer", action="create", at=at(0.5)),
        ResourceFinished(
            resource="alb", kind="load_balancer", action="create", seconds=0.3, at=at(0.8)
        ),
        WaitStarted(
            resource="alb", key="load balancer", what="the load balancer to become active", at=at(1)
        ),
        WaitStatus(resource="alb", key="load balancer", text="provisioning", at=at(1.1)),
        WaitStatus(resource="alb", key="load balancer", text="provisioning", at=at(20)),
        WaitStarted(resource="service", key="service", what="ECS service s", at=at(1)),
        WaitStatus(resource="service", key="service", text="IN_PROGRESS, running 0/1", at=at(2)),
        Note(resource="service", source="service event", text="has started 1 tasks", at=at(30)),
        Note(resource="service", level="detail", text="DescribeServices x12", at=at(31)),
        WaitStatus(resource="alb", key="load balancer", text="active", at=at(60)),
        WaitFinished(resource="alb", key="load balancer", seconds=59.0, at=at(60)),
        WaitStatus(resource="service", key="service", text="COMPLETED, running 1/1", at=at(75)),
        WaitFinished(resource="service", key="service", seconds=74.0, at=at(75)),
    ]


def failed_up() -> list[Event]:
    return [
        ResourceStarted(resource="codebuild", kind="codebuild", action="create", at=at(1)),
        ResourceFinished(
            resource="codebuild",
            kind="codebuild",
            action="failed",
            seconds=0.7,
            error="Creating CodeBuild project p: AWS said InvalidInputException: bad buildspec",
            at=at(1.7),
        ),
        WaitStarted(resource="service", key="service", what="ECS service s", at=at(2)),
        WaitStatus(resource="service", key="service", text="IN_PROGRESS, running 0/1", at=at(3)),
        Note(
            resource="service",
            source="stopped task",
            level="warn",
            text="task abc: Essential container in task exited; app: CannotPullContainerError",
            at=at(40),
        ),
        WaitFinished(
            resource="service",
            key="service",
            ok=False,
            seconds=50.0,
            error="ECS service s: deployment failed: circuit breaker: tasks failed to start",
            at=at(52),
        ),
        WaitStarted(resource="pipeline", key="pipeline", what="pipeline p", at=at(2)),
        WaitStatus(
            resource="pipeline",
            key="pipeline",
            text="execution e-1 InProgress: Source Succeeded, Build InProgress [Build InProgress]",
            at=at(10),
        ),
        WaitFinished(
            resource="pipeline",
            key="pipeline",
            ok=False,
            seconds=60.0,
            error="pipeline p: execution e-1 Failed at stage Build, action Build: exit status 1",
            at=at(62),
        ),
    ]


def play(reporter: Reporter, events: list[Event]) -> None:
    with reporter:
        for e in events:
            reporter(e)


def plain(events: list[Event], **kw: Any) -> list[str]:
    out = io.StringIO()
    r = Reporter(plain=out, clock=lambda: T0, **kw)
    play(r, events)
    return out.getvalue().splitlines()


def live(events: list[Event], **kw: Any) -> tuple[Reporter, str]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140, color_system="standard")
    r = Reporter(console, clock=lambda: T0, refresh_per_second=50, **kw)
    play(r, events)
    return r, out.getvalue()


# --- plain -----------------------------------------------------------------------------------
def test_plain_lines_are_timestamped_and_say_each_change_once() -> None:
    lines = plain(successful_up())
    assert all(re.match(r"^\[ *\d+\.\ds\] ", line) for line in lines), lines
    assert "[   0.5s] create    vpc vpc-123 (cidr 10.0.0.0/16) [0.4s]" in lines
    assert "[   0.2s] unchanged logs.app [0.1s]" in lines
    # "provisioning" was seen twice: said once; each new status once, in order.
    statuses = [line.split("] ", 1)[1] for line in lines if "load balancer:" in line]
    assert statuses == [
        "load balancer: provisioning",
        "load balancer: active",
        "load balancer: done after 59.0s (alb)",
    ]
    assert "[  30.0s] service event: has started 1 tasks" in lines
    assert not any("DescribeServices" in line for line in lines)  # detail: -v only
    assert not any(line.split("] ", 1)[1].startswith("start ") for line in lines)


def test_plain_failures_name_the_resource_the_stopped_tasks_and_the_failed_action() -> None:
    lines = plain(failed_up())
    text = "\n".join(lines)
    assert (
        "[   1.7s] failed    codebuild [0.7s]: Creating CodeBuild project p: AWS said "
        "InvalidInputException: bad buildspec" in lines
    )
    assert "stopped task: task abc: Essential container in task exited" in text
    assert "service: stopped after 50.0s: ECS service s: deployment failed: circuit breaker" in text
    assert "Build InProgress [Build InProgress]" in text
    assert "pipeline: stopped after 60.0s: pipeline p: execution e-1 Failed at stage Build" in text


def test_quiet_shows_only_failures() -> None:
    assert plain(successful_up(), quiet=True) == []
    lines = [line.split("] ", 1)[1] for line in plain(failed_up(), quiet=True)]
    assert [line.split(":")[0] for line in lines] == [
        "failed    codebuild [0.7s]",
        "service",
        "pipeline",
    ]


def test_verbose_adds_starts_calls_per_operation_and_details() -> None:
    lines = plain(successful_up(), verbose=True)
    assert "[   0.1s] start     vpc (create)" in lines
    vpc = next(line for line in lines if "create    vpc" in line)
    assert vpc.endswith("3 call(s): ec2:CreateVpc, ec2:ModifyVpcAttribute x2")
    assert any("DescribeServices x12" in line for line in lines)


# --- rich ------------------------------------------------------------------------------------
def test_rich_prints_a_line_per_resource_and_keeps_waits_in_the_live_area() -> None:
    _, raw = live(successful_up())
    assert "\x1b[" in raw  # styled, on a "terminal"
    text = ANSI.sub("", raw)
    assert re.search(r"create +vpc vpc-123 \(cidr 10\.0\.0\.0/16\)  0\.4s", text)
    assert re.search(r"unchanged +logs\.app +0\.1s", text)
    assert "service event: has started 1 tasks" in text
    # Wait statuses are redrawn in place, not printed line by line; the end keeps the last word.
    assert "load balancer: active after 59.0s (alb)" in text
    assert "service: COMPLETED, running 1/1 after 74.0s (service)" in text
    assert "DescribeServices" not in text


def test_rich_live_area_shows_running_work_and_the_latest_status_of_each_wait() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140)
    now = {"t": at(25)}
    reporter = Reporter(console, clock=lambda: now["t"])
    for e in successful_up()[:10]:  # up to the service's wait starting
        reporter(e)
    reporter(ResourceStarted(resource="pipeline", kind="pipeline", action="create", at=at(24)))
    reporter(WaitStatus(resource="service", key="service", text="IN_PROGRESS, running 0/1"))
    view = io.StringIO()
    Console(file=view, width=140).print(reporter.status_view())
    reporter.close()
    shown = view.getvalue()
    assert "load balancer: provisioning" in shown and "24s" in shown
    assert "service: IN_PROGRESS, running 0/1" in shown
    assert "create pipeline" in shown and "1s" in shown
    assert "3 resource(s) done" in shown


def test_rich_failures() -> None:
    _, raw = live(failed_up())
    text = ANSI.sub("", raw)
    assert re.search(r"failed +codebuild: Creating CodeBuild project p: .*bad buildspec", text)
    assert "stopped task: task abc: Essential container in task exited" in text
    assert "service: stopped after 50.0s: ECS service s: deployment failed" in text
    assert "pipeline: stopped after 60.0s: pipeline p: execution e-1 Failed at stage Build" in text


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_live_unless_no_color_or_dumb() -> None:
    assert wants_live(Tty(), env={})
    assert not wants_live(io.StringIO(), env={})
    assert not wants_live(Tty(), env={"NO_COLOR": "1"})
    assert wants_live(Tty(), env={"NO_COLOR": ""})  # no-color.org: set and not empty
    assert not wants_live(Tty(), env={"TERM": "dumb"})
    assert Reporter.for_stream(Tty(), env={}).console is not None
    stream = Tty()
    reporter = Reporter.for_stream(stream, env={"NO_COLOR": "1"})
    assert reporter.console is None
    play(reporter, successful_up())
    assert "\x1b" not in stream.getvalue() and "create    vpc" in stream.getvalue()


# --- the library's log= callback, and what the waiters emit ----------------------------------
def test_library_log_gets_the_same_lines_without_details() -> None:
    lines: list[str] = []
    sink = TextEvents(lines.append)
    for e in successful_up():
        sink(e)
    assert "create    vpc vpc-123 (cidr 10.0.0.0/16) [0.4s]" in lines
    assert "load balancer: active" in lines
    assert not any("DescribeServices" in line or "done after" in line for line in lines)


def test_service_events_are_shown_once_even_when_ecs_repeats_them() -> None:
    dedup = waiters.EventDedup()
    first = [{"id": str(i), "message": f"m{i}"} for i in range(9, -1, -1)]  # newest first
    assert dedup.new(first) == ["m5", "m6", "m7", "m8", "m9"]  # the newest five, oldest first
    assert dedup.new(first) == []
    again = [
        {"id": "12", "message": "reached a steady state"},
        {"id": "11", "message": "reached a steady state"},
        {"id": "10", "message": "m9"},
        *first,
    ]
    assert dedup.new(again) == ["reached a steady state"]
    assert dedup.new([{"id": "13", "message": "reached a steady state"}, *again]) == []
    assert dedup.new([{"id": "14", "message": "stopped 1 task"}, *again]) == ["stopped 1 task"]


@pytest.fixture
def events(ctx: Ctx) -> Iterator[list[Event]]:
    got: list[Event] = []
    ctx.emit = got.append
    yield got


def service(deployment: dict[str, Any], events: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "services": [
            {
                "desiredCount": 1,
                "deployments": [deployment],
                "events": [{"id": i, "message": m} for i, m in events],
            }
        ]
    }


def test_service_wait_reports_changes_new_events_and_stopped_tasks(
    ctx: Ctx, events: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = dep("d", "PRIMARY", "IN_PROGRESS", 0)
    fake = FakeEcs(
        [
            service(failing, [("1", "has started 1 tasks")]),
            service(failing, [("1", "has started 1 tasks")]),
            service({**failing, "failedTasks": 1}, [("2", "has stopped 1 tasks"), ("1", "x")]),
            service(
                {**failing, "failedTasks": 1, "rolloutState": "FAILED", "rolloutStateReason": "cb"},
                [("2", "has stopped 1 tasks"), ("1", "x")],
            ),
        ]
    )
    monkeypatch.setattr(ctx, "client", lambda _s: fake)
    with pytest.raises(DeploymentFailed, match="CannotPullContainerError"):
        waiters.wait_for_service(ctx, "c", "s", "d")
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "WaitStarted" and kinds[-1] == "WaitFinished"
    statuses = [e.text for e in events if isinstance(e, WaitStatus)]
    # Each status once, though the first one was seen twice.
    assert statuses == [
        "IN_PROGRESS, running 0/1, 1 deployment(s)",
        "FAILED, running 0/1, 1 deployment(s)",
    ]
    notes = [(e.source, e.text) for e in events if isinstance(e, Note)]
    assert notes == [
        ("service event", "has started 1 tasks"),
        ("service event", "has stopped 1 tasks"),
        (
            "stopped task",
            "task abc: Essential container in task exited; app: CannotPullContainerError: not found",
        ),
    ]
    end = events[-1]
    assert isinstance(end, WaitFinished) and not end.ok and "deployment failed: cb" in end.error


def test_pipeline_wait_reports_stage_and_action_states(
    ctx: Ctx, events: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakePipeline("InProgress")
    monkeypatch.setattr(ctx, "client", lambda _s: fake)
    polls = iter(["InProgress", "InProgress", "InProgress", "Failed"])
    stages = iter(["InProgress", "Failed", "Failed", "Failed", "Failed"])

    def state(**_: Any) -> dict[str, Any]:
        got = FakePipeline.get_pipeline_state(fake)
        build = next(stages)
        got["stageStates"][0]["latestExecution"] = {"status": "Succeeded"}
        got["stageStates"][1]["latestExecution"] = {"status": build}
        got["stageStates"][1]["actionStates"][0]["latestExecution"]["status"] = build
        return got

    def list_executions(**_: Any) -> dict[str, Any]:
        fake.status = next(polls)
        return FakePipeline.list_pipeline_executions(fake)

    monkeypatch.setattr(fake, "list_pipeline_executions", list_executions)
    monkeypatch.setattr(fake, "get_pipeline_state", state)
    with pytest.raises(DeploymentFailed, match="stage Build, action Build"):
        waiters.wait_for_pipeline(ctx, "p")
    statuses = [e.text for e in events if isinstance(e, WaitStatus)]
    assert statuses == [
        "execution e-123456 InProgress: Source Succeeded, Build InProgress [Build InProgress]",
        "execution e-123456 InProgress: Source Succeeded, Build Failed [Build Failed]",
        "execution e-123456 Failed",
    ]


def test_recorder_keeps_spans_and_waiting_time() -> None:
    rec = Recorder(T0)
    for e in successful_up():
        rec(e)
    assert rec.spans["vpc"].started == pytest.approx(0.1)
    assert rec.spans["vpc"].finished == pytest.approx(0.5)
    assert rec.spans["alb"].waits == [(pytest.approx(1.0), pytest.approx(60.0))]
    # The ALB's and the service's waits overlap: 1 s to 75 s is waiting, not 59 + 74.
    assert rec.waiting_seconds() == pytest.approx(74.0)
    assert union_length([(0, 2), (1, 3), (5, 6), (5.5, 5.7)]) == pytest.approx(4.0)


def test_aws_refusing_for_a_while_is_reported_as_one_wait_of_the_resource() -> None:
    from botocore.exceptions import ClientError

    from ecs_cicd.aws import retry_on
    from ecs_cicd.progress import resource_scope

    got: list[Event] = []
    answers = iter([True, True, False])

    def call() -> str:
        if next(answers):
            raise ClientError({"Error": {"Code": "DependencyViolation"}}, "DeleteSubnet")
        return "deleted"

    with resource_scope("subnet.public.0", got.append):
        assert (
            retry_on(
                call, codes=("DependencyViolation",), fragment=None, deadline=60, sleep=no_sleep
            )
            == "deleted"
        )
        assert retry_on(lambda: "at once", codes=("X",), fragment=None, deadline=1) == "at once"
    assert [type(e).__name__ for e in got] == ["WaitStarted", "WaitFinished"]
    assert {e.resource for e in got} == {"subnet.public.0"}
    assert got[0].what == "AWS to stop answering DependencyViolation"  # type: ignore[attr-defined]


def no_sleep(_s: float) -> None:
    return None
