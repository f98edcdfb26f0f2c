"""Crash safety, exhaustively: SIGKILL the real CLI right after its k-th mutating call reached
the emulator — for every k of a cold `up` (and of a `down`) — then run the command again and
check that the emulator holds exactly one of each resource (against a clean run) and that `down`
leaves nothing. Slow: marked `crash`; scripts/test runs it.

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


def record(name: str, data: dict[str, Any]) -> None:
    """Add `name`'s figures to the report (the two crash tests may run in two workers)."""
    REPORT.parent.mkdir(exist_ok=True)
    with open(REPORT.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
        report[name] = data
        REPORT.write_text(json.dumps(report, indent=2))


def test_kill_up_at_every_mutating_call(cli: Cli) -> None:
    reset_emulator(cli.endpoint)
    cli.run("up", "--yes")
    total = sum(1 for c in fetch_calls(cli.endpoint) if c["mutating"])
    clean = counts(cli)
    cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix=STACK_PREFIX)) == {}
    only = os.environ.get("ECS_CICD_CRASH_POINTS")  # e.g. "1,17,40" to try a few by hand
    points = [int(p) for p in only.split(",")] if only else list(range(1, total + 1))
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
        rerun = cli.run("up", check=False)
        if rerun.returncode != 0:
            failures.append(
                f"k={k}: rerun of up exited {rerun.returncode}: {rerun.stderr.strip().splitlines()[-1:]}"
            )
            continue
        now = counts(cli)
        if now != clean:
            diff = {kind: (clean.get(kind), n) for kind, n in now.items() if clean.get(kind) != n}
            failures.append(f"k={k}: resources differ from a clean run (clean, now): {diff}")
        down = cli.run("down", "--yes", check=False)
        left = non_empty(inventory(cli.aws(), prefix=STACK_PREFIX))
        if down.returncode != 0 or left:
            failures.append(f"k={k}: down exited {down.returncode}, left {left}")
    record(
        "up",
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
    only = os.environ.get("ECS_CICD_CRASH_POINTS_DOWN")
    points = [int(p) for p in only.split(",")] if only else list(range(1, total + 1))
    failures: list[str] = []
    t0 = time.monotonic()
    for k in points:
        reset_emulator(cli.endpoint)
        cli.run("up")
        if killed_at(cli, ["down", "--yes"], k) is not None:
            failures.append(f"k={k}: down finished before its {k}th mutating call")
            continue
        again = cli.run("down", "--yes", check=False)
        left = non_empty(inventory(cli.aws(), prefix=STACK_PREFIX))
        if again.returncode != 0 or left:
            failures.append(
                f"k={k}: rerun of down exited {again.returncode}, left {left}: {again.stderr.strip().splitlines()[-1:]}"
            )
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
