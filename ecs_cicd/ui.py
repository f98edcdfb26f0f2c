"""Progress lines (stderr) and the final summaries (stdout)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

_lock = threading.Lock()
_start = time.monotonic()


def err(message: str) -> None:
    with _lock:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def progress(message: str) -> None:
    """One progress line, prefixed with the seconds since the command started."""
    err(f"[{time.monotonic() - _start:6.1f}s] {message}")


def format_result(result: Any, *, verbose: bool = False) -> str:
    counts: dict[str, int] = {}
    for o in result.outcomes:
        counts[o.action] = counts.get(o.action, 0) + 1
    lines = []
    if result.command in ("plan", "status"):
        for o in result.outcomes:
            changes = f"  {'; '.join(o.changes)}" if o.changes else ""
            label = {"unchanged": "ok" if result.command == "status" else "unchanged"}.get(
                o.action, o.action
            )
            lines.append(
                f"{label:<10} {o.logical_id:<22} {o.physical_id or '':<40}{changes}".rstrip()
            )
            lines += [f"{'':<10} {'':<22} note: {n}" for n in o.notes]
    found_later = [o for o in result.outcomes if getattr(o, "after", None)]
    if result.command == "plan" and found_later:
        firsts = sorted({o.after for o in found_later})
        lines.append(
            f"({len(found_later)} of the creates are found through a resource this plan also "
            f"creates — {', '.join(firsts)} — so they were not looked up; `up` makes them after it)"
        )
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    calls = result.calls
    waiting_s = float(getattr(result, "waiting", 0.0))
    waited = f"{waiting_s:.1f}s waiting; " if result.command in ("up", "down") else ""
    lines.append(
        f"{result.command}: {summary or 'nothing to do'} in {result.seconds:.1f}s "
        f"({waited}{calls.get('total', 0)} API calls, {calls.get('mutating', 0)} mutating)"
    )
    if verbose and calls.get("mutating_calls"):
        lines += [f"  {k}: {v}" for k, v in calls["mutating_calls"].items()]
    for key, value in result.details.items():
        if isinstance(value, str) and key == "blocked":
            lines.append(f"up would stop here: {value}")
        elif isinstance(value, str) and key == "switch":
            lines.append(value)
        elif key == "settings_from_state" and (result.command == "plan" or verbose):
            lines.append(
                f"settings of {', '.join(value)} taken from the state file (verified when last "
                "set or read; --refresh reads them from AWS)"
            )
        elif isinstance(value, dict):
            inner = ", ".join(f"{k}={v}" for k, v in value.items() if k != "deployments")
            lines.append(f"{key}: {inner}")
            for d in value.get("deployments", []) or []:
                lines.append(
                    f"  deployment {d.get('id')}: {d.get('status')} {d.get('rolloutState')} "
                    f"{d.get('runningCount')}/{d.get('desiredCount')}"
                )
    if result.outputs and result.command in ("up", "status", "state recover"):
        lines.append(format_outputs(result.outputs))
    return "\n".join(lines)


def format_outputs(outputs: dict[str, Any]) -> str:
    lines = []
    # The URL first: what one opens next.
    for key, value in sorted(outputs.items(), key=lambda kv: kv[0] != "url"):
        if isinstance(value, dict):
            for k, v in value.items():
                lines.append(f"{key}.{k}: {v}")
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


def format_stats(result: Any) -> str:
    """`--stats`: where the calls and the seconds went."""
    calls = result.calls
    lines = [
        f"API calls: {calls.get('total', 0)} ({calls.get('reads', 0)} reads, "
        f"{calls.get('mutating', 0)} mutating), {calls.get('retries', 0)} retried by botocore"
    ]
    per_op: dict[str, list[int]] = {}
    for kind, key in (("reads", "read_calls"), ("mutating", "mutating_calls")):
        for op, n in calls.get(key, {}).items():
            per_op.setdefault(op, [0, 0])[kind == "mutating"] += n
    for op, (reads, mutating) in sorted(per_op.items(), key=lambda kv: (-sum(kv[1]), kv[0])):
        retried = calls.get("retried_calls", {}).get(op, 0)
        extra = f", {retried} retried" if retried else ""
        lines.append(f"  {op:<48} {reads + mutating:>4}{extra}")
    phases = getattr(result, "phases", {}) or {}
    if phases:
        lines.append(
            "seconds: "
            + ", ".join(f"{k} {v:.1f}" for k, v in phases.items())
            + f" (total {result.seconds:.1f})"
        )
    slowest = sorted(result.outcomes, key=lambda o: -o.seconds)
    if slowest:
        lines.append("seconds per resource (slowest first):")
        lines += [f"  {o.logical_id:<24} {o.action:<10} {o.seconds:6.2f}" for o in slowest]
    return "\n".join(lines)
