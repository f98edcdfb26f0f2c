"""Releasing without `up`: `deploy` (run the pipeline and follow it), `deploy --image` (a new
task definition revision with one image, rolled out at once) and `rollback` (back to the
revision before the service's current one).

How these stay consistent with `up`: `up` treats the family's latest ACTIVE revision as the
one the service should run, and keeps the images of the containers the pipeline builds
(resources/taskdef.py). So

* `deploy --image` registers a new latest revision (tagged like `up`'s): `up` keeps its image
  for a container the pipeline builds, exactly as after a pipeline run; for a container the
  pipeline does not build, the config's `image:` is the source of truth and the next `up`
  registers a revision with it again (the result says so in a note).
* `rollback` moves the service to the ACTIVE revision before its current one and then
  deregisters the current one, so the previous revision is the latest again: `up` leaves the
  service on it, and a second `rollback` goes one further back (as `ecspresso rollback`).

The pipeline follower is split in two: `PipelineFollower.observe` turns recorded API answers
into progress lines (pure; unit-tested with recorded sequences) and `follow_execution` polls.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import is_not_found, tags_list
from ecs_cicd.config import Config
from ecs_cicd.errors import DeploymentFailed, StateError, UsageError
from ecs_cicd.lifecycle import Ctx
from ecs_cicd.names import STACK_TAG
from ecs_cicd.ops import Log, Result, Runtime, _ctx, _load_state, runtime
from ecs_cicd.resources import codedeploy
from ecs_cicd.stack import build_stack
from ecs_cicd.state import State
from ecs_cicd.waiters import poll, stopped_task_reasons, wait_for_service

# Lines of a failed build's log shown with the failure.
LOG_TAIL = 20
_TASKDEF_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[^:]+:\d+:task-definition/([^:]+):(\d+)$")


# --- console links ---------------------------------------------------------------------------
def console(region: str, path: str) -> str:
    sep = "&" if "?" in path else "?"
    return f"https://{region}.console.aws.amazon.com/{path}{sep}region={region}"


def pipeline_link(region: str, name: str, execution: str | None = None) -> str:
    if execution:
        return console(
            region, f"codesuite/codepipeline/pipelines/{name}/executions/{execution}/timeline"
        )
    return console(region, f"codesuite/codepipeline/pipelines/{name}/view")


def build_link(region: str, account: str, build_id: str) -> str:
    project = build_id.split(":", 1)[0]
    return console(
        region,
        f"codesuite/codebuild/{account}/projects/{project}/build/{quote(build_id, safe='')}/",
    )


def service_link(region: str, cluster: str, service: str) -> str:
    return console(region, f"ecs/v2/clusters/{cluster}/services/{service}/deployments")


def codedeploy_link(region: str, deployment: str) -> str:
    return console(region, f"codesuite/codedeploy/deployments/{deployment}")


# --- the pipeline follower (pure) ------------------------------------------------------------
def _seconds(start: Any, end: Any) -> float | None:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    return max((end - start).total_seconds(), 0.0)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


@dataclass
class ActionView:
    stage: str
    action: str
    status: str
    seconds: float | None
    external_id: str | None
    message: str
    provider: str


def action_views(details: list[dict[str, Any]], now: datetime | None = None) -> list[ActionView]:
    """ListActionExecutions' details of one execution, oldest first, as views."""
    now = now or datetime.now(UTC)
    out = []
    # AWS lists the newest first: reversed, a stable sort by start keeps the pipeline's order
    # among actions that started together.
    ordered = sorted(reversed(details), key=lambda d: d.get("startTime") or now)
    for d in ordered:
        result = (d.get("output") or {}).get("executionResult") or {}
        status = str(d.get("status", "?"))
        end = d.get("lastUpdateTime") if status != "InProgress" else now
        message = str(
            (result.get("errorDetails") or {}).get("message")
            or result.get("externalExecutionSummary")
            or ""
        )
        out.append(
            ActionView(
                stage=str(d.get("stageName", "?")),
                action=str(d.get("actionName", "?")),
                status=status,
                seconds=_seconds(d.get("startTime"), end),
                external_id=result.get("externalExecutionId"),
                message=message,
                provider=str(
                    ((d.get("input") or {}).get("actionTypeId") or {}).get("provider", "")
                ),
            )
        )
    return out


def build_phases(build: dict[str, Any]) -> list[str]:
    """`PHASE STATUS 12s` for each phase the build has reached (BatchGetBuilds)."""
    out = []
    for p in build.get("phases") or []:
        if p.get("phaseType") == "COMPLETED":
            continue
        status = p.get("phaseStatus") or "IN_PROGRESS"
        secs = p.get("durationInSeconds")
        out.append(f"{p.get('phaseType')} {status}" + (f" {secs}s" if secs is not None else ""))
    return out


def build_failure(build: dict[str, Any]) -> str:
    """The failed phase and CodeBuild's own reason ("COMMAND_EXECUTION_ERROR: ...")."""
    for p in build.get("phases") or []:
        if p.get("phaseStatus") in ("FAILED", "FAULT", "TIMED_OUT", "STOPPED"):
            ctx = "; ".join(
                f"{c.get('statusCode', '')}: {c.get('message', '')}".strip(": ")
                for c in p.get("contexts") or []
                if c.get("statusCode") or c.get("message")
            )
            return f"phase {p.get('phaseType')} {p.get('phaseStatus')}" + (
                f" ({ctx})" if ctx else ""
            )
    return ""


@dataclass
class PipelineFollower:
    """Remembers what was reported; `observe` returns only the lines that are new."""

    region: str
    account: str
    seen: dict[str, str] = field(default_factory=dict)

    def _once(self, key: str, value: str, line: str, out: list[str]) -> None:
        if self.seen.get(key) != value:
            self.seen[key] = value
            out.append(line)

    def observe(
        self,
        execution: dict[str, Any],
        actions: list[ActionView],
        builds: dict[str, dict[str, Any]],
    ) -> list[str]:
        out: list[str] = []
        self._once(
            "execution",
            str(execution.get("status")),
            f"execution {execution.get('pipelineExecutionId', '?')[:8]}: {execution.get('status')}",
            out,
        )
        for a in actions:
            key = f"{a.stage}/{a.action}"
            done = a.status != "InProgress"
            took = f" ({_duration(a.seconds)})" if done and a.seconds is not None else ""
            self._once(key, a.status, f"  {a.stage} / {a.action}: {a.status}{took}", out)
            if a.external_id and a.provider == "CodeBuild":
                self._once(
                    key + "#build",
                    a.external_id,
                    f"    build {a.external_id}: "
                    f"{build_link(self.region, self.account, a.external_id)}",
                    out,
                )
                build = builds.get(a.external_id)
                changed: list[str] = []
                for phase in build_phases(build or {}):
                    name, status = phase.split(" ")[:2]
                    self._once(f"{key}#phase#{name}", status, phase, changed)
                if changed:
                    out.append("    phases: " + ", ".join(changed))
            elif a.external_id and a.provider == "CodeDeployToECS":
                self._once(
                    key + "#codedeploy",
                    a.external_id,
                    f"    CodeDeploy deployment {a.external_id}: "
                    f"{codedeploy_link(self.region, a.external_id)}",
                    out,
                )
        return out


def failing_action(actions: list[ActionView]) -> ActionView | None:
    return next((a for a in actions if a.status in ("Failed", "Abandoned")), None)


def failure_message(
    pipeline: str,
    execution: dict[str, Any],
    actions: list[ActionView],
    build: dict[str, Any] | None = None,
    log_tail: list[str] | None = None,
) -> str:
    """`pipeline X: execution E Failed at Build / Build: <AWS's message>` and, for a build, the
    failed phase and the last lines of its log."""
    failed = failing_action(actions)
    msg = (
        f"pipeline {pipeline}: execution {execution.get('pipelineExecutionId', '?')} "
        f"{execution.get('status')}"
    )
    if failed is not None:
        msg += f" at {failed.stage} / {failed.action}"
        reason = failed.message or execution.get("statusSummary") or ""
        if reason:
            msg += f": {reason}"
    elif execution.get("statusSummary"):
        msg += f": {execution['statusSummary']}"
    if build is not None:
        phase = build_failure(build)
        if phase:
            msg += f"\n  build {build.get('id')}: {phase}"
    if log_tail:
        msg += f"\n  last {len(log_tail)} line(s) of the build log:\n" + "\n".join(
            f"    | {line}" for line in log_tail
        )
    return msg


# --- reading AWS -----------------------------------------------------------------------------
def list_actions(ctx: Ctx, pipeline: str, execution_id: str) -> list[dict[str, Any]]:
    cp = ctx.client("codepipeline")
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "pipelineName": pipeline,
        "filter": {"pipelineExecutionId": execution_id},
    }
    while True:
        page = cp.list_action_executions(**kwargs)
        out += page.get("actionExecutionDetails", [])
        if not page.get("nextToken"):
            return out
        kwargs["nextToken"] = page["nextToken"]


def get_builds(ctx: Ctx, ids: list[str]) -> dict[str, dict[str, Any]]:
    ids = [i for i in ids if ":" in i]
    if not ids:
        return {}
    builds = ctx.client("codebuild").batch_get_builds(ids=ids[:100]).get("builds", [])
    return {b["id"]: b for b in builds}


def build_log(ctx: Ctx, build: dict[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
    """The events of a build's CloudWatch log stream (the last `limit`, or all), oldest first."""
    logs = build.get("logs") or {}
    group, stream = logs.get("groupName"), logs.get("streamName")
    if not group or not stream:
        return []
    client = ctx.client("logs")
    kwargs: dict[str, Any] = {
        "logGroupName": group,
        "logStreamName": stream,
        "startFromHead": limit is None,
    }
    if limit is not None:
        kwargs["limit"] = limit
    events: list[dict[str, Any]] = []
    try:
        while True:
            page = client.get_log_events(**kwargs)
            events += page.get("events", [])
            token = page.get("nextForwardToken")
            if limit is not None or not page.get("events") or token == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = token
    except ClientError as e:
        if is_not_found(e):
            return []
        raise
    return events


# --- deploy: run the pipeline ---------------------------------------------------------------
def _record(state: State, key: str) -> Any:
    rec = state.get(key)
    if rec is None:
        raise StateError(
            f"the state file records no {key} for stack {state.stack}", hint="run `up` first"
        )
    return rec


def _open(
    cfg: Config,
    session: boto3.Session | None,
    state_path: str | Path | None,
    region: str | None,
    endpoint_url: str | None,
    log: Log | None,
    sleep: Callable[[float], None],
    cancel: threading.Event | None,
) -> tuple[Runtime, Ctx]:
    rt = runtime(
        cfg,
        session=session,
        region=region,
        endpoint_url=endpoint_url,
        state_path=state_path,
        log=log,
        sleep=sleep,
        cancel=cancel,
    )
    state = _load_state(rt)
    if not state.records:
        raise StateError(
            f"no state for stack {cfg.stack} in {rt.aws.region} ({rt.state_path})",
            hint="run `up` first",
        )
    return rt, _ctx(rt, state)


def deploy(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    wait: bool = True,
    timeout: float | None = None,
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
) -> Result:
    """Start an execution of the stack's pipeline; with `wait`, follow it to the end: stages
    and actions with their durations, the build's phases, the ECS / CodeDeploy deployment.
    A failed execution raises DeploymentFailed naming the action, AWS's message and (for a
    build) the failed phase and the tail of its log."""
    rt, ctx = _open(cfg, session, state_path, region, endpoint_url, log, sleep, cancel)
    pipe = _record(ctx.state, "pipeline")
    name = pipe.physical_id
    execution_id = str(
        ctx.client("codepipeline").start_pipeline_execution(name=name)["pipelineExecutionId"]
    )
    link = pipeline_link(ctx.region, name, execution_id)
    rt.log(f"pipeline {name}: started execution {execution_id}")
    rt.log(f"  {link}")
    details: dict[str, Any] = {"pipeline": name, "execution": execution_id, "link": link}
    if wait:
        with rt.phase("wait"):
            details.update(
                follow_execution(
                    ctx,
                    name,
                    execution_id,
                    timeout=timeout or _deadline(ctx),
                    service=_service_name(ctx, cfg),
                )
            )
            details.update(_after_deploy(ctx, cfg))
    return rt.result("deploy", [], {}, details)


def _service_name(ctx: Ctx, cfg: Config) -> tuple[str, str] | None:
    svc = ctx.state.get("service")
    if svc is None:
        return None
    return str(svc.outputs.get("cluster") or cfg.stack), svc.physical_id


def _deadline(ctx: Ctx) -> float:
    return ctx.deadline("pipeline") + ctx.deadline("service")


def deployment_progress(
    ctx: Ctx, action: ActionView, service: tuple[str, str] | None
) -> str | None:
    """While a Deploy action runs: the ECS service's newest deployment (rolloutState,
    running/desired), or the CodeDeploy deployment's status and traffic."""
    if action.provider == "ECS" and service is not None:
        items = ctx.client("ecs").describe_services(cluster=service[0], services=[service[1]])
        svc = next(iter(items.get("services", [])), None)
        deps = (svc or {}).get("deployments") or []
        if not deps:
            return None
        d = deps[0]
        return (
            f"    service {service[1]}: deployment {d.get('id')} of "
            f"{_revision(str(d.get('taskDefinition', '')))} {d.get('rolloutState', '')}, running "
            f"{d.get('runningCount', 0)}/{d.get('desiredCount', 0)}"
        )
    if action.provider == "CodeDeployToECS" and action.external_id:
        info = ctx.client("codedeploy").get_deployment(deploymentId=action.external_id)
        info = info["deploymentInfo"]
        traffic = ""
        if info.get("status") in ("InProgress", "Ready"):
            traffic = codedeploy.traffic_summary(ctx, action.external_id)
        summary = codedeploy.deployment_summary(info, traffic)
        return f"    CodeDeploy deployment {action.external_id}: {summary}"
    return None


def follow_execution(
    ctx: Ctx,
    pipeline: str,
    execution_id: str,
    *,
    timeout: float,
    service: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Poll the execution until it ends; progress through ctx.log (with, while a Deploy action
    runs, the deployment it made to `service` (cluster, name)). Returns its status and actions;
    raises DeploymentFailed when it does not succeed."""
    cp = ctx.client("codepipeline")
    follower = PipelineFollower(ctx.region, ctx.target.account)
    last: dict[str, Any] = {"summary": "", "actions": []}

    def check() -> dict[str, Any] | None:
        execution = cp.get_pipeline_execution(
            pipelineName=pipeline, pipelineExecutionId=execution_id
        )["pipelineExecution"]
        actions = action_views(list_actions(ctx, pipeline, execution_id))
        running_builds = [
            a.external_id
            for a in actions
            if a.provider == "CodeBuild"
            and a.external_id
            and follower.seen.get(f"{a.stage}/{a.action}#done") != "yes"
        ]
        builds = get_builds(ctx, [b for b in running_builds if b])
        for line in follower.observe(execution, actions, builds):
            ctx.log(line)
        for a in actions:
            if a.status == "InProgress" and a.provider in ("ECS", "CodeDeployToECS"):
                progress = deployment_progress(ctx, a, service)
                if progress and follower.seen.get(f"{a.stage}/{a.action}#deploy") != progress:
                    follower.seen[f"{a.stage}/{a.action}#deploy"] = progress
                    ctx.log(progress)
        for a in actions:
            if a.status != "InProgress":
                follower.seen[f"{a.stage}/{a.action}#done"] = "yes"
        last["summary"] = ", ".join(f"{a.stage}/{a.action} {a.status}" for a in actions)
        last["actions"] = actions
        status = execution.get("status")
        if status == "Succeeded":
            return dict(execution)
        if status in ("Failed", "Stopped", "Stopping", "Superseded", "Cancelled"):
            raise _execution_failed(ctx, pipeline, execution, actions, service)
        return None

    execution = poll(
        ctx,
        f"pipeline {pipeline} execution {execution_id}",
        check,
        deadline=timeout,
        cap=10,
        last_seen=lambda: str(last["summary"]),
    )
    return {
        "status": execution.get("status"),
        "actions": [
            {"stage": a.stage, "action": a.action, "status": a.status, "seconds": a.seconds}
            for a in last["actions"]
        ],
    }


def _execution_failed(
    ctx: Ctx,
    pipeline: str,
    execution: dict[str, Any],
    actions: list[ActionView],
    service: tuple[str, str] | None = None,
) -> DeploymentFailed:
    failed = failing_action(actions)
    build = None
    tail: list[str] = []
    if failed is not None and failed.external_id and failed.provider == "CodeBuild":
        build = get_builds(ctx, [failed.external_id]).get(failed.external_id)
        if build is not None:
            tail = [str(e.get("message", "")).rstrip("\n") for e in build_log(ctx, build, LOG_TAIL)]
    msg = failure_message(pipeline, execution, actions, build, tail)
    if failed is not None and failed.provider == "ECS" and service is not None:
        # The ECS deploy action failed: why the new tasks did not run.
        msg += "".join(f"\n  {line}" for line in service_failure(ctx, *service))
    hint = pipeline_link(ctx.region, pipeline, execution.get("pipelineExecutionId"))
    if build is not None:
        hint += f" ; build: {build_link(ctx.region, ctx.target.account, str(build.get('id')))}"
    return DeploymentFailed(msg, hint=hint)


def service_failure(ctx: Ctx, cluster: str, service: str) -> list[str]:
    """The service's newest events and its stopped tasks' reasons."""
    items = ctx.client("ecs").describe_services(cluster=cluster, services=[service])
    svc = next(iter(items.get("services", [])), None) or {}
    out = [f"service event: {e.get('message', '')}" for e in (svc.get("events") or [])[:3]]
    return out + [f"stopped {r}" for r in stopped_task_reasons(ctx, cluster, service)]


def _after_deploy(ctx: Ctx, cfg: Config) -> dict[str, Any]:
    """The deployment the pipeline's Deploy action made: the service's deployments now."""
    svc = ctx.state.get("service")
    if svc is None:
        return {}
    cluster = str(svc.outputs.get("cluster") or cfg.stack)
    items = ctx.client("ecs").describe_services(cluster=cluster, services=[svc.physical_id])
    found = next(iter(items.get("services", [])), None)
    if not found:
        return {}
    for d in found.get("deployments", [])[:2]:
        ctx.log(
            f"service {svc.physical_id}: deployment {d.get('id')} {d.get('status')} "
            f"{d.get('rolloutState', '')} revision {_revision(str(d.get('taskDefinition', '')))} "
            f"running {d.get('runningCount', 0)}/{d.get('desiredCount', 0)}"
        )
    ctx.log(f"  {service_link(ctx.region, cluster, svc.physical_id)}")
    return {"task_definition": found.get("taskDefinition")}


def _revision(arn: str) -> str:
    m = _TASKDEF_ARN.match(arn)
    return f"{m.group(1)}:{m.group(2)}" if m else arn.rsplit("/", 1)[-1]


# --- deploy --image and rollback ------------------------------------------------------------
def parse_image(spec: str, containers: list[str], default: str) -> tuple[str, str]:
    """`[CONTAINER=]IMAGE[:TAG]` -> (container, image)."""
    container, sep, image = spec.partition("=")
    if not sep:
        container, image = default, spec
    if not image or any(c.isspace() for c in image):
        raise UsageError(
            f"--image {spec!r}: expected [CONTAINER=]IMAGE[:TAG], e.g. app=123.dkr.ecr...:v2"
        )
    if container not in containers:
        raise UsageError(
            f"--image {spec!r}: no container {container!r} in the task definition",
            hint=f"containers are: {', '.join(containers)}",
        )
    return container, image


def default_container(cfg: Config) -> str:
    """The app container: the only one; else the one named `app`; else the endpoint's."""
    names = [c.name for c in cfg.container_definitions()]
    if len(names) == 1:
        return names[0]
    if "app" in names:
        return "app"
    return cfg.task.endpoint.container


_REGISTER_KEYS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
)


def register_with_image(
    ctx: Ctx, current: dict[str, Any], container: str, image: str, tags: dict[str, str]
) -> dict[str, Any]:
    """A new revision: `current` with `container`'s image replaced, tagged like `up`'s."""
    td = {k: copy.deepcopy(current[k]) for k in _REGISTER_KEYS if current.get(k)}
    for c in td["containerDefinitions"]:
        if c["name"] == container:
            c["image"] = image
    kwargs: dict[str, Any] = dict(td)
    if tags:
        kwargs["tags"] = tags_list(tags, "key", "value")
    return dict(ctx.client("ecs").register_task_definition(**kwargs)["taskDefinition"])


def _describe_td(ctx: Ctx, arn: str) -> tuple[dict[str, Any], dict[str, str]]:
    resp = ctx.client("ecs").describe_task_definition(taskDefinition=arn, include=["TAGS"])
    return dict(resp["taskDefinition"]), {t["key"]: t["value"] for t in resp.get("tags", [])}


def _service(ctx: Ctx, cfg: Config) -> tuple[str, str, dict[str, Any]]:
    rec = _record(ctx.state, "service")
    cluster = str(rec.outputs.get("cluster") or cfg.stack)
    items = ctx.client("ecs").describe_services(cluster=cluster, services=[rec.physical_id])
    svc = next(iter(items.get("services", [])), None)
    if not svc or svc.get("status") != "ACTIVE":
        raise StateError(
            f"the ECS service {rec.physical_id} is not ACTIVE in cluster {cluster}",
            hint="run `up` to create it",
        )
    return cluster, rec.physical_id, svc


def _roll(
    ctx: Ctx,
    cfg: Config,
    cluster: str,
    service: str,
    svc: dict[str, Any],
    taskdef_arn: str,
    why: str,
    *,
    wait: bool,
) -> dict[str, Any]:
    """Point the service at `taskdef_arn`: UpdateService (ECS controller) or a CodeDeploy
    deployment (CODE_DEPLOY controller), then wait like `up` does."""
    out: dict[str, Any] = {"task_definition": taskdef_arn}
    controller = (svc.get("deploymentController") or {}).get("type", "ECS")
    if controller == "CODE_DEPLOY":
        group = _record(ctx.state, "codedeploy.group")
        app = str(group.outputs.get("application") or names.codedeploy_app(cfg))
        endpoint = cfg.task.endpoint
        deployment = str(
            ctx.client("codedeploy").create_deployment(
                applicationName=app,
                deploymentGroupName=group.physical_id,
                revision={
                    "revisionType": "AppSpecContent",
                    "appSpecContent": {
                        "content": codedeploy.appspec_content(
                            endpoint.container, endpoint.port, taskdef_arn
                        )
                    },
                },
                description=f"ecs_cicd {why}: {taskdef_arn}"[:1000],
            )["deploymentId"]
        )
        ctx.log(f"codedeploy: deployment {deployment} of {_revision(taskdef_arn)} started")
        ctx.log(f"  {codedeploy_link(ctx.region, deployment)}")
        out["codedeploy_deployment"] = deployment
        if wait:
            want = build_stack(cfg, ctx.target).get("codedeploy.group")
            assert isinstance(want, codedeploy.DeploymentGroup)
            deadline = codedeploy.deployment_deadline(want, ctx.deadline("service"))
            codedeploy.wait_for_deployment(ctx, deployment, deadline=deadline)
        return out
    updated = ctx.client("ecs").update_service(
        cluster=cluster, service=service, taskDefinition=taskdef_arn
    )["service"]
    primary = next(
        (d["id"] for d in updated.get("deployments", []) if d.get("status") == "PRIMARY"), None
    )
    ctx.log(f"service {service}: deployment {primary} of {_revision(taskdef_arn)} started")
    ctx.log(f"  {service_link(ctx.region, cluster, service)}")
    out["deployment"] = primary
    if wait:
        wait_for_service(ctx, cluster, service, primary)
    return out


def deploy_image(
    cfg: Config,
    image: str,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    wait: bool = True,
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
) -> Result:
    """`deploy --image [CONTAINER=]IMAGE[:TAG]`: a new revision of the service's current task
    definition with that image, rolled out (UpdateService, or a CodeDeploy deployment)."""
    containers = [c.name for c in cfg.container_definitions()]
    container, new_image = parse_image(image, containers, default_container(cfg))
    rt, ctx = _open(cfg, session, state_path, region, endpoint_url, log, sleep, cancel)
    cluster, service, svc = _service(ctx, cfg)
    current, tags = _describe_td(ctx, str(svc["taskDefinition"]))
    if STACK_TAG not in tags:  # a revision the pipeline registered: tag ours like `up` does
        tags = {**names.stack_tags(cfg, "taskdef"), **tags}
    td = register_with_image(ctx, current, container, new_image, tags)
    arn = str(td["taskDefinitionArn"])
    rt.log(f"registered {_revision(arn)}: {container} -> {new_image}")
    rec = ctx.state.get("taskdef")
    if rec is not None:
        rec.arn = arn
        rec.outputs = {**rec.outputs, "revision": td.get("revision")}
        ctx.state.put(rec)
        ctx.state.save()
    details: dict[str, Any] = {
        "container": container,
        "image": new_image,
        "previous_task_definition": svc["taskDefinition"],
    }
    with rt.phase("wait"):
        details.update(_roll(ctx, cfg, cluster, service, svc, arn, "deploy --image", wait=wait))
    built = {c.name for c in cfg.built_containers()}
    if container not in built:
        details["note"] = (
            f"{container} is not built by the pipeline: the next `up` registers its config "
            f"image again; set task.containers[{container}].image to keep {new_image}"
        )
    return rt.result("deploy", [], {}, details)


def previous_revision(active: list[str], current: str) -> str | None:
    """The ACTIVE revision just before `current` (ARNs of one family, any order)."""

    def number(arn: str) -> int:
        return int(arn.rsplit(":", 1)[-1])

    older = [a for a in active if number(a) < number(current)]
    return max(older, key=number) if older else None


def rollback(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    wait: bool = True,
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
) -> Result:
    """Return the service to the task definition revision before its current one, wait, then
    deregister the revision rolled back from (so `up` keeps the service where it is)."""
    rt, ctx = _open(cfg, session, state_path, region, endpoint_url, log, sleep, cancel)
    cluster, service, svc = _service(ctx, cfg)
    current = str(svc["taskDefinition"])
    family = current.rsplit("/", 1)[-1].rsplit(":", 1)[0]
    active: list[str] = []
    pages = ctx.client("ecs").get_paginator("list_task_definitions")
    for page in pages.paginate(familyPrefix=family, status="ACTIVE"):
        active += [a for a in page.get("taskDefinitionArns", []) if _family(a) == family]
    target = previous_revision(active, current)
    if target is None:
        raise StateError(
            f"no ACTIVE revision of {family} before {_revision(current)} to roll back to",
            hint="`deploy --image` a known-good image instead",
        )
    rt.log(f"rolling back {service}: {_revision(current)} -> {_revision(target)}")
    details: dict[str, Any] = {"previous_task_definition": current}
    with rt.phase("wait"):
        details.update(_roll(ctx, cfg, cluster, service, svc, target, "rollback", wait=wait))
    # Once the service runs (or, without waiting, deploys) the target revision.
    ctx.client("ecs").deregister_task_definition(taskDefinition=current)
    rt.log(f"deregistered {_revision(current)} (so `up` keeps {_revision(target)})")
    details["deregistered"] = current
    rec = ctx.state.get("taskdef")
    if rec is not None:
        rec.arn = target
        rec.outputs = {**rec.outputs, "revision": int(target.rsplit(":", 1)[-1])}
        ctx.state.put(rec)
        ctx.state.save()
    return rt.result("rollback", [], {}, details)


def _family(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
