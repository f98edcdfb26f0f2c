"""The newcomer's frictions, in-process: options before the verb, the verb's own usage, --help
descriptions, --version, --yes only where something is deleted, JSON errors, the missing
emulator extra, shell completion, the emulator's port and export lines, anchored state paths,
the lazy GitHub token, outputs, and what plan shows."""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from ecs_cicd import ConfigError, load_config, outputs, plan, status, up
from ecs_cicd.cli import EMULATOR_PORT, build_parser, chosen_parser, main, parse
from ecs_cicd.completion import script
from ecs_cicd.emulator.server import DEFAULT_PORT, export_lines
from ecs_cicd.ops import runtime
from ecs_cicd.resources.taskdef import differences
from tests.conftest import EXAMPLE, TOKEN


def no_sleep(_s: float) -> None:
    return None


# --- parsing ---------------------------------------------------------------------------------
def test_common_options_before_or_after_the_verb() -> None:
    args = parse(["-c", "x.yaml", "--output", "json", "-v", "plan", "--max-workers", "2"])
    assert (args.verb, args.config, args.output, args.verbose, args.max_workers) == (
        "plan",
        "x.yaml",
        "json",
        True,
        2,
    )
    assert parse(["plan", "-c", "y.yaml"]).config == "y.yaml"
    assert parse(["-c", "x.yaml", "plan", "-c", "y.yaml"]).config == "y.yaml"  # the later one
    assert parse(["--region", "eu-west-1", "state", "recover"]).region == "eu-west-1"
    defaults = parse(["status"])
    assert (defaults.config, defaults.output, defaults.verbose) == ("ecs_cicd.yaml", "text", False)


def test_an_unknown_option_gets_the_verbs_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m ecs_cicd plan ")
    assert "python -m ecs_cicd plan: error: unrecognized arguments: --bogus" in err
    assert main(["state", "recover", "--bogus"]) == 2
    assert "usage: python -m ecs_cicd state recover " in capsys.readouterr().err


def test_every_verb_has_a_description() -> None:
    def walk(p: argparse.ArgumentParser, path: str) -> list[str]:
        missing = [] if p.description else [path]
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    missing += walk(child, f"{path} {name}")
        return missing

    assert walk(build_parser(), "python -m ecs_cicd") == []


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"python -m ecs_cicd {version('ecs_cicd')}"


def test_validate_notes_a_missing_token_without_failing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    assert main(["-c", str(EXAMPLE), "validate", "--output", "json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert len(notes) == 1 and notes[0].startswith("GITHUB_TOKEN is not set: `up` needs it")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert main(["-c", str(EXAMPLE), "validate"]) == 0
    assert "note:" not in capsys.readouterr().out


def test_yes_only_on_down() -> None:
    assert parse(["down", "--yes"]).yes is True
    for verb in ("up", "plan", "status", "outputs", "validate"):
        assert main([verb, "--yes"]) == 2, verb


def test_chosen_parser_follows_nested_verbs() -> None:
    parser = build_parser()
    assert chosen_parser(parser, parse(["state", "recover"])).prog.endswith("state recover")
    assert chosen_parser(parser, parse(["up"])).prog.endswith(" up")


# --- errors in --output json -----------------------------------------------------------------
def test_json_errors_on_stdout_keep_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.yaml")
    assert main(["--output", "json", "validate", "-c", missing]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "ConfigError" and "not found" in error["message"]
    assert error["exit_code"] == 2 and "copy config.example.yaml" in error["hint"]

    data = yaml.safe_load(EXAMPLE.read_text())
    data["task"]["memory"] = 300
    data["service"]["desired_count"] = -1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["validate", "-c", str(bad), "--output=json"]) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert error["type"] == "ConfigErrors"
    assert {p["field"] for p in error["problems"]} == {"task", "service.desired_count"}
    assert "error: service.desired_count" in captured.err  # the human lines stay on stderr

    assert main(["plan", "--output", "json", "--bogus"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == {
        "type": "UsageError",
        "message": "unrecognized arguments: --bogus",
        "exit_code": 2,
    }


def test_missing_emulator_extra_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "moto" else real(name, *a)
    )
    for module in [m for m in sys.modules if m.startswith("ecs_cicd.emulator")]:
        monkeypatch.delitem(sys.modules, module)
    assert main(["emulator"]) == 2
    assert "pip install 'ecs_cicd[emulator]'" in capsys.readouterr().err


# --- completion ------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_walks_the_parser() -> None:
    cases = {
        "ecs-cicd st": "status state",
        "ecs-cicd state ": "recover",
        "ecs-cicd -c x.yaml u": "up",
        "ecs-cicd up --out": "--output",
        "ecs-cicd --output ": "text json",
        "ecs-cicd down --y": "--yes",
        "ecs-cicd plan --y": "",
        "ecs-cicd completion ": "bash zsh",
    }
    probe = "\n".join(
        f"COMP_WORDS=({' '.join(repr(w) for w in line.split(' '))}); "
        'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _ecs_cicd; echo "${COMPREPLY[*]}"'
        for line in cases
    )
    done = subprocess.run(
        ["bash", "-c", script(build_parser(), "bash") + probe],
        capture_output=True,
        text=True,
        check=True,
    )
    assert dict(zip(cases, done.stdout.splitlines(), strict=True)) == cases
    zsh = script(build_parser(), "zsh")
    assert zsh.startswith("autoload -U +X bashcompinit && bashcompinit\n")


def test_completion_verb_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    assert "complete -o default -F _ecs_cicd ecs-cicd" in capsys.readouterr().out


# --- the emulator ----------------------------------------------------------------------------
def test_emulator_port_is_not_the_apps() -> None:
    assert EMULATOR_PORT == DEFAULT_PORT != 5000
    assert parse(["emulator"]).port == DEFAULT_PORT
    app_ports = {
        pm["container_port"]
        for c in yaml.safe_load(EXAMPLE.read_text())["task"]["containers"]
        for pm in c.get("port_mappings", [])
    }
    assert DEFAULT_PORT not in app_ports


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_export_lines_point_a_shell_at_the_emulator() -> None:
    lines = export_lines("http://127.0.0.1:4455").splitlines()
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:4455" in lines
    assert "export AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator" in lines
    assert any(line.startswith("export AWS_REGION=") for line in lines)
    # Pasted into a shell, they set what botocore reads.
    env = subprocess.run(
        ["bash", "-c", "\n".join(lines) + "\nenv"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:4455" in env and "AWS_ACCESS_KEY_ID=emulator" in env


# --- state path ------------------------------------------------------------------------------
def test_default_state_path_is_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(EXAMPLE, project / "ecs_cicd.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(project / "ecs_cicd.yaml")
    path = runtime(cfg).state_path
    assert path == project / ".ecs_cicd" / "test-codepipeline-dev-ap-northeast-1.json"


# --- library API: the token, outputs, plan ---------------------------------------------------
def test_token_only_when_up_creates_or_changes_the_pipeline(
    mock: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    cfg = load_config(EXAMPLE)  # no token needed to load
    state = tmp_path / "s.json"
    session = boto3.Session(region_name="ap-northeast-1")
    assert plan(cfg, session=session, state_path=state).calls["mutating"] == 0
    with pytest.raises(ConfigError, match="GITHUB_TOKEN is not set") as e:
        up(cfg, session=session, state_path=state, wait=False, sleep=no_sleep)
    assert e.value.exit_code == 2
    assert not state.exists()  # refused before the first change

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    up(cfg, session=session, state_path=state, wait=False, sleep=no_sleep)
    monkeypatch.delenv("GITHUB_TOKEN")
    common: dict[str, Any] = {"session": session, "state_path": state}
    assert status(cfg, **common).command == "status"
    out = outputs(cfg, **common)
    assert out.command == "outputs" and out.outputs["service"] == "test-codepipeline-dev"
    assert out.calls["total"] == 0 and out.state_path == str(state)
    # A change that leaves the pipeline alone needs no token either; the plan shows the new
    # revision the service moves to, and every environment variable in full.
    data = yaml.safe_load(EXAMPLE.read_text())
    data["task"]["containers"][1]["environment"] = {"FLASK_ENV": "staging", "LONG": "x" * 200}
    changed = load_config_from(tmp_path, data)
    planned = {o.logical_id: o for o in plan(changed, **common).outcomes}
    assert planned["taskdef"].changes == [
        "container app.environment FLASK_ENV: 'production' -> 'staging'",
        f"container app.environment LONG: added {'x' * 200!r}",
    ]
    svc = planned["service"]
    assert svc.action == "update"
    assert svc.changes[0].startswith(
        "taskDefinition: test-codepipeline-dev:1 -> test-codepipeline-dev:2 "
    )
    assert not [o for o in planned.values() if o.after]
    done = up(changed, session=session, state_path=state, wait=False, sleep=no_sleep)
    assert {o.logical_id for o in done.changed} == {"taskdef", "service"}


def load_config_from(folder: Path, data: dict[str, Any]) -> Any:
    path = folder / "changed.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def test_plan_says_once_what_it_could_not_look_up(mock: None, tmp_path: Path) -> None:
    from ecs_cicd.ui import format_result

    result = plan(load_config(EXAMPLE), state_path=tmp_path / "s.json")
    after = {o.logical_id: o.after for o in result.outcomes if o.after}
    assert after["subnet.public.0"] == "vpc" and after["listener.http"] == "alb"
    text = format_result(result)
    assert "after vpc" not in text and text.count("not looked up") == 1
    assert all(not any(c.startswith("after ") for c in o.changes) for o in result.outcomes)
    assert result.to_dict()["resources"][1]["after"] == "vpc"


def test_secrets_changes_show_names_only() -> None:
    def td(env: dict[str, str], secrets: dict[str, str]) -> dict[str, Any]:
        c = {
            "name": "app",
            "environment": [{"name": k, "value": v} for k, v in env.items()],
            "secrets": [{"name": k, "valueFrom": v} for k, v in secrets.items()],
        }
        return {"containerDefinitions": [c]}

    arn = "arn:aws:ssm:ap-northeast-1:123456789012:parameter/"
    have = td({"A": "1", "GONE": "x"}, {"DB": arn + "old", "OLD": arn + "o"})
    want = td({"A": "2", "NEW": "n"}, {"DB": arn + "new", "API": arn + "api"})
    got = [str(d) for d in differences(want, have)]
    assert got == [
        "container app.environment A: '1' -> '2'",
        "container app.environment GONE: removed",
        "container app.environment NEW: added 'n'",
        "container app.secrets API: added",
        "container app.secrets DB: source changed",
        "container app.secrets OLD: removed",
    ]
    assert not any("parameter/" in line for line in got)


def test_outputs_of_a_blue_green_stack() -> None:
    from ecs_cicd.ops import stack_outputs
    from ecs_cicd.state import Record, State

    data = yaml.safe_load(EXAMPLE.read_text())
    data["pipeline"]["deploy"] = {
        "strategy": "blue_green",
        "blue_green": {"test_listener_port": 8080},
    }
    from ecs_cicd import parse_config

    cfg = parse_config(data)
    state = State(Path("unused.json"), stack=cfg.stack, region="ap-northeast-1", persist=False)
    for lid, kind, pid, outs in (
        ("alb", "load_balancer", "x", {"dns_name": "lb.example"}),
        ("listener.test", "listener", "arn:l", {}),
        ("codedeploy.app", "codedeploy_application", "test-codepipeline-dev", {}),
        ("codedeploy.group", "deployment_group", "test-codepipeline-dev-dg", {}),
    ):
        state.records[lid] = Record(lid, kind, pid, outputs=outs)
    out = stack_outputs(cfg, state)
    assert out["test_listener_port"] == 8080 and out["test_url"] == "http://lb.example:8080"
    assert out["codedeploy_application"] == "test-codepipeline-dev"
    assert out["codedeploy_deployment_group"] == "test-codepipeline-dev-dg"
