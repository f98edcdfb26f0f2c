"""Security groups: the ALB's (ingress from the configured CIDRs on the listener ports) and the
tasks' (ingress only from the ALB's group, on the endpoint container's port).

Ingress is converged exactly — a rule opened by hand is revoked — while egress keeps AWS's
default allow-all (tasks must reach ECR and the internet); it is only put back if removed.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, error_code, error_message, is_not_found, retry_on
from ecs_cicd.engine import Action, Ctx, Outcome, Spec
from ecs_cicd.errors import AwsError
from ecs_cicd.names import STACK_TAG
from ecs_cicd.resources.network import describe_one, ec2_after_create, find_tagged, tag_spec
from ecs_cicd.state import Record

# Fargate task ENIs and ALB ENIs are released minutes after the service / ALB is gone
# (AWS-BEHAVIOUR.md, EC2 DeleteSecurityGroup): retry up to 20 minutes.
DELETE_DEADLINE = 1200
DELETE_RETRY_CODES = ("DependencyViolation", "InvalidGroup.InUse")


class Rule(NamedTuple):
    """One ingress/egress permission: protocol, port range and one source."""

    protocol: str
    from_port: int | None
    to_port: int | None
    source: str  # a CIDR, or a security group id ("sg-...")

    def describe(self) -> str:
        ports = "all" if self.protocol == "-1" else f"{self.protocol}/{self.from_port}"
        if self.protocol != "-1" and self.to_port != self.from_port:
            ports += f"-{self.to_port}"
        return f"{ports} from {self.source}"

    def permission(self) -> dict[str, Any]:
        perm: dict[str, Any] = {"IpProtocol": self.protocol}
        if self.protocol != "-1":
            perm["FromPort"] = self.from_port
            perm["ToPort"] = self.to_port
        if self.source.startswith("sg-"):
            perm["UserIdGroupPairs"] = [{"GroupId": self.source}]
        elif ":" in self.source:
            perm["Ipv6Ranges"] = [{"CidrIpv6": self.source}]
        elif self.source.startswith("pl-"):
            perm["PrefixListIds"] = [{"PrefixListId": self.source}]
        else:
            perm["IpRanges"] = [{"CidrIp": self.source}]
        return perm


ALLOW_ALL_EGRESS = Rule("-1", None, None, "0.0.0.0/0")


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


def desired_ingress(ctx: Ctx, purpose: str) -> set[Rule]:
    cfg = ctx.cfg
    if purpose == "tasks":
        port = cfg.task.endpoint.port
        return {Rule("tcp", port, port, str(ctx.out("sg.alb")))}
    ports = list(cfg.load_balancer.ports())
    bg = cfg.pipeline.deploy.blue_green
    if cfg.pipeline.deploy.strategy == "blue_green" and bg.test_listener_port:
        ports.append(bg.test_listener_port)
    return {Rule("tcp", p, p, c) for p in ports for c in cfg.load_balancer.ingress_cidrs}


def _describe_group(ctx: Ctx, group_id: str) -> dict[str, Any] | None:
    return describe_one(ctx, "describe_security_groups", "SecurityGroups", "GroupIds", group_id)


class SecurityGroupHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        ec2 = ctx.client("ec2")
        purpose = str(spec.param("purpose"))
        name = names.security_group(ctx.cfg, purpose)
        rec = ctx.state.get(spec.logical_id)
        sg = _describe_group(ctx, rec.physical_id) if rec else None
        sg = sg or find_tagged(ctx, "describe_security_groups", "SecurityGroups", spec.logical_id)
        want = desired_ingress(ctx, purpose)
        action: Action
        if sg is None:
            vpc_id = ctx.out("vpc")
            if ctx.dry_run:
                changes: list[str] = [f"ingress {r.describe()}" for r in sorted(want)]
                return Outcome(spec.logical_id, spec.kind, "create", changes, "")
            try:
                gid = ec2.create_security_group(
                    GroupName=name,
                    Description=f"ecs_cicd {ctx.cfg.stack}: {purpose}",
                    VpcId=vpc_id,
                    TagSpecifications=tag_spec(ctx, "security-group", spec.logical_id),
                )["GroupId"]
            except ClientError as e:
                hint = None
                if error_code(e) == "InvalidGroup.Duplicate":
                    hint = f"a group {name} without this stack's tags exists in {vpc_id}; delete it"
                raise aws_error("Creating", f"security group {name}", e, hint) from None
            ctx.record(
                Record(spec.logical_id, spec.kind, gid, outputs={"name": name, "vpc_id": vpc_id})
            )
            # A new group has AWS's allow-all egress and no ingress.
            have_in: set[Rule] = set()
            have_out = {ALLOW_ALL_EGRESS}
            action = "create"
        else:
            gid = sg["GroupId"]
            ctx.record(
                Record(
                    spec.logical_id, spec.kind, gid, outputs={"name": name, "vpc_id": sg["VpcId"]}
                )
            )
            have_in = rules_of(sg.get("IpPermissions", []))
            have_out = rules_of(sg.get("IpPermissionsEgress", []))
            action = "adopt" if rec is None else "unchanged"

        changes = []
        add, revoke = sorted(want - have_in), sorted(have_in - want)
        changes += [f"add ingress {r.describe()}" for r in add]
        changes += [f"revoke ingress {r.describe()}" for r in revoke]
        add_egress = ALLOW_ALL_EGRESS not in have_out
        if add_egress:
            changes.append(f"add egress {ALLOW_ALL_EGRESS.describe()}")
        if not ctx.dry_run:
            what = f"security group {name} ({gid})"
            if revoke:
                _revoke(ctx, gid, revoke, egress=False, what=what)
            if add:
                _call(
                    ctx,
                    "Authorizing ingress of",
                    what,
                    lambda: ec2.authorize_security_group_ingress(
                        GroupId=gid, IpPermissions=[_described(r, ctx.cfg.stack) for r in add]
                    ),
                )
            if add_egress:
                _call(
                    ctx,
                    "Authorizing egress of",
                    what,
                    lambda: ec2.authorize_security_group_egress(
                        GroupId=gid, IpPermissions=[ALLOW_ALL_EGRESS.permission()]
                    ),
                )
        if action == "create":
            changes = []
        elif changes and action == "unchanged":
            action = "update"
        return Outcome(spec.logical_id, spec.kind, action, changes, gid)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        ec2 = ctx.client("ec2")
        gid = record.physical_id
        what = f"security group {record.outputs.get('name', gid)} ({gid})"
        sg = _describe_group(ctx, gid)
        if sg is None:
            return Outcome(record.logical_id, record.kind, "gone", [], gid)
        # A group referenced by another group cannot be deleted (AWS-BEHAVIOUR.md): drop this
        # group's rules naming other groups, and our stack's rules naming this group.
        _revoke_group_references(ctx, sg, what)
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
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], gid)
            if error_code(e) in DELETE_RETRY_CODES:
                raise _held_by(ctx, what, gid, e) from None
            raise aws_error("Deleting", what, e) from None
        return Outcome(record.logical_id, record.kind, "delete", [], gid)


def _described(rule: Rule, stack: str) -> dict[str, Any]:
    """The permission with a description naming the stack (descriptions are not compared)."""
    perm = rule.permission()
    for key in ("IpRanges", "Ipv6Ranges", "UserIdGroupPairs", "PrefixListIds"):
        for item in perm.get(key, []):
            item["Description"] = f"ecs_cicd {stack}"
    return perm


def _call(ctx: Ctx, action: str, what: str, call: Any) -> None:
    try:
        ec2_after_create(ctx, call)
    except ClientError as e:
        raise aws_error(action, what, e) from None


def _stack_groups(ctx: Ctx) -> list[dict[str, Any]]:
    resp = ctx.client("ec2").describe_security_groups(
        Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [ctx.cfg.stack]}]
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
