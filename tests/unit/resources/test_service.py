"""The ECS service kind on moto (with the emulator's ECS behaviour): the desired service as data,
creation with tags, drift put back, deployments, the deployment controller as a replacement,
ownership, deletion."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from ecs_cicd.config import Config
from ecs_cicd.errors import ConfigError
from ecs_cicd.lifecycle import Ctx, ForeignResources
from ecs_cicd.names import STACK_TAG
from ecs_cicd.resources import service as service_module
from ecs_cicd.resources.service import Service
from ecs_cicd.state import Record
from tests.unit.resources.helpers import (
    client_error,
    config_with,
    delete,
    ensure,
    inject,
    plan,
    recorded,
    vpc_with_subnets,
    want,
)

REGION = "ap-northeast-1"
NAME = "test-codepipeline-dev"  # cluster and service
BLUE_GREEN = {"pipeline__deploy__strategy": "blue_green"}


def ecs() -> Any:
    return boto3.client("ecs", region_name=REGION)


def live_service() -> dict[str, Any]:
    svc: dict[str, Any] = ecs().describe_services(cluster=NAME, services=[NAME], include=["TAGS"])[
        "services"
    ][0]
    return svc


def fake_dependencies(ctx: Ctx) -> None:
    """Real moto resources for the service's network and load balancer, recorded as their kinds
    would record them."""
    ec2 = boto3.client("ec2", region_name=REGION)
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
    ctx.state.put(Record("vpc", "vpc", vpc))
    for i, s in enumerate(subnets):
        ctx.state.put(Record(f"subnet.public.{i}", "subnet", s))
    ctx.state.put(Record("sg.tasks", "security_group", sg))
    for color in ("main", "blue"):
        ctx.state.put(Record(f"tg.{color}", "target_group", tg, arn=tg))
    ctx.state.put(Record("listener.http", "listener", listener, arn=listener))


def stand_up(ctx: Ctx, cfg: Config) -> str:
    """Cluster and task definition (their own kinds), the rest faked; the service's action."""
    fake_dependencies(ctx)
    ensure(ctx, cfg, "cluster")
    ensure(ctx, cfg, "taskdef")
    return ensure(ctx, cfg, "service").action


def service(cfg: Config) -> Service:
    w = want(cfg, "service")
    assert isinstance(w, Service)
    return w


# --- the desired state, without a client -----------------------------------------------------
def test_desired_service_is_data(cfg: Config) -> None:
    w = service(cfg)
    assert (w.name, w.cluster.name, w.controller) == (NAME, NAME, "ECS")
    assert (w.desired_count, w.grace_period, w.capacity_provider) == (1, 60, "FARGATE")
    assert (w.container, w.container_port) == ("nginx", 80)
    assert (w.assign_public_ip, w.public_ip, w.enable_execute_command) == (True, "ENABLED", False)
    assert w.deployment_configuration == {
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    }
    assert w.task_definition.logical_id == "taskdef" and w.target_group.logical_id == "tg.main"
    assert [s.logical_id for s in w.subnets] == ["subnet.public.0", "subnet.public.1"]
    assert "listener.http" in {a.logical_id for a in w.after}


def test_blue_green_is_a_code_deploy_service_without_circuit_breaker() -> None:
    w = service(config_with(**BLUE_GREEN, service__desired_count=2))
    assert w.controller == "CODE_DEPLOY" and w.desired_count == 2
    assert "deploymentCircuitBreaker" not in w.deployment_configuration
    assert w.target_group.logical_id == "tg.blue"


# --- create, converge ------------------------------------------------------------------------
def test_created_with_tags_and_recorded(ctx: Ctx, cfg: Config) -> None:
    fake_dependencies(ctx)
    ensure(ctx, cfg, "cluster")
    ensure(ctx, cfg, "taskdef")
    assert plan(ctx, cfg, "service").action == "create"
    assert ensure(ctx, cfg, "service").action == "create"
    svc = live_service()
    assert svc["loadBalancers"][0]["containerName"] == "nginx"
    assert svc["loadBalancers"][0]["containerPort"] == 80
    assert svc["loadBalancers"][0]["targetGroupArn"] == recorded(ctx, "tg.main").arn
    net = svc["networkConfiguration"]["awsvpcConfiguration"]
    assert net["assignPublicIp"] == "ENABLED"
    assert net["securityGroups"] == [recorded(ctx, "sg.tasks").physical_id]
    assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True,
        "rollback": True,
    }
    assert svc["healthCheckGracePeriodSeconds"] == 60 and svc["desiredCount"] == 1
    assert svc["taskDefinition"] == recorded(ctx, "taskdef").arn
    tags = {t["key"]: t["value"] for t in svc["tags"]}
    assert tags[STACK_TAG] == cfg.stack and tags["ecs-cicd:id"] == "service"
    rec = recorded(ctx, "service")
    assert rec.physical_id == NAME and rec.arn == svc["serviceArn"]
    assert rec.outputs["cluster"] == NAME and rec.outputs["deployment"]


def test_plan_before_the_task_definition_exists_says_create(ctx: Ctx, cfg: Config) -> None:
    fake_dependencies(ctx)
    ensure(ctx, cfg, "cluster")
    assert plan(ctx, cfg, "service").action == "create"


def test_create_retries_only_the_propagation_errors(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dependencies(ctx)
    ensure(ctx, cfg, "cluster")
    ensure(ctx, cfg, "taskdef")
    lag = client_error(
        "InvalidParameterException",
        "The target group with targetGroupArn x does not have an associated load balancer.",
        "CreateService",
    )
    calls = inject(monkeypatch, ctx.client("ecs"), "create_service", [lag])
    assert ensure(ctx, cfg, "service").action == "create"
    assert len(calls) == 2


def test_create_does_not_retry_other_errors(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dependencies(ctx)
    ensure(ctx, cfg, "cluster")
    ensure(ctx, cfg, "taskdef")
    bad = client_error("InvalidParameterException", "something else", "CreateService")
    calls = inject(monkeypatch, ctx.client("ecs"), "create_service", [bad])
    with pytest.raises(Exception, match="something else"):
        ensure(ctx, cfg, "service")
    assert len(calls) == 1


def test_second_ensure_is_a_no_op(ctx: Ctx, cfg: Config) -> None:
    stand_up(ctx, cfg)
    before = ctx.aws.stats.mutating_total
    for lid in ("cluster", "taskdef", "service"):
        assert ensure(ctx, cfg, lid).action == "unchanged", lid
    assert ctx.aws.stats.mutating_total == before


def test_desired_count_drift_is_put_back(ctx: Ctx, cfg: Config) -> None:
    stand_up(ctx, cfg)
    ecs().update_service(cluster=NAME, service=NAME, desiredCount=3)
    out = ensure(ctx, cfg, "service")
    assert out.action == "update" and "desiredCount: 3 -> 1" in out.changes
    assert out.notes == []  # no deployment for a desired count
    assert live_service()["desiredCount"] == 1


def test_settings_changes_are_converged(ctx: Ctx, cfg: Config) -> None:
    stand_up(ctx, cfg)
    changed = config_with(
        service__health_check_grace_period=120,
        service__enable_execute_command=True,
        service__min_healthy_percent=50,
    )
    out = ensure(ctx, changed, "service")
    assert out.action == "update"
    assert "healthCheckGracePeriodSeconds: 60 -> 120" in out.changes
    assert "enableExecuteCommand: False -> True" in out.changes
    assert any(c.startswith("deploymentConfiguration.minimumHealthyPercent") for c in out.changes)
    svc = live_service()
    assert svc["healthCheckGracePeriodSeconds"] == 120 and svc["enableExecuteCommand"] is True
    assert svc["deploymentConfiguration"]["minimumHealthyPercent"] == 50
    assert ensure(ctx, changed, "service").action == "unchanged"


def test_a_new_task_definition_starts_a_deployment(ctx: Ctx, cfg: Config) -> None:
    stand_up(ctx, cfg)
    first = recorded(ctx, "service").outputs["deployment"]
    bigger = config_with(task__memory=1024)
    assert ensure(ctx, bigger, "taskdef").action == "update"
    p = plan(ctx, bigger, "service")
    assert p.action == "update" and p.changes[0].startswith("taskDefinition")
    assert p.notes == ["starts a deployment (rolling)"]
    assert ensure(ctx, bigger, "service").action == "update"
    assert live_service()["taskDefinition"] == recorded(ctx, "taskdef").arn
    rec = recorded(ctx, "service")
    assert rec.outputs["deployment"] and rec.outputs["deployment"] != first


# --- the deployment controller ---------------------------------------------------------------
def test_switching_to_blue_green_is_a_replacement_that_needs_the_flag(
    ctx: Ctx, cfg: Config
) -> None:
    stand_up(ctx, cfg)
    arn = live_service()["serviceArn"]
    blue_green = config_with(**BLUE_GREEN)
    p = plan(ctx, blue_green, "service")
    assert p.action == "replace" and "deploymentController: 'ECS' -> 'CODE_DEPLOY'" in p.changes
    assert p.destructive and any("alongside" in n and "no downtime" in n for n in p.notes)
    with pytest.raises(ConfigError, match="--replace-service") as e:
        ensure(ctx, blue_green, "service")
    assert e.value.exit_code == 2 and e.value.field == "pipeline.deploy.strategy"
    assert live_service()["serviceArn"] == arn  # nothing changed
    assert live_service()["deploymentController"]["type"] == "ECS"


def test_the_new_service_is_created_alongside_under_the_other_name(ctx: Ctx, cfg: Config) -> None:
    stand_up(ctx, cfg)
    old_arn = live_service()["serviceArn"]
    blue_green = config_with(**BLUE_GREEN)
    ctx.replace_service = True
    # The kind never deletes and recreates the service (downtime): switch.py replaces it.
    with pytest.raises(ConfigError, match="--replace-service"):
        ensure(ctx, blue_green, "service")
    kind = service_module.ServiceKind()
    want_bg = service(blue_green)
    assert want_bg.alt_name == f"{NAME}-alt"
    old = kind.find(ctx, want_bg, recorded(ctx, "service"))
    assert old is not None and old.arn == old_arn
    new = kind.create_alongside(ctx, want_bg, old)
    assert new.physical_id == f"{NAME}-alt"
    both = ecs().describe_services(cluster=NAME, services=[NAME, f"{NAME}-alt"])["services"]
    assert [(s["status"], s["deploymentController"]["type"]) for s in both] == [
        ("ACTIVE", "ECS"),
        ("ACTIVE", "CODE_DEPLOY"),
    ]
    # A rerun that did not record it continues with it; without a record, `find` prefers the
    # service with the desired controller.
    assert kind.create_alongside(ctx, want_bg, old).arn == new.arn
    found = kind.find(ctx, want_bg, None)
    assert found is not None and found.arn == new.arn
    # Switching back: the other name is the original one again.
    back = kind.find(ctx, service(cfg), None)
    assert back is not None and back.arn == old_arn


def test_a_code_deploy_service_leaves_the_task_definition_to_codedeploy(
    ctx: Ctx, cfg: Config
) -> None:
    blue_green = config_with(**BLUE_GREEN)
    stand_up(ctx, blue_green)
    ensure(ctx, config_with(**BLUE_GREEN, task__memory=1024), "taskdef")
    assert plan(ctx, blue_green, "service").action == "unchanged"


# --- DRAINING --------------------------------------------------------------------------------
def test_create_waits_for_a_draining_service_of_the_same_name(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AWS: "Creation of service was not idempotent" while the old one is DRAINING; wait for
    # INACTIVE, then create (AWS-BEHAVIOUR.md).
    fake_dependencies(ctx)
    ensure(ctx, cfg, "cluster")
    ensure(ctx, cfg, "taskdef")
    client = ctx.client("ecs")
    real = client.describe_services
    answers = iter(["DRAINING"] * 3 + ["INACTIVE"])
    seen: list[str] = []

    def describe_services(**kw: Any) -> Any:
        if kw["services"] != [NAME]:  # find also looks for the service's other name
            return real(**kw)
        status = next(answers, None)
        if status is None:
            return real(**kw)
        seen.append(status)
        return {"services": [{"status": status, "serviceName": NAME}]}

    monkeypatch.setattr(client, "describe_services", describe_services)
    creates = inject(monkeypatch, client, "create_service", [])
    assert plan(ctx, cfg, "service").action == "create"  # a DRAINING service is not there
    assert creates == []
    seen.append("plan")
    real_create = client.create_service

    def create_service(**kw: Any) -> Any:
        seen.append("create")
        return real_create(**kw)

    monkeypatch.setattr(client, "create_service", create_service)
    assert ensure(ctx, cfg, "service").action == "create"
    # examine and create's look see DRAINING; create polls until INACTIVE, then creates
    assert seen == ["DRAINING", "plan", "DRAINING", "DRAINING", "INACTIVE", "create"]
    monkeypatch.setattr(client, "describe_services", real)
    assert live_service()["status"] == "ACTIVE"


# --- ownership -------------------------------------------------------------------------------
def create_foreign(ctx: Ctx, cfg: Config, name: str = NAME) -> str:
    """A service of our name in our cluster, without our tags."""
    fake_dependencies(ctx)
    ensure(ctx, cfg, "cluster")
    ensure(ctx, cfg, "taskdef")
    arn: str = ecs().create_service(
        cluster=NAME,
        serviceName=name,
        taskDefinition=recorded(ctx, "taskdef").arn or "",
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [recorded(ctx, "subnet.public.0").physical_id],
                "securityGroups": [recorded(ctx, "sg.tasks").physical_id],
            }
        },
    )["service"]["serviceArn"]
    return arn


def test_a_strangers_service_under_the_other_name_is_not_ours_to_find(
    ctx: Ctx, cfg: Config
) -> None:
    """Only a switch of ours uses the service's other name: someone else's service of that
    name is neither found nor in the way of creating ours."""
    create_foreign(ctx, cfg, f"{NAME}-alt")
    assert plan(ctx, cfg, "service").action == "create"
    assert ensure(ctx, cfg, "service").action == "create"
    assert recorded(ctx, "service").physical_id == NAME


def test_a_stranger_is_foreign_and_left_alone(ctx: Ctx, cfg: Config) -> None:
    arn = create_foreign(ctx, cfg)
    assert plan(ctx, cfg, "service").action == "foreign"
    with pytest.raises(ForeignResources):
        ensure(ctx, cfg, "service")
    svc = live_service()
    assert svc["serviceArn"] == arn and svc["desiredCount"] == 2 and not svc.get("tags")
    assert ctx.state.get("service") is None


def test_take_over_with_adopt(ctx: Ctx, cfg: Config) -> None:
    create_foreign(ctx, cfg)
    ctx.adopt = frozenset({"service"})
    assert ensure(ctx, cfg, "service").action == "take"
    svc = live_service()
    assert {t["key"]: t["value"] for t in svc["tags"]}[STACK_TAG] == cfg.stack
    assert svc["desiredCount"] == 1  # converged
    assert recorded(ctx, "service").arn == svc["serviceArn"]


def test_delete_skips_a_service_whose_tag_was_removed(ctx: Ctx, cfg: Config) -> None:
    stand_up(ctx, cfg)
    ecs().untag_resource(resourceArn=recorded(ctx, "service").arn, tagKeys=[STACK_TAG])
    assert delete(ctx, "service").action == "skip"
    assert live_service()["status"] == "ACTIVE"


def test_deleted_by_hand(ctx: Ctx, cfg: Config) -> None:
    stand_up(ctx, cfg)
    ecs().delete_service(cluster=NAME, service=NAME, force=True)
    assert plan(ctx, cfg, "service").action == "create"
    assert delete(ctx, "service").action == "gone"


# --- delete ----------------------------------------------------------------------------------
def test_delete_scales_down_waits_and_is_tolerant(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_up(ctx, cfg)
    scaled = inject(monkeypatch, ctx.client("ecs"), "update_service", [])
    waited: list[str] = []
    real_wait = service_module.wait_for_service_inactive

    def wait(c: Ctx, cluster: str, name: str) -> None:
        waited.append(f"{cluster}/{name}")
        real_wait(c, cluster, name)

    monkeypatch.setattr(service_module, "wait_for_service_inactive", wait)
    assert delete(ctx, "service").action == "delete"
    assert scaled == [{"cluster": NAME, "service": NAME, "desiredCount": 0}]
    assert waited == [f"{NAME}/{NAME}"]
    assert live_service()["status"] == "INACTIVE"
    assert delete(ctx, "service").action == "gone"
    for lid in ("taskdef", "cluster"):
        assert delete(ctx, lid).action == "delete", lid
