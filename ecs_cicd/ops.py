"""The operations behind the CLI and the library API: up, down, plan, status, outputs, recover.

Each takes a validated Config and an optional boto3.Session (callers control credentials,
endpoints and botocore hooks) and returns a typed result. No printing here: progress goes
through the `log` callback.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from ecs_cicd import names
from ecs_cicd.aws import Aws
from ecs_cicd.config import Config
from ecs_cicd.engine import Ctx, MissingDependency, Outcome, Spec, run_concurrently
from ecs_cicd.errors import StateError
from ecs_cicd.resources import handlers
from ecs_cicd.resources.service import check_controller
from ecs_cicd.stack import build_specs
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

    @property
    def changed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action in ("create", "update", "adopt", "delete")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "resources": [
                {
                    "id": o.logical_id,
                    "kind": o.kind,
                    "action": o.action,
                    "physical_id": o.physical_id,
                    "changes": o.changes,
                }
                for o in self.outcomes
            ],
            "outputs": self.outputs,
            "calls": self.calls,
            "seconds": round(self.seconds, 3),
            "state_path": self.state_path,
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
) -> Runtime:
    # --region, then the config's, then AWS_REGION (which botocore itself does not read), then
    # the session's (AWS_DEFAULT_REGION or the profile).
    region = (
        region
        or cfg.region
        or os.environ.get("AWS_REGION")
        or (session.region_name if session else None)
        or boto3.Session().region_name
    )
    cancel = cancel or threading.Event()
    if sleep is time.sleep:
        # Waits sleep on the cancel event, so Ctrl-C ends a long backoff at once.
        def sleep(seconds: float) -> None:
            cancel.wait(seconds)

    aws = Aws(session, region=region, endpoint_url=endpoint_url, sleep=sleep)
    path = (
        Path(state_path)
        if state_path
        else default_state_path(cfg.project, cfg.environment, aws.region)
    )
    return Runtime(cfg, aws, path, log or (lambda _m: None), sleep, cancel)


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


def _ctx(rt: Runtime, state: State, *, dry_run: bool = False, replace_service: bool = False) -> Ctx:
    return Ctx(
        rt.cfg,
        rt.aws,
        state,
        dry_run=dry_run,
        log=rt.log,
        sleep=rt.sleep,
        cancel=rt.cancel,
        replace_service=replace_service,
    )


def _ensure_all(ctx: Ctx, specs: list[Spec], *, tolerate_missing: bool) -> list[Outcome]:
    table = handlers()

    def work(spec: Spec) -> Outcome:
        t0 = time.monotonic()
        outcome = table[spec.kind].ensure(ctx, spec)
        outcome.seconds = time.monotonic() - t0
        if not ctx.dry_run or outcome.action != "unchanged":
            ctx.log(_line(outcome))
        return outcome

    def tolerate(spec: Spec, e: BaseException) -> Outcome | None:
        if tolerate_missing and isinstance(e, MissingDependency):
            return Outcome(spec.logical_id, spec.kind, "create", ["after its dependencies"])
        return None

    by_id = {s.logical_id: s for s in specs}
    return run_concurrently(
        specs, lambda s: by_id[s.logical_id].deps, work, cancel=ctx.cancel, tolerate=tolerate
    )


def _line(o: Outcome) -> str:
    extra = f" ({'; '.join(o.changes)})" if o.changes and o.action in ("update", "create") else ""
    pid = f" {o.physical_id}" if o.physical_id else ""
    return f"{o.action:<9} {o.logical_id}{pid}{extra} [{o.seconds:.1f}s]"


def _order(outcomes: list[Outcome], specs: list[Spec]) -> list[Outcome]:
    rank = {s.logical_id: i for i, s in enumerate(specs)}
    return sorted(outcomes, key=lambda o: rank.get(o.logical_id, len(rank)))


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
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
) -> Result:
    """Create or converge every resource of the stack, then wait until it is serving."""
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
    with stack_lock(rt.state_path, "up"):
        state = _load_state(rt)
        state.save()
        ctx = _ctx(rt, state, replace_service=replace_service)
        specs = build_specs(cfg)
        check_controller(ctx)
        outcomes = _ensure_all(ctx, specs, tolerate_missing=False)
        details: dict[str, Any] = {}
        if wait:
            details = _wait_all(ctx, wait_pipeline=wait_pipeline)
        return rt.result("up", _order(outcomes, specs), stack_outputs(cfg, state), details)


def _wait_all(ctx: Ctx, *, wait_pipeline: bool) -> dict[str, Any]:
    """The slow waits run side by side: ALB active, service deployment, pipeline execution."""
    state = ctx.state
    cfg = ctx.cfg
    jobs: dict[str, Callable[[], Any]] = {}
    alb = state.get("alb")
    if alb:
        jobs["load_balancer"] = lambda: wait_for_load_balancer(ctx, alb.physical_id)
    svc = state.get("service")
    if svc:
        if cfg.pipeline.deploy.strategy == "blue_green":
            from ecs_cicd.resources import codedeploy

            jobs["service"] = lambda: codedeploy.wait_for_deployment_group(ctx)
        else:
            jobs["service"] = lambda: wait_for_service(
                ctx, names.cluster(cfg), svc.physical_id, svc.outputs.get("deployment")
            )
    if wait_pipeline and state.get("pipeline"):
        jobs["pipeline"] = lambda: wait_for_pipeline(ctx, names.pipeline(cfg))
    details: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
        futures = {k: pool.submit(fn) for k, fn in jobs.items()}
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


# --- plan ------------------------------------------------------------------------------------
def plan(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    log: Log | None = None,
) -> Result:
    """Read-only: what `up` would create, update, adopt or leave unchanged."""
    rt = runtime(
        cfg,
        session=session,
        region=region,
        endpoint_url=endpoint_url,
        state_path=state_path,
        log=log,
    )
    state = _load_state(rt).scratch_copy()
    specs = build_specs(cfg)
    outcomes = _ensure_all(_ctx(rt, state, dry_run=True), specs, tolerate_missing=True)
    return rt.result(
        "plan",
        _order(outcomes, specs),
        {},
    )


# --- down ------------------------------------------------------------------------------------
def scan(ctx: Ctx, specs: list[Spec]) -> State:
    """Find the stack's resources by tags and deterministic names, without changing anything."""
    scratch = ctx.state.scratch_copy()
    scratch.records = {}
    scan_ctx = Ctx(
        ctx.cfg,
        ctx.aws,
        scratch,
        dry_run=True,
        log=lambda _m: None,
        sleep=ctx.sleep,
        cancel=ctx.cancel,
    )
    _ensure_all(scan_ctx, specs, tolerate_missing=True)
    return scratch


def down(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    confirm: Callable[[list[Record]], bool] | None = None,
    log: Log | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
) -> Result:
    """Delete what the state records (in reverse order), then sweep for anything left.

    Without a state file, the stack's resources are found by tag and name first, and `confirm`
    is asked with that list.
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
    )
    with stack_lock(rt.state_path, "down"):
        state = _load_state(rt)
        ctx = _ctx(rt, state)
        specs = build_specs(cfg)
        to_delete = state.records
        if not state.records:
            rt.log("no state file records: finding the stack's resources by tag and name")
            to_delete = scan(ctx, specs).records
        if to_delete and confirm is not None and not confirm(list(to_delete.values())):
            return rt.result("down", [], {}, {"aborted": True})
        if to_delete is not state.records:
            state.records = dict(to_delete)
            if state.records:
                state.save()
        outcomes = _delete_all(ctx, specs)
        leftovers = scan(ctx, specs)
        owned = {k: r for k, r in leftovers.records.items() if r.owned}
        if owned:
            rt.log(f"sweep: {len(owned)} resource(s) of the stack still exist; deleting them")
            state.records = owned
            outcomes += _delete_all(ctx, specs)
        for rec in list(state.records.values()):
            if not rec.owned:
                state.remove(rec.logical_id)
        state.delete_file()
        return rt.result(
            "down",
            outcomes,
            {},
        )


def _delete_all(ctx: Ctx, specs: list[Spec]) -> list[Outcome]:
    """Delete recorded resources; a resource goes once everything depending on it is gone."""
    table = handlers()
    records = {k: r for k, r in ctx.state.records.items()}
    known = {s.logical_id: s for s in specs}
    # Records the current config no longer builds (a removed container's repository...) are
    # deleted too, with no ordering constraint.
    items = [known.get(lid) or Spec(lid, rec.kind) for lid, rec in records.items()]
    dependents: dict[str, set[str]] = {s.logical_id: set() for s in items}
    for s in items:
        for d in s.deps:
            if d in dependents:
                dependents[d].add(s.logical_id)

    def work(spec: Spec) -> Outcome:
        rec = records[spec.logical_id]
        t0 = time.monotonic()
        if not rec.owned:
            outcome = Outcome(rec.logical_id, rec.kind, "reference", [], rec.physical_id)
        else:
            outcome = table[rec.kind].delete(ctx, rec)
            ctx.state.remove(rec.logical_id)
        outcome.seconds = time.monotonic() - t0
        ctx.log(_line(outcome))
        return outcome

    return run_concurrently(items, lambda s: dependents[s.logical_id], work, cancel=ctx.cancel)


# --- status, outputs, recover ----------------------------------------------------------------
def status(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Result:
    """Each recorded resource with its live state, the service's deployments, the pipeline's
    latest execution. Read-only."""
    rt = runtime(
        cfg, session=session, region=region, endpoint_url=endpoint_url, state_path=state_path
    )
    state = _load_state(rt)
    recorded = set(state.records)
    scratch = state.scratch_copy()
    specs = build_specs(cfg)
    outcomes = _ensure_all(_ctx(rt, scratch, dry_run=True), specs, tolerate_missing=True)
    for o in outcomes:
        if o.logical_id in recorded and o.action == "create":
            o.action = "gone"  # recorded, but no longer exists: `up` recreates it
    details: dict[str, Any] = {}
    ecs = rt.aws.client("ecs")
    svc_rec = state.get("service")
    if svc_rec:
        svcs = ecs.describe_services(
            cluster=names.cluster(cfg), services=[svc_rec.physical_id]
        ).get("services", [])
        if svcs:
            s = svcs[0]
            details["service"] = {
                "status": s.get("status"),
                "desired": s.get("desiredCount"),
                "running": s.get("runningCount"),
                "pending": s.get("pendingCount"),
                "task_definition": s.get("taskDefinition"),
                "deployments": [
                    {
                        k: d.get(k)
                        for k in (
                            "id",
                            "status",
                            "rolloutState",
                            "desiredCount",
                            "runningCount",
                            "taskDefinition",
                        )
                    }
                    for d in s.get("deployments", [])
                ],
            }
    if state.get("pipeline"):
        cp = rt.aws.client("codepipeline")
        execs = cp.list_pipeline_executions(pipelineName=names.pipeline(cfg), maxResults=1).get(
            "pipelineExecutionSummaries", []
        )
        if execs:
            e = execs[0]
            details["pipeline"] = {
                "execution": e["pipelineExecutionId"],
                "status": e["status"],
                "started": str(e.get("startTime", "")),
            }
    return rt.result("status", _order(outcomes, specs), stack_outputs(cfg, state), details)


def stack_outputs(cfg: Config, state: State) -> dict[str, Any]:
    """ALB URL, repository URIs, cluster, service and pipeline names (from the state file)."""
    out: dict[str, Any] = {"stack": cfg.stack, "region": state.region}
    alb = state.get("alb")
    if alb and alb.outputs.get("dns_name"):
        scheme = "https" if cfg.load_balancer.certificate_arn else "http"
        port = (
            cfg.load_balancer.https_port
            if cfg.load_balancer.certificate_arn
            else cfg.load_balancer.listener_port
        )
        suffix = "" if (scheme, port) in (("http", 80), ("https", 443)) else f":{port}"
        out["url"] = f"{scheme}://{alb.outputs['dns_name']}{suffix}"
    repos = {c.name: state.get(f"ecr.{c.name}") for c in cfg.built_containers()}
    out["repositories"] = {k: r.outputs.get("uri") for k, r in repos.items() if r}
    for key in ("cluster", "service", "pipeline", "codebuild"):
        rec = state.get(key)
        if rec:
            out[key] = rec.physical_id
    if state.get("logs.app"):
        out["log_group"] = names.log_group(cfg)
    if state.get("bucket.artifacts"):
        out["artifact_bucket"] = state.get("bucket.artifacts").physical_id  # type: ignore[union-attr]
    return out


def outputs(
    cfg: Config, *, state_path: str | Path | None = None, region: str | None = None
) -> dict[str, Any]:
    """The stack's outputs from the state file (no AWS call)."""
    region = (
        region or cfg.region or os.environ.get("AWS_REGION") or boto3.Session().region_name or ""
    )
    path = (
        Path(state_path) if state_path else default_state_path(cfg.project, cfg.environment, region)
    )
    state = State.load(path, stack=cfg.stack, region=region)
    if not state.records:
        raise StateError(
            f"no state for stack {cfg.stack} in {region} ({path})", hint="run `up` first"
        )
    return stack_outputs(cfg, state)


def recover(
    cfg: Config,
    *,
    session: boto3.Session | None = None,
    state_path: str | Path | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    log: Log | None = None,
) -> Result:
    """Rebuild the state file from the stack's tags and deterministic names."""
    rt = runtime(
        cfg,
        session=session,
        region=region,
        endpoint_url=endpoint_url,
        state_path=state_path,
        log=log,
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
        found = scan(ctx, build_specs(cfg))
        state.records = found.records
        state.save()
        outcomes = [
            Outcome(r.logical_id, r.kind, "adopt", [], r.physical_id)
            for r in found.records.values()
        ]
    return rt.result("state recover", outcomes, stack_outputs(cfg, state))
