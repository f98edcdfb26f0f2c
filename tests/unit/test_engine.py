"""Engine: dependency order, concurrency, first error stops new work, cycles are caught."""

from __future__ import annotations

import threading
import time

import pytest

from ecs_cicd.engine import Outcome, Spec, run_concurrently, topological
from ecs_cicd.stack import build_specs


def test_topological_order_and_cycles() -> None:
    specs = [Spec("c", "k", ("b",)), Spec("b", "k", ("a",)), Spec("a", "k")]
    assert [s.logical_id for s in topological(specs)] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="cycle"):
        topological([Spec("a", "k", ("b",)), Spec("b", "k", ("a",))])
    with pytest.raises(ValueError, match="unknown"):
        topological([Spec("a", "k", ("zz",))])


def test_stack_specs_have_no_cycles_and_known_kinds(cfg) -> None:  # type: ignore[no-untyped-def]
    from ecs_cicd.resources import handlers

    specs = build_specs(cfg)
    table = handlers()
    assert all(s.kind in table for s in specs)
    order = [s.logical_id for s in specs]
    for s in specs:
        for d in s.deps:
            assert order.index(d) < order.index(s.logical_id)
    # The service needs its listener (AWS-BEHAVIOUR.md: target group without a load balancer).
    assert "listener.http" in dict((s.logical_id, s.deps) for s in specs)["service"]


def test_independent_work_runs_concurrently_and_respects_deps() -> None:
    specs = [Spec("a", "k"), Spec("b", "k"), Spec("c", "k", ("a", "b"))]
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    lock = threading.Lock()

    def work(s: Spec) -> Outcome:
        with lock:
            started[s.logical_id] = time.monotonic()
        time.sleep(0.2)
        with lock:
            ended[s.logical_id] = time.monotonic()
        return Outcome(s.logical_id, s.kind, "create")

    out = run_concurrently(specs, lambda s: s.deps, work, cancel=threading.Event())
    assert {o.logical_id for o in out} == {"a", "b", "c"}
    assert abs(started["a"] - started["b"]) < 0.15  # side by side
    assert started["c"] >= max(ended["a"], ended["b"])


def test_first_error_stops_new_work() -> None:
    specs = [Spec("a", "k"), Spec("b", "k", ("a",))]
    ran: list[str] = []

    def work(s: Spec) -> Outcome:
        ran.append(s.logical_id)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_concurrently(specs, lambda s: s.deps, work, cancel=threading.Event())
    assert ran == ["a"]
