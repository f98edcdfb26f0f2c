"""Config -> the desired stack: typed, frozen models, one per resource, each holding the models it
depends on. Pure: no AWS call; `Target` (account, region, partition) supplies what ARNs need.

Each kind's module defines its model and the pure function that fills it from the config; this
module wires them together, so the whole stack — and every desired value in it (a policy
statement, a health check, a container definition) — can be asserted without a client.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecs_cicd import names
from ecs_cicd.config import Config, GitHubSource
from ecs_cicd.lifecycle import Resource, Target, walk
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


@dataclass(frozen=True)
class Stack:
    """The desired stack, dependencies first."""

    name: str
    resources: tuple[Resource, ...]

    def get(self, logical_id: str) -> Resource:
        for r in self.resources:
            if r.logical_id == logical_id:
                return r
        raise KeyError(logical_id)

    def find(self, logical_id: str) -> Resource | None:
        return next((r for r in self.resources if r.logical_id == logical_id), None)

    @property
    def ids(self) -> list[str]:
        return [r.logical_id for r in self.resources]


def tags(cfg: Config, logical_id: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(names.stack_tags(cfg, logical_id).items()))


def build_stack(cfg: Config, target: Target) -> Stack:
    """Every resource of the stack, in dependency order."""

    def t(lid: str) -> tuple[tuple[str, str], ...]:
        return tags(cfg, lid)

    blue_green = cfg.pipeline.deploy.strategy == "blue_green"

    # Network: a new VPC, or the existing one the config names (referenced, never changed).
    net = network.build_network(cfg, target, t)
    vpc, subnets, route_table = net.vpc, net.subnets, net.route_table
    network_ready: tuple[Resource, ...] = (route_table,) if route_table else ()

    sg_alb = security.build_alb_group(cfg, vpc, t("sg.alb"))
    sg_tasks = security.build_tasks_group(cfg, vpc, sg_alb, t("sg.tasks"))

    # An internet-facing ALB needs the VPC's internet gateway attached (CreateLoadBalancer
    # refuses it otherwise), not the route table: the ALB starts provisioning — the slowest
    # step of `up` — while the routes are still being made. `down` deletes it (and the public
    # addresses of its ENIs) before it detaches the gateway.
    igw = net.internet_gateway
    alb = loadbalancer.build_load_balancer(
        cfg, subnets, sg_alb, t("alb"), after=(igw,) if igw else ()
    )
    colors = ("blue", "green") if blue_green else ("main",)
    tgs = {c: loadbalancer.build_target_group(cfg, vpc, c, t(f"tg.{c}")) for c in colors}
    prod_tg = tgs[colors[0]]
    # `domain`: the hosted zone, the certificate (+ validation) and the alias record(s).
    domain = dns.build_domain(cfg, alb, t, dual_stack=alb.ip_address_type == "dualstack")
    listeners = loadbalancer.build_listeners(
        cfg, alb, prod_tg, tgs.get("green"), t, domain.issued if domain else None
    )

    repos = tuple(
        ecr.build_repository(cfg, c.name, t(f"ecr.{c.name}")) for c in cfg.built_containers()
    )
    log_app = logs.LogGroup(
        logical_id="logs.app",
        tags=t("logs.app"),
        name=names.log_group(cfg),
        retention_days=cfg.logs.retention_days,
        arn=target.arn("logs", f"log-group:{names.log_group(cfg)}"),
    )
    log_build = logs.LogGroup(
        logical_id="logs.codebuild",
        tags=t("logs.codebuild"),
        name=names.codebuild_log_group(cfg),
        retention_days=cfg.logs.retention_days,
        arn=target.arn("logs", f"log-group:{names.codebuild_log_group(cfg)}"),
    )
    bucket = artifacts.build_bucket(cfg, target, t("bucket.artifacts"))

    purposes = ["execution", "task", "codebuild", "codepipeline"] + (
        ["codedeploy"] if blue_green else []
    )
    roles = {p: iam.build_role(cfg, target, p, t(f"role.{p}")) for p in purposes}

    ecs_cluster = cluster.Cluster(
        logical_id="cluster",
        tags=t("cluster"),
        name=names.cluster(cfg),
        container_insights=cfg.cluster.container_insights,
        capacity_provider=cfg.service.capacity_provider,
    )
    task = taskdef.build_task_definition(
        cfg, target, roles["execution"], roles["task"], log_app, t("taskdef")
    )
    deploy_alarms = alarms.build_alarms(cfg, alb, prod_tg, t)
    svc = service.build_service(
        cfg,
        ecs_cluster,
        task,
        sg_tasks,
        subnets,
        prod_tg,
        t("service"),
        after=(*listeners, *network_ready, *deploy_alarms),
    )
    autoscaling = scaling.build_scaling(cfg, svc, alb, prod_tg, t)
    deploy_target: Resource = svc
    extra: list[Resource] = []
    if blue_green:
        app = codedeploy.build_application(cfg, t("codedeploy.app"))
        group = codedeploy.build_deployment_group(
            cfg,
            app,
            roles["codedeploy"],
            svc,
            task,
            tgs["blue"],
            tgs["green"],
            listeners,
            t("codedeploy.group"),
        )
        deploy_target = group
        extra += [app, group]
    project = codebuild.build_project(
        cfg, target, roles["codebuild"], log_build, repos, t("codebuild")
    )
    pipeline = codepipeline.build_pipeline(
        cfg, bucket, project, roles["codepipeline"], deploy_target, t("pipeline")
    )
    # Listed in the order a reader expects (network, load balancer, images and logs, roles,
    # cluster and service, pipeline); `walk` still puts every dependency before its dependents.
    tops: list[Resource] = [
        vpc,
        *subnets,
        *network_ready,
        sg_alb,
        sg_tasks,
        alb,
        *tgs.values(),
        *listeners,
        *repos,
        log_app,
        log_build,
        bucket,
        *roles.values(),
        ecs_cluster,
        task,
        *deploy_alarms,
        svc,
        *autoscaling,
        *extra,
        project,
        pipeline,
    ]
    if domain is not None:
        tops += domain.resources
    src = cfg.pipeline.source
    if isinstance(src, GitHubSource) and src.webhook:
        tops.append(codepipeline.build_webhook(cfg, pipeline, t("webhook")))
    return Stack(cfg.stack, tuple(walk(tops)))
