"""The emulator as an HTTP server: call log, fault injection, targeted errors, crash hook.

Everything here talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ecs_cicd.emulator import EmulatorServer
from ecs_cicd.emulator.client import (
    clear_crash,
    clear_faults,
    clear_injections,
    crash_after,
    fetch_calls,
    inject_error,
    mutating_calls,
    reset_calls,
    set_faults,
)

pytestmark = pytest.mark.e2e

REGION = "ap-northeast-1"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": "codebuild.amazonaws.com"},
        }
    ],
}


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as emulator:
        yield emulator


@pytest.fixture
def endpoint(server: EmulatorServer) -> Iterator[str]:
    url = server.endpoint_url
    request = urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    reset_calls(url)
    yield url
    clear_faults(url)
    clear_injections(url)
    clear_crash(url)


def client(endpoint: str, service: str, attempts: int = 1) -> Any:
    config = Config(retries={"mode": "standard", "max_attempts": attempts}, connect_timeout=5)
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def test_binds_loopback_and_picks_a_free_port(server: EmulatorServer) -> None:
    assert server.endpoint_url.startswith("http://127.0.0.1:")
    assert not server.endpoint_url.endswith(":0")


def test_call_log_classifies_every_protocol(endpoint: str) -> None:
    client(endpoint, "sts").get_caller_identity()
    ec2 = client(endpoint, "ec2")
    ec2.create_vpc(CidrBlock="10.0.0.0/16")
    ec2.describe_vpcs()
    client(endpoint, "ecs").list_clusters()
    s3 = client(endpoint, "s3")
    s3.create_bucket(Bucket="art", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.head_bucket(Bucket="art")
    client(endpoint, "elbv2").describe_load_balancers()
    client(endpoint, "logs").create_log_group(logGroupName="/x")
    calls = fetch_calls(endpoint)
    assert [(c["service"], c["action"], c["mutating"]) for c in calls] == [
        ("sts", "GetCallerIdentity", False),
        ("ec2", "CreateVpc", True),
        ("ec2", "DescribeVpcs", False),
        ("ecs", "ListClusters", False),
        ("s3", "PUT /art", True),
        ("s3", "HEAD /art", False),
        ("elbv2", "DescribeLoadBalancers", False),
        ("logs", "CreateLogGroup", True),
    ]
    assert [c["action"] for c in mutating_calls(endpoint)] == [
        "CreateVpc",
        "PUT /art",
        "CreateLogGroup",
    ]
    reset_calls(endpoint)
    assert fetch_calls(endpoint) == []


def test_patches_apply_in_the_server(endpoint: str) -> None:
    iam = client(endpoint, "iam")
    trust = json.loads(json.dumps(TRUST))
    trust["Statement"][0]["Principal"]["Service"] = "codepipeline.amazonaws.com"
    role = iam.create_role(RoleName="cp", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    cp = client(endpoint, "codepipeline")
    action = {
        "name": "a",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "outputArtifacts": [{"name": "o"}],
    }
    cp.create_pipeline(
        pipeline={
            "name": "p",
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": "bucket"},
            "stages": [
                {"name": "One", "actions": [action]},
                {"name": "Two", "actions": [dict(action, name="b", outputArtifacts=[])]},
            ],
        }
    )
    [summary] = cp.list_pipeline_executions(pipelineName="p")["pipelineExecutionSummaries"]
    assert summary["status"] == "Succeeded"
    # AWS managed policies are loaded in the server.
    policy = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    assert iam.get_policy(PolicyArn=policy)["Policy"]["Arn"] == policy


def _fifty_calls(endpoint: str, attempts: int) -> tuple[int, list[str]]:
    """50 read calls spread over every protocol; returns (succeeded, error codes of failures)."""
    reads: list[Any] = [
        client(endpoint, "sts", attempts).get_caller_identity,
        client(endpoint, "ecs", attempts).list_clusters,
        client(endpoint, "logs", attempts).describe_log_groups,
        client(endpoint, "iam", attempts).list_roles,
        client(endpoint, "ec2", attempts).describe_vpcs,
        client(endpoint, "s3", attempts).list_buckets,
    ]
    ok, failures = 0, []
    for i in range(50):
        try:
            reads[i % len(reads)]()
            ok += 1
        except ClientError as err:
            failures.append(str(err.response["Error"]["Code"]))
    return ok, failures


def test_standard_retries_absorb_a_15_percent_fault_rate(endpoint: str) -> None:
    set_faults(endpoint, 0.15, seed=1, codes=["ThrottlingException", "ServiceUnavailable"])
    ok, failures = _fifty_calls(endpoint, attempts=10)
    assert (ok, failures) == (50, [])
    faulted = [c for c in fetch_calls(endpoint) if c["error"]]
    assert faulted, "no fault was injected"
    assert {c["error"] for c in faulted} <= {
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "Unavailable",
    }


def test_without_retries_faults_surface(endpoint: str) -> None:
    set_faults(endpoint, 0.15, seed=1, codes=["ThrottlingException", "ServiceUnavailable"])
    ok, failures = _fifty_calls(endpoint, attempts=1)
    assert failures and ok == 50 - len(failures)
    clear_faults(endpoint)
    assert _fifty_calls(endpoint, attempts=1) == (50, [])


def test_targeted_injection_answers_the_next_calls_then_stops(endpoint: str) -> None:
    role = client(endpoint, "iam").create_role(
        RoleName="cb", AssumeRolePolicyDocument=json.dumps(TRUST)
    )["Role"]["Arn"]
    message = f"CodeBuild is not authorized to perform: sts:AssumeRole on {role}"
    inject_error(endpoint, "codebuild", "CreateProject", "InvalidInputException", message, times=2)
    codebuild = client(endpoint, "codebuild")

    def create() -> Any:
        return codebuild.create_project(
            name="shop",
            source={"type": "CODEPIPELINE"},
            artifacts={"type": "CODEPIPELINE"},
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
            },
            serviceRole=role,
        )

    for _ in range(2):
        with pytest.raises(ClientError) as err:
            create()
        assert err.value.response["Error"] == {"Code": "InvalidInputException", "Message": message}
    assert create()["project"]["name"] == "shop"
    # The injected calls never reached moto: exactly one project exists.
    assert len(codebuild.list_projects()["projects"]) == 1


def test_crash_hook_kills_after_the_kth_mutating_call(endpoint: str) -> None:
    victim = subprocess.Popen(["sleep", "60"])
    try:
        crash_after(endpoint, 2, victim.pid)
        logs = client(endpoint, "logs")
        logs.create_log_group(logGroupName="/one")
        logs.describe_log_groups()
        assert victim.poll() is None  # one mutating call so far
        logs.create_log_group(logGroupName="/two")
        assert victim.wait(timeout=10) == -signal.SIGKILL
        # The call that triggered the kill was carried out by moto first.
        names = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
        assert names == ["/one", "/two"]
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_blocks_until_interrupted() -> None:
    port = _free_port()
    code = f"from ecs_cicd.emulator import serve; serve(port={port})"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/_ecs_cicd/health", timeout=2
                ) as response:
                    assert json.loads(response.read()) == {"ok": True}
                    break
            except OSError:
                assert process.poll() is None, "serve() exited early"
                assert time.monotonic() < deadline, "serve() never answered"
                time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert f"http://127.0.0.1:{port}" in (process.stdout.read() if process.stdout else "")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
