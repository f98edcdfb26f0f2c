"""Renders the progress events of `up`/`down` (progress.py) on stderr.

On a terminal (and without NO_COLOR): `rich`. Each resource gets one permanent line when it is
done (outcome, id, seconds); below them a live area, redrawn in place, shows what is being worked
on and the latest status of every running wait. Off a terminal, with NO_COLOR or TERM=dumb: plain
lines prefixed with the seconds since the start, one per event worth a line (CI logs).

`quiet`: only failures. `verbose`: also when each resource starts, and the API calls it made.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import IO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from ecs_cicd.progress import (
    Event,
    Note,
    ResourceFinished,
    ResourceStarted,
    WaitFinished,
    WaitStarted,
    WaitStatus,
    describe,
)

STYLES = {
    "create": "green",
    "adopt": "cyan",
    "take": "cyan",
    "update": "yellow",
    "replace": "magenta",
    "delete": "red",
    "gone": "dim",
    "unchanged": "dim",
    "reference": "dim",
    "skip": "yellow",
    "failed": "bold red",
}


def no_color(env: Mapping[str, str] | None = None) -> bool:
    """NO_COLOR (https://no-color.org): set and not empty."""
    return bool((os.environ if env is None else env).get("NO_COLOR", ""))


def wants_live(stream: IO[str], env: Mapping[str, str] | None = None) -> bool:
    """Redraw in place only on a terminal that is not `dumb`, and without NO_COLOR."""
    env = os.environ if env is None else env
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not no_color(env) and env.get("TERM") != "dumb"


@dataclass
class _Running:
    label: str
    since: float
    status: str = ""


class Reporter:
    """A progress event sink (`progress.Emit`) and a context manager (starts/stops the live
    display). Build one with `Reporter.for_stream(sys.stderr, ...)` or, in tests, with an explicit
    `rich.console.Console` (live) or `plain=stream`."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        plain: IO[str] | None = None,
        quiet: bool = False,
        verbose: bool = False,
        clock: Callable[[], float] = time.monotonic,
        refresh_per_second: float = 4,
    ) -> None:
        if (console is None) == (plain is None):
            raise ValueError("give either a rich Console or a plain stream")
        self.console = console
        self.plain = plain
        self.quiet = quiet
        self.verbose = verbose
        self.clock = clock
        self.origin = clock()
        self.refresh_per_second = refresh_per_second
        self._lock = threading.RLock()
        self._live: Live | None = None
        self._resources: dict[str, _Running] = {}
        self._waits: dict[tuple[str | None, str], _Running] = {}
        self._last_status: dict[tuple[str | None, str], str] = {}
        self.counts: dict[str, int] = {}

    @classmethod
    def for_stream(
        cls,
        stream: IO[str],
        *,
        quiet: bool = False,
        verbose: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> Reporter:
        if wants_live(stream, env):
            return cls(Console(file=stream, stderr=True), quiet=quiet, verbose=verbose)
        return cls(plain=stream, quiet=quiet, verbose=verbose)

    # --- context manager: the live display ----------------------------------------------------
    def __enter__(self) -> Reporter:
        self.origin = self.clock()  # times from here: the run, not the emulator's start-up
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None

    def _ensure_live(self) -> None:
        if self.console is None or self.quiet or self._live is not None:
            return
        self._live = Live(
            _LiveView(self),
            console=self.console,
            refresh_per_second=self.refresh_per_second,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    # --- events -------------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, event: Event) -> None:
        now = event.at
        if isinstance(event, ResourceStarted):
            assert event.resource is not None
            self._resources[event.resource] = _Running(
                f"{event.action} {event.resource}".strip(), now
            )
            self._ensure_live()
            if self.verbose and not self.quiet:
                self._line(Text(f"start     {event.resource} ({event.action})", "dim"), event)
        elif isinstance(event, ResourceFinished):
            self._resources.pop(event.resource or "", None)
            self.counts[event.action] = self.counts.get(event.action, 0) + 1
            if self.quiet and event.action != "failed":
                return
            self._finished(event)
        elif isinstance(event, WaitStarted):
            self._waits[(event.resource, event.key)] = _Running(event.what, now)
            self._ensure_live()
            if not self.quiet:
                whose = f" ({event.resource})" if event.resource else ""
                self._line(Text(f"waiting for {event.what}{whose}", "dim"), event)
        elif isinstance(event, WaitStatus):
            wait = self._waits.get((event.resource, event.key))
            if wait is not None:
                wait.status = event.text
            if self._last_status.get((event.resource, event.key)) == event.text:
                return  # nothing changed: nothing to say
            self._last_status[(event.resource, event.key)] = event.text
            if self.console is None and not self.quiet:
                self._line(Text(f"{event.key}: {event.text}"), event)
        elif isinstance(event, WaitFinished):
            self._waits.pop((event.resource, event.key), None)
            if event.ok:
                if not self.quiet:
                    # Live: the status was shown only in the live area; keep its last word.
                    last = self._last_status.get((event.resource, event.key), "")
                    done = last if self.console is not None and last else "done"
                    whose = f" ({event.resource})" if event.resource else ""
                    text = f"{event.key}: {done} after {event.seconds:.1f}s{whose}"
                    self._line(Text(text, "green"), event)
            else:
                self._line(
                    Text(
                        f"{event.key}: stopped after {event.seconds:.1f}s: {event.error}",
                        "bold red",
                    ),
                    event,
                )
        elif isinstance(event, Note):
            if event.level == "detail" and not self.verbose:
                return
            if self.quiet:
                return
            style = {"warn": "yellow", "detail": "dim"}.get(event.level, "")
            self._line(Text(describe(event) or "", style), event)

    def _finished(self, event: ResourceFinished) -> None:
        style = STYLES.get(event.action, "")
        if self.console is None:
            text = describe(event) or ""
            if self.verbose and event.calls:
                text += " — " + _calls(event.calls)
            self._line(Text(text), event)
            return
        line = Text()
        line.append(f"{event.action:<9} ", style)
        line.append(event.resource or "", "bold" if event.action != "unchanged" else "")
        if event.physical_id and event.physical_id != event.resource:
            line.append(f" {event.physical_id}", "dim")
        if event.action == "failed":
            line.append(f": {event.error}", "red")
        elif event.changes and event.action != "unchanged":
            line.append(f" ({'; '.join(event.changes)})", "dim")
        line.append(f"  {event.seconds:.1f}s", "cyan")
        if self.verbose and event.calls:
            line.append(f"  {_calls(event.calls)}", "dim")
        self._line(line, event)
        for n in event.notes:
            self._line(Text(f"          note: {n}", "dim"), event)

    def _line(self, text: Text, event: Event) -> None:
        elapsed = event.at - self.origin
        if self.console is not None:
            stamp = Text(f"{_clock(elapsed):>6} ", "dim")
            self.console.print(stamp + text, soft_wrap=False, overflow="fold")
            return
        assert self.plain is not None
        for i, part in enumerate(text.plain.splitlines() or [""]):
            prefix = f"[{elapsed:6.1f}s] " if i == 0 else " " * 10
            self.plain.write(prefix + part + "\n")
        self.plain.flush()

    # --- the live area ------------------------------------------------------------------------
    def status_view(self) -> RenderableType:
        """What the live area shows now: running resources and waits, with their latest status."""
        with self._lock:
            now = self.clock()
            table = Table.grid(padding=(0, 1))
            table.add_column(width=2)
            table.add_column(no_wrap=True)
            table.add_column(justify="right", no_wrap=True)
            for r in self._resources.values():
                table.add_row(Spinner("dots"), Text(r.label), Text(f"{now - r.since:.0f}s", "dim"))
            for (_res, key), w in self._waits.items():
                label = Text(f"{key}: ", "bold")
                label.append(w.status or f"waiting for {w.label}")
                table.add_row(Spinner("dots"), label, Text(f"{now - w.since:.0f}s", "dim"))
            done = sum(self.counts.values())
            head = Text(f"{done} resource(s) done, {_clock(now - self.origin)} elapsed", "dim")
            return Group(table, head)


class _LiveView:
    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def __rich__(self) -> RenderableType:
        return self.reporter.status_view()


def _calls(calls: tuple[tuple[str, int], ...]) -> str:
    total = sum(n for _op, n in calls)
    return f"{total} call(s): " + ", ".join(
        f"{op}" + (f" x{n}" if n > 1 else "") for op, n in calls
    )


def _clock(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"
