"""ALB, target groups and listeners on moto: the desired values, create with tags, zero-call second
ensure, adopt, strangers left alone (or taken over on request), drift converged, blue/green
listener swaps, the delete retries and waits, and resources deleted by hand."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError, WaitTimeout
from ecs_cicd.lifecycle import Ctx, ForeignResources
from ecs_cicd.resources import loadbalancer
from ecs_cicd.resources.loadbalancer import Listener, LoadBalancer, TargetGroup
from ecs_cicd.state import Record
from tests.conftest import TARGET_REGION
from tests.unit.resources.helpers import (
    client_error,
    config_with,
    delete,
    ensure,
    inject,
    issued_certificate,
    plan,
    recorded,
    stack_of,
    vpc_with_subnets,
    want,
)

BLUE_GREEN = {"strategy": "blue_green", "blue_green": {"test_listener_port": 8080}}


def alb_of(cfg: Config) -> LoadBalancer:
    w = want(cfg, "alb")
    assert isinstance(w, LoadBalancer)
    return w


def tg_of(cfg: Config, lid: str = "tg.main") -> TargetGroup:
    w = want(cfg, lid)
    assert isinstance(w, TargetGroup)
    return w


def listener_of(cfg: Config, lid: str) -> Listener:
    w = want(cfg, lid)
    assert isinstance(w, Listener)
    return w


def tags_of(ctx: Ctx, arn: str) -> dict[str, str]:
    desc = ctx.client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"][0]
    return {t["Key"]: t["Value"] for t in desc["Tags"]}


def pid(ctx: Ctx, lid: str) -> str:
    return recorded(ctx, lid).physical_id


def mutating(ctx: Ctx) -> int:
    return ctx.aws.stats.mutating_total


@pytest.fixture
def net(ctx: Ctx, cfg: Config) -> Ctx:
    """The VPC, two subnets and the ALB's security group made on moto and recorded under the
    logical ids the load balancer and target groups depend on."""
    ec2 = ctx.client("ec2")
    vpc, subnets = vpc_with_subnets(ec2, TARGET_REGION)
    alb, tg = alb_of(cfg), tg_of(cfg)
    assert len(alb.subnets) == len(subnets)
    ctx.state.put(Record(tg.vpc.logical_id, tg.vpc.kind, vpc))
    for model, sid in zip(alb.subnets, subnets, strict=True):
        ctx.state.put(Record(model.logical_id, model.kind, sid))
    sg = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]
    ctx.state.put(Record(alb.security_group.logical_id, alb.security_group.kind, sg))
    return ctx


@pytest.fixture
def bg() -> Config:
    return config_with(pipeline__deploy=BLUE_GREEN)


def by_hand_target_group(ctx: Ctx, name: str) -> str:
    arn: str = ctx.client("elbv2").create_target_group(
        Name=name, Protocol="HTTP", Port=80, VpcId=pid(ctx, "vpc"), TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    return arn


# --- the desired values ----------------------------------------------------------------------
def test_desired_load_balancer(cfg: Config) -> None:
    alb = alb_of(cfg)
    assert alb.kind == "load_balancer" and alb.name == f"{cfg.stack}-alb"
    assert alb.scheme == "internet-facing" and alb.idle_timeout == 60
    assert [s.logical_id for s in alb.subnets] == ["subnet.public.0", "subnet.public.1"]
    assert alb.security_group.logical_id == "sg.alb"
    assert [a.logical_id for a in alb.after] == ["igw"]  # not the route table: see stack.py
    assert dict(alb.tags)["ecs-cicd:id"] == "alb"
    assert alb_of(config_with(load_balancer__idle_timeout=300)).idle_timeout == 300


def test_desired_target_group(cfg: Config) -> None:
    tg = tg_of(cfg)
    assert (tg.kind, tg.name, tg.color, tg.port) == ("target_group", f"{cfg.stack}-tg", "main", 80)
    assert (tg.protocol, tg.target_type, tg.deregistration_delay) == ("HTTP", "ip", 30)
    assert tg.vpc.logical_id == "vpc"
    assert tg.health_check == {
        "HealthCheckEnabled": True,
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckPath": "/health",
        "HealthCheckIntervalSeconds": 10,
        "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 3,
        "Matcher": {"HttpCode": "200-399"},
    }
    assert dict(tg.tags)["ecs-cicd:id"] == "tg.main"
    bg = config_with(pipeline__deploy=BLUE_GREEN)
    assert [tg_of(bg, f"tg.{c}").name for c in ("blue", "green")] == [
        f"{bg.stack}-blue",
        f"{bg.stack}-green",
    ]
    assert stack_of(bg).find("tg.main") is None


def test_desired_listeners(cfg: Config) -> None:
    ids = [r.logical_id for r in stack_of(cfg).resources if r.kind == "listener"]
    assert ids == ["listener.http"]
    http = listener_of(cfg, "listener.http")
    assert (http.port, http.protocol, http.redirect, http.certificate_arn) == (
        80,
        "HTTP",
        None,
        None,
    )
    assert http.target_group.logical_id == "tg.main"
    assert [t.logical_id for t in http.accepted] == ["tg.main"]
    assert dict(http.tags)["ecs-cicd:id"] == "listener.http"

    cert = "arn:aws:acm:ap-northeast-1:123456789012:certificate/abc"
    c = config_with(load_balancer__certificate_arn=cert, pipeline__deploy=BLUE_GREEN)
    ids = [r.logical_id for r in stack_of(c).resources if r.kind == "listener"]
    assert sorted(ids) == ["listener.http", "listener.https", "listener.test"]
    http = listener_of(c, "listener.http")
    assert http.redirect == {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
    https = listener_of(c, "listener.https")
    assert (https.port, https.protocol, https.certificate_arn) == (443, "HTTPS", cert)
    assert https.ssl_policy == c.load_balancer.ssl_policy
    assert https.target_group.logical_id == "tg.blue"
    test = listener_of(c, "listener.test")
    assert (test.port, test.target_group.logical_id) == (8080, "tg.green")
    for li in (http, https, test):
        assert [t.logical_id for t in li.accepted] == ["tg.blue", "tg.green"]
    # blue/green without a test port: no test listener
    plain = config_with(pipeline__deploy={"strategy": "blue_green"})
    assert stack_of(plain).find("listener.test") is None


# --- load balancer ---------------------------------------------------------------------------
def test_alb_created_in_public_subnets_with_tags(net: Ctx, cfg: Config) -> None:
    ctx = net
    out = ensure(ctx, cfg, "alb")
    assert out.action == "create"
    rec = recorded(ctx, "alb")
    assert rec.arn == rec.physical_id == out.physical_id
    lb = ctx.client("elbv2").describe_load_balancers(Names=[f"{cfg.stack}-alb"])["LoadBalancers"][0]
    assert lb["LoadBalancerArn"] == rec.arn
    assert lb["Scheme"] == "internet-facing" and lb["Type"] == "application"
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(
        [pid(ctx, "subnet.public.0"), pid(ctx, "subnet.public.1")]
    )
    assert lb["SecurityGroups"] == [pid(ctx, "sg.alb")]
    assert rec.outputs["name"] == f"{cfg.stack}-alb"
    assert rec.outputs["dns_name"] == lb["DNSName"]
    assert rec.outputs["arn_suffix"] == rec.arn.split(":loadbalancer/")[1]
    assert rec.outputs["arn_suffix"].startswith(f"app/{cfg.stack}-alb/")
    tags = tags_of(ctx, rec.arn)
    assert tags["ecs-cicd:stack"] == cfg.stack and tags["ecs-cicd:id"] == "alb"
    assert "elasticloadbalancing:AddTags" not in ctx.aws.stats.mutating
    attrs = ctx.client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=rec.arn)[
        "Attributes"
    ]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "60"} in attrs


def test_alb_second_ensure_makes_no_mutating_call(net: Ctx, cfg: Config) -> None:
    ensure(net, cfg, "alb")
    before = mutating(net)
    assert ensure(net, cfg, "alb").action == "unchanged"
    assert mutating(net) == before


def test_alb_adopted_when_missing_from_state(net: Ctx, cfg: Config) -> None:
    arn = ensure(net, cfg, "alb").physical_id
    net.state.remove("alb")
    out = ensure(net, cfg, "alb")
    assert out.action == "adopt" and out.physical_id == arn
    assert recorded(net, "alb").outputs["dns_name"]
    assert len(net.client("elbv2").describe_load_balancers()["LoadBalancers"]) == 1


def stranger_alb(ctx: Ctx, cfg: Config) -> str:
    arn: str = ctx.client("elbv2").create_load_balancer(
        Name=f"{cfg.stack}-alb",
        Subnets=[pid(ctx, "subnet.public.0"), pid(ctx, "subnet.public.1")],
        Tags=[{"Key": "owner", "Value": "someone"}],
    )["LoadBalancers"][0]["LoadBalancerArn"]
    return arn


def test_alb_of_a_stranger_is_foreign_and_left_alone(net: Ctx, cfg: Config) -> None:
    arn = stranger_alb(net, cfg)
    out = plan(net, cfg, "alb")
    assert out.action == "foreign" and out.physical_id == arn
    before = mutating(net)
    with pytest.raises(ForeignResources, match="not this stack's"):
        ensure(net, cfg, "alb")
    assert mutating(net) == before
    assert net.state.get("alb") is None
    assert tags_of(net, arn) == {"owner": "someone"}


def test_alb_of_a_stranger_taken_over_on_request(net: Ctx, cfg: Config) -> None:
    arn = stranger_alb(net, cfg)
    net.adopt = frozenset({"alb"})
    out = ensure(net, cfg, "alb")
    assert out.action == "take" and out.physical_id == arn
    tags = tags_of(net, arn)
    assert tags["ecs-cicd:stack"] == cfg.stack and tags["owner"] == "someone"
    # converged too: the stranger had no security group of ours
    lb = net.client("elbv2").describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    assert lb["SecurityGroups"] == [pid(net, "sg.alb")]
    assert recorded(net, "alb").outputs["arn_suffix"].startswith(f"app/{cfg.stack}-alb/")
    net.adopt = frozenset()
    assert ensure(net, cfg, "alb").action == "unchanged"


def test_alb_drift_is_planned_then_converged(net: Ctx, cfg: Config) -> None:
    ctx = net
    arn = ensure(ctx, cfg, "alb").physical_id
    elb = ctx.client("elbv2")
    other = ctx.client("ec2").create_security_group(
        GroupName="by-hand", Description="x", VpcId=pid(ctx, "vpc")
    )["GroupId"]
    elb.set_security_groups(LoadBalancerArn=arn, SecurityGroups=[other])
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "120"}]
    )
    ctx.refresh = True  # changed outside ecs_cicd: only a refresh reads these settings again
    before = mutating(ctx)
    planned = plan(ctx, cfg, "alb")
    assert planned.action == "update"
    assert "idle_timeout: 120 -> 60" in planned.changes
    assert f"security_groups: ['{other}'] -> ['{pid(ctx, 'sg.alb')}']" in planned.changes
    assert mutating(ctx) == before
    assert ensure(ctx, cfg, "alb").action == "update"
    lb = elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    assert lb["SecurityGroups"] == [pid(ctx, "sg.alb")]
    attrs = elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "60"} in attrs
    assert ensure(ctx, cfg, "alb").action == "unchanged"


def test_alb_idle_timeout_follows_the_config(net: Ctx, cfg: Config) -> None:
    ensure(net, cfg, "alb")
    c = config_with(load_balancer__idle_timeout=300)
    out = ensure(net, c, "alb")
    assert out.action == "update" and out.changes == ["idle_timeout: 60 -> 300"]
    attrs = net.client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=pid(net, "alb"))[
        "Attributes"
    ]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "300"} in attrs


def test_alb_created_with_a_non_default_idle_timeout(net: Ctx) -> None:
    c = config_with(load_balancer__idle_timeout=300)
    assert ensure(net, c, "alb").action == "create"
    attrs = net.client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=pid(net, "alb"))[
        "Attributes"
    ]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "300"} in attrs
    assert ensure(net, c, "alb").action == "unchanged"


def test_alb_plan_create_makes_nothing(net: Ctx, cfg: Config) -> None:
    before = mutating(net)
    out = plan(net, cfg, "alb")
    assert out.action == "create"
    assert out.changes == ["internet-facing ALB in 2 subnets", "idle timeout 60 s"]
    assert mutating(net) == before
    assert net.client("elbv2").describe_load_balancers()["LoadBalancers"] == []


def test_alb_deleted_by_hand_is_planned_for_creation(net: Ctx, cfg: Config) -> None:
    arn = ensure(net, cfg, "alb").physical_id
    net.client("elbv2").delete_load_balancer(LoadBalancerArn=arn)
    assert plan(net, cfg, "alb").action == "create"
    assert delete(net, "alb").action == "gone"
    # and `up` makes a new one, recorded in place of the old
    assert ensure(net, cfg, "alb").action == "create"
    assert pid(net, "alb") != arn


def test_alb_whose_stack_tag_was_removed_is_not_deleted(net: Ctx, cfg: Config) -> None:
    arn = ensure(net, cfg, "alb").physical_id
    elb = net.client("elbv2")
    elb.remove_tags(ResourceArns=[arn], TagKeys=["ecs-cicd:stack"])
    out = delete(net, "alb")
    assert out.action == "skip"
    assert elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]


def test_alb_delete_waits_until_gone(
    net: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = ensure(net, cfg, "alb").physical_id
    elb = net.client("elbv2")
    original = elb.describe_load_balancers
    lingering = [2]  # AWS keeps listing it for a while after DeleteLoadBalancer
    deleted: list[bool] = []
    sleeps: list[float] = []

    def describe(**kw: Any) -> Any:
        if deleted and lingering[0] > 0:
            lingering[0] -= 1
            return {"LoadBalancers": [{"LoadBalancerArn": arn}]}
        return original(**kw)

    real_delete = elb.delete_load_balancer

    def delete_lb(**kw: Any) -> Any:
        deleted.append(True)
        return real_delete(**kw)

    monkeypatch.setattr(elb, "describe_load_balancers", describe)
    monkeypatch.setattr(elb, "delete_load_balancer", delete_lb)
    net.sleep = sleeps.append
    assert delete(net, "alb").action == "delete"
    assert len(sleeps) == 2
    with pytest.raises(ClientError):
        original(LoadBalancerArns=[arn])
    assert delete(net, "alb").action == "gone"


def test_alb_delete_wait_has_a_deadline(
    net: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(net, cfg, "alb")
    elb = net.client("elbv2")
    original = elb.describe_load_balancers
    deleted: list[bool] = []
    real_delete = elb.delete_load_balancer

    def delete_lb(**kw: Any) -> Any:
        deleted.append(True)
        return real_delete(**kw)

    def describe(**kw: Any) -> Any:
        if deleted:  # listed for ever after its deletion
            return {"LoadBalancers": [{"LoadBalancerArn": kw["LoadBalancerArns"][0]}]}
        return original(**kw)

    monkeypatch.setattr(loadbalancer, "LOAD_BALANCER_DELETE_DEADLINE", 0)
    monkeypatch.setattr(elb, "delete_load_balancer", delete_lb)
    monkeypatch.setattr(elb, "describe_load_balancers", describe)
    with pytest.raises(WaitTimeout, match="still exists"):
        delete(net, "alb")


# --- target groups ---------------------------------------------------------------------------
def test_target_group_created_with_health_check_and_delay(net: Ctx, cfg: Config) -> None:
    ctx = net
    assert ensure(ctx, cfg, "tg.main").action == "create"
    rec = recorded(ctx, "tg.main")
    elb = ctx.client("elbv2")
    tg = elb.describe_target_groups(Names=[f"{cfg.stack}-tg"])["TargetGroups"][0]
    assert tg["TargetGroupArn"] == rec.arn == rec.physical_id
    assert (tg["Protocol"], tg["Port"], tg["TargetType"], tg["VpcId"]) == (
        "HTTP",
        80,
        "ip",
        pid(ctx, "vpc"),
    )
    assert tg["HealthCheckPath"] == "/health"
    assert tg["HealthCheckIntervalSeconds"] == 10
    assert tg["HealthCheckTimeoutSeconds"] == 5
    assert tg["HealthyThresholdCount"] == 2
    assert tg["UnhealthyThresholdCount"] == 3
    assert tg["Matcher"] == {"HttpCode": "200-399"}
    attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_target_group_attributes(TargetGroupArn=rec.arn)["Attributes"]
    }
    assert attrs["deregistration_delay.timeout_seconds"] == "30"
    tags = tags_of(ctx, rec.arn)
    assert tags["ecs-cicd:stack"] == cfg.stack and tags["ecs-cicd:id"] == "tg.main"
    assert "elasticloadbalancing:AddTags" not in ctx.aws.stats.mutating
    assert rec.outputs["name"] == f"{cfg.stack}-tg"
    assert rec.outputs["arn_suffix"].startswith(f"targetgroup/{cfg.stack}-tg/")


def test_target_group_second_ensure_and_adopt(net: Ctx, cfg: Config) -> None:
    arn = ensure(net, cfg, "tg.main").physical_id
    before = mutating(net)
    assert ensure(net, cfg, "tg.main").action == "unchanged"
    assert mutating(net) == before
    net.state.remove("tg.main")
    out = ensure(net, cfg, "tg.main")
    assert out.action == "adopt" and out.physical_id == arn
    assert len(net.client("elbv2").describe_target_groups()["TargetGroups"]) == 1


def test_target_group_of_a_stranger_is_foreign_and_left_alone(net: Ctx, cfg: Config) -> None:
    arn = by_hand_target_group(net, f"{cfg.stack}-tg")
    assert plan(net, cfg, "tg.main").action == "foreign"
    before = mutating(net)
    with pytest.raises(ForeignResources):
        ensure(net, cfg, "tg.main")
    assert mutating(net) == before
    assert net.state.get("tg.main") is None
    assert tags_of(net, arn) == {}


def test_target_group_of_a_stranger_taken_over_on_request(net: Ctx, cfg: Config) -> None:
    arn = by_hand_target_group(net, f"{cfg.stack}-tg")
    net.adopt = frozenset({"tg.main"})
    out = ensure(net, cfg, "tg.main")
    assert out.action == "take" and out.physical_id == arn
    assert tags_of(net, arn)["ecs-cicd:stack"] == cfg.stack
    tg = net.client("elbv2").describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert tg["HealthCheckPath"] == "/health"
    assert recorded(net, "tg.main").outputs["name"] == f"{cfg.stack}-tg"


def test_target_group_drift_is_planned_then_converged(net: Ctx, cfg: Config) -> None:
    ctx = net
    arn = ensure(ctx, cfg, "tg.main").physical_id
    elb = ctx.client("elbv2")
    elb.modify_target_group(TargetGroupArn=arn, HealthCheckPath="/", HealthyThresholdCount=5)
    elb.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}],
    )
    ctx.refresh = True  # changed outside ecs_cicd: only a refresh reads these settings again
    before = mutating(ctx)
    planned = plan(ctx, cfg, "tg.main")
    assert planned.action == "update"
    assert "HealthCheckPath: '/' -> '/health'" in planned.changes
    assert "HealthyThresholdCount: 5 -> 2" in planned.changes
    assert "deregistration_delay: 300 -> 30" in planned.changes
    assert mutating(ctx) == before
    assert ensure(ctx, cfg, "tg.main").action == "update"
    tg = elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert (tg["HealthCheckPath"], tg["HealthyThresholdCount"]) == ("/health", 2)
    attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    assert attrs["deregistration_delay.timeout_seconds"] == "30"
    assert ensure(ctx, cfg, "tg.main").action == "unchanged"


def test_blue_green_target_groups(net: Ctx, bg: Config) -> None:
    assert ensure(net, bg, "tg.blue").action == "create"
    assert ensure(net, bg, "tg.green").action == "create"
    names = {
        t["TargetGroupName"] for t in net.client("elbv2").describe_target_groups()["TargetGroups"]
    }
    assert names == {f"{bg.stack}-blue", f"{bg.stack}-green"}


def test_target_group_deleted_by_hand_is_planned_for_creation(net: Ctx, cfg: Config) -> None:
    arn = ensure(net, cfg, "tg.main").physical_id
    net.client("elbv2").delete_target_group(TargetGroupArn=arn)
    assert plan(net, cfg, "tg.main").action == "create"
    assert delete(net, "tg.main").action == "gone"


def test_target_group_whose_stack_tag_was_removed_is_not_deleted(net: Ctx, cfg: Config) -> None:
    arn = ensure(net, cfg, "tg.main").physical_id
    elb = net.client("elbv2")
    elb.remove_tags(ResourceArns=[arn], TagKeys=["ecs-cicd:stack"])
    assert delete(net, "tg.main").action == "skip"
    assert elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]


def test_target_group_delete_then_gone(net: Ctx, cfg: Config) -> None:
    arn = ensure(net, cfg, "tg.main").physical_id
    assert delete(net, "tg.main").action == "delete"
    with pytest.raises(ClientError):
        net.client("elbv2").describe_target_groups(TargetGroupArns=[arn])
    assert delete(net, "tg.main").action == "gone"


def test_target_group_in_use_is_retried(
    net: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = ensure(net, cfg, "tg.main").physical_id
    msg = f"Target group '{arn}' is currently in use by a listener or a rule"
    errors = [client_error("ResourceInUse", msg, "DeleteTargetGroup") for _ in range(2)]
    calls = inject(monkeypatch, net.client("elbv2"), "delete_target_group", errors)
    assert delete(net, "tg.main").action == "delete"
    assert len(calls) == 3


def test_target_group_still_in_use_after_the_deadline_fails(
    net: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real listener keeps it in use (moto answers ResourceInUse as AWS does)
    for lid in ("alb", "tg.main", "listener.http"):
        ensure(net, cfg, lid)
    monkeypatch.setattr(loadbalancer, "TARGET_GROUP_IN_USE_DEADLINE", 0.2)
    with pytest.raises(AwsError) as err:
        delete(net, "tg.main")
    assert err.value.code == "ResourceInUse"


def test_target_group_other_in_use_error_fails_at_once(
    net: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(net, cfg, "tg.main")
    errors = [
        client_error("ResourceInUse", "Target group is used by an ECS service", "DeleteTargetGroup")
    ] * 3
    calls = inject(monkeypatch, net.client("elbv2"), "delete_target_group", list(errors))
    with pytest.raises(AwsError, match="ECS service"):
        delete(net, "tg.main")
    assert len(calls) == 1


# --- listeners -------------------------------------------------------------------------------
@pytest.fixture
def lb(net: Ctx, cfg: Config) -> Ctx:
    ensure(net, cfg, "alb")
    ensure(net, cfg, "tg.main")
    return net


def test_http_listener_forwards_to_the_target_group(lb: Ctx, cfg: Config) -> None:
    ctx = lb
    before = mutating(ctx)
    planned = plan(ctx, cfg, "listener.http")
    assert planned.action == "create"
    assert planned.changes == [f"HTTP:80 -> forward to {cfg.stack}-tg"]
    assert mutating(ctx) == before
    assert ensure(ctx, cfg, "listener.http").action == "create"
    rec = recorded(ctx, "listener.http")
    assert rec.outputs == {"port": 80} and rec.arn == rec.physical_id
    li = ctx.client("elbv2").describe_listeners(ListenerArns=[rec.physical_id])["Listeners"][0]
    assert (li["Protocol"], li["Port"]) == ("HTTP", 80)
    assert li["DefaultActions"][0]["Type"] == "forward"
    assert li["DefaultActions"][0]["TargetGroupArn"] == pid(ctx, "tg.main")
    tags = tags_of(ctx, rec.physical_id)
    assert tags["ecs-cicd:stack"] == cfg.stack and tags["ecs-cicd:id"] == "listener.http"
    assert "elasticloadbalancing:AddTags" not in ctx.aws.stats.mutating


def test_listener_planned_after_a_load_balancer_still_to_make(net: Ctx, cfg: Config) -> None:
    out = plan(net, cfg, "listener.http")
    assert out.action == "create" and out.after == "alb"


def test_listener_second_ensure_and_adopt(lb: Ctx, cfg: Config) -> None:
    arn = ensure(lb, cfg, "listener.http").physical_id
    before = mutating(lb)
    assert ensure(lb, cfg, "listener.http").action == "unchanged"
    assert mutating(lb) == before
    lb.state.remove("listener.http")
    out = ensure(lb, cfg, "listener.http")
    assert out.action == "adopt" and out.physical_id == arn
    listeners = lb.client("elbv2").describe_listeners(LoadBalancerArn=pid(lb, "alb"))["Listeners"]
    assert len(listeners) == 1


def stranger_listener(ctx: Ctx) -> str:
    """A listener on port 80 of our load balancer that someone added by hand (untagged)."""
    arn: str = ctx.client("elbv2").create_listener(
        LoadBalancerArn=pid(ctx, "alb"),
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": pid(ctx, "tg.main")}],
    )["Listeners"][0]["ListenerArn"]
    return arn


def test_listener_of_a_stranger_is_foreign_and_left_alone(lb: Ctx, cfg: Config) -> None:
    arn = stranger_listener(lb)
    out = plan(lb, cfg, "listener.http")
    assert out.action == "foreign" and out.physical_id == arn
    before = mutating(lb)
    with pytest.raises(ForeignResources):
        ensure(lb, cfg, "listener.http")
    assert mutating(lb) == before
    assert lb.state.get("listener.http") is None
    assert tags_of(lb, arn) == {}


def test_listener_of_a_stranger_taken_over_on_request(lb: Ctx, cfg: Config) -> None:
    arn = stranger_listener(lb)
    lb.adopt = frozenset({"listener.http"})
    out = ensure(lb, cfg, "listener.http")
    assert out.action == "take" and out.physical_id == arn
    assert tags_of(lb, arn)["ecs-cicd:stack"] == cfg.stack
    assert recorded(lb, "listener.http").outputs == {"port": 80}


def test_listener_whose_stack_tag_was_removed_is_not_deleted(lb: Ctx, cfg: Config) -> None:
    arn = ensure(lb, cfg, "listener.http").physical_id
    elb = lb.client("elbv2")
    elb.remove_tags(ResourceArns=[arn], TagKeys=["ecs-cicd:stack"])
    assert delete(lb, "listener.http").action == "skip"
    assert elb.describe_listeners(ListenerArns=[arn])["Listeners"]


def test_listener_deleted_by_hand_is_planned_for_creation(lb: Ctx, cfg: Config) -> None:
    arn = ensure(lb, cfg, "listener.http").physical_id
    lb.client("elbv2").delete_listener(ListenerArn=arn)
    assert plan(lb, cfg, "listener.http").action == "create"
    assert delete(lb, "listener.http").action == "gone"


def test_listener_of_a_load_balancer_deleted_by_hand_is_planned_for_creation(
    lb: Ctx, cfg: Config
) -> None:
    ensure(lb, cfg, "listener.http")
    # deleting the ALB deletes its listeners; the state still records both
    lb.client("elbv2").delete_load_balancer(LoadBalancerArn=pid(lb, "alb"))
    assert plan(lb, cfg, "alb").action == "create"
    assert plan(lb, cfg, "listener.http").action == "create"
    assert delete(lb, "listener.http").action == "gone"
    assert delete(lb, "alb").action == "gone"


def test_listener_forwarding_elsewhere_is_put_back(lb: Ctx, cfg: Config) -> None:
    ctx = lb
    arn = ensure(ctx, cfg, "listener.http").physical_id
    elb = ctx.client("elbv2")
    stray = by_hand_target_group(ctx, "stray")
    elb.modify_listener(
        ListenerArn=arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": stray}]
    )
    before = mutating(ctx)
    planned = plan(ctx, cfg, "listener.http")
    assert planned.action == "update"
    assert planned.changes == [f"default action: 'forward to stray' -> 'forward to {cfg.stack}-tg'"]
    assert mutating(ctx) == before
    assert ensure(ctx, cfg, "listener.http").action == "update"
    li = elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]
    assert loadbalancer._forward_targets(li["DefaultActions"][0]) == {pid(ctx, "tg.main")}
    assert ensure(ctx, cfg, "listener.http").action == "unchanged"


def test_listener_port_follows_the_config(lb: Ctx, cfg: Config) -> None:
    arn = ensure(lb, cfg, "listener.http").physical_id
    c = config_with(load_balancer__listener_port=8000)
    out = ensure(lb, c, "listener.http")
    assert out.action == "update" and out.changes == ["port: 80 -> 8000"]
    li = lb.client("elbv2").describe_listeners(ListenerArns=[arn])["Listeners"][0]
    assert li["Port"] == 8000
    assert recorded(lb, "listener.http").outputs == {"port": 8000}


def test_https_listener_and_http_redirect(net: Ctx) -> None:
    cert = issued_certificate(net, "example.com")
    c = config_with(load_balancer__certificate_arn=cert)
    for lid in ("alb", "tg.main", "listener.http", "listener.https"):
        assert ensure(net, c, lid).action == "create"
    elb = net.client("elbv2")
    http = elb.describe_listeners(ListenerArns=[pid(net, "listener.http")])["Listeners"][0]
    assert http["DefaultActions"][0]["Type"] == "redirect"
    assert http["DefaultActions"][0]["RedirectConfig"] == {
        "Protocol": "HTTPS",
        "Port": "443",
        "StatusCode": "HTTP_301",
    }
    https = elb.describe_listeners(ListenerArns=[pid(net, "listener.https")])["Listeners"][0]
    assert (https["Protocol"], https["Port"]) == ("HTTPS", 443)
    assert https["Certificates"][0]["CertificateArn"] == cert
    assert https["SslPolicy"] == c.load_balancer.ssl_policy
    assert https["DefaultActions"][0]["TargetGroupArn"] == pid(net, "tg.main")
    before = mutating(net)
    assert ensure(net, c, "listener.http").action == "unchanged"
    assert ensure(net, c, "listener.https").action == "unchanged"
    assert mutating(net) == before


def test_an_existing_forward_listener_becomes_a_redirect_when_a_certificate_is_added(
    lb: Ctx, cfg: Config
) -> None:
    ensure(lb, cfg, "listener.http")
    cert = issued_certificate(lb, "example.com")
    c = config_with(load_balancer__certificate_arn=cert)
    out = ensure(lb, c, "listener.http")
    assert out.action == "update" and out.changes == [
        f"default action: 'forward to {cfg.stack}-tg' -> 'redirect HTTP_301 to HTTPS:443'"
    ]
    li = lb.client("elbv2").describe_listeners(ListenerArns=[pid(lb, "listener.http")])[
        "Listeners"
    ][0]
    assert li["DefaultActions"][0]["Type"] == "redirect"


def test_blue_green_swap_by_codedeploy_is_not_drift(net: Ctx, bg: Config) -> None:
    ctx = net
    for lid in ("alb", "tg.blue", "tg.green", "listener.http", "listener.test"):
        assert ensure(ctx, bg, lid).action == "create"
    elb = ctx.client("elbv2")
    blue, green = pid(ctx, "tg.blue"), pid(ctx, "tg.green")
    prod = elb.describe_listeners(ListenerArns=[pid(ctx, "listener.http")])["Listeners"][0]
    test = elb.describe_listeners(ListenerArns=[pid(ctx, "listener.test")])["Listeners"][0]
    assert prod["DefaultActions"][0]["TargetGroupArn"] == blue
    assert (test["Port"], test["DefaultActions"][0]["TargetGroupArn"]) == (8080, green)
    # CodeDeploy swapped production to green and test to blue: leave them.
    elb.modify_listener(
        ListenerArn=prod["ListenerArn"],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": green}],
    )
    elb.modify_listener(
        ListenerArn=test["ListenerArn"],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": blue}],
    )
    before = mutating(ctx)
    assert ensure(ctx, bg, "listener.http").action == "unchanged"
    assert ensure(ctx, bg, "listener.test").action == "unchanged"
    assert mutating(ctx) == before
    # mid-deployment weights across both are CodeDeploy's too
    weighted = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": blue, "Weight": 90},
                {"TargetGroupArn": green, "Weight": 10},
            ]
        },
    }
    elb.modify_listener(ListenerArn=prod["ListenerArn"], DefaultActions=[weighted])
    before = mutating(ctx)
    assert ensure(ctx, bg, "listener.http").action == "unchanged"
    assert mutating(ctx) == before
    # a target group that is neither blue nor green is drift
    stray = by_hand_target_group(ctx, "stray")
    elb.modify_listener(
        ListenerArn=prod["ListenerArn"],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": stray}],
    )
    assert ensure(ctx, bg, "listener.http").action == "update"
    li = elb.describe_listeners(ListenerArns=[prod["ListenerArn"]])["Listeners"][0]
    assert li["DefaultActions"][0]["TargetGroupArn"] == blue


def test_rolling_listener_forwarding_to_another_of_our_groups_is_drift(
    net: Ctx, cfg: Config, bg: Config
) -> None:
    """Only blue/green accepts a swap: a rolling stack's listener forwards to tg.main alone."""
    ctx = net
    for lid in ("alb", "tg.main", "listener.http"):
        ensure(ctx, cfg, lid)
    ensure(ctx, bg, "tg.green")
    ctx.client("elbv2").modify_listener(
        ListenerArn=pid(ctx, "listener.http"),
        DefaultActions=[{"Type": "forward", "TargetGroupArn": pid(ctx, "tg.green")}],
    )
    assert plan(ctx, cfg, "listener.http").action == "update"


def test_listener_delete_then_gone(lb: Ctx, cfg: Config) -> None:
    ensure(lb, cfg, "listener.http")
    assert delete(lb, "listener.http").action == "delete"
    assert lb.client("elbv2").describe_listeners(LoadBalancerArn=pid(lb, "alb"))["Listeners"] == []
    assert delete(lb, "listener.http").action == "gone"
    # and with the listener gone the target group can go
    assert delete(lb, "tg.main").action == "delete"


def test_alb_delete_after_listeners(lb: Ctx, cfg: Config) -> None:
    ensure(lb, cfg, "listener.http")
    assert delete(lb, "listener.http").action == "delete"
    assert delete(lb, "alb").action == "delete"
    assert lb.client("elbv2").describe_load_balancers()["LoadBalancers"] == []


def test_blue_green_certificate_fix_keeps_codedeploys_target_group(net: Ctx) -> None:
    cert, other = (issued_certificate(net, d) for d in ("a.example", "b.example"))
    c = config_with(load_balancer__certificate_arn=cert, pipeline__deploy=BLUE_GREEN)
    for lid in ("alb", "tg.blue", "tg.green", "listener.https"):
        ensure(net, c, lid)
    elb = net.client("elbv2")
    arn = pid(net, "listener.https")
    green = pid(net, "tg.green")
    elb.modify_listener(
        ListenerArn=arn,
        Certificates=[{"CertificateArn": other}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": green}],
    )
    out = ensure(net, c, "listener.https")
    assert out.action == "update" and out.changes == [f"certificates: ['{other}'] -> ['{cert}']"]
    li = elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]
    assert li["Certificates"][0]["CertificateArn"] == cert
    assert li["DefaultActions"][0]["TargetGroupArn"] == green


def test_strategy_switch_attaches_the_new_group_without_moving_traffic(
    net: Ctx, cfg: Config, bg: Config
) -> None:
    """Before the new service exists, the production listener also forwards to its target group
    at weight 0 (ECS needs the group attached); a second pass changes nothing; the normal
    converge then moves the traffic."""
    from ecs_cicd import switch
    from ecs_cicd.lifecycle import examine
    from ecs_cicd.resources import kinds

    ctx = net
    for lid in ("alb", "tg.main", "listener.http"):
        ensure(ctx, cfg, lid)
    ensure(ctx, bg, "tg.blue")
    ensure(ctx, bg, "tg.green")
    main, blue = pid(ctx, "tg.main"), pid(ctx, "tg.blue")
    elb = ctx.client("elbv2")
    kind = kinds()["listener"]

    def action() -> dict[str, Any]:
        li = elb.describe_listeners(ListenerArns=[pid(ctx, "listener.http")])["Listeners"][0]
        [a] = li["DefaultActions"]
        return dict(a)

    def attached(arn: str) -> list[str]:
        return list(
            elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]["LoadBalancerArns"]
        )

    want_bg = listener_of(bg, "listener.http")
    out = switch.apply_listener(ctx, examine(ctx, kind, want_bg))
    assert out.action == "update" and any("weight 0" in c for c in out.changes)
    assert loadbalancer.forward_weights(action()) == {main: 1, blue: 0}
    assert attached(blue) == [pid(ctx, "alb")]
    before = mutating(ctx)
    assert switch.apply_listener(ctx, examine(ctx, kind, want_bg)).action == "unchanged"
    assert mutating(ctx) == before
    # The move (once the new service runs) is the listener's ordinary converge.
    assert ensure(ctx, bg, "listener.http").action == "update"
    assert loadbalancer.forward_weights(action()) == {blue: 1}
    assert attached(main) == []
