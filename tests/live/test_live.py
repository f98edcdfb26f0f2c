"""Opt-in: the full cycle against a real AWS account. Skipped unless ECS_CICD_LIVE=1 (and real
credentials: AWS_PROFILE or keys). Uses a unique project name and always tears down.

    ECS_CICD_LIVE=1 AWS_PROFILE=dev GITHUB_TOKEN=... GITHUB_OWNER=me \\
        .venv/bin/python -m pytest -m live tests/live -s
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
import yaml

from tests.conftest import EXAMPLE

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("ECS_CICD_LIVE") != "1",
        reason="live AWS test: set ECS_CICD_LIVE=1 and credentials",
    ),
]


@pytest.fixture(autouse=True)
def aws_env() -> None:  # overrides the fake-credentials fixture of tests/conftest.py
    return None


def test_full_cycle_on_aws() -> None:
    from ecs_cicd import down, load_config, parse_config, plan, up
    from ecs_cicd.aws import Aws
    from ecs_cicd.inventory import inventory, non_empty

    data = yaml.safe_load(EXAMPLE.read_text())
    data["project"] = f"ecscicd-{uuid.uuid4().hex[:6]}"
    data["region"] = os.environ.get("AWS_REGION", data["region"])
    cfg = parse_config(data)
    state = f".ecs_cicd/live-{cfg.project}.json"
    t0 = time.monotonic()
    try:
        result = up(cfg, state_path=state, wait_pipeline=False, log=print)
        print(f"up: {time.monotonic() - t0:.0f}s, {result.calls}")
        assert result.outputs["url"].startswith("http")
        again = plan(cfg, state_path=state)
        assert {o.action for o in again.outcomes} == {"unchanged"}
    finally:
        down(cfg, state_path=state, confirm=lambda _r: True, log=print)
    left = non_empty(inventory(Aws(region=cfg.region), prefix=cfg.project))
    assert left == {}
    _ = load_config
