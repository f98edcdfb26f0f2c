"""`init DIR` and `render`: the files written, the refusal to overwrite, the state file's facts,
and the generated app's own tests passing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecs_cicd.cli import main
from ecs_cicd.config import load_config
from ecs_cicd.render.app import render_app_repository
from ecs_cicd.state import Record, State, default_state_path
from tests.conftest import EXAMPLE

ACCOUNT = "210987654321"
REGION = "ap-northeast-1"


def write_config(tmp_path: Path, **deploy: Any) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["pipeline"]["deploy"].update(deploy)
    path = tmp_path / "ecs_cicd.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def expected_files(config: Path) -> set[str]:
    return set(render_app_repository(load_config(config, check_env=False)))


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_init_writes_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    assert main(["init", str(repo), "-c", str(EXAMPLE)]) == 0
    files = expected_files(EXAMPLE)
    assert tree(repo) == files
    assert {"app.py", "Dockerfile", "nginx/nginx.conf", "buildspec.yml", ".dockerignore"} <= files
    out = capsys.readouterr().out
    for path in files:
        assert str(repo / path) in out
    generated = render_app_repository(load_config(EXAMPLE, check_env=False))
    for path, text in generated.items():
        assert (repo / path).read_text(encoding="utf-8") == text


def test_init_blue_green_adds_taskdef_and_appspec(tmp_path: Path) -> None:
    config = write_config(tmp_path, strategy="blue_green")
    repo = tmp_path / "repo"
    assert main(["init", str(repo), "-c", str(config)]) == 0
    assert {"taskdef.json", "appspec.yaml", "buildspec.yml"} <= tree(repo)
    assert (
        json.loads((repo / "taskdef.json").read_text(encoding="utf-8"))["family"]
        == "test-codepipeline-dev"
    )


def test_init_refuses_to_overwrite_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    (repo / "nginx").mkdir(parents=True)
    (repo / "nginx" / "nginx.conf").write_text("mine\n", encoding="utf-8")
    assert main(["init", str(repo), "-c", str(EXAMPLE)]) == 2
    err = capsys.readouterr().err
    assert str(repo / "nginx" / "nginx.conf") in err and "--force" in err
    assert tree(repo) == {"nginx/nginx.conf"}
    assert (repo / "nginx" / "nginx.conf").read_text(encoding="utf-8") == "mine\n"


def test_init_names_the_first_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    assert main(["init", str(repo), "-c", str(EXAMPLE)]) == 0
    capsys.readouterr()
    assert main(["init", str(repo), "-c", str(EXAMPLE)]) == 2
    err = capsys.readouterr().err
    assert f"error: {repo / 'app.py'} already exists (and " in err


def test_init_force_overwrites(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert main(["init", str(repo), "-c", str(EXAMPLE)]) == 0
    (repo / "app.py").write_text("broken\n", encoding="utf-8")
    (repo / "mine.txt").write_text("kept\n", encoding="utf-8")
    assert main(["init", str(repo), "-c", str(EXAMPLE), "--force"]) == 0
    assert "Flask" in (repo / "app.py").read_text(encoding="utf-8")
    assert (repo / "mine.txt").read_text(encoding="utf-8") == "kept\n"


def test_init_json_output_lists_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    assert main(["init", str(repo), "-c", str(EXAMPLE), "--output", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {Path(p).relative_to(repo).as_posix() for p in doc["written"]} == expected_files(EXAMPLE)


def test_init_with_a_missing_config_is_a_config_error(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path / "repo"), "-c", str(tmp_path / "nope.yaml")]) == 2
    assert not (tmp_path / "repo").exists()


def test_the_generated_app_tests_pass(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert main(["init", str(repo), "-c", str(EXAMPLE)]) == 0
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=repo,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout


# --- render --------------------------------------------------------------------------------------
def fake_state(path: Path) -> State:
    state = State(path, stack="test-codepipeline-dev", region=REGION, account=ACCOUNT)
    state.put(
        Record("role.execution", "iam_role", "exec", arn=f"arn:aws:iam::{ACCOUNT}:role/real-exec")
    )
    state.put(Record("role.task", "iam_role", "task", arn=f"arn:aws:iam::{ACCOUNT}:role/real-task"))
    for name in ("nginx", "app"):
        uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/test-codepipeline-dev/{name}"
        state.put(Record(f"ecr.{name}", "ecr_repository", name, outputs={"uri": uri}))
    return state


def test_render_without_state_writes_placeholders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["render", "-c", str(EXAMPLE)]) == 0
    assert tree(tmp_path) == {"buildspec.yml", "taskdef.json", "imagedefinitions.json"}
    defs = json.loads((tmp_path / "imagedefinitions.json").read_text(encoding="utf-8"))
    assert defs[0]["imageUri"].startswith("<AWS_ACCOUNT_ID>.dkr.ecr.ap-northeast-1.amazonaws.com/")
    assert "no state file" in capsys.readouterr().out


def test_render_reads_the_default_state_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, strategy="blue_green")
    fake_state(default_state_path("test-codepipeline", "dev", REGION))
    out = tmp_path / "out"
    assert main(["render", "-c", str(config), "-o", str(out)]) == 0
    assert tree(out) == {"buildspec.yml", "taskdef.json", "appspec.yaml", "imageDetail.json"}
    td = json.loads((out / "taskdef.json").read_text(encoding="utf-8"))
    assert td["executionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/real-exec"
    assert td["taskRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/real-task"
    images = {c["name"]: c["image"] for c in td["containerDefinitions"]}
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    assert images == {
        "nginx": f"{registry}/test-codepipeline-dev/nginx:<IMAGE_TAG>",
        "app": "<IMAGE1_NAME>",
    }
    detail = json.loads((out / "imageDetail.json").read_text(encoding="utf-8"))
    assert detail == {
        "ImageURI": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/test-codepipeline-dev/app:latest"
    }


def test_render_with_explicit_state_and_json_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = fake_state(tmp_path / "s.json")
    out = tmp_path / "out"
    argv = [
        "render",
        "-c",
        str(EXAMPLE),
        "--state",
        str(state.path),
        "-o",
        str(out),
        "--output",
        "json",
    ]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["state"] == str(state.path)
    defs = json.loads((out / "imagedefinitions.json").read_text(encoding="utf-8"))
    assert defs[1] == {
        "name": "app",
        "imageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/test-codepipeline-dev/app:latest",
    }


def test_render_with_a_missing_explicit_state_file_is_a_usage_error(tmp_path: Path) -> None:
    argv = [
        "render",
        "-c",
        str(EXAMPLE),
        "--state",
        str(tmp_path / "none.json"),
        "-o",
        str(tmp_path),
    ]
    assert main(argv) == 2
    assert tree(tmp_path) == set()


def test_render_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "taskdef.json").write_text("{}\n", encoding="utf-8")
    assert main(["render", "-c", str(EXAMPLE), "-o", str(tmp_path)]) == 2
    assert tree(tmp_path) == {"taskdef.json"}
    assert main(["render", "-c", str(EXAMPLE), "-o", str(tmp_path), "--force"]) == 0
    assert json.loads((tmp_path / "taskdef.json").read_text(encoding="utf-8"))["family"]
