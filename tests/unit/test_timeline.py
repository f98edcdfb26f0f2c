"""The timeline page: one bar per resource, waits hatched, the critical path (the chain of
dependencies that set the end time, from actual times) marked — on a constructed Result."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from ecs_cicd.lifecycle import Outcome
from ecs_cicd.ops import Result
from ecs_cicd.timeline import critical_path, render_html


def timed(
    lid: str,
    started: float,
    finished: float,
    after: list[str] | None = None,
    waits: list[tuple[float, float]] | None = None,
    action: str = "create",
) -> Outcome:
    o = Outcome(lid, lid.split(".")[0], action, seconds=finished - started)
    o.started, o.finished, o.gated_by, o.waits = started, finished, after or [], waits or []
    return o


def constructed() -> Result:
    """vpc -> subnet -> alb (then its wait, the longest) and vpc -> sg -> service; logs alone.
    The ALB's wait ends last; it was released by the subnet (finished after the sg)."""
    outcomes = [
        timed("vpc", 1.0, 2.0),
        timed("logs.app", 1.0, 1.2, action="unchanged"),
        timed("sg.alb", 2.0, 2.5, ["vpc"]),
        timed("subnet.0", 2.0, 3.0, ["vpc"]),
        timed("alb", 3.0, 3.5, ["subnet.0", "sg.alb"], waits=[(6.0, 60.0)]),
        timed("service", 3.5, 4.0, ["sg.alb", "alb"], waits=[(6.0, 40.0)]),
        Outcome("service.previous", "service", "delete"),  # not timed: no bar
    ]
    return Result(
        "up", outcomes, {"stack": "demo-dev", "url": "http://x"}, seconds=61.0, waiting=54.0
    )


def test_critical_path_follows_the_dependency_that_released_each_link_last() -> None:
    assert critical_path(constructed().outcomes) == ["vpc", "subnet.0", "alb"]
    # Make the service's wait the longest: the chain ends there, through the ALB (released at
    # 3.5 s, after the security group at 2.5 s).
    r = constructed()
    r.outcomes[5].waits = [(6.0, 70.0)]
    assert critical_path(r.outcomes) == ["vpc", "subnet.0", "alb", "service"]
    assert critical_path([]) == []


class Bars(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bars: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "g" and a.get("class") == "bar":
            self.current = {**a, "waits": 0, "critical_outline": False}
            self.bars.append(self.current)
        elif tag == "rect" and self.current is not None:
            if a.get("class") == "wait":
                self.current["waits"] += 1
            if a.get("class") == "critical":
                self.current["critical_outline"] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "g":
            self.current = None


def test_page_has_one_bar_per_timed_resource_waits_and_the_marked_path() -> None:
    page = render_html(constructed())
    parser = Bars()
    parser.feed(page)
    bars = {b["data-id"]: b for b in parser.bars}
    assert list(bars) == ["logs.app", "vpc", "sg.alb", "subnet.0", "alb", "service"]  # by start
    marked = [lid for lid, b in bars.items() if b["data-critical"] == "true"]
    assert marked == ["vpc", "subnet.0", "alb"]
    assert all(b["critical_outline"] == (lid in marked) for lid, b in bars.items())
    assert bars["alb"]["waits"] == 1 and bars["vpc"]["waits"] == 0
    assert bars["alb"]["data-end"] == "60.000" and bars["logs.app"]["data-outcome"] == "unchanged"
    assert "Critical path: vpc → subnet.0 → alb" in page
    assert "54.0s waiting for AWS" in page and "up demo-dev: 61.0s" in page
    for key in ("create", "unchanged", "waiting for AWS", "critical path"):
        assert key in page  # the legend
    # Self-contained: nothing to fetch.
    assert "<script" not in page and " src=" not in page and " href=" not in page
