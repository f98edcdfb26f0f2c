"""``local compose``: write a docker-compose.yml that runs the task on this machine (issue #5).

ECS bills while a task runs, so users try the task on their laptop first. The task definition
comes from exactly one of: the config (``-c``: what ``up`` would register, with the initial
images), a JSON file (``--task-def``, either shape ``taskdef_file`` reads), or ECS itself
(``--remote FAMILY[:REVISION]``). The conversion is ``render.compose``; this module only chooses
the source, optionally resolves secrets, and writes the files without overwriting any unless
``--force``. Secret values are written to ``.env`` (mode 0600) and never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ecs_cicd.errors import AwsError, ConfigError, UsageError
from ecs_cicd.files import write_atomically
from ecs_cicd.render.compose import ComposeResult, secret_sources, task_definition_to_compose
from ecs_cicd.taskdef_file import load_task_definition_file, parse_task_definition

__all__ = ["register", "resolve_secrets", "run_compose", "write_compose"]

DEFAULT_OUTPUT = "docker-compose.yml"
ENV_EXAMPLE = ".env.example"
ENV_FILE = ".env"
_DEFAULT_CONFIG = "ecs_cicd.yaml"


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``local compose`` to the CLI; its handler is ``args.func`` (run_compose)."""
    local = subparsers.add_parser(
        "local",
        help="run the task on this machine, before paying for ECS",
        description="Run the task on this machine, before paying for ECS.",
    )
    verbs = local.add_subparsers(dest="local_verb", required=True, metavar="VERB")
    compose = verbs.add_parser(
        "compose",
        parents=parents,
        help="write a docker-compose.yml that behaves like the Fargate task",
        description="Write a docker-compose.yml (and .env.example for its secrets) from the task "
        "definition of the config (-c, the default), a JSON file (--task-def) or ECS (--remote).",
    )
    source = compose.add_mutually_exclusive_group()
    source.add_argument(
        "--task-def",
        metavar="FILE",
        help="a task definition JSON file: register-task-definition input, "
        "describe-task-definition output, or a Terraform container_definitions array",
    )
    source.add_argument(
        "--remote",
        metavar="FAMILY[:REVISION]",
        help="a task definition registered in ECS (DescribeTaskDefinition); an ARN works too",
    )
    compose.add_argument(
        "-o",
        "--output-file",
        dest="output_file",
        default=DEFAULT_OUTPUT,
        metavar="PATH",
        help=f"the compose file to write (default: {DEFAULT_OUTPUT}); .env.example goes beside it",
    )
    compose.add_argument("--force", action="store_true", help="overwrite existing files")
    compose.add_argument(
        "--resolve-secrets",
        action="store_true",
        help="read the secrets from Secrets Manager / SSM Parameter Store into .env (mode 0600)",
    )
    compose.add_argument(
        "--aws-credentials",
        action="store_true",
        help="mount ~/.aws read-only into the containers and set AWS_PROFILE and the region",
    )
    compose.set_defaults(func=run_compose, local_config_default=_config_default(parents))


def run_compose(args: argparse.Namespace) -> int:
    """The ``local compose`` handler: choose the source, convert, write, report. Returns 0."""
    if getattr(args, "emulator", False):
        raise UsageError(
            "--emulator does not apply to local compose",
            hint="use --endpoint-url with --remote to read from a running emulator",
        )
    output = Path(args.output_file)
    taskdef, source, region = _load(args)
    # Refuse before any AWS call for secrets: a run that would not write should not read either.
    _refuse_overwrite(_targets(output, taskdef, resolve=args.resolve_secrets), force=args.force)
    resolved = None
    if args.resolve_secrets:
        resolved = resolve_secrets(secret_sources(taskdef), client=_client_factory(args))
    result = write_compose(
        taskdef,
        output,
        source=source,
        force=args.force,
        aws_credentials=args.aws_credentials,
        resolved_secrets=resolved,
        aws_region=region,
        aws_profile=args.profile,
    )
    for warning in result.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    _report(args, output, result)
    return 0


def write_compose(
    taskdef: Mapping[str, Any],
    output: Path,
    *,
    source: str,
    force: bool = False,
    aws_credentials: bool = False,
    resolved_secrets: Mapping[str, str] | None = None,
    aws_region: str | None = None,
    aws_profile: str | None = None,
) -> ComposeResult:
    """Convert ``taskdef`` and write the compose file, ``.env.example`` and (with resolved secrets)
    ``.env`` beside it. Raises UsageError, writing nothing, if any of them exists and not force.
    """
    result = task_definition_to_compose(
        taskdef,
        source=source,
        aws_credentials=aws_credentials,
        resolved_secrets=resolved_secrets,
        aws_region=aws_region,
        aws_profile=aws_profile,
    )
    files: list[tuple[Path, str, int]] = [(output, result.yaml_text, 0o644)]
    if result.env_example:
        files.append((output.parent / ENV_EXAMPLE, result.env_example, 0o644))
    if result.env_file_text is not None:
        files.append((output.parent / ENV_FILE, result.env_file_text, 0o600))
    _refuse_overwrite([path for path, _, _ in files], force=force)
    for path, text, mode in files:
        write_atomically(path, text, mode=mode)
    return result


def resolve_secrets(
    value_froms: Iterable[str], *, client: Callable[[str, str | None], Any]
) -> dict[str, str]:
    """Read each secret's value, keyed by its valueFrom.

    ``valueFrom`` is a Secrets Manager ARN, optionally with ECS's ``:json-key:version-stage:
    version-id`` suffix, or an SSM parameter (ARN or name). ``client(service, region)`` returns a
    boto3 client; the region is the one the ARN names (None: the session's).
    """
    values: dict[str, str] = {}
    for value_from in value_froms:
        try:
            if value_from.startswith("arn:") and value_from.split(":")[2] == "secretsmanager":
                values[value_from] = _secrets_manager_value(value_from, client)
            else:
                values[value_from] = _parameter_value(value_from, client)
        except _client_error() as exc:
            response: dict[str, Any] = getattr(exc, "response", {})
            error = response.get("Error", {})
            raise AwsError(
                "Resolving secret",
                value_from,
                str(error.get("Code", "Unknown")),
                str(error.get("Message", "")),
                hint="check the ARN and that your credentials may read it; or drop "
                "--resolve-secrets and fill .env by hand",
            ) from None
    return values


# --- choosing the source -------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> tuple[dict[str, Any], str, str | None]:
    """(task definition, source for messages, region for --aws-credentials) from the one source."""
    chosen = _chosen_source(args)
    if chosen == "task_def":
        return load_task_definition_file(args.task_def), str(args.task_def), args.region
    if chosen == "remote":
        return _describe_remote(args)
    return _from_config(args)


def _chosen_source(args: argparse.Namespace) -> str:
    # The common -c option has a default, so its value alone cannot tell whether the user typed
    # it: -c counts as given when it differs from the default (or when nothing else is given).
    default = getattr(args, "local_config_default", _DEFAULT_CONFIG)
    config_given = args.config is not None and str(args.config) != str(default)
    given = [
        name
        for name, present in (
            ("-c/--config", config_given),
            ("--task-def", args.task_def),
            ("--remote", args.remote),
        )
        if present
    ]
    if len(given) > 1:
        raise UsageError(
            f"{' and '.join(given)} both name a task definition",
            hint="give one of -c/--config, --task-def FILE or --remote FAMILY[:REVISION]",
        )
    if args.task_def:
        return "task_def"
    if args.remote:
        return "remote"
    return "config"


def _from_config(args: argparse.Namespace) -> tuple[dict[str, Any], str, str | None]:
    # Imported here: config and taskdef are the rest of the package, and this module must load
    # (and its other sources work) without them.
    from ecs_cicd.config import load_config
    from ecs_cicd.taskdef import build_task_definition

    path = Path(args.config or _DEFAULT_CONFIG)
    if not path.exists():
        raise UsageError(
            f"no task definition to convert: config file {str(path)!r} not found",
            hint="pass -c CONFIG, --task-def FILE or --remote FAMILY[:REVISION]",
        )
    cfg = load_config(path, check_env=False)
    region = args.region or getattr(cfg, "region", None)
    taskdef = build_task_definition(cfg, region=region)
    return parse_task_definition(taskdef, source=str(path)), str(path), region


def _describe_remote(args: argparse.Namespace) -> tuple[dict[str, Any], str, str | None]:
    ecs = _client_factory(args)("ecs", None)
    try:
        response = ecs.describe_task_definition(taskDefinition=args.remote, include=["TAGS"])
    except _client_error() as exc:
        error = getattr(exc, "response", {}).get("Error", {})
        raise AwsError(
            "Describing task definition",
            args.remote,
            str(error.get("Code", "Unknown")),
            str(error.get("Message", "")),
            hint="check the family (aws ecs list-task-definition-families), revision and region",
        ) from None
    response.pop("ResponseMetadata", None)
    inner = response.get("taskDefinition", {})
    source = f"ECS {inner.get('family', args.remote)}:{inner.get('revision', '?')}"
    region = args.region or ecs.meta.region_name
    return parse_task_definition(response, source=source), source, region


def _config_default(parents: list[argparse.ArgumentParser]) -> str:
    for parent in parents:
        for action in parent._actions:  # argparse keeps no public list of a parser's options
            if action.dest == "config" and isinstance(action.default, str):
                return action.default
    return _DEFAULT_CONFIG


# --- AWS ------------------------------------------------------------------------------------------


def _client_factory(args: argparse.Namespace) -> Callable[[str, str | None], Any]:
    """Clients for the CLI's --profile/--region/--endpoint-url through the project's one door to
    AWS (ecs_cicd.aws), one Aws per region (a secret's ARN may name another region)."""
    from botocore.exceptions import BotoCoreError

    from ecs_cicd.aws import Aws, new_session, resolve_region

    cache: dict[str | None, Aws] = {}

    def client(service: str, region: str | None) -> Any:
        key = region or resolve_region(args.region, None, new_session(args.profile))
        if key not in cache:
            try:
                cache[key] = Aws(
                    new_session(args.profile, key), region=key, endpoint_url=args.endpoint_url
                )
            except BotoCoreError as exc:  # unknown profile...
                raise ConfigError(
                    f"cannot reach AWS: {exc}", hint="set --region / --profile (or AWS_REGION)"
                ) from None
        return cache[key].client(service)

    return client


def _client_error() -> type[Exception]:
    from botocore.exceptions import ClientError

    return ClientError


def _secrets_manager_value(value_from: str, client: Callable[[str, str | None], Any]) -> str:
    # arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:json-key[:version-stage[:version-id]]]
    parts = value_from.split(":")
    secret_id = ":".join(parts[:7])
    json_key, stage, version_id = [*parts[7:10], "", "", ""][:3]
    request: dict[str, str] = {"SecretId": secret_id}
    if stage:
        request["VersionStage"] = stage
    if version_id:
        request["VersionId"] = version_id
    response = client("secretsmanager", parts[3] or None).get_secret_value(**request)
    text = response.get("SecretString")
    if text is None:
        raise ConfigError(f"{secret_id}: a binary secret cannot be an environment variable")
    if not json_key:
        return str(text)
    try:
        document = json.loads(text)
        value = document[json_key]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"{secret_id}: no JSON key {json_key!r} in the secret",
            hint="the valueFrom suffix names a key of the secret's JSON document",
        ) from None
    return value if isinstance(value, str) else json.dumps(value)


def _parameter_value(value_from: str, client: Callable[[str, str | None], Any]) -> str:
    # arn:aws:ssm:REGION:ACCOUNT:parameter/NAME, or the parameter's name (the session's region)
    region = (value_from.split(":")[3] or None) if value_from.startswith("arn:") else None
    response = client("ssm", region).get_parameter(Name=value_from, WithDecryption=True)
    return str(response["Parameter"]["Value"])


# --- files ----------------------------------------------------------------------------------------


def _targets(output: Path, taskdef: Mapping[str, Any], *, resolve: bool) -> list[Path]:
    paths = [output]
    if secret_sources(taskdef):
        paths.append(output.parent / ENV_EXAMPLE)
        if resolve:
            paths.append(output.parent / ENV_FILE)
    return paths


def _refuse_overwrite(paths: Iterable[Path], *, force: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise UsageError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}",
            hint="pass --force to overwrite, or -o to write elsewhere",
        )


def _report(args: argparse.Namespace, output: Path, result: ComposeResult) -> None:
    written = [str(output)]
    if result.env_example:
        written.append(str(output.parent / ENV_EXAMPLE))
    if result.env_file_text is not None:
        written.append(str(output.parent / ENV_FILE))
    if getattr(args, "output", "text") == "json":
        summary = {
            "written": written,
            "services": list(result.services),
            "secrets": list(result.secret_variables),  # names only, never values
            "warnings": result.warnings,
        }
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    lines = [f"wrote {', '.join(written)} ({len(result.services)} services)"]
    if result.env_example and result.env_file_text is None:
        lines.append(f"secrets: copy {ENV_EXAMPLE} to {ENV_FILE} and fill in the values")
    lines.append(f"run: docker compose -f {output} up")
    sys.stdout.write("\n".join(lines) + "\n")
