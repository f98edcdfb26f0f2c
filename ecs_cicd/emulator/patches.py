"""``install()``: make moto answer the tool's calls as AWS does, in-process.

Patches moto's response and backend classes, so the fixes apply both under ``moto.mock_aws``
(unit tests) and in moto's HTTP server (the embedded emulator). Each service's fixes live in
its own module; this one only applies them, once.
"""

from __future__ import annotations

import threading

from ecs_cicd.emulator import (
    codebuild,
    codedeploy,
    codepipeline,
    cwlogs,
    dns,
    ec2,
    ecs,
    elbv2,
    misc,
    scaling,
    webhooks,
)

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Apply every emulator patch to moto. Idempotent and thread-safe."""
    global _installed
    with _lock:
        if _installed:
            return
        for module in (
            misc,
            codepipeline,
            webhooks,
            codebuild,
            codedeploy,
            ecs,
            ec2,
            elbv2,
            scaling,
            dns,
            cwlogs,
        ):
            module.apply()
        _installed = True
