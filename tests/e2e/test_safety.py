"""Drift, lost and corrupt state, concurrent runs, Ctrl-C — through the real CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecs_cicd.emulator.client import fetch_calls, reset_calls
from ecs_cicd.inventory import inventory, non_empty
from tests.conftest import TOKEN
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e
STACK = "test-codepipeline-dev"
PREFIX = "test-codepipeline"


def state_file(cli: Cli) -> Path:
    return cli.workdir / ".ecs_cicd" / f"{STACK}-ap-northeast-1.json"


def plan(cli: Cli, *flags: str) -> dict[str, dict[str, object]]:
    out = json.loads(cli.run("plan", "--output", "json", *flags).stdout)
    return {r["id"]: r for r in out["resources"]}


def test_drift_is_planned_and_put_back(cli: Cli) -> None:
    cli.run("up")
    aws = cli.aws()
    try:
        aws.client("ecs").update_service(cluster=STACK, service=STACK, desiredCount=4)
        elb = aws.client("elbv2")
        tg = elb.describe_target_groups(Names=[f"{STACK}-tg"])["TargetGroups"][0]["TargetGroupArn"]
        elb.modify_target_group(TargetGroupArn=tg, HealthCheckPath="/changed")
        iam = aws.client("iam")
        iam.put_role_policy(
            RoleName=f"{STACK}-codebuild",
            PolicyName="ecs-cicd",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "s3:GetObject",
                            "Resource": "arn:aws:s3:::other/*",
                        }
                    ],
                }
            ),
        )
        aws.client("logs").delete_log_group(logGroupName=f"/ecs/{STACK}")

        reset_calls(cli.endpoint)
        planned = plan(cli)
        assert not [c for c in fetch_calls(cli.endpoint) if c["mutating"]]
        assert planned["service"]["action"] == "update" and any(
            "desiredCount" in c for c in planned["service"]["changes"]
        )  # type: ignore[union-attr]
        assert planned["tg.main"]["action"] == "update" and "/changed" in json.dumps(
            planned["tg.main"]["changes"]
        )
        assert planned["role.codebuild"]["action"] == "update"
        assert planned["logs.app"]["action"] == "create"
        status = json.loads(cli.run("status", "--output", "json").stdout)
        assert {r["id"]: r["action"] for r in status["resources"]}["logs.app"] == "gone"

        cli.run("up")
        assert {r["action"] for r in plan(cli).values()} == {"unchanged"}
        svc = aws.client("ecs").describe_services(cluster=STACK, services=[STACK])["services"][0]
        assert svc["desiredCount"] == 1

        # A setting that costs a read of its own (the bucket's policy), removed by hand: taken
        # from the state by `plan` and `up`; `status`, `plan --refresh` and `up --refresh` see it.
        bucket = next(
            b["Name"] for b in aws.client("s3").list_buckets()["Buckets"] if PREFIX in b["Name"]
        )
        aws.client("s3").delete_bucket_policy(Bucket=bucket)
        assert plan(cli)["bucket.artifacts"]["action"] == "unchanged"
        status = json.loads(cli.run("status", "--output", "json").stdout)
        assert {r["id"]: r["action"] for r in status["resources"]}["bucket.artifacts"] == "update"
        assert plan(cli, "--refresh")["bucket.artifacts"]["changes"] == [
            "bucket policy: deny requests without TLS"
        ]
        cli.run("up", "--refresh")
        assert aws.client("s3").get_bucket_policy(Bucket=bucket)["Policy"]
        assert plan(cli, "--refresh")["bucket.artifacts"]["action"] == "unchanged"
    finally:
        cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix=PREFIX)) == {}


def test_lost_state_is_recovered_from_tags(cli: Cli) -> None:
    cli.run("up")
    before = json.loads(state_file(cli).read_text())["resources"]
    state_file(cli).unlink()
    cli.run("state", "recover")
    after = json.loads(state_file(cli).read_text())["resources"]
    assert set(after) == set(before)
    assert {k: v["physical_id"] for k, v in after.items()} == {
        k: v["physical_id"] for k, v in before.items()
    }
    reset_calls(cli.endpoint)
    cli.run("up")
    assert not [c for c in fetch_calls(cli.endpoint) if c["mutating"]]
    cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix=PREFIX)) == {}


def test_down_without_state_finds_the_stack(cli: Cli) -> None:
    cli.run("up")
    state_file(cli).unlink()
    refused = cli.run("down", check=False)  # not a terminal, no --yes: refuse, delete nothing
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert non_empty(inventory(cli.aws(), prefix=PREFIX))
    cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix=PREFIX)) == {}


def test_corrupt_state_is_left_untouched(cli: Cli) -> None:
    path = state_file(cli)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{ half a json")
    reset_calls(cli.endpoint)
    proc = cli.run("up", check=False)
    assert proc.returncode == 1 and "corrupt" in proc.stderr and "left untouched" in proc.stderr
    assert path.read_text() == "{ half a json"
    assert not [c for c in fetch_calls(cli.endpoint) if c["mutating"]]
    path.write_text(json.dumps({"schema_version": 7, "stack": STACK, "region": "ap-northeast-1"}))
    proc = cli.run("down", "--yes", check=False)
    assert proc.returncode == 1 and "schema_version 7" in proc.stderr
    path.unlink()


def test_second_concurrent_run_exits_3_naming_the_holder(cli: Cli) -> None:
    path = state_file(cli)
    code = (
        "import time; from pathlib import Path; from ecs_cicd.state import stack_lock\n"
        f"with stack_lock(Path({str(path)!r}), 'up'):\n    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=cli.workdir,
        env=cli.env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        proc = cli.run("up", check=False)
        assert proc.returncode == 3 and f"pid {holder.pid}" in proc.stderr
        assert time.monotonic() - t0 < 30
    finally:
        holder.kill()
        holder.wait()


def test_ctrl_c_exits_130_with_a_consistent_state(cli: Cli) -> None:
    reset_calls(cli.endpoint)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecs_cicd", "up"],
        cwd=cli.workdir,
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while (
        time.monotonic() < deadline
        and sum(1 for c in fetch_calls(cli.endpoint) if c["mutating"]) < 10
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    recorded = json.loads(state_file(cli).read_text())["resources"]
    assert recorded  # what was created so far is recorded
    cli.run("up")  # and the next up continues
    cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix=PREFIX)) == {}


def test_secrets_never_reach_output_or_state(cli: Cli) -> None:
    outputs = []
    for args in (
        ["up", "-v"],
        ["plan", "--output", "json"],
        ["status"],
        ["status", "--output", "json"],
        ["outputs"],
        ["outputs", "--output", "json"],
    ):
        proc = cli.run(*args)
        outputs += [proc.stdout, proc.stderr]
    outputs.append(state_file(cli).read_text())
    webhook_secrets = [
        w["definition"]["authenticationConfiguration"].get("SecretToken", "")
        for w in cli.aws().client("codepipeline").list_webhooks()["webhooks"]
    ]
    proc = cli.run("down", "--yes", "-v")
    outputs += [proc.stdout, proc.stderr]
    blob = "\n".join(outputs)
    assert TOKEN not in blob
    assert webhook_secrets and all(s and s not in blob for s in webhook_secrets)
