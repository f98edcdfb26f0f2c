"""The log interleaver: recorded FilterLogEvents pages in, one time-ordered stream out."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ecs_cicd import logs
from ecs_cicd.errors import UsageError

TASKDEF = {
    "containerDefinitions": [
        {
            "name": name,
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/shop", "awslogs-stream-prefix": prefix},
            },
        }
        for name, prefix in (("nginx", "nginx"), ("app", "web"))
    ]
    + [{"name": "sidecar", "logConfiguration": {"logDriver": "json-file"}}]
}
SOURCES = logs.stream_sources(TASKDEF)
TASK_A = "a" * 32
TASK_B = "b" * 32


def ev(eid: str, ts: int, stream: str, message: str) -> dict[str, Any]:
    return {"eventId": eid, "timestamp": ts, "logStreamName": stream, "message": message}


def test_stream_sources_follow_the_awslogs_options() -> None:
    assert [
        logs.Source("nginx", "/ecs/shop", "nginx/nginx/"),
        logs.Source("app", "/ecs/shop", "web/app/"),
    ] == SOURCES


def test_label_is_container_and_short_task_id() -> None:
    assert logs.label(f"web/app/{TASK_A}", SOURCES) == ("app", "aaaaaaaa")
    assert logs.label(f"other/worker/{TASK_B}", SOURCES) == ("worker", "bbbbbbbb")


def test_interleaver_orders_by_time_and_drops_repeats() -> None:
    merged = logs.Interleaver()
    first = merged.add(
        [
            ev("3", 3000, f"web/app/{TASK_A}", "c"),
            ev("1", 1000, f"nginx/nginx/{TASK_B}", "a"),
            ev("2", 2000, f"web/app/{TASK_B}", "b"),
        ]
    )
    assert [e["eventId"] for e in first] == ["1", "2", "3"]
    # The next poll starts at the newest timestamp seen: event 3 comes again, once is enough.
    again = merged.add(
        [ev("3", 3000, f"web/app/{TASK_A}", "c"), ev("4", 3000, f"nginx/nginx/{TASK_A}", "d")]
    )
    assert [e["eventId"] for e in again] == ["4"]
    assert merged.newest == 3000


def test_format_line_prefixes_container_and_task() -> None:
    line = logs.format_line(ev("1", 1_700_000_000_000, f"web/app/{TASK_A}", "hello\n"), SOURCES)
    assert line == "22:13:20 app   aaaaaaaa | hello"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400)]
)
def test_parse_since(text: str, seconds: int) -> None:
    assert logs.parse_since(text) == seconds


@pytest.mark.parametrize("text", ["10", "m", "1w", "-5m"])
def test_parse_since_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        logs.parse_since(text)


def test_filter_is_an_exact_quoted_term() -> None:
    assert logs.filter_pattern('GET /health "x"') == '"GET /health \\"x\\""'
    assert logs.filter_pattern(None) is None


class FakeLogs:
    """FilterLogEvents answering recorded pages: `polls[i]` is the i-th poll's list of pages."""

    def __init__(self, polls: list[list[dict[str, Any]]], ctx: FakeCtx) -> None:
        self.polls = polls
        self.calls: list[dict[str, Any]] = []
        self.ctx = ctx
        self.poll = -1

    def filter_log_events(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if "nextToken" not in kwargs:
            self.poll += 1
            if self.poll >= len(self.polls) - 1:
                self.ctx.cancel.set()  # Ctrl-C after the last recorded poll
        pages = self.polls[min(self.poll, len(self.polls) - 1)]
        index = int(kwargs.get("nextToken", "0"))
        page = dict(pages[index])
        if index + 1 < len(pages):
            page["nextToken"] = str(index + 1)
        return page


class FakeCtx:
    def __init__(self, polls: list[list[dict[str, Any]]]) -> None:
        self.cancel = threading.Event()
        self.slept: list[float] = []
        self.logs = FakeLogs(polls, self)

    def client(self, _name: str) -> FakeLogs:
        return self.logs

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_tail_reads_every_page_in_time_order() -> None:
    ctx = FakeCtx(
        [
            [
                {
                    "events": [
                        ev("2", 2000, f"web/app/{TASK_A}", "two"),
                        ev("4", 4000, f"web/app/{TASK_A}", "four"),
                    ]
                },
                {
                    "events": [
                        ev("1", 1000, f"nginx/nginx/{TASK_B}", "one"),
                        ev("3", 3000, f"nginx/nginx/{TASK_A}", "three"),
                    ]
                },
            ]
        ]
    )
    got = logs.tail(ctx, SOURCES, start_ms=500)  # type: ignore[arg-type]
    assert [(e["container"], e["task"], e["message"]) for e in got] == [
        ("nginx", "bbbbbbbb", "one"),
        ("app", "aaaaaaaa", "two"),
        ("nginx", "aaaaaaaa", "three"),
        ("app", "aaaaaaaa", "four"),
    ]
    # One group, both its containers: one query without a stream prefix, two pages.
    assert ctx.logs.calls == [
        {"logGroupName": "/ecs/shop", "startTime": 500},
        {"logGroupName": "/ecs/shop", "startTime": 500, "nextToken": "1"},
    ]


def test_tail_of_one_container_asks_for_its_stream_prefix_and_the_filter() -> None:
    ctx = FakeCtx([[{"events": [ev("1", 1000, f"web/app/{TASK_A}", "GET /health 200")]}]])
    app = [s for s in SOURCES if s.container == "app"]
    logs.tail(ctx, app, start_ms=0, pattern=logs.filter_pattern("GET /health"))  # type: ignore[arg-type]
    assert ctx.logs.calls == [
        {
            "logGroupName": "/ecs/shop",
            "startTime": 0,
            "logStreamNamePrefix": "web/app/",
            "filterPattern": '"GET /health"',
        }
    ]


def test_follow_polls_from_the_newest_event_and_prints_each_once() -> None:
    polls = [
        [{"events": [ev("1", 100_000, f"web/app/{TASK_A}", "one")]}],
        [
            {
                "events": [
                    ev("1", 100_000, f"web/app/{TASK_A}", "one"),
                    ev("2", 101_000, f"nginx/nginx/{TASK_A}", "two"),
                ]
            }
        ],
        [
            {
                "events": [
                    ev("2", 101_000, f"nginx/nginx/{TASK_A}", "two"),
                    ev("3", 99_000, f"web/app/{TASK_B}", "late"),
                ]
            }
        ],
    ]
    ctx = FakeCtx(polls)
    printed: list[str] = []
    out = logs.tail(
        ctx,  # type: ignore[arg-type]
        SOURCES,
        start_ms=0,
        follow=True,
        on_event=lambda e, s: printed.append(e["message"]),
    )
    assert printed == ["one", "two", "late"]  # a late event within the overlap is not lost
    assert out == []  # followed events go to on_event only
    starts = [c["startTime"] for c in ctx.logs.calls]
    assert starts == [0, 100_000 - logs.FOLLOW_OVERLAP_MS, 101_000 - logs.FOLLOW_OVERLAP_MS]
    assert ctx.slept == [logs.FOLLOW_SECONDS, logs.FOLLOW_SECONDS]
