"""ALB, target groups and listeners on moto: create with tags, zero-call second ensure, adopt,
refuse a stranger's, converge drift, blue/green listener swaps, and the delete retries."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.engine import Ctx, Handler, Outcome
from ecs_cicd.errors import AwsError, WaitTimeout
from ecs_cicd.resources import loadbalancer, network, security
from tests.unit.resources.helpers import (
    client_error,
    delete_by_kind,
    dry,
    ensure_by_kind,
    inject,
    with_config,
)

HANDLERS: dict[str, Handler] = {
    "vpc": network.VpcHandler(),
    "subnet": network.SubnetHandler(),
    "igw": network.InternetGatewayHandler(),
    "route_table": network.RouteTableHandler(),
    "security_group": security.SecurityGroupHandler(),
    "load_balancer": loadbalancer.LoadBalancerHandler(),
    "target_group": loadbalancer.TargetGroupHandler(),
    "listener": loadbalancer.ListenerHandler(),
}
NETWORK = ("vpc", "igw", "subnet.public.0", "subnet.public.1", "rtb.public", "sg.alb")


def ensure(ctx: Ctx, lid: str) -> Outcome:
    return ensure_by_kind(HANDLERS, ctx, lid)


def delete(ctx: Ctx, lid: str) -> Outcome:
    return delete_by_kind(HANDLERS, ctx, lid)


BLUE_GREEN = {"strategy": "blue_green", "blue_green": {"test_listener_port": 8080}}


def tags_of(ctx: Ctx, arn: str) -> dict[str, str]:
    desc = ctx.client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"][0]
    return {t["Key"]: t["Value"] for t in desc["Tags"]}


@pytest.fixture
def net(ctx: Ctx) -> Ctx:
    for lid in NETWORK:
        ensure(ctx, lid)
    return ctx


@pytest.fixture
def bg(ctx: Ctx) -> Ctx:
    """The same moto with a blue/green config, network ready."""
    c = with_config(ctx, pipeline__deploy=BLUE_GREEN)
    for lid in NETWORK:
        ensure(c, lid)
    return c


# --- load balancer ---------------------------------------------------------------------------
def test_alb_created_in_public_subnets_with_tags(net: Ctx) -> None:
    ctx = net
    out = ensure(ctx, "alb")
    assert out.action == "create"
    rec = ctx.state.get("alb")
    assert rec is not None and rec.arn == rec.physical_id == out.physical_id
    lb = ctx.client("elbv2").describe_load_balancers(Names=[f"{ctx.cfg.stack}-alb"])[
        "LoadBalancers"
    ][0]
    assert lb["LoadBalancerArn"] == rec.arn
    assert lb["Scheme"] == "internet-facing" and lb["Type"] == "application"
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(
        [ctx.out("subnet.public.0"), ctx.out("subnet.public.1")]
    )
    assert lb["SecurityGroups"] == [ctx.out("sg.alb")]
    assert rec.outputs["dns_name"] == lb["DNSName"]
    assert rec.outputs["arn_suffix"] == rec.arn.split(":loadbalancer/")[1]
    assert rec.outputs["arn_suffix"].startswith(f"app/{ctx.cfg.stack}-alb/")
    tags = tags_of(ctx, rec.arn)
    assert tags["ecs-cicd:stack"] == ctx.cfg.stack and tags["ecs-cicd:id"] == "alb"
    assert "elasticloadbalancing:AddTags" not in ctx.aws.stats.mutating
    attrs = ctx.client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=rec.arn)[
        "Attributes"
    ]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "60"} in attrs


def test_alb_second_ensure_makes_no_mutating_call(net: Ctx) -> None:
    ensure(net, "alb")
    before = net.aws.stats.mutating_total
    assert ensure(net, "alb").action == "unchanged"
    assert net.aws.stats.mutating_total == before


def test_alb_adopted_when_missing_from_state(net: Ctx) -> None:
    arn = ensure(net, "alb").physical_id
    net.state.remove("alb")
    out = ensure(net, "alb")
    assert out.action == "adopt" and out.physical_id == arn
    assert len(net.client("elbv2").describe_load_balancers()["LoadBalancers"]) == 1


def test_alb_of_a_stranger_is_not_adopted(net: Ctx) -> None:
    net.client("elbv2").create_load_balancer(
        Name=f"{net.cfg.stack}-alb",
        Subnets=[net.out("subnet.public.0"), net.out("subnet.public.1")],
    )
    with pytest.raises(AwsError, match="does not carry the tag ecs-cicd:stack"):
        ensure(net, "alb")
    assert net.state.get("alb") is None


def test_alb_drift_is_planned_then_converged(net: Ctx) -> None:
    ctx = net
    arn = ensure(ctx, "alb").physical_id
    elb = ctx.client("elbv2")
    other = ctx.client("ec2").create_security_group(
        GroupName="by-hand", Description="x", VpcId=ctx.out("vpc")
    )["GroupId"]
    elb.set_security_groups(LoadBalancerArn=arn, SecurityGroups=[other])
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=arn, Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "120"}]
    )
    before = ctx.aws.stats.mutating_total
    planned = ensure(dry(ctx), "alb")
    assert planned.action == "update"
    assert "idle_timeout 120 -> 60" in planned.changes
    assert any(c.startswith("security groups") for c in planned.changes)
    assert ctx.aws.stats.mutating_total == before
    assert ensure(ctx, "alb").action == "update"
    lb = elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    assert lb["SecurityGroups"] == [ctx.out("sg.alb")]
    attrs = elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "60"} in attrs
    assert ensure(ctx, "alb").action == "unchanged"


def test_alb_idle_timeout_follows_the_config(net: Ctx) -> None:
    ensure(net, "alb")
    c = with_config(net, load_balancer__idle_timeout=300)
    out = ensure(c, "alb")
    assert out.action == "update" and out.changes == ["idle_timeout 60 -> 300"]
    attrs = c.client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=c.out("alb"))[
        "Attributes"
    ]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "300"} in attrs


def test_alb_dry_run_create_makes_nothing(net: Ctx) -> None:
    before = net.aws.stats.mutating_total
    assert ensure(dry(net), "alb").action == "create"
    assert net.aws.stats.mutating_total == before
    assert net.client("elbv2").describe_load_balancers()["LoadBalancers"] == []


def test_alb_delete_waits_until_gone(net: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = ensure(net, "alb").physical_id
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


def test_alb_delete_wait_has_a_deadline(net: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = ensure(net, "alb").physical_id
    elb = net.client("elbv2")
    monkeypatch.setattr(loadbalancer, "LOAD_BALANCER_DELETE_DEADLINE", 0)
    monkeypatch.setattr(
        elb, "describe_load_balancers", lambda **_kw: {"LoadBalancers": [{"LoadBalancerArn": arn}]}
    )
    with pytest.raises(WaitTimeout, match="still exists"):
        delete(net, "alb")


# --- target groups ---------------------------------------------------------------------------
def test_target_group_created_with_health_check_and_delay(net: Ctx) -> None:
    ctx = net
    assert ensure(ctx, "tg.main").action == "create"
    rec = ctx.state.get("tg.main")
    assert rec is not None
    elb = ctx.client("elbv2")
    tg = elb.describe_target_groups(Names=[f"{ctx.cfg.stack}-tg"])["TargetGroups"][0]
    assert tg["TargetGroupArn"] == rec.arn == rec.physical_id
    assert (tg["Protocol"], tg["Port"], tg["TargetType"], tg["VpcId"]) == (
        "HTTP",
        80,
        "ip",
        ctx.out("vpc"),
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
    assert tags["ecs-cicd:stack"] == ctx.cfg.stack and tags["ecs-cicd:id"] == "tg.main"
    assert rec.outputs["name"] == f"{ctx.cfg.stack}-tg"
    assert rec.outputs["arn_suffix"].startswith(f"targetgroup/{ctx.cfg.stack}-tg/")


def test_target_group_second_ensure_and_adopt(net: Ctx) -> None:
    arn = ensure(net, "tg.main").physical_id
    before = net.aws.stats.mutating_total
    assert ensure(net, "tg.main").action == "unchanged"
    assert net.aws.stats.mutating_total == before
    net.state.remove("tg.main")
    out = ensure(net, "tg.main")
    assert out.action == "adopt" and out.physical_id == arn
    assert len(net.client("elbv2").describe_target_groups()["TargetGroups"]) == 1


def test_target_group_of_a_stranger_is_not_adopted(net: Ctx) -> None:
    net.client("elbv2").create_target_group(
        Name=f"{net.cfg.stack}-tg", Protocol="HTTP", Port=80, VpcId=net.out("vpc"), TargetType="ip"
    )
    with pytest.raises(AwsError, match="DuplicateTargetGroupName"):
        ensure(net, "tg.main")


def test_target_group_drift_is_planned_then_converged(net: Ctx) -> None:
    ctx = net
    arn = ensure(ctx, "tg.main").physical_id
    elb = ctx.client("elbv2")
    elb.modify_target_group(TargetGroupArn=arn, HealthCheckPath="/", HealthyThresholdCount=5)
    elb.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}],
    )
    before = ctx.aws.stats.mutating_total
    planned = ensure(dry(ctx), "tg.main")
    assert planned.action == "update"
    assert "HealthCheckPath '/' -> '/health'" in planned.changes
    assert "HealthyThresholdCount 5 -> 2" in planned.changes
    assert "deregistration_delay 300 -> 30" in planned.changes
    assert ctx.aws.stats.mutating_total == before
    assert ensure(ctx, "tg.main").action == "update"
    tg = elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    assert (tg["HealthCheckPath"], tg["HealthyThresholdCount"]) == ("/health", 2)
    attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    }
    assert attrs["deregistration_delay.timeout_seconds"] == "30"
    assert ensure(ctx, "tg.main").action == "unchanged"


def test_blue_green_target_groups(bg: Ctx) -> None:
    ensure(bg, "tg.blue")
    ensure(bg, "tg.green")
    names = {
        t["TargetGroupName"] for t in bg.client("elbv2").describe_target_groups()["TargetGroups"]
    }
    assert names == {f"{bg.cfg.stack}-blue", f"{bg.cfg.stack}-green"}


def test_target_group_delete_then_gone(net: Ctx) -> None:
    arn = ensure(net, "tg.main").physical_id
    assert delete(net, "tg.main").action == "delete"
    with pytest.raises(ClientError):
        net.client("elbv2").describe_target_groups(TargetGroupArns=[arn])
    assert delete(net, "tg.main").action == "gone"


def test_target_group_in_use_is_retried(net: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = ensure(net, "tg.main").physical_id
    msg = f"Target group '{arn}' is currently in use by a listener or a rule"
    errors = [client_error("ResourceInUse", msg, "DeleteTargetGroup") for _ in range(2)]
    calls = inject(monkeypatch, net.client("elbv2"), "delete_target_group", errors)
    assert delete(net, "tg.main").action == "delete"
    assert len(calls) == 3


def test_target_group_still_in_use_after_the_deadline_fails(
    net: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real listener keeps it in use (moto answers ResourceInUse as AWS does)
    ensure(net, "alb")
    ensure(net, "tg.main")
    ensure(net, "listener.http")
    monkeypatch.setattr(loadbalancer, "TARGET_GROUP_IN_USE_DEADLINE", 0.2)
    with pytest.raises(AwsError) as err:
        delete(net, "tg.main")
    assert err.value.code == "ResourceInUse"


def test_target_group_other_in_use_error_fails_at_once(
    net: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(net, "tg.main")
    errors = [
        client_error("ResourceInUse", "Target group is used by an ECS service", "DeleteTargetGroup")
    ] * 3
    calls = inject(monkeypatch, net.client("elbv2"), "delete_target_group", list(errors))
    with pytest.raises(AwsError, match="ECS service"):
        delete(net, "tg.main")
    assert len(calls) == 1


# --- listeners -------------------------------------------------------------------------------
@pytest.fixture
def lb(net: Ctx) -> Ctx:
    ensure(net, "alb")
    ensure(net, "tg.main")
    return net


def test_http_listener_forwards_to_the_target_group(lb: Ctx) -> None:
    ctx = lb
    assert ensure(ctx, "listener.http").action == "create"
    rec = ctx.state.get("listener.http")
    assert rec is not None and rec.outputs == {"port": 80}
    li = ctx.client("elbv2").describe_listeners(ListenerArns=[rec.physical_id])["Listeners"][0]
    assert (li["Protocol"], li["Port"]) == ("HTTP", 80)
    assert li["DefaultActions"][0]["Type"] == "forward"
    assert li["DefaultActions"][0]["TargetGroupArn"] == ctx.out("tg.main")
    tags = tags_of(ctx, rec.physical_id)
    assert tags["ecs-cicd:stack"] == ctx.cfg.stack and tags["ecs-cicd:id"] == "listener.http"


def test_listener_second_ensure_and_adopt(lb: Ctx) -> None:
    arn = ensure(lb, "listener.http").physical_id
    before = lb.aws.stats.mutating_total
    assert ensure(lb, "listener.http").action == "unchanged"
    assert lb.aws.stats.mutating_total == before
    lb.state.remove("listener.http")
    out = ensure(lb, "listener.http")
    assert out.action == "adopt" and out.physical_id == arn
    assert (
        len(lb.client("elbv2").describe_listeners(LoadBalancerArn=lb.out("alb"))["Listeners"]) == 1
    )


def test_listener_forwarding_elsewhere_is_put_back(lb: Ctx) -> None:
    ctx = lb
    arn = ensure(ctx, "listener.http").physical_id
    elb = ctx.client("elbv2")
    stray = elb.create_target_group(
        Name="stray", Protocol="HTTP", Port=80, VpcId=ctx.out("vpc"), TargetType="ip"
    )
    stray_arn = stray["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_listener(
        ListenerArn=arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": stray_arn}]
    )
    before = ctx.aws.stats.mutating_total
    planned = ensure(dry(ctx), "listener.http")
    assert planned.action == "update" and planned.changes == [
        "default action -> forward to tg.main"
    ]
    assert ctx.aws.stats.mutating_total == before
    assert ensure(ctx, "listener.http").action == "update"
    li = elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]
    assert loadbalancer._forward_targets(li["DefaultActions"][0]) == {ctx.out("tg.main")}


def test_https_listener_and_http_redirect(net: Ctx) -> None:
    cert = net.client("acm").request_certificate(DomainName="example.com")["CertificateArn"]
    ctx = with_config(net, load_balancer__certificate_arn=cert)
    ensure(ctx, "sg.alb")  # now also opens 443
    ensure(ctx, "alb")
    ensure(ctx, "tg.main")
    ensure(ctx, "listener.http")
    ensure(ctx, "listener.https")
    elb = ctx.client("elbv2")
    http = elb.describe_listeners(ListenerArns=[ctx.out("listener.http")])["Listeners"][0]
    assert http["DefaultActions"][0]["Type"] == "redirect"
    assert http["DefaultActions"][0]["RedirectConfig"] == {
        "Protocol": "HTTPS",
        "Port": "443",
        "StatusCode": "HTTP_301",
    }
    https = elb.describe_listeners(ListenerArns=[ctx.out("listener.https")])["Listeners"][0]
    assert (https["Protocol"], https["Port"]) == ("HTTPS", 443)
    assert https["Certificates"][0]["CertificateArn"] == cert
    assert https["SslPolicy"] == ctx.cfg.load_balancer.ssl_policy
    assert https["DefaultActions"][0]["TargetGroupArn"] == ctx.out("tg.main")
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, "listener.http").action == "unchanged"
    assert ensure(ctx, "listener.https").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_an_existing_forward_listener_becomes_a_redirect_when_a_certificate_is_added(
    lb: Ctx,
) -> None:
    ensure(lb, "listener.http")
    cert = lb.client("acm").request_certificate(DomainName="example.com")["CertificateArn"]
    ctx = with_config(lb, load_balancer__certificate_arn=cert)
    out = ensure(ctx, "listener.http")
    assert out.action == "update" and out.changes == [
        "default action -> redirect HTTP_301 to HTTPS:443"
    ]


def test_blue_green_swap_by_codedeploy_is_not_drift(bg: Ctx) -> None:
    ctx = bg
    for lid in ("alb", "tg.blue", "tg.green", "listener.http", "listener.test"):
        assert ensure(ctx, lid).action == "create"
    elb = ctx.client("elbv2")
    blue, green = ctx.out("tg.blue"), ctx.out("tg.green")
    prod = elb.describe_listeners(ListenerArns=[ctx.out("listener.http")])["Listeners"][0]
    test = elb.describe_listeners(ListenerArns=[ctx.out("listener.test")])["Listeners"][0]
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
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, "listener.http").action == "unchanged"
    assert ensure(ctx, "listener.test").action == "unchanged"
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
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, "listener.http").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before
    # a target group that is neither blue nor green is drift
    stray = elb.create_target_group(
        Name="stray", Protocol="HTTP", Port=80, VpcId=ctx.out("vpc"), TargetType="ip"
    )
    stray_arn = stray["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_listener(
        ListenerArn=prod["ListenerArn"],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": stray_arn}],
    )
    assert ensure(ctx, "listener.http").action == "update"
    li = elb.describe_listeners(ListenerArns=[prod["ListenerArn"]])["Listeners"][0]
    assert li["DefaultActions"][0]["TargetGroupArn"] == blue


def test_listener_delete_then_gone(lb: Ctx) -> None:
    ensure(lb, "listener.http")
    assert delete(lb, "listener.http").action == "delete"
    assert lb.client("elbv2").describe_listeners(LoadBalancerArn=lb.out("alb"))["Listeners"] == []
    assert delete(lb, "listener.http").action == "gone"
    # and with the listener gone the target group can go
    assert delete(lb, "tg.main").action == "delete"


def test_alb_delete_after_listeners(lb: Ctx) -> None:
    ensure(lb, "listener.http")
    assert delete(lb, "listener.http").action == "delete"
    assert delete(lb, "alb").action == "delete"
    assert lb.client("elbv2").describe_load_balancers()["LoadBalancers"] == []


def test_blue_green_certificate_fix_keeps_codedeploys_target_group(net: Ctx) -> None:
    acm = net.client("acm")
    cert, other = (
        acm.request_certificate(DomainName=d)["CertificateArn"] for d in ("a.example", "b.example")
    )
    ctx = with_config(net, load_balancer__certificate_arn=cert, pipeline__deploy=BLUE_GREEN)
    for lid in ("sg.alb", "alb", "tg.blue", "tg.green", "listener.https"):
        ensure(ctx, lid)
    elb = ctx.client("elbv2")
    arn = ctx.out("listener.https")
    green = ctx.out("tg.green")
    elb.modify_listener(
        ListenerArn=arn,
        Certificates=[{"CertificateArn": other}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": green}],
    )
    out = ensure(ctx, "listener.https")
    assert out.action == "update" and out.changes == [f"certificate [{other!r}] -> {cert}"]
    li = elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]
    assert li["Certificates"][0]["CertificateArn"] == cert
    assert li["DefaultActions"][0]["TargetGroupArn"] == green
