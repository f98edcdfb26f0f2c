"""Structured progress events: what `up`/`down` and their waits report while they run.

The operations (ops.py) and the pollers (waiters.py) emit small events to an `Emit` callable; how
they look is the reporter's business (console.py renders them live on a terminal or as plain
lines; `TextEvents` turns them into the text lines of the library's `log=` callback). `Recorder`
keeps the times a resource was worked on and waited for, for the Result and the timeline.

Which resource a wait belongs to is the resource whose work runs on the current thread
(`resource_scope`), so a poller needs no extra argument to say it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Emit = Callable[["Event"], None]


@dataclass(frozen=True)
class Event:
    """Base of every event: when it happened (time.monotonic()) and the resource it is about."""

    at: float = field(default_factory=time.monotonic, kw_only=True)
    resource: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class ResourceStarted(Event):
    """Work on one resource started: `action` is what the plan says (create, update, delete...)."""

    kind: str = ""
    action: str = ""


@dataclass(frozen=True)
class ResourceFinished(Event):
    """Work on one resource ended: `action` is the outcome (create, adopt, unchanged, delete,
    gone...) or "failed" with `error`. `calls`: the API calls it made, by operation."""

    kind: str = ""
    action: str = ""
    seconds: float = 0.0
    physical_id: str | None = None
    changes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    error: str = ""
    calls: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class WaitStarted(Event):
    """A poller started waiting: `key` names the wait (load_balancer, service, pipeline...)."""

    key: str = ""
    what: str = ""


@dataclass(frozen=True)
class WaitStatus(Event):
    """What a wait sees changed (emitted only on change): ALB state, rollout, stages..."""

    key: str = ""
    text: str = ""


@dataclass(frozen=True)
class WaitFinished(Event):
    key: str = ""
    seconds: float = 0.0
    ok: bool = True
    error: str = ""


@dataclass(frozen=True)
class Note(Event):
    """A line worth keeping: a new service event, a stopped task's reason, a switch step.
    `level`: info, warn (something failed or stopped) or detail (shown with -v only)."""

    text: str = ""
    source: str = ""
    level: str = "info"


# --- which resource the current thread works on ----------------------------------------------
_here = threading.local()


@contextlib.contextmanager
def resource_scope(logical_id: str, emit: Emit | None = None) -> Iterator[Counter[str]]:
    """Attribute the waits and API calls made on this thread to `logical_id` (and report
    `waiting` there through `emit`); yields the counter of its API calls by operation."""
    previous = (
        getattr(_here, "resource", None),
        getattr(_here, "calls", None),
        getattr(_here, "emit", None),
    )
    calls: Counter[str] = Counter()
    _here.resource, _here.calls, _here.emit = logical_id, calls, emit
    try:
        yield calls
    finally:
        _here.resource, _here.calls, _here.emit = previous


class Waiting:
    """A wait reported from code that has no reporter at hand (aws.retry_on: AWS refusing a
    call for a while, e.g. DependencyViolation while network interfaces are released): started
    on the first retry, finished once; reported to the current thread's resource, if any."""

    def __init__(self, key: str, what: str) -> None:
        self.key, self.what = key, what
        self.resource = current_resource()
        self.emit: Emit | None = getattr(_here, "emit", None)
        self.t0: float | None = None

    def begin(self) -> None:
        if self.t0 is None:
            self.t0 = time.monotonic()
            if self.emit is not None:
                self.emit(WaitStarted(key=self.key, what=self.what, resource=self.resource))

    def end(self, ok: bool = True, error: str = "") -> None:
        if self.t0 is not None and self.emit is not None:
            seconds = time.monotonic() - self.t0
            self.emit(
                WaitFinished(
                    key=self.key, seconds=seconds, ok=ok, error=error, resource=self.resource
                )
            )
        self.t0 = None


def current_resource() -> str | None:
    return getattr(_here, "resource", None)


def count_call(operation: str) -> None:
    """Called for every API call (aws.py): counted against the resource of this thread."""
    calls = getattr(_here, "calls", None)
    if calls is not None:
        calls[operation] += 1


# --- consumers --------------------------------------------------------------------------------
def tee(*emits: Emit | None) -> Emit:
    targets = [e for e in emits if e is not None]

    def emit(event: Event) -> None:
        for t in targets:
            t(event)

    return emit


def describe(event: Event) -> str | None:
    """The one-line text of an event (None: nothing worth a line). Shared by the plain renderer
    and by `TextEvents`."""
    if isinstance(event, ResourceFinished):
        if event.action == "failed":
            return f"{'failed':<9} {event.resource} [{event.seconds:.1f}s]: {event.error}"
        extra = (
            f" ({'; '.join(event.changes)})"
            if event.changes and event.action not in ("unchanged",)
            else ""
        )
        pid = f" {event.physical_id}" if event.physical_id else ""
        notes = "".join(f"\n          note: {n}" for n in event.notes)
        return f"{event.action:<9} {event.resource}{pid}{extra} [{event.seconds:.1f}s]{notes}"
    if isinstance(event, WaitStarted):
        return f"waiting for {event.what}"
    if isinstance(event, WaitStatus):
        return f"{event.key}: {event.text}"
    if isinstance(event, WaitFinished):
        if event.ok:
            return f"{event.key}: done after {event.seconds:.1f}s"
        return f"{event.key}: stopped after {event.seconds:.1f}s: {event.error}"
    if isinstance(event, Note):
        return f"{event.source}: {event.text}" if event.source else event.text
    return None


class TextEvents:
    """Events as the text lines of a `log(str)` callback (the library API's `log=`)."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log

    def __call__(self, event: Event) -> None:
        if isinstance(event, Note) and event.level == "detail":
            return
        if isinstance(event, WaitFinished) and event.ok:
            return
        text = describe(event)
        if text is not None:
            self.log(text)


@dataclass
class Span:
    """One resource's times, in seconds since the run started."""

    started: float | None = None
    finished: float | None = None
    waits: list[tuple[float, float]] = field(default_factory=list)


class Recorder:
    """Keeps when each resource was worked on and when it waited, relative to `origin`."""

    def __init__(self, origin: float) -> None:
        self.origin = origin
        self.spans: dict[str, Span] = {}
        self._open: dict[tuple[str, str, int], float] = {}
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if event.resource is None:
            return
        t = event.at - self.origin
        with self._lock:
            span = self.spans.setdefault(event.resource, Span())
            if isinstance(event, ResourceStarted) and span.started is None:
                span.started = t
            elif isinstance(event, ResourceFinished):
                span.finished = t
            elif isinstance(event, WaitStarted):
                self._open[(event.resource, event.key, threading.get_ident())] = t
            elif isinstance(event, WaitFinished):
                begun = self._open.pop((event.resource, event.key, threading.get_ident()), None)
                if begun is not None:
                    span.waits.append((begun, t))

    def waiting_seconds(self) -> float:
        """Wall-clock seconds during which at least one wait ran."""
        intervals = sorted(w for s in self.spans.values() for w in s.waits)
        return union_length(intervals)


def union_length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total
