"""Fixtures for the emulator patch tests: fake credentials and in-process moto with the patches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ecs_cicd.emulator import install

REGION = "ap-northeast-1"

Clients = Callable[[str], Any]


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def aws() -> Iterator[Clients]:
    """moto in-process with the emulator's patches; yields a client factory."""
    install()
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        yield lambda name: session.client(name)  # type: ignore[call-overload]
