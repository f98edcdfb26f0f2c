"""`init DIR` and `render`: write the app repository, or only its deploy files, from the config.

The rendering is pure (`ecs_cicd.render.app`, `ecs_cicd.render.deploy`); this module loads the
config, reads the stack's facts from the state file for `render` (account, role ARNs, repository
URIs; no AWS call), refuses to overwrite existing files unless --force (writing nothing then),
writes each file atomically and prints what it wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecs_cicd.aws import new_session, resolve_region
from ecs_cicd.config import Config, load_config
from ecs_cicd.errors import UsageError
from ecs_cicd.files import write_atomically
from ecs_cicd.render.app import render_app_repository
from ecs_cicd.render.deploy import render_deploy_files
from ecs_cicd.state import State, default_state_path

__all__ = ["StackFacts", "register", "run_init", "run_render", "stack_facts", "write_files"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add `init` and `render` to the CLI; their handlers are `args.func`."""
    init = subparsers.add_parser(
        "init",
        parents=parents,
        help="scaffold the app repository the pipeline builds (Flask app, nginx, buildspec)",
        description="Write a working app repository for the config's pipeline: a Flask app with "
        "its tests, its Dockerfile, an nginx image in front of it, buildspec.yml and, for "
        "blue/green, taskdef.json and appspec.yaml.",
    )
    init.add_argument("directory", metavar="DIR", help="the repository folder (created if missing)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(func=run_init)
    render = subparsers.add_parser(
        "render",
        parents=parents,
        help="write buildspec.yml, taskdef.json, appspec.yaml and example image files",
        description="Write the deploy files of the config, with the account, role ARNs and "
        "repository URIs from the state file when there is one (placeholders otherwise).",
    )
    render.add_argument(
        "-o",
        "--output-dir",
        dest="output_dir",
        default=".",
        metavar="DIR",
        help="where to write them (default: the current folder)",
    )
    render.add_argument("--force", action="store_true", help="overwrite existing files")
    render.set_defaults(func=run_render)


def run_init(args: argparse.Namespace) -> int:
    """The `init` handler. Returns 0; raises UsageError (exit 2) when a file exists."""
    cfg = load_config(args.config, check_env=False)
    root = Path(args.directory)
    written = write_files(root, render_app_repository(cfg), force=args.force)
    _report(args, root, written, notes=_init_notes(cfg, root))
    return 0


def run_render(args: argparse.Namespace) -> int:
    """The `render` handler. Returns 0; raises UsageError (exit 2) when a file exists."""
    cfg = load_config(args.config, check_env=False)
    facts = stack_facts(cfg, state_path=args.state, region=args.region, profile=args.profile)
    files = render_deploy_files(
        cfg,
        account_id=facts.account_id,
        region=facts.region,
        role_arns=facts.role_arns,
        repo_uris=facts.repo_uris,
    )
    root = Path(args.output_dir)
    written = write_files(root, files, force=args.force)
    if facts.state_path is not None:
        note = f"account, role ARNs and repository URIs from {facts.state_path}"
    else:
        note = (
            "no state file: the files name <AWS_ACCOUNT_ID>"
            + ("" if facts.region else " and <AWS_DEFAULT_REGION>")
            + "; run `up`, then `render --force` for the real values"
        )
    _report(args, root, written, notes=[note], state=facts.state_path)
    return 0


@dataclass(frozen=True)
class StackFacts:
    """What `render` takes from the state file; empty (placeholders) without one."""

    region: str | None
    account_id: str | None = None
    role_arns: dict[str, str] = field(default_factory=dict)
    repo_uris: dict[str, str] = field(default_factory=dict)
    state_path: Path | None = None


def stack_facts(
    cfg: Config, *, state_path: str | None, region: str | None, profile: str | None = None
) -> StackFacts:
    """Account, role ARNs and repository URIs from the state file (an explicit one must exist).

    The region is --region, else the config's, else the AWS configuration's (as `outputs`); the
    default state file is `default_state_path` for it. Reads no AWS API.
    """
    region = resolve_region(region, cfg, new_session(profile))
    if region is None:
        if state_path:
            raise UsageError(
                "no AWS region to check the state file against",
                hint="pass --region, or set region in the config",
            )
        return StackFacts(region=None)
    path = (
        Path(state_path)
        if state_path
        else default_state_path(cfg.project, cfg.environment, region, cfg.base_dir)
    )
    if not path.exists():
        if state_path:
            raise UsageError(
                f"state file {path} not found",
                hint="pass the file `up` wrote, or leave --state out for placeholders",
            )
        return StackFacts(region=region)
    state = State.load(path, stack=cfg.stack, region=region)
    role_arns = {}
    for purpose in ("execution", "task"):
        record = state.get(f"role.{purpose}")
        if record is not None and record.arn:
            role_arns[purpose] = record.arn
    repo_uris = {}
    for c in cfg.built_containers():
        record = state.get(f"ecr.{c.name}")
        if record is not None and record.outputs.get("uri"):
            repo_uris[c.name] = str(record.outputs["uri"])
    return StackFacts(region, state.account, role_arns, repo_uris, path)


def write_files(root: Path, files: Mapping[str, str], *, force: bool = False) -> list[Path]:
    """Write every file under `root`; without `force`, refuse (writing nothing) if one exists."""
    targets = [(root / rel, text) for rel, text in files.items()]
    for path, _ in targets:
        if path.is_dir():
            raise UsageError(
                f"{path} is a directory", hint="move it aside; it cannot be overwritten"
            )
    existing = [path for path, _ in targets if path.exists() or path.is_symlink()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more of the files to write)" if len(existing) > 1 else ""
        raise UsageError(
            f"{existing[0]} already exists{more}; nothing was written",
            hint="pass --force to overwrite, or choose another directory",
        )
    for path, text in targets:
        write_atomically(path, text)
    return [path for path, _ in targets]


def _init_notes(cfg: Config, root: Path) -> list[str]:
    src = cfg.pipeline.source
    branch = getattr(src, "branch", None)
    if branch is None:
        return [
            f"next: zip {root} to s3://{getattr(src, 'bucket', '?')}/{getattr(src, 'key', '?')}"
        ]
    return [
        f"next: cd {root} && git init -b {branch} && git add -A && git commit -m 'Scaffold' "
        f"&& git remote add origin <url> && git push -u origin {branch}"
    ]


def _report(
    args: argparse.Namespace,
    root: Path,
    written: list[Path],
    *,
    notes: list[str],
    state: Path | None = None,
) -> None:
    if getattr(args, "output", "text") == "json":
        doc: dict[str, Any] = {"directory": str(root), "written": [str(p) for p in written]}
        if args.verb == "render":
            doc["state"] = str(state) if state else None
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    lines = [f"wrote {len(written)} files:"] + [f"  {p}" for p in written] + notes
    sys.stdout.write("\n".join(lines) + "\n")
