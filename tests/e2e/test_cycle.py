"""The whole cycle through the real CLI against the emulator's HTTP server: up creates every
resource with the configured properties, a second up and plan make no mutating call, down
leaves nothing, secrets never leak."""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from typing import Any

import pytest

from ecs_cicd.emulator.client import fetch_calls, reset_calls
from ecs_cicd.inventory import inventory, non_empty
from tests.conftest import TOKEN
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e
STACK = "test-codepipeline-dev"


def mutating(endpoint: str) -> list[str]:
    return [f"{c['service']}:{c['action']}" for c in fetch_calls(endpoint) if c["mutating"]]


# Reads of a no-op `plan` of the example's 25 resources (measured: 36): the caller identity,
# one batched read per kind where the API takes a list (IAM's 4 roles in one
# GetAccountAuthorizationDetails, both subnets, both groups, both repositories, both log groups,
# the ELBv2 tags), and the reads that have no batched form (a bucket's six reads, the VPC's
# two DNS attributes, each repository's tags and lifecycle policy, each log group's tags, the
# load balancer's and target group's attributes). A no-op `up` adds its three waits' reads.
PLAN_READS = 36
NOOP_UP_READS = PLAN_READS + 3
# What is read once per kind, however many resources of it there are.
BATCHED = {
    "iam:GetAccountAuthorizationDetails",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ecr:DescribeRepositories",
    "logs:DescribeLogGroups",
    "elbv2:DescribeTags",
}


def reads(endpoint: str) -> list[str]:
    return [f"{c['service']}:{c['action']}" for c in fetch_calls(endpoint) if not c["mutating"]]


def assert_economical(calls: list[str], most: int) -> None:
    counts = Counter(calls)
    assert len(calls) <= most, sorted(counts.items())
    assert {k: counts[k] for k in BATCHED} == dict.fromkeys(BATCHED, 1), sorted(counts.items())
    per_role = {"iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy"}
    assert not per_role & set(counts), sorted(counts.items())


def tags(items: list[dict[str, str]], key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {t[key]: t[value] for t in items}


def test_full_cycle(cli: Cli) -> None:
    reset_calls(cli.endpoint)
    up = cli.run("up", "--output", "json")
    result = json.loads(up.stdout)
    actions = {r["id"]: r["action"] for r in result["resources"]}
    assert set(actions.values()) == {"create"}, actions
    assert len(actions) == 25
    assert result["outputs"]["url"].startswith("http://") and ".elb." in result["outputs"]["url"]
    assert set(result["outputs"]["repositories"]) == {"nginx", "app"}
    assert result["calls"]["mutating"] == len(
        mutating(cli.endpoint)
    )  # the tool counts what AWS saw
    assert_properties(cli)

    # Idempotent: a second up and a plan make no mutating call at all, and few reads: each
    # kind's recorded resources are read in one batched call (Kind.lookup_many, Ctx.shared).
    reset_calls(cli.endpoint)
    again = json.loads(cli.run("up", "--output", "json").stdout)
    assert {r["action"] for r in again["resources"]} == {"unchanged"}
    assert mutating(cli.endpoint) == []
    assert_economical(reads(cli.endpoint), NOOP_UP_READS)
    reset_calls(cli.endpoint)
    plan = json.loads(cli.run("plan", "--output", "json").stdout)
    assert {r["action"] for r in plan["resources"]} == {"unchanged"}
    assert mutating(cli.endpoint) == []
    assert_economical(reads(cli.endpoint), PLAN_READS)

    status = json.loads(cli.run("status", "--output", "json").stdout)
    assert status["details"]["service"]["running"] == 1
    assert status["details"]["pipeline"]["status"] == "Succeeded"
    outputs = json.loads(cli.run("outputs", "--output", "json").stdout)
    assert outputs["pipeline"] == STACK and outputs["cluster"] == STACK

    state_file = cli.workdir / ".ecs_cicd" / f"{STACK}-ap-northeast-1.json"
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
    assert TOKEN not in state_file.read_text()
    for out in (up.stdout, up.stderr):
        assert TOKEN not in out

    down = cli.run("down", "--yes", "--output", "json")
    assert TOKEN not in down.stdout + down.stderr
    assert not state_file.exists()
    assert non_empty(inventory(cli.aws(), prefix="test-codepipeline")) == {}


def assert_properties(cli: Cli) -> None:
    aws = cli.aws()
    elb = aws.client("elbv2")
    tg = elb.describe_target_groups(Names=[f"{STACK}-tg"])["TargetGroups"][0]
    assert (
        tg["HealthCheckPath"],
        tg["HealthCheckIntervalSeconds"],
        tg["HealthyThresholdCount"],
        tg["UnhealthyThresholdCount"],
        tg["HealthCheckTimeoutSeconds"],
        tg["Matcher"]["HttpCode"],
        tg["TargetType"],
    ) == ("/health", 10, 2, 3, 5, "200-399", "ip")
    attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])[
            "Attributes"
        ]
    }
    assert attrs["deregistration_delay.timeout_seconds"] == "30"
    lb = elb.describe_load_balancers(Names=[f"{STACK}-alb"])["LoadBalancers"][0]
    assert lb["Scheme"] == "internet-facing"
    lb_tags = tags(
        elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]
    )
    assert lb_tags["ecs-cicd:stack"] == STACK and lb_tags["ecs-cicd:id"] == "alb"

    ecs = aws.client("ecs")
    svc = ecs.describe_services(cluster=STACK, services=[STACK])["services"][0]
    assert (
        svc["loadBalancers"][0]["containerName"] == "nginx"
        and svc["loadBalancers"][0]["containerPort"] == 80
    )
    assert svc["runningCount"] == svc["desiredCount"] == 1
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    nginx = next(c for c in td["containerDefinitions"] if c["name"] == "nginx")
    assert nginx["dependsOn"] == [{"containerName": "app", "condition": "HEALTHY"}]
    assert nginx["logConfiguration"]["logDriver"] == "awslogs"
    assert nginx["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{STACK}"

    cp = aws.client("codepipeline")
    stages = cp.get_pipeline(name=STACK)["pipeline"]["stages"]
    assert [s["name"] for s in stages] == ["Source", "Build", "Deploy"]
    source = stages[0]["actions"][0]
    assert source["actionTypeId"] == {
        "category": "Source",
        "owner": "ThirdParty",
        "provider": "GitHub",
        "version": "1",
    }
    assert source["configuration"]["PollForSourceChanges"] == "false"
    assert source["configuration"]["Branch"] == "master"
    deploy = stages[2]["actions"][0]
    assert deploy["actionTypeId"]["provider"] == "ECS"
    assert (
        deploy["configuration"]["ClusterName"] == STACK
        and deploy["configuration"]["FileName"] == "imagedefinitions.json"
    )
    hooks = cp.list_webhooks()["webhooks"]
    assert [h["definition"]["filters"] for h in hooks] == [
        [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}]
    ]
    # AWS started one execution when the pipeline was created; up did not start a second.
    assert len(cp.list_pipeline_executions(pipelineName=STACK)["pipelineExecutionSummaries"]) == 1


def test_bad_config_is_refused_before_any_aws_call(cli: Cli) -> None:
    cfg = cli.workdir / "ecs_cicd.yaml"
    cfg.write_text(cfg.read_text().replace("listener_port: 80", "listner_port: 80"))
    reset_calls(cli.endpoint)
    proc = cli.run("up", check=False)
    assert proc.returncode == 2
    assert "load_balancer.listner_port" in proc.stderr and "listener_port" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert fetch_calls(cli.endpoint) == []


def test_unset_token_variable_is_refused(cli: Cli) -> None:
    env = cli.env()
    del env["GITHUB_TOKEN"]
    # Read-only verbs never need the token.
    assert cli.run("validate", env=env).returncode == 0
    assert cli.run("plan", env=env).returncode == 0
    reset_calls(cli.endpoint)
    # `up` needs it to create the pipeline: refused before its first change.
    proc = cli.run("up", check=False, env=env)
    assert proc.returncode == 2 and "GITHUB_TOKEN" in proc.stderr
    assert [c for c in fetch_calls(cli.endpoint) if c["mutating"]] == []


def test_validate_is_offline(cli: Cli) -> None:
    reset_calls(cli.endpoint)
    proc = cli.run("validate")
    assert "valid" in proc.stdout
    assert fetch_calls(cli.endpoint) == []


def _unused(_: Any) -> None:
    pass
