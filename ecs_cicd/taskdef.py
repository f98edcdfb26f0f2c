"""The task definition `up` registers: pure functions of the config (no AWS calls).

One source of truth for container names, ports and images: the buildspec, imagedefinitions.json,
appspec.yaml, taskdef.json and the compose file are all derived from what is built here.
"""

from __future__ import annotations

from typing import Any

from ecs_cicd import names
from ecs_cicd.config import (
    Build,
    Config,
    Container,
)


def log_configuration(
    cfg: Config, region: str, stream_prefix: str, log_group: str | None = None
) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group or names.log_group(cfg),
            "awslogs-region": region,
            "awslogs-stream-prefix": stream_prefix,
        },
    }


def container_to_ecs(
    c: Container,
    cfg: Config,
    region: str,
    image: str | None = None,
    *,
    log_group: str | None = None,
) -> dict[str, Any]:
    """One container definition in RegisterTaskDefinition shape (Container.to_ecs, with the
    image the pipeline deployed and the awslogs configuration)."""
    d = c.to_ecs()
    d["image"] = image or d["image"]
    logs = log_configuration(cfg, region, c.log_stream_prefix or c.name, log_group)
    if c.ecs_definition is not None:
        d.setdefault("logConfiguration", logs)  # the file's own, if it has one
    else:
        d["logConfiguration"] = logs
    return d


def build_task_definition(
    cfg: Config,
    *,
    region: str | None = None,
    account_id: str = "123456789012",
    execution_role_arn: str | None = None,
    task_role_arn: str | None = None,
    images: dict[str, str] | None = None,
    log_group: str | None = None,
) -> dict[str, Any]:
    """RegisterTaskDefinition kwargs for the config.

    `images` overrides container images by name (the images the pipeline deployed, which a
    re-run of `up` keeps); the others use the config's initial images.
    """
    region = region or cfg.region or "us-east-1"
    images = images or {}
    td: dict[str, Any] = {
        "family": names.family(cfg),
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(cfg.task.cpu),
        "memory": str(cfg.task.memory),
        "runtimePlatform": {
            "cpuArchitecture": cfg.task.cpu_architecture,
            "operatingSystemFamily": "LINUX",
        },
        "executionRoleArn": execution_role_arn
        or f"arn:aws:iam::{account_id}:role/{names.role(cfg, 'execution')}",
        "taskRoleArn": task_role_arn or f"arn:aws:iam::{account_id}:role/{names.role(cfg, 'task')}",
        "containerDefinitions": [
            container_to_ecs(c, cfg, region, images.get(c.name), log_group=log_group)
            for c in cfg.container_definitions()
        ],
    }
    volumes = (cfg.definition or {}).get("volumes")
    if volumes:
        td["volumes"] = volumes
    return td


def image_uri(cfg: Config, account_id: str, region: str, container: str, tag: str) -> str:
    return f"{account_id}.dkr.ecr.{region}.amazonaws.com/{names.repository(cfg, container)}:{tag}"


__all__ = [
    "Build",
    "build_task_definition",
    "container_to_ecs",
    "image_uri",
]
