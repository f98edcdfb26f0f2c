"""Security groups: the ALB's (ingress from the configured CIDRs on the listener ports) and the
tasks' (ingress only from the ALB's group, on the endpoint container's port).

Ingress is converged exactly — a rule opened by hand is revoked — while egress keeps AWS's
default allow-all (tasks must reach ECR and the internet); it is only put back if removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, error_code, error_message, is_not_found, retry_on
from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError
from ecs_cicd.lifecycle import Ctx, Diff, Live, Resource
from ecs_cicd.names import STACK_TAG
from ecs_cicd.resources.network import (
    Ec2Kind,
    ExistingVpc,
    Vpc,
    ec2_after_create,
    ec2_tags,
    in_vpc,
    live_tags,
    tag_spec,
)
from ecs_cicd.state import Record

# Fargate task ENIs and ALB ENIs are released minutes after the service / ALB is gone
# (AWS-BEHAVIOUR.md, EC2 DeleteSecurityGroup): retry up to 20 minutes.
DELETE_DEADLINE = 1200
DELETE_RETRY_CODES = ("DependencyViolation", "InvalidGroup.InUse")

Tags = tuple[tuple[str, str], ...]


class Rule(NamedTuple):
    """One ingress/egress permission: protocol, port range and one source."""

    protocol: str
    from_port: int | None
    to_port: int | None
    source: str  # a CIDR, a prefix list id ("pl-...") or a security group id ("sg-...")

    def describe(self) -> str:
        ports = "all" if self.protocol == "-1" else f"{self.protocol}/{self.from_port}"
        if self.protocol != "-1" and self.to_port != self.from_port:
            ports += f"-{self.to_port}"
        return f"{ports} from {self.source}"

    def permission(self, description: str | None = None) -> dict[str, Any]:
        perm: dict[str, Any] = {"IpProtocol": self.protocol}
        if self.protocol != "-1":
            perm["FromPort"] = self.from_port
            perm["ToPort"] = self.to_port
        if self.source.startswith("sg-"):
            key, item = "UserIdGroupPairs", {"GroupId": self.source}
        elif ":" in self.source:
            key, item = "Ipv6Ranges", {"CidrIpv6": self.source}
        elif self.source.startswith("pl-"):
            key, item = "PrefixListIds", {"PrefixListId": self.source}
        else:
            key, item = "IpRanges", {"CidrIp": self.source}
        if description:
            item["Description"] = description  # descriptions are not compared
        perm[key] = [item]
        return perm


ALLOW_ALL_EGRESS = Rule("-1", None, None, "0.0.0.0/0")


@dataclass(frozen=True)
class Ingress:
    """A desired ingress rule: from a CIDR, or from another group of the stack (by reference,
    its id known once it exists)."""

    protocol: str
    from_port: int
    to_port: int
    source: str | SecurityGroup

    def rule(self, ctx: Ctx) -> Rule:
        src = ctx.id_of(self.source) if isinstance(self.source, Resource) else self.source
        return Rule(self.protocol, self.from_port, self.to_port, src)

    def describe(self) -> str:
        src = self.source.logical_id if isinstance(self.source, Resource) else self.source
        return Rule(self.protocol, self.from_port, self.to_port, src).describe()


@dataclass(frozen=True, eq=False, kw_only=True)
class SecurityGroup(Resource):
    kind = "security_group"
    name: str  # GroupName, unique in the VPC
    description: str
    vpc: Vpc | ExistingVpc
    ingress: tuple[Ingress, ...]  # exactly these
    egress: tuple[Rule, ...] = (ALLOW_ALL_EGRESS,)  # at least these
    rule_description: str = ""

    def deps(self) -> tuple[Resource, ...]:
        groups = [i.source for i in self.ingress if isinstance(i.source, Resource)]
        return (*super().deps(), *[g for g in groups if g is not self])


# --- builders --------------------------------------------------------------------------------
def _group(
    cfg: Config,
    lid: str,
    purpose: str,
    vpc: Vpc | ExistingVpc,
    ingress: tuple[Ingress, ...],
    tags: Tags,
) -> SecurityGroup:
    return SecurityGroup(
        logical_id=lid,
        tags=ec2_tags(cfg, tags, lid),
        name=names.security_group(cfg, purpose),
        description=f"ecs_cicd {cfg.stack}: {purpose}",
        vpc=vpc,
        ingress=ingress,
        rule_description=f"ecs_cicd {cfg.stack}",
    )


def build_alb_group(cfg: Config, vpc: Vpc | ExistingVpc, tags: Tags) -> SecurityGroup:
    """Ingress from the configured CIDRs on the listener ports (and blue/green's test port)."""
    ports = cfg.listener_ports()
    bg = cfg.pipeline.deploy.blue_green
    if cfg.pipeline.deploy.strategy == "blue_green" and bg.test_listener_port:
        ports.append(bg.test_listener_port)
    ingress = tuple(
        Ingress("tcp", p, p, c) for p in sorted(set(ports)) for c in cfg.load_balancer.ingress_cidrs
    )
    return _group(cfg, "sg.alb", "alb", vpc, ingress, tags)


def build_tasks_group(
    cfg: Config, vpc: Vpc | ExistingVpc, sg_alb: SecurityGroup, tags: Tags
) -> SecurityGroup:
    """Ingress only from the ALB's group, on the endpoint container's port."""
    port = cfg.task.endpoint.port
    return _group(cfg, "sg.tasks", "tasks", vpc, (Ingress("tcp", port, port, sg_alb),), tags)


# --- reading ---------------------------------------------------------------------------------
def rules_of(permissions: list[dict[str, Any]]) -> set[Rule]:
    """EC2's IpPermissions, flattened to one Rule per source."""
    out: set[Rule] = set()
    for p in permissions:
        proto = str(p.get("IpProtocol", "-1"))
        lo, hi = (None, None) if proto == "-1" else (p.get("FromPort"), p.get("ToPort"))
        sources = [r["CidrIp"] for r in p.get("IpRanges", [])]
        sources += [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
        sources += [r["PrefixListId"] for r in p.get("PrefixListIds", [])]
        sources += [g["GroupId"] for g in p.get("UserIdGroupPairs", [])]
        out.update(Rule(proto, lo, hi, s) for s in sources)
    return out


def _sg_live(sg: dict[str, Any]) -> Live:
    return Live(
        sg["GroupId"],
        sg.get("SecurityGroupArn"),
        live_tags(sg),
        sg,
        {"name": sg["GroupName"], "vpc_id": sg["VpcId"]},
    )


def _what(name: str, gid: str) -> str:
    return f"security group {name} ({gid})"


class SecurityGroupKind(Ec2Kind[SecurityGroup]):
    kind = "security_group"
    label = "security group"
    describe, key, ids = "describe_security_groups", "SecurityGroups", "GroupIds"

    def live(self, item: dict[str, Any]) -> Live:
        return _sg_live(item)

    def by_name(self, ctx: Ctx, want: SecurityGroup) -> list[dict[str, Any]]:
        """The group name is unique in a VPC."""
        return [{"Name": "group-name", "Values": [want.name]}, in_vpc(ctx, want.vpc)]

    def create(self, ctx: Ctx, want: SecurityGroup) -> Live:
        ec2 = ctx.client("ec2")
        vpc_id = ctx.id_of(want.vpc)
        try:
            gid = ec2_after_create(
                ctx,
                lambda: ec2.create_security_group(
                    GroupName=want.name,
                    Description=want.description,
                    VpcId=vpc_id,
                    TagSpecifications=tag_spec("security-group", want.tag_dict),
                ),
            )["GroupId"]
        except ClientError as e:
            if error_code(e) != "InvalidGroup.Duplicate":
                raise
            hint = f"a group {want.name} without this stack's tags exists in {vpc_id}; delete it"
            raise aws_error("Creating", self.what(want.name), e, hint) from None
        # A new group has AWS's allow-all egress and no ingress.
        data = {
            "GroupId": gid,
            "GroupName": want.name,
            "VpcId": vpc_id,
            "IpPermissions": [],
            "IpPermissionsEgress": [ALLOW_ALL_EGRESS.permission()],
        }
        return Live(gid, None, want.tag_dict, data, {"name": want.name, "vpc_id": vpc_id})

    def configure(self, ctx: Ctx, want: SecurityGroup, live: Live) -> Live | None:
        diffs = self.diff(ctx, want, live)
        if diffs:
            self.update(ctx, want, live, diffs)
        return None

    def diff(self, ctx: Ctx, want: SecurityGroup, live: Live) -> list[Diff]:
        wanted = {i.rule(ctx) for i in want.ingress}
        have_in = rules_of(live.data.get("IpPermissions", []))
        have_out = rules_of(live.data.get("IpPermissionsEgress", []))
        out = [
            Diff("ingress", None, r, note=f"add {r.describe()}") for r in sorted(wanted - have_in)
        ]
        out += [
            Diff("ingress", r, None, note=f"revoke {r.describe()}")
            for r in sorted(have_in - wanted)
        ]
        out += [
            Diff("egress", None, r, note=f"add {r.describe()}")
            for r in want.egress
            if r not in have_out
        ]
        return out

    def update(self, ctx: Ctx, want: SecurityGroup, live: Live, diffs: list[Diff]) -> Live | None:
        ec2, gid = ctx.client("ec2"), live.physical_id
        what = _what(want.name, gid)
        revoke = [d.have for d in diffs if d.field == "ingress" and d.have is not None]
        add = [d.want for d in diffs if d.field == "ingress" and d.want is not None]
        add_egress = [d.want for d in diffs if d.field == "egress" and d.want is not None]
        if revoke:
            _revoke(ctx, gid, revoke, egress=False, what=what)
        if add:
            _call(
                "Authorizing ingress of",
                what,
                lambda: ec2_after_create(
                    ctx,
                    lambda: ec2.authorize_security_group_ingress(
                        GroupId=gid,
                        IpPermissions=[r.permission(want.rule_description) for r in add],
                    ),
                ),
            )
        if add_egress:
            _call(
                "Authorizing egress of",
                what,
                lambda: ec2_after_create(
                    ctx,
                    lambda: ec2.authorize_security_group_egress(
                        GroupId=gid, IpPermissions=[r.permission() for r in add_egress]
                    ),
                ),
            )
        return None

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        ec2, gid = ctx.client("ec2"), rec.physical_id
        what = _what(str(rec.outputs.get("name", gid)), gid)
        # A group referenced by another group cannot be deleted (AWS-BEHAVIOUR.md): drop this
        # group's rules naming other groups, and our stack's rules naming this group.
        _revoke_group_references(ctx, live.data, what)
        for other in _stack_groups(ctx):
            if other["GroupId"] != gid:
                _revoke_group_references(ctx, other, what, only=gid)
        try:
            retry_on(
                lambda: ec2.delete_security_group(GroupId=gid),
                codes=DELETE_RETRY_CODES,
                fragment=None,
                deadline=DELETE_DEADLINE,
                sleep=ctx.sleep,
            )
        except ClientError as e:
            if error_code(e) in DELETE_RETRY_CODES:
                raise _held_by(ctx, what, gid, e) from None
            raise

    def summary(self, want: SecurityGroup) -> list[str]:
        return [f"ingress {i.describe()}" for i in want.ingress]


def _call(action: str, what: str, call: Any) -> None:
    try:
        call()
    except ClientError as e:
        raise aws_error(action, what, e) from None


def _stack_groups(ctx: Ctx) -> list[dict[str, Any]]:
    resp = ctx.client("ec2").describe_security_groups(
        Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [ctx.stack]}]
    )
    groups: list[dict[str, Any]] = resp["SecurityGroups"]
    return groups


def _rule_ids(ctx: Ctx, gid: str, *, egress: bool) -> dict[Rule, str]:
    """The group's rules by id (DescribeSecurityGroupRules), to revoke exactly those."""
    out: dict[Rule, str] = {}
    pages = ctx.client("ec2").get_paginator("describe_security_group_rules")
    for page in pages.paginate(Filters=[{"Name": "group-id", "Values": [gid]}]):
        for r in page["SecurityGroupRules"]:
            if bool(r.get("IsEgress")) != egress:
                continue
            proto = str(r.get("IpProtocol", "-1"))
            lo, hi = (None, None) if proto == "-1" else (r.get("FromPort"), r.get("ToPort"))
            source = (
                r.get("CidrIpv4")
                or r.get("CidrIpv6")
                or r.get("PrefixListId")
                or r.get("ReferencedGroupInfo", {}).get("GroupId")
            )
            if source:
                out[Rule(proto, lo, hi, str(source))] = r["SecurityGroupRuleId"]
    return out


def _revoke(ctx: Ctx, gid: str, rules: list[Rule], *, egress: bool, what: str) -> None:
    """Revoke by rule id: matching by permission ignores nothing on AWS but the description,
    and moto also wants the description of group-referencing rules."""
    ec2 = ctx.client("ec2")
    by_rule = _rule_ids(ctx, gid, egress=egress)
    ids = [by_rule[r] for r in rules if r in by_rule]
    if not ids:
        return
    call = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
    direction = "egress" if egress else "ingress"
    try:
        call(GroupId=gid, SecurityGroupRuleIds=ids)
    except ClientError as e:
        if not is_not_found(e):
            raise aws_error(f"Revoking {direction} rules of", what, e) from None


def _revoke_group_references(
    ctx: Ctx, sg: dict[str, Any], what: str, only: str | None = None
) -> None:
    """Revoke the rules of `sg` whose source is a security group (only `only`, if given)."""
    gid = sg["GroupId"]
    for egress, key in ((False, "IpPermissions"), (True, "IpPermissionsEgress")):
        rules = sorted(
            r
            for r in rules_of(sg.get(key, []))
            if r.source.startswith("sg-") and r.source != gid and (only is None or r.source == only)
        )
        if rules:
            _revoke(ctx, gid, rules, egress=egress, what=f"security group {gid} (for {what})")


def _held_by(ctx: Ctx, what: str, gid: str, e: ClientError) -> AwsError:
    """The deadline passed: name the network interfaces that still hold the group."""
    try:
        enis = ctx.client("ec2").describe_network_interfaces(
            Filters=[{"Name": "group-id", "Values": [gid]}]
        )["NetworkInterfaces"]
    except ClientError:
        enis = []
    held = "; ".join(
        f"{n['NetworkInterfaceId']} ({n.get('Description') or 'no description'}, "
        f"{n.get('Status', '?')})"
        for n in enis
    )
    detail = f"{error_message(e)} — still held by: {held}" if held else error_message(e)
    return AwsError(
        "Deleting",
        what,
        error_code(e),
        f"{detail} (after {DELETE_DEADLINE // 60} minutes)",
        hint="ENIs of stopped Fargate tasks and deleted load balancers are released minutes later; "
        "run `down` again, or delete the ENIs listed if nothing uses them",
    )


KINDS = (SecurityGroupKind(),)
