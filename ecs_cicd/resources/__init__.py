"""One module per resource kind: its desired-state model, the pure function that builds it from
the config, and its verbs (a `Kind`). `kinds()` maps a kind's name (as recorded in the state file)
to its verbs."""

from __future__ import annotations

from typing import Any

from ecs_cicd.lifecycle import Kind


def kinds() -> dict[str, Kind[Any]]:
    from ecs_cicd.resources import (
        alarms,
        artifacts,
        cluster,
        codebuild,
        codedeploy,
        codepipeline,
        dns,
        ecr,
        iam,
        loadbalancer,
        logs,
        network,
        scaling,
        security,
        service,
        taskdef,
    )

    modules = (
        network,
        security,
        loadbalancer,
        ecr,
        logs,
        artifacts,
        iam,
        cluster,
        taskdef,
        alarms,
        service,
        scaling,
        codedeploy,
        codebuild,
        codepipeline,
        dns,
    )
    return {k.kind: k for m in modules for k in m.KINDS}
