"""CloudWatch Logs: what ECS tasks and CodeBuild builds write, and FilterLogEvents'
``logStreamNamePrefix``.

* ``write`` appends lines to a stream (created when missing; the group too when asked, as
  CodeBuild does); moto's own PutLogEvents checks apply.
* ``task_logs``: the running tasks of a service write, once per task and container, a few
  lines to ``<awslogs-stream-prefix>/<container>/<task id>`` of the container's awslogs group,
  as the awslogs driver names them (a web server's access lines for an nginx image, start-up
  lines otherwise). Task ids are stable per deployment and task index. Nothing is written when
  the group does not exist (the driver, without ``awslogs-create-group``, fails the same way).
* FilterLogEvents honours ``logStreamNamePrefix`` (moto ignores it and returns every stream).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from moto.ecs.models import Service, ecs_backends
from moto.logs.models import LogsBackend, logs_backends
from moto.logs.responses import LogsResponse

from ecs_cicd.emulator._util import now, replace


def _backend(account: str, region: str) -> LogsBackend:
    return logs_backends[account][region]


def write(
    account: str,
    region: str,
    group: str,
    stream: str,
    lines: list[tuple[int, str]],
    *,
    create_group: bool = False,
) -> bool:
    """Append (timestamp ms, message) lines to group/stream; False when the group is missing."""
    backend = _backend(account, region)
    if group not in backend.groups:
        if not create_group:
            return False
        backend.create_log_group(group, {})
    backend.ensure_log_stream(group, stream)
    if lines:
        backend.put_log_events(group, stream, [{"timestamp": t, "message": m} for t, m in lines])
    return True


def task_id(deployment: str, index: int) -> str:
    return hashlib.md5(f"{deployment}/{index}".encode()).hexdigest()


def _lines(container: dict[str, Any], index: int, start_ms: int) -> list[str]:
    image = str(container.get("image", ""))
    ports = [p.get("containerPort") for p in container.get("portMappings") or []]
    port = ports[0] if ports else 8080
    if "nginx" in image:
        return [
            "/docker-entrypoint.sh: Configuration complete; ready for start up",
            f'10.0.0.{10 + index} - - "GET /health HTTP/1.1" 200 2 "-" "ELB-HealthChecker/2.0"',
            f'10.0.1.{10 + index} - - "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"',
        ]
    return [
        f"starting {container['name']} ({image})",
        f" * Running on http://0.0.0.0:{port}",
        '127.0.0.1 - - "GET /health HTTP/1.1" 200 -',
    ]


def task_logs(service: Service) -> None:
    """Each running task of the service's PRIMARY deployment logs a few lines per container."""
    account, region = service._account_id, service.region_name
    deployments = [d for d in service.deployments if d.get("status") == "PRIMARY"]
    deployment = str(deployments[0]["id"] if deployments else service.arn)
    if not service.task_definition:
        return
    try:
        td = ecs_backends[account][region].describe_task_definition(service.task_definition)
    except Exception:  # the revision may be gone (deleted family): nothing runs to log
        return
    start = int(now() * 1000)
    backend = _backend(account, region)
    for index in range(min(service.running_count, 10)):
        tid = task_id(deployment, index)
        containers: list[dict[str, Any]] = list(td.container_definitions)  # type: ignore[arg-type]
        for c in containers:
            conf: dict[str, Any] = c.get("logConfiguration") or {}
            options: dict[str, Any] = conf.get("options") or {}
            group, prefix = options.get("awslogs-group"), options.get("awslogs-stream-prefix")
            if conf.get("logDriver") != "awslogs" or not group or not prefix:
                continue
            stream = f"{prefix}/{c['name']}/{tid}"
            if group in backend.groups and stream in backend.groups[group].streams:
                continue
            lines = _lines(c, index, start)
            write(account, region, group, stream, [(start + i, m) for i, m in enumerate(lines)])


def _filter_log_events(original: Any) -> Any:
    def filter_log_events(self: LogsResponse) -> Any:
        prefix = self._get_param("logStreamNamePrefix")
        if not prefix or self._get_param("logStreamNames"):
            return original(self)
        name = self._get_param("logGroupName")
        group = self.logs_backend.groups.get(name)
        names = [n for n in (group.streams if group is not None else {}) if n.startswith(prefix)]
        if not names:
            return json.dumps({"events": [], "searchedLogStreams": []})
        events, token, searched = self.logs_backend.filter_log_events(
            name,
            names,
            self._get_param("startTime"),
            self._get_param("endTime"),
            self._get_param("limit"),
            self._get_param("nextToken"),
            self._get_param("filterPattern"),
            self._get_param("interleaved", False),
        )
        return json.dumps({"events": events, "nextToken": token, "searchedLogStreams": searched})

    return filter_log_events


def apply() -> None:
    replace(LogsResponse, "filter_log_events", _filter_log_events)
