"""`up`/`down --timeline run.html`: the run as a self-contained HTML page with an inline SVG.

One bar per resource from the moment work on it started to the end of its last wait; the
portions spent waiting for AWS are hatched; the critical path — the chain of dependencies that
determined when the run ended — is outlined and listed. Everything comes from the Result: each
Outcome's `started`, `finished`, `waits` and `after` (what it waited for in this run).
"""

from __future__ import annotations

import html
import itertools
import math
from typing import Any

from ecs_cicd.lifecycle import Outcome

COLORS = {
    "create": "#3fa34d",
    "adopt": "#2a9d8f",
    "take": "#2a9d8f",
    "update": "#e9a23b",
    "replace": "#b5179e",
    "delete": "#d1495b",
    "gone": "#9aa5b1",
    "unchanged": "#9aa5b1",
    "reference": "#9aa5b1",
    "skip": "#9aa5b1",
}
CRITICAL = "#1d3557"


def _timed(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.started is not None and o.finished is not None]


def end_of(o: Outcome) -> float:
    """When the resource was done: its work finished and its last wait ended."""
    assert o.finished is not None
    return max([o.finished, *(b for _a, b in o.waits)])


def critical_path(outcomes: list[Outcome]) -> list[str]:
    """The chain that set the end time: from the resource that ended last, back through the
    dependency (`after`) that released it last, to one that waited for nothing. First to last."""
    timed = {o.logical_id: o for o in _timed(outcomes)}
    if not timed:
        return []
    current = max(timed.values(), key=lambda o: (end_of(o), o.started or 0.0))
    chain = [current.logical_id]
    seen = {current.logical_id}
    while True:
        gates = [timed[g] for g in current.gated_by if g in timed and g not in seen]
        if not gates:
            break
        # A dependency releases its dependents when its own work is done (`finished`): its
        # waits at the end of `up` run alongside theirs.
        current = max(gates, key=lambda o: o.finished or 0.0)
        chain.append(current.logical_id)
        seen.add(current.logical_id)
    return list(reversed(chain))


def _step(total: float) -> float:
    """A round tick interval giving about 8-16 ticks over `total` seconds."""
    raw = max(total, 1.0) / 10
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * magnitude:
            return float(m * magnitude)
    return float(10 * magnitude)  # pragma: no cover


def render_html(result: Any) -> str:
    """The page for `result` (ops.Result of up or down)."""
    outcomes = sorted(_timed(result.outcomes), key=lambda o: (o.started, o.logical_id))
    path = critical_path(outcomes)
    on_path = set(path)
    total = max([result.seconds, *(end_of(o) for o in outcomes)]) or 1.0
    label_w, bar_w, row_h, top = 300, 900, 24, 56
    width = label_w + bar_w + 90
    height = top + row_h * len(outcomes) + 40
    scale = bar_w / total

    def x(t: float) -> float:
        return label_w + t * scale

    svg: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="12">',
        "<defs>"
        '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#ffffff" fill-opacity="0.55"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#333" stroke-width="2" stroke-opacity="0.55"/>'
        "</pattern></defs>",
    ]
    # Alternate rows shaded, under everything else.
    for i in range(1, len(outcomes), 2):
        svg.append(
            f'<rect x="0" y="{top + i * row_h}" width="{width}" height="{row_h}" fill="#f3f5f8"/>'
        )
    # The axis: seconds since the run started, a grid line per tick.
    step = _step(total)
    ticks = [i * step for i in range(int(total // step) + 1)]
    axis_y = top - 12
    svg.append(f'<text x="{label_w - 8}" y="{axis_y}" text-anchor="end" fill="#555">seconds</text>')
    for t in ticks:
        svg.append(
            f'<line class="tick" x1="{x(t):.1f}" y1="{axis_y + 4}" x2="{x(t):.1f}" '
            f'y2="{height - 30}" stroke="#e3e7eb"/>'
            f'<text x="{x(t):.1f}" y="{axis_y}" text-anchor="middle" fill="#555">{t:g}</text>'
        )
    svg.append(
        f'<line x1="{x(total):.1f}" y1="{axis_y + 4}" x2="{x(total):.1f}" y2="{height - 30}" '
        f'stroke="#555" stroke-dasharray="4 3"/>'
        f'<text x="{x(total):.1f}" y="{height - 16}" text-anchor="middle" fill="#555">'
        f"end {total:.1f}s</text>"
    )
    # Before the first resource: the read-only examination of the whole stack (and for `down`
    # without a state file, the search by tag).
    head = min((o.started or 0.0 for o in outcomes), default=0.0)
    if head * scale > 40:
        svg.append(
            f'<rect class="phase" x="{x(0):.1f}" y="{top}" width="{head * scale:.1f}" '
            f'height="{row_h * len(outcomes)}" fill="#eef1f5"/>'
            f'<text x="{x(head / 2):.1f}" y="{top + 16}" text-anchor="middle" fill="#667">'
            f"{'looking up' if head * scale < 140 else 'looking up the stack'}</text>"
        )
    centers: dict[str, tuple[float, float, float]] = {}
    for i, o in enumerate(outcomes):
        assert o.started is not None and o.finished is not None
        y = top + i * row_h
        critical = o.logical_id in on_path
        color = COLORS.get(o.action, "#9aa5b1")
        end = end_of(o)
        svg.append(
            f'<g class="bar" data-id="{html.escape(o.logical_id)}" '
            f'data-outcome="{html.escape(o.action)}" data-critical="{str(critical).lower()}" '
            f'data-start="{o.started:.3f}" data-end="{end:.3f}">'
        )
        weight = "bold" if critical else "normal"
        svg.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-weight="{weight}" '
            f'fill="{CRITICAL if critical else "#222"}">{html.escape(o.logical_id)} '
            f'<tspan fill="#777" font-weight="normal">{html.escape(o.action)}</tspan></text>'
        )
        # Work, then (for the waits at the end of `up`) a thin line until the wait began.
        w = max((o.finished - o.started) * scale, 2.0)
        svg.append(
            f'<rect class="work" x="{x(o.started):.1f}" y="{y + 5}" width="{w:.1f}" '
            f'height="{row_h - 10}" fill="{color}" rx="2"/>'
        )
        if end > o.finished:
            svg.append(
                f'<line x1="{x(o.finished):.1f}" y1="{y + row_h / 2}" x2="{x(end):.1f}" '
                f'y2="{y + row_h / 2}" stroke="{color}" stroke-width="2"/>'
            )
        for a, b in o.waits:
            svg.append(
                f'<rect class="wait" x="{x(a):.1f}" y="{y + 5}" width="{max((b - a) * scale, 2.0):.1f}" '
                f'height="{row_h - 10}" fill="{color}" rx="2"/>'
                f'<rect x="{x(a):.1f}" y="{y + 5}" width="{max((b - a) * scale, 2.0):.1f}" '
                f'height="{row_h - 10}" fill="url(#hatch)" rx="2"/>'
            )
        if critical:
            svg.append(
                f'<rect class="critical" x="{x(o.started) - 2:.1f}" y="{y + 3}" '
                f'width="{max((end - o.started) * scale, 2.0) + 4:.1f}" height="{row_h - 6}" '
                f'fill="none" stroke="{CRITICAL}" stroke-width="2.5" rx="3"/>'
            )
        svg.append(
            f'<text x="{x(end) + 6:.1f}" y="{y + 16}" fill="#444">{end - o.started:.1f}s</text>'
        )
        svg.append("</g>")
        centers[o.logical_id] = (x(o.started), x(o.finished), y + row_h / 2)
    # The critical path's hand-overs: from each link's work done to the next one's start.
    for first, then in itertools.pairwise(path):
        _, a_end, a_y = centers[first]
        b_start, _, b_y = centers[then]
        svg.append(
            f'<path class="handover" d="M{a_end:.1f},{a_y:.1f} L{b_start:.1f},{b_y:.1f}" '
            f'stroke="{CRITICAL}" stroke-width="1.5" fill="none" stroke-dasharray="3 2"/>'
        )
    svg.append("</svg>")

    used = sorted({o.action for o in outcomes})
    legend = "".join(
        f'<span class="key"><span class="swatch" style="background:{COLORS.get(a, "#9aa5b1")}">'
        f"</span>{html.escape(a)}</span>"
        for a in used
    )
    legend += (
        '<span class="key"><svg width="28" height="14"><rect width="28" height="14" fill="#888"/>'
        '<rect width="28" height="14" fill="url(#hatch)"/></svg>waiting for AWS</span>'
        f'<span class="key"><span class="swatch" style="border:2.5px solid {CRITICAL};'
        'background:none"></span>critical path</span>'
    )
    stack = result.outputs.get("stack", "") if isinstance(result.outputs, dict) else ""
    title = f"{result.command} {stack}".strip()
    counts: dict[str, int] = {}
    for o in result.outcomes:
        counts[o.action] = counts.get(o.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    waiting = getattr(result, "waiting", 0.0)
    chain = " → ".join(html.escape(p) for p in path)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} — timeline</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }}
p {{ margin: 4px 0; }}
.legend {{ margin: 12px 0; display: flex; gap: 18px; flex-wrap: wrap; align-items: center; }}
.key {{ display: inline-flex; gap: 6px; align-items: center; }}
.swatch {{ display: inline-block; width: 28px; height: 14px; border-radius: 2px; box-sizing: border-box; }}
</style></head>
<body>
<h1>{html.escape(title)}: {result.seconds:.1f}s</h1>
<p>{html.escape(summary)}; {waiting:.1f}s waiting for AWS.</p>
<p class="path">Critical path: {chain or "none"}</p>
<div class="legend">{legend}</div>
{"".join(svg)}
</body></html>
"""


def write(result: Any, path: str) -> None:
    from pathlib import Path

    Path(path).write_text(render_html(result), encoding="utf-8")
