"""The one resource lifecycle, written once.

A resource kind supplies only what is specific to it — `find`, `create`, `diff`, `update`,
`delete` (and optionally `tag`, `summary`, `outputs`) — as a `Kind`. Everything else is here:

    examine (read-only): find (state id, then name/tag) -> ownership verdict -> diff -> a Change
    apply:               create (tags at creation) | adopt -> record at once -> update -> record
    remove:              find the recorded resource -> only if ours -> delete; not found = done

`plan` is `examine` over the desired stack, printed; `up` is the same examination, a check that
nothing in it belongs to someone else, then `apply` of each change. No kind asks "is this a dry
run?": a kind's `find` and `diff` only read, and only `apply`/`remove` call the mutating verbs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from ecs_cicd.aws import Aws, aws_error, is_already_exists, is_not_found
from ecs_cicd.errors import AwsError, EcsCicdError
from ecs_cicd.names import STACK_TAG
from ecs_cicd.progress import Emit, Note, TextEvents, WaitStatus, current_resource
from ecs_cicd.state import Record, State

# A look-up may miss a resource that create says exists (read-after-write lag): look again up to
# 30 times, 2 s apart (about a minute).
ALREADY_EXISTS_LOOKS = 30
ALREADY_EXISTS_PAUSE = 2.0
# The config's `waits:` defaults (a Ctx built without a config, as in tests, uses these).
DEFAULT_DEADLINES = {
    "load_balancer": 600.0,
    "service": 900.0,
    "pipeline": 1800.0,
    "delete": 1200.0,
    "certificate": 1800.0,
    "poll_min": 1.0,
    "poll_fraction": 0.1,
}


# --- desired state ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Where the stack goes: what desired values (ARNs, bucket names) need besides the config."""

    account: str
    region: str
    partition: str = "aws"

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )


@dataclass(frozen=True, eq=False, kw_only=True)
class Resource:
    """The desired state of one resource: frozen, pure data, built by stack.py without AWS.

    Subclasses (one per kind, in the kind's module) add their desired values as fields; a field
    holding another Resource (or a tuple of them) is a dependency, by reference. `after` names
    resources that must exist first without being data of this one (the service needs the
    listener that associates its target group with the load balancer).
    """

    kind: ClassVar[str] = ""
    logical_id: str
    tags: tuple[tuple[str, str], ...] = ()
    after: tuple[Resource, ...] = ()

    def deps(self) -> tuple[Resource, ...]:
        out: list[Resource] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            items = value if isinstance(value, tuple) else (value,)
            out += [v for v in items if isinstance(v, Resource) and v not in out]
        return tuple(out)

    @property
    def tag_dict(self) -> dict[str, str]:
        return dict(self.tags)


# --- what a kind reports ---------------------------------------------------------------------
@dataclass
class Live:
    """A resource as AWS reports it. `tags` None: the kind cannot be tagged, ownership is our
    state record (or `owned_by_holder`, the verdict on the tagged resource that holds it)."""

    physical_id: str
    arn: str | None = None
    tags: dict[str, str] | None = field(default_factory=dict)
    data: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    owned_by_holder: bool | None = None


@dataclass(frozen=True)
class Diff:
    """One field that differs: `replace` when AWS cannot change it in place."""

    field: str
    have: Any = None
    want: Any = None
    note: str = ""
    replace: bool = False

    def __str__(self) -> str:
        if self.note:
            return f"{self.field}: {self.note}"
        return f"{self.field}: {_short(self.have)} -> {_short(self.want)}"


def _short(value: Any) -> str:
    return "none" if value is None else repr(value) if isinstance(value, str) else str(value)


# Actions: create, update, replace, adopt (found untracked but ours), take (foreign, taken over on
# request), unchanged, foreign (someone else's: blocks up), reference (not ours by design),
# delete, gone (already deleted), skip (foreign: left alone by down).
@dataclass
class Outcome:
    """One resource's line of a plan or of what an operation did."""

    logical_id: str
    kind: str
    action: str
    changes: list[str] = field(default_factory=list)
    physical_id: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    # plan: not looked up, as what it is found through (this logical id) is still to be made.
    after: str | None = None
    # When `up`/`down` worked on it, in seconds since the run started (None: not worked on),
    # the [start, end] of its waits (some after `finished`: the waits at the end of `up`), and
    # what it had to wait for in this run (its dependencies for up, its dependents for down).
    started: float | None = None
    finished: float | None = None
    waits: list[tuple[float, float]] = field(default_factory=list)
    gated_by: list[str] = field(default_factory=list)

    @property
    def destructive(self) -> bool:
        return self.action in ("replace", "delete")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.logical_id,
            "kind": self.kind,
            "action": self.action,
            "physical_id": self.physical_id,
            "changes": self.changes,
            "seconds": round(self.seconds, 3),
            **({"notes": self.notes} if self.notes else {}),
            **({"after": self.after} if self.after else {}),
            **(
                {
                    "started": round(self.started, 3),
                    "finished": round(self.finished, 3),
                    "waits": [[round(a, 3), round(b, 3)] for a, b in self.waits],
                    "gated_by": self.gated_by,
                }
                if self.started is not None and self.finished is not None
                else {}
            ),
        }


class Pending(EcsCicdError):
    """A dependency does not exist yet (plan): what needs its id is known only once it is made."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(f"{resource.logical_id} does not exist yet")
        self.resource = resource


class Cancelled(EcsCicdError):
    exit_code = 130


class Ctx:
    """What a kind's verbs get: clients, the state, where the stack goes, a progress callback."""

    def __init__(
        self,
        aws: Aws,
        state: State,
        target: Target,
        *,
        stack: str,
        log: Callable[[str], None] = lambda _msg: None,
        sleep: Callable[[float], None] = time.sleep,
        cancel: threading.Event | None = None,
        adopt: frozenset[str] = frozenset(),
        replace_service: bool = False,
        deadlines: dict[str, float] | None = None,
        batch_reads: bool = False,
        batch_max_age: float | None = None,
        events: Emit | None = None,
        refresh: bool = False,
        tag_listing: bool = False,
    ) -> None:
        self.aws = aws
        self.state = state
        self.target = target
        self.stack = stack
        self.log = log
        self.sleep = sleep
        self.cancel = cancel or threading.Event()
        self.adopt = adopt
        self.replace_service = replace_service
        self.deadlines = deadlines or {}
        # Batched reads (Kind.lookup_many, `shared`), made once per Ctx. Only a Ctx that examines
        # (plan, the look-ups before `up` changes anything, status, scans, down's deletes) turns
        # them on: one that makes changes must see what it just made.
        self.batch_reads = batch_reads
        # How long a batched answer stands (None: for the Ctx's life). `down` bounds it: the
        # ownership it checks before each delete is then at most that old.
        self.batch_max_age = batch_max_age
        self._shared: dict[Any, Any] = {}
        self._shared_locks: dict[Any, threading.Lock] = {}
        self._shared_lock = threading.Lock()
        self.wanted: dict[str, list[Resource]] = {}
        # False (up, plan): settings the state verified are not read again (Kind.settings_reads).
        self.refresh = refresh
        # True (the examinations of up, plan, status): tags may come from the tagging API's
        # listing (`tags_of`). Never where ownership decides a delete: the index can lag.
        self.tag_listing = tag_listing
        self.trusted: set[str] = set()  # logical ids whose settings `diff` took from the state

        # Structured progress (progress.py); without a reporter, events become `log` lines.
        self.emit: Emit = events or TextEvents(lambda m: self.log(m))

    def expect(self, resources: Iterator[Resource] | tuple[Resource, ...] | list[Resource]) -> None:
        """The resources about to be examined, by kind: `named_ids` kinds batch-read them by
        name even without records."""
        for r in resources:
            self.wanted.setdefault(r.kind, []).append(r)

    def trusts(self, want: Resource, live: Live) -> bool:
        """Whether `diff` may take `want`'s settings (Kind.settings_reads) from the state: our
        record says they were verified on AWS — read back equal, or set by us — for exactly
        this desired resource (`fingerprint`), `live` is that very resource (the recorded id)
        and carries our stack tag (not a namesake someone made after ours was deleted, nor one
        being taken over), and this run does not `--refresh`. A change made outside the tool
        to those settings is then seen by `--refresh` only."""
        if self.refresh or want.logical_id in self.adopt:
            return False
        rec = self.state.get(want.logical_id)
        if rec is None or not rec.verified or rec.verified != fingerprint(want):
            return False
        if live.physical_id != rec.physical_id or (live.tags or {}).get(STACK_TAG) != self.stack:
            return False
        with self._shared_lock:
            self.trusted.add(want.logical_id)
        return True

    def shared(self, key: Any, load: Callable[[], T]) -> T:
        """The result of `load()`, called once for `key` in this Ctx however many threads ask:
        one batched read that serves the look-ups of many resources (of one kind or several).
        With `batch_max_age`, an answer older than that is read again."""

        def fresh() -> bool:
            if key not in self._shared:
                return False
            age = time.monotonic() - self._shared[key][1]
            return self.batch_max_age is None or age <= self.batch_max_age

        with self._shared_lock:
            if fresh():
                return self._shared[key][0]  # type: ignore[no-any-return]
            lock = self._shared_locks.setdefault(key, threading.Lock())
        with lock:
            with self._shared_lock:
                if fresh():
                    return self._shared[key][0]  # type: ignore[no-any-return]
            value = load()
            with self._shared_lock:
                self._shared[key] = (value, time.monotonic())
            return value

    def recorded(self, kind: str) -> list[Record]:
        """The state's records of `kind` that this stack owns."""
        with self.state._lock:
            return [r for r in self.state.records.values() if r.kind == kind and r.owned]

    def status(self, key: str, text: str) -> None:
        """What a wait sees changed (call it only on change)."""
        self.emit(WaitStatus(key=key, text=text, resource=current_resource()))

    def note(self, text: str, *, source: str = "", level: str = "info") -> None:
        self.emit(Note(text=text, source=source, level=level, resource=current_resource()))

    def deadline(self, wait: str) -> float:
        """The `waits:` setting `wait`: a deadline in seconds (load_balancer, service, pipeline,
        delete) or the poll cadence (poll_min, poll_fraction)."""
        return float(self.deadlines.get(wait, DEFAULT_DEADLINES[wait]))

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def account(self) -> str:
        return self.target.account

    def client(self, service: str) -> Any:
        return self.aws.client(service)

    def ref(self, resource: Resource) -> Record:
        """The record of a dependency. Missing: it will be created first (plan) -> Pending."""
        rec = self.state.get(resource.logical_id)
        if rec is None:
            raise Pending(resource)
        return rec

    def id_of(self, resource: Resource) -> str:
        return self.ref(resource).physical_id

    def arn_of(self, resource: Resource) -> str:
        rec = self.ref(resource)
        return rec.arn or rec.physical_id

    def record(self, record: Record) -> None:
        """Persist at once: a crash right after leaves the state true."""
        self.state.put(record)


R = TypeVar("R", bound=Resource)
T = TypeVar("T")


class Kind(Generic[R]):
    """The verbs of one resource kind. Only `find`, `create` and `delete` are required."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""  # "log group": used in messages
    taggable: ClassVar[bool] = True
    reference: ClassVar[bool] = False  # an existing resource the config names: never changed
    # The physical id is the name (IAM roles, ECR repositories, log groups): `lookup_many` then
    # also answers look-ups by desired name (a scan without records, a record gone).
    named_ids: ClassVar[bool] = False
    # `diff` reads settings the look-up does not return, a call each (a bucket's policy, a
    # repository's lifecycle policy, a VPC's DNS attributes, load balancer attributes). It skips
    # those reads when `ctx.trusts(want, live)`: the state says they were verified for this very
    # desired resource and this very live one, and the run does not `--refresh`.
    settings_reads: ClassVar[bool] = False

    def name(self, want: R) -> str:
        return str(getattr(want, "name", want.logical_id))

    def lookup(self, ctx: Ctx, physical_id: str, rec: Record | None) -> Live | None:
        """The one read most kinds supply: the resource called `physical_id`, or None.
        `rec` is our record of it when the look-up is by the recorded id."""
        raise NotImplementedError

    def find(self, ctx: Ctx, want: R, rec: Record | None) -> Live | None:
        """Look the resource up: by the recorded id first, then by the desired name (when it
        differs: a crash before recording, a lost state). Read-only."""
        live = self.lookup(ctx, rec.physical_id, rec) if rec else None
        if live is None and (rec is None or rec.physical_id != self.name(want)):
            live = self.lookup(ctx, self.name(want), None)
        return live

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        """Look up what `rec` records (down, status). Read-only."""
        return self.lookup(ctx, rec.physical_id, rec)

    # Optional: kinds that do not override it are looked up one by one, as before.
    def lookup_many(self, ctx: Ctx, recs: list[Record]) -> dict[str, Live | None] | None:
        """Optional batched read: every resource `recs` record, in as few calls as the API
        allows (a list-taking Describe, one paginated listing), keyed by physical id. A Live
        here must be what `find_recorded` would return — tags included, and in `data` whatever
        `diff` needs so that it need not read again. A value None: confirmed not there; a
        physical id left out: not known, looked up singly. The lifecycle calls it at most once
        per kind and Ctx (when the Ctx batches reads), with all the kind's owned records (and,
        for `named_ids` kinds, a Record(logical id, kind, name) for each desired resource the
        Ctx expects), the first time it looks up one of them."""
        return None

    def create(self, ctx: Ctx, want: R) -> Live:
        """Create it with its tags in the same call."""
        raise NotImplementedError

    def configure(self, ctx: Ctx, want: R, live: Live) -> Live | None:
        """Calls a resource needs right after `create`, once it is recorded (a crash between the
        two leaves it recorded, and the next `diff` finds what is missing)."""
        return None

    def diff(self, ctx: Ctx, want: R, live: Live) -> list[Diff]:
        """What differs between the desired and the live resource. Read-only."""
        return []

    def update(self, ctx: Ctx, want: R, live: Live, diffs: list[Diff]) -> Live | None:
        """Converge `live` to `want` for `diffs`; returns the new live view when it changed."""
        raise NotImplementedError(f"{self.kind} has no update")

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        """Delete what `rec` records (ours, checked by the lifecycle). Not found: done."""
        raise NotImplementedError

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        """Put our tags on a resource the user asked us to take over (`--adopt`)."""
        raise NotImplementedError(f"{self.kind} cannot be tagged")

    def summary(self, want: R) -> list[str]:
        """What `create` will make, for the plan."""
        return []

    def notes(self, want: R, diffs: list[Diff]) -> list[str]:
        """What an update also does (a deployment it starts, downtime it implies)."""
        return []

    def record(self, want: R, live: Live) -> Record:
        return Record(
            want.logical_id,
            self.kind,
            live.physical_id,
            arn=live.arn,
            owned=not self.reference,
            outputs=dict(live.outputs),
        )

    def what(self, name: str) -> str:
        return f"{self.label or self.kind} {name}"


def fingerprint(want: Resource) -> str:
    """A digest of everything desired of `want` (its fields, its dependencies' too): equal
    fingerprints, equal desired settings."""
    return hashlib.sha256(repr(want).encode()).hexdigest()[:20]


def _recorded(kind: Kind[Any], want: Resource, live: Live, *, verified: bool) -> Record:
    """`kind.record`, saying whether AWS is known to hold `want`'s settings (settings_reads)."""
    rec = kind.record(want, live)
    if verified and kind.settings_reads:
        rec = dataclasses.replace(rec, verified=fingerprint(want))
    return rec


# --- ownership -------------------------------------------------------------------------------
def is_ours(kind: Kind[Any], live: Live, stack: str, rec: Record | None) -> bool:
    """Ours: it carries our stack tag; for kinds AWS cannot tag, our record of it or the verdict
    on the tagged resource that holds it."""
    if kind.reference:
        return True
    if live.tags is not None:
        return live.tags.get(STACK_TAG) == stack
    if live.owned_by_holder is not None:
        return live.owned_by_holder
    return rec is not None


# --- examine: read-only ----------------------------------------------------------------------
@dataclass
class Step:
    """What `examine` found for one desired resource, and what `apply` will do about it."""

    want: Resource
    kind: Kind[Any]
    outcome: Outcome
    live: Live | None = None
    diffs: list[Diff] = field(default_factory=list)
    complete: bool = True  # False: a dependency is still to be made, diff again before applying


def examine(ctx: Ctx, kind: Kind[Any], want: Resource) -> Step:
    lid, name = want.logical_id, kind.name(want)
    rec = ctx.state.get(lid)

    def outcome(action: str, changes: list[str] | None = None, pid: str | None = None) -> Outcome:
        return Outcome(lid, kind.kind, action, changes or [], pid or name)

    try:
        live = read(kind, "Reading", name, lambda: _find(ctx, kind, want, rec))
    except Pending as p:
        # Found through a dependency that does not exist yet: so it does not exist either.
        made = outcome("create", kind.summary(want), name)
        made.after = p.resource.logical_id
        return Step(want, kind, made, complete=False)
    if live is None:
        if kind.reference:
            return Step(want, kind, outcome("missing", [f"{kind.what(name)} does not exist"]))
        created = outcome("create", kind.summary(want))
        created.notes = kind.notes(want, [])
        return Step(want, kind, created)
    pid = live.physical_id
    ours = is_ours(kind, live, ctx.stack, rec)
    if not ours and lid not in ctx.adopt:
        return Step(want, kind, outcome("foreign", [_foreign_reason(kind, live)], pid), live)
    complete = True
    try:
        diffs = read(kind, "Reading", name, lambda: kind.diff(ctx, want, live))
    except Pending as p:
        diffs, complete = [Diff(p.resource.logical_id, note="updated once it exists")], False
    if kind.reference:
        action = "reference"
    elif not ours:
        action = "take"
    elif rec is None:
        action = "adopt"
    elif any(d.replace for d in diffs):
        action = "replace"
    else:
        action = "update" if diffs else "unchanged"
    changes = [str(d) for d in diffs]
    if action == "take":
        changes.insert(0, f"tag {STACK_TAG}={ctx.stack} (taken over with --adopt)")
    out = outcome(action, changes, pid)
    out.notes = kind.notes(want, diffs) if diffs else []
    return Step(want, kind, out, live, diffs, complete)


_MISS = object()


def prefetched(ctx: Ctx, kind: Kind[Any], ident: str) -> Any:
    """What the kind's batched read (`lookup_many`) says of the resource `ident` (a recorded
    physical id, or a desired name for `named_ids` kinds): a Live, None (not there), or _MISS
    (no batch, or the batch does not know it: look it up singly)."""
    if not ctx.batch_reads or type(kind).lookup_many is Kind.lookup_many:
        return _MISS

    def load() -> dict[str, Live | None] | None:
        recs = {r.physical_id: r for r in ctx.recorded(kind.kind)}
        if kind.named_ids:  # what the stack wants of this kind, by name (a scan: no records)
            for w in ctx.wanted.get(kind.kind, ()):
                name = kind.name(w)
                recs.setdefault(name, Record(w.logical_id, kind.kind, name))
        return kind.lookup_many(ctx, list(recs.values())) if recs else None

    batch = ctx.shared(("lookup_many", kind.kind), load)
    if not batch or ident not in batch:
        return _MISS
    return batch[ident]


def tags_of(ctx: Ctx, arn: str, read: Callable[[], dict[str, str]]) -> dict[str, str]:
    """A resource's tags. In an examination (Ctx.tag_listing: up's, plan's, status'), one
    listing of the Resource Groups Tagging API (GetResources filtered on our stack tag) answers
    for every resource of the stack in every service; one it does not list is asked of its own
    service (`read`): someone else's, or ours but tagged moments ago. The index lags behind the
    services both ways (it can still list a deleted resource, or a tag just removed), so it
    never decides a change: `up` confirms the ownership of anything it then changes with the
    resource's own service (ops._apply_all), and `down` never uses it."""
    if ctx.batch_reads and ctx.tag_listing:
        tags = ctx.shared("tag:GetResources", lambda: _stack_tagged(ctx)).get(arn)
        if tags is not None:
            return tags
    return read()


def _stack_tagged(ctx: Ctx) -> dict[str, dict[str, str]]:
    """ARN -> tags of every resource carrying our stack tag; empty when the caller may not
    use the tagging API (each resource's tags are then read from its service, as before)."""
    out: dict[str, dict[str, str]] = {}
    try:
        pages = ctx.client("resourcegroupstaggingapi").get_paginator("get_resources")
        for page in pages.paginate(
            TagFilters=[{"Key": STACK_TAG, "Values": [ctx.stack]}], ResourcesPerPage=100
        ):
            for item in page.get("ResourceTagMappingList", []):
                tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
                out[str(item["ResourceARN"])] = tags
    except (ClientError, BotoCoreError):
        # Denied (no tag:GetResources), throttled past the retries, an endpoint without the
        # API: each resource's tags are read from its service, as without the listing.
        return {}
    return out


def _find(ctx: Ctx, kind: Kind[Any], want: Resource, rec: Record | None) -> Live | None:
    """`kind.find`, served by the kind's batched read where it knows the answer."""
    name = kind.name(want)
    if rec is not None:
        hit = prefetched(ctx, kind, rec.physical_id)
        if hit is _MISS:
            return kind.find(ctx, want, rec)
        if hit is not None or rec.physical_id == name:
            return hit  # type: ignore[no-any-return]
        # Gone under its recorded id: look for it by its name as `find` would (a lost state).
    if kind.named_ids:
        hit = prefetched(ctx, kind, name)
        if hit is not _MISS:
            return hit  # type: ignore[no-any-return]
    return kind.find(ctx, want, None)


def find_recorded(ctx: Ctx, kind: Kind[Any], rec: Record) -> Live | None:
    """`kind.find_recorded`, served by the kind's batched read when there is one."""
    hit = prefetched(ctx, kind, rec.physical_id)
    return kind.find_recorded(ctx, rec) if hit is _MISS else hit  # type: ignore[no-any-return]


def _foreign_reason(kind: Kind[Any], live: Live) -> str:
    if live.tags is None:
        return "exists, but this stack's state does not record it"
    have = live.tags.get(STACK_TAG)
    return f"exists without the tag {STACK_TAG}" + (
        f" (it carries {STACK_TAG}={have})" if have else ""
    )


def read(kind: Kind[Any], action: str, name: str, call: Callable[[], Any]) -> Any:
    """Run a read verb; an AWS error it did not handle becomes one line naming the resource."""
    try:
        return call()
    except ClientError as e:
        raise aws_error(action, kind.what(name), e) from None


# --- apply -----------------------------------------------------------------------------------
def apply(ctx: Ctx, step: Step) -> Outcome:
    """Make the resource what `step` says: create / take over / converge, recording at once."""
    if not step.complete:
        step = examine(ctx, step.kind, step.want)
    kind, want, out = step.kind, step.want, step.outcome
    name = kind.name(want)
    if out.action in ("unchanged", "reference"):
        if step.live is not None:
            rec = _recorded(kind, want, step.live, verified=True)
            if ctx.state.get(want.logical_id) != rec:
                ctx.record(rec)
        return out
    if out.action == "foreign":
        raise ForeignResources([out])
    if out.action == "missing":
        raise AwsError("Reading", kind.what(name), "NotFound", out.changes[0])
    if out.action == "create":
        try:
            made = kind.create(ctx, want)
        except ClientError as e:
            if not is_already_exists(e):
                raise aws_error("Creating", kind.what(name), e) from None
            # Made between our look-up and our create (a concurrent run, a read lagging behind):
            # ours (it carries our stack tag) -> go on with it; anyone else's -> the error stands.
            # Reads right after a write may still miss it (AWS-BEHAVIOUR.md: read-after-write
            # lag): look again for up to a minute, never create a second one.
            again = examine(ctx, kind, want)
            for _ in range(ALREADY_EXISTS_LOOKS):
                if again.live is not None:
                    break
                ctx.sleep(ALREADY_EXISTS_PAUSE)
                again = examine(ctx, kind, want)
            if again.live is None or again.outcome.action not in ("adopt", "unchanged", "update"):
                raise aws_error(
                    "Creating",
                    kind.what(name),
                    e,
                    hint=f"a {kind.label or kind.kind} of that name exists without the tag "
                    f"{STACK_TAG}={ctx.stack}; it was left alone (delete or rename it, or "
                    f"`up --adopt {want.logical_id}`)",
                ) from None
            return apply(ctx, again)
        ctx.record(kind.record(want, made))
        out.physical_id = made.physical_id
        new = mutate(kind, "Configuring", name, lambda: kind.configure(ctx, want, made))
        if new is not None or kind.settings_reads:
            ctx.record(_recorded(kind, want, new or made, verified=True))
        return out
    live = step.live
    assert live is not None
    if out.action == "take":
        tags = dict(want.tags)
        mutate(kind, "Tagging", name, lambda: kind.tag(ctx, live, tags))
    ctx.record(_recorded(kind, want, live, verified=not step.diffs))
    if step.diffs:
        new = mutate(kind, "Updating", name, lambda: kind.update(ctx, want, live, step.diffs))
        if new is not None or kind.settings_reads:
            ctx.record(_recorded(kind, want, new or live, verified=True))
    return out


def mutate(kind: Kind[Any], action: str, name: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ClientError as e:
        raise aws_error(action, kind.what(name), e) from None


# --- remove ----------------------------------------------------------------------------------
def remove(ctx: Ctx, kind: Kind[Any], rec: Record) -> Outcome:
    """Delete what `rec` records if it is ours; "not found" at any point means done."""

    def outcome(action: str, changes: list[str] | None = None) -> Outcome:
        return Outcome(rec.logical_id, kind.kind, action, changes or [], rec.physical_id)

    if not rec.owned or kind.reference:
        return outcome("reference")
    try:
        live = find_recorded(ctx, kind, rec)
        if live is None:
            return outcome("gone")
        if not is_ours(kind, live, ctx.stack, rec):
            return outcome("skip", [_foreign_reason(kind, live) + ": left alone"])
        kind.delete(ctx, rec, live)
    except ClientError as e:
        if is_not_found(e):
            return outcome("gone")
        raise aws_error("Deleting", kind.what(rec.physical_id), e) from None
    return outcome("delete")


class ForeignResources(EcsCicdError):
    """Resources with our names that are not ours: `up` stops before changing anything."""

    exit_code = 1

    def __init__(self, outcomes: list[Outcome]) -> None:
        items = "; ".join(f"{o.kind} {o.physical_id} ({o.logical_id})" for o in outcomes)
        ids = " ".join(o.logical_id for o in outcomes)
        super().__init__(
            f"{len(outcomes)} resource(s) with this stack's names are not this stack's "
            f"(no {STACK_TAG} tag): {items}; nothing was changed",
            hint=f"delete or rename them, change project/environment, or take them over "
            f"explicitly with `up --adopt {ids}`",
        )
        self.outcomes = outcomes


def walk(resources: Iterator[Resource] | list[Resource]) -> list[Resource]:
    """Every resource reachable from `resources`, dependencies first (a cycle is a bug)."""
    out: list[Resource] = []
    seen: set[str] = set()
    visiting: set[str] = set()

    def visit(r: Resource, trail: tuple[str, ...]) -> None:
        if r.logical_id in seen:
            return
        if r.logical_id in visiting:
            raise ValueError(f"dependency cycle: {' -> '.join((*trail, r.logical_id))}")
        visiting.add(r.logical_id)
        for d in r.deps():  # `after` included: it is a field of the model
            visit(d, (*trail, r.logical_id))
        visiting.discard(r.logical_id)
        seen.add(r.logical_id)
        out.append(r)

    for r in resources:
        visit(r, ())
    return out
