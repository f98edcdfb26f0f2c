"""Benchmark the cycle on the emulator: a benchmark, not a timed test.

    .venv/bin/python scripts/bench.py [--runs 3] [--latency-ms 50] [--pacing realistic] [--json out.json]

1. At ``--latency-ms`` (default 50: every AWS request answered 50 ms late, nothing else slowed):
   cold ``up``, no-op ``up``, ``plan``, ``down`` — resources, API calls (reads / mutating, from
   the Result's ``calls``), wall time (median and min over ``--runs``, through the library in
   this process); the peak RSS of each as a process of its own (``python -m ecs_cicd <verb>``
   run once more as a child, its ``ru_maxrss`` from ``wait4``: the CLI alone, the emulator
   apart); then a cold ``up`` with ``max_workers=1`` and the parallel/serial ratio of the two
   cold ``up``\\ s.
2. With ``--pacing realistic`` also: the emulator paced like AWS (REALISTIC in
   ``ecs_cicd/emulator/pacing.py``, printed), the makespan of a cold ``up`` against the lower
   bound the pacing allows — the API latencies along the longest dependency chain of the desired
   stack (``build_stack(...)``, ``deps()`` and ``after``) to the load balancer, the service and
   the pipeline, plus the ALB's provisioning, the service's settle time after it and the
   pipeline's run — as a ratio; and the ``down`` after it (subnets and groups held while ENIs
   are released).

The emulator runs as a separate process (``python -m ecs_cicd emulator`` with the pacing
flags), so the RSS is the tool's own. Numbers depend on the machine: say which when quoting them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecs_cicd.emulator.pacing import REALISTIC, Pacing  # noqa: E402

_FLAGS = {
    "latency_ms": "--latency-ms",
    "alb_seconds": "--alb-seconds",
    "service_seconds": "--service-seconds",
    "pipeline_seconds": "--pipeline-seconds",
    "eni_release_seconds": "--eni-release-seconds",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulator(pacing: Pacing) -> Iterator[str]:
    """``python -m ecs_cicd emulator`` with ``pacing``, in its own process; yields its URL."""
    port = _free_port()
    argv = [sys.executable, "-m", "ecs_cicd", "emulator", "--port", str(port)]
    for name, flag in _FLAGS.items():
        argv += [flag, str(getattr(pacing, name))]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


CLI_VERBS = {
    "up (cold)": ["up"],
    "up (no-op)": ["up"],
    "plan": ["plan"],
    "down": ["down", "--yes"],
    "up (cold, 1 worker)": ["up", "--max-workers", "1"],
}


# Runs argv[1:] with its stdout discarded and prints its peak RSS (KiB). A child's ru_maxrss
# counts the memory of the process it was forked from (Linux keeps the larger of the two across
# exec): forked from this benchmark, the CLI would be charged for the library loaded here. So a
# small interpreter starts the CLI and reports it.
_MEASURE = (
    "import resource, subprocess, sys; "
    "rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"
)


def cli_peak_rss(url: str) -> dict[str, float]:
    """Each operation as the user runs it — ``python -m ecs_cicd <verb>``, a process of its own
    against the emulator at ``url`` — and that process's peak RSS in MiB (its ``ru_maxrss``,
    reported by a small parent, see _MEASURE), in the order of CLI_VERBS (the last ``up`` is
    followed by a ``down``, unmeasured)."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "ecs_cicd.yaml").write_text((ROOT / "config.example.yaml").read_text())
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_ENDPOINT_URL=url,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            PYTHONPATH=str(ROOT),
        )
        for name, args in [*CLI_VERBS.items(), ("", ["down", "--yes"])]:
            proc = subprocess.run(
                [sys.executable, "-c", _MEASURE, sys.executable, "-m", "ecs_cicd", *args],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"`{' '.join(args)}` exited {proc.returncode}: {proc.stderr}")
            if name:
                out[name] = round(int(proc.stdout.split()[-1]) / 1024, 1)
    return out


def measure(run: Callable[[], Any]) -> dict[str, Any]:
    t0 = time.monotonic()
    result = run()
    seconds = time.monotonic() - t0
    return {
        "seconds": seconds,
        "calls": result.calls["total"],
        "reads": result.calls["reads"],
        "mutating": result.calls["mutating"],
        "resources": len(result.outcomes),
        "peak_rss_mib": peak_rss_mib(),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    last = runs[-1]
    return {
        "resources": last["resources"],
        "api_calls": last["calls"],
        "reads": last["reads"],
        "mutating_calls": last["mutating"],
        "seconds_median": round(statistics.median(r["seconds"] for r in runs), 2),
        "seconds_min": round(min(r["seconds"] for r in runs), 2),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
    }


def warm_up(cfg: Any, common: dict[str, Any]) -> None:
    """One untimed cycle: the emulator's first calls load what it loads once (AWS's managed IAM
    policies, service models), and so does this process."""
    from ecs_cicd import down, up

    up(cfg, **common)
    down(cfg, confirm=lambda _r: True, **common)


def critical_path(cfg: Any, pacing: Pacing) -> dict[str, Any]:
    """The least time a cold ``up`` can take under ``pacing``, from the desired stack.

    Every resource costs at least one request (its create) after all it depends on; before the
    first create come the account look-up and the examination of every resource (each at least
    one request, all independent: one latency). The load balancer turns active ``alb_seconds``
    after its create is answered; the service settles ``service_seconds`` after the later of its
    create and that; the pipeline's execution ends ``pipeline_seconds`` after its create; and
    each of the three needs one more read to be seen done.
    """
    from ecs_cicd.lifecycle import Target
    from ecs_cicd.stack import build_stack

    stack = build_stack(cfg, Target("123456789012", cfg.region or "us-east-1"))
    depth: dict[str, int] = {}
    chain: dict[str, list[str]] = {}
    for r in stack.resources:  # dependencies first
        before = [d.logical_id for d in (*r.deps(), *r.after)]
        longest = max(before, key=lambda lid: depth[lid], default=None)
        depth[r.logical_id] = 1 + (depth[longest] if longest else 0)
        chain[r.logical_id] = [*(chain[longest] if longest else []), r.logical_id]
    latency = pacing.latency_ms / 1000
    lead = 2 * latency  # GetCallerIdentity, then the (parallel) examination

    def created(lid: str) -> float:
        return lead + depth[lid] * latency

    ends: dict[str, float] = {}
    alb_active = created("alb") + pacing.alb_seconds
    ends["load balancer active"] = alb_active + latency
    service = "service"
    ends["service steady"] = max(created(service), alb_active) + pacing.service_seconds + latency
    ends["pipeline run"] = created("pipeline") + pacing.pipeline_seconds + latency
    last = max(ends, key=lambda k: ends[k])
    return {
        "seconds": round(ends[last], 3),
        "limited_by": last,
        "ends": {k: round(v, 3) for k, v in ends.items()},
        "longest_chain": chain[max(depth, key=lambda lid: depth[lid])],
        "chain_to": {
            "alb": chain["alb"],
            "service": chain[service],
            "pipeline": chain["pipeline"],
        },
    }


def where_the_time_went(
    timeline: list[tuple[float, str]], pacing: Pacing
) -> dict[str, float | None]:
    """Moments of one ``up`` read off its progress lines (seconds from its start), and how long
    after each wait's end ``up`` saw it (the poll's overshoot)."""

    def first(*words: str) -> float | None:
        return next((t for t, m in timeline if all(w in m for w in words)), None)

    def done(logical_id: str) -> float | None:  # "create    alb arn:... [0.2s]"
        return next((t for t, m in timeline if m.split()[1:2] == [logical_id]), None)

    creates = [t for t, m in timeline if m.startswith("create")]
    alb, service, pipeline = done("alb"), done("service"), done("pipeline")
    alb_seen = first("load balancer: active")
    service_seen = first("service: COMPLETED")
    pipeline_seen = next(
        (
            t
            for t, m in timeline
            if m.startswith("pipeline: execution") and m.endswith(" Succeeded")
        ),
        None,
    )
    alb_ready = alb + pacing.alb_seconds if alb is not None else None
    service_ready = (
        max(service, alb_ready) + pacing.service_seconds
        if service is not None and alb_ready is not None
        else None
    )
    pipeline_ready = pipeline + pacing.pipeline_seconds if pipeline is not None else None

    def late(seen: float | None, ready: float | None) -> float | None:
        return round(seen - ready, 2) if seen is not None and ready is not None else None

    return {
        "first_create_done": creates[0] if creates else None,
        "last_create_done": creates[-1] if creates else None,
        "alb_created": alb,
        "service_created": service,
        "pipeline_created": pipeline,
        "alb_seen_active": alb_seen,
        "alb_seen_late_by": late(alb_seen, alb_ready),
        "service_seen_steady": service_seen,
        "service_seen_late_by": late(service_seen, service_ready),
        "pipeline_seen_done": pipeline_seen,
        "pipeline_seen_late_by": late(pipeline_seen, pipeline_ready),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--pacing", choices=("none", "realistic"), default="none")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", GITHUB_TOKEN="bench-token"
    )
    os.environ.pop("AWS_PROFILE", None)
    from ecs_cicd import down, load_config, plan, up

    cfg = load_config(ROOT / "config.example.yaml")
    report: dict[str, Any] = {"machine": f"{os.cpu_count()} CPUs", "runs": args.runs}

    # 1. the tool's own work, with a fixed latency per request
    latency = Pacing(latency_ms=args.latency_ms)
    samples: dict[str, list[dict[str, Any]]] = {
        "up (cold)": [],
        "up (no-op)": [],
        "plan": [],
        "down": [],
        "up (cold, 1 worker)": [],
    }

    def gone(_records: Any) -> bool:
        return True

    with emulator(latency) as url, tempfile.TemporaryDirectory() as tmp:
        common: dict[str, Any] = {"endpoint_url": url, "state_path": Path(tmp) / "s.json"}
        warm_up(cfg, common)
        for _ in range(args.runs):
            samples["up (cold)"].append(measure(lambda: up(cfg, **common)))
            samples["up (no-op)"].append(measure(lambda: up(cfg, **common)))
            samples["plan"].append(measure(lambda: plan(cfg, **common)))
            samples["down"].append(measure(lambda: down(cfg, confirm=gone, **common)))
            samples["up (cold, 1 worker)"].append(measure(lambda: up(cfg, max_workers=1, **common)))
            down(cfg, confirm=gone, **common)
        cli_rss = cli_peak_rss(url)
    table = {name: summarise(runs) for name, runs in samples.items()}
    for name, rss in cli_rss.items():
        table[name]["cli_peak_rss_mib"] = rss
    parallel = table["up (cold)"]["seconds_median"]
    serial = table["up (cold, 1 worker)"]["seconds_median"]
    report["latency"] = {
        "pacing": latency.describe(),
        "operations": table,
        "parallel_over_serial": round(parallel / serial, 2) if serial else None,
    }
    print(f"emulator pacing: {latency.describe()}  ({report['machine']}, {args.runs} run(s))")
    print(
        f"{'operation':<20} {'resources':>9} {'API calls':>9} {'reads':>6} {'mutating':>8} "
        f"{'median s':>9} {'min s':>7} {'CLI peak RSS MiB':>16}"
    )
    for name, r in table.items():
        print(
            f"{name:<20} {r['resources']:>9} {r['api_calls']:>9} {r['reads']:>6} "
            f"{r['mutating_calls']:>8} {r['seconds_median']:>9} {r['seconds_min']:>7} "
            f"{r['cli_peak_rss_mib']:>16}"
        )
    print(
        f"cold up, 8 workers / 1 worker: {parallel} s / {serial} s = "
        f"{report['latency']['parallel_over_serial']}"
    )

    # 2. realistic pacing: the makespan of `up` against what the pacing allows at best
    if args.pacing == "realistic":
        pacing = REALISTIC
        bound = critical_path(cfg, pacing)
        ups: list[dict[str, Any]] = []
        downs: list[dict[str, Any]] = []
        timeline: list[tuple[float, str]] = []
        started = [0.0]

        def log(message: str) -> None:
            timeline.append((round(time.monotonic() - started[0], 2), message))

        with emulator(pacing) as url, tempfile.TemporaryDirectory() as tmp:
            common = {"endpoint_url": url, "state_path": Path(tmp) / "s.json"}
            warm_up(cfg, common)
            for _ in range(args.runs):
                timeline.clear()
                started[0] = time.monotonic()
                ups.append(measure(lambda: up(cfg, log=log, **common)))
                downs.append(measure(lambda: down(cfg, confirm=gone, **common)))
        makespan = statistics.median(u["seconds"] for u in ups)
        report["realistic"] = {
            "pacing": pacing.describe(),
            "up": summarise(ups),
            "down": summarise(downs),
            "lower_bound": bound,
            "makespan_over_bound": round(makespan / bound["seconds"], 2),
            "last_up": where_the_time_went(timeline, pacing),
            "last_up_timeline": timeline,
        }
        print()
        print(f"realistic pacing: {pacing.describe()}")
        print(
            f"  cold up makespan {makespan:.2f} s (median), lower bound {bound['seconds']:.2f} s "
            f"({bound['limited_by']}) -> ratio {report['realistic']['makespan_over_bound']}"
        )
        print(f"  bound per wait: {bound['ends']}")
        print("  the last up, seconds from its start (from its progress lines):")
        for key, value in report["realistic"]["last_up"].items():
            print(f"    {key:<22} {value}")
        print(f"  longest chain: {' -> '.join(bound['chain_to']['service'])} (to the service)")
        print(
            f"  down {report['realistic']['down']['seconds_median']} s "
            f"({report['realistic']['down']['api_calls']} calls, "
            f"{report['realistic']['down']['mutating_calls']} mutating)"
        )
    print(
        f"peak RSS of the benchmark process (the library, every operation above in one "
        f"process; the emulator runs apart): {peak_rss_mib()} MiB"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
