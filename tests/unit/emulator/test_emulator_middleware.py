"""The WSGI middleware on its own (no sockets): classification, control plane, hooks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from botocore.model import ServiceModel
from botocore.session import get_session
from werkzeug.test import Client

from ecs_cicd.emulator import middleware as mw

AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/ap-northeast-1/{service}/aws4_request, "
    "SignedHeaders=host, Signature=abc"
)


def _downstream(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"echo": body.decode()}).encode()]


@pytest.fixture
def app() -> mw.EmulatorMiddleware:
    return mw.EmulatorMiddleware(_downstream, control=True)


_REAL_KILL = os.kill


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A live child process of this (the emulator's) process, for the crash hook to target."""
    process = subprocess.Popen(["sleep", "60"])
    try:
        yield process
    finally:
        # The real os.kill: a test may still have it replaced (monkeypatch) at this point.
        with contextlib.suppress(ProcessLookupError):
            _REAL_KILL(process.pid, signal.SIGKILL)
        process.wait()


def _json_call(client: Client, service: str, target: str, body: str = "{}") -> Any:
    return client.post(
        "/",
        data=body,
        headers={
            "Authorization": AUTH.format(service=service),
            "X-Amz-Target": target,
            "Content-Type": "application/x-amz-json-1.1",
        },
    )


def test_requests_are_classified_and_logged(app: mw.EmulatorMiddleware) -> None:
    client = Client(app)
    _json_call(client, "ecs", "AmazonEC2ContainerServiceV20141113.DescribeServices")
    _json_call(client, "codepipeline", "CodePipeline_20150709.CreatePipeline")
    query = client.post(
        "/",
        data="Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16",
        headers={
            "Authorization": AUTH.format(service="ec2"),
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        },
    )
    # The form body still reaches moto after the middleware read it.
    assert "CidrBlock" in query.get_json()["echo"]
    client.post(
        "/",
        data="Action=DescribeLoadBalancers&Version=2015-12-01",
        headers={
            "Authorization": AUTH.format(service="elasticloadbalancing"),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    client.put("/bucket?versioning", headers={"Authorization": AUTH.format(service="s3")})
    client.get("/bucket?versioning", headers={"Authorization": AUTH.format(service="s3")})
    client.head("/bucket", headers={"Authorization": AUTH.format(service="s3")})
    calls = Client(app).get("/_ecs_cicd/calls").get_json()
    assert [(c["service"], c["action"], c["mutating"]) for c in calls] == [
        ("ecs", "DescribeServices", False),
        ("codepipeline", "CreatePipeline", True),
        ("ec2", "CreateVpc", True),
        ("elbv2", "DescribeLoadBalancers", False),
        ("s3", "PutBucketVersioning", True),
        ("s3", "GetBucketVersioning", False),
        ("s3", "HeadBucket", False),
    ]
    assert [c["seq"] for c in calls] == list(range(1, 8))
    assert all(c["status"] == 200 for c in calls)
    assert client.post("/_ecs_cicd/calls/reset").status_code == 200
    assert client.get("/_ecs_cicd/calls").get_json() == []


def test_control_plane_errors(app: mw.EmulatorMiddleware) -> None:
    client = Client(app)
    assert client.get("/_ecs_cicd/nope").status_code == 404
    assert client.post("/_ecs_cicd/faults", data="{}").status_code == 400  # rate missing
    assert client.post("/_ecs_cicd/faults", data="not json").status_code == 400
    assert client.get("/_ecs_cicd/health").get_json() == {"ok": True}
    # Control-plane requests are not AWS calls.
    assert client.get("/_ecs_cicd/calls").get_json() == []


def _parse(service: str, reply: mw.Reply) -> dict[str, Any]:
    """Parse an error reply the way botocore does for that service."""
    model = ServiceModel(get_session().get_service_data(service), service)
    # The protocol a client really speaks: newer models list several (CodeBuild lists
    # smithy-rpc-v2-cbor first, but botocore's clients still speak json to it).
    client = get_session().create_client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    parser = client._response_parser
    operation = next(
        model.operation_model(name)
        for name in model.operation_names
        if model.operation_model(name).output_shape is not None
    )
    assert operation.output_shape is not None
    parsed: dict[str, Any] = parser.parse(
        {"status_code": reply.status, "headers": dict(reply.headers), "body": reply.body},
        operation.output_shape,
    )
    return parsed


@pytest.mark.parametrize(
    ("service", "protocol", "code", "status"),
    [
        ("codebuild", "json", "ThrottlingException", 400),
        ("iam", "query", "Throttling", 400),
        ("elbv2", "query", "Throttling", 400),
        ("ec2", "ec2", "RequestLimitExceeded", 503),
        ("s3", "s3", "SlowDown", 503),
    ],
)
def test_throttling_replies_parse_as_that_code(
    service: str, protocol: str, code: str, status: int
) -> None:
    reply = mw.fault_reply(protocol, "ThrottlingException")
    assert reply.status == status
    assert _parse(service, reply)["Error"]["Code"] == code


@pytest.mark.parametrize(
    ("service", "protocol", "code"),
    [
        ("ecs", "json", "InternalFailure"),
        ("sts", "query", "InternalFailure"),
        ("ec2", "ec2", "InternalError"),
    ],
)
def test_server_error_replies(service: str, protocol: str, code: str) -> None:
    reply = mw.fault_reply(protocol, "InternalError")
    assert reply.status == 500
    assert _parse(service, reply)["Error"]["Code"] == code
    unavailable = mw.fault_reply(protocol, "ServiceUnavailable")
    assert unavailable.status == 503


def test_injection_answers_the_next_n_matching_calls(app: mw.EmulatorMiddleware) -> None:
    client = Client(app)
    client.post(
        "/_ecs_cicd/inject",
        json={
            "service": "codebuild",
            "action": "CreateProject",
            "code": "InvalidInputException",
            "message": "CodeBuild is not authorized to perform: sts:AssumeRole on x",
            "times": 2,
        },
    )
    statuses = []
    for _ in range(3):
        reply = _json_call(client, "codebuild", "CodeBuild_20161006.CreateProject")
        statuses.append(reply.status_code)
        _json_call(client, "codebuild", "CodeBuild_20161006.BatchGetProjects")  # not matched
    assert statuses == [400, 400, 200]
    calls = client.get("/_ecs_cicd/calls").get_json()
    assert [c["error"] for c in calls if c["action"] == "CreateProject"] == [
        "InvalidInputException",
        "InvalidInputException",
        None,
    ]


def test_faults_are_deterministic_per_seed_and_limited_to_services(
    app: mw.EmulatorMiddleware,
) -> None:
    client = Client(app)

    def run() -> list[int]:
        client.post("/_ecs_cicd/faults", json={"rate": 0.5, "seed": 7, "services": ["ecs"]})
        return [
            _json_call(client, "ecs", "AmazonEC2ContainerServiceV20141113.ListClusters").status_code
            for _ in range(20)
        ]

    first, second = run(), run()
    assert first == second
    assert 0 < first.count(400) < 20
    assert _json_call(client, "logs", "Logs_20140328.DescribeLogGroups").status_code == 200
    client.delete("/_ecs_cicd/faults")
    assert (
        _json_call(client, "ecs", "AmazonEC2ContainerServiceV20141113.ListClusters").status_code
        == 200
    )


def test_crash_kills_after_the_kth_mutating_call(
    app: mw.EmulatorMiddleware,
    child: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    client = Client(app)
    armed = client.post("/_ecs_cicd/crash", json={"after_mutating": 2, "pid": child.pid})
    assert armed.status_code == 200
    _json_call(client, "logs", "Logs_20140328.CreateLogGroup")
    _json_call(client, "logs", "Logs_20140328.DescribeLogGroups")  # reads do not count
    assert killed == []
    _json_call(client, "logs", "Logs_20140328.PutRetentionPolicy")
    assert killed == [(child.pid, signal.SIGKILL)]
    _json_call(client, "logs", "Logs_20140328.DeleteLogGroup")
    assert len(killed) == 1  # once only


# --- the control plane is test machinery: off unless asked for ---------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/_ecs_cicd/health", None),
        ("GET", "/_ecs_cicd/calls", None),
        ("POST", "/_ecs_cicd/calls/reset", {}),
        ("POST", "/_ecs_cicd/faults", {"rate": 1.0}),
        ("DELETE", "/_ecs_cicd/faults", None),
        (
            "POST",
            "/_ecs_cicd/inject",
            {"service": "logs", "action": "CreateLogGroup", "code": "Boom"},
        ),
        ("POST", "/_ecs_cicd/crash", {"after_mutating": 1, "pid": 4242}),
        ("POST", "/_ecs_cicd/pipeline-failure", {"stage": "Build"}),
        ("GET", "/_ecs_cicd", None),
    ],
)
def test_control_plane_is_off_by_default(
    method: str, path: str, body: dict[str, Any] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed: list[int] = []
    monkeypatch.setattr(os, "kill", lambda pid, _sig: killed.append(pid))
    app = mw.EmulatorMiddleware(_downstream)
    assert not app.control_enabled
    client = Client(app)
    assert client.open(path, method=method, json=body).status_code == 404
    # Nothing was armed: AWS calls reach moto untouched, and nothing is logged.
    for _ in range(3):
        reply = _json_call(client, "logs", "Logs_20140328.CreateLogGroup", body='{"a": 1}')
        assert (reply.status_code, reply.get_json()) == (200, {"echo": '{"a": 1}'})
    assert (app.calls, app.injections, app.faults, app.crash, killed) == ([], [], None, None, [])


@pytest.mark.parametrize(
    "pid",
    [
        pytest.param(os.getpid(), id="the-emulator-itself"),
        pytest.param(os.getppid(), id="its-parent"),
        pytest.param(1, id="init"),
        pytest.param(0, id="own-process-group"),
        pytest.param(-1, id="every-process"),
    ],
)
def test_crash_hook_refuses_a_pid_that_is_not_a_live_child(
    app: mw.EmulatorMiddleware, pid: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    killed: list[int] = []
    monkeypatch.setattr(os, "kill", lambda target, _sig: killed.append(target))
    client = Client(app)
    reply = client.post("/_ecs_cicd/crash", json={"after_mutating": 1, "pid": pid})
    assert reply.status_code == 403
    assert "not a live child process" in reply.get_json()["error"]
    assert app.crash is None
    _json_call(client, "logs", "Logs_20140328.CreateLogGroup")
    assert killed == []


def test_crash_hook_refuses_a_child_that_has_exited(
    app: mw.EmulatorMiddleware, child: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    killed: list[int] = []
    client = Client(app)
    arm = {"after_mutating": 1, "pid": child.pid}
    assert client.post("/_ecs_cicd/crash", json=arm).status_code == 200
    child.kill()
    child.wait()  # reaped: its pid may now belong to anyone
    monkeypatch.setattr(os, "kill", lambda target, _sig: killed.append(target))
    _json_call(client, "logs", "Logs_20140328.CreateLogGroup")
    assert killed == []
    assert client.post("/_ecs_cicd/crash", json=arm).status_code == 403


def test_crash_hook_needs_a_positive_count(
    app: mw.EmulatorMiddleware, child: subprocess.Popen[bytes]
) -> None:
    reply = Client(app).post("/_ecs_cicd/crash", json={"after_mutating": 0, "pid": child.pid})
    assert reply.status_code == 400


def test_an_exception_in_moto_is_answered_as_aws_internal_failure() -> None:
    """moto raising gives Flask's HTML 500 page, which botocore cannot parse (and so does not
    retry); the emulator answers in the protocol's error format, as AWS does."""

    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ["wsgi.input"].read()
        start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/html")])
        return [b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"]

    client = Client(mw.EmulatorMiddleware(broken, control=True))
    reply = client.post(
        "/",
        data="Action=CreateRole&Version=2010-05-08&RoleName=r",
        headers={
            "Authorization": AUTH.format(service="iam"),
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        },
    )
    assert reply.status_code == 500
    assert b"<Code>InternalFailure</Code>" in reply.data and b"<Type>Receiver</Type>" in reply.data
