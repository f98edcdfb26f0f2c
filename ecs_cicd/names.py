"""Physical names of the stack's resources, derived from project and environment.

One place, so the handlers, `plan`, `down`'s sweep and the rendered files agree, and so every
name is checked against AWS's limits once (config.py refuses configs whose names do not fit).
"""

from __future__ import annotations

import hashlib

from ecs_cicd.config import Config

STACK_TAG = "ecs-cicd:stack"
ID_TAG = "ecs-cicd:id"


def stack(cfg: Config) -> str:
    return cfg.stack


def alb(cfg: Config) -> str:
    return f"{cfg.stack}-alb"


def target_group(cfg: Config, color: str = "main") -> str:
    suffix = {"main": "-tg", "blue": "-blue", "green": "-green"}[color]
    return f"{cfg.stack}{suffix}"


def repository(cfg: Config, container: str) -> str:
    return f"{cfg.stack}/{container}".lower()


def role(cfg: Config, purpose: str) -> str:
    return f"{cfg.stack}-{purpose}"[:64]


def log_group(cfg: Config) -> str:
    return f"/ecs/{cfg.stack}"


def codebuild_log_group(cfg: Config) -> str:
    return f"/aws/codebuild/{codebuild_project(cfg)}"


def cluster(cfg: Config) -> str:
    return cfg.stack


def family(cfg: Config) -> str:
    return cfg.stack


def service(cfg: Config) -> str:
    return cfg.stack


def service_alternate(cfg: Config) -> str:
    """The service's other name: a strategy switch (rolling <-> blue/green) creates the new
    service alongside the old one, under whichever of the two names the old one does not have."""
    return f"{cfg.stack}-alt"


def service_names(cfg: Config) -> tuple[str, str]:
    return (service(cfg), service_alternate(cfg))


def codebuild_project(cfg: Config) -> str:
    return f"{cfg.stack}-build"


def pipeline(cfg: Config) -> str:
    return cfg.stack


def webhook(cfg: Config) -> str:
    return f"{cfg.stack}-webhook"


def security_group(cfg: Config, purpose: str) -> str:
    return f"{cfg.stack}-{purpose}"


def codedeploy_app(cfg: Config) -> str:
    return cfg.stack


def deployment_group(cfg: Config) -> str:
    return cfg.stack


def artifact_bucket(cfg: Config, account_id: str, region: str) -> str:
    """Unique per account and region; at most 63 characters (S3's limit)."""
    name = f"{cfg.stack}-artifacts-{account_id}-{region}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{cfg.stack[:30]}-art-{account_id}-{digest}"


def stack_tags(cfg: Config, logical_id: str) -> dict[str, str]:
    """Tags every taggable resource carries, set at creation."""
    return {**cfg.tags, STACK_TAG: cfg.stack, ID_TAG: logical_id}
