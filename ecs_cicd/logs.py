"""`logs`: the service's CloudWatch log streams, interleaved by time, and the latest build's log.

ECS's awslogs driver writes each container of each task to the stream
`<awslogs-stream-prefix>/<container>/<task id>` of the container's `awslogs-group`
(resources/taskdef.py sets both from the config). So one FilterLogEvents per log group
(`interleaved` is AWS's default since 2019) reads every container of every task; a container is
chosen with `logStreamNamePrefix`. `--follow` polls with `startTime` set to the newest event seen
and drops what it has already printed by `eventId` (FilterLogEvents returns events at
`startTime` again).

The pure part (`stream_sources`, `label`, `Interleaver`) is unit-tested with recorded events.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from ecs_cicd import names
from ecs_cicd.config import Config
from ecs_cicd.errors import StateError, UsageError
from ecs_cicd.lifecycle import Ctx
from ecs_cicd.ops import Log, Result
from ecs_cicd.release import _open, build_log, get_builds

_SINCE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# How often --follow asks for new events; how far back each poll looks (events can arrive late).
FOLLOW_SECONDS = 2.0
FOLLOW_OVERLAP_MS = 10_000


def parse_since(text: str) -> float:
    """`90s`, `10m`, `2h`, `1d` -> seconds."""
    m = _SINCE.match(text.strip())
    if not m:
        raise UsageError(f"--since {text!r}: expected a number and s, m, h or d, e.g. 10m or 2h")
    return int(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class Source:
    """Where one container logs: its group and its streams' prefix."""

    container: str
    group: str
    prefix: str  # "<awslogs-stream-prefix>/<container>/"


def stream_sources(taskdef: dict[str, Any]) -> list[Source]:
    """The awslogs group and stream prefix of each container of a task definition."""
    out = []
    for c in taskdef.get("containerDefinitions", []):
        conf = c.get("logConfiguration") or {}
        options = conf.get("options") or {}
        if conf.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
            continue
        prefix = options.get("awslogs-stream-prefix")
        # Without a prefix, awslogs names streams by container id: nothing to tell them apart.
        stream = f"{prefix}/{c['name']}/" if prefix else ""
        out.append(Source(c["name"], options["awslogs-group"], stream))
    return out


def label(stream: str, sources: list[Source]) -> tuple[str, str]:
    """(container, short task id) of a stream `prefix/container/taskid`."""
    for s in sources:
        if s.prefix and stream.startswith(s.prefix):
            return s.container, stream[len(s.prefix) :][:8]
    parts = stream.split("/")
    if len(parts) >= 3:
        return parts[-2], parts[-1][:8]
    return stream, ""


def format_line(event: dict[str, Any], sources: list[Source]) -> str:
    """`12:03:04 app      3f2a9c1d | message`."""
    container, task = label(str(event.get("logStreamName", "")), sources)
    when = datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000, UTC)
    width = max([len(s.container) for s in sources] + [len(container)])
    message = str(event.get("message", "")).rstrip("\n")
    return f"{when:%H:%M:%S} {container:<{width}} {task:<8} | {message}"


@dataclass
class Interleaver:
    """Merges pages of events from any number of calls into one time-ordered stream, each
    event once (by eventId)."""

    seen: set[str] = field(default_factory=set)
    newest: int = 0

    def add(self, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = []
        for e in events:
            key = str(
                e.get("eventId") or (e.get("logStreamName"), e.get("timestamp"), e.get("message"))
            )
            if key in self.seen:
                continue
            self.seen.add(key)
            fresh.append(e)
        fresh.sort(key=lambda e: (int(e.get("timestamp", 0)), str(e.get("logStreamName", ""))))
        if fresh:
            self.newest = max(self.newest, int(fresh[-1].get("timestamp", 0)))
        return fresh


def filter_pattern(text: str | None) -> str | None:
    """`--filter TEXT`: the exact text (a quoted term in CloudWatch's filter syntax)."""
    if not text:
        return None
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fetch(
    ctx: Ctx,
    group: str,
    *,
    start_ms: int,
    prefix: str = "",
    pattern: str | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Every event of `group` since `start_ms` (pages of FilterLogEvents)."""
    client = ctx.client("logs")
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
    if prefix:
        kwargs["logStreamNamePrefix"] = prefix
    if pattern:
        kwargs["filterPattern"] = pattern
    count = 0
    while True:
        page = client.filter_log_events(**kwargs)
        for e in page.get("events", []):
            yield e
            count += 1
            if limit is not None and count >= limit:
                return
        token = page.get("nextToken")
        if not token or token == kwargs.get("nextToken"):
            return
        kwargs["nextToken"] = token


def _sources(ctx: Ctx, cfg: Config, container: str | None) -> list[Source]:
    svc = ctx.state.get("service")
    taskdef_arn: str | None = None
    if svc is not None:
        cluster = str(svc.outputs.get("cluster") or cfg.stack)
        items = ctx.client("ecs").describe_services(cluster=cluster, services=[svc.physical_id])
        found = next(iter(items.get("services", [])), None)
        taskdef_arn = found.get("taskDefinition") if found else None
    if taskdef_arn is None:
        rec = ctx.state.get("taskdef")
        taskdef_arn = (rec.arn or rec.physical_id) if rec else None
    if taskdef_arn is None:
        raise StateError(
            f"the state file records no service for stack {cfg.stack}", hint="run `up` first"
        )
    td = ctx.client("ecs").describe_task_definition(taskDefinition=taskdef_arn)["taskDefinition"]
    sources = stream_sources(td)
    if not sources:
        group = names.log_group(cfg)
        sources = [Source(c.name, group, "") for c in cfg.container_definitions()]
    if container is not None:
        chosen = [s for s in sources if s.container == container]
        if not chosen:
            raise UsageError(
                f"--container {container!r}: the service's task definition has no such container",
                hint=f"containers are: {', '.join(s.container for s in sources)}",
            )
        return chosen
    return sources


def _queries(sources: list[Source]) -> list[tuple[str, str]]:
    """(group, stream prefix) to ask: one per group when all its containers are wanted."""
    by_group: dict[str, list[Source]] = {}
    for s in sources:
        by_group.setdefault(s.group, []).append(s)
    out = []
    for group, items in by_group.items():
        if len(items) == 1 and items[0].prefix:
            out.append((group, items[0].prefix))
        else:
            out.append((group, ""))
    return out


def _matches(event: dict[str, Any], sources: list[Source]) -> bool:
    stream = str(event.get("logStreamName", ""))
    return any(not s.prefix or stream.startswith(s.prefix) for s in sources)


def logs(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    container: str | None = None,
    since: float = 600.0,
    text: str | None = None,
    follow: bool = False,
    on_event: Callable[[dict[str, Any], list[Source]], None] | None = None,
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
    limit: int = 10_000,
) -> Result:
    """The service's log events of the last `since` seconds, interleaved by time (in
    `details["events"]`, each with `container` and `task`). With `follow`, keeps polling and
    hands each new event to `on_event` until `cancel` is set (Ctrl-C)."""
    rt, ctx = _open(cfg, session, state_path, region, endpoint_url, log, sleep, cancel)
    sources = _sources(ctx, cfg, container)
    events = tail(
        ctx,
        sources,
        start_ms=int((time.time() - since) * 1000),
        pattern=filter_pattern(text),
        follow=follow,
        on_event=on_event,
        limit=limit,
    )
    details = {
        "containers": [s.container for s in sources],
        "log_groups": sorted({s.group for s in sources}),
        "events": events,
    }
    return rt.result("logs", [], {}, details)


def to_item(event: dict[str, Any], sources: list[Source]) -> dict[str, Any]:
    container, task = label(str(event.get("logStreamName", "")), sources)
    return {
        "timestamp": int(event.get("timestamp", 0)),
        "container": container,
        "task": task,
        "stream": event.get("logStreamName"),
        "message": str(event.get("message", "")).rstrip("\n"),
        "eventId": event.get("eventId"),
    }


def tail(
    ctx: Ctx,
    sources: list[Source],
    *,
    start_ms: int,
    pattern: str | None = None,
    follow: bool = False,
    on_event: Callable[[dict[str, Any], list[Source]], None] | None = None,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    """Read (and with `follow`, keep reading until ctx.cancel) the sources' events, each once,
    in time order. Each goes to `on_event`; without `follow` they are also returned."""
    merged = Interleaver()
    out: list[dict[str, Any]] = []

    def poll_once(since_ms: int) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        for group, prefix in _queries(sources):
            got += [
                e
                for e in fetch(
                    ctx, group, start_ms=since_ms, prefix=prefix, pattern=pattern, limit=limit
                )
                if _matches(e, sources)
            ]
        return merged.add(got)

    def emit(batch: list[dict[str, Any]]) -> None:
        for e in batch:
            if on_event is not None:
                on_event(e, sources)
            if not follow:
                out.append(to_item(e, sources))

    emit(poll_once(start_ms))
    while follow and not ctx.cancel.is_set():
        ctx.sleep(FOLLOW_SECONDS)
        if ctx.cancel.is_set():
            break
        emit(poll_once(max(start_ms, merged.newest - FOLLOW_OVERLAP_MS)))
    return out


def build_logs(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    log: Log | None = None,
) -> Result:
    """The latest CodeBuild build of the stack's project: its status, phases and whole log."""
    rt, ctx = _open(cfg, session, state_path, region, endpoint_url, log, time.sleep, None)
    rec = ctx.state.get("codebuild")
    project = rec.physical_id if rec else names.codebuild_project(cfg)
    ids = (
        ctx.client("codebuild")
        .list_builds_for_project(projectName=project, sortOrder="DESCENDING")
        .get("ids", [])
    )
    if not ids:
        raise StateError(f"the CodeBuild project {project} has no builds yet", hint="run `deploy`")
    build = get_builds(ctx, ids[:1]).get(ids[0])
    if build is None:
        raise StateError(f"build {ids[0]} of {project} not found")
    events = build_log(ctx, build)
    details = {
        "build": build.get("id"),
        "status": build.get("buildStatus"),
        "log_group": (build.get("logs") or {}).get("groupName"),
        "log_stream": (build.get("logs") or {}).get("streamName"),
        "lines": [str(e.get("message", "")).rstrip("\n") for e in events],
    }
    return rt.result("logs", [], {}, details)
