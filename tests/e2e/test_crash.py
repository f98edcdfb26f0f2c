"""Crash safety: SIGKILL the real CLI right after its k-th mutating call reached the emulator —
for every k of a cold `up`; for every second k of a `down` and of a strategy switch each way
(ECS_CICD_CRASH_ALL=1: every k) — then run the command again and check that the emulator holds
exactly one of each resource (against a clean run), every one recorded in the state file, and
that `down` leaves nothing. Slow: marked `crash`; scripts/test runs it.

Only the killed command is a CLI process (the kill must land in a real process, between two of
its calls). What runs before and after it — the clean run, the rerun, the `down` — goes through
the library the CLI calls (`ecs_cicd.up` / `ecs_cicd.down`, the same config and state file), in
this process: about a second less per command than a new interpreter, hundreds of times.

Figures go to `crash-report.json` in the pytest cache folder's parent (for the closing notes).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from ecs_cicd.emulator.client import clear_crash, crash_after, fetch_calls, reset_calls
from ecs_cicd.inventory import inventory, non_empty
from tests.conftest import ROOT
from tests.e2e.conftest import Cli

pytestmark = [pytest.mark.e2e, pytest.mark.crash]
STACK_PREFIX = "test-codepipeline"
REPORT = ROOT / ".pytest_cache" / "crash-report.json"


def reset_emulator(endpoint: str) -> None:
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(req, timeout=30).read()
    reset_calls(endpoint)


def counts(cli: Cli) -> dict[str, int]:
    return {k: len(v) for k, v in inventory(cli.aws(), prefix=STACK_PREFIX).items()}


def killed_at(cli: Cli, args: list[str], k: int) -> int | None:
    """Run the CLI, SIGKILLed by the emulator right after its k-th mutating call. Returns the
    exit code when it was not killed (it finished with fewer than k mutating calls)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecs_cicd", *args],
        cwd=cli.workdir,
        env=cli.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    crash_after(cli.endpoint, k, proc.pid)
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        clear_crash(cli.endpoint)
    if proc.returncode == -9:
        return None
    assert proc.returncode == 0, err
    return proc.returncode


def lib_up(cli: Cli, **flags: Any) -> None:
    """`up` as the CLI runs it (the config in the workdir, the state file beside it)."""
    from ecs_cicd import load_config, up

    up(load_config(cli.workdir / "ecs_cicd.yaml"), endpoint_url=cli.endpoint, **flags)


def lib_down(cli: Cli) -> None:
    from ecs_cicd import down, load_config

    down(
        load_config(cli.workdir / "ecs_cicd.yaml"),
        endpoint_url=cli.endpoint,
        confirm=lambda _r: True,
    )


def failed(step: str, run: Callable[[], None]) -> str | None:
    """Run `step`; what went wrong, in a line, or None."""
    try:
        run()
    except Exception as e:
        return f"{step} failed: {type(e).__name__}: {str(e).strip().splitlines()[-1:]}"
    return None


def record(name: str, data: dict[str, Any]) -> None:
    """Add `name`'s figures to the report (the two crash tests may run in two workers)."""
    REPORT.parent.mkdir(exist_ok=True)
    with open(REPORT.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
        report[name] = data
        REPORT.write_text(json.dumps(report, indent=2))


def sampled(total: int, env: str) -> list[int]:
    """The crash points of a `down` or a strategy switch: those `env` names ("3,8"), else every
    one with ECS_CICD_CRASH_ALL=1, else every second one (1, 3, 5, ...): the states between two
    deletes differ little, and scripts/test must stay within its time budget. `up`'s points are
    all tried, always."""
    only = os.environ.get(env)
    if only:
        return [int(p) for p in only.split(",")]
    step = 1 if os.environ.get("ECS_CICD_CRASH_ALL") == "1" else 2
    return list(range(1, total + 1, step))


def unrecorded(inv: dict[str, list[str]], records: dict[str, Any]) -> list[str]:
    """What the inventory lists that no record of the state file (its `resources`) names — by
    id, name, ARN or an ARN's last part. Empty: `down` starts from a complete state."""
    names: set[str] = set()
    for rec in records.values():
        values = [rec.get("physical_id"), rec.get("arn"), *(rec.get("outputs") or {}).values()]
        for v in values:
            if isinstance(v, str) and v:
                names |= {v, v.rsplit("/", 1)[-1], v.rsplit(":", 1)[-1]}
    return [
        f"{kind} {v}"
        for kind, found in sorted(inv.items())
        for v in found
        if v not in names and v.rsplit("/", 1)[-1] not in names
    ]


def state_records(cli: Cli) -> dict[str, Any]:
    files = list((cli.workdir / ".ecs_cicd").glob("*.json"))
    assert len(files) == 1, files
    return dict(json.loads(files[0].read_text())["resources"])


# Two halves (odd and even crash points): two test items, so both pytest workers share the
# longest test of the suite.
@pytest.mark.parametrize("half", [0, 1], ids=["odd-points", "even-points"])
def test_kill_up_at_every_mutating_call(cli: Cli, half: int) -> None:
    """After each kill and rerun: the same resources as a clean run, each recorded in the state
    file (so `down` needs no search; the `down` after a rerun is the clean `down` the down test
    kills), and one real `down` after the last point leaves nothing."""
    reset_emulator(cli.endpoint)
    cli.run("up")
    total = sum(1 for c in fetch_calls(cli.endpoint) if c["mutating"])
    clean = counts(cli)
    inv = inventory(cli.aws(), prefix=STACK_PREFIX)
    assert unrecorded(inv, state_records(cli)) == []
    assert len(unrecorded(inv, {})) == sum(clean.values())  # the check sees every resource
    cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix=STACK_PREFIX)) == {}
    only = os.environ.get("ECS_CICD_CRASH_POINTS")  # e.g. "1,17,40" to try a few by hand
    points = [int(p) for p in only.split(",")] if only else list(range(1, total + 1))
    points = points[half::2]
    failures: list[str] = []
    t0 = time.monotonic()
    for k in points:
        reset_emulator(cli.endpoint)
        state = cli.workdir / ".ecs_cicd"
        if state.exists():
            for f in state.iterdir():
                f.unlink()
        if killed_at(cli, ["up"], k) is not None:
            failures.append(f"k={k}: up finished before its {k}th mutating call")
            continue
        problem = failed("rerun of up", lambda: lib_up(cli))
        if problem:
            failures.append(f"k={k}: {problem}")
            continue
        inv = inventory(cli.aws(), prefix=STACK_PREFIX)
        now = {kind: len(v) for kind, v in inv.items()}
        if now != clean:
            diff = {kind: (clean.get(kind), n) for kind, n in now.items() if clean.get(kind) != n}
            failures.append(f"k={k}: resources differ from a clean run (clean, now): {diff}")
        missing = unrecorded(inv, state_records(cli))
        if missing:
            failures.append(f"k={k}: exists but the state file does not record it: {missing}")
    if points:
        problem = failed("down", lambda: lib_down(cli))
        left = non_empty(inventory(cli.aws(), prefix=STACK_PREFIX))
        if problem or left:
            failures.append(f"after k={points[-1]}: {problem or 'down'}, left {left}")
    record(
        f"up ({['odd', 'even'][half]} points)",
        {
            "mutating_calls": total,
            "crash_points": len(points),
            "converged": len(points) - len(failures),
            "failures": failures,
            "seconds": round(time.monotonic() - t0, 1),
        },
    )
    assert not failures, "\n".join(failures)


def test_kill_down_at_every_mutating_call(cli: Cli) -> None:
    reset_emulator(cli.endpoint)
    cli.run("up")
    reset_calls(cli.endpoint)
    cli.run("down", "--yes")
    total = sum(1 for c in fetch_calls(cli.endpoint) if c["mutating"])
    points = sampled(total, "ECS_CICD_CRASH_POINTS_DOWN")
    failures: list[str] = []
    t0 = time.monotonic()
    for k in points:
        reset_emulator(cli.endpoint)
        lib_up(cli)
        if killed_at(cli, ["down", "--yes"], k) is not None:
            failures.append(f"k={k}: down finished before its {k}th mutating call")
            continue
        problem = failed("rerun of down", lambda: lib_down(cli))
        left = non_empty(inventory(cli.aws(), prefix=STACK_PREFIX))
        if problem or left:
            failures.append(f"k={k}: {problem or 'rerun of down'}, left {left}")
    record(
        "down",
        {
            "mutating_calls": total,
            "crash_points": len(points),
            "converged": len(points) - len(failures),
            "failures": failures,
            "seconds": round(time.monotonic() - t0, 1),
        },
    )
    assert not failures, "\n".join(failures)


def serving(cli: Cli) -> list[str]:
    """What is wrong with the production path: every target group the HTTP listener sends
    traffic to (weight > 0) must be an ACTIVE, running service's. Empty: it serves."""
    aws = cli.aws()
    elb, ecs = aws.client("elbv2"), aws.client("ecs")
    lb = elb.describe_load_balancers(Names=[f"{STACK_PREFIX}-dev-alb"])["LoadBalancers"][0]
    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    [action] = next(x for x in listeners if x["Port"] == 80)["DefaultActions"]
    weights = {
        g["TargetGroupArn"]: g.get("Weight", 1)
        for g in action.get("ForwardConfig", {}).get("TargetGroups", [])
    } or {action["TargetGroupArn"]: 1}
    cluster = f"{STACK_PREFIX}-dev"
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    services = ecs.describe_services(cluster=cluster, services=arns)["services"] if arns else []
    served = {
        b["targetGroupArn"]
        for s in services
        if s["status"] == "ACTIVE" and s["runningCount"] > 0
        for b in s.get("loadBalancers", [])
    }
    return [
        f"{arn} gets traffic, no running service"
        for arn, w in weights.items()
        if w and arn not in served
    ]


@pytest.mark.parametrize("target", ["blue_green", "rolling"])
def test_kill_a_strategy_switch_at_every_mutating_call(cli: Cli, target: str) -> None:
    """A strategy switch with --replace-service, killed after each of its mutating calls: the
    old path keeps serving until the new one does, and a rerun finishes the switch."""
    from tests.e2e.test_blue_green import active_services, blue_green, production, rolling

    before, after = (rolling, blue_green) if target == "blue_green" else (blue_green, rolling)

    def start() -> None:
        reset_emulator(cli.endpoint)
        state = cli.workdir / ".ecs_cicd"
        if state.exists():
            for f in state.iterdir():
                f.unlink()
        before(cli)
        lib_up(cli)
        after(cli)
        reset_calls(cli.endpoint)

    start()
    cli.run("up", "--replace-service")
    total = sum(1 for c in fetch_calls(cli.endpoint) if c["mutating"])
    done = {"services": active_services(cli), "listener": production(cli)}
    failures: list[str] = []
    t0 = time.monotonic()
    points = sampled(total, "ECS_CICD_CRASH_POINTS_SWITCH")
    for k in points:
        start()
        if killed_at(cli, ["up", "--replace-service"], k) is not None:
            failures.append(f"k={k}: the switch finished before its {k}th mutating call")
            continue
        failures += [f"k={k}: after the kill: {p}" for p in serving(cli)]
        problem = failed("rerun", lambda: lib_up(cli, replace_service=True))
        if problem:
            failures.append(f"k={k}: {problem}")
            continue
        now = {"services": active_services(cli), "listener": production(cli)}
        if now != done:
            failures.append(f"k={k}: after the rerun {now}, a clean switch gives {done}")
    record(
        f"switch to {target}",
        {
            "mutating_calls": total,
            "crash_points": len(points),
            "converged": len(points) - len(failures),
            "failures": failures,
            "seconds": round(time.monotonic() - t0, 1),
        },
    )
    cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix=STACK_PREFIX)) == {}
    assert not failures, "\n".join(failures)
