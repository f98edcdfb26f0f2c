"""`python -m ecs_cicd VERB [options]`: argument parsing, output and exit codes only.

Exit codes: 0 ok, 1 AWS/runtime failure, 2 bad config or usage, 3 stack locked, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ecs_cicd import local, scaffold, ui
from ecs_cicd.errors import EcsCicdError, UsageError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# Read by `--emulator` when `--emulator-pacing` is not given (the emulator's pacing.PACING_ENV;
# spelled out here so the CLI imports nothing of the emulator unless it is used).
PACING_ENV = "ECS_CICD_EMULATOR_PACING"
_PACING_OPTIONS = (
    ("latency_ms", "--latency-ms", "answer every AWS request after this many milliseconds"),
    ("alb_seconds", "--alb-seconds", "a new load balancer is 'provisioning' this long"),
    (
        "service_seconds",
        "--service-seconds",
        "a new ECS deployment settles this long after its load balancer is active",
    ),
    ("pipeline_seconds", "--pipeline-seconds", "a pipeline execution takes this long"),
    (
        "eni_release_seconds",
        "--eni-release-seconds",
        "subnets and security groups of a deleted service or load balancer refuse deletion "
        "this long (DependencyViolation)",
    ),
)


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "-c", "--config", default="ecs_cicd.yaml", help="config file (default: ecs_cicd.yaml)"
    )
    p.add_argument("--state", help="state file (default: .ecs_cicd/<project>-<env>-<region>.json)")
    p.add_argument("--region", help="AWS region (default: the config's, then AWS_REGION)")
    p.add_argument("--profile", help="AWS profile (default: AWS_PROFILE / the default chain)")
    p.add_argument(
        "--endpoint-url", help="send every AWS call to this endpoint (default: AWS_ENDPOINT_URL)"
    )
    p.add_argument(
        "--emulator", action="store_true", help="run against an embedded emulator for this command"
    )
    p.add_argument(
        "--emulator-pacing",
        metavar="SPEC",
        help="with --emulator: answer at AWS's pace, e.g. 'latency_ms=50,alb_seconds=20,"
        "service_seconds=10,pipeline_seconds=30,eni_release_seconds=20' or 'realistic' "
        f"(default: ${PACING_ENV}, else none)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show tracebacks and every API call count"
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="python -m ecs_cicd",
        description="Stand up and tear down an ECS Fargate service and its CI/CD pipeline from one YAML file.",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    workers = argparse.ArgumentParser(add_help=False)
    workers.add_argument(
        "--max-workers",
        type=int,
        default=8,
        metavar="N",
        help="resources handled at once (default 8; 1 runs one at a time)",
    )
    workers.add_argument(
        "--stats",
        action="store_true",
        help="after the summary: API calls per service and operation, retries, seconds per "
        "phase (looking up, changing, waiting) and per resource",
    )
    runs = argparse.ArgumentParser(add_help=False)
    runs.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress: only errors and the final summary (with -v: also each resource's "
        "start and API calls)",
    )
    runs.add_argument(
        "--timeline",
        metavar="FILE.html",
        help="write the run as an HTML timeline: a bar per resource, waits hatched, the "
        "critical path outlined",
    )
    p = sub.add_parser(
        "up",
        parents=[common, workers, runs],
        help="create or converge the stack, then wait until it serves",
    )
    p.add_argument(
        "--no-wait", action="store_true", help="do not wait for the pipeline's execution"
    )
    p.add_argument(
        "--replace-service",
        action="store_true",
        help="allow replacing the service when the deployment controller changes (the new "
        "service is created alongside the old one; traffic moves, then the old one goes)",
    )
    p.add_argument(
        "--adopt",
        nargs="+",
        default=[],
        metavar="LOGICAL_ID",
        help="take over these resources that carry the stack's names but not its tag "
        "(tags them; `plan --adopt ...` shows what will change in them)",
    )
    sub.add_parser(
        "down", parents=[common, workers, runs], help="delete everything the stack created"
    )
    pl = sub.add_parser(
        "plan", parents=[common, workers], help="show what `up` would change (read-only)"
    )
    pl.add_argument("--adopt", nargs="+", default=[], metavar="LOGICAL_ID")
    sub.add_parser("status", parents=[common], help="live state of every recorded resource")
    sub.add_parser(
        "outputs", parents=[common], help="URL, repository URIs, cluster, service, pipeline"
    )
    sub.add_parser("validate", parents=[common], help="check the config offline")
    st = sub.add_parser("state", help="state file commands")
    st_sub = st.add_subparsers(dest="state_verb", required=True, metavar="VERB")
    st_sub.add_parser(
        "recover", parents=[common], help="rebuild the state file from the stack's tags"
    )
    em = sub.add_parser(
        "emulator", help="serve the embedded AWS emulator on 127.0.0.1 until interrupted"
    )
    em.add_argument("--host", default="127.0.0.1")
    em.add_argument("--port", type=int, default=5000)
    em.add_argument("-v", "--verbose", action="store_true")
    em.add_argument("--output", choices=("text", "json"), default="text")
    for dest, flag, text in _PACING_OPTIONS:
        em.add_argument(
            flag, dest=dest, type=float, default=0.0, metavar="N", help=f"{text} (default 0)"
        )
    local.register(sub, [common])
    scaffold.register(sub, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    try:
        if getattr(args, "func", None) is not None:
            return int(args.func(args))
        return _dispatch(args)
    except KeyboardInterrupt:
        ui.err(
            "interrupted; the state file records everything created so far — run the command again to continue"
        )
        return EXIT_INTERRUPTED
    except EcsCicdError as e:
        if verbose:
            traceback.print_exc()
        for line in str(e).splitlines():  # ConfigErrors: every problem, one per line
            ui.err(f"error: {line}")
        return e.exit_code
    except ClientError as e:
        if verbose:
            traceback.print_exc()
        err = e.response.get("Error", {})
        op = getattr(e, "operation_name", "?")
        ui.err(f"error: {op}: AWS said {err.get('Code')}: {err.get('Message')} (-v for details)")
        return EXIT_FAIL
    except BotoCoreError as e:
        if verbose:
            traceback.print_exc()
        ui.err(f"error: {e}")
        return EXIT_FAIL
    except Exception as e:  # a bug of ours: still one line, the traceback with -v
        if verbose:
            traceback.print_exc()
        ui.err(f"error: internal error: {type(e).__name__}: {e} (run with -v for the traceback)")
        return EXIT_FAIL


@contextlib.contextmanager
def _endpoint(args: argparse.Namespace) -> Iterator[str | None]:
    if not args.emulator:
        if args.emulator_pacing is not None:
            raise UsageError("--emulator-pacing needs --emulator")
        yield args.endpoint_url or None
        return
    from ecs_cicd.emulator import EmulatorServer, Pacing

    spec = args.emulator_pacing if args.emulator_pacing is not None else os.environ.get(PACING_ENV)
    try:
        pacing = Pacing.parse(spec or "")
    except ValueError as e:
        source = "--emulator-pacing" if args.emulator_pacing is not None else PACING_ENV
        raise UsageError(f"{source}: {e}") from None
    with EmulatorServer(pacing=pacing) as server:
        paced = "" if pacing.off else f" (pacing {pacing.describe()})"
        ui.err(f"embedded emulator on {server.endpoint_url}{paced}")
        yield server.endpoint_url


def _session(args: argparse.Namespace) -> Any:
    import boto3

    from ecs_cicd.aws import new_session

    if args.emulator:
        # The embedded emulator takes any credentials; never use the user's real ones with it.
        return boto3.Session(
            aws_access_key_id="emulator",
            aws_secret_access_key="emulator",
            region_name=args.region or None,
        )
    return new_session(args.profile, args.region or None)


def _dispatch(args: argparse.Namespace) -> int:
    if args.verb == "emulator":
        from ecs_cicd.emulator import Pacing, serve

        try:
            pacing = Pacing(**{dest: getattr(args, dest) for dest, _f, _t in _PACING_OPTIONS})
        except ValueError as e:
            raise UsageError(str(e)) from None
        serve(host=args.host, port=args.port, pacing=pacing)
        return EXIT_OK

    from ecs_cicd import ops
    from ecs_cicd.config import load_config

    verb = args.verb if args.verb != "state" else f"state {args.state_verb}"
    cfg = load_config(args.config, check_env=verb == "up", extra=lambda c: _check_offline(args, c))
    region = _region(args, cfg)
    if verb == "validate":
        from ecs_cicd import names
        from ecs_cicd.lifecycle import Target
        from ecs_cicd.stack import build_stack

        # Offline: the account is not known, and nothing of the count depends on it.
        stack = build_stack(cfg, Target("000000000000", region))
        short = names.shortened(cfg, "000000000000", region)
        text = f"{args.config}: valid — stack {cfg.stack}, {len(stack.resources)} resources"
        if short:
            text += "\nshortened to fit AWS's name limits: " + ", ".join(
                f"{k} {v}" for k, v in short.items() if k != "artifact_bucket"
            )
        _emit(
            args,
            {
                "valid": True,
                "stack": cfg.stack,
                "resources": len(stack.resources),
                "shortened_names": {k: v for k, v in short.items() if k != "artifact_bucket"},
            },
            text,
        )
        return EXIT_OK
    if verb == "outputs":
        out = ops.outputs(cfg, state_path=args.state, region=args.region)
        _emit(args, out, ui.format_outputs(out))
        return EXIT_OK

    log = ui.progress
    reporter = _reporter(args) if verb in ("up", "down") else None
    with _endpoint(args) as endpoint, reporter or contextlib.nullcontext():
        common: dict[str, Any] = {
            "session": _session(args),
            "state_path": args.state,
            "region": args.region,
            "endpoint_url": endpoint,
        }
        if verb == "up":
            result = ops.up(
                cfg,
                wait_pipeline=not args.no_wait,
                replace_service=args.replace_service,
                adopt=args.adopt,
                max_workers=args.max_workers,
                events=reporter,
                **common,
            )
        elif verb == "plan":
            result = ops.plan(
                cfg, adopt=args.adopt, max_workers=args.max_workers, log=lambda _m: None, **common
            )
        elif verb == "status":
            result = ops.status(cfg, **common)
        elif verb == "down":
            result = ops.down(
                cfg,
                confirm=_confirm(args, cfg.stack),
                max_workers=args.max_workers,
                events=reporter,
                **common,
            )
            if result.details.get("aborted"):
                ui.err("aborted; nothing was deleted")
                return EXIT_USAGE
        elif verb == "state recover":
            result = ops.recover(cfg, log=log, **common)
        else:  # pragma: no cover - argparse restricts verbs
            raise UsageError(f"unknown verb {verb}")
    if getattr(args, "timeline", None):
        from ecs_cicd import timeline

        timeline.write(result, args.timeline)
        if not args.quiet:
            ui.err(f"timeline written to {args.timeline}")
    text = ui.format_result(result, verbose=args.verbose)
    if getattr(args, "stats", False):
        text += "\n" + ui.format_stats(result)
    _emit(args, result.to_dict(), text)
    return EXIT_OK


def _reporter(args: argparse.Namespace) -> Any:
    """Progress of up/down on stderr: live on a terminal, plain lines otherwise (reporter.py)."""
    from ecs_cicd.reporter import Reporter

    return Reporter.for_stream(sys.stderr, quiet=args.quiet, verbose=args.verbose)


def _region(args: argparse.Namespace, cfg: Any) -> str:
    from ecs_cicd.aws import resolve_region

    return resolve_region(args.region, cfg) or "us-east-1"


def _check_offline(args: argparse.Namespace, cfg: Any) -> list[Any]:
    """Every verb, at load, before any AWS call: the region that will be used, and the requests
    the plan would send checked against the botocore models (preflight)."""
    from ecs_cicd import limits, preflight
    from ecs_cicd.errors import ConfigError

    region = _region(args, cfg)
    bad = limits.region_problem(region)
    if bad:
        if cfg.region and not args.region:
            return []  # the config's own region rule reported it
        source = "--region" if args.region else "AWS_REGION"
        return [ConfigError(bad[0], field=source, hint=bad[1])]
    return preflight.problems(cfg, region)


def _confirm(args: argparse.Namespace, stack: str) -> Any:
    def ask(records: list[Any]) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("down deletes the whole stack; pass --yes when not on a terminal")
        ui.err(f"This deletes {len(records)} resource(s) of stack {stack}:")
        for r in records:
            ui.err(
                f"  {r.logical_id:<22} {r.kind:<18} {r.physical_id}"
                + ("" if r.owned else "  (referenced; kept)")
            )
        answer = input(f"Type the stack name ({stack}) to delete it: ")
        return answer.strip() == stack

    return ask


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.output == "json":
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text + ("\n" if text and not text.endswith("\n") else ""))
    sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
