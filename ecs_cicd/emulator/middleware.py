"""The WSGI layer in front of moto: call log, fault injection, targeted errors, crash hook.

All of that is test machinery and is OFF unless the middleware is built with ``control=True``
(``EmulatorServer(control=True)``, ``serve(control=True)``; only the test suite does). Off, the
middleware hands every AWS request straight to moto, records nothing, and answers 404 to every
path under ``/_ecs_cicd/``: nothing can be logged, injected or signalled.

With the control plane on, every AWS request is classified (service, action, mutating) and
recorded. The service comes from the SigV4 credential scope (boto3 client names: ``elbv2``,
``resourcegroupstaggingapi``); the action from X-Amz-Target (JSON protocols), ``Action=`` (query
protocols), or for S3 the operation its method, path and query resolve to in the botocore model
(``CreateBucket``, ``PutBucketVersioning``; ``"METHOD /path"`` if none matches). Mutating means
not Describe*/Get*/List*/Head*/BatchGet*/FilterLogEvents, and for S3 anything but GET and HEAD. A
reserved path prefix ``/_ecs_cicd/`` is the control plane; it cannot collide with AWS because no
S3 bucket name (the only first path segment an AWS call here can carry) may start with an
underscore.

Control plane (JSON bodies; every answer is JSON):

  GET    /_ecs_cicd/health                -> {"ok": true}
  GET    /_ecs_cicd/calls                 -> [{seq, service, action, mutating, method, path,
                                               status, error}, ...]
  POST   /_ecs_cicd/calls/reset           -> clears the log
  POST   /_ecs_cicd/faults           {"rate": 0.15, "seed": 1, "codes": [...], "services": [...]}
  DELETE /_ecs_cicd/faults
  POST   /_ecs_cicd/inject           {"service", "action", "code", "message", "status", "times"}
  DELETE /_ecs_cicd/inject
  POST   /_ecs_cicd/crash                 {"after_mutating": k, "pid": P}   (403 unless P is a
                                           live child process of the emulator's own process)
  DELETE /_ecs_cicd/crash
  POST   /_ecs_cicd/pipeline-failure      {"stage", "message", "code", "times"}
  DELETE /_ecs_cicd/pipeline-failure
  POST   /_ecs_cicd/alarm-on-deploy       {"alarm": NAME or "*", "reason", "times"}: the next
                                          deployment watching that alarm rolls back on it
  DELETE /_ecs_cicd/alarm-on-deploy
  POST   /_ecs_cicd/scale                 {"cluster", "service", "desired", "account", "region"}:
                                          a desired count set as autoscaling would (not logged)

The crash hook can only SIGKILL a process the emulator's own process started and has not reaped
(the test that runs ``EmulatorServer`` in-process and spawns the CLI it wants killed): a pid in
a request is no proof of who sent it, but being our child is something this process can check
(``waitid``), both when the hook is armed and again right before it fires.

With pacing on (``pacing.Pacing.latency_ms``), every AWS request waits that long before it is
handled, control plane on or off; control-plane requests never wait.

Hooks run in this order for each AWS request: targeted injection, random faults, moto, crash.
An injected or faulted request never reaches moto. Hooks are plain objects with
``before(call) -> Reply | None`` and ``after(call) -> None``; ``EmulatorMiddleware.hooks`` is the
extension point.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol
from urllib.parse import parse_qs

from ecs_cicd.aws import service_model
from ecs_cicd.emulator import codepipeline, ecs, pacing, scaling

PREFIX = "/_ecs_cicd"

# Credential-scope signing names that differ from the boto3 client name.
_CLIENT_NAMES = {"elasticloadbalancing": "elbv2", "tagging": "resourcegroupstaggingapi"}
_READ_PREFIXES = ("Describe", "Get", "List", "Head", "BatchGet", "FilterLogEvents")
# Retried by botocore as throttling (botocore/retries/standard.py); anything else is rendered
# as a 5xx, which botocore retries as transient.
_THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "EC2ThrottledException",
}

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class Call:
    """One AWS request as seen by the middleware."""

    seq: int
    service: str
    action: str
    mutating: bool
    method: str
    path: str
    protocol: str  # "json", "query", "ec2" or "s3"
    status: int | None = None
    error: str | None = None  # code of an injected or faulted error

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "service": self.service,
            "action": self.action,
            "mutating": self.mutating,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "error": self.error,
        }


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class Hook(Protocol):
    def before(self, call: Call) -> Reply | None: ...

    def after(self, call: Call) -> None: ...


# --- classifying a request -------------------------------------------------------------------


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so moto still sees it."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _service(environ: dict[str, Any]) -> str:
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            return _CLIENT_NAMES.get(scope[3], scope[3])
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return target.split(".", 1)[0].split("_", 1)[0].lower()
    host = environ.get("HTTP_HOST", "")
    return host.split(".", 1)[0] if ".amazonaws.com" in host else "s3"


@dataclass(frozen=True)
class _S3Route:
    name: str
    method: str
    segments: int  # 0: "/", 1: "/{Bucket}", 2: "/{Bucket}/{Key+}"
    query: tuple[tuple[str, str | None], ...]  # required keys (and literal values)
    headers: tuple[str, ...]  # required headers, as WSGI environ keys


@cache
def _s3_routes() -> list[_S3Route]:
    """S3's REST routes from the botocore model, most specific first."""
    model = service_model("s3")
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        uri = operation.http["requestUri"]
        path, _, literal = uri.partition("?")
        query: list[tuple[str, str | None]] = []
        for part in filter(None, literal.split("&")):
            key, _, value = part.partition("=")
            query.append((key, value or None))
        headers = []
        shape = operation.input_shape
        members = shape.members if shape is not None else {}
        for member in shape.required_members if shape is not None else []:
            location = members[member].serialization
            if location.get("location") == "querystring":
                query.append((location["name"], None))
            elif location.get("location") == "header":
                headers.append("HTTP_" + location["name"].upper().replace("-", "_"))
        segments = 0 if path == "/" else (2 if "{Key" in path else 1)
        routes.append(
            _S3Route(name, operation.http["method"], segments, tuple(query), tuple(headers))
        )
    return sorted(routes, key=lambda r: -(len(r.query) + len(r.headers)))


def _s3_operation(environ: dict[str, Any], method: str, path: str, query: str) -> str | None:
    """The S3 operation a path-style REST request is (CreateBucket, PutBucketVersioning, ...)."""
    parts = path.lstrip("/").split("/", 1)
    segments = 0 if not parts[0] else (2 if len(parts) > 1 and parts[1] else 1)
    params = parse_qs(query, keep_blank_values=True)
    for route in _s3_routes():
        if route.method != method or route.segments != segments:
            continue
        if all(
            key in params and (value is None or value in params[key]) for key, value in route.query
        ) and all(header in environ for header in route.headers):
            return route.name
    return None


# REST services other than S3 (Route 53): the operation from the method and the path, matched
# against the botocore model's request URIs, most literal first.
_REST_SERVICES = ("route53",)


@cache
def _rest_routes(service: str) -> list[tuple[str, str, re.Pattern[str]]]:
    model = service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path = http["requestUri"].partition("?")[0].rstrip("/")
        pattern = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.escape(path))
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
        literal = len(re.sub(r"\{[^}]+\}", "", path))
        routes.append((literal, http["method"], name, re.compile(f"^{pattern}/?$")))
    routes.sort(key=lambda r: -r[0])
    return [(m, n, p) for _, m, n, p in routes]


def _rest_operation(service: str, method: str, path: str) -> str | None:
    for route_method, name, pattern in _rest_routes(service):
        if route_method == method and pattern.match(path):
            return name
    return None


def classify(environ: dict[str, Any], seq: int) -> Call:
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/")
    query = environ.get("QUERY_STRING", "")
    service = _service(environ)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        action, protocol = target.rsplit(".", 1)[-1], "json"
    elif service == "s3":
        action = _s3_operation(environ, method, path, query) or f"{method} {path}"
        return Call(seq, service, action, method not in ("GET", "HEAD"), method, path, "s3")
    elif service in _REST_SERVICES:
        action = _rest_operation(service, method, path) or f"{method} {path}"
        protocol = "rest"
    else:
        params = parse_qs(query)
        if "Action" not in params and "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
            params = parse_qs(_read_body(environ).decode("utf-8", "replace"))
        action = params.get("Action", [f"{method} {path}"])[0]
        protocol = "ec2" if service == "ec2" else "query"
    mutating = not action.startswith(_READ_PREFIXES)
    return Call(seq, service, action, mutating, method, path, protocol)


# --- error bodies, per protocol ------------------------------------------------------------


def error_reply(protocol: str, code: str, message: str, status: int) -> Reply:
    """An AWS error response as each protocol's SDK parser expects it."""
    request_id = str(uuid.uuid4())
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)]
        return Reply(status, headers, body)
    if protocol == "ec2":
        xml = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        )
    elif protocol == "s3":
        xml = (
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        xml = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return Reply(status, headers, xml.encode())


def fault_reply(protocol: str, requested: str) -> Reply:
    """The protocol's own spelling of a throttling or server error."""
    if requested in _THROTTLING_CODES:
        code, status, message = {
            "json": ("ThrottlingException", 400, "Rate exceeded"),
            "query": ("Throttling", 400, "Rate exceeded"),
            "ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
            "s3": ("SlowDown", 503, "Please reduce your request rate."),
        }[protocol]
    elif "Unavailable" in requested:
        code, status, message = (
            "Unavailable" if protocol == "ec2" else "ServiceUnavailable",
            503,
            "Service is unavailable. Please try again later.",
        )
    else:
        code, status, message = (
            "InternalError" if protocol in ("ec2", "s3") else "InternalFailure",
            500,
            "We encountered an internal error. Please try again.",
        )
    return error_reply(protocol, code, message, status)


# --- hooks -------------------------------------------------------------------------------------


@dataclass
class Injection:
    """Answer the next ``times`` matching calls with one error (eventual-consistency tests)."""

    service: str
    action: str
    code: str
    message: str
    status: int = 400
    times: int = 1

    def before(self, call: Call) -> Reply | None:
        if self.times <= 0 or call.service != self.service or call.action != self.action:
            return None
        self.times -= 1
        call.error = self.code
        return error_reply(call.protocol, self.code, self.message, self.status)

    def after(self, call: Call) -> None:
        return None


@dataclass
class Faults:
    """Fail a random share of calls with throttling / 5xx errors (retry tests)."""

    rate: float
    codes: list[str]
    services: list[str] | None = None
    seed: int | None = None
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def before(self, call: Call) -> Reply | None:
        if self.services and call.service not in self.services:
            return None
        if self._rng.random() >= self.rate:
            return None
        reply = fault_reply(call.protocol, self._rng.choice(self.codes))
        call.error = _error_code(reply)
        return reply

    def after(self, call: Call) -> None:
        return None


def _error_code(reply: Reply) -> str:
    text = reply.body.decode()
    if text.startswith("{"):
        return str(json.loads(text)["__type"])
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0]


class Refused(Exception):
    """A control-plane request that is well-formed but not allowed (answered 403)."""


def is_live_child(pid: int) -> bool:
    """Whether ``pid`` is a child process of this process that has not exited.

    ``waitid`` with WNOWAIT only peeks: the child stays waitable by whoever started it. A pid
    that is not our child (pid 1, our parent, ourselves, 0 or -1, which ``kill`` would read as
    whole process groups) is refused.
    """
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except OSError:  # ChildProcessError: not our child (or already reaped)
        return False


@dataclass
class Crash:
    """SIGKILL ``pid`` once moto has answered the k-th mutating call (crash-safety tests).

    ``pid`` must be a live child of this process, checked when armed and again before the kill
    (the child may have exited, and its pid been reused, in between).
    """

    after_mutating: int
    pid: int
    seen: int = 0

    def __post_init__(self) -> None:
        if self.after_mutating < 1:
            raise ValueError(f"after_mutating must be at least 1, not {self.after_mutating}")
        if not is_live_child(self.pid):
            raise Refused(
                f"pid {self.pid} is not a live child process of the emulator (pid {os.getpid()}); "
                "the crash hook only signals processes the emulator's own process started"
            )

    def before(self, call: Call) -> Reply | None:
        return None

    def after(self, call: Call) -> None:
        if not call.mutating or self.seen >= self.after_mutating:
            return
        self.seen += 1
        if self.seen == self.after_mutating and is_live_child(self.pid):
            os.kill(self.pid, signal.SIGKILL)


# --- the middleware ------------------------------------------------------------------------


class EmulatorMiddleware:
    """Wraps moto's WSGI app; see the module docstring for the control plane.

    ``control`` switches the test control plane on; off (the default) this is a pass-through
    that answers 404 under ``/_ecs_cicd/``.
    """

    def __init__(self, app: WsgiApp, *, control: bool = False) -> None:
        self.app = app
        self.control_enabled = control
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.injections: list[Injection] = []
        self.faults: Faults | None = None
        self.crash: Crash | None = None

    @property
    def hooks(self) -> list[Hook]:
        """Active hooks in the order they run. Subclasses may extend this list."""
        hooks: list[Hook] = list(self.injections)
        if self.faults is not None:
            hooks.append(self.faults)
        if self.crash is not None:
            hooks.append(self.crash)
        return hooks

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == PREFIX or path.startswith(PREFIX + "/"):
            if not self.control_enabled:
                return _send(start_response, _json(404, {"error": "not found"}))
            return self._control(environ, start_response)
        latency = pacing.current().latency_ms
        if latency > 0:
            # Outside every lock: concurrent requests wait side by side, as on AWS.
            time.sleep(latency / 1000)
        if not self.control_enabled:
            return self.app(environ, start_response)
        with self.lock:
            call = classify(environ, len(self.calls) + 1)
            self.calls.append(call)
            hooks = self.hooks
            reply = next((r for r in (h.before(call) for h in hooks) if r is not None), None)
        if reply is not None:
            call.status = reply.status
            return _send(start_response, reply)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        # The body is produced in full before anything is returned: the crash hook must act
        # after moto has done the work but before the caller can learn of it.
        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        call.status = int(str(captured["status"]).split(" ", 1)[0])
        with self.lock:
            for hook in hooks:
                hook.after(call)
        if call.status >= 500 and body.lstrip().lower().startswith((b"<!doctype html", b"<html")):
            # moto raised (Flask's HTML error page): answer as AWS does on an internal failure,
            # a 500 in the protocol's own error format, which SDKs parse and retry.
            reply = error_reply(call.protocol, "InternalFailure", "internal failure", 500)
            return _send(start_response, reply)
        start_response(captured["status"], captured["headers"])
        return [body]

    # --- control plane ---

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        route = environ.get("PATH_INFO", "")[len(PREFIX) :]
        raw = _read_body(environ)
        try:
            payload: dict[str, Any] = json.loads(raw) if raw.strip() else {}
            answer = self.control(method, route, payload)
        except Refused as exc:
            return _send(start_response, _json(403, {"error": str(exc)}))
        except (KeyError, TypeError, ValueError) as exc:
            return _send(start_response, _json(400, {"error": f"bad request: {exc!r}"}))
        if answer is None:
            return _send(start_response, _json(404, {"error": f"no route {method} {route}"}))
        return _send(start_response, _json(200, answer))

    def control(self, method: str, route: str, payload: dict[str, Any]) -> Any:
        """Handle one control-plane request; None means no such route."""
        with self.lock:
            if (method, route) == ("GET", "/health"):
                return {"ok": True}
            if (method, route) == ("GET", "/calls"):
                return [c.as_dict() for c in self.calls]
            if (method, route) == ("POST", "/calls/reset"):
                self.calls.clear()
                return {"ok": True}
            if (method, route) == ("POST", "/faults"):
                self.faults = Faults(
                    rate=float(payload["rate"]),
                    codes=list(payload.get("codes") or ["ThrottlingException"]),
                    services=payload.get("services"),
                    seed=payload.get("seed"),
                )
                return {"ok": True}
            if (method, route) == ("POST", "/inject"):
                self.injections.append(
                    Injection(
                        service=str(payload["service"]),
                        action=str(payload["action"]),
                        code=str(payload["code"]),
                        message=str(payload.get("message", payload["code"])),
                        status=int(payload.get("status", 400)),
                        times=int(payload.get("times", 1)),
                    )
                )
                return {"ok": True}
            if (method, route) == ("POST", "/crash"):
                self.crash = Crash(int(payload["after_mutating"]), int(payload["pid"]))
                return {"ok": True}
            if (method, route) == ("POST", "/pipeline-failure"):
                codepipeline.fail_next_execution(
                    stage=str(payload["stage"]),
                    message=str(payload.get("message", "Emulated failure")),
                    code=str(payload.get("code", "JobFailed")),
                    times=int(payload.get("times", 1)),
                )
                return {"ok": True}
            if (method, route) == ("POST", "/alarm-on-deploy"):
                scaling.arm_alarm(
                    str(payload["alarm"]),
                    str(payload.get("reason", "Threshold Crossed: emulated")),
                    int(payload.get("times", 1)),
                )
                return {"ok": True}
            if (method, route) == ("POST", "/scale"):
                desired = ecs.scale_service(
                    str(payload.get("account", "123456789012")),
                    str(payload.get("region", "ap-northeast-1")),
                    str(payload["cluster"]),
                    str(payload["service"]),
                    int(payload["desired"]),
                )
                return {"ok": True, "desired": desired}
            if method == "DELETE" and route in _CLEARS:
                _CLEARS[route](self)
                return {"ok": True}
        return None


def _clear_faults(m: EmulatorMiddleware) -> None:
    m.faults = None


def _clear_injections(m: EmulatorMiddleware) -> None:
    m.injections.clear()


def _clear_crash(m: EmulatorMiddleware) -> None:
    m.crash = None


def _clear_pipeline_failures(_m: EmulatorMiddleware) -> None:
    codepipeline.clear_failures()


def _clear_alarm_trips(_m: EmulatorMiddleware) -> None:
    scaling.clear_alarms()


_CLEARS: dict[str, Callable[[EmulatorMiddleware], None]] = {
    "/faults": _clear_faults,
    "/inject": _clear_injections,
    "/crash": _clear_crash,
    "/pipeline-failure": _clear_pipeline_failures,
    "/alarm-on-deploy": _clear_alarm_trips,
}


def _json(status: int, value: Any) -> Reply:
    return Reply(status, [("Content-Type", "application/json")], json.dumps(value).encode())


def _send(start_response: StartResponse, reply: Reply) -> list[bytes]:
    reason = {
        200: "OK",
        400: "Bad Request",
        403: "Forbidden",
        404: "Not Found",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }.get(reply.status, "Error")
    headers = [*reply.headers, ("Content-Length", str(len(reply.body)))]
    start_response(f"{reply.status} {reason}", headers)
    return [reply.body]
