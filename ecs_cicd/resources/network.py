"""Network: a new VPC with public subnets in two or more AZs, an internet gateway and a public
route table — or an existing VPC and subnets, referenced and never modified or deleted.

EC2 resources carry a `Name` tag (`<stack>-<logical id>`) besides the stack's tags; they are found
by the state's id, then by the stack's tags, then by that Name (in the VPC, where they live in
one): one named like ours without our stack tag is someone else's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from botocore.exceptions import ClientError

from ecs_cicd.aws import aws_error, is_not_found, retry_on, tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.errors import ConfigError
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource, Target
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
DEFAULT_ROUTE = "0.0.0.0/0"

Tags = tuple[tuple[str, str], ...]


# --- models ----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, kw_only=True)
class Vpc(Resource):
    kind = "vpc"
    name: str  # the Name tag
    cidr: str
    dns_support: bool = True
    dns_hostnames: bool = True


@dataclass(frozen=True, eq=False, kw_only=True)
class ExistingVpc(Resource):
    """The VPC the config names (`network.vpc_id`): referenced, never changed."""

    kind = "vpc.existing"
    vpc_id: str


@dataclass(frozen=True, eq=False, kw_only=True)
class Subnet(Resource):
    kind = "subnet"
    name: str  # the Name tag
    vpc: Vpc
    cidr: str
    index: int  # of `count` public subnets
    count: int
    # None: the region's `index`-th available zone (sorted), resolved when the subnet is created.
    availability_zone: str | None
    map_public_ip: bool = True


@dataclass(frozen=True, eq=False, kw_only=True)
class ExistingSubnet(Resource):
    """A subnet the config names (`network.subnet_ids`): referenced, never changed."""

    kind = "subnet.existing"
    subnet_id: str
    vpc: ExistingVpc
    index: int
    group: tuple[str, ...]  # every configured subnet id: together in two AZs at least


@dataclass(frozen=True, eq=False, kw_only=True)
class InternetGateway(Resource):
    kind = "igw"
    name: str  # the Name tag
    vpc: Vpc


@dataclass(frozen=True, eq=False, kw_only=True)
class RouteTable(Resource):
    kind = "route_table"
    name: str  # the Name tag
    vpc: Vpc
    igw: InternetGateway
    subnets: tuple[Subnet, ...]
    destination: str = DEFAULT_ROUTE


@dataclass(frozen=True)
class Network:
    """What stack.py wires: the VPC, the public subnets and (for a new VPC) the route table and
    the internet gateway."""

    vpc: Vpc | ExistingVpc
    subnets: tuple[Subnet | ExistingSubnet, ...]
    route_table: RouteTable | None
    internet_gateway: InternetGateway | None = None


# --- builder ---------------------------------------------------------------------------------
def ec2_tags(cfg: Config, tags: Tags, logical_id: str) -> Tags:
    """The stack's tags plus EC2's `Name` (`<stack>-<logical id>`)."""
    return tuple(sorted({**dict(tags), "Name": f"{cfg.stack}-{logical_id}"}.items()))


def subnet_count(cfg: Config) -> int:
    n = cfg.network
    if n.public_subnet_cidrs:
        return len(n.public_subnet_cidrs)
    if n.availability_zones:
        return len(n.availability_zones)
    return 2


def build_network(cfg: Config, target: Target, t: Callable[[str], Tags]) -> Network:
    n = cfg.network
    if n.existing:
        assert n.vpc_id is not None
        ids = tuple(n.subnet_ids or ())
        existing = ExistingVpc(logical_id="vpc", vpc_id=n.vpc_id)
        return Network(
            existing,
            tuple(
                ExistingSubnet(
                    logical_id=f"subnet.public.{i}",
                    subnet_id=sid,
                    vpc=existing,
                    index=i,
                    group=ids,
                )
                for i, sid in enumerate(ids)
            ),
            None,
        )

    def tagged(lid: str) -> Tags:
        return ec2_tags(cfg, t(lid), lid)

    def name(lid: str) -> str:
        return f"{cfg.stack}-{lid}"

    vpc = Vpc(logical_id="vpc", tags=tagged("vpc"), name=name("vpc"), cidr=n.vpc_cidr)
    count = subnet_count(cfg)
    cidrs = n.subnet_cidrs(count)
    zones = list(n.availability_zones or [])
    if zones and len(zones) < count:
        raise ConfigError(
            f"{len(zones)} availability zone(s) given; {count} subnets need {count}",
            field="network.availability_zones",
        )
    subnets = tuple(
        Subnet(
            logical_id=f"subnet.public.{i}",
            tags=tagged(f"subnet.public.{i}"),
            name=name(f"subnet.public.{i}"),
            vpc=vpc,
            cidr=cidrs[i],
            index=i,
            count=count,
            availability_zone=zones[i] if zones else None,
        )
        for i in range(count)
    )
    igw = InternetGateway(logical_id="igw", tags=tagged("igw"), name=name("igw"), vpc=vpc)
    rtb = RouteTable(
        logical_id="rtb.public",
        tags=tagged("rtb.public"),
        name=name("rtb.public"),
        vpc=vpc,
        igw=igw,
        subnets=subnets,
    )
    return Network(vpc, subnets, rtb, igw)


# --- EC2 helpers (security.py uses them too) -------------------------------------------------
def tag_spec(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tags_list(tags)}]


def _alive(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    items = [i for i in items if i.get("State") not in ("deleted", "deleting")]
    return items[0] if items else None


R = TypeVar("R", bound=Resource)
# The Describe filter that matches a kind's ids (lookup_many).
ID_FILTERS = {
    "VpcIds": "vpc-id",
    "SubnetIds": "subnet-id",
    "InternetGatewayIds": "internet-gateway-id",
    "RouteTableIds": "route-table-id",
    "GroupIds": "group-id",
}


class Ec2Kind(Kind[R]):
    """What EC2 kinds share: look-up by id, by the stack's tags, by name; tagging."""

    describe: ClassVar[str]  # "describe_vpcs"
    key: ClassVar[str]  # "Vpcs"
    ids: ClassVar[str]  # "VpcIds"

    def live(self, item: dict[str, Any]) -> Live:
        raise NotImplementedError

    def by_name(self, ctx: Ctx, want: R) -> list[dict[str, Any]]:
        """Filters finding it by name (they may need a dependency's id: `Pending` when it does
        not exist yet, so neither does this)."""
        return [named(self.name(want))]

    def find(self, ctx: Ctx, want: R, rec: Record | None) -> Live | None:
        """By the recorded id, then by the stack's tags (a lost record: adopt it), then by name
        (someone else's, unless it carries our stack tag)."""
        item = (
            (self.one(ctx, rec.physical_id) if rec else None)
            or self.where(
                ctx,
                {"Name": f"tag:{STACK_TAG}", "Values": [ctx.stack]},
                {"Name": f"tag:{ID_TAG}", "Values": [want.logical_id]},
            )
            or self.where(ctx, *self.by_name(ctx, want))
        )
        return self.live(item) if item else None

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        item = self.one(ctx, rec.physical_id)
        return self.live(item) if item else None

    def lookup_many(self, ctx: Ctx, recs: list[Record]) -> dict[str, Live | None] | None:
        """All recorded ones in one Describe: by an id filter, which (unlike the ids
        parameter) answers with those that exist instead of failing on a missing one."""
        ids = sorted({r.physical_id for r in recs})
        name = ID_FILTERS.get(self.ids)
        if name is None or len(ids) > 200:  # EC2 takes up to 200 filter values
            return None
        call = getattr(ctx.client("ec2"), self.describe)
        items = call(Filters=[{"Name": name, "Values": ids}])[self.key]
        found: dict[str, Live | None] = dict.fromkeys(ids)
        for item in items:
            if item.get("State") not in ("deleted", "deleting"):
                live = self.live(item)
                found[live.physical_id] = live
        return found

    def one(self, ctx: Ctx, rid: str) -> dict[str, Any] | None:
        """The resource `rid`, or None when it does not exist."""
        try:
            items = getattr(ctx.client("ec2"), self.describe)(**{self.ids: [rid]})[self.key]
        except ClientError as e:
            if is_not_found(e):
                return None
            raise
        return _alive(items)

    def where(self, ctx: Ctx, *filters: dict[str, Any]) -> dict[str, Any] | None:
        return _alive(getattr(ctx.client("ec2"), self.describe)(Filters=list(filters))[self.key])

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("ec2").create_tags(Resources=[live.physical_id], Tags=tags_list(tags))


def named(name: str) -> dict[str, Any]:
    return {"Name": "tag:Name", "Values": [name]}


def in_vpc(ctx: Ctx, vpc: Resource) -> dict[str, Any]:
    return {"Name": "vpc-id", "Values": [ctx.id_of(vpc)]}


def ec2_after_create(ctx: Ctx, call: Callable[[], Any]) -> Any:
    """A call on something just created: retry its NotFound while EC2 catches up, never recreate."""
    return retry_on(
        call, codes=EC2_NOT_FOUND, fragment=None, deadline=EC2_READ_LAG, sleep=ctx.sleep
    )


def delete_ec2(
    ctx: Ctx, call: Callable[[], Any], *, codes: tuple[str, ...] = ("DependencyViolation",)
) -> None:
    """Run an EC2 delete, retrying dependency violations until the deadline. Not found: the
    lifecycle's "gone"."""
    retry_on(call, codes=codes, fragment=None, deadline=DEPENDENCY_DEADLINE, sleep=ctx.sleep)


def live_tags(item: dict[str, Any]) -> dict[str, str]:
    return tags_dict(item.get("Tags"))


# --- VPC -------------------------------------------------------------------------------------
DNS_ATTRIBUTES = ("EnableDnsSupport", "EnableDnsHostnames")


class VpcKind(Ec2Kind[Vpc]):
    kind = "vpc"
    label = "VPC"
    settings_reads = True
    describe, key, ids = "describe_vpcs", "Vpcs", "VpcIds"

    def live(self, item: dict[str, Any]) -> Live:
        return _vpc_live(item)

    def create(self, ctx: Ctx, want: Vpc) -> Live:
        vpc = ctx.client("ec2").create_vpc(
            CidrBlock=want.cidr, TagSpecifications=tag_spec("vpc", want.tag_dict)
        )["Vpc"]
        return _vpc_live({**vpc, "Tags": tags_list(want.tag_dict)})

    def configure(self, ctx: Ctx, want: Vpc, live: Live) -> Live | None:
        # A new VPC has DNS support but not DNS hostnames; set both, as wanted.
        self._set(ctx, want, live.physical_id, DNS_ATTRIBUTES)
        return None

    def diff(self, ctx: Ctx, want: Vpc, live: Live) -> list[Diff]:
        ec2 = ctx.client("ec2")
        out: list[Diff] = []
        if ctx.trusts(want, live):
            return out
        for attr, wanted in zip(DNS_ATTRIBUTES, _dns(want), strict=True):
            key = attr[0].lower() + attr[1:]
            resp = ec2.describe_vpc_attribute(VpcId=live.physical_id, Attribute=key)
            have = bool(resp[attr]["Value"])
            if have != wanted:
                out.append(Diff(attr, have, wanted))
        return out

    def update(self, ctx: Ctx, want: Vpc, live: Live, diffs: list[Diff]) -> Live | None:
        self._set(ctx, want, live.physical_id, tuple(d.field for d in diffs))
        return None

    def _set(self, ctx: Ctx, want: Vpc, vpc_id: str, attrs: tuple[str, ...]) -> None:
        ec2 = ctx.client("ec2")
        values = dict(zip(DNS_ATTRIBUTES, _dns(want), strict=True))
        for attr in attrs:
            setting: dict[str, Any] = {attr: {"Value": values[attr]}}
            ec2_after_create(
                ctx, functools.partial(ec2.modify_vpc_attribute, VpcId=vpc_id, **setting)
            )

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        delete_ec2(ctx, lambda: ctx.client("ec2").delete_vpc(VpcId=rec.physical_id))

    def summary(self, want: Vpc) -> list[str]:
        return [f"cidr {want.cidr}"]


def _dns(want: Vpc) -> tuple[bool, bool]:
    return (want.dns_support, want.dns_hostnames)


def _vpc_live(vpc: dict[str, Any]) -> Live:
    return Live(vpc["VpcId"], None, live_tags(vpc), vpc, {"cidr": vpc["CidrBlock"]})


class ExistingVpcKind(Ec2Kind[ExistingVpc]):
    kind = "vpc.existing"
    label = "VPC"
    reference = True
    describe, key, ids = "describe_vpcs", "Vpcs", "VpcIds"

    def live(self, item: dict[str, Any]) -> Live:
        return _vpc_live(item)

    def name(self, want: ExistingVpc) -> str:
        return want.vpc_id

    def find(self, ctx: Ctx, want: ExistingVpc, rec: Record | None) -> Live | None:
        vpc = self.one(ctx, want.vpc_id)
        return _vpc_live(vpc) if vpc else None


# --- Subnets ---------------------------------------------------------------------------------
def availability_zones(ctx: Ctx) -> list[str]:
    """The region's available zones, sorted (a subnet without a configured zone takes its
    index's)."""
    zones = ctx.client("ec2").describe_availability_zones(
        Filters=[
            {"Name": "state", "Values": ["available"]},
            {"Name": "zone-type", "Values": ["availability-zone"]},
        ]
    )["AvailabilityZones"]
    return sorted(z["ZoneName"] for z in zones)


def _subnet_live(sub: dict[str, Any]) -> Live:
    return Live(
        sub["SubnetId"],
        sub.get("SubnetArn"),
        live_tags(sub),
        sub,
        {"cidr": sub["CidrBlock"], "az": sub["AvailabilityZone"]},
    )


class SubnetKind(Ec2Kind[Subnet]):
    kind = "subnet"
    label = "subnet"
    describe, key, ids = "describe_subnets", "Subnets", "SubnetIds"

    def live(self, item: dict[str, Any]) -> Live:
        return _subnet_live(item)

    def by_name(self, ctx: Ctx, want: Subnet) -> list[dict[str, Any]]:
        return [named(want.name), in_vpc(ctx, want.vpc)]

    def create(self, ctx: Ctx, want: Subnet) -> Live:
        ec2 = ctx.client("ec2")
        vpc_id = ctx.id_of(want.vpc)
        az = want.availability_zone
        if az is None:
            zones = availability_zones(ctx)
            if len(zones) < want.count:
                raise ConfigError(
                    f"region {ctx.region} offers {len(zones)} availability zone(s); "
                    f"{want.count} subnets need {want.count}",
                    field="network.public_subnet_cidrs",
                )
            az = zones[want.index]
        sub = ec2_after_create(
            ctx,
            lambda: ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=want.cidr,
                AvailabilityZone=az,
                TagSpecifications=tag_spec("subnet", want.tag_dict),
            ),
        )["Subnet"]
        return _subnet_live({**sub, "Tags": tags_list(want.tag_dict)})

    def configure(self, ctx: Ctx, want: Subnet, live: Live) -> Live | None:
        if bool(live.data.get("MapPublicIpOnLaunch")) != want.map_public_ip:
            self._map_public_ip(ctx, want, live.physical_id)
        return None

    def diff(self, ctx: Ctx, want: Subnet, live: Live) -> list[Diff]:
        have = bool(live.data.get("MapPublicIpOnLaunch"))
        if have == want.map_public_ip:
            return []
        return [Diff("MapPublicIpOnLaunch", have, want.map_public_ip)]

    def update(self, ctx: Ctx, want: Subnet, live: Live, diffs: list[Diff]) -> Live | None:
        self._map_public_ip(ctx, want, live.physical_id)
        return None

    def _map_public_ip(self, ctx: Ctx, want: Subnet, sid: str) -> None:
        ec2 = ctx.client("ec2")
        ec2_after_create(
            ctx,
            lambda: ec2.modify_subnet_attribute(
                SubnetId=sid, MapPublicIpOnLaunch={"Value": want.map_public_ip}
            ),
        )

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        delete_ec2(ctx, lambda: ctx.client("ec2").delete_subnet(SubnetId=rec.physical_id))

    def summary(self, want: Subnet) -> list[str]:
        az = want.availability_zone or f"the region's zone #{want.index + 1}"
        return [f"{want.cidr} in {az}", "public IPs on launch"]


class ExistingSubnetKind(Ec2Kind[ExistingSubnet]):
    kind = "subnet.existing"
    label = "subnet"
    reference = True
    describe, key, ids = "describe_subnets", "Subnets", "SubnetIds"

    def live(self, item: dict[str, Any]) -> Live:
        return _subnet_live(item)

    def name(self, want: ExistingSubnet) -> str:
        return want.subnet_id

    def find(self, ctx: Ctx, want: ExistingSubnet, rec: Record | None) -> Live | None:
        sub = self.one(ctx, want.subnet_id)
        return _subnet_live(sub) if sub else None

    def diff(self, ctx: Ctx, want: ExistingSubnet, live: Live) -> list[Diff]:
        """Not a difference to converge (it is not ours): a config that cannot work."""
        sid, in_vpc = want.subnet_id, live.data["VpcId"]
        if in_vpc != want.vpc.vpc_id:
            raise ConfigError(
                f"subnet {sid} is in {in_vpc}, not {want.vpc.vpc_id}", field="network.subnet_ids"
            )
        if want.index == 0:
            subs = ctx.client("ec2").describe_subnets(SubnetIds=list(want.group))["Subnets"]
            if len({s["AvailabilityZone"] for s in subs}) < 2:
                raise ConfigError(
                    "the subnets are in fewer than two availability zones; an ALB needs two",
                    field="network.subnet_ids",
                )
        return []


# --- Internet gateway ------------------------------------------------------------------------
ATTACHED = ("available", "attached", "attaching")


def _igw_live(igw: dict[str, Any]) -> Live:
    attached = _attached(igw)
    return Live(
        igw["InternetGatewayId"],
        None,
        live_tags(igw),
        igw,
        {"vpc_id": attached[0]} if attached else {},
    )


def _attached(igw: dict[str, Any]) -> list[str]:
    return [a["VpcId"] for a in igw.get("Attachments", []) if a.get("State") in ATTACHED]


class InternetGatewayKind(Ec2Kind[InternetGateway]):
    kind = "igw"
    label = "internet gateway"
    describe, key, ids = "describe_internet_gateways", "InternetGateways", "InternetGatewayIds"

    def live(self, item: dict[str, Any]) -> Live:
        return _igw_live(item)

    def create(self, ctx: Ctx, want: InternetGateway) -> Live:
        igw = ctx.client("ec2").create_internet_gateway(
            TagSpecifications=tag_spec("internet-gateway", want.tag_dict)
        )["InternetGateway"]
        return _igw_live({**igw, "Tags": tags_list(want.tag_dict)})

    def configure(self, ctx: Ctx, want: InternetGateway, live: Live) -> Live | None:
        return self._attach(ctx, want, live)

    def diff(self, ctx: Ctx, want: InternetGateway, live: Live) -> list[Diff]:
        vpc_id = ctx.id_of(want.vpc)
        attached = _attached(live.data)
        if vpc_id in attached:
            return []
        return [Diff("attachment", ", ".join(attached) or None, vpc_id)]

    def update(self, ctx: Ctx, want: InternetGateway, live: Live, diffs: list[Diff]) -> Live | None:
        return self._attach(ctx, want, live)

    def _attach(self, ctx: Ctx, want: InternetGateway, live: Live) -> Live:
        ec2, gid, vpc_id = ctx.client("ec2"), live.physical_id, ctx.id_of(want.vpc)
        ec2_after_create(
            ctx, lambda: ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=vpc_id)
        )
        return Live(gid, live.arn, live.tags, live.data, {"vpc_id": vpc_id})

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        ec2, gid = ctx.client("ec2"), rec.physical_id
        for vpc_id in [a["VpcId"] for a in live.data.get("Attachments", [])]:
            try:
                # "Network vpc-... has some mapped public address(es)": task/ALB IPs still mapped.
                retry_on(
                    functools.partial(
                        ec2.detach_internet_gateway, InternetGatewayId=gid, VpcId=vpc_id
                    ),
                    codes=("DependencyViolation",),
                    fragment="mapped public address",
                    deadline=DEPENDENCY_DEADLINE,
                    sleep=ctx.sleep,
                )
            except ClientError as e:
                # Gateway.NotAttached (or the VPC gone): detached already, go on to the delete.
                if not is_not_found(e):
                    raise aws_error("Detaching", f"internet gateway {gid}", e) from None
        delete_ec2(ctx, lambda: ec2.delete_internet_gateway(InternetGatewayId=gid))

    def summary(self, want: InternetGateway) -> list[str]:
        return ["attached to the VPC"]


# --- Public route table ----------------------------------------------------------------------
def _rtb_live(rtb: dict[str, Any]) -> Live:
    return Live(rtb["RouteTableId"], None, live_tags(rtb), rtb)


class RouteTableKind(Ec2Kind[RouteTable]):
    kind = "route_table"
    label = "route table"
    describe, key, ids = "describe_route_tables", "RouteTables", "RouteTableIds"

    def live(self, item: dict[str, Any]) -> Live:
        return _rtb_live(item)

    def by_name(self, ctx: Ctx, want: RouteTable) -> list[dict[str, Any]]:
        return [named(want.name), in_vpc(ctx, want.vpc)]

    def create(self, ctx: Ctx, want: RouteTable) -> Live:
        ec2 = ctx.client("ec2")
        vpc_id = ctx.id_of(want.vpc)
        rtb = ec2_after_create(
            ctx,
            lambda: ec2.create_route_table(
                VpcId=vpc_id, TagSpecifications=tag_spec("route-table", want.tag_dict)
            ),
        )["RouteTable"]
        return _rtb_live({**rtb, "Tags": tags_list(want.tag_dict)})

    def configure(self, ctx: Ctx, want: RouteTable, live: Live) -> Live | None:
        self._converge(ctx, want, live, self.diff(ctx, want, live))
        return None

    def diff(self, ctx: Ctx, want: RouteTable, live: Live) -> list[Diff]:
        rtb, igw_id = live.data, ctx.id_of(want.igw)
        out: list[Diff] = []
        route = _route(rtb, want.destination)
        if route is None or route.get("GatewayId") != igw_id:
            have = route.get("GatewayId") if route else None
            out.append(Diff(f"route {want.destination}", have, igw_id))
        associated = {a.get("SubnetId") for a in rtb.get("Associations", [])}
        for s in want.subnets:
            sid = ctx.id_of(s)
            if sid not in associated:
                out.append(Diff(f"association {s.logical_id}", note=f"associate {sid}"))
        return out

    def update(self, ctx: Ctx, want: RouteTable, live: Live, diffs: list[Diff]) -> Live | None:
        self._converge(ctx, want, live, diffs)
        return None

    def _converge(self, ctx: Ctx, want: RouteTable, live: Live, diffs: list[Diff]) -> None:
        ec2, rid = ctx.client("ec2"), live.physical_id
        fields = {d.field for d in diffs}
        if f"route {want.destination}" in fields:
            igw_id = ctx.id_of(want.igw)
            call = ec2.replace_route if _route(live.data, want.destination) else ec2.create_route
            ec2_after_create(
                ctx,
                lambda: call(
                    RouteTableId=rid, DestinationCidrBlock=want.destination, GatewayId=igw_id
                ),
            )
        for s in want.subnets:
            if f"association {s.logical_id}" in fields:
                associate = functools.partial(
                    ec2.associate_route_table, RouteTableId=rid, SubnetId=ctx.id_of(s)
                )
                ec2_after_create(ctx, associate)

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        ec2, rid = ctx.client("ec2"), rec.physical_id
        for a in live.data.get("Associations", []):
            if not a.get("Main"):
                try:
                    ec2.disassociate_route_table(AssociationId=a["RouteTableAssociationId"])
                except ClientError as e:
                    if not is_not_found(e):
                        raise aws_error("Disassociating", f"route table {rid}", e) from None
        delete_ec2(ctx, lambda: ec2.delete_route_table(RouteTableId=rid))

    def summary(self, want: RouteTable) -> list[str]:
        return [
            f"route {want.destination} to the internet gateway",
            f"associated with {', '.join(s.logical_id for s in want.subnets)}",
        ]


def _route(rtb: dict[str, Any], destination: str) -> dict[str, Any] | None:
    routes = [r for r in rtb.get("Routes", []) if r.get("DestinationCidrBlock") == destination]
    return routes[0] if routes else None


KINDS = (
    VpcKind(),
    ExistingVpcKind(),
    SubnetKind(),
    ExistingSubnetKind(),
    InternetGatewayKind(),
    RouteTableKind(),
)
