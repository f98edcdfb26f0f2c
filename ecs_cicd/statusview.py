"""`status` as a readable table: what it reads beyond the resources (`extra`) and how it is
shown (`format_status`). `--output json` carries the same data (Result.details).

Read (all read-only): the service's deployments (revision, rolloutState, running/desired, age)
and newest events; for blue/green the CodeDeploy deployment in flight or the latest one, with
its task sets' traffic; the pipeline's last executions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd.aws import is_not_found
from ecs_cicd.config import Config
from ecs_cicd.lifecycle import Ctx
from ecs_cicd.resources import codedeploy
from ecs_cicd.state import State

EVENTS = 5
EXECUTIONS = 5


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value) if value else None


def age(value: str | None, now: datetime | None = None) -> str:
    """`3m`, `2h`, `4d` since an ISO timestamp."""
    if not value:
        return ""
    try:
        then = datetime.fromisoformat(value)
    except ValueError:
        return ""
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(((now or datetime.now(UTC)) - then).total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def short_id(pid: str | None) -> str:
    """An ARN without its partition, service, region and account (`app/name/id`); JSON has
    the whole ARN."""
    pid = pid or ""
    if not pid.startswith("arn:"):
        return pid
    resource = pid.split(":", 5)[-1]
    kind, sep, rest = resource.partition("/")
    return rest if sep and kind in ("loadbalancer", "targetgroup", "listener") else resource


def revision(arn: str | None) -> str:
    return str(arn or "").rsplit("/", 1)[-1]


def extra(ctx: Ctx, cfg: Config, state: State) -> dict[str, Any]:
    out: dict[str, Any] = {}
    svc_rec = state.get("service")
    if svc_rec is not None:
        cluster = str(svc_rec.outputs.get("cluster") or cfg.stack)
        try:
            items = ctx.client("ecs").describe_services(
                cluster=cluster, services=[svc_rec.physical_id]
            )
        except ClientError as e:
            if not is_not_found(e):
                raise
            items = {}
        svc = next(iter(items.get("services", [])), None)
        if svc:
            out["deployments"] = [
                {
                    "id": d.get("id"),
                    "status": d.get("status"),
                    "revision": revision(d.get("taskDefinition")),
                    "rolloutState": d.get("rolloutState"),
                    "running": d.get("runningCount", 0),
                    "desired": d.get("desiredCount", 0),
                    "created": _iso(d.get("createdAt")),
                }
                for d in svc.get("deployments", [])
            ]
            out["service_events"] = [
                {"at": _iso(e.get("createdAt")), "message": e.get("message")}
                for e in svc.get("events", [])[:EVENTS]
            ]
    group = state.get("codedeploy.group")
    if group is not None and cfg.pipeline.deploy.strategy == "blue_green":
        found = _codedeploy(ctx, cfg, group.physical_id, group.outputs.get("application"))
        if found:
            out["codedeploy"] = found
    pipe = state.get("pipeline")
    if pipe is not None:
        try:
            execs = (
                ctx.client("codepipeline")
                .list_pipeline_executions(pipelineName=pipe.physical_id, maxResults=EXECUTIONS)
                .get("pipelineExecutionSummaries", [])
            )
        except ClientError as e:
            if not is_not_found(e):
                raise
            execs = []
        out["pipeline_executions"] = [
            {
                "id": e.get("pipelineExecutionId"),
                "status": e.get("status"),
                "trigger": (e.get("trigger") or {}).get("triggerType"),
                "started": _iso(e.get("startTime")),
                "updated": _iso(e.get("lastUpdateTime")),
                **({"summary": e["statusSummary"]} if e.get("statusSummary") else {}),
            }
            for e in execs[:EXECUTIONS]
        ]
    return out


def _codedeploy(ctx: Ctx, cfg: Config, group: str, app: Any) -> dict[str, Any] | None:
    from ecs_cicd import names

    application = str(app or names.codedeploy_app(cfg))
    cd = ctx.client("codedeploy")
    try:
        ids = cd.list_deployments(applicationName=application, deploymentGroupName=group).get(
            "deployments", []
        )
    except ClientError as e:
        if is_not_found(e) or "DoesNotExist" in str(e):
            return None
        raise
    if not ids:
        return None
    # ListDeployments' order is not documented: the newest of its first page.
    infos = cd.batch_get_deployments(deploymentIds=ids[-25:] if len(ids) > 25 else ids).get(
        "deploymentsInfo", []
    )
    if not infos:
        return None
    info = max(infos, key=lambda i: _iso(i.get("createTime")) or "")
    out = {
        "id": info.get("deploymentId"),
        "status": info.get("status"),
        "created": _iso(info.get("createTime")),
        "task_definition": codedeploy.appspec_task_definition(info.get("revision")),
    }
    if info.get("status") in ("InProgress", "Ready"):
        out["traffic"] = codedeploy.traffic_summary(ctx, str(info.get("deploymentId")))
    return out


# --- the table -------------------------------------------------------------------------------
def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return lines


def format_status(result: Any, now: datetime | None = None) -> str:
    """The `status` text: URL, resources, service deployments and events, CodeDeploy, pipeline."""
    d = result.details
    out: list[str] = []
    url = result.outputs.get("url")
    out.append(f"stack {result.outputs.get('stack', '')} ({result.outputs.get('region', '')})")
    if url:
        out.append(f"URL: {url}")
    out.append("")
    rows = []
    for o in result.outcomes:
        state = {"unchanged": "ok", "update": "drifted", "create": "missing"}.get(
            o.action, o.action
        )
        rows.append([o.logical_id, state, short_id(o.physical_id), "; ".join(o.changes)])
    out += _table(rows, ["resource", "state", "id", "detail"])
    svc = d.get("service") or {}
    if svc or d.get("deployments"):
        out.append("")
        out.append(
            f"service: {svc.get('status', '?')}, running {svc.get('running', '?')}/"
            f"{svc.get('desired', '?')}, task definition {revision(svc.get('task_definition'))}"
        )
        deps = d.get("deployments") or []
        if deps:
            out += [
                "  " + line
                for line in _table(
                    [
                        [
                            x.get("status") or "",
                            x.get("revision") or "",
                            x.get("rolloutState") or "",
                            f"{x.get('running')}/{x.get('desired')}",
                            age(x.get("created"), now),
                            x.get("id") or "",
                        ]
                        for x in deps
                    ],
                    ["deployment", "revision", "rollout", "running", "age", "id"],
                )
            ]
        events = d.get("service_events") or []
        if events:
            out.append("  last events:")
            out += [f"    {age(e.get('at'), now):>4} ago  {e.get('message')}" for e in events]
    cd = d.get("codedeploy")
    if cd:
        out.append("")
        line = (
            f"codedeploy: deployment {cd.get('id')} {cd.get('status')} "
            f"({age(cd.get('created'), now)} ago) {revision(cd.get('task_definition'))}"
        )
        out.append(line.rstrip())
        if cd.get("traffic"):
            out.append(f"  traffic: {cd['traffic']}")
    execs = d.get("pipeline_executions")
    if execs is not None:
        out.append("")
        out.append(f"pipeline {result.outputs.get('pipeline', '')}: last executions")
        if execs:
            out += [
                "  " + line
                for line in _table(
                    [
                        [
                            x.get("status") or "",
                            x.get("trigger") or "",
                            age(x.get("started"), now) + " ago",
                            (x.get("id") or "")[:8],
                            x.get("summary") or "",
                        ]
                        for x in execs
                    ],
                    ["status", "trigger", "started", "id", "summary"],
                )
            ]
        else:
            out.append("  none yet")
    if d.get("switch"):
        out += ["", str(d["switch"])]
    calls = result.calls
    out.append("")
    out.append(
        f"status: {len(result.outcomes)} resources in {result.seconds:.1f}s "
        f"({calls.get('total', 0)} API calls)"
    )
    return "\n".join(out)
