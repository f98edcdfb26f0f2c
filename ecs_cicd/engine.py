"""Runs work over resources in dependency order — independent ones concurrently, up to a bound —
and deletes in reverse order. It knows nothing of AWS: `ops.py` hands it the lifecycle's verbs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from ecs_cicd.lifecycle import Cancelled

T = TypeVar("T")
O = TypeVar("O")  # noqa: E741
K = TypeVar("K", bound=Hashable)

DEFAULT_WORKERS = 8


def run_concurrently(
    items: list[T],
    key: Callable[[T], K],
    deps_of: Callable[[T], Iterable[K]],
    work: Callable[[T], O],
    *,
    cancel: threading.Event,
    workers: int = DEFAULT_WORKERS,
    priority: Callable[[T], float] | None = None,
) -> list[O]:
    """Run `work` for every item once all its deps (among `items`) are done, up to `workers` at a
    time; when more are ready than workers are free, the highest `priority` starts first (the
    head of the longest chain). On the first failure nothing new starts; running items finish;
    the error is raised."""
    pending = {key(i): i for i in items}
    ids = set(pending)
    done: set[K] = set()
    results: list[O] = []
    running: dict[Future[O], T] = {}
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ecs-cicd") as pool:
        while pending or running:
            if error is None and not cancel.is_set():
                ready = [
                    (k, item)
                    for k, item in pending.items()
                    if all(d in done or d not in ids for d in deps_of(item))
                ]
                if priority is not None:
                    ready.sort(key=lambda ki: -priority(ki[1]))
                for k, item in ready[: max(1, workers) - len(running)]:
                    del pending[k]
                    running[pool.submit(work, item)] = item
            if not running:
                break
            try:
                finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                # Ctrl-C: start nothing new, let running work finish and record what it made
                # (long waits watch `cancel`), then report the interruption.
                cancel.set()
                continue
            for fut in finished:
                item = running.pop(fut)
                try:
                    results.append(fut.result())
                    done.add(key(item))
                except BaseException as e:
                    if error is None:
                        error = e
    if error is not None:
        raise error
    if cancel.is_set() and pending:
        raise Cancelled("interrupted; the state file records everything created so far")
    return results


def reverse_deps(
    items: list[T], key: Callable[[T], K], deps_of: Callable[[T], Iterable[K]]
) -> dict[K, set[K]]:
    """For deletes: what depends on each item (an item goes once all of these are gone)."""
    dependents: dict[K, set[K]] = {key(i): set() for i in items}
    for i in items:
        for d in deps_of(i):
            if d in dependents:
                dependents[d].add(key(i))
    return dependents
