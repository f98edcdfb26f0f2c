"""The CLI contract: --emulator, AWS_REGION, the emulator verb, usage errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import boto3
import pytest
import yaml

from tests.conftest import EXAMPLE
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e


def test_embedded_emulator_for_one_command(cli: Cli) -> None:
    env = cli.env()
    del env["AWS_ENDPOINT_URL"]
    proc = cli.run("--emulator", "--output", "json", "up", env=env)  # options before the verb
    result = json.loads(proc.stdout)
    assert {r["action"] for r in result["resources"]} == {"create"}
    assert "embedded emulator on http://127.0.0.1:" in proc.stderr
    # Its state is kept apart from a real stack's (beside the config file).
    emulated = cli.workdir / ".ecs_cicd" / "emulator" / "test-codepipeline-dev-ap-northeast-1.json"
    assert (cli.workdir / result["state_path"]).resolve() == emulated.resolve()
    assert emulated.exists()
    assert not (cli.workdir / ".ecs_cicd" / "test-codepipeline-dev-ap-northeast-1.json").exists()


def test_aws_region_is_honoured(cli: Cli) -> None:
    d = yaml.safe_load(EXAMPLE.read_text())
    del d["region"]
    (cli.workdir / "ecs_cicd.yaml").write_text(yaml.safe_dump(d))
    env = cli.env(AWS_REGION="eu-west-1")
    env.pop("AWS_DEFAULT_REGION", None)
    result = json.loads(cli.run("plan", "--output", "json", env=env).stdout)
    assert result["state_path"].endswith("test-codepipeline-dev-eu-west-1.json")
    assert any(r["id"] == "vpc" for r in result["resources"])


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli.run("frobnicate", check=False).returncode == 2
    assert cli.run("up", "--output", "yaml", check=False).returncode == 2
    proc = cli.run("up", "-c", "missing.yaml", check=False)
    assert proc.returncode == 2 and "not found" in proc.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_emulator_verb_serves_on_loopback(cli: Cli) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ecs_cicd", "emulator", "--port", str(port)],
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # Its start line is followed by the export lines that point a shell at it.
        assert server.stdout is not None
        lines = [server.stdout.readline().strip() for _ in range(6)]
        exports = dict(
            item.split("=", 1)
            for line in lines
            if line.startswith("export ")
            for item in line.split("#")[0].split()[1:]
        )
        assert exports["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        sts = boto3.client(
            "sts",
            endpoint_url=exports["AWS_ENDPOINT_URL"],
            region_name=exports["AWS_REGION"],
            aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        )
        for _ in range(100):
            try:
                assert sts.get_caller_identity()["Account"] == "123456789012"
                break
            except Exception:
                time.sleep(0.1)
        else:
            pytest.fail("the emulator did not answer")
    finally:
        server.terminate()
        server.wait(timeout=10)
