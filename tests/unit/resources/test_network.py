"""Network kinds on moto: the desired models, create with tags at creation, idempotent, adopt
after a lost record, converge drift, EC2's read-after-create lag, ownership (strangers, take-over,
skip), tolerant deletes with retried dependency violations, and an existing VPC referenced."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError, ConfigError
from ecs_cicd.lifecycle import Ctx, ForeignResources, Live, Outcome
from ecs_cicd.resources import network
from tests.unit.resources.helpers import (
    client_error,
    config_with,
    delete,
    ensure,
    ensure_all,
    inject,
    plan,
    recorded,
    stack_of,
    vpc_with_subnets,
    want,
)

REGION = "ap-northeast-1"
NETWORK = ["vpc", "igw", "subnet.public.0", "subnet.public.1", "rtb.public"]
DELETE_ORDER = ["rtb.public", "subnet.public.0", "subnet.public.1", "igw", "vpc"]


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def ensure_network(ctx: Ctx, cfg: Config) -> dict[str, Outcome]:
    return {o.logical_id: o for o in ensure_all(ctx, cfg, "rtb.public")}


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def vpcs() -> list[dict[str, Any]]:
    return [v for v in ec2().describe_vpcs()["Vpcs"] if not v["IsDefault"]]


def violation(message: str = "resource has a dependent object") -> ClientError:
    return client_error("DependencyViolation", message, "Delete")


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that meets an unexpected retried error fails in seconds, not minutes."""
    monkeypatch.setattr(network, "DEPENDENCY_DEADLINE", 3)
    monkeypatch.setattr(network, "EC2_READ_LAG", 3)


# --- the desired models ----------------------------------------------------------------------
def test_models_hold_every_desired_value(cfg: Config) -> None:
    stack = stack_of(cfg)
    vpc = stack.get("vpc")
    assert isinstance(vpc, network.Vpc)
    assert vpc.cidr == "10.0.0.0/16" and vpc.dns_support and vpc.dns_hostnames
    assert vpc.tag_dict["Name"] == f"{cfg.stack}-vpc"
    assert vpc.tag_dict["ecs-cicd:stack"] == cfg.stack and vpc.tag_dict["ecs-cicd:id"] == "vpc"
    subnets = [stack.get(f"subnet.public.{i}") for i in (0, 1)]
    assert [(s.cidr, s.index, s.count, s.availability_zone) for s in subnets] == [  # type: ignore[attr-defined]
        ("10.0.0.0/24", 0, 2, None),
        ("10.0.1.0/24", 1, 2, None),
    ]
    assert all(s.vpc is vpc and s.map_public_ip for s in subnets)  # type: ignore[attr-defined]
    igw = stack.get("igw")
    assert isinstance(igw, network.InternetGateway) and igw.vpc is vpc
    rtb = stack.get("rtb.public")
    assert isinstance(rtb, network.RouteTable)
    assert rtb.igw is igw and rtb.subnets == tuple(subnets) and rtb.destination == "0.0.0.0/0"
    assert {d.logical_id for d in rtb.deps()} == {
        "vpc",
        "igw",
        "subnet.public.0",
        "subnet.public.1",
    }
    assert rtb.tag_dict["Name"] == f"{cfg.stack}-rtb.public"


def test_configured_zones_and_cidrs_are_in_the_model() -> None:
    c = config_with(
        network={
            "vpc_cidr": "10.5.0.0/16",
            "public_subnet_cidrs": ["10.5.10.0/24", "10.5.20.0/24"],
            "availability_zones": ["ap-northeast-1c", "ap-northeast-1d"],
        }
    )
    subnets = [want(c, f"subnet.public.{i}") for i in (0, 1)]
    assert [(s.cidr, s.availability_zone) for s in subnets] == [  # type: ignore[attr-defined]
        ("10.5.10.0/24", "ap-northeast-1c"),
        ("10.5.20.0/24", "ap-northeast-1d"),
    ]


def test_fewer_configured_zones_than_subnets_is_a_config_error() -> None:
    c = config_with(
        network={
            "public_subnet_cidrs": ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"],
            "availability_zones": ["ap-northeast-1a", "ap-northeast-1c"],
        }
    )
    with pytest.raises(ConfigError, match="availability_zones: 2 availability zone"):
        stack_of(c)


# --- create, idempotence, adopt --------------------------------------------------------------
def test_creates_a_tagged_public_network(ctx: Ctx, cfg: Config) -> None:
    out = ensure_network(ctx, cfg)
    assert {lid: o.action for lid, o in out.items()} == dict.fromkeys(NETWORK, "create")
    vpc = ec2().describe_vpcs(VpcIds=[recorded(ctx, "vpc").physical_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert tags(vpc)["ecs-cicd:stack"] == cfg.stack and tags(vpc)["ecs-cicd:id"] == "vpc"
    assert tags(vpc)["Name"] == f"{cfg.stack}-vpc"
    assert recorded(ctx, "vpc").outputs == {"cidr": "10.0.0.0/16"}
    assert ec2().describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"
    ]["Value"]
    subnets = ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
        "Subnets"
    ]
    # No zone configured: the region's first zones, sorted, resolved when created.
    assert sorted(s["AvailabilityZone"] for s in subnets) == ["ap-northeast-1a", "ap-northeast-1c"]
    assert all(s["MapPublicIpOnLaunch"] for s in subnets)
    assert recorded(ctx, "subnet.public.0").outputs == {
        "cidr": "10.0.0.0/24",
        "az": "ap-northeast-1a",
    }
    rtb_id = recorded(ctx, "rtb.public").physical_id
    igw_id = recorded(ctx, "igw").physical_id
    rtb = ec2().describe_route_tables(RouteTableIds=[rtb_id])["RouteTables"][0]
    assert any(
        r.get("GatewayId") == igw_id and r["DestinationCidrBlock"] == "0.0.0.0/0"
        for r in rtb["Routes"]
    )
    assert {a["SubnetId"] for a in rtb["Associations"]} == {s["SubnetId"] for s in subnets}
    igw = ec2().describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"][0]
    assert igw["Attachments"][0]["VpcId"] == vpc["VpcId"]
    assert recorded(ctx, "igw").outputs == {"vpc_id": vpc["VpcId"]}
    # Tags were set at creation: no CreateTags call.
    assert "ec2:CreateTags" not in ctx.aws.stats.mutating


def test_configured_zones_are_used(ctx: Ctx) -> None:
    c = config_with(network={"availability_zones": ["ap-northeast-1d", "ap-northeast-1c"]})
    ensure_all(ctx, c, "subnet.public.0", "subnet.public.1")
    assert recorded(ctx, "subnet.public.0").outputs["az"] == "ap-northeast-1d"
    assert recorded(ctx, "subnet.public.1").outputs["az"] == "ap-northeast-1c"


def test_more_subnets_than_the_region_has_zones_fails_at_create(ctx: Ctx) -> None:
    cidrs = [f"10.0.{i}.0/24" for i in range(5)]
    c = config_with(network={"public_subnet_cidrs": cidrs})
    ensure(ctx, c, "vpc")
    with pytest.raises(ConfigError, match="availability zone"):
        ensure(ctx, c, "subnet.public.0")
    assert (
        ec2().describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [recorded(ctx, "vpc").physical_id]}]
        )["Subnets"]
        == []
    )


def test_plan_of_a_new_network_reads_only(ctx: Ctx, cfg: Config) -> None:
    before = ctx.aws.stats.mutating_total
    for lid in NETWORK:
        out = plan(ctx, cfg, lid)
        assert out.action == "create", lid
    assert plan(ctx, cfg, "vpc").changes == ["cidr 10.0.0.0/16"]
    assert plan(ctx, cfg, "subnet.public.0").after == "vpc"
    assert ctx.aws.stats.mutating_total == before
    assert vpcs() == []


def test_second_ensure_makes_no_mutating_call(ctx: Ctx, cfg: Config) -> None:
    ensure_network(ctx, cfg)
    before = ctx.aws.stats.mutating_total
    again = ensure_network(ctx, cfg)
    assert {o.action for o in again.values()} == {"unchanged"}
    assert ctx.aws.stats.mutating_total == before


def test_lost_records_are_adopted_not_duplicated(ctx: Ctx, cfg: Config) -> None:
    ensure_network(ctx, cfg)
    first = {lid: recorded(ctx, lid).physical_id for lid in NETWORK}
    ctx.state.records.clear()
    again = ensure_network(ctx, cfg)
    assert {o.action for o in again.values()} == {"adopt"}
    assert {lid: recorded(ctx, lid).physical_id for lid in NETWORK} == first
    assert len(vpcs()) == 1


# --- drift -----------------------------------------------------------------------------------
def test_drift_is_reported_in_plan_and_fixed_by_up(ctx: Ctx, cfg: Config) -> None:
    ensure_network(ctx, cfg)
    sid = recorded(ctx, "subnet.public.0").physical_id
    ec2().modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": False})
    before = ctx.aws.stats.mutating_total
    planned = plan(ctx, cfg, "subnet.public.0")
    assert planned.action == "update" and "MapPublicIpOnLaunch" in planned.changes[0]
    assert ctx.aws.stats.mutating_total == before
    assert ensure(ctx, cfg, "subnet.public.0").action == "update"
    assert ec2().describe_subnets(SubnetIds=[sid])["Subnets"][0]["MapPublicIpOnLaunch"]
    assert ensure(ctx, cfg, "subnet.public.0").action == "unchanged"


def test_vpc_dns_hostnames_turned_off_is_put_back(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "vpc")
    vid = recorded(ctx, "vpc").physical_id
    ec2().modify_vpc_attribute(VpcId=vid, EnableDnsHostnames={"Value": False})
    ctx.refresh = True  # changed outside ecs_cicd: only a refresh reads these settings again
    planned = plan(ctx, cfg, "vpc")
    assert planned.action == "update"
    assert planned.changes == ["EnableDnsHostnames: False -> True"]
    ensure(ctx, cfg, "vpc")
    assert ec2().describe_vpc_attribute(VpcId=vid, Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"
    ]["Value"]


def test_detached_gateway_and_lost_route_and_association_are_put_back(
    ctx: Ctx, cfg: Config
) -> None:
    ensure_network(ctx, cfg)
    vid, gid = recorded(ctx, "vpc").physical_id, recorded(ctx, "igw").physical_id
    rid, sid = recorded(ctx, "rtb.public").physical_id, recorded(ctx, "subnet.public.1").physical_id
    rtb = ec2().describe_route_tables(RouteTableIds=[rid])["RouteTables"][0]
    assoc = next(a for a in rtb["Associations"] if a.get("SubnetId") == sid)
    ec2().disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
    ec2().delete_route(RouteTableId=rid, DestinationCidrBlock="0.0.0.0/0")
    ec2().detach_internet_gateway(InternetGatewayId=gid, VpcId=vid)

    igw_plan = plan(ctx, cfg, "igw")
    assert igw_plan.action == "update" and igw_plan.changes == [f"attachment: none -> '{vid}'"]
    rtb_plan = plan(ctx, cfg, "rtb.public")
    assert rtb_plan.action == "update"
    assert rtb_plan.changes == [
        f"route 0.0.0.0/0: none -> '{gid}'",
        f"association subnet.public.1: associate {sid}",
    ]
    ensure(ctx, cfg, "igw")
    ensure(ctx, cfg, "rtb.public")
    igw = ec2().describe_internet_gateways(InternetGatewayIds=[gid])["InternetGateways"][0]
    assert [a["VpcId"] for a in igw["Attachments"]] == [vid]
    rtb = ec2().describe_route_tables(RouteTableIds=[rid])["RouteTables"][0]
    assert any(r.get("GatewayId") == gid for r in rtb["Routes"])
    assert sid in {a.get("SubnetId") for a in rtb["Associations"]}
    assert {o.action for o in ensure_network(ctx, cfg).values()} == {"unchanged"}


# --- EC2's read-after-create lag -------------------------------------------------------------
def test_not_found_right_after_create_is_retried_not_recreated(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, "vpc")
    c = ctx.client("ec2")
    lag = client_error("InvalidVpcID.NotFound", "The vpc ID does not exist", "CreateSubnet")
    calls = inject(monkeypatch, c, "create_subnet", [lag, lag])
    assert ensure(ctx, cfg, "subnet.public.0").action == "create"
    assert len(calls) == 3
    subnet_lag = client_error("InvalidSubnetID.NotFound", "no such subnet", "ModifySubnetAttribute")
    modify = inject(monkeypatch, c, "modify_subnet_attribute", [subnet_lag])
    assert ensure(ctx, cfg, "subnet.public.1").action == "create"
    assert len(modify) == 2
    assert (
        len(
            ec2().describe_subnets(Filters=[{"Name": "tag:ecs-cicd:stack", "Values": [cfg.stack]}])[
                "Subnets"
            ]
        )
        == 2
    )


def test_other_create_errors_fail_at_once(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = client_error(
        "VpcLimitExceeded", "The maximum number of VPCs has been reached.", "CreateVpc"
    )
    calls = inject(monkeypatch, ctx.client("ec2"), "create_vpc", [err, err])
    with pytest.raises(AwsError, match=r"Creating VPC .*VpcLimitExceeded") as e:
        ensure(ctx, cfg, "vpc")
    assert len(calls) == 1
    assert "network.vpc_id" in str(e.value)  # the hint
    assert ctx.state.get("vpc") is None


# --- ownership -------------------------------------------------------------------------------
def stranger_vpc(cfg: Config) -> str:
    """A VPC named like ours, without our stack tag."""
    vid: str = ec2().create_vpc(
        CidrBlock="10.7.0.0/16",
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": f"{cfg.stack}-vpc"}]}
        ],
    )["Vpc"]["VpcId"]
    return vid


def test_a_stranger_named_like_ours_is_foreign_and_left_alone(ctx: Ctx, cfg: Config) -> None:
    vid = stranger_vpc(cfg)
    out = plan(ctx, cfg, "vpc")
    assert out.action == "foreign" and out.physical_id == vid
    before = ctx.aws.stats.mutating_total
    with pytest.raises(ForeignResources):
        ensure(ctx, cfg, "vpc")
    assert ctx.aws.stats.mutating_total == before
    assert [v["VpcId"] for v in vpcs()] == [vid]
    assert tags(vpcs()[0]) == {"Name": f"{cfg.stack}-vpc"}
    assert ctx.state.get("vpc") is None


def test_a_stranger_subnet_in_our_vpc_is_foreign(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "vpc")
    vid = recorded(ctx, "vpc").physical_id
    sid = ec2().create_subnet(
        VpcId=vid,
        CidrBlock="10.0.0.0/24",
        TagSpecifications=[
            {
                "ResourceType": "subnet",
                "Tags": [{"Key": "Name", "Value": f"{cfg.stack}-subnet.public.0"}],
            }
        ],
    )["Subnet"]["SubnetId"]
    out = plan(ctx, cfg, "subnet.public.0")
    assert out.action == "foreign" and out.physical_id == sid
    with pytest.raises(ForeignResources):
        ensure(ctx, cfg, "subnet.public.0")


def test_take_over_tags_the_stranger(ctx: Ctx, cfg: Config) -> None:
    vid = stranger_vpc(cfg)
    ctx.adopt = frozenset({"vpc"})
    out = ensure(ctx, cfg, "vpc")
    assert out.action == "take" and out.physical_id == vid
    t = tags(ec2().describe_vpcs(VpcIds=[vid])["Vpcs"][0])
    assert t["ecs-cicd:stack"] == cfg.stack and t["ecs-cicd:id"] == "vpc"
    assert recorded(ctx, "vpc").physical_id == vid
    # DNS hostnames converged as part of the take-over.
    assert ec2().describe_vpc_attribute(VpcId=vid, Attribute="enableDnsHostnames")[
        "EnableDnsHostnames"
    ]["Value"]
    ctx.adopt = frozenset()
    assert ensure(ctx, cfg, "vpc").action == "unchanged"


def test_delete_skips_a_recorded_resource_without_our_tag(ctx: Ctx, cfg: Config) -> None:
    ensure_network(ctx, cfg)
    vid = recorded(ctx, "vpc").physical_id
    ec2().delete_tags(Resources=[vid], Tags=[{"Key": "ecs-cicd:stack"}])
    assert delete(ctx, "vpc").action == "skip"
    assert ec2().describe_vpcs(VpcIds=[vid])["Vpcs"]


def test_deleted_by_hand_plans_create_and_deletes_as_gone(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "vpc")
    ensure(ctx, cfg, "igw")
    gid = recorded(ctx, "igw").physical_id
    ec2().detach_internet_gateway(InternetGatewayId=gid, VpcId=recorded(ctx, "vpc").physical_id)
    ec2().delete_internet_gateway(InternetGatewayId=gid)
    ec2().delete_vpc(VpcId=recorded(ctx, "vpc").physical_id)
    assert plan(ctx, cfg, "vpc").action == "create"
    assert plan(ctx, cfg, "igw").action == "create"
    assert delete(ctx, "igw").action == "gone"
    assert delete(ctx, "vpc").action == "gone"


# --- delete ----------------------------------------------------------------------------------
def test_delete_everything_and_again(ctx: Ctx, cfg: Config) -> None:
    ensure_network(ctx, cfg)
    for lid in DELETE_ORDER:
        assert delete(ctx, lid).action == "delete", lid
    for lid in DELETE_ORDER:
        assert delete(ctx, lid).action == "gone", lid
    assert vpcs() == []


def test_dependency_violation_is_retried_until_released(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_network(ctx, cfg)
    calls = inject(monkeypatch, ctx.client("ec2"), "delete_subnet", [violation(), violation()])
    assert delete(ctx, "rtb.public").action == "delete"
    assert delete(ctx, "subnet.public.0").action == "delete"
    assert len(calls) == 3


def test_dependency_violation_past_deadline_fails_with_aws_code(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_network(ctx, cfg)
    monkeypatch.setattr(network, "DEPENDENCY_DEADLINE", 0.01)
    c = ctx.client("ec2")
    monkeypatch.setattr(c, "delete_vpc", lambda **kw: (_ for _ in ()).throw(violation()))
    with pytest.raises(AwsError, match=r"Deleting VPC vpc-.*DependencyViolation"):
        delete(ctx, "vpc")


def test_detach_retries_only_the_mapped_address_violation(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_network(ctx, cfg)
    c = ctx.client("ec2")
    mapped = violation(
        "Network vpc-1 has some mapped public address(es). Please unmap those public address(es) before detaching the gateway."
    )
    seen = inject(monkeypatch, c, "detach_internet_gateway", [mapped])
    assert delete(ctx, "igw").action == "delete"
    assert len(seen) == 2
    # Another DependencyViolation on detach is not the lag AWS documents: it fails at once.
    ensure_network(ctx, cfg)
    monkeypatch.setattr(
        c,
        "detach_internet_gateway",
        lambda **kw: (_ for _ in ()).throw(violation("something else")),
    )
    with pytest.raises(AwsError, match="Detaching"):
        delete(ctx, "igw")


def test_gateway_not_attached_on_detach_is_done(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_network(ctx, cfg)
    gid = recorded(ctx, "igw").physical_id
    c = ctx.client("ec2")
    c.detach_internet_gateway(InternetGatewayId=gid, VpcId=recorded(ctx, "vpc").physical_id)
    not_attached = client_error(
        "Gateway.NotAttached", "resource is not attached", "DetachInternetGateway"
    )
    # The record says attached (a stale read): the detach answers NotAttached, the delete goes on.
    monkeypatch.setattr(
        network.InternetGatewayKind,
        "find_recorded",
        lambda self, ctx, rec: Live(
            gid, None, {"ecs-cicd:stack": cfg.stack}, {"Attachments": [{"VpcId": "vpc-1"}]}
        ),
    )
    seen = inject(monkeypatch, c, "detach_internet_gateway", [not_attached])
    assert delete(ctx, "igw").action == "delete"
    assert len(seen) == 1
    assert (
        ec2().describe_internet_gateways(
            Filters=[{"Name": "internet-gateway-id", "Values": [gid]}]
        )["InternetGateways"]
        == []
    )


def test_route_table_delete_disassociates_first(ctx: Ctx, cfg: Config) -> None:
    ensure_network(ctx, cfg)
    rid = recorded(ctx, "rtb.public").physical_id
    assert delete(ctx, "rtb.public").action == "delete"
    assert (
        ec2().describe_route_tables(Filters=[{"Name": "route-table-id", "Values": [rid]}])[
            "RouteTables"
        ]
        == []
    )
    # The subnets survive, now on the VPC's main table.
    assert delete(ctx, "subnet.public.0").action == "delete"


# --- an existing VPC -------------------------------------------------------------------------
def existing(vpc: str, subnets: list[str]) -> Config:
    return config_with(network={"vpc_id": vpc, "subnet_ids": subnets})


def test_existing_vpc_is_referenced_never_changed_or_deleted(ctx: Ctx) -> None:
    vpc, subnets = vpc_with_subnets(ec2(), REGION)
    c = existing(vpc, subnets)
    stack = stack_of(c)
    assert "igw" not in stack.ids and "rtb.public" not in stack.ids
    w = stack.get("subnet.public.1")
    assert isinstance(w, network.ExistingSubnet)
    assert w.subnet_id == subnets[1] and w.vpc is stack.get("vpc")
    before = ctx.aws.stats.mutating_total
    assert plan(ctx, c, "vpc").action == "reference"
    assert ensure(ctx, c, "vpc").action == "reference"
    for i in (0, 1):
        assert ensure(ctx, c, f"subnet.public.{i}").action == "reference"
    assert ctx.aws.stats.mutating_total == before
    rec = recorded(ctx, "vpc")
    assert rec.owned is False and rec.physical_id == vpc and rec.kind == "vpc.existing"
    assert rec.outputs == {"cidr": "10.0.0.0/16"}
    sub = recorded(ctx, "subnet.public.1")
    assert sub.owned is False and sub.outputs == {"cidr": "10.0.1.0/24", "az": "ap-northeast-1c"}
    assert delete(ctx, "subnet.public.0").action == "reference"
    assert delete(ctx, "vpc").action == "reference"
    assert ec2().describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert len(ec2().describe_subnets(SubnetIds=subnets)["Subnets"]) == 2


def test_a_missing_existing_vpc_is_reported_missing(ctx: Ctx) -> None:
    c = existing("vpc-0123456789abcdef0", ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"])
    out = plan(ctx, c, "vpc")
    assert out.action == "missing"
    assert "vpc-0123456789abcdef0 does not exist" in out.changes[0]
    with pytest.raises(AwsError, match="vpc-0123456789abcdef0"):
        ensure(ctx, c, "vpc")
    assert plan(ctx, c, "subnet.public.0").action == "missing"


def test_existing_subnet_of_another_vpc_is_a_config_error(ctx: Ctx) -> None:
    vpc, subnets = vpc_with_subnets(ec2(), REGION)
    other = ec2().create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    c = existing(other, subnets)
    with pytest.raises(ConfigError, match=f"is in {vpc}, not {other}"):
        plan(ctx, c, "subnet.public.0")


def test_existing_subnets_in_one_zone_are_a_config_error(ctx: Ctx) -> None:
    vpc = ec2().create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2().create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}a")[
            "Subnet"
        ]["SubnetId"]
        for i in (0, 1)
    ]
    with pytest.raises(ConfigError, match="fewer than two availability zones"):
        plan(ctx, existing(vpc, subnets), "subnet.public.0")
