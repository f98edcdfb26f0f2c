"""AWS's rules through the real CLI: a config AWS would refuse is refused by every verb with exit
2, every problem on its own line with its field path, and not one API call; a long project with
environment `production` deploys under shortened names that `plan`, `outputs` and `down` agree on."""

from __future__ import annotations

import json

import pytest

from ecs_cicd.emulator.client import fetch_calls, reset_calls
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e


def test_every_problem_refused_before_any_aws_call(cli: Cli) -> None:
    cfg = cli.workdir / "ecs_cicd.yaml"
    text = cfg.read_text()
    text = text.replace("region: ap-northeast-1", 'region: ap-northeast-1\ntags: {"aws:owner": me}')
    text = text.replace("    path: /health", '    path: health\n    matcher: "600"')
    text = text.replace(
        "    buildspec: buildspec.yml", "    buildspec: buildspec.yml\n    compute_type: HUGE"
    )
    cfg.write_text(text)
    for verb in ("validate", "plan", "up"):
        reset_calls(cli.endpoint)
        proc = cli.run(verb, check=False)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        for field in (
            "load_balancer.health_check.path",
            "load_balancer.health_check.matcher",
            "tags.aws:owner",
            "pipeline.build.compute_type",
        ):
            assert any(line.startswith(f"error: {field}: ") for line in lines), proc.stderr
        assert fetch_calls(cli.endpoint) == [], verb


def test_unknown_region_flag_is_refused_offline(cli: Cli) -> None:
    reset_calls(cli.endpoint)
    proc = cli.run("plan", "--region", "eu-wset-1", check=False)
    assert proc.returncode == 2
    assert "error: --region: 'eu-wset-1' is not an AWS region" in proc.stderr
    assert "eu-west-1" in proc.stderr
    assert fetch_calls(cli.endpoint) == []


def test_long_names_are_shortened_and_found_again(cli: Cli) -> None:
    cfg = cli.workdir / "ecs_cicd.yaml"
    text = cfg.read_text().replace(
        "project: test-codepipeline", "project: a-very-long-project-name-for-testing"
    )
    cfg.write_text(text.replace("environment: dev", "environment: production"))
    plan = json.loads(cli.run("plan", "--output", "json").stdout)
    physical = {r["id"]: r.get("physical_id") for r in plan["resources"]}
    assert physical["alb"] == "a-very-long-project-8f8610be-alb", physical
    up = json.loads(cli.run("up", "--no-wait", "--output", "json").stdout)
    assert up["outputs"]["load_balancer"] == "a-very-long-project-8f8610be-alb"
    out = json.loads(cli.run("outputs", "--output", "json").stdout)
    assert out["load_balancer"] == "a-very-long-project-8f8610be-alb"
    elb = cli.aws().client("elbv2")
    assert [lb["LoadBalancerName"] for lb in elb.describe_load_balancers()["LoadBalancers"]] == [
        "a-very-long-project-8f8610be-alb"
    ]
    # Without the state file, recover finds the shortened names by name and tag.
    state = next((cli.workdir / ".ecs_cicd").glob("*.json"))
    state.unlink()
    recovered = json.loads(cli.run("state", "recover", "--output", "json").stdout)
    assert {r["id"] for r in recovered["resources"]} >= {"alb", "tg.main", "role.task"}
    cli.run("down", "--yes")
    assert elb.describe_load_balancers()["LoadBalancers"] == []
