"""Network: a new VPC with public subnets in two or more AZs, an internet gateway and a public
route table — or an existing VPC and subnets, referenced and never modified or deleted.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd.aws import aws_error, error_code, is_not_found, retry_on, tags_list
from ecs_cicd.engine import Ctx, Outcome, Spec
from ecs_cicd.errors import ConfigError
from ecs_cicd.names import ID_TAG, STACK_TAG
from ecs_cicd.state import Record

# EC2 is eventually consistent for up to ~5 minutes after a create (AWS-BEHAVIOUR.md).
EC2_READ_LAG = 300
EC2_NOT_FOUND = (
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidGroup.NotFound",
)
# Deleting while Fargate/ALB ENIs and public IPs are being released (AWS-BEHAVIOUR.md).
DEPENDENCY_DEADLINE = 1200


def tag_spec(ctx: Ctx, resource_type: str, logical_id: str) -> list[dict[str, Any]]:
    tags = {**ctx.tags(logical_id), "Name": f"{ctx.cfg.stack}-{logical_id}"}
    return [{"ResourceType": resource_type, "Tags": tags_list(tags)}]


def find_tagged(ctx: Ctx, describe: str, key: str, logical_id: str) -> dict[str, Any] | None:
    """The EC2 resource carrying this stack's tags for `logical_id` (crash recovery: adopt it)."""
    resp = getattr(ctx.client("ec2"), describe)(
        Filters=[
            {"Name": f"tag:{STACK_TAG}", "Values": [ctx.cfg.stack]},
            {"Name": f"tag:{ID_TAG}", "Values": [logical_id]},
        ]
    )
    items = [i for i in resp[key] if i.get("State") not in ("deleted", "deleting")]
    return items[0] if items else None


def describe_one(
    ctx: Ctx, describe: str, key: str, id_param: str, rid: str
) -> dict[str, Any] | None:
    try:
        items = getattr(ctx.client("ec2"), describe)(**{id_param: [rid]})[key]
    except ClientError as e:
        if is_not_found(e):
            return None
        raise
    return items[0] if items else None


def ec2_after_create(ctx: Ctx, call: Any) -> Any:
    """A call on something just created: retry its NotFound while EC2 catches up, never recreate."""
    return retry_on(
        call, codes=EC2_NOT_FOUND, fragment=None, deadline=EC2_READ_LAG, sleep=ctx.sleep
    )


def delete_ec2(
    ctx: Ctx, what: str, call: Any, *, codes: tuple[str, ...] = ("DependencyViolation",)
) -> bool:
    """Run an EC2 delete; NotFound is done; dependency violations are retried until the deadline."""
    try:
        retry_on(call, codes=codes, fragment=None, deadline=DEPENDENCY_DEADLINE, sleep=ctx.sleep)
    except ClientError as e:
        if is_not_found(e):
            return False
        raise aws_error("Deleting", what, e) from None
    return True


def _outcome(spec: Spec, action: Any, rid: str, changes: list[str] | None = None) -> Outcome:
    return Outcome(spec.logical_id, spec.kind, action, changes or [], rid)


# --- VPC -------------------------------------------------------------------------------------
class VpcHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        ec2 = ctx.client("ec2")
        rec = ctx.state.get(spec.logical_id)
        vpc = describe_one(ctx, "describe_vpcs", "Vpcs", "VpcIds", rec.physical_id) if rec else None
        vpc = vpc or find_tagged(ctx, "describe_vpcs", "Vpcs", spec.logical_id)
        if vpc is None:
            if ctx.dry_run:
                return _outcome(spec, "create", "", [f"cidr {ctx.cfg.network.vpc_cidr}"])
            try:
                vpc = ec2.create_vpc(
                    CidrBlock=ctx.cfg.network.vpc_cidr,
                    TagSpecifications=tag_spec(ctx, "vpc", spec.logical_id),
                )["Vpc"]
            except ClientError as e:
                raise aws_error("Creating", f"VPC {ctx.cfg.network.vpc_cidr}", e) from None
            action = "create"
        else:
            action = "adopt" if rec is None else "unchanged"
        vpc_id = vpc["VpcId"]
        ctx.record(Record(spec.logical_id, spec.kind, vpc_id, outputs={"cidr": vpc["CidrBlock"]}))
        changes = []
        for attr in ("EnableDnsSupport", "EnableDnsHostnames"):
            if action == "create" or not _vpc_attribute(ctx, vpc_id, attr):
                if action != "create":
                    changes.append(f"{attr}: off -> on")
                if not ctx.dry_run:
                    ec2_after_create(
                        ctx,
                        lambda a=attr: ec2.modify_vpc_attribute(
                            VpcId=vpc_id, **{a: {"Value": True}}
                        ),
                    )
        if changes and action == "unchanged":
            action = "update"
        return _outcome(spec, action, vpc_id, changes)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        ec2 = ctx.client("ec2")
        deleted = delete_ec2(
            ctx, f"VPC {record.physical_id}", lambda: ec2.delete_vpc(VpcId=record.physical_id)
        )
        return Outcome(
            record.logical_id, record.kind, "delete" if deleted else "gone", [], record.physical_id
        )


def _vpc_attribute(ctx: Ctx, vpc_id: str, attr: str) -> bool:
    key = attr[0].lower() + attr[1:]
    resp = ctx.client("ec2").describe_vpc_attribute(VpcId=vpc_id, Attribute=key)
    return bool(resp[attr]["Value"])


# --- Subnets ---------------------------------------------------------------------------------
def availability_zones(ctx: Ctx) -> list[str]:
    if ctx.cfg.network.availability_zones:
        return list(ctx.cfg.network.availability_zones)
    zones = ctx.client("ec2").describe_availability_zones(
        Filters=[
            {"Name": "state", "Values": ["available"]},
            {"Name": "zone-type", "Values": ["availability-zone"]},
        ]
    )["AvailabilityZones"]
    return sorted(z["ZoneName"] for z in zones)


class SubnetHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        ec2 = ctx.client("ec2")
        index, count = spec.param("index"), spec.param("count")
        cidr = ctx.cfg.network.subnet_cidrs(count)[index]
        rec = ctx.state.get(spec.logical_id)
        sub = (
            describe_one(ctx, "describe_subnets", "Subnets", "SubnetIds", rec.physical_id)
            if rec
            else None
        )
        sub = sub or find_tagged(ctx, "describe_subnets", "Subnets", spec.logical_id)
        if sub is None:
            vpc_id = ctx.out("vpc")
            azs = availability_zones(ctx)
            if len(azs) < count:
                raise ConfigError(
                    f"region {ctx.region} offers {len(azs)} availability zone(s); {count} subnets need {count}",
                    field="network.public_subnet_cidrs",
                )
            az = azs[index]
            if ctx.dry_run:
                return _outcome(spec, "create", "", [f"{cidr} in {az}"])
            try:
                sub = ec2_after_create(
                    ctx,
                    lambda: ec2.create_subnet(
                        VpcId=vpc_id,
                        CidrBlock=cidr,
                        AvailabilityZone=az,
                        TagSpecifications=tag_spec(ctx, "subnet", spec.logical_id),
                    ),
                )["Subnet"]
            except ClientError as e:
                raise aws_error("Creating", f"subnet {cidr} in {az}", e) from None
            action = "create"
        else:
            action = "adopt" if rec is None else "unchanged"
        sid = sub["SubnetId"]
        ctx.record(
            Record(
                spec.logical_id,
                spec.kind,
                sid,
                outputs={"cidr": sub["CidrBlock"], "az": sub["AvailabilityZone"]},
            )
        )
        changes = []
        if not sub.get("MapPublicIpOnLaunch"):
            if action != "create":
                changes.append("MapPublicIpOnLaunch: false -> true")
            if not ctx.dry_run:
                ec2_after_create(
                    ctx,
                    lambda: ec2.modify_subnet_attribute(
                        SubnetId=sid, MapPublicIpOnLaunch={"Value": True}
                    ),
                )
        if changes and action == "unchanged":
            action = "update"
        return _outcome(spec, action, sid, changes)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        ec2 = ctx.client("ec2")
        deleted = delete_ec2(
            ctx,
            f"subnet {record.physical_id}",
            lambda: ec2.delete_subnet(SubnetId=record.physical_id),
        )
        return Outcome(
            record.logical_id, record.kind, "delete" if deleted else "gone", [], record.physical_id
        )


# --- Internet gateway ------------------------------------------------------------------------
class InternetGatewayHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        ec2 = ctx.client("ec2")
        rec = ctx.state.get(spec.logical_id)
        igw = (
            describe_one(
                ctx,
                "describe_internet_gateways",
                "InternetGateways",
                "InternetGatewayIds",
                rec.physical_id,
            )
            if rec
            else None
        )
        igw = igw or find_tagged(
            ctx, "describe_internet_gateways", "InternetGateways", spec.logical_id
        )
        vpc_id = ctx.out("vpc")
        if igw is None:
            if ctx.dry_run:
                return _outcome(spec, "create", "", ["attached to the VPC"])
            try:
                igw = ec2.create_internet_gateway(
                    TagSpecifications=tag_spec(ctx, "internet-gateway", spec.logical_id)
                )["InternetGateway"]
            except ClientError as e:
                raise aws_error("Creating", "internet gateway", e) from None
            action = "create"
        else:
            action = "adopt" if rec is None else "unchanged"
        gid = igw["InternetGatewayId"]
        ctx.record(Record(spec.logical_id, spec.kind, gid, outputs={"vpc_id": vpc_id}))
        changes = []
        attached = [
            a["VpcId"]
            for a in igw.get("Attachments", [])
            if a.get("State") in ("available", "attached", "attaching")
        ]
        if vpc_id not in attached:
            if action != "create":
                changes.append(f"attach to {vpc_id}")
            if not ctx.dry_run:
                ec2_after_create(
                    ctx, lambda: ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=vpc_id)
                )
        if changes and action == "unchanged":
            action = "update"
        return _outcome(spec, action, gid, changes)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        ec2 = ctx.client("ec2")
        gid = record.physical_id
        igw = describe_one(
            ctx, "describe_internet_gateways", "InternetGateways", "InternetGatewayIds", gid
        )
        if igw is None:
            return Outcome(record.logical_id, record.kind, "gone", [], gid)
        for att in igw.get("Attachments", []):
            vpc_id: str = att["VpcId"]
            try:
                # "Network vpc-... has some mapped public address(es)": task/ALB IPs still mapped.
                retry_on(
                    lambda v=vpc_id: ec2.detach_internet_gateway(InternetGatewayId=gid, VpcId=v),  # type: ignore[misc]
                    codes=("DependencyViolation",),
                    fragment="mapped public address",
                    deadline=DEPENDENCY_DEADLINE,
                    sleep=ctx.sleep,
                )
            except ClientError as e:
                if error_code(e) != "Gateway.NotAttached" and not is_not_found(e):
                    raise aws_error("Detaching", f"internet gateway {gid}", e) from None
        deleted = delete_ec2(
            ctx,
            f"internet gateway {gid}",
            lambda: ec2.delete_internet_gateway(InternetGatewayId=gid),
        )
        return Outcome(record.logical_id, record.kind, "delete" if deleted else "gone", [], gid)


# --- Public route table ----------------------------------------------------------------------
class RouteTableHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        ec2 = ctx.client("ec2")
        rec = ctx.state.get(spec.logical_id)
        rtb = (
            describe_one(
                ctx, "describe_route_tables", "RouteTables", "RouteTableIds", rec.physical_id
            )
            if rec
            else None
        )
        rtb = rtb or find_tagged(ctx, "describe_route_tables", "RouteTables", spec.logical_id)
        vpc_id, igw_id = ctx.out("vpc"), ctx.out("igw")
        subnet_ids = [ctx.out(s) for s in spec.param("subnets")]
        if rtb is None:
            if ctx.dry_run:
                return _outcome(spec, "create", "", ["default route to the internet gateway"])
            try:
                rtb = ec2.create_route_table(
                    VpcId=vpc_id, TagSpecifications=tag_spec(ctx, "route-table", spec.logical_id)
                )["RouteTable"]
            except ClientError as e:
                raise aws_error("Creating", "route table", e) from None
            action = "create"
        else:
            action = "adopt" if rec is None else "unchanged"
        rid = rtb["RouteTableId"]
        ctx.record(Record(spec.logical_id, spec.kind, rid))
        changes = []
        default = [r for r in rtb.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        if not default or default[0].get("GatewayId") != igw_id:
            if action != "create":
                changes.append(f"route 0.0.0.0/0 -> {igw_id}")
            if not ctx.dry_run:
                call: Any = ec2.replace_route if default else ec2.create_route
                ec2_after_create(
                    ctx,
                    lambda: call(
                        RouteTableId=rid, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id
                    ),
                )
        associated = {a.get("SubnetId") for a in rtb.get("Associations", [])}
        for sid in subnet_ids:
            if sid not in associated:
                if action != "create":
                    changes.append(f"associate {sid}")
                if not ctx.dry_run:
                    ec2_after_create(
                        ctx, lambda s=sid: ec2.associate_route_table(RouteTableId=rid, SubnetId=s)
                    )
        if changes and action == "unchanged":
            action = "update"
        return _outcome(spec, action, rid, changes)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        ec2 = ctx.client("ec2")
        rid = record.physical_id
        rtb = describe_one(ctx, "describe_route_tables", "RouteTables", "RouteTableIds", rid)
        if rtb is None:
            return Outcome(record.logical_id, record.kind, "gone", [], rid)
        for a in rtb.get("Associations", []):
            if not a.get("Main"):
                try:
                    ec2.disassociate_route_table(AssociationId=a["RouteTableAssociationId"])
                except ClientError as e:
                    if not is_not_found(e):
                        raise aws_error("Disassociating", f"route table {rid}", e) from None
        deleted = delete_ec2(
            ctx, f"route table {rid}", lambda: ec2.delete_route_table(RouteTableId=rid)
        )
        return Outcome(record.logical_id, record.kind, "delete" if deleted else "gone", [], rid)


# --- Existing network (referenced, never modified) -------------------------------------------
class ExistingVpcHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        vpc_id = ctx.cfg.network.vpc_id
        assert vpc_id is not None
        vpc = describe_one(ctx, "describe_vpcs", "Vpcs", "VpcIds", vpc_id)
        if vpc is None:
            raise ConfigError(
                f"VPC {vpc_id} does not exist in {ctx.region}", field="network.vpc_id"
            )
        ctx.record(
            Record(
                spec.logical_id, spec.kind, vpc_id, owned=False, outputs={"cidr": vpc["CidrBlock"]}
            )
        )
        return _outcome(spec, "reference", vpc_id)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        return Outcome(record.logical_id, record.kind, "reference", [], record.physical_id)


class ExistingSubnetHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        ids = ctx.cfg.network.subnet_ids or []
        sid = ids[spec.param("index")]
        sub = describe_one(ctx, "describe_subnets", "Subnets", "SubnetIds", sid)
        if sub is None:
            raise ConfigError(
                f"subnet {sid} does not exist in {ctx.region}", field="network.subnet_ids"
            )
        if sub["VpcId"] != ctx.cfg.network.vpc_id:
            raise ConfigError(
                f"subnet {sid} is in {sub['VpcId']}, not {ctx.cfg.network.vpc_id}",
                field="network.subnet_ids",
            )
        if spec.param("index") == 0:
            subs = ctx.client("ec2").describe_subnets(SubnetIds=ids)["Subnets"]
            if len({s["AvailabilityZone"] for s in subs}) < 2:
                raise ConfigError(
                    "the subnets are in fewer than two availability zones; an ALB needs two",
                    field="network.subnet_ids",
                )
        ctx.record(
            Record(
                spec.logical_id,
                spec.kind,
                sid,
                owned=False,
                outputs={"cidr": sub["CidrBlock"], "az": sub["AvailabilityZone"]},
            )
        )
        return _outcome(spec, "reference", sid)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        return Outcome(record.logical_id, record.kind, "reference", [], record.physical_id)
