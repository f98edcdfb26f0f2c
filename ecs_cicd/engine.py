"""Runs resource specs in dependency order — independent ones concurrently — and deletes in
reverse order. One executor for `up` and `plan`: in plan mode (dry_run) handlers only read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecs_cicd import names
from ecs_cicd.aws import Aws
from ecs_cicd.config import Config
from ecs_cicd.errors import EcsCicdError
from ecs_cicd.state import Record, State

# What happened to a resource: create, update, unchanged, adopt (found, not recorded),
# reference (not ours), delete, gone (already deleted).
Action = str


@dataclass(frozen=True)
class Spec:
    """What one resource is, and what it needs first. Pure data, built by stack.py."""

    logical_id: str
    kind: str
    deps: tuple[str, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)


@dataclass
class Outcome:
    logical_id: str
    kind: str
    action: Action
    changes: list[str] = field(default_factory=list)
    physical_id: str | None = None
    seconds: float = 0.0


class MissingDependency(EcsCicdError):
    """In plan mode: a dependency does not exist yet, so this resource will be created too."""


class Cancelled(EcsCicdError):
    exit_code = 130


class Ctx:
    """What a handler gets: config, clients, state, mode and a progress callback."""

    def __init__(
        self,
        cfg: Config,
        aws: Aws,
        state: State,
        *,
        dry_run: bool = False,
        log: Callable[[str], None] = lambda _msg: None,
        sleep: Callable[[float], None] = time.sleep,
        cancel: threading.Event | None = None,
        replace_service: bool = False,
    ) -> None:
        self.cfg = cfg
        self.aws = aws
        self.state = state
        self.dry_run = dry_run
        self.log = log
        self.sleep = sleep
        self.cancel = cancel or threading.Event()
        self.replace_service = replace_service
        self.region = aws.region
        self._account: str | None = None

    @property
    def account(self) -> str:
        if self._account is None:
            self._account = self.aws.account_id()
        return self._account

    def client(self, service: str) -> Any:
        return self.aws.client(service)

    def tags(self, logical_id: str) -> dict[str, str]:
        return names.stack_tags(self.cfg, logical_id)

    def dep(self, logical_id: str) -> Record:
        """The record of a dependency; in plan mode a missing one means 'will be created'."""
        rec = self.state.get(logical_id)
        if rec is None:
            if self.dry_run:
                raise MissingDependency(logical_id)
            raise EcsCicdError(f"internal: dependency {logical_id} has no record")
        return rec

    def out(self, logical_id: str, key: str = "id") -> Any:
        rec = self.dep(logical_id)
        if key == "id":
            return rec.physical_id
        if key == "arn":
            return rec.arn
        return rec.outputs[key]

    def record(self, record: Record) -> None:
        """Persist at once: a crash right after leaves the state true. (Plan runs on a scratch
        copy of the state, so what it finds is visible to dependents but never written.)"""
        self.state.put(record)

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.aws.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )


class Handler(Protocol):
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome: ...

    def delete(self, ctx: Ctx, record: Record) -> Outcome: ...


def topological(specs: Iterable[Spec]) -> list[Spec]:
    """Specs in dependency order; raises on unknown dependencies or cycles (a bug in stack.py)."""
    by_id = {s.logical_id: s for s in specs}
    out: list[Spec] = []
    mark: dict[str, int] = {}

    def visit(s: Spec, trail: tuple[str, ...]) -> None:
        if mark.get(s.logical_id) == 2:
            return
        if mark.get(s.logical_id) == 1:
            raise ValueError(f"dependency cycle: {' -> '.join((*trail, s.logical_id))}")
        mark[s.logical_id] = 1
        for d in s.deps:
            if d not in by_id:
                raise ValueError(f"{s.logical_id} depends on unknown {d}")
            visit(by_id[d], (*trail, s.logical_id))
        mark[s.logical_id] = 2
        out.append(s)

    for s in by_id.values():
        visit(s, ())
    return out


def run_concurrently(
    items: list[Spec],
    deps_of: Callable[[Spec], Iterable[str]],
    work: Callable[[Spec], Outcome],
    *,
    cancel: threading.Event,
    workers: int = 6,
    tolerate: Callable[[Spec, BaseException], Outcome | None] | None = None,
) -> list[Outcome]:
    """Run `work` for every item once all its deps are done, up to `workers` at a time.

    On the first failure nothing new starts; running items finish; the error is raised.
    """
    pending = {s.logical_id: s for s in items}
    done: set[str] = set()
    outcomes: list[Outcome] = []
    running: dict[Future[Outcome], Spec] = {}
    error: BaseException | None = None
    ids = set(pending)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ecs-cicd") as pool:
        while pending or running:
            if error is None and not cancel.is_set():
                for lid, spec in list(pending.items()):
                    if all(d in done or d not in ids for d in deps_of(spec)):
                        del pending[lid]
                        running[pool.submit(work, spec)] = spec
            if not running:
                break
            try:
                finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                # Ctrl-C: start nothing new, let running handlers finish and record what they
                # made (they watch `cancel` in long waits), then report the interruption.
                cancel.set()
                continue
            for fut in finished:
                spec = running.pop(fut)
                try:
                    outcomes.append(fut.result())
                    done.add(spec.logical_id)
                except BaseException as e:
                    alt = tolerate(spec, e) if tolerate else None
                    if alt is not None:
                        outcomes.append(alt)
                        done.add(spec.logical_id)
                    elif error is None:
                        error = e
    if error is not None:
        raise error
    if cancel.is_set() and pending:
        raise Cancelled("interrupted; the state file records everything created so far")
    return outcomes
