"""Transient faults and AWS's eventual consistency, injected in front of the emulator: each row
of AWS-BEHAVIOUR.md gets exactly that response, and `up`/`down` must still succeed — while an
error of the same code with another message fails at once."""

from __future__ import annotations

import json

import pytest

from ecs_cicd.emulator.client import (
    clear_faults,
    clear_injections,
    fail_pipeline,
    fetch_calls,
    inject_error,
    reset_calls,
    set_faults,
)
from ecs_cicd.inventory import inventory, non_empty
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e
PREFIX = "test-codepipeline"


def calls_of(cli: Cli, service: str, action: str) -> int:
    return sum(
        1 for c in fetch_calls(cli.endpoint) if c["service"] == service and c["action"] == action
    )


def down_clean(cli: Cli) -> None:
    clear_faults(cli.endpoint)
    clear_injections(cli.endpoint)
    cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix=PREFIX)) == {}


def test_fifteen_percent_throttling_and_5xx(cli: Cli) -> None:
    set_faults(
        cli.endpoint,
        0.15,
        seed=7,
        codes=["ThrottlingException", "ServiceUnavailable", "InternalError"],
    )
    try:
        reset_calls(cli.endpoint)
        done = json.loads(cli.run("up", "--output", "json", "--stats", timeout=600).stdout)
        faulted = sum(1 for c in fetch_calls(cli.endpoint) if c.get("error"))
        assert faulted > 10, "the fault layer injected almost nothing; the test proves nothing"
        # botocore retried them (standard mode) and --stats / the result count its retries;
        # faults injected on reads the wait makes after `up` printed are not in this count.
        assert 0 < done["calls"]["retries"] <= faulted
        assert json.loads(cli.run("plan", "--output", "json").stdout)["calls"]["mutating"] == 0
        cli.run("down", "--yes", timeout=600)
        assert non_empty(inventory(cli.aws(), prefix=PREFIX)) == {}
    finally:
        clear_faults(cli.endpoint)


# (service, action, code, message, times) — the creation-side rows of AWS-BEHAVIOUR.md.
CREATE_CASES = [
    (
        "iam",
        "CreateRole",
        "MalformedPolicyDocument",
        'Invalid principal in policy: "SERVICE":"codebuild.amazonaws.com"',
        2,
    ),
    (
        "codebuild",
        "CreateProject",
        "InvalidInputException",
        "CodeBuild is not authorized to perform: sts:AssumeRole on arn:aws:iam::123456789012:role/x",
        2,
    ),
    (
        "codepipeline",
        "CreatePipeline",
        "InvalidStructureException",
        "CodePipeline is not authorized to perform AssumeRole on role arn:aws:iam::123456789012:role/x",
        2,
    ),
    (
        "ecs",
        "CreateCluster",
        "InvalidParameterException",
        "Unable to assume the service linked role. Please verify that the ECS service linked role exists.",
        2,
    ),
    (
        "ecs",
        "CreateService",
        "InvalidParameterException",
        "The target group with targetGroupArn arn:aws:elasticloadbalancing:x does not have an associated load balancer.",
        2,
    ),
    ("ecs", "CreateService", "ClusterNotFoundException", "Cluster not found.", 1),
    (
        "s3",
        "CreateBucket",
        "OperationAborted",
        "A conflicting conditional operation is currently in progress against this resource.",
        1,
    ),
    (
        "logs",
        "PutRetentionPolicy",
        "OperationAbortedException",
        "A conflicting operation is currently in progress against this resource.",
        1,
    ),
]


@pytest.mark.parametrize(
    ("service", "action", "code", "message", "times"),
    CREATE_CASES,
    ids=[f"{c[1]}-{c[2]}" for c in CREATE_CASES],
)
def test_create_side_eventual_consistency(
    cli: Cli, service: str, action: str, code: str, message: str, times: int
) -> None:
    reset_calls(cli.endpoint)
    inject_error(cli.endpoint, service, action, code, message, times=times)
    try:
        cli.run("up", timeout=600)
        assert calls_of(cli, service, action) >= times + 1
    finally:
        down_clean(cli)


DELETE_CASES = [
    (
        "ec2",
        "DeleteSecurityGroup",
        "DependencyViolation",
        "resource sg-0123 has a dependent object",
        2,
    ),
    (
        "ec2",
        "DeleteSubnet",
        "DependencyViolation",
        "The subnet 'subnet-1' has dependencies and cannot be deleted.",
        2,
    ),
    (
        "ec2",
        "DetachInternetGateway",
        "DependencyViolation",
        "Network vpc-1 has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.",
        2,
    ),
    (
        "elbv2",
        "DeleteTargetGroup",
        "ResourceInUse",
        "Target group 'arn:x' is currently in use by a listener or a rule",
        2,
    ),
    (
        "ecs",
        "DeleteCluster",
        "ClusterContainsServicesException",
        "The Cluster cannot be deleted while Services are active.",
        2,
    ),
    ("iam", "DeleteRole", "DeleteConflict", "Cannot delete entity, must delete policies first.", 1),
]


@pytest.mark.parametrize(
    ("service", "action", "code", "message", "times"),
    DELETE_CASES,
    ids=[f"{c[1]}-{c[2]}" for c in DELETE_CASES],
)
def test_delete_side_dependency_lag(
    cli: Cli, service: str, action: str, code: str, message: str, times: int
) -> None:
    cli.run("up")
    reset_calls(cli.endpoint)
    inject_error(cli.endpoint, service, action, code, message, times=times)
    try:
        cli.run("down", "--yes", timeout=600)
        assert calls_of(cli, service, action) >= times + 1
        assert non_empty(inventory(cli.aws(), prefix=PREFIX)) == {}
    finally:
        clear_injections(cli.endpoint)
        if non_empty(inventory(cli.aws(), prefix=PREFIX)):
            cli.run("down", "--yes", check=False)


def test_same_code_other_message_fails_at_once(cli: Cli) -> None:
    reset_calls(cli.endpoint)
    inject_error(
        cli.endpoint,
        "codebuild",
        "CreateProject",
        "InvalidInputException",
        "Invalid buildspec: unknown phase",
        times=5,
    )
    try:
        proc = cli.run("up", check=False)
        assert proc.returncode == 1
        last = proc.stderr.strip().splitlines()[-1]
        assert (
            "CodeBuild project" in last
            and "InvalidInputException" in last
            and "Invalid buildspec" in last
        )
        assert calls_of(cli, "codebuild", "CreateProject") == 1
    finally:
        down_clean(cli)


def test_failed_pipeline_names_stage_and_action(cli: Cli) -> None:
    fail_pipeline(cli.endpoint, "Build", "Build failed: exit status 1")
    try:
        proc = cli.run("up", check=False)
        assert proc.returncode == 1, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert "stage Build" in last and "action" in last and "Build failed: exit status 1" in last
    finally:
        down_clean(cli)
