"""Engine and the desired stack: dependency order, concurrency, first error stops new work, no
cycles, every kind known, dependencies by reference."""

from __future__ import annotations

import threading
import time

import pytest

from ecs_cicd.engine import run_concurrently
from ecs_cicd.lifecycle import Resource, walk
from ecs_cicd.resources import kinds
from tests.unit.resources.helpers import config_with, stack_of


def test_walk_orders_dependencies_first_and_catches_cycles() -> None:
    a = Resource(logical_id="a")
    b = Resource(logical_id="b", after=(a,))
    c = Resource(logical_id="c", after=(b,))
    assert [r.logical_id for r in walk([c])] == ["a", "b", "c"]
    x = Resource(logical_id="x")
    y = Resource(logical_id="y", after=(x,))
    object.__setattr__(x, "after", (y,))  # a cycle can only be made by force
    with pytest.raises(ValueError, match="cycle"):
        walk([y])


@pytest.mark.parametrize("strategy", ["rolling", "blue_green"])
def test_stack_has_known_kinds_and_dependencies_first(strategy: str) -> None:
    cfg = config_with(pipeline__deploy__strategy=strategy)
    stack = stack_of(cfg)
    table = kinds()
    order = stack.ids
    assert len(order) == len(set(order))
    for r in stack.resources:
        assert r.kind in table, r.kind
        for d in (*r.deps(), *r.after):
            assert order.index(d.logical_id) < order.index(r.logical_id)
            assert stack.get(d.logical_id) is d  # one model per resource, shared by reference
    service = stack.get("service")
    # The service needs its listener (AWS-BEHAVIOUR.md: target group without a load balancer).
    assert "listener.http" in {d.logical_id for d in service.after}


def test_independent_work_runs_concurrently_and_respects_deps() -> None:
    deps = {"a": (), "b": (), "c": ("a", "b")}
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    lock = threading.Lock()

    def work(k: str) -> str:
        with lock:
            started[k] = time.monotonic()
        time.sleep(0.2)
        with lock:
            ended[k] = time.monotonic()
        return k

    out = run_concurrently(
        list(deps), lambda k: k, lambda k: deps[k], work, cancel=threading.Event()
    )
    assert set(out) == {"a", "b", "c"}
    assert abs(started["a"] - started["b"]) < 0.15  # side by side
    assert started["c"] >= max(ended["a"], ended["b"])


def test_one_worker_runs_one_at_a_time() -> None:
    running = {"now": 0, "max": 0}
    lock = threading.Lock()

    def work(k: str) -> str:
        with lock:
            running["now"] += 1
            running["max"] = max(running["max"], running["now"])
        time.sleep(0.05)
        with lock:
            running["now"] -= 1
        return k

    run_concurrently(
        ["a", "b", "c"], lambda k: k, lambda k: (), work, cancel=threading.Event(), workers=1
    )
    assert running["max"] == 1


def test_first_error_stops_new_work() -> None:
    deps = {"a": (), "b": ("a",)}
    ran: list[str] = []

    def work(k: str) -> str:
        ran.append(k)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_concurrently(list(deps), lambda k: k, lambda k: deps[k], work, cancel=threading.Event())
    assert ran == ["a"]


def test_the_head_of_the_longest_chain_starts_first() -> None:
    # One worker, three roots ready at once: the highest priority goes first.
    order: list[str] = []
    prio = {"a": 1.0, "b": 5.0, "c": 3.0}

    def work(k: str) -> str:
        order.append(k)
        return k

    run_concurrently(
        ["a", "b", "c"],
        lambda k: k,
        lambda k: (),
        work,
        cancel=threading.Event(),
        workers=1,
        priority=lambda k: prio[k],
    )
    assert order == ["b", "c", "a"]


def test_the_load_balancer_chain_is_the_critical_path() -> None:
    from ecs_cicd.ops import critical_path

    rank = critical_path(stack_of(config_with()))
    # The VPC heads the chain to the ALB (1-3 minutes to provision) and the service behind it.
    assert rank["vpc"] == max(rank.values())
    assert rank["vpc"] > rank["role.codebuild"] and rank["alb"] > rank["cluster"]
