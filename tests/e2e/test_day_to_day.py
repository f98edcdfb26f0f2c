"""Day to day through the CLI on the emulator: deploy (success and a failing build),
deploy --image, rollback, logs (--container, --filter, --build, json), the status table.
One `up` per test (in a subprocess, as are the failing deploy's exit code); the other verbs run
the same `main()` in-process against the emulator's HTTP server, which saves a Python start-up
per verb."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from ecs_cicd.cli import main
from ecs_cicd.emulator.client import fail_pipeline, mutating_calls, reset_calls
from tests.conftest import EXAMPLE
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e
STACK = "test-codepipeline-dev"
REGION = "ap-northeast-1"
BUILD_ERROR = (
    "Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, "
    "Message: Error while executing command: docker build. Reason: exit status 1"
)


class Run:
    """`main(argv)` in the test's process, from the config's folder: (stdout, stderr)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str, code: int = 0) -> Any:
        self.capsys.readouterr()
        rc = main(list(args))
        out = self.capsys.readouterr()
        assert rc == code, f"`{' '.join(args)}` exited {rc}\n{out.out}\n{out.err}"
        return out


@pytest.fixture
def run(cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.chdir(cli.workdir)
    return Run(capsys)


def service(cli: Cli) -> dict[str, Any]:
    ecs = cli.aws().client("ecs")
    return dict(ecs.describe_services(cluster=STACK, services=[STACK])["services"][0])


def taskdef(cli: Cli, arn: str) -> dict[str, Any]:
    return dict(
        cli.aws().client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    )


def plan_actions(run: Run) -> set[str]:
    plan = json.loads(run("plan", "--output", "json").out)
    return {r["action"] for r in plan["resources"]}


def test_deploy_logs_status_rolling(cli: Cli, run: Run) -> None:
    cli.run("up")

    # deploy --wait: every stage and action, the build's phases, the service, console links.
    ok = run("deploy", "--wait")
    err = ok.err
    for line in (
        "  Source / Source: Succeeded",
        "  Build / Build: Succeeded",
        "  Deploy / Deploy: Succeeded",
    ):
        assert line in err, err
    assert "phases: " in err and "BUILD SUCCEEDED" in err
    assert (
        f"https://{REGION}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{STACK}/executions/"
        in err
    )
    # The Deploy action rolled the service to a revision with the build's images.
    assert re.search(
        rf"service {STACK}: deployment ecs-svc/\S+ PRIMARY COMPLETED revision {STACK}:2 ", err
    ), err
    assert re.search(r"^status: Succeeded$", ok.out, re.M), ok.out

    # A failing build: exit 1 with the action's message, the failed phase and the log's tail.
    fail_pipeline(cli.endpoint, "Build", BUILD_ERROR)
    failed = cli.run("deploy", "--wait", check=False)
    assert failed.returncode == 1, failed.stderr
    assert f"Failed at Build / Build: {BUILD_ERROR}" in failed.stderr
    assert "phase BUILD FAILED (COMMAND_EXECUTION_ERROR" in failed.stderr
    assert "| [Container] Phase complete: BUILD State: FAILED" in failed.stderr
    assert "codesuite/codebuild/123456789012/projects/" in failed.stderr  # the build's link

    # logs --build: the latest build is the failed one, its whole log.
    build = run("logs", "--build").out.splitlines()
    assert build[0].startswith(f"build {STACK}-build:") and " FAILED " in build[0]
    assert "[Container] Entering phase INSTALL" in build
    assert "[Container] Phase complete: BUILD State: FAILED" in build

    # logs: both containers of the running task, interleaved, prefixed with container and task.
    reset_calls(cli.endpoint)
    lines = run("logs", "--since", "1h").out.splitlines()
    assert mutating_calls(cli.endpoint) == []  # reading logs changes nothing
    pattern = re.compile(r"^\d\d:\d\d:\d\d (nginx|app)\s+([0-9a-f]{8}) \| (.*)$")
    parsed = [pattern.match(line) for line in lines]
    assert all(parsed), lines
    assert {m.group(1) for m in parsed if m} == {"nginx", "app"}
    assert any('"GET /health HTTP/1.1" 200' in line for line in lines)
    app_only = run("logs", "--container", "app").out.splitlines()
    assert app_only and all(re.match(r"^\S+ app ", line) for line in app_only), app_only
    # (--container app: the example's nginx starts as a stand-in server too, with its own line.)
    filtered = run("logs", "--container", "app", "--filter", "Running on").out.splitlines()
    # The task `up` started and the one the pipeline's deployment started: one line each.
    assert len(filtered) == 2, filtered
    assert all(line.endswith("|  * Running on http://0.0.0.0:5000") for line in filtered)
    assert len({line.split()[2] for line in filtered}) == 2
    as_json = json.loads(run("logs", "--container", "nginx", "--output", "json").out)
    assert as_json["details"]["containers"] == ["nginx"]
    assert {e["container"] for e in as_json["details"]["events"]} == {"nginx"}
    unknown = run("logs", "--container", "worker", code=2)
    assert "containers are: nginx, app" in unknown.err

    # status: the table, and the same data in JSON.
    text = run("status").out
    assert "URL: http://" in text
    assert re.search(r"^RESOURCE\s+STATE\s+ID\s+DETAIL$", text, re.M)
    assert re.search(r"^service\s+ok\s+" + STACK, text, re.M)
    assert re.search(r"^  PRIMARY\s+" + STACK + r":2\s+COMPLETED\s+1/1\s", text, re.M), text
    assert "  last events:" in text
    assert re.search(r"^  Failed\s+StartPipelineExecution\s", text, re.M), text
    assert re.search(r"^  Succeeded\s+StartPipelineExecution\s", text, re.M)
    assert re.search(r"^  Succeeded\s+CreatePipeline\s", text, re.M)
    data = json.loads(run("status", "--output", "json").out)["details"]
    assert [e["status"] for e in data["pipeline_executions"]] == [
        "Failed",
        "Succeeded",
        "Succeeded",
    ]
    assert data["deployments"][0]["rolloutState"] == "COMPLETED"
    assert len(data["service_events"]) <= 5 and data["service_events"]


def test_deploy_image_and_rollback_rolling(cli: Cli, run: Run) -> None:
    cli.run("up")
    first = service(cli)["taskDefinition"]

    hot = run("deploy", "--image", "app=registry.example/app:hotfix", "--output", "json")
    result = json.loads(hot.out)["details"]
    assert result["container"] == "app" and result["previous_task_definition"] == first
    svc = service(cli)
    assert svc["taskDefinition"] == result["task_definition"] != first
    images = {
        c["name"]: c["image"] for c in taskdef(cli, svc["taskDefinition"])["containerDefinitions"]
    }
    assert images["app"] == "registry.example/app:hotfix"
    assert images["nginx"] == taskdef(cli, first)["containerDefinitions"][0]["image"]
    assert svc["deployments"][0]["rolloutState"] == "COMPLETED"
    # `up` does not fight the hot fix: the pipeline builds `app`, so its image is kept.
    reset_calls(cli.endpoint)
    run("up")
    assert mutating_calls(cli.endpoint) == []

    # rollback: back to the revision before, the hot fix's revision deregistered.
    back = run("rollback")
    assert f"{STACK}:2 -> {STACK}:1" in back.err
    assert service(cli)["taskDefinition"] == first
    assert taskdef(cli, result["task_definition"])["status"] == "INACTIVE"
    assert plan_actions(run) == {"unchanged"}  # `up` keeps the service where rollback put it
    nothing = run("rollback", code=1)
    assert "no ACTIVE revision" in nothing.err


def test_deploy_image_and_rollback_blue_green(cli: Cli, run: Run) -> None:
    d = yaml.safe_load(EXAMPLE.read_text())
    d["pipeline"]["deploy"] = {
        "strategy": "blue_green",
        "blue_green": {"test_listener_port": 8080, "termination_wait_minutes": 0},
    }
    (cli.workdir / "ecs_cicd.yaml").write_text(yaml.safe_dump(d))
    cli.run("up")
    codedeploy = cli.aws().client("codedeploy")

    def latest() -> dict[str, Any]:
        ids = codedeploy.list_deployments(applicationName=STACK, deploymentGroupName=STACK)[
            "deployments"
        ]
        infos = codedeploy.batch_get_deployments(deploymentIds=ids)["deploymentsInfo"]
        return dict(max(infos, key=lambda i: i["createTime"]))

    hot = json.loads(run("deploy", "--image", "registry.example/app:v2", "--output", "json").out)
    details = hot["details"]
    info = latest()
    assert info["deploymentId"] == details["codedeploy_deployment"]
    assert info["status"] == "Succeeded"
    assert details["task_definition"] in info["revision"]["appSpecContent"]["content"]
    assert service(cli)["taskDefinition"] == details["task_definition"]
    assert plan_actions(run) == {"unchanged"}

    run("rollback")
    assert service(cli)["taskDefinition"].endswith(f"{STACK}:1")
    assert f"{STACK}:1" in latest()["revision"]["appSpecContent"]["content"]
    assert plan_actions(run) == {"unchanged"}
    status = run("status").out
    assert re.search(r"^codedeploy: deployment \S+ Succeeded .*" + STACK + ":1$", status, re.M), (
        status
    )
