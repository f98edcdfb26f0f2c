"""Cluster, task definition and service handlers on moto (with the emulator's ECS behaviour)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import yaml

from ecs_cicd.config import parse_config
from ecs_cicd.engine import Ctx, Spec
from ecs_cicd.errors import ConfigError
from ecs_cicd.resources.cluster import ClusterHandler
from ecs_cicd.resources.service import ServiceHandler
from ecs_cicd.resources.taskdef import TaskDefinitionHandler
from ecs_cicd.state import Record
from tests.conftest import EXAMPLE
from tests.unit.resources.helpers import record_role, spec_of, vpc_with_subnets

REGION = "ap-northeast-1"


def fake_dependencies(ctx: Ctx) -> None:
    """Real moto resources for the service's dependencies, recorded as the other handlers would."""
    ec2 = boto3.client("ec2", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    elb = boto3.client("elbv2", region_name=REGION)
    vpc, subnets = vpc_with_subnets(ec2, REGION)
    sg_alb = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]
    sg = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    lb = elb.create_load_balancer(Name="lb", Subnets=subnets, SecurityGroups=[sg_alb])[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name="tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    listener = elb.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )["Listeners"][0]["ListenerArn"]
    for purpose in ("execution", "task"):
        record_role(ctx, iam, f"role.{purpose}", f"r-{purpose}", "ecs-tasks.amazonaws.com")
    ctx.state.put(Record("vpc", "vpc", vpc))
    for i, s in enumerate(subnets):
        ctx.state.put(Record(f"subnet.public.{i}", "subnet", s))
    ctx.state.put(Record("sg.tasks", "security_group", sg))
    ctx.state.put(Record("tg.main", "target_group", tg, arn=tg))
    ctx.state.put(Record("listener.http", "listener", listener, arn=listener))
    ctx.state.put(Record("logs.app", "log_group", "/ecs/x"))
    ctx.state.put(Record("rtb.public", "route_table", "rtb-1"))


def stand_up(ctx: Ctx) -> dict[str, Any]:
    fake_dependencies(ctx)
    return {
        lid: h.ensure(ctx, spec_of(ctx, lid))
        for lid, h in [
            ("cluster", ClusterHandler()),
            ("taskdef", TaskDefinitionHandler()),
            ("service", ServiceHandler()),
        ]
    }


def test_cluster_task_definition_and_service_are_created(ctx: Ctx) -> None:
    out = stand_up(ctx)
    assert {o.action for o in out.values()} == {"create"}
    ecs = boto3.client("ecs", region_name=REGION)
    cl = ecs.describe_clusters(clusters=["test-codepipeline-dev"], include=["SETTINGS", "TAGS"])[
        "clusters"
    ][0]
    assert sorted(cl["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    assert {t["key"]: t["value"] for t in cl["tags"]}["ecs-cicd:id"] == "cluster"
    td = ecs.describe_task_definition(taskDefinition="test-codepipeline-dev")["taskDefinition"]
    assert td["networkMode"] == "awsvpc" and td["cpu"] == "256" and td["memory"] == "512"
    assert td["requiresCompatibilities"] == ["FARGATE"]
    by_name = {c["name"]: c for c in td["containerDefinitions"]}
    assert by_name["nginx"]["dependsOn"] == [{"containerName": "app", "condition": "HEALTHY"}]
    assert by_name["app"]["healthCheck"]["command"][0] == "CMD-SHELL"
    log = by_name["app"]["logConfiguration"]
    assert (
        log["logDriver"] == "awslogs"
        and log["options"]["awslogs-group"] == "/ecs/test-codepipeline-dev"
    )
    assert log["options"]["awslogs-stream-prefix"] == "app"
    svc = ecs.describe_services(
        cluster="test-codepipeline-dev", services=["test-codepipeline-dev"]
    )["services"][0]
    assert (
        svc["loadBalancers"][0]["containerName"] == "nginx"
        and svc["loadBalancers"][0]["containerPort"] == 80
    )
    assert svc["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED"
    assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True,
        "rollback": True,
    }
    assert svc["healthCheckGracePeriodSeconds"] == 60
    assert svc["desiredCount"] == 1
    rec = ctx.state.get("service")
    assert rec is not None and rec.outputs["deployment"]


def test_second_ensure_is_a_no_op(ctx: Ctx) -> None:
    stand_up(ctx)
    before = ctx.aws.stats.mutating_total
    for lid, h in [
        ("cluster", ClusterHandler()),
        ("taskdef", TaskDefinitionHandler()),
        ("service", ServiceHandler()),
    ]:
        assert h.ensure(ctx, spec_of(ctx, lid)).action == "unchanged", lid
    assert ctx.aws.stats.mutating_total == before


def test_desired_count_drift_is_put_back(ctx: Ctx) -> None:
    stand_up(ctx)
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.update_service(
        cluster="test-codepipeline-dev", service="test-codepipeline-dev", desiredCount=3
    )
    out = ServiceHandler().ensure(ctx, spec_of(ctx, "service"))
    assert out.action == "update" and any("desiredCount: 3 -> 1" in c for c in out.changes)
    assert (
        ecs.describe_services(cluster="test-codepipeline-dev", services=["test-codepipeline-dev"])[
            "services"
        ][0]["desiredCount"]
        == 1
    )


def test_config_change_registers_a_new_revision_keeping_pipeline_images(ctx: Ctx) -> None:
    stand_up(ctx)
    ecs = boto3.client("ecs", region_name=REGION)
    # The pipeline deploys a built image: a new revision with a new app image.
    td = ecs.describe_task_definition(taskDefinition="test-codepipeline-dev")["taskDefinition"]
    keep = {
        k: td[k]
        for k in (
            "family",
            "networkMode",
            "cpu",
            "memory",
            "executionRoleArn",
            "taskRoleArn",
            "requiresCompatibilities",
            "runtimePlatform",
        )
    }
    containers = td["containerDefinitions"]
    for c in containers:
        if c["name"] == "app":
            c["image"] = (
                "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/test-codepipeline-dev/app:abc1234"
            )
    ecs.register_task_definition(**keep, containerDefinitions=containers)
    # Unchanged config: the pipeline's image is not rolled back.
    assert TaskDefinitionHandler().ensure(ctx, spec_of(ctx, "taskdef")).action == "unchanged"
    # Changed memory: a new revision that keeps the pipeline's image.
    d = yaml.safe_load(EXAMPLE.read_text())
    d["task"]["memory"] = 1024
    ctx.cfg = parse_config(d)
    out = TaskDefinitionHandler().ensure(ctx, spec_of(ctx, "taskdef"))
    assert out.action == "update" and any(c.startswith("memory") for c in out.changes)
    new = ecs.describe_task_definition(taskDefinition="test-codepipeline-dev")["taskDefinition"]
    assert new["memory"] == "1024" and new["revision"] == 3
    assert {c["name"]: c["image"] for c in new["containerDefinitions"]}["app"].endswith(":abc1234")
    svc_out = ServiceHandler().ensure(ctx, spec_of(ctx, "service"))
    assert svc_out.action == "update" and svc_out.changes[0].startswith("taskDefinition")


def test_switching_to_blue_green_needs_the_flag(ctx: Ctx) -> None:
    stand_up(ctx)
    d = yaml.safe_load(EXAMPLE.read_text())
    d["pipeline"]["deploy"]["strategy"] = "blue_green"
    ctx.cfg = parse_config(d)
    tg = ctx.state.get("tg.main")
    assert tg is not None
    ctx.state.put(Record("tg.blue", "target_group", tg.physical_id, arn=tg.arn))
    with pytest.raises(ConfigError, match="--replace-service") as e:
        ServiceHandler().ensure(ctx, Spec("service", "service", spec_of(ctx, "service").deps))
    assert e.value.exit_code == 2


def test_delete_scales_down_waits_and_is_tolerant(ctx: Ctx) -> None:
    stand_up(ctx)
    for lid, h in [
        ("service", ServiceHandler()),
        ("taskdef", TaskDefinitionHandler()),
        ("cluster", ClusterHandler()),
    ]:
        rec = ctx.state.get(lid)
        assert rec is not None
        assert h.delete(ctx, rec).action == "delete", lid
        assert h.delete(ctx, rec).action == "gone", lid
    ecs = boto3.client("ecs", region_name=REGION)
    assert (
        ecs.list_task_definitions(familyPrefix="test-codepipeline-dev", status="ACTIVE")[
            "taskDefinitionArns"
        ]
        == []
    )
    assert [
        c
        for c in ecs.describe_clusters(clusters=["test-codepipeline-dev"])["clusters"]
        if c["status"] == "ACTIVE"
    ] == []


def test_create_waits_for_a_draining_service_of_the_same_name(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AWS: "Creation of service was not idempotent" while the old one is DRAINING; wait for
    # INACTIVE, then create (AWS-BEHAVIOUR.md).
    fake_dependencies(ctx)
    for lid, h in [("cluster", ClusterHandler()), ("taskdef", TaskDefinitionHandler())]:
        h.ensure(ctx, spec_of(ctx, lid))
    from ecs_cicd.resources import service as service_module

    seen: list[str] = []
    answers = iter([{"status": "DRAINING"}])
    real = service_module.describe_service

    def describe(c: Ctx, cluster: str, name: str) -> Any:
        return next(answers, None) or real(c, cluster, name)

    statuses = iter(
        [{"services": [{"status": "DRAINING"}]}, {"services": [{"status": "INACTIVE"}]}]
    )
    ecs = ctx.client("ecs")
    real_describe = ecs.describe_services

    def describe_services(**kw: Any) -> Any:
        seen.append("poll")
        return next(statuses, None) or real_describe(**kw)

    monkeypatch.setattr(service_module, "describe_service", describe)
    monkeypatch.setattr(ecs, "describe_services", describe_services)
    out = ServiceHandler().ensure(ctx, spec_of(ctx, "service"))
    assert out.action == "create"
    assert seen[:2] == ["poll", "poll"]  # waited through DRAINING to INACTIVE before creating
