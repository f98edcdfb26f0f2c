"""Ownership through the real CLI: a stranger with the stack's name blocks `up` before any
mutating call (the emulator's own call log says so), `plan` shows it, `down` leaves it, and
`up --adopt` takes it over."""

from __future__ import annotations

import json
import urllib.request

import pytest

from ecs_cicd.emulator.client import fetch_calls, reset_calls
from ecs_cicd.inventory import inventory, non_empty
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e
STACK = "test-codepipeline-dev"
GROUP = f"/ecs/{STACK}"


def reset(cli: Cli) -> None:
    req = urllib.request.Request(f"{cli.endpoint}/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(req, timeout=30).read()
    reset_calls(cli.endpoint)


def retention(cli: Cli) -> int:
    groups = cli.aws().client("logs").describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    (g,) = [g for g in groups if g["logGroupName"] == GROUP]
    return int(g["retentionInDays"])


def test_a_stranger_blocks_up_survives_down_and_is_adopted_only_on_request(cli: Cli) -> None:
    reset(cli)
    logs = cli.aws().client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.put_retention_policy(logGroupName=GROUP, retentionInDays=400)
    reset_calls(cli.endpoint)

    planned = json.loads(cli.run("plan", "--output", "json").stdout)
    by_id = {r["id"]: r for r in planned["resources"]}
    assert by_id["logs.app"]["action"] == "foreign"

    refused = cli.run("up", check=False)
    assert refused.returncode == 1
    assert GROUP in refused.stderr and "--adopt logs.app" in refused.stderr
    assert [c for c in fetch_calls(cli.endpoint) if c["mutating"]] == []
    assert retention(cli) == 400

    gone = cli.run("down", "--yes", "--output", "json")
    actions = {r["id"]: r["action"] for r in json.loads(gone.stdout)["resources"]}
    assert actions == {"logs.app": "skip"}
    assert retention(cli) == 400

    cli.run("up", "--adopt", "logs.app", "--no-wait")
    tags = logs.list_tags_for_resource(
        resourceArn=f"arn:aws:logs:ap-northeast-1:123456789012:log-group:{GROUP}"
    )["tags"]
    assert tags["ecs-cicd:stack"] == STACK and retention(cli) == 30
    cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix="test-codepipeline")) == {}
