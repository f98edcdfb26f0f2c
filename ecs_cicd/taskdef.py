"""The task definition `up` registers: pure functions of the config (no AWS calls).

One source of truth for container names, ports and images: the buildspec, imagedefinitions.json,
appspec.yaml, taskdef.json and the compose file are all derived from what is built here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecs_cicd import names
from ecs_cicd.config import (
    Build,
    Config,
    Container,
    ContainerHealthCheck,
    DependsOn,
    PortMapping,
)
from ecs_cicd.errors import ConfigError

# Keys `up` owns at task level; a full task definition file may not set them differently.
TASK_LEVEL_KEYS = ("family", "cpu", "memory", "networkMode", "executionRoleArn", "taskRoleArn")


def log_configuration(cfg: Config, region: str, stream_prefix: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": names.log_group(cfg),
            "awslogs-region": region,
            "awslogs-stream-prefix": stream_prefix,
        },
    }


def container_to_ecs(
    c: Container, cfg: Config, region: str, image: str | None = None
) -> dict[str, Any]:
    """One container definition in RegisterTaskDefinition shape."""
    if c.ecs_definition is not None:
        passed = dict(c.ecs_definition)
        passed["image"] = image or passed["image"]
        passed.setdefault(
            "logConfiguration", log_configuration(cfg, region, c.log_stream_prefix or c.name)
        )
        return passed
    d: dict[str, Any] = {"name": c.name, "image": image or c.image, "essential": c.essential}
    if c.port_mappings:
        d["portMappings"] = [
            {
                "containerPort": p.container_port,
                "hostPort": p.container_port,
                "protocol": p.protocol,
            }
            for p in c.port_mappings
        ]
    if c.depends_on:
        d["dependsOn"] = [
            {"containerName": x.container, "condition": x.condition} for x in c.depends_on
        ]
    if c.health_check:
        h = c.health_check
        d["healthCheck"] = {
            "command": list(h.command),
            "interval": h.interval,
            "timeout": h.timeout,
            "retries": h.retries,
            "startPeriod": h.start_period,
        }
    if c.environment:
        d["environment"] = [{"name": k, "value": v} for k, v in sorted(c.environment.items())]
    if c.secrets:
        d["secrets"] = [{"name": k, "valueFrom": v} for k, v in sorted(c.secrets.items())]
    optional = {
        "command": c.command,
        "entryPoint": c.entry_point,
        "workingDirectory": c.working_directory,
        "user": c.user,
        "cpu": c.cpu,
        "memory": c.memory,
        "memoryReservation": c.memory_reservation,
        "stopTimeout": c.stop_timeout,
        "startTimeout": c.start_timeout,
        "readonlyRootFilesystem": c.readonly_root_filesystem,
    }
    d.update({k: v for k, v in optional.items() if v is not None})
    d["logConfiguration"] = log_configuration(cfg, region, c.log_stream_prefix or c.name)
    return d


def build_task_definition(
    cfg: Config,
    *,
    region: str | None = None,
    account_id: str = "123456789012",
    execution_role_arn: str | None = None,
    task_role_arn: str | None = None,
    images: dict[str, str] | None = None,
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
            container_to_ecs(c, cfg, region, images.get(c.name))
            for c in cfg.container_definitions()
        ],
    }
    if cfg.task.definition_file is not None:
        from ecs_cicd.taskdef_file import load_task_definition_file

        volumes = load_task_definition_file(Path(cfg.base_dir) / cfg.task.definition_file).get(
            "volumes"
        )
        if volumes:
            td["volumes"] = volumes
    return td


def containers_from_file(cfg: Config) -> list[Container]:
    """Containers from task.definition_file (either JSON shape), as config models.

    The original container definition is kept (ecs_definition) so fields the config does not
    model (ulimits, linuxParameters, ...) pass through to RegisterTaskDefinition unchanged.
    """
    from ecs_cicd.taskdef_file import load_task_definition_file

    assert cfg.task.definition_file is not None
    path = Path(cfg.base_dir) / cfg.task.definition_file
    td = load_task_definition_file(path)
    for key in TASK_LEVEL_KEYS:
        if key in td and key not in ("family", "networkMode", "executionRoleArn", "taskRoleArn"):
            want = str(getattr(cfg.task, key))
            if str(td[key]) != want:
                raise ConfigError(
                    f"{path.name} sets {key}={td[key]!r} but task.{key} is {want!r}",
                    field="task.definition_file",
                    hint=f"remove {key} from the file or make task.{key} match",
                )
    if td.get("networkMode", "awsvpc") != "awsvpc":
        raise ConfigError(
            f"{path.name} sets networkMode {td['networkMode']!r}; Fargate requires awsvpc",
            field="task.definition_file",
        )
    out = []
    for i, d in enumerate(td["containerDefinitions"]):
        where = f"task.definition_file ({path.name}: $.containerDefinitions[{i}])"
        hc = d.get("healthCheck")
        try:
            out.append(
                Container(
                    name=d["name"],
                    image=d["image"],
                    build=cfg.task.builds.get(d["name"]),
                    essential=d.get("essential", True),
                    port_mappings=[
                        PortMapping(
                            container_port=p["containerPort"],
                            host_port=p.get("hostPort"),
                            protocol=p.get("protocol", "tcp"),
                        )
                        for p in d.get("portMappings", [])
                    ],
                    depends_on=[
                        DependsOn(container=x["containerName"], condition=x["condition"])
                        for x in d.get("dependsOn", [])
                    ],
                    health_check=ContainerHealthCheck(
                        command=hc["command"],
                        interval=hc.get("interval", 30),
                        timeout=hc.get("timeout", 5),
                        retries=hc.get("retries", 3),
                        start_period=hc.get("startPeriod", 0),
                    )
                    if hc
                    else None,
                    ecs_definition=d,
                )
            )
        except (KeyError, ValueError) as e:
            raise ConfigError(f"invalid container definition: {e}", field=where) from None
    unknown = set(cfg.task.builds) - {c.name for c in out}
    if unknown:
        raise ConfigError(
            f"names containers not in {path.name}: {', '.join(sorted(unknown))}",
            field="task.builds",
        )
    return out


def image_uri(cfg: Config, account_id: str, region: str, container: str, tag: str) -> str:
    return f"{account_id}.dkr.ecr.{region}.amazonaws.com/{names.repository(cfg, container)}:{tag}"


__all__ = [
    "Build",
    "build_task_definition",
    "container_to_ecs",
    "containers_from_file",
    "image_uri",
]
