"""The rules an IAM statement of the config must keep, checked when the config is loaded.

Pure and dependency-free (only `errors`), so both `config` (which validates the user's task-role
statements) and `resources.policies` (which builds the role documents from them) import it.
"""

from __future__ import annotations

import re
from typing import Any

from ecs_cicd.errors import ConfigError, raise_all

ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*?]+$")

# --- IAM statements --------------------------------------------------------------------------
# IAM JSON policy reference, "Sid": "supports ASCII uppercase letters (A-Z), lowercase letters
# (a-z), and numbers (0-9)"; "Resource": an ARN, or `*`.
SID = re.compile(r"^[A-Za-z0-9]*$")
ARN = re.compile(r"^arn:[^:]+:[^:]+:[^:]*:[^:]*:.+$")


def resource_problem(resource: object) -> str | None:
    if resource == "*" or (isinstance(resource, str) and ARN.match(resource)):
        return None
    return f"{resource!r} is not an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE) or *"


def as_list(v: Any) -> list[Any]:
    """A policy value as a list: IAM accepts a single value where it accepts a list."""
    return list(v) if isinstance(v, list | tuple) else [v]


def is_broad(action: str) -> bool:
    """`*` or `service:*`: every action (of a service)."""
    return action == "*" or action.endswith(":*")


def validate_task_role_statements(statements: list[Any]) -> None:
    """Each statement needs Effect, Action and Resource; an Allow may not grant `*` or
    `service:*`. Raises ConfigError (ConfigErrors for several) naming each statement."""
    raise_all(task_role_statement_problems(statements))


def task_role_statement_problems(statements: list[Any]) -> list[ConfigError]:
    out: list[ConfigError] = []
    for i, st in enumerate(statements):
        try:
            _check_statement(st, f"task.task_role_statements[{i}]")
        except ConfigError as e:
            out.append(e)
    return out


def _check_statement(st: Any, field: str) -> None:
    if not isinstance(st, dict):
        raise ConfigError("must be a mapping with Effect, Action and Resource", field=field)
    missing = [k for k in ("Effect", "Action", "Resource") if k not in st]
    if missing:
        raise ConfigError(
            f"missing {', '.join(missing)}",
            field=field,
            hint="every statement needs Effect, Action and Resource (NotAction is refused)",
        )
    if st["Effect"] not in ("Allow", "Deny"):
        raise ConfigError(f"Effect {st['Effect']!r} must be Allow or Deny", field=f"{field}.Effect")
    actions = as_list(st["Action"])
    if not actions or not all(
        isinstance(a, str) and (a == "*" or ACTION.match(a)) for a in actions
    ):
        raise ConfigError(
            "Action must be service:Action strings, e.g. s3:GetObject", field=f"{field}.Action"
        )
    broad = [a for a in actions if is_broad(a)]
    if broad and st["Effect"] == "Allow":
        raise ConfigError(
            f"grants every action ({', '.join(broad)})",
            field=f"{field}.Action",
            hint="name the actions the application calls, e.g. s3:GetObject",
        )
    resources = as_list(st["Resource"])
    if not resources or not all(isinstance(r, str) and r for r in resources):
        raise ConfigError("Resource must be an ARN or a list of ARNs", field=f"{field}.Resource")
    for r in resources:
        problem = resource_problem(r)
        if problem:
            raise ConfigError(
                problem,
                field=f"{field}.Resource",
                hint="e.g. arn:aws:s3:::my-bucket/* (IAM JSON policy reference: Resource)",
            )
    sid = st.get("Sid")
    if sid is not None and not (isinstance(sid, str) and SID.match(sid)):
        raise ConfigError(
            f"Sid {sid!r} may hold only letters and digits",
            field=f"{field}.Sid",
            hint="e.g. Sid: ReadUploads (IAM JSON policy reference: Sid)",
        )
