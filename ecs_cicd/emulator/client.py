"""Test helpers that drive an emulator's control plane (``/_ecs_cicd/...``) over HTTP.

Only loopback endpoints are accepted: these helpers are for a local emulator, never for AWS. The
emulator must have been started with its control plane on (``EmulatorServer(control=True)``);
otherwise every helper raises ``ControlPlaneError`` (the emulator answers 404).
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from typing import Any, cast
from urllib.parse import urlsplit

from ecs_cicd.emulator.middleware import PREFIX


class ControlPlaneError(RuntimeError):
    """The emulator refused a control-plane request (control plane off, bad or refused request)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _request(endpoint_url: str, method: str, route: str, body: Any = None) -> Any:
    host = urlsplit(endpoint_url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"not a local emulator endpoint: {endpoint_url}")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        endpoint_url.rstrip("/") + PREFIX + route,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")
        err.close()
        if err.code == 404:
            detail += " (is the emulator's control plane on? EmulatorServer(control=True))"
        raise ControlPlaneError(err.code, f"{method} {PREFIX}{route}: {err.code} {detail}") from err


def fetch_calls(endpoint_url: str) -> list[dict[str, Any]]:
    """Every AWS call the emulator has seen since the last reset, oldest first."""
    return cast(list[dict[str, Any]], _request(endpoint_url, "GET", "/calls"))


def reset_calls(endpoint_url: str) -> None:
    _request(endpoint_url, "POST", "/calls/reset", {})


def mutating_calls(endpoint_url: str) -> list[dict[str, Any]]:
    """The calls that change something (not Describe/Get/List/Head/BatchGet; S3 not GET/HEAD)."""
    return [c for c in fetch_calls(endpoint_url) if c["mutating"]]


def set_faults(
    endpoint_url: str,
    rate: float,
    *,
    seed: int | None = None,
    codes: list[str] | None = None,
    services: list[str] | None = None,
) -> None:
    """Fail ``rate`` of calls with throttling (or, for other codes, 5xx) errors."""
    body: dict[str, Any] = {"rate": rate, "seed": seed, "codes": codes or ["ThrottlingException"]}
    if services is not None:
        body["services"] = services
    _request(endpoint_url, "POST", "/faults", body)


def clear_faults(endpoint_url: str) -> None:
    _request(endpoint_url, "DELETE", "/faults")


def inject_error(
    endpoint_url: str,
    service: str,
    action: str,
    code: str,
    message: str,
    *,
    status: int = 400,
    times: int = 1,
) -> None:
    """Answer the next ``times`` calls of ``service``/``action`` with this error."""
    body = {
        "service": service,
        "action": action,
        "code": code,
        "message": message,
        "status": status,
        "times": times,
    }
    _request(endpoint_url, "POST", "/inject", body)


def clear_injections(endpoint_url: str) -> None:
    _request(endpoint_url, "DELETE", "/inject")


def crash_after(endpoint_url: str, after_mutating: int, pid: int) -> None:
    """SIGKILL ``pid`` right after moto has processed the ``after_mutating``-th mutating call.

    ``pid`` must be a live child process of the emulator's process (the test that runs the
    emulator in-process and started ``pid``); any other pid is refused (ControlPlaneError 403).
    """
    _request(endpoint_url, "POST", "/crash", {"after_mutating": after_mutating, "pid": pid})


def clear_crash(endpoint_url: str) -> None:
    _request(endpoint_url, "DELETE", "/crash")


def fail_pipeline(
    endpoint_url: str,
    stage: str,
    message: str = "Emulated failure",
    *,
    code: str = "JobFailed",
    times: int = 1,
) -> None:
    """Make the next ``times`` pipeline executions fail at ``stage``."""
    body = {"stage": stage, "message": message, "code": code, "times": times}
    _request(endpoint_url, "POST", "/pipeline-failure", body)


def alarm_on_deploy(
    endpoint_url: str, alarm: str = "*", reason: str = "Threshold Crossed", *, times: int = 1
) -> None:
    """Make the next ``times`` ECS deployments watching ``alarm`` ("*": any of the service's
    deployment alarms) set it off and roll back."""
    _request(
        endpoint_url,
        "POST",
        "/alarm-on-deploy",
        {"alarm": alarm, "reason": reason, "times": times},
    )


def clear_alarm_trips(endpoint_url: str) -> None:
    _request(endpoint_url, "DELETE", "/alarm-on-deploy")


def scale_service(
    endpoint_url: str,
    cluster: str,
    service: str,
    desired: int,
    *,
    region: str = "ap-northeast-1",
    account: str = "123456789012",
) -> int:
    """Set a service's desired count as Application Auto Scaling would (no logged call)."""
    body = {
        "cluster": cluster,
        "service": service,
        "desired": desired,
        "region": region,
        "account": account,
    }
    answer = _request(endpoint_url, "POST", "/scale", body)
    return int(answer["desired"])
