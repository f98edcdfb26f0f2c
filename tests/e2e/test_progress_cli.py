"""Progress and the timeline through the real CLI: off a terminal, plain timestamped lines on
stderr (one per resource, the waits' changes), JSON on stdout unchanged but for the times added;
`--timeline` writes one bar per resource; `--quiet` leaves only the summary."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e


class Bars(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bars: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "g" and a.get("class") == "bar":
            self.bars[str(a["data-id"])] = a


def test_up_reports_progress_and_writes_a_timeline(cli: Cli) -> None:
    up = cli.run("up", "--output", "json", "--timeline", "run.html")
    result = json.loads(up.stdout)
    resources = {r["id"]: r for r in result["resources"]}
    lines = up.stderr.splitlines()
    assert all(re.match(r"^(\[ *\d+\.\ds\] | {10})", line) for line in lines[:-1]), lines
    for lid in resources:  # one line per resource, with its outcome
        assert any(re.search(rf"\] create +{re.escape(lid)} ", line) for line in lines), lid
    assert any("load balancer: active" in line for line in lines)
    assert any("pipeline: execution" in line and "Succeeded" in line for line in lines)

    # Times in the JSON: each resource's start/finish, the ALB's wait after its creation.
    alb = resources["alb"]
    assert 0 < alb["started"] <= alb["finished"] <= alb["waits"][0][0] < alb["waits"][0][1]
    assert resources["service"]["gated_by"] and result["waiting_seconds"] > 0

    page = (cli.workdir / "run.html").read_text()
    parser = Bars()
    parser.feed(page)
    assert set(parser.bars) == set(resources)
    marked = [lid for lid, b in parser.bars.items() if b["data-critical"] == "true"]
    # The chain ends with what finished last and starts with what waited for nothing.
    assert marked and resources[marked[0]]["gated_by"] == []
    # (The JSON's times are rounded to the millisecond: two waits that end within one are a tie.)
    ends = {lid: max([r["finished"], *(w[1] for w in r["waits"])]) for lid, r in resources.items()}
    assert any(ends[lid] >= max(ends.values()) - 0.002 for lid in marked), (ends, marked)

    quiet = cli.run("up", "--quiet")
    assert quiet.stderr == ""
    assert quiet.stdout.splitlines()[1].startswith("url: http://")
    assert re.match(r"up: 25 unchanged in [\d.]+s \([\d.]+s waiting; ", quiet.stdout)
