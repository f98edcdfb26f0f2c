"""End-to-end fixtures: the emulator's HTTP server on 127.0.0.1, and the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, TOKEN


@dataclass
class Cli:
    endpoint: str
    workdir: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            GITHUB_TOKEN=TOKEN,
            PYTHONPATH=str(ROOT),
        )
        env.update(extra)
        return env

    def run(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "ecs_cicd", *args],
            cwd=self.workdir,
            env=env or self.env(),
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"`{' '.join(args)}` exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def aws(self) -> Any:
        from ecs_cicd.aws import Aws

        return Aws(region="ap-northeast-1", endpoint_url=self.endpoint)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from ecs_cicd.emulator import EmulatorServer

    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    # The tests read the call log and arm faults and the crash hook: switch the control plane on.
    with EmulatorServer(control=True) as server:
        yield server


@pytest.fixture
def cli(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    # Every test starts from an empty account: moto's backends are process-wide, and a pytest
    # worker runs other modules' tests (and in-process mock_aws tests) in the same process.
    import urllib.request

    from ecs_cicd.emulator.client import reset_calls

    reset = urllib.request.Request(
        f"{emulator.endpoint_url}/moto-api/reset", data=b"", method="POST"
    )
    urllib.request.urlopen(reset, timeout=30).read()
    reset_calls(emulator.endpoint_url)
    # In-process clients of the tests talk to the same emulator.
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    (tmp_path / "ecs_cicd.yaml").write_text((ROOT / "config.example.yaml").read_text())
    return Cli(emulator.endpoint_url, tmp_path)
