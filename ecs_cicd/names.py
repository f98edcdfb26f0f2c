"""Physical names of the stack's resources, derived from project and environment.

One place, so the handlers, `plan`, `down`'s sweep and the rendered files agree, and so every
name fits AWS's limits: a name `<project>-<environment>-<suffix>` longer than its kind's limit
gets a deterministic short form (`fit`), the same on every run and machine.
"""

from __future__ import annotations

import hashlib

from ecs_cicd.config import Config

STACK_TAG = "ecs-cicd:stack"
ID_TAG = "ecs-cicd:id"


# The longest name each kind takes (AWS's documented limits, also in the botocore models that
# preflight checks against): ELBv2 CreateLoadBalancer/CreateTargetGroup Name 32, IAM RoleName 64,
# CodePipeline/PutWebhook name 100, CodeDeploy application and group 100, CodeBuild project 150,
# ECS cluster/service/family 255, EC2 GroupName 255, CloudWatch Logs group 512, S3 bucket 63.
MAX_ELB = 32
MAX_ROLE = 64
MAX_PIPELINE = 100
MAX_CODEDEPLOY = 100
MAX_CODEBUILD = 150
MAX_ECS = 255
MAX_BUCKET = 63
HASH_LEN = 8


def fit(stack: str, suffix: str, limit: int) -> str:
    """`stack + suffix`, or when that is longer than `limit` a short form that keeps the suffix:
    the stack's first characters, `-`, 8 hex characters of the SHA-256 of the full name, then
    the suffix — `averyveryverylongpro-1c0e2b5d-green`. Deterministic (the same on every run and
    machine, so `down`, `plan` and `state recover` find it), and two different full names give
    two different short ones (their hashes, and usually their suffixes, differ)."""
    full = stack + suffix
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:HASH_LEN]
    keep = limit - len(suffix) - HASH_LEN - 1
    if keep < 1:
        raise ValueError(f"suffix {suffix!r} leaves no room in {limit} characters")
    head = stack[:keep].rstrip("-_./") or stack[:1]
    return f"{head}-{digest}{suffix}"


def stack(cfg: Config) -> str:
    return cfg.stack


def alb(cfg: Config) -> str:
    return fit(cfg.stack, "-alb", MAX_ELB)


def target_group(cfg: Config, color: str = "main") -> str:
    suffix = {"main": "-tg", "blue": "-blue", "green": "-green"}[color]
    return fit(cfg.stack, suffix, MAX_ELB)


def repository(cfg: Config, container: str) -> str:
    return f"{cfg.stack}/{container}".lower()


def role(cfg: Config, purpose: str) -> str:
    return fit(cfg.stack, f"-{purpose}", MAX_ROLE)


def log_group(cfg: Config) -> str:
    return f"/ecs/{cfg.stack}"


def codebuild_log_group(cfg: Config) -> str:
    return f"/aws/codebuild/{codebuild_project(cfg)}"


def cluster(cfg: Config) -> str:
    return fit(cfg.stack, "", MAX_ECS)


def family(cfg: Config) -> str:
    return fit(cfg.stack, "", MAX_ECS)


def service(cfg: Config) -> str:
    return fit(cfg.stack, "", MAX_ECS)


def service_alternate(cfg: Config) -> str:
    """The service's other name: a strategy switch (rolling <-> blue/green) creates the new
    service alongside the old one, under whichever of the two names the old one does not have."""
    return f"{cfg.stack}-alt"


def service_names(cfg: Config) -> tuple[str, str]:
    return (service(cfg), service_alternate(cfg))


def codebuild_project(cfg: Config) -> str:
    return fit(cfg.stack, "-build", MAX_CODEBUILD)


def pipeline(cfg: Config) -> str:
    return fit(cfg.stack, "", MAX_PIPELINE)


def webhook(cfg: Config) -> str:
    return fit(cfg.stack, "-webhook", MAX_PIPELINE)


def security_group(cfg: Config, purpose: str) -> str:
    return fit(cfg.stack, f"-{purpose}", MAX_ECS)


def codedeploy_app(cfg: Config) -> str:
    return fit(cfg.stack, "", MAX_CODEDEPLOY)


def deployment_group(cfg: Config) -> str:
    return fit(cfg.stack, "", MAX_CODEDEPLOY)


def all_names(cfg: Config, account_id: str, region: str) -> dict[str, str]:
    """Every physical name of the stack by what it names (for `plan`, `outputs` and tests)."""
    blue_green = cfg.pipeline.deploy.strategy == "blue_green"
    out = {
        "load_balancer": alb(cfg),
        **{
            f"target_group.{c}": target_group(cfg, c)
            for c in (("blue", "green") if blue_green else ("main",))
        },
        **{
            f"role.{p}": role(cfg, p)
            for p in ["execution", "task", "codebuild", "codepipeline"]
            + (["codedeploy"] if blue_green else [])
        },
        **{f"repository.{c.name}": repository(cfg, c.name) for c in cfg.built_containers()},
        "log_group": log_group(cfg),
        "codebuild_log_group": codebuild_log_group(cfg),
        "cluster": cluster(cfg),
        "task_family": family(cfg),
        "service": service(cfg),
        "codebuild_project": codebuild_project(cfg),
        "pipeline": pipeline(cfg),
        "webhook": webhook(cfg),
        "security_group.alb": security_group(cfg, "alb"),
        "security_group.tasks": security_group(cfg, "tasks"),
        "artifact_bucket": artifact_bucket(cfg, account_id, region),
    }
    if blue_green:
        out["codedeploy_application"] = codedeploy_app(cfg)
        out["deployment_group"] = deployment_group(cfg)
    return out


def artifact_bucket(cfg: Config, account_id: str, region: str) -> str:
    """Unique per account and region; at most 63 characters (S3's limit)."""
    name = f"{cfg.stack}-artifacts-{account_id}-{region}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{cfg.stack[:30]}-art-{account_id}-{digest}"


def shortened(cfg: Config, account_id: str, region: str) -> dict[str, str]:
    """The names given a short form (fit), by what they name: empty when every full name fits."""
    return {
        key: name
        for key, name in all_names(cfg, account_id, region).items()
        if cfg.stack not in name
        or (key == "artifact_bucket" and f"{cfg.stack}-artifacts-" not in name)
    }


def stack_tags(cfg: Config, logical_id: str) -> dict[str, str]:
    """Tags every taggable resource carries, set at creation."""
    return {**cfg.tags, STACK_TAG: cfg.stack, ID_TAG: logical_id}
