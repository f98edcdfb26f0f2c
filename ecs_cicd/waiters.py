"""Tenacity pollers: the ALB until active, the service deployment `up` started until COMPLETED,
the pipeline's latest execution until it ends, a deleted service until INACTIVE.

Each poll returns None for "not yet" and a value when done, raises DeploymentFailed on a terminal
failure (with AWS's own reason), and reports only what changed since the previous poll. Backoff
starts near one second and is capped, so readiness is noticed soon after it happens.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from tenacity import RetryCallState, RetryError, Retrying, retry_if_result, stop_after_delay

from ecs_cicd.errors import DeploymentFailed, WaitTimeout
from ecs_cicd.lifecycle import Cancelled, Ctx
from ecs_cicd.progress import WaitFinished, WaitStarted, current_resource

T = TypeVar("T")


def cadence(
    floor: float, fraction: float, cap: float | None = None
) -> Callable[[RetryCallState], float]:
    """The pause before the next poll: a change is noticed within max(floor, fraction x the time
    waited so far) (capped at `cap` when given), jittered downwards so the bound always holds
    and parallel waits do not poll in step."""

    def wait(state: RetryCallState) -> float:
        bound = max(floor, fraction * (state.seconds_since_start or 0.0))
        if cap is not None:
            bound = min(bound, max(floor, cap))
        return bound * random.uniform(0.5, 1.0)

    return wait


def poll(
    ctx: Ctx,
    what: str,
    check: Callable[[], T | None],
    *,
    deadline: float,
    cap: float | None = None,
    last_seen: Callable[[], str] = lambda: "",
    key: str = "wait",
) -> T:
    """Run `check` until it returns a value, with exponential backoff, until `deadline` seconds.
    Reports the wait's start and end (progress events) under `key`."""

    def checked() -> T | None:
        if ctx.cancel.is_set():
            raise Cancelled(f"interrupted while waiting for {what}")
        return check()

    retryer = Retrying(
        retry=retry_if_result(lambda r: r is None),
        stop=stop_after_delay(deadline),
        wait=cadence(ctx.deadline("poll_min"), ctx.deadline("poll_fraction"), cap),
        sleep=ctx.sleep,
    )
    resource = current_resource()
    t0 = time.monotonic()
    ctx.emit(WaitStarted(key=key, what=what, resource=resource))

    def finished(ok: bool, error: str = "") -> None:
        seconds = time.monotonic() - t0
        ctx.emit(WaitFinished(key=key, seconds=seconds, ok=ok, error=error, resource=resource))

    try:
        result: T = retryer(checked)  # type: ignore[assignment]
    except RetryError:
        seen = last_seen()
        timeout = WaitTimeout(
            f"waited {deadline:.0f}s for {what}" + (f"; last seen: {seen}" if seen else ""),
            hint="raise the deadline under `waits:` in the config, or check the AWS console",
        )
        finished(False, str(timeout).splitlines()[0])
        raise timeout from None
    except BaseException as e:
        finished(False, str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise
    finished(True)
    return result


# --- load balancer ---------------------------------------------------------------------------
def wait_for_load_balancer(ctx: Ctx, arn: str, *, read: dict[str, Any] | None = None) -> None:
    """Until the load balancer is active. `read`: its description as this run already read it
    (unchanged since): the first check uses it instead of a call."""
    elb = ctx.client("elbv2")
    seen = {"state": ""}
    first = [read]

    def check() -> bool | None:
        lb = first.pop() if first and first[0] else None
        first.clear()
        if lb is None:
            lb = elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
        state = lb["State"]["Code"]
        if state != seen["state"]:
            ctx.status("load balancer", state)
            seen["state"] = state
        if state == "active":
            return True
        if state == "failed":
            raise DeploymentFailed(
                f"load balancer {arn}: provisioning failed: {lb['State'].get('Reason', '')}"
            )
        return None

    poll(
        ctx,
        "the load balancer to become active",
        check,
        deadline=ctx.deadline("load_balancer"),
        last_seen=lambda: seen["state"],
        key="load balancer",
    )


# --- ECS service -----------------------------------------------------------------------------
def _service(ctx: Ctx, cluster: str, service: str) -> dict[str, Any] | None:
    resp = ctx.client("ecs").describe_services(cluster=cluster, services=[service])
    items = resp.get("services", [])
    return items[0] if items else None  # MISSING right after CreateService: "not yet"


class EventDedup:
    """A service's events, each shown once: ECS returns the newest 100 on every describe, and
    repeats the same message under new ids ("has reached a steady state", "unable to place a
    task..."); a message is shown again only once another came in between."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.last = ""

    def new(self, events: Iterable[dict[str, Any]], limit: int = 5) -> list[str]:
        """The messages not seen before, oldest first (`events` is newest first, as ECS
        returns them); only the newest `limit` of a first batch."""
        fresh = [e for e in events if e.get("id") not in self.ids]
        first = not self.ids
        self.ids.update(str(e.get("id", "")) for e in fresh)
        out: list[str] = []
        for e in reversed(fresh[:limit] if first else fresh):
            message = str(e.get("message", ""))
            if message and message != self.last:
                out.append(message)
                self.last = message
        return out


def stopped_task_reasons(
    ctx: Ctx, cluster: str, service: str, limit: int = 3, skip: Iterable[str] = ()
) -> list[str]:
    """`task <id>: <stoppedReason>; <container>: <reason>` of the newest stopped tasks, leaving
    out the task ids in `skip`."""
    ecs = ctx.client("ecs")
    skipped = set(skip)
    arns = [
        a
        for a in ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED").get(
            "taskArns", []
        )
        if a.rsplit("/", 1)[-1] not in skipped
    ][:limit]
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns).get("tasks", [])
    out = []
    for t in tasks:
        reason = t.get("stoppedReason", "")
        for c in t.get("containers", []):
            if c.get("reason"):
                reason += f"; {c['name']}: {c['reason']}"
        out.append(f"task {t['taskArn'].rsplit('/', 1)[-1]}: {reason or 'stopped'}")
    return out


def wait_for_service(
    ctx: Ctx,
    cluster: str,
    service: str,
    deployment_id: str | None,
    *,
    read: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Until the deployment we started is COMPLETED, alone, with running == desired. `read`:
    the service as this run already read it (unchanged since): the first check uses it.

    Not botocore's services_stable: it reports success when the circuit breaker rolls back
    (AWS-BEHAVIOUR.md). A FAILED rollout fails at once with the reason, newest events and the
    stopped tasks' reasons.
    """
    dedup = EventDedup()
    last = {"summary": ""}
    failed_count = {"ours": 0}
    stopped_seen: set[str] = set()
    started = datetime.now(UTC)
    first = [read]

    def check() -> dict[str, Any] | None:
        svc = first.pop() if first and first[0] else None
        first.clear()
        if svc is None:
            svc = _service(ctx, cluster, service)
        if svc is None:
            if (datetime.now(UTC) - started).total_seconds() > 120:
                raise DeploymentFailed(
                    f"ECS service {service}: DescribeServices still says MISSING after 2 minutes"
                )
            return None
        for message in dedup.new(svc.get("events", [])):
            ctx.note(message, source="service event")
        deps = svc.get("deployments", [])
        ours = (
            next((d for d in deps if d.get("id") == deployment_id), None) if deployment_id else None
        )
        if ours is None:
            ours = next((d for d in deps if d.get("status") == "PRIMARY"), None)
            if deployment_id and ours is not None and ours.get("id") != deployment_id:
                raise _failed(
                    ctx,
                    svc,
                    cluster,
                    service,
                    "the deployment was replaced (rolled back or superseded)",
                )
        if ours is None:
            return None
        summary = (
            f"{ours.get('rolloutState', '?')}, running {ours.get('runningCount', 0)}/{ours.get('desiredCount', 0)}, "
            f"{len(deps)} deployment(s)"
        )
        if summary != last["summary"]:
            ctx.status("service", summary)
            last["summary"] = summary
        failed = int(ours.get("failedTasks", 0) or 0)
        if failed > failed_count["ours"]:
            # Tasks of our deployment stopped: say why (only then: it costs two calls).
            failed_count["ours"] = failed
            for reason in stopped_task_reasons(ctx, cluster, service, skip=stopped_seen):
                stopped_seen.add(reason.split(":", 1)[0].removeprefix("task "))
                ctx.note(reason, source="stopped task", level="warn")
        if ours.get("rolloutState") == "FAILED":
            raise _failed(
                ctx, svc, cluster, service, ours.get("rolloutStateReason", "rollout FAILED")
            )
        done = ours.get("rolloutState", "COMPLETED") == "COMPLETED" and len(deps) == 1
        if done and ours.get("runningCount") == ours.get("desiredCount") == svc.get("desiredCount"):
            return svc
        return None

    return poll(
        ctx,
        f"ECS service {service} to reach steady state",
        check,
        deadline=ctx.deadline("service"),
        last_seen=lambda: last["summary"],
        key="service",
    )


def _failed(
    ctx: Ctx, svc: dict[str, Any], cluster: str, service: str, reason: str
) -> DeploymentFailed:
    events = [e.get("message", "") for e in svc.get("events", [])[:3]]
    stopped = stopped_task_reasons(ctx, cluster, service)
    parts = [f"ECS service {service}: deployment failed: {reason}"]
    parts += alarms_in_alarm(ctx, svc)
    if events:
        parts.append("newest events: " + " | ".join(events))
    if stopped:
        parts.append("stopped tasks: " + " | ".join(stopped))
    return DeploymentFailed("; ".join(parts))


def alarms_in_alarm(ctx: Ctx, svc: dict[str, Any]) -> list[str]:
    """The service's deployment alarms that are in ALARM, each with CloudWatch's reason: what
    rolled the deployment back (`service.rollback_on_alarms`)."""
    alarms = svc.get("deploymentConfiguration", {}).get("alarms") or {}
    names = list(alarms.get("alarmNames") or []) if alarms.get("enable") else []
    if not names:
        return []
    try:
        found = ctx.client("cloudwatch").describe_alarms(AlarmNames=names).get("MetricAlarms", [])
    except ClientError as e:
        return [f"deployment alarms {', '.join(names)} (not readable: {e})"]
    return [
        f"alarm {a['AlarmName']} is in ALARM: {a.get('StateReason', '')}"
        for a in found
        if a.get("StateValue") == "ALARM"
    ]


def wait_for_service_inactive(ctx: Ctx, cluster: str, service: str) -> None:
    """After DeleteService: DRAINING for minutes while tasks leave the target group."""
    last = {"status": ""}

    def check() -> bool | None:
        svc = _service(ctx, cluster, service)
        status = svc.get("status", "INACTIVE") if svc else "INACTIVE"
        if status != last["status"]:
            ctx.status("service", f"{service} {status}")
            last["status"] = status
        return True if status == "INACTIVE" else None

    poll(
        ctx,
        f"ECS service {service} to drain",
        check,
        deadline=ctx.deadline("delete"),
        cap=15,
        last_seen=lambda: last["status"],
        key="service",
    )


# --- CodePipeline ----------------------------------------------------------------------------
def wait_for_pipeline(ctx: Ctx, name: str) -> dict[str, Any]:
    """Until the pipeline's latest execution ends (AWS starts one when a pipeline is created)."""
    cp = ctx.client("codepipeline")
    last = {"summary": ""}

    def check() -> dict[str, Any] | None:
        execs = cp.list_pipeline_executions(pipelineName=name, maxResults=1).get(
            "pipelineExecutionSummaries", []
        )
        if not execs:
            return None  # the creation-time execution has not been started yet
        ex = execs[0]
        status = ex["status"]
        summary = f"execution {ex['pipelineExecutionId'][:8]} {status}"
        if status == "InProgress":
            summary += ": " + stage_summary(cp.get_pipeline_state(name=name))
        if summary != last["summary"]:
            ctx.status("pipeline", summary)
            last["summary"] = summary
        if status == "Succeeded":
            return dict(ex)
        if status in ("Failed", "Stopped", "Stopping", "Superseded", "Cancelled"):
            raise pipeline_failure(ctx, name, ex)
        return None

    return poll(
        ctx,
        f"pipeline {name} to finish its execution",
        check,
        deadline=ctx.deadline("pipeline"),
        cap=15,
        last_seen=lambda: last["summary"],
        key="pipeline",
    )


def stage_summary(state: dict[str, Any]) -> str:
    """`Source Succeeded, Build InProgress [Build InProgress], Deploy -`: each stage's status,
    and the actions of a stage that is running or failed."""
    parts = []
    for stage in state.get("stageStates", []):
        status = stage.get("latestExecution", {}).get("status", "-")
        text = f"{stage['stageName']} {status}"
        if status in ("InProgress", "Failed"):
            actions = [
                f"{a['actionName']} {a.get('latestExecution', {}).get('status', '-')}"
                for a in stage.get("actionStates", [])
            ]
            if actions:
                text += " [" + ", ".join(actions) + "]"
        parts.append(text)
    return ", ".join(parts)


def pipeline_failure(ctx: Ctx, name: str, execution: dict[str, Any]) -> DeploymentFailed:
    """Name the failed stage and action, AWS's message, and for CodeBuild the build and its log."""
    cp = ctx.client("codepipeline")
    status = execution["status"]
    where = ""
    detail = ""
    for stage in cp.get_pipeline_state(name=name).get("stageStates", []):
        for action in stage.get("actionStates", []):
            latest = action.get("latestExecution", {})
            if latest.get("status") == "Failed":
                where = f"stage {stage['stageName']}, action {action['actionName']}"
                detail = latest.get("errorDetails", {}).get("message", "")
                build_id = latest.get("externalExecutionId")
                if build_id and ":" in build_id:
                    detail += build_log_hint(ctx, build_id)
                break
        if where:
            break
    reason = execution.get("statusSummary") or detail
    msg = f"pipeline {name}: execution {execution['pipelineExecutionId']} {status}"
    if where:
        msg += f" at {where}"
    if reason:
        msg += f": {reason}"
    return DeploymentFailed(msg)


def build_log_hint(ctx: Ctx, build_id: str) -> str:
    try:
        builds = ctx.client("codebuild").batch_get_builds(ids=[build_id]).get("builds", [])
    except Exception:
        return f" (build {build_id})"
    if not builds:
        return f" (build {build_id})"
    logs = builds[0].get("logs", {})
    where = logs.get("deepLink") or f"{logs.get('groupName', '?')}/{logs.get('streamName', '?')}"
    return f" (build {build_id}, log {where})"
