"""Shared fixtures: fake credentials, in-process moto with the emulator's patches, a config."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.yaml"
TOKEN = "ghp_TESTTOKENdoNotLeak0123456789abcdef"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach AWS: fake credentials, a fixed region, no profile, no endpoint."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    # Loading AWS's ~1,300 managed IAM policies costs seconds per moto backend; the tests that
    # attach one (blue/green's CodeDeploy role) turn it on with the `managed_policies` fixture.
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")


@pytest.fixture
def managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


_MOTO_LOCK = threading.Lock()


@pytest.fixture
def mock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process, with the emulator layer's patches (the APIs moto lacks).

    The engine calls AWS from several threads; moto's in-process backends are not thread-safe
    (its IAM backend iterates dicts other requests change), so requests are served one at a time.
    """
    from moto import mock_aws
    from moto.core.botocore_stubber import BotocoreStubber

    from ecs_cicd.emulator.patches import install

    install()
    real = BotocoreStubber.__call__

    def serialised(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _MOTO_LOCK:
            return real(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", serialised)
    with mock_aws():
        yield


@pytest.fixture
def cfg():  # type: ignore[no-untyped-def]
    from ecs_cicd.config import load_config

    return load_config(EXAMPLE)


TARGET_ACCOUNT = "123456789012"  # moto's account
TARGET_REGION = "ap-northeast-1"


@pytest.fixture
def ctx(mock: None, cfg, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A lifecycle context on in-process moto, with a state file in tmp_path and no sleeping."""
    from ecs_cicd.aws import Aws
    from ecs_cicd.lifecycle import Ctx, Target
    from ecs_cicd.state import State

    aws = Aws(region=TARGET_REGION, sleep=lambda _s: None)
    state = State(tmp_path / "state.json", stack=cfg.stack, region=TARGET_REGION)
    return Ctx(
        aws, state, Target(TARGET_ACCOUNT, TARGET_REGION), stack=cfg.stack, sleep=lambda _s: None
    )
