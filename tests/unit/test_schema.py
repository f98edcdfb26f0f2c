"""The config's JSON Schema and the README's config reference: generated from the models, with
a description for every field, and never stale."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from ecs_cicd import schema
from ecs_cicd.cli import main
from tests.conftest import EXAMPLE

STALE = f"stale: run `{schema.REGENERATE}` (or `python -m ecs_cicd schema > schema/ecs_cicd.schema.json` and paste `python -m ecs_cicd schema --markdown` between the README's config-reference markers)"


def test_every_field_has_a_description() -> None:
    missing = [path for path, _t, _d, desc in schema.rows() if not desc.strip()]
    assert missing == [], f"add a docstring after each of these fields in config.py: {missing}"


def test_the_shipped_schema_file_is_current() -> None:
    assert schema.SCHEMA_FILE.read_text(encoding="utf-8") == schema.json_text(), STALE


def test_the_readme_config_reference_is_current() -> None:
    text = schema.README.read_text(encoding="utf-8")
    assert schema.START in text and schema.END in text
    assert schema.readme_with_reference(text) == text, STALE


def test_the_example_names_the_shipped_schema() -> None:
    first = EXAMPLE.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=./schema/ecs_cicd.schema.json"
    assert (EXAMPLE.parent / "schema" / "ecs_cicd.schema.json").exists()


def test_the_schema_accepts_the_example_and_refuses_what_load_refuses() -> None:
    doc = json.loads(schema.SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(doc)
    validator = jsonschema.Draft202012Validator(doc)
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert list(validator.iter_errors(data)) == []
    assert "base_dir" not in json.dumps(doc) and "ecs_definition" not in json.dumps(doc)
    typo = {**data, "servce": {"desired_count": 2}}
    assert any("servce" in e.message for e in validator.iter_errors(typo))
    bad = {**data, "pipeline": {**data["pipeline"], "deploy": {"strategy": "canary"}}}
    assert list(validator.iter_errors(bad)) != []


def test_regenerate_rewrites_a_stale_reference(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(f"intro\n{schema.START}\nold table\n{schema.END}\noutro\n")
    changed = schema.regenerate(tmp_path)
    assert {p.name for p in changed} == {"README.md", "ecs_cicd.schema.json"}
    text = (tmp_path / "README.md").read_text()
    assert "old table" not in text and "| `task.cpu` | int | `256` |" in text
    assert text.startswith("intro\n") and text.endswith(f"{schema.END}\noutro\n")
    assert schema.regenerate(tmp_path) == []


def test_schema_verb(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == schema.schema()
    assert main(["schema", "--markdown"]) == 0
    assert capsys.readouterr().out == schema.markdown()
