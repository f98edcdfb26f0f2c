"""The operations behind the CLI and the library API: up, down, plan, status, outputs, recover.

Each takes a validated Config and the same keywords — an optional boto3.Session (callers control
credentials, endpoints and botocore hooks), state_path, region, endpoint_url, log; those that
call AWS also max_workers, sleep and cancel — and returns a Result. No printing here: progress
goes through the `log` callback.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from ecs_cicd import limits, names, preflight
from ecs_cicd import switch as switching
from ecs_cicd.aws import Aws, resolve_region
from ecs_cicd.config import Config, GitHubSource
from ecs_cicd.engine import DEFAULT_WORKERS, reverse_deps, run_concurrently
from ecs_cicd.errors import AwsError, ConfigError, StateError
from ecs_cicd.lifecycle import (
    Ctx,
    ForeignResources,
    Kind,
    Outcome,
    Resource,
    Step,
    Target,
    apply,
    examine,
    remove,
)
from ecs_cicd.progress import (
    Emit,
    Note,
    Recorder,
    ResourceFinished,
    ResourceStarted,
    TextEvents,
    resource_scope,
    tee,
)
from ecs_cicd.resources import codedeploy, codepipeline, dns, kinds, scaling, service
from ecs_cicd.stack import Stack, build_stack
from ecs_cicd.state import Record, State, default_state_path, stack_lock
from ecs_cicd.waiters import wait_for_load_balancer, wait_for_pipeline, wait_for_service

Log = Callable[[str], None]


@dataclass
class Result:
    """What an operation did: per-resource outcomes, the stack's outputs, API calls, time."""

    command: str
    outcomes: list[Outcome] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    state_path: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    # Seconds per phase: examine (read-only look-ups), apply / delete (changes), wait (for AWS).
    phases: dict[str, float] = field(default_factory=dict)
    # Wall-clock seconds during which at least one wait for AWS ran (up, down).
    waiting: float = 0.0

    @property
    def changed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action in ("create", "update", "adopt", "delete")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "resources": [o.to_dict() for o in self.outcomes],
            "outputs": self.outputs,
            "calls": self.calls,
            "seconds": round(self.seconds, 3),
            "state_path": self.state_path,
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "waiting_seconds": round(self.waiting, 3),
            **({"details": self.details} if self.details else {}),
        }


@dataclass
class Runtime:
    cfg: Config
    aws: Aws
    state_path: Path
    log: Log
    sleep: Callable[[float], None]
    cancel: threading.Event
    started: float = field(default_factory=time.monotonic)
    phases: dict[str, float] = field(default_factory=dict)
    emit: Emit | None = None
    recorder: Recorder | None = None

    def __post_init__(self) -> None:
        self.recorder = Recorder(self.started)
        self.emit = tee(self.recorder, self.emit or TextEvents(self.log))

    def stamp(self, outcomes: list[Outcome]) -> None:
        """Each outcome's start, finish and waits, from the progress events of this run."""
        assert self.recorder is not None
        for o in outcomes:
            span = self.recorder.spans.get(o.logical_id)
            if span is not None and span.started is not None and span.finished is not None:
                o.started, o.finished, o.waits = span.started, span.finished, list(span.waits)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.monotonic() - t0

    def result(
        self,
        command: str,
        outcomes: list[Outcome] | None = None,
        outputs: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> Result:
        return Result(
            command,
            outcomes or [],
            outputs or {},
            self.aws.stats.as_dict(),
            time.monotonic() - self.started,
            str(self.state_path),
            details or {},
            dict(self.phases),
            self.recorder.waiting_seconds() if self.recorder else 0.0,
        )


def runtime(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    state_path: str | Path | None = None,
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
    events: Emit | None = None,
) -> Runtime:
    region = resolve_region(region, cfg, session)
    # The library API refuses what the CLI refuses at load, before any call (preflight.py).
    unknown = limits.region_problem(region) if region else None
    if unknown:
        raise ConfigError(unknown[0], field="region", hint=unknown[1])
    preflight.check_config(cfg, region or "us-east-1")
    cancel = cancel or threading.Event()
    if sleep is time.sleep:
        # Waits sleep on the cancel event, so Ctrl-C ends a long backoff at once.
        def sleep(seconds: float) -> None:
            cancel.wait(seconds)

    aws = Aws(session, region=region, endpoint_url=endpoint_url, sleep=sleep)
    path = (
        Path(state_path)
        if state_path
        else default_state_path(cfg.project, cfg.environment, aws.region, cfg.base_dir)
    )
    if events is not None and log is None:
        emit = events

        def log(message: str) -> None:
            emit(Note(text=message))

    return Runtime(cfg, aws, path, log or (lambda _m: None), sleep, cancel, emit=events)


def _load_state(rt: Runtime) -> State:
    state = State.load(rt.state_path, stack=rt.cfg.stack, region=rt.aws.region)
    account = rt.aws.account_id()
    if state.account and state.account != account:
        raise StateError(
            f"state file {rt.state_path} is for account {state.account}, the credentials in use are for {account}",
            hint="use the profile of that account, or pass --state",
        )
    state.account = account
    return state


def _target(rt: Runtime) -> Target:
    return Target(rt.aws.account_id(), rt.aws.region, rt.aws.partition)


def _ctx(
    rt: Runtime,
    state: State,
    *,
    adopt: frozenset[str] = frozenset(),
    replace_service: bool = False,
    batch_reads: bool = False,
    refresh: bool = False,
    tag_listing: bool = False,
) -> Ctx:
    return Ctx(
        rt.aws,
        state,
        _target(rt),
        stack=rt.cfg.stack,
        log=rt.log,
        sleep=rt.sleep,
        cancel=rt.cancel,
        adopt=adopt,
        replace_service=replace_service,
        deadlines=rt.cfg.waits.model_dump(),
        batch_reads=batch_reads,
        events=rt.emit,
        refresh=refresh,
        tag_listing=tag_listing,
    )


def _examiner(
    rt: Runtime, state: State, *, adopt: frozenset[str] = frozenset(), refresh: bool = False
) -> Ctx:
    """The Ctx of an examination (up's, plan's, status'): it reads only, on a scratch copy of
    the state, batching its reads and taking tags from the tagging API's listing."""
    return _ctx(
        rt,
        state.scratch_copy(),
        adopt=adopt,
        batch_reads=True,
        refresh=refresh,
        tag_listing=True,
    )


# What a resource adds to the time of everything after it, beyond one API call: the slow AWS
# steps (AWS-BEHAVIOUR.md: the ALB provisions for 1-3 minutes, a deployment settles in minutes).
SLOW = {"load_balancer": 120.0, "service": 60.0, "deployment_group": 60.0, "pipeline": 60.0}


def critical_path(stack: Stack) -> dict[str, float]:
    """For each resource, the longest weighted chain from it to the end of `up`: the engine
    starts the heads of the longest chains first."""
    dependents: dict[str, list[str]] = {lid: [] for lid in stack.ids}
    for r in stack.resources:
        for d in r.deps():
            if d.logical_id in dependents:  # a part of a stack may depend on the rest
                dependents[d.logical_id].append(r.logical_id)
    weight = {r.logical_id: 1.0 + SLOW.get(r.kind, 0.0) for r in stack.resources}
    out: dict[str, float] = {}
    for r in reversed(stack.resources):  # dependents come later in `resources`
        lid = r.logical_id
        out[lid] = weight[lid] + max((out[d] for d in dependents[lid]), default=0.0)
    return out


def _dep_ids(stack: Stack) -> dict[str, tuple[str, ...]]:
    return {r.logical_id: tuple(d.logical_id for d in r.deps()) for r in stack.resources}


# --- the plan: examine every resource (read-only) --------------------------------------------
FOUND = ("adopt", "unchanged", "update", "replace", "take", "reference")


def examine_all(ctx: Ctx, stack: Stack, *, workers: int = DEFAULT_WORKERS) -> list[Step]:
    """Examine the desired stack in dependency order, reading only. What is found but not yet
    recorded is recorded in `ctx.state` — a scratch copy — so its dependents can be found too."""
    table = kinds()
    deps = _dep_ids(stack)
    ctx.expect(stack.resources)

    def work(want: Any) -> Step:
        t0 = time.monotonic()
        step = examine(ctx, table[want.kind], want)
        step.outcome.seconds = time.monotonic() - t0
        if step.live is not None and step.outcome.action in FOUND:
            ctx.state.put(step.kind.record(want, step.live))
        return step

    rank = critical_path(stack)
    steps = run_concurrently(
        list(stack.resources),
        lambda r: r.logical_id,
        lambda r: deps[r.logical_id],
        work,
        cancel=ctx.cancel,
        workers=workers,
        priority=lambda r: rank[r.logical_id],
    )
    order = {lid: i for i, lid in enumerate(stack.ids)}
    return sorted(steps, key=lambda s: order[s.want.logical_id])


def _refuse_before_changing(steps: list[Step], ctx: Ctx, cfg: Config | None = None) -> None:
    """Everything `up` must refuse is refused here, before its first mutating call."""
    foreign = [s.outcome for s in steps if s.outcome.action == "foreign"]
    if foreign:
        raise ForeignResources(foreign)
    if cfg is not None:
        _need_token(steps, cfg)
    for s in steps:
        if s.outcome.action == "missing":  # an existing resource the config names
            o = s.outcome
            hint = getattr(s.kind, "missing_hint", "create it, or change the config that names it")
            raise AwsError(
                "Reading",
                s.kind.what(o.physical_id or o.logical_id),
                "NotFound",
                "it does not exist",
                hint=f"{hint}; nothing was changed",
            )
    for s in steps:
        if s.outcome.action == "replace" and not ctx.replace_service:
            raise ConfigError(
                f"{s.kind.what(s.outcome.physical_id or '')} must be replaced: "
                + "; ".join(s.outcome.changes),
                field="pipeline.deploy.strategy",
                hint="re-run with --replace-service to replace it (see `plan` for what that does)",
            )


# What makes `up` send the pipeline's declaration (with the GitHub token in its source action).
_SENDS_PIPELINE = ("create", "replace", "update", "adopt", "take")


def _need_token(steps: list[Step], cfg: Config) -> None:
    """The GitHub token is read only to create or change the pipeline: when `up` will, it must
    be set — checked here, before anything changes, rather than at load (read-only verbs and an
    `up` that leaves the pipeline alone never need it)."""
    src = cfg.pipeline.source
    if not isinstance(src, GitHubSource):
        return
    for s in steps:
        if s.want.logical_id != "pipeline" or s.outcome.action not in _SENDS_PIPELINE:
            continue
        if s.outcome.action in ("create", "replace") or s.diffs or not s.complete:
            codepipeline.oauth_token(src.token_env)  # raises ConfigError (exit 2) when unset


def _line(o: Outcome) -> str:
    extra = f" ({'; '.join(o.changes)})" if o.changes and o.action not in ("unchanged",) else ""
    pid = f" {o.physical_id}" if o.physical_id else ""
    notes = "".join(f"\n          note: {n}" for n in o.notes)
    return f"{o.action:<9} {o.logical_id}{pid}{extra} [{o.seconds:.1f}s]{notes}"


def _finished(o: Outcome, calls: dict[str, int] | None = None) -> ResourceFinished:
    return ResourceFinished(
        resource=o.logical_id,
        kind=o.kind,
        action=o.action,
        seconds=o.seconds,
        physical_id=o.physical_id,
        changes=tuple(o.changes),
        notes=tuple(o.notes),
        calls=tuple(sorted((calls or {}).items())),
    )


@contextlib.contextmanager
def _reported(ctx: Ctx, lid: str, kind: str, action: str) -> Iterator[dict[str, int]]:
    """Work on one resource: its start, and its failure (the caller reports its outcome);
    the waits and API calls made meanwhile on this thread are attributed to it."""
    t0 = time.monotonic()
    with resource_scope(lid, ctx.emit) as calls:
        ctx.emit(ResourceStarted(resource=lid, kind=kind, action=action))
        try:
            yield calls
        except BaseException as e:
            text = str(e).splitlines()[0] if str(e) else type(e).__name__
            ctx.emit(
                ResourceFinished(
                    resource=lid,
                    kind=kind,
                    action="failed",
                    seconds=time.monotonic() - t0,
                    error=text,
                    calls=tuple(sorted(calls.items())),
                )
            )
            raise


# --- up --------------------------------------------------------------------------------------
def up(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    wait: bool = True,
    wait_pipeline: bool = True,
    replace_service: bool = False,
    adopt: list[str] | tuple[str, ...] = (),
    max_workers: int = DEFAULT_WORKERS,
    refresh: bool = False,
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
    events: Emit | None = None,
) -> Result:
    """Create or converge every resource of the stack, then wait until it is serving.
    Progress: `events` (progress.py) gets structured events; else `log` gets text lines.
    `refresh`: read every setting from AWS, also those the state verified (Kind.settings_reads).

    First the whole stack is examined (read-only); if any resource with the stack's names is
    someone else's, or a change needs a flag the caller did not give, nothing is changed.
    """
    rt = runtime(
        cfg,
        session=session,
        region=region,
        endpoint_url=endpoint_url,
        state_path=state_path,
        log=log,
        sleep=sleep,
        cancel=cancel,
        events=events,
    )
    with stack_lock(rt.state_path, "up"):
        state = _load_state(rt)
        stack = build_stack(cfg, _target(rt))
        unknown = sorted(set(adopt) - set(stack.ids))
        if unknown:
            raise ConfigError(
                f"--adopt names resources this stack does not have: {', '.join(unknown)}",
                hint=f"logical ids are: {', '.join(stack.ids)}",
            )
        ctx = _ctx(
            rt, state, adopt=frozenset(adopt), replace_service=replace_service, refresh=refresh
        )
        scratch_ctx = _examiner(rt, state, adopt=frozenset(adopt), refresh=refresh)
        with rt.phase("examine"):
            steps = examine_all(scratch_ctx, stack, workers=max_workers)
        switch = switching.detect(steps, state)
        if switch is not None:
            switching.annotate(switch, steps, state, stack.ids)
        _refuse_before_changing(steps, ctx, cfg)
        state.save()
        with rt.phase("apply"):
            # Autoscaling / deployment alarms turned off: gone before / after the service.
            retired = scaling.retire(ctx, stack.ids, scaling.RETIRED_BEFORE, kinds())
            outcomes = _apply_all(ctx, stack, steps, workers=max_workers, switch=switch)
            outcomes += retired + scaling.retire(ctx, stack.ids, scaling.RETIRED_AFTER, kinds())
            if switch is not None:
                for o in switching.finish(ctx, stack.ids):
                    ctx.emit(_finished(o))
                    outcomes.append(o)
        details: dict[str, Any] = {}
        if wait:
            with rt.phase("wait"):
                details = _wait_all(
                    ctx, cfg, stack, wait_pipeline=wait_pipeline, read=_unchanged(steps, outcomes)
                )
        rt.stamp(outcomes)
        if scratch_ctx.trusted:
            details["settings_from_state"] = sorted(scratch_ctx.trusted)
        return rt.result("up", outcomes, stack_outputs(cfg, state), details)


# Actions whose step is examined again (without the tagging index) right before it is applied.
CONFIRMED = ("update", "replace", "adopt")


def _apply_all(
    ctx: Ctx,
    stack: Stack,
    steps: list[Step],
    *,
    workers: int,
    switch: switching.Switch | None = None,
) -> list[Outcome]:
    deps = _dep_ids(stack)
    changed: set[str] = set()
    lock = threading.Lock()

    def work(step: Step) -> Outcome:
        lid = step.want.logical_id
        with _reported(ctx, lid, step.want.kind, step.outcome.action) as calls:
            outcome = converge(step)
            outcome.gated_by = [d for d in deps[lid] if d in deps]
            ctx.emit(_finished(outcome, calls))
        return outcome

    def converge(step: Step) -> Outcome:
        # A resource's seconds: its examination (reading it) and what apply did (changing it).
        looked = step.outcome.seconds
        t0 = time.monotonic()
        with lock:
            stale = any(d in changed for d in deps[step.want.logical_id])
        if stale:
            # A dependency changed in this run (a new task definition revision...): what this
            # resource must do was examined against the old one, so examine it again now.
            step.complete = False
        lid = step.want.logical_id
        if switch is not None and lid == switching.SERVICE:
            outcome = switching.apply_service(ctx, step, switch)
        elif switch is not None and lid in switch.listener_ids:
            outcome = switching.apply_listener(ctx, step)
        else:
            if step.outcome.action in CONFIRMED:
                # About to change a resource the examination judged ours, maybe from the
                # tagging index (lifecycle.tags_of): look again with its service's reads first.
                step.complete = False
            outcome = apply(ctx, step)
        if outcome.action not in ("unchanged", "reference"):
            with lock:
                changed.add(step.want.logical_id)
        outcome.seconds = looked + time.monotonic() - t0
        return outcome

    rank = critical_path(stack)
    done = run_concurrently(
        steps,
        lambda s: s.want.logical_id,
        lambda s: deps[s.want.logical_id],
        work,
        cancel=ctx.cancel,
        workers=workers,
        priority=lambda s: rank[s.want.logical_id],
    )
    order = {lid: i for i, lid in enumerate(stack.ids)}
    return sorted(done, key=lambda o: order[o.logical_id])


def _unchanged(steps: list[Step], outcomes: list[Outcome]) -> dict[str, Any]:
    """What the examination read of each resource this run left unchanged (logical id -> the
    kind's description): a wait's first check can use it instead of reading again."""
    kept = {o.logical_id for o in outcomes if o.action == "unchanged"}
    return {
        s.want.logical_id: s.live.data
        for s in steps
        if s.want.logical_id in kept and s.live is not None and s.complete
    }


def _wait_all(
    ctx: Ctx,
    cfg: Config,
    stack: Stack,
    *,
    wait_pipeline: bool,
    read: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The slow waits run side by side: ALB active, service deployment, pipeline execution.
    `read`: descriptions of unchanged resources from the examination (see `_unchanged`)."""
    read = read or {}
    state = ctx.state
    jobs: dict[str, Callable[[], Any]] = {}
    # The resource each wait is shown under (progress, timeline).
    waits_on = {"load_balancer": "alb", "service": "service", "pipeline": "pipeline"}
    alb = state.get("alb")
    if alb:
        jobs["load_balancer"] = lambda: wait_for_load_balancer(
            ctx, alb.physical_id, read=read.get("alb")
        )
    svc = state.get("service")
    if svc:
        if cfg.pipeline.deploy.strategy == "blue_green":
            group = stack.get("codedeploy.group")
            jobs["service"] = lambda: codedeploy.wait_for_deployment_group(ctx, group)  # type: ignore[arg-type]
        else:
            jobs["service"] = lambda: wait_for_service(
                ctx,
                str(svc.outputs.get("cluster") or cfg.stack),
                svc.physical_id,
                svc.outputs.get("deployment"),
                read=read.get("service"),
            )
    pipe = state.get("pipeline")
    if wait_pipeline and pipe:
        jobs["pipeline"] = lambda: wait_for_pipeline(ctx, pipe.physical_id)
    details: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
        futures = {k: pool.submit(_scoped, waits_on[k], fn) for k, fn in jobs.items()}
        errors = []
        for key, fut in futures.items():
            try:
                fut.result()
                details[f"wait_{key}"] = "ok"
            except KeyboardInterrupt:
                ctx.cancel.set()
                raise
            except BaseException as e:
                errors.append(e)
        if errors:
            raise errors[0]
    return details


def _scoped(lid: str, fn: Callable[[], Any]) -> Any:
    with resource_scope(lid):
        return fn()


# --- plan ------------------------------------------------------------------------------------
def plan(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    adopt: list[str] | tuple[str, ...] = (),
    max_workers: int = DEFAULT_WORKERS,
    refresh: bool = False,
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
) -> Result:
    """Read-only: what `up` would do to each resource — the same examination `up` starts with
    (`refresh` as for `up`)."""
    rt = runtime(
        cfg,
        session=session,
        region=region,
        endpoint_url=endpoint_url,
        state_path=state_path,
        log=log,
        sleep=sleep,
        cancel=cancel,
    )
    state = _load_state(rt)
    stack = build_stack(cfg, _target(rt))
    ctx = _examiner(rt, state, adopt=frozenset(adopt), refresh=refresh)
    with rt.phase("examine"):
        steps = examine_all(ctx, stack, workers=max_workers)
    _show_new_revision(steps)
    outcomes = [s.outcome for s in steps]
    switch = switching.detect(steps, state)
    if switch is not None:
        outcomes += switching.annotate(switch, steps, state, stack.ids)
    outcomes += scaling.retiring_outcomes(state, stack.ids)
    foreign = [o for o in outcomes if o.action == "foreign"]
    details: dict[str, Any] = {}
    if foreign:
        details["blocked"] = str(ForeignResources(foreign))
    if ctx.trusted:
        details["settings_from_state"] = sorted(ctx.trusted)
    return rt.result("plan", outcomes, {}, details)


def _show_new_revision(steps: list[Step]) -> None:
    """The service's line shows the task definition change `up` makes: when `taskdef` registers
    a new revision, the service moves to it (examined before it exists, the service's own diff
    cannot see it)."""
    by_id = {s.want.logical_id: s for s in steps}
    td, svc = by_id.get("taskdef"), by_id.get("service")
    if td is None or svc is None or svc.live is None:
        return
    if td.outcome.action not in ("update", "replace") or svc.outcome.action not in (
        "unchanged",
        "update",
        "adopt",
        "take",
    ):
        return
    have = str(svc.live.data.get("taskDefinition") or "")
    revision = td.live.outputs.get("revision") if td.live is not None else None
    family = td.outcome.physical_id or ""
    new = (
        f"{family}:{int(revision) + 1}" if isinstance(revision, int) else f"a new {family} revision"
    )
    how = (
        "a CodeDeploy blue/green deployment"
        if isinstance(svc.want, service.Service) and svc.want.controller == "CODE_DEPLOY"
        else "a rolling deployment"
    )
    svc.outcome.changes.insert(
        0,
        f"taskDefinition: {have.rsplit('/', 1)[-1] or 'none'} -> {new} (the revision taskdef registers; {how})",
    )
    if svc.outcome.action == "unchanged":
        svc.outcome.action = "update"


# --- down ------------------------------------------------------------------------------------
def scan(
    ctx: Ctx, stack: Stack, also: tuple[Resource, ...] = (), *, workers: int = DEFAULT_WORKERS
) -> tuple[dict[str, Record], list[Outcome]]:
    """Find the stack's resources by tags and deterministic names, without changing anything:
    (records of what is ours, outcomes of what carries our names but is not ours). `also`:
    resources the config no longer builds to look for too (the other strategy's)."""
    scratch = ctx.state.scratch_copy()
    scratch.records = {}
    scan_ctx = Ctx(
        ctx.aws,
        scratch,
        ctx.target,
        stack=ctx.stack,
        sleep=ctx.sleep,
        cancel=ctx.cancel,
        batch_reads=True,
    )
    steps = examine_all(scan_ctx, stack, workers=workers)
    if also:
        # Their dependencies (VPC, load balancer...) are the stack's, found above.
        steps += examine_all(scan_ctx, Stack(stack.name, also), workers=workers)
    foreign = [s.outcome for s in steps if s.outcome.action == "foreign"]
    found = dict(scratch.records)
    want = stack.find(switching.SERVICE)
    if isinstance(want, service.Service):
        # An unfinished strategy switch: the old service runs under the service's other name.
        retiring = switching.find_retiring(scan_ctx, want, found.get(switching.SERVICE))
        if retiring is not None:
            found[retiring.logical_id] = retiring
    return found, foreign


def down(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    confirm: Callable[[list[Record]], bool] | None = None,
    max_workers: int = DEFAULT_WORKERS,
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
    events: Emit | None = None,
) -> Result:
    """Delete what the state records (in reverse order), then sweep for anything left.

    Only what is ours is deleted: a recorded resource that no longer carries the stack's tag is
    left alone. Without a state file, the stack's resources are found by tag and name first, and
    `confirm` is asked with that list.
    """
    rt = runtime(
        cfg,
        session=session,
        region=region,
        endpoint_url=endpoint_url,
        state_path=state_path,
        log=log,
        sleep=sleep,
        cancel=cancel,
        events=events,
    )
    with stack_lock(rt.state_path, "down"):
        state = _load_state(rt)
        ctx = _ctx(rt, state)
        stack = build_stack(cfg, ctx.target)
        to_delete = dict(state.records)
        skipped: list[Outcome] = []
        if not to_delete:
            rt.log("no state file records: finding the stack's resources by tag and name")
            to_delete, skipped = scan(ctx, stack, switching.other_strategy(cfg, ctx.target, stack))
            for o in skipped:
                o.action = "skip"
                o.changes = [*o.changes, "not this stack's: left alone"]
        if to_delete and confirm is not None and not confirm(list(to_delete.values())):
            return rt.result("down", [], {}, {"aborted": True})
        if to_delete != state.records:
            state.records = dict(to_delete)
            if state.records:
                state.save()
        with rt.phase("delete"):
            outcomes = skipped + _delete_all(ctx, stack, workers=max_workers)
        with rt.phase("sweep"):
            leftovers, _ = scan(ctx, stack, switching.other_strategy(cfg, ctx.target, stack))
        owned = {k: r for k, r in leftovers.items() if r.owned}
        if owned:
            rt.log(f"sweep: {len(owned)} resource(s) of the stack still exist; deleting them")
            state.records = owned
            outcomes += _delete_all(ctx, stack, workers=max_workers)
        for rec in list(state.records.values()):
            if not rec.owned:
                state.remove(rec.logical_id)
        kept = [o for o in outcomes if o.action == "skip"]
        if kept:
            rt.log(f"left alone (not this stack's): {', '.join(o.logical_id for o in kept)}")
        state.delete_file()
        rt.stamp(outcomes)
        return rt.result("down", outcomes, {})


# A resource's ownership (its stack tag) is read at most this long before it is deleted: a
# batched read older than that (a kind whose resources go minutes apart, after a service drains)
# is made again.
DELETE_BATCH_MAX_AGE = 20.0


def _delete_all(ctx: Ctx, stack: Stack, *, workers: int) -> list[Outcome]:
    """Delete recorded resources; a resource goes once everything depending on it is gone.
    Records the config no longer builds go after everything that depends on their kind."""
    table = kinds()
    # Each kind's recorded resources are looked up in one batched read (Kind.lookup_many) by a
    # Ctx of this pass alone: a later pass (the sweep's) reads afresh.
    ctx = Ctx(
        ctx.aws,
        ctx.state,
        ctx.target,
        stack=ctx.stack,
        log=ctx.log,
        sleep=ctx.sleep,
        cancel=ctx.cancel,
        deadlines=ctx.deadlines,
        batch_reads=True,
        batch_max_age=DELETE_BATCH_MAX_AGE,
    )
    records = dict(ctx.state.records)
    deps = _dep_ids(stack)
    kind_deps = _kind_deps(stack)

    def deps_of(rec: Record) -> tuple[str, ...]:
        if rec.logical_id in deps:
            return deps[rec.logical_id]
        # An orphan: depends on whatever its kind depends on, so it goes after its dependents.
        return tuple(r for r in records if records[r].kind in kind_deps.get(rec.kind, ()))

    items = list(records.values())
    dependents = reverse_deps(items, lambda r: r.logical_id, deps_of)

    def work(rec: Record) -> Outcome:
        t0 = time.monotonic()
        kind: Kind[Any] = table[rec.kind]
        with _reported(ctx, rec.logical_id, rec.kind, "delete") as calls:
            outcome = remove(ctx, kind, rec)
            ctx.state.remove(rec.logical_id)
            outcome.seconds = time.monotonic() - t0
            outcome.gated_by = sorted(dependents[rec.logical_id])
            ctx.emit(_finished(outcome, calls))
        return outcome

    return run_concurrently(
        items,
        lambda r: r.logical_id,
        lambda r: dependents[r.logical_id],
        work,
        cancel=ctx.cancel,
        workers=workers,
    )


def _kind_deps(stack: Stack) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in stack.resources:
        out.setdefault(r.kind, set()).update(d.kind for d in r.deps())
    return out


# --- status, outputs, recover ----------------------------------------------------------------
def status(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    max_workers: int = DEFAULT_WORKERS,
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
) -> Result:
    """Each resource with its live state (ok / drifted fields / gone / not ours), the service's
    deployments, the pipeline's latest execution. Read-only."""
    rt = runtime(
        cfg,
        session=session,
        region=region,
        endpoint_url=endpoint_url,
        state_path=state_path,
        log=log,
        sleep=sleep,
        cancel=cancel,
    )
    state = _load_state(rt)
    recorded = set(state.records)
    # Every setting read from AWS: status is where drift is looked for.
    ctx = _examiner(rt, state, refresh=True)
    stack = build_stack(cfg, ctx.target)
    outcomes = [s.outcome for s in examine_all(ctx, stack, workers=max_workers)]
    for o in outcomes:
        if o.logical_id in recorded and o.action == "create":
            o.action = "gone"  # recorded, but no longer exists: `up` recreates it
    details: dict[str, Any] = {}
    svc = state.get("service")
    if svc:
        found = service.status_details(ctx, svc)
        if found:
            details["service"] = found
    previous = state.get(switching.RETIRING)
    if previous:
        details["switch"] = (
            f"unfinished strategy switch: {previous.physical_id} ({switching.RETIRING}) still to "
            f"be deleted; run `up --replace-service` to finish it"
        )
    pipe = state.get("pipeline")
    if pipe:
        found = codepipeline.latest_execution(ctx, pipe.physical_id)
        if found:
            details["pipeline"] = found
    from ecs_cicd import statusview  # deployments, events, CodeDeploy, pipeline executions

    details.update(statusview.extra(ctx, cfg, state))
    return rt.result("status", outcomes, stack_outputs(cfg, state), details)


def stack_outputs(cfg: Config, state: State) -> dict[str, Any]:
    """ALB URL, repository URIs, cluster, service and pipeline names (from the state file)."""
    out: dict[str, Any] = {"stack": cfg.stack, "region": state.region}
    url = dns.https_url(cfg)
    if url and state.get("dns.alias.a"):
        out = {"url": url, **out}  # the service's own name first
    alb = state.get("alb")
    if alb and alb.outputs.get("dns_name"):
        scheme = "https" if cfg.https else "http"
        port = cfg.load_balancer.https_port if cfg.https else cfg.load_balancer.listener_port
        suffix = "" if (scheme, port) in (("http", 80), ("https", 443)) else f":{port}"
        out["load_balancer_url" if "url" in out else "url"] = (
            f"{scheme}://{alb.outputs['dns_name']}{suffix}"
        )
    if alb:
        out["load_balancer"] = names.alb(cfg)  # shortened when the full name is too long
    tgs = {c: names.target_group(cfg, c) for c in ("main", "blue", "green") if state.get(f"tg.{c}")}
    if tgs:
        out["target_groups"] = tgs
    repos = {c.name: state.get(f"ecr.{c.name}") for c in cfg.built_containers()}
    out["repositories"] = {k: r.outputs.get("uri") for k, r in repos.items() if r}
    test = state.get("listener.test")
    if test:
        test_port = cfg.pipeline.deploy.blue_green.test_listener_port
        out["test_listener_port"] = test_port
        if alb and alb.outputs.get("dns_name"):
            out["test_url"] = f"http://{alb.outputs['dns_name']}:{test_port}"
    for key in ("cluster", "service", "pipeline", "codebuild"):
        rec = state.get(key)
        if rec:
            out[key] = rec.physical_id
    app = state.get("codedeploy.app")
    if app:
        out["codedeploy_application"] = app.physical_id
    group = state.get("codedeploy.group")
    if group:
        out["codedeploy_deployment_group"] = group.physical_id
    logs = state.get("logs.app")
    if logs:
        out["log_group"] = logs.physical_id
    bucket = state.get("bucket.artifacts")
    if bucket:
        out["artifact_bucket"] = bucket.physical_id
    return out


def outputs(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    log: Log | None = None,
) -> Result:
    """The stack's outputs from the state file, in `Result.outputs` (no AWS call: `session` and
    `endpoint_url` are accepted like every function's, and only the session's region is read)."""
    t0 = time.monotonic()
    region = resolve_region(region, cfg, session) or ""
    path = (
        Path(state_path)
        if state_path
        else default_state_path(cfg.project, cfg.environment, region, cfg.base_dir)
    )
    state = State.load(path, stack=cfg.stack, region=region)
    if not state.records:
        raise StateError(
            f"no state for stack {cfg.stack} in {region} ({path})", hint="run `up` first"
        )
    return Result(
        "outputs",
        outputs=stack_outputs(cfg, state),
        calls={"total": 0, "reads": 0, "mutating": 0},
        seconds=time.monotonic() - t0,
        state_path=str(path),
    )


def recover(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    max_workers: int = DEFAULT_WORKERS,
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
) -> Result:
    """Rebuild the state file from the stack's tags and deterministic names (ours only)."""
    rt = runtime(
        cfg,
        session=session,
        region=region,
        endpoint_url=endpoint_url,
        state_path=state_path,
        log=log,
        sleep=sleep,
        cancel=cancel,
    )
    with stack_lock(rt.state_path, "state recover"):
        if rt.state_path.exists():
            try:
                State.load(rt.state_path, stack=cfg.stack, region=rt.aws.region)
            except StateError:
                backup = rt.state_path.with_name(rt.state_path.name + f".bad-{int(time.time())}")
                rt.state_path.rename(backup)
                rt.log(f"moved the unreadable state file aside to {backup}")
        state = State(
            rt.state_path, stack=cfg.stack, region=rt.aws.region, account=rt.aws.account_id()
        )
        ctx = _ctx(rt, state)
        stack = build_stack(cfg, ctx.target)
        found, foreign = scan(
            ctx, stack, switching.other_strategy(cfg, ctx.target, stack), workers=max_workers
        )
        state.records = found
        state.save()
        outcomes = [
            Outcome(r.logical_id, r.kind, "adopt", [], r.physical_id) for r in found.values()
        ]
        for o in foreign:
            o.action = "skip"
            outcomes.append(o)
    return rt.result("state recover", outcomes, stack_outputs(cfg, state))
