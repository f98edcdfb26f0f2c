"""`python -m ecs_cicd [options] VERB [options]`: argument parsing, output and exit codes only.

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
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from ecs_cicd import local, scaffold, ui
from ecs_cicd.errors import ConfigErrors, EcsCicdError, UsageError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# Read by `--emulator` when `--emulator-pacing` is not given (the emulator's pacing.PACING_ENV;
# spelled out here so the CLI imports nothing of the emulator unless it is used).
PACING_ENV = "ECS_CICD_EMULATOR_PACING"
# The emulator verb's default port (emulator.server.DEFAULT_PORT; not 5000, the example app's).
EMULATOR_PORT = 4455
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


# The options every stack verb takes, defined once: accepted before the verb (`-c x.yaml up`)
# and after it (`up -c x.yaml`). A verb-wide option another module adds goes here too.
COMMON_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (
        ("-c", "--config"),
        {
            "default": "ecs_cicd.yaml",
            "metavar": "PATH",
            "help": "config file (default: ecs_cicd.yaml)",
        },
    ),
    (
        ("--state",),
        {
            "metavar": "PATH",
            "help": "state file (default: .ecs_cicd/<project>-<env>-<region>.json beside the "
            "config file; with --emulator, .ecs_cicd/emulator/...)",
        },
    ),
    (("--region",), {"help": "AWS region (default: the config's, then AWS_REGION)"}),
    (("--profile",), {"help": "AWS profile (default: AWS_PROFILE / the default chain)"}),
    (
        ("--endpoint-url",),
        {
            "metavar": "URL",
            "help": "send every AWS call to this endpoint (default: AWS_ENDPOINT_URL)",
        },
    ),
    (
        ("--emulator",),
        {"action": "store_true", "help": "run against an embedded emulator for this command"},
    ),
    (
        ("--emulator-pacing",),
        {
            "metavar": "SPEC",
            "help": "with --emulator: answer at AWS's pace, e.g. 'latency_ms=50,alb_seconds=20,"
            "service_seconds=10,pipeline_seconds=30,eni_release_seconds=20' or 'realistic' "
            f"(default: ${PACING_ENV}, else none)",
        },
    ),
    (
        ("--output",),
        {
            "choices": ("text", "json"),
            "default": "text",
            "help": 'json: one JSON document on stdout, an {"error": ...} object on failure '
            "(default: text)",
        },
    ),
    (
        ("-v", "--verbose"),
        {"action": "store_true", "help": "show tracebacks and every API call count"},
    ),
]


REFRESH_HELP = (
    "read every setting from AWS, also those the state file says were verified (a bucket's "
    "policy and encryption, repository lifecycle policies, VPC DNS attributes, load balancer "
    "and target group attributes): finds changes made outside ecs_cicd"
)


def add_common_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """COMMON_OPTIONS on `parser`. On a verb (top=False) an option not given sets nothing, so
    the same option given before the verb (on the top-level parser, top=True) is kept."""
    for flags, kwargs in COMMON_OPTIONS:
        kw = dict(kwargs)
        if not top:
            kw["default"] = argparse.SUPPRESS
        parser.add_argument(*flags, **kw)


class CliUsage(Exception):
    """A command line argparse refused: the parser that refused it (its usage) and why."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is raised (CliUsage) rather than printed, so main() can print
    the usage of the verb that refused it, or a JSON error object with --output json."""

    def error(self, message: str) -> NoReturn:
        raise CliUsage(self, message)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ecs_cicd")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        from ecs_cicd import __version__

        return __version__


def _verb(
    sub: Any,
    name: str,
    help: str,
    description: str,
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """One verb: `help` is its line in the top-level list, `description` heads its --help."""
    p: argparse.ArgumentParser = sub.add_parser(
        name, parents=list(parents), help=help, description=description
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    add_common_options(common)
    parser = Parser(
        prog="python -m ecs_cicd",
        description="Stand up and tear down an ECS Fargate service and its CI/CD pipeline from "
        "one YAML file. Options may come before or after the verb.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    add_common_options(parser, top=True)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    workers = Parser(add_help=False)
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
    p = _verb(
        sub,
        "up",
        "create or converge the stack, then wait until it serves",
        "Examine the whole stack (read-only), stop before changing anything if a resource with "
        "the stack's names is someone else's, then create or converge every resource and wait "
        "for the load balancer, the service deployment and the pipeline execution.",
        [common, workers, runs],
    )
    p.add_argument(
        "--no-wait", action="store_true", help="do not wait for the pipeline's execution"
    )
    p.add_argument("--refresh", action="store_true", help=REFRESH_HELP)
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
    dn = _verb(
        sub,
        "down",
        "delete everything the stack created",
        "Delete what the state file records and is still the stack's, in reverse dependency "
        "order, then sweep for anything still carrying the stack's tag. Asks on a terminal.",
        [common, workers, runs],
    )
    dn.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    pl = _verb(
        sub,
        "plan",
        "show what `up` would change (read-only)",
        "Read-only: the examination `up` starts with. Per resource: create, update (each field: "
        "have -> want), replace, adopt, take, unchanged or foreign (blocks `up`).",
        [common, workers],
    )
    pl.add_argument(
        "--adopt",
        nargs="+",
        default=[],
        metavar="LOGICAL_ID",
        help="show what taking over these resources (`up --adopt`) would change in them",
    )
    pl.add_argument("--refresh", action="store_true", help=REFRESH_HELP)
    _verb(
        sub,
        "status",
        "live state of every recorded resource",
        "Read-only: each resource with its live state (ok / drifted fields / gone / not ours), "
        "the service's deployments, the pipeline's latest execution.",
        [common],
    )
    _verb(
        sub,
        "outputs",
        "URL, repository URIs, cluster, service, pipeline",
        "The stack's outputs from the state file (no AWS call): URL, load balancer, target "
        "groups, test listener port, repository URIs, cluster, service, CodeDeploy application "
        "and deployment group, pipeline, log group.",
        [common],
    )
    _register_release(sub, common)
    _verb(
        sub,
        "validate",
        "check the config offline",
        "Check the config offline: every rule AWS would refuse, all problems at once (exit 2).",
        [common],
    )
    sc = _verb(
        sub,
        "schema",
        "print the config's JSON Schema (or its Markdown reference)",
        "Print the JSON Schema of the config file (for editors: yaml-language-server), or with "
        "--markdown the config reference table the README holds. Needs no config file.",
    )
    sc.add_argument(
        "--markdown", action="store_true", help="the config reference as a Markdown table"
    )
    st = _verb(sub, "state", "state file commands", "Commands on the state file.")
    st_sub = st.add_subparsers(dest="state_verb", required=True, metavar="VERB")
    _verb(
        st_sub,
        "recover",
        "rebuild the state file from the stack's tags",
        "Rebuild a lost or corrupt state file from the stack's tags and deterministic names "
        "(a corrupt one is moved aside first).",
        [common],
    )
    em = _verb(
        sub,
        "emulator",
        "serve the embedded AWS emulator on 127.0.0.1 until interrupted",
        "Serve the embedded AWS emulator (moto plus what it lacks) on 127.0.0.1 until "
        "interrupted; it prints the export lines that point other commands at it.",
    )
    em.add_argument("--host", default="127.0.0.1")
    em.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
    em.add_argument(
        "--output", choices=("text", "json"), default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    em.add_argument("--port", type=int, default=EMULATOR_PORT, help=f"(default {EMULATOR_PORT})")
    for dest, flag, text in _PACING_OPTIONS:
        em.add_argument(
            flag, dest=dest, type=float, default=0.0, metavar="N", help=f"{text} (default 0)"
        )
    co = _verb(
        sub,
        "completion",
        "print a shell completion script",
        "Print a completion script for the `ecs-cicd` command: "
        'eval "$(ecs-cicd completion bash)" in ~/.bashrc, or the zsh one in ~/.zshrc.',
    )
    co.add_argument("shell", choices=("bash", "zsh"))
    local.register(sub, [common])
    scaffold.register(sub, [common])
    return parser


def chosen_parser(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The (sub)parser of the verb `args` names: `state recover` -> its parser."""
    p = parser
    while True:
        action = next((a for a in p._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, action.dest, None) if action is not None else None
        if action is None or name not in action.choices:
            return p
        p = action.choices[name]


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse `argv`; an unknown option is refused by the verb's parser (its usage)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _wants_json(argv: Sequence[str]) -> bool:
    """--output json, read from the raw arguments (for errors before they are parsed)."""
    items = list(argv)
    for i, a in enumerate(items):
        if a == "--output=json" or (a == "--output" and items[i + 1 : i + 2] == ["json"]):
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse(argv)
    except CliUsage as e:
        if _wants_json(argv):
            _emit_error({"type": "UsageError", "message": e.message}, EXIT_USAGE)
        else:
            e.parser.print_usage(sys.stderr)
            ui.err(f"{e.parser.prog}: error: {e.message}")
        return EXIT_USAGE
    verbose = getattr(args, "verbose", False)
    as_json = getattr(args, "output", "text") == "json"

    def fail(code: int, error: dict[str, Any], lines: list[str]) -> int:
        if verbose:
            traceback.print_exc()
        for line in lines:
            ui.err(f"error: {line}")
        if as_json:
            _emit_error(error, code)
        return code

    try:
        if getattr(args, "func", None) is not None:
            return int(args.func(args))
        return _dispatch(args)
    except KeyboardInterrupt:
        ui.err(
            "interrupted; the state file records everything created so far — run the command again to continue"
        )
        if as_json:
            _emit_error({"type": "Interrupted", "message": "interrupted"}, EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except EcsCicdError as e:
        # ConfigErrors: every problem, one per line.
        return fail(e.exit_code, error_object(e), str(e).splitlines())
    except ClientError as e:
        err = e.response.get("Error", {})
        op = getattr(e, "operation_name", "?")
        message = f"{op}: AWS said {err.get('Code')}: {err.get('Message')}"
        error = {"type": "AwsError", "message": message, "code": err.get("Code"), "operation": op}
        return fail(EXIT_FAIL, error, [f"{message} (-v for details)"])
    except BotoCoreError as e:
        return fail(EXIT_FAIL, {"type": type(e).__name__, "message": str(e)}, [str(e)])
    except Exception as e:  # a bug of ours: still one line, the traceback with -v
        message = f"internal error: {type(e).__name__}: {e}"
        return fail(
            EXIT_FAIL,
            {"type": "InternalError", "message": message},
            [f"{message} (run with -v for the traceback)"],
        )


def error_object(e: EcsCicdError) -> dict[str, Any]:
    """The `{"error": ...}` body of an ecs_cicd error (--output json): type, message, field,
    hint; `problems` lists each one of a ConfigErrors."""
    out: dict[str, Any] = {
        "type": type(e).__name__,
        "message": e.message,
        "field": getattr(e, "field", None),
        "hint": e.hint,
    }
    code = getattr(e, "code", None)
    if code:
        out["code"] = code
    if isinstance(e, ConfigErrors):
        out["problems"] = [
            {"message": p.message, "field": p.field, "hint": p.hint} for p in e.problems
        ]
    return out


def _emit_error(error: dict[str, Any], exit_code: int) -> None:
    json.dump({"error": {**error, "exit_code": exit_code}}, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()


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
    if args.verb == "schema":
        from ecs_cicd.schema import json_text, markdown

        text = markdown() if args.markdown else json_text()
        sys.stdout.write(text)
        return EXIT_OK
    if args.verb == "completion":
        from ecs_cicd.completion import script

        sys.stdout.write(script(build_parser(), args.shell))
        return EXIT_OK

    from ecs_cicd import ops
    from ecs_cicd.config import load_config

    verb = args.verb if args.verb != "state" else f"state {args.state_verb}"
    # The GitHub token is not asked for here: `up` asks for it only when it creates or changes
    # the pipeline (ops.up, before its first change), so read-only verbs never need it.
    cfg = load_config(args.config, check_env=False, extra=lambda c: _check_offline(args, c))
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
        notes = _token_notes(cfg)
        text += "".join(f"\nnote: {n}" for n in notes)
        _emit(
            args,
            {
                "valid": True,
                "stack": cfg.stack,
                "resources": len(stack.resources),
                "shortened_names": {k: v for k, v in short.items() if k != "artifact_bucket"},
                "notes": notes,
            },
            text,
        )
        return EXIT_OK
    if verb == "outputs":
        out = ops.outputs(cfg, state_path=args.state, region=args.region)
        _emit(args, out.outputs, ui.format_outputs(out.outputs))
        return EXIT_OK

    log = ui.progress
    reporter = _reporter(args) if verb in ("up", "down") else None
    with _endpoint(args) as endpoint, reporter or contextlib.nullcontext():
        if args.state is None and args.emulator:
            # The embedded emulator's stack is gone when the command ends: never mix its state
            # with a real stack's.
            from ecs_cicd.state import default_state_path

            args.state = str(
                default_state_path(
                    cfg.project, cfg.environment, region, cfg.base_dir, emulator=True
                )
            )
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
                refresh=args.refresh,
                events=reporter,
                **common,
            )
        elif verb == "plan":
            result = ops.plan(
                cfg,
                adopt=args.adopt,
                max_workers=args.max_workers,
                refresh=args.refresh,
                log=lambda _m: None,
                **common,
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
        elif verb in ("deploy", "rollback", "logs"):
            return _release(args, verb, cfg, log, common)
        else:  # pragma: no cover - argparse restricts verbs
            raise UsageError(f"unknown verb {verb}")
    if getattr(args, "timeline", None):
        from ecs_cicd import timeline

        timeline.write(result, args.timeline)
        if not args.quiet:
            ui.err(f"timeline written to {args.timeline}")
    if verb == "status":
        from ecs_cicd.statusview import format_status

        text = format_status(result)
    else:
        text = ui.format_result(result, verbose=args.verbose)
    if getattr(args, "stats", False):
        text += "\n" + ui.format_stats(result)
    _emit(args, result.to_dict(), text)
    return EXIT_OK


def _token_notes(cfg: Any) -> list[str]:
    """validate: the GitHub token is not needed now, but say when `up` will miss it."""
    from ecs_cicd.config import GitHubSource

    src = cfg.pipeline.source
    if isinstance(src, GitHubSource) and not os.environ.get(src.token_env):
        return [
            f"{src.token_env} is not set: `up` needs it when it creates or changes the pipeline "
            "(read-only commands do not)"
        ]
    return []


def _register_release(sub: Any, common: argparse.ArgumentParser) -> None:
    d = sub.add_parser(
        "deploy",
        parents=[common],
        help="run the pipeline now (or roll out one image with --image)",
        description="Start an execution of the stack's pipeline; with --wait follow it (stages, "
        "actions, build phases, the deployment) and exit 1 with the failing action's message. "
        "With --image, register a task definition revision with that image and roll the "
        "service out to it (a CodeDeploy deployment for blue/green) without the pipeline.",
    )
    d.add_argument("--wait", action="store_true", help="follow the execution until it ends")
    d.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="with --wait: give up after this long (default: waits.pipeline + waits.service)",
    )
    d.add_argument(
        "--image",
        metavar="[CONTAINER=]IMAGE[:TAG]",
        help="hot fix: roll out this image for CONTAINER (default: the app container) now; "
        "always waits",
    )
    sub.add_parser(
        "rollback",
        parents=[common],
        help="return the service to the task definition revision before its current one",
        description="Roll the service back to the ACTIVE revision before its current one "
        "(a CodeDeploy deployment for blue/green), wait, then deregister the revision rolled "
        "back from so `up` keeps the service there.",
    )
    lg = sub.add_parser(
        "logs",
        parents=[common],
        help="the service's CloudWatch logs, interleaved by time (or --build)",
        description="Read the service's container logs (every task, every container, in time "
        "order, each line prefixed with container and task id), or the latest build's log.",
    )
    lg.add_argument("--container", metavar="NAME", help="only this container")
    lg.add_argument("--since", default="10m", help="how far back: 30s, 10m, 2h, 1d (default 10m)")
    lg.add_argument("--follow", "-f", action="store_true", help="keep printing new lines (Ctrl-C)")
    lg.add_argument("--filter", metavar="TEXT", help="only lines containing TEXT")
    lg.add_argument("--build", action="store_true", help="the latest CodeBuild build's log")


def _release(
    args: argparse.Namespace, verb: str, cfg: Any, log: Any, common: dict[str, Any]
) -> int:
    """deploy, rollback, logs (ecs_cicd/release.py, ecs_cicd/logs.py)."""
    from ecs_cicd import logs as logs_mod
    from ecs_cicd import release

    if verb == "deploy" and args.image:
        result = release.deploy_image(cfg, args.image, log=log, **common)
    elif verb == "deploy":
        result = release.deploy(cfg, wait=args.wait, timeout=args.timeout, log=log, **common)
    elif verb == "rollback":
        result = release.rollback(cfg, log=log, **common)
    elif args.build:
        result = logs_mod.build_logs(cfg, log=log, **common)
        d = result.details
        head = f"build {d['build']} {d['status']} ({d['log_group']} {d['log_stream']})"
        _emit(args, result.to_dict(), "\n".join([head, *d["lines"]]))
        return EXIT_OK
    else:
        since = logs_mod.parse_since(args.since)
        as_json = args.output == "json"

        def show(event: dict[str, Any], sources: list[Any]) -> None:
            if as_json:
                sys.stdout.write(json.dumps(logs_mod.to_item(event, sources)) + "\n")
            else:
                sys.stdout.write(logs_mod.format_line(event, sources) + "\n")
            sys.stdout.flush()

        try:
            result = logs_mod.logs(
                cfg,
                container=args.container,
                since=since,
                text=args.filter,
                follow=args.follow,
                on_event=show if (args.follow or not as_json) else None,
                log=log,
                **common,
            )
        except KeyboardInterrupt:
            if args.follow:
                return EXIT_OK  # Ctrl-C is how --follow ends
            raise
        if as_json and not args.follow:
            _emit(args, result.to_dict(), "")
        return EXIT_OK
    d = result.details
    lines = [f"{k}: {v}" for k, v in d.items() if k not in ("actions", "note")]
    if d.get("note"):
        lines.append(f"note: {d['note']}")
    lines.append(f"{result.command}: done in {result.seconds:.1f}s")
    _emit(args, result.to_dict(), "\n".join(lines))
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
