"""The config's JSON Schema and its Markdown reference, both generated from the pydantic models.

`python -m ecs_cicd schema` prints the schema (shipped as schema/ecs_cicd.schema.json, which
config.example.yaml names for yaml-language-server); `schema --markdown` prints the README's
config reference table. `scripts/regen` rewrites both; a test fails when either is stale.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from ecs_cicd.config import Config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schema" / "ecs_cicd.schema.json"
README = ROOT / "README.md"
START = "<!-- config-reference:start (generated: python -m ecs_cicd schema --markdown) -->"
END = "<!-- config-reference:end -->"
REGENERATE = "scripts/regen"
# Fields that are not the user's to write (set by load_config / task.definition_file).
_INTERNAL = {"base_dir", "ecs_definition"}


def schema() -> dict[str, Any]:
    """The JSON Schema of a config file (draft 2020-12, as pydantic writes it)."""
    doc = Config.model_json_schema(mode="validation")
    _drop_internal(doc)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **doc,
    }


def _drop_internal(node: Any) -> None:
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for key in _INTERNAL & set(props):
                del props[key]
        for value in node.values():
            _drop_internal(value)
    elif isinstance(node, list):
        for value in node:
            _drop_internal(value)


def json_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=False) + "\n"


# --- the Markdown reference ------------------------------------------------------------------
def rows(model: type[BaseModel] = Config, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(field path, type, default, description) for every field, depth first."""
    out: list[tuple[str, str, str, str]] = []
    for name, info in model.model_fields.items():
        if name in _INTERNAL:
            continue
        path = f"{prefix}{name}"
        ann = info.annotation
        nested = _models(ann)
        is_list = typing.get_origin(_unoptional(ann)) is list
        is_dict = typing.get_origin(_unoptional(ann)) is dict
        out.append((path, type_name(ann), _default(info), info.description or ""))
        if len(nested) > 1:  # a discriminated union on `type`: the rows of each variant
            tags = [v.model_fields["type"].default for v in nested]
            out.append(
                (
                    f"{path}.type",
                    type_name(Literal[tuple(tags)]),
                    "required",
                    "Which kind of source.",
                )
            )
            for variant, tag in zip(nested, tags, strict=True):
                out += [
                    (f"{p} (type {tag})", t, d, desc)
                    for p, t, d, desc in rows(variant, f"{path}.")
                    if p != f"{path}.type"
                ]
        elif nested:
            sep = "[]." if is_list else ".<name>." if is_dict else "."
            out += rows(nested[0], f"{path}{sep}")
    return out


def _unoptional(ann: Any) -> Any:
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if _is_union(ann) and len(args) == 1:
        return args[0]
    return ann


def _is_union(ann: Any) -> bool:
    return typing.get_origin(ann) in (typing.Union, types.UnionType)


def _models(ann: Any) -> list[type[BaseModel]]:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(ann):
        found += [m for m in _models(arg) if m not in found]
    return found


def type_name(ann: Any) -> str:
    """A short, readable type: `int`, `list[str]`, `"rolling" \\| "blue_green"`, `Build`."""
    if ann is type(None):
        return "null"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "object"
    if isinstance(ann, type):
        return ann.__name__
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if _is_union(ann):
        return " \\| ".join(dict.fromkeys(type_name(a) for a in args))
    if origin is list:
        return f"list[{type_name(args[0])}]"
    if origin is dict:
        return f"map[{type_name(args[0])}, {type_name(args[1])}]"
    if ann is Any:
        return "any"
    return str(ann).replace("typing.", "")


def _default(info: Any) -> str:
    if info.is_required():
        return "required"
    value = info.default
    if value is PydanticUndefined and info.default_factory is not None:
        value = info.default_factory()
    if isinstance(value, BaseModel):
        return ""  # a section: its fields carry the defaults
    if value is None:
        return "—"
    return f"`{json.dumps(value)}`"


def markdown() -> str:
    """The config reference table (between the README's markers)."""
    lines = ["| field | type | default | description |", "|---|---|---|---|"]
    for path, kind, default, desc in rows():
        cell = desc.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{path}` | {kind} | {default} | {cell} |")
    return "\n".join(lines) + "\n"


def readme_with_reference(text: str) -> str:
    """`text` (the README) with the block between the markers replaced by markdown()."""
    try:
        head, rest = text.split(START, 1)
        _old, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"README.md lacks the markers {START!r} ... {END!r}") from None
    return f"{head}{START}\n{markdown()}{END}{tail}"


def regenerate(root: Path = ROOT) -> list[Path]:
    """Rewrite the shipped schema file and the README's reference; the files changed."""
    changed = []
    schema_file = root / SCHEMA_FILE.relative_to(ROOT)
    readme = root / README.relative_to(ROOT)
    new_schema = json_text()
    if not schema_file.exists() or schema_file.read_text(encoding="utf-8") != new_schema:
        schema_file.parent.mkdir(parents=True, exist_ok=True)
        schema_file.write_text(new_schema, encoding="utf-8")
        changed.append(schema_file)
    old = readme.read_text(encoding="utf-8")
    new = readme_with_reference(old)
    if new != old:
        readme.write_text(new, encoding="utf-8")
        changed.append(readme)
    return changed
