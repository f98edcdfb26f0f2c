"""Config -> the stack's resource specs, with their dependencies. Pure: no AWS calls.

The engine derives the order from `deps`; independent specs run concurrently. `down` deletes in
the reverse of the same order.
"""

from __future__ import annotations

from ecs_cicd.config import Config, GitHubSource
from ecs_cicd.engine import Spec, topological


def subnet_ids(cfg: Config) -> list[str]:
    count = len(cfg.network.subnet_ids or []) if cfg.network.existing else subnet_count(cfg)
    return [f"subnet.public.{i}" for i in range(count)]


def subnet_count(cfg: Config) -> int:
    n = cfg.network
    if n.public_subnet_cidrs:
        return len(n.public_subnet_cidrs)
    if n.availability_zones:
        return len(n.availability_zones)
    return 2


def listener_ids(cfg: Config) -> list[str]:
    ids = ["listener.http"]
    if cfg.load_balancer.certificate_arn:
        ids.append("listener.https")
    if (
        cfg.pipeline.deploy.strategy == "blue_green"
        and cfg.pipeline.deploy.blue_green.test_listener_port
    ):
        ids.append("listener.test")
    return ids


def target_group_ids(cfg: Config) -> list[str]:
    if cfg.pipeline.deploy.strategy == "blue_green":
        return ["tg.blue", "tg.green"]
    return ["tg.main"]


def build_specs(cfg: Config) -> list[Spec]:
    """Every resource of the stack, in dependency order."""
    subnets = subnet_ids(cfg)
    specs: list[Spec] = []
    add = specs.append
    if cfg.network.existing:
        add(Spec("vpc", "vpc.existing"))
        for i, sid in enumerate(subnets):
            add(Spec(sid, "subnet.existing", ("vpc",), (("index", i),)))
    else:
        add(Spec("vpc", "vpc"))
        add(Spec("igw", "igw", ("vpc",)))
        for i, sid in enumerate(subnets):
            add(Spec(sid, "subnet", ("vpc",), (("index", i), ("count", len(subnets)))))
        add(
            Spec(
                "rtb.public",
                "route_table",
                ("vpc", "igw", *subnets),
                (("subnets", tuple(subnets)),),
            )
        )

    add(Spec("sg.alb", "security_group", ("vpc",), (("purpose", "alb"),)))
    add(Spec("sg.tasks", "security_group", ("vpc", "sg.alb"), (("purpose", "tasks"),)))

    network_ready = ("rtb.public",) if not cfg.network.existing else ()
    add(Spec("alb", "load_balancer", ("sg.alb", *subnets, *network_ready)))
    tgs = target_group_ids(cfg)
    for tg in tgs:
        add(Spec(tg, "target_group", ("vpc",), (("color", tg.split(".")[1]),)))
    prod_tg = tgs[0]
    listeners = listener_ids(cfg)
    for lid in listeners:
        tg = "tg.green" if lid == "listener.test" else prod_tg
        add(Spec(lid, "listener", ("alb", tg), (("target_group", tg),)))

    repos = [f"ecr.{c.name}" for c in cfg.built_containers()]
    for c in cfg.built_containers():
        add(Spec(f"ecr.{c.name}", "ecr_repository", (), (("container", c.name),)))

    add(Spec("logs.app", "log_group", (), (("purpose", "app"),)))
    add(Spec("logs.codebuild", "log_group", (), (("purpose", "codebuild"),)))
    add(Spec("bucket.artifacts", "artifact_bucket"))

    add(Spec("role.execution", "iam_role", (), (("purpose", "execution"),)))
    add(Spec("role.task", "iam_role", (), (("purpose", "task"),)))
    add(Spec("role.codebuild", "iam_role", (), (("purpose", "codebuild"),)))
    add(Spec("role.codepipeline", "iam_role", (), (("purpose", "codepipeline"),)))
    blue_green = cfg.pipeline.deploy.strategy == "blue_green"
    if blue_green:
        add(Spec("role.codedeploy", "iam_role", (), (("purpose", "codedeploy"),)))

    add(Spec("cluster", "cluster"))
    add(Spec("taskdef", "task_definition", ("role.execution", "role.task", "logs.app")))
    add(
        Spec(
            "service",
            "service",
            (
                "cluster",
                "taskdef",
                "sg.tasks",
                *subnets,
                *tgs,
                *listeners,
                "logs.app",
                *network_ready,
            ),
        )
    )
    deploy_target = "service"
    if blue_green:
        add(Spec("codedeploy.app", "codedeploy_app"))
        add(
            Spec(
                "codedeploy.group",
                "deployment_group",
                ("codedeploy.app", "role.codedeploy", "service", "taskdef", *tgs, *listeners),
            )
        )
        deploy_target = "codedeploy.group"
    add(Spec("codebuild", "codebuild_project", ("role.codebuild", "logs.codebuild", *repos)))
    add(
        Spec(
            "pipeline",
            "pipeline",
            ("bucket.artifacts", "codebuild", "role.codepipeline", deploy_target),
        )
    )
    src = cfg.pipeline.source
    if isinstance(src, GitHubSource) and src.webhook:
        add(Spec("webhook", "webhook", ("pipeline",)))
    return topological(specs)
