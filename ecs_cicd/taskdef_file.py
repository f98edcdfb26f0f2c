"""Import ECS task definitions from JSON files, and the rules every task definition must keep.

Two shapes reach us from users:

* a **Terraform** ``container_definitions`` file: a bare JSON array of container definitions,
  without any task-level key;
* a **full task definition**: the input of ``aws ecs register-task-definition --cli-input-json``,
  or the output of ``describe-task-definition`` (with or without its ``{"taskDefinition": ...}``
  wrapper; its read-only fields are dropped).

Both are normalized to the register-task-definition shape, ``{"containerDefinitions": [...],
...task-level keys present}``. Every error names the file and the JSON path of the offending value
(``taskdef.json: $.containerDefinitions[1].image: missing``) and raises ``ConfigError`` (exit 2).

The field names come from botocore's ECS service model: it is what ``RegisterTaskDefinition``
accepts, so a typo is caught here rather than by boto3 (or, worse, silently ignored).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from ecs_cicd.aws import service_model
from ecs_cicd.errors import ConfigError

__all__ = [
    "DEPENDENCY_CONDITIONS",
    "READ_ONLY_FIELDS",
    "load_task_definition_file",
    "parse_task_definition",
    "validate_container_definitions",
    "validate_task_definition",
]

#: What ``describe-task-definition`` returns but ``register-task-definition`` refuses.
READ_ONLY_FIELDS = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
        "deleteRequestedAt",
    }
)

#: ``dependsOn[].condition`` values ECS knows.
DEPENDENCY_CONDITIONS = ("START", "COMPLETE", "SUCCESS", "HEALTHY")

NETWORK_MODES = ("awsvpc", "bridge", "host", "none")

# AWS: "Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens".
_CONTAINER_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")

# Keys that mark a whole task definition; finding one inside a bare array means the user wrapped
# a full definition in [ ] (or pasted the wrong file).
_WRAPPER_KEYS = ("containerDefinitions", "taskDefinition")


def load_task_definition_file(path: str | Path) -> dict[str, Any]:
    """Read a task definition JSON file (either shape) and return it normalized and validated."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the task definition: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text: {exc.reason}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{source}: line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}",
            hint="a task definition file is JSON (a Terraform container_definitions array "
            "or a register-task-definition document)",
        ) from exc
    return parse_task_definition(data, source=source)


def parse_task_definition(data: Any, *, source: str) -> dict[str, Any]:
    """Normalize already-parsed task definition data (either shape) and validate it.

    ``source`` names where the data came from in error messages (a file name, or
    ``"ecs:family:3"`` for a definition fetched from ECS).
    """
    data = _drop_nulls(data)
    if isinstance(data, list):
        taskdef, base = _from_bare_array(data, source), "$"
    elif isinstance(data, dict):
        taskdef, base = _from_object(data, source)
    else:
        _fail(
            source,
            "$",
            f"expected a JSON object or array, got {_kind(data)}",
            hint="give a register-task-definition document or a Terraform "
            "container_definitions array",
        )
    _check_known_fields(taskdef, source=source, base=base)
    validate_task_definition(taskdef, source=source, containers_path=base)
    return taskdef


def validate_task_definition(
    taskdef: Mapping[str, Any], *, source: str, containers_path: str = "$.containerDefinitions"
) -> None:
    """Check the task-level rules, then every container (see validate_container_definitions)."""
    network_mode = taskdef.get("networkMode", "awsvpc")
    if network_mode not in NETWORK_MODES:
        _fail(
            source,
            "$.networkMode",
            f"unknown network mode {network_mode!r}",
            hint=_one_of(NETWORK_MODES),
        )
    if "FARGATE" in taskdef.get("requiresCompatibilities", []) and network_mode != "awsvpc":
        _fail(
            source,
            "$.networkMode",
            f"{network_mode!r} with requiresCompatibilities FARGATE",
            hint="Fargate tasks use networkMode awsvpc",
        )
    containers = taskdef.get("containerDefinitions")
    if not isinstance(containers, list):
        _fail(
            source,
            containers_path,
            f"expected a list of container definitions, got {_kind(containers)}",
        )
    validate_container_definitions(
        containers, source=source, network_mode=network_mode, path=containers_path
    )
    if "volumes" in taskdef:
        _check_volumes(taskdef, source=source, containers_path=containers_path)


def validate_container_definitions(
    containers: list[dict[str, Any]],
    *,
    source: str,
    network_mode: str = "awsvpc",
    path: str = "$.containerDefinitions",
) -> None:
    """Check the rules ECS applies across a task's containers; raise ConfigError on the first break.

    ``path`` is the JSON path of the list in the source (``$`` for a bare array), used in messages.
    Checked: a name and an image on each container, unique names, port mappings (under awsvpc and
    host networking a ``hostPort`` equals its ``containerPort``), ``dependsOn`` targets, conditions,
    HEALTHY only on a container with a healthCheck, COMPLETE/SUCCESS only on a non-essential one,
    and no dependency cycle.
    """
    if not containers:
        _fail(source, path, "no container definitions", hint="a task needs at least one container")
    first_index: dict[str, int] = {}
    for i, container in enumerate(containers):
        where = f"{path}[{i}]"
        if not isinstance(container, dict):
            _fail(
                source, where, f"expected a container definition (object), got {_kind(container)}"
            )
        name = _check_identity(container, source=source, where=where)
        if name in first_index:
            _fail(
                source,
                f"{where}.name",
                f"duplicate container name {name!r} (also {path}[{first_index[name]}])",
                hint="container names are unique within a task",
            )
        first_index[name] = i
        _check_port_mappings(container, source=source, where=where, network_mode=network_mode)
    by_name = {c["name"]: c for c in containers}
    for i, container in enumerate(containers):
        _check_dependencies(container, by_name, source=source, where=f"{path}[{i}]")
    _check_dependency_cycles(containers, source=source, path=path)


# --- shapes -------------------------------------------------------------------------------------


def _from_bare_array(data: list[Any], source: str) -> dict[str, Any]:
    for i, element in enumerate(data):
        if isinstance(element, dict):
            wrapper = next((k for k in _WRAPPER_KEYS if k in element), None)
            if wrapper:
                _fail(
                    source,
                    f"$[{i}].{wrapper}",
                    "a full task definition inside a bare array of container definitions",
                    hint="remove the surrounding [ ]: a full task definition is a JSON object",
                )
    return {"containerDefinitions": data}


def _from_object(data: dict[str, Any], source: str) -> tuple[dict[str, Any], str]:
    if "taskDefinition" in data:
        # describe-task-definition output: {"taskDefinition": {...}, "tags": [...]}
        if "containerDefinitions" in data:
            _fail(
                source,
                "$",
                "both taskDefinition and containerDefinitions at the top level",
                hint="keep one: the describe-task-definition wrapper or the task definition itself",
            )
        extra = sorted(set(data) - {"taskDefinition", "tags", "ResponseMetadata"})
        if extra:
            _fail(source, f"$.{extra[0]}", "unexpected key beside taskDefinition")
        inner = data["taskDefinition"]
        if not isinstance(inner, dict):
            _fail(source, "$.taskDefinition", f"expected an object, got {_kind(inner)}")
        if "containerDefinitions" not in inner:
            _fail(source, "$.taskDefinition.containerDefinitions", "missing")
        taskdef = _without_read_only(inner)
        if data.get("tags") and not taskdef.get("tags"):
            taskdef["tags"] = data["tags"]
        return taskdef, "$.taskDefinition.containerDefinitions"
    if "containerDefinitions" in data:
        taskdef = _without_read_only(data)
        taskdef.pop("ResponseMetadata", None)
        return taskdef, "$.containerDefinitions"
    if "name" in data or "image" in data:
        _fail(
            source,
            "$",
            "a single container definition, not a task definition",
            hint='wrap it in [ ] (Terraform shape) or in {"containerDefinitions": [ ... ]}',
        )
    _fail(
        source,
        "$",
        "neither containerDefinitions nor taskDefinition at the top level",
        hint="give a register-task-definition document, describe-task-definition output, or a "
        "Terraform container_definitions array",
    )


def _without_read_only(taskdef: dict[str, Any]) -> dict[str, Any]:
    # containerDefinitions first: the normalized dict reads like a register-task-definition call.
    out: dict[str, Any] = {"containerDefinitions": taskdef["containerDefinitions"]}
    out.update((k, v) for k, v in taskdef.items() if k not in READ_ONLY_FIELDS)
    return out


def _drop_nulls(value: Any) -> Any:
    """Remove null-valued keys: AWS's own samples carry ``"ulimits": null``, meaning "not set"."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


# --- field names from the botocore model --------------------------------------------------------


@functools.cache
def _model_fields() -> tuple[frozenset[str], frozenset[str]]:
    """(task-level keys RegisterTaskDefinition accepts, keys of a ContainerDefinition)."""
    model = service_model("ecs")
    request = model.operation_model("RegisterTaskDefinition").input_shape
    container = model.shape_for("ContainerDefinition")
    task_keys = frozenset(getattr(request, "members", {}))
    container_keys = frozenset(getattr(container, "members", {}))
    return task_keys, container_keys


def _check_known_fields(taskdef: Mapping[str, Any], *, source: str, base: str) -> None:
    task_keys, container_keys = _model_fields()
    task_path = base.rsplit(".containerDefinitions", 1)[0] if base != "$" else "$"
    for key in taskdef:
        if key not in task_keys:
            _fail(
                source,
                f"{task_path}.{key}",
                "unknown task definition field",
                hint=_did_you_mean(key, task_keys),
            )
    for i, container in enumerate(taskdef.get("containerDefinitions") or []):
        if not isinstance(container, dict):
            continue  # reported with its path by validate_container_definitions
        for key in container:
            if key not in container_keys:
                _fail(
                    source,
                    f"{base}[{i}].{key}",
                    "unknown container definition field",
                    hint=_did_you_mean(key, container_keys),
                )


def _did_you_mean(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return "not a field of ECS's RegisterTaskDefinition"


# --- container rules ----------------------------------------------------------------------------


def _check_identity(container: Mapping[str, Any], *, source: str, where: str) -> str:
    for key in ("name", "image"):
        value = container.get(key)
        if value is None or value == "":
            _fail(source, f"{where}.{key}", "missing")
        if not isinstance(value, str):
            _fail(source, f"{where}.{key}", f"expected a string, got {_kind(value)}")
    name: str = container["name"]
    if not _CONTAINER_NAME.fullmatch(name):
        _fail(
            source,
            f"{where}.name",
            f"invalid container name {name!r}",
            hint="up to 255 letters, digits, hyphens and underscores",
        )
    return name


def _check_port_mappings(
    container: Mapping[str, Any], *, source: str, where: str, network_mode: str
) -> None:
    mappings = container.get("portMappings", [])
    if not isinstance(mappings, list):
        _fail(source, f"{where}.portMappings", f"expected a list, got {_kind(mappings)}")
    for j, mapping in enumerate(mappings):
        at = f"{where}.portMappings[{j}]"
        if not isinstance(mapping, dict):
            _fail(source, at, f"expected an object, got {_kind(mapping)}")
        container_port = mapping.get("containerPort")
        if container_port is None and "containerPortRange" not in mapping:
            _fail(source, f"{at}.containerPort", "missing")
        if container_port is not None and not _is_port(container_port):
            _fail(source, f"{at}.containerPort", f"not a port number: {container_port!r}")
        protocol = mapping.get("protocol", "tcp")
        if protocol not in ("tcp", "udp"):
            _fail(
                source,
                f"{at}.protocol",
                f"unknown protocol {protocol!r}",
                hint=_one_of(("tcp", "udp")),
            )
        host_port = mapping.get("hostPort")
        if host_port is None or network_mode not in ("awsvpc", "host"):
            continue  # bridge mode maps any host port (0 or absent: a dynamic one)
        if host_port != container_port:
            _fail(
                source,
                f"{at}.hostPort",
                f"{host_port} differs from containerPort {container_port} under networkMode "
                f"{network_mode}",
                hint="omit hostPort or set it to the containerPort (Fargate implies awsvpc); "
                "a task for EC2 bridge networking says networkMode bridge",
            )


def _check_dependencies(
    container: Mapping[str, Any],
    by_name: Mapping[str, Mapping[str, Any]],
    *,
    source: str,
    where: str,
) -> None:
    depends_on = container.get("dependsOn", [])
    if not isinstance(depends_on, list):
        _fail(source, f"{where}.dependsOn", f"expected a list, got {_kind(depends_on)}")
    for k, dependency in enumerate(depends_on):
        at = f"{where}.dependsOn[{k}]"
        if not isinstance(dependency, dict):
            _fail(source, at, f"expected an object, got {_kind(dependency)}")
        target = dependency.get("containerName")
        if not target:
            _fail(source, f"{at}.containerName", "missing")
        if target not in by_name:
            _fail(
                source,
                f"{at}.containerName",
                f"unknown container {target!r}",
                hint=f"containers in this task: {', '.join(sorted(by_name))}",
            )
        condition = dependency.get("condition")
        if condition not in DEPENDENCY_CONDITIONS:
            _fail(
                source,
                f"{at}.condition",
                "missing" if condition is None else f"unknown condition {condition!r}",
                hint=_one_of(DEPENDENCY_CONDITIONS),
            )
        dependency_def = by_name[target]
        if condition == "HEALTHY" and "healthCheck" not in dependency_def:
            _fail(
                source,
                f"{at}.condition",
                f"HEALTHY, but container {target!r} has no healthCheck",
                hint=f"add a healthCheck to {target!r}, or use condition START",
            )
        if condition in ("COMPLETE", "SUCCESS") and dependency_def.get("essential", True):
            _fail(
                source,
                f"{at}.condition",
                f"{condition} on essential container {target!r}",
                hint=f"ECS allows {condition} only on a container with essential: false",
            )


def _check_dependency_cycles(containers: list[dict[str, Any]], *, source: str, path: str) -> None:
    """Depth-first search over dependsOn; report the first cycle as a chain of names."""
    edges = {c["name"]: [d["containerName"] for d in c.get("dependsOn", [])] for c in containers}
    index = {c["name"]: i for i, c in enumerate(containers)}
    done: set[str] = set()

    def visit(name: str, chain: list[str]) -> None:
        if name in chain:
            cycle = [*chain[chain.index(name) :], name]
            _fail(
                source,
                f"{path}[{index[cycle[0]]}].dependsOn",
                f"dependency cycle: {' -> '.join(cycle)}",
                hint="ECS could never start these containers; remove one of the dependencies",
            )
        if name in done:
            return
        for target in edges[name]:
            visit(target, [*chain, name])
        done.add(name)

    for container in containers:
        visit(container["name"], [])


# --- task-level volumes ---------------------------------------------------------------------------


def _check_volumes(taskdef: Mapping[str, Any], *, source: str, containers_path: str) -> None:
    task_path = containers_path.rsplit(".containerDefinitions", 1)[0]
    volumes = taskdef["volumes"]
    if not isinstance(volumes, list):
        _fail(source, f"{task_path}.volumes", f"expected a list, got {_kind(volumes)}")
    names: set[str] = set()
    for i, volume in enumerate(volumes):
        name = volume.get("name") if isinstance(volume, dict) else None
        if not name:
            _fail(source, f"{task_path}.volumes[{i}].name", "missing")
        if name in names:
            _fail(source, f"{task_path}.volumes[{i}].name", f"duplicate volume name {name!r}")
        names.add(name)
    containers = taskdef["containerDefinitions"]
    container_names = {c["name"] for c in containers}
    for i, container in enumerate(containers):
        for j, mount in enumerate(container.get("mountPoints", [])):
            source_volume = mount.get("sourceVolume") if isinstance(mount, dict) else None
            if source_volume not in names:
                _fail(
                    source,
                    f"{containers_path}[{i}].mountPoints[{j}].sourceVolume",
                    "missing" if source_volume is None else f"unknown volume {source_volume!r}",
                    hint="declare it in the task's volumes",
                )
        for j, volumes_from in enumerate(container.get("volumesFrom", [])):
            source_container = (
                volumes_from.get("sourceContainer") if isinstance(volumes_from, dict) else None
            )
            if source_container not in container_names:
                _fail(
                    source,
                    f"{containers_path}[{i}].volumesFrom[{j}].sourceContainer",
                    f"unknown container {source_container!r}",
                )


# --- helpers --------------------------------------------------------------------------------------


def _fail(source: str, path: str, problem: str, *, hint: str | None = None) -> NoReturn:
    raise ConfigError(problem, field=f"{source}: {path}", hint=hint)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def _one_of(values: Iterable[str]) -> str:
    return "one of " + ", ".join(values)
