"""Benchmark the cycle on the embedded emulator: API calls and wall time of a cold `up`, a no-op
`up`, `plan` and `down`, and the process's peak memory. Prints a table and JSON.

    .venv/bin/python scripts/bench.py [--runs 3] [--json out.json]

Numbers on the emulator measure the tool's own work (ordering, concurrency, look-ups): AWS adds
its provisioning time (the ALB's 1-3 minutes, the service's steady state, the pipeline run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", GITHUB_TOKEN="bench-token"
    )
    os.environ.pop("AWS_PROFILE", None)
    from ecs_cicd import down, load_config, plan, up
    from ecs_cicd.emulator import EmulatorServer

    cfg = load_config(ROOT / "config.example.yaml")
    samples: dict[str, list[dict[str, Any]]] = {
        "up (cold)": [],
        "up (no-op)": [],
        "plan": [],
        "down": [],
    }
    with EmulatorServer() as emu, tempfile.TemporaryDirectory() as tmp:
        common: dict[str, Any] = {
            "endpoint_url": emu.endpoint_url,
            "state_path": Path(tmp) / "s.json",
        }
        for _ in range(args.runs):
            for name, run in (
                ("up (cold)", lambda: up(cfg, **common)),
                ("up (no-op)", lambda: up(cfg, **common)),
                ("plan", lambda: plan(cfg, **common)),
                ("down", lambda: down(cfg, confirm=lambda _r: True, **common)),
            ):
                t0 = time.monotonic()
                result = run()
                samples[name].append(
                    {
                        "seconds": time.monotonic() - t0,
                        "calls": result.calls["total"],
                        "mutating": result.calls["mutating"],
                        "resources": len(result.outcomes),
                    }
                )
    report = {
        name: {
            "resources": runs[-1]["resources"],
            "api_calls": runs[-1]["calls"],
            "mutating_calls": runs[-1]["mutating"],
            "seconds_median": round(statistics.median(r["seconds"] for r in runs), 2),
            "seconds_min": round(min(r["seconds"] for r in runs), 2),
        }
        for name, runs in samples.items()
    }
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # type: ignore[assignment]
    print(
        f"{'operation':<12} {'resources':>9} {'API calls':>9} {'mutating':>8} {'median s':>9} {'min s':>7}"
    )
    for name, r in report.items():
        if isinstance(r, dict):
            print(
                f"{name:<12} {r['resources']:>9} {r['api_calls']:>9} {r['mutating_calls']:>8} "
                f"{r['seconds_median']:>9} {r['seconds_min']:>7}"
            )
    print(f"peak RSS (tool and emulator in one process): {report['peak_rss_mib']} MiB")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
