"""Network handlers on moto: create with tags, idempotent, adopt after a lost record, converge
drift, tolerant deletes with retried dependency violations."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ecs_cicd.engine import Ctx, Spec
from ecs_cicd.resources import network
from ecs_cicd.stack import build_specs
from tests.unit.resources.helpers import client_error, inject


def specs(ctx: Ctx) -> dict[str, Spec]:
    return {s.logical_id: s for s in build_specs(ctx.cfg)}


def ensure_network(ctx: Ctx) -> dict[str, Any]:
    sp = specs(ctx)
    out = {}
    for lid, handler in [
        ("vpc", network.VpcHandler()),
        ("igw", network.InternetGatewayHandler()),
        ("subnet.public.0", network.SubnetHandler()),
        ("subnet.public.1", network.SubnetHandler()),
        ("rtb.public", network.RouteTableHandler()),
    ]:
        out[lid] = handler.ensure(ctx, sp[lid])
    return out


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def test_creates_a_tagged_public_network(ctx: Ctx) -> None:
    out = ensure_network(ctx)
    assert {o.action for o in out.values()} == {"create"}
    ec2 = boto3.client("ec2", region_name="ap-northeast-1")
    vpc = ec2.describe_vpcs(VpcIds=[out["vpc"].physical_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert (
        tags(vpc)["ecs-cicd:stack"] == "test-codepipeline-dev" and tags(vpc)["ecs-cicd:id"] == "vpc"
    )
    assert ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"
    ]["Value"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "Subnets"
    ]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    assert all(s["MapPublicIpOnLaunch"] for s in subnets)
    rtb = ec2.describe_route_tables(RouteTableIds=[out["rtb.public"].physical_id])["RouteTables"][0]
    assert any(
        r.get("GatewayId") == out["igw"].physical_id and r["DestinationCidrBlock"] == "0.0.0.0/0"
        for r in rtb["Routes"]
    )
    assert {a["SubnetId"] for a in rtb["Associations"]} == {s["SubnetId"] for s in subnets}
    igw = ec2.describe_internet_gateways(InternetGatewayIds=[out["igw"].physical_id])[
        "InternetGateways"
    ][0]
    assert igw["Attachments"][0]["VpcId"] == vpc["VpcId"]


def test_second_ensure_makes_no_mutating_call(ctx: Ctx) -> None:
    ensure_network(ctx)
    before = ctx.aws.stats.mutating_total
    again = ensure_network(ctx)
    assert {o.action for o in again.values()} == {"unchanged"}
    assert ctx.aws.stats.mutating_total == before


def test_lost_records_are_adopted_not_duplicated(ctx: Ctx) -> None:
    first = ensure_network(ctx)
    ctx.state.records.clear()
    again = ensure_network(ctx)
    assert {o.action for o in again.values()} == {"adopt"}
    assert again["vpc"].physical_id == first["vpc"].physical_id
    ec2 = boto3.client("ec2", region_name="ap-northeast-1")
    assert len([v for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]]) == 1


def test_drift_is_reported_in_plan_and_fixed_by_up(ctx: Ctx) -> None:
    out = ensure_network(ctx)
    ec2 = boto3.client("ec2", region_name="ap-northeast-1")
    sid = out["subnet.public.0"].physical_id
    ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": False})
    ctx.dry_run = True
    before = ctx.aws.stats.mutating_total
    planned = network.SubnetHandler().ensure(ctx, specs(ctx)["subnet.public.0"])
    assert planned.action == "update" and "MapPublicIpOnLaunch" in planned.changes[0]
    assert ctx.aws.stats.mutating_total == before
    ctx.dry_run = False
    network.SubnetHandler().ensure(ctx, specs(ctx)["subnet.public.0"])
    assert ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["MapPublicIpOnLaunch"]


def test_delete_everything_and_again(ctx: Ctx) -> None:
    ensure_network(ctx)
    order = ["rtb.public", "subnet.public.0", "subnet.public.1", "igw", "vpc"]
    handlers = {
        "rtb.public": network.RouteTableHandler(),
        "igw": network.InternetGatewayHandler(),
        "vpc": network.VpcHandler(),
        "subnet.public.0": network.SubnetHandler(),
        "subnet.public.1": network.SubnetHandler(),
    }
    recs = {lid: ctx.state.get(lid) for lid in order}
    for lid in order:
        assert handlers[lid].delete(ctx, recs[lid]).action == "delete"  # type: ignore[arg-type]
    for lid in order:
        assert handlers[lid].delete(ctx, recs[lid]).action == "gone"  # type: ignore[arg-type]
    ec2 = boto3.client("ec2", region_name="ap-northeast-1")
    assert [v for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]] == []


def violation(message: str = "resource has a dependent object") -> ClientError:
    return client_error("DependencyViolation", message, "Delete")


def test_dependency_violation_is_retried_until_released(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = ensure_network(ctx)
    calls = inject(monkeypatch, ctx.client("ec2"), "delete_subnet", [violation(), violation()])
    network.RouteTableHandler().delete(ctx, ctx.state.get("rtb.public"))  # type: ignore[arg-type]
    assert network.SubnetHandler().delete(ctx, ctx.state.get("subnet.public.0")).action == "delete"  # type: ignore[arg-type]
    assert len(calls) == 3
    _ = out


def test_dependency_violation_past_deadline_fails_with_aws_code(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_network(ctx)
    monkeypatch.setattr(network, "DEPENDENCY_DEADLINE", 0.01)
    ec2 = ctx.client("ec2")
    monkeypatch.setattr(ec2, "delete_vpc", lambda **kw: (_ for _ in ()).throw(violation()))
    from ecs_cicd.errors import AwsError

    with pytest.raises(AwsError, match=r"Deleting VPC vpc-.*DependencyViolation"):
        network.VpcHandler().delete(ctx, ctx.state.get("vpc"))  # type: ignore[arg-type]


def test_detach_retries_only_the_mapped_address_violation(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_network(ctx)
    ec2 = ctx.client("ec2")
    mapped = violation(
        "Network vpc-1 has some mapped public address(es). Please unmap those public address(es) before detaching the gateway."
    )
    seen = inject(monkeypatch, ec2, "detach_internet_gateway", [mapped])
    assert network.InternetGatewayHandler().delete(ctx, ctx.state.get("igw")).action == "delete"  # type: ignore[arg-type]
    assert len(seen) == 2
    # Another DependencyViolation on detach is not the lag AWS documents: it fails at once.
    ensure_network(ctx)
    monkeypatch.setattr(
        ec2,
        "detach_internet_gateway",
        lambda **kw: (_ for _ in ()).throw(violation("something else")),
    )
    from ecs_cicd.errors import AwsError

    with pytest.raises(AwsError, match="Detaching"):
        network.InternetGatewayHandler().delete(ctx, ctx.state.get("igw"))  # type: ignore[arg-type]


def test_existing_vpc_is_referenced_never_deleted(ctx: Ctx) -> None:
    ec2 = boto3.client("ec2", region_name="ap-northeast-1")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    s1 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/24", AvailabilityZone="ap-northeast-1a")[
        "Subnet"
    ]["SubnetId"]
    s2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone="ap-northeast-1c")[
        "Subnet"
    ]["SubnetId"]
    import yaml

    from ecs_cicd.config import parse_config
    from tests.conftest import EXAMPLE

    d = yaml.safe_load(EXAMPLE.read_text())
    d["network"] = {"vpc_id": vpc, "subnet_ids": [s1, s2]}
    ctx.cfg = parse_config(d)
    sp = specs(ctx)
    assert "igw" not in sp
    assert network.ExistingVpcHandler().ensure(ctx, sp["vpc"]).action == "reference"
    assert network.ExistingSubnetHandler().ensure(ctx, sp["subnet.public.0"]).action == "reference"
    rec = ctx.state.get("vpc")
    assert rec is not None and rec.owned is False
    network.ExistingVpcHandler().delete(ctx, rec)
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
