"""Security groups on moto: exact ingress, converge (add and revoke), adopt, delete with the
dependency violations AWS reports while ENIs are released."""

from __future__ import annotations

from typing import Any

import pytest

from ecs_cicd.engine import Ctx, Handler, Outcome
from ecs_cicd.errors import AwsError
from ecs_cicd.resources import network, security
from tests.unit.resources.helpers import (
    client_error,
    delete_by_kind,
    dry,
    ensure_by_kind,
    inject,
    recorded,
    with_config,
)

HANDLERS: dict[str, Handler] = {
    "vpc": network.VpcHandler(),
    "security_group": security.SecurityGroupHandler(),
}


def ensure(ctx: Ctx, lid: str) -> Outcome:
    return ensure_by_kind(HANDLERS, ctx, lid)


def delete(ctx: Ctx, lid: str) -> Outcome:
    return delete_by_kind(HANDLERS, ctx, lid)


def group(ctx: Ctx, lid: str) -> dict[str, Any]:
    rec = recorded(ctx, lid)
    sg: dict[str, Any] = ctx.client("ec2").describe_security_groups(GroupIds=[rec.physical_id])[
        "SecurityGroups"
    ][0]
    return sg


def ingress(sg: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {
        (r.protocol, r.from_port, r.to_port, r.source)
        for r in security.rules_of(sg["IpPermissions"])
    }


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that meets an unexpected DependencyViolation fails in seconds, not 20 minutes."""
    monkeypatch.setattr(security, "DELETE_DEADLINE", 3)


@pytest.fixture
def vpc(ctx: Ctx) -> str:
    assert ensure(ctx, "vpc").action == "create"
    vpc_id: str = ctx.out("vpc")
    return vpc_id


def test_alb_group_created_with_exact_rules_and_tags(ctx: Ctx, vpc: str) -> None:
    out = ensure(ctx, "sg.alb")
    assert out.action == "create"
    sg = group(ctx, "sg.alb")
    assert sg["GroupName"] == f"{ctx.cfg.stack}-alb"
    assert sg["VpcId"] == vpc
    tags = {t["Key"]: t["Value"] for t in sg["Tags"]}
    assert tags["ecs-cicd:stack"] == ctx.cfg.stack
    assert tags["ecs-cicd:id"] == "sg.alb"
    assert ingress(sg) == {("tcp", 80, 80, "0.0.0.0/0")}
    assert security.rules_of(sg["IpPermissionsEgress"]) == {security.ALLOW_ALL_EGRESS}
    # Tags were set at creation: no CreateTags call.
    assert "ec2:CreateTags" not in ctx.aws.stats.mutating


def test_tasks_group_only_from_alb_group(ctx: Ctx, vpc: str) -> None:
    ensure(ctx, "sg.alb")
    assert ensure(ctx, "sg.tasks").action == "create"
    alb_id = ctx.out("sg.alb")
    sg = group(ctx, "sg.tasks")
    assert ingress(sg) == {("tcp", 80, 80, alb_id)}
    assert not any(p["IpRanges"] for p in sg["IpPermissions"])
    assert security.rules_of(sg["IpPermissionsEgress"]) == {security.ALLOW_ALL_EGRESS}


def test_blue_green_test_port_and_several_cidrs(ctx: Ctx) -> None:
    c = with_config(
        ctx,
        load_balancer__ingress_cidrs=["10.1.0.0/16", "192.168.0.0/24"],
        pipeline__deploy={"strategy": "blue_green", "blue_green": {"test_listener_port": 8080}},
    )
    ensure(c, "vpc")
    ensure(c, "sg.alb")
    assert ingress(group(c, "sg.alb")) == {
        ("tcp", p, p, cidr) for p in (80, 8080) for cidr in ("10.1.0.0/16", "192.168.0.0/24")
    }


def test_second_ensure_is_unchanged_and_makes_no_mutating_call(ctx: Ctx, vpc: str) -> None:
    ensure(ctx, "sg.alb")
    ensure(ctx, "sg.tasks")
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, "sg.alb").action == "unchanged"
    assert ensure(ctx, "sg.tasks").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_adopts_a_tagged_group_missing_from_state(ctx: Ctx, vpc: str) -> None:
    ensure(ctx, "sg.alb")
    gid = ctx.out("sg.alb")
    ctx.state.remove("sg.alb")
    out = ensure(ctx, "sg.alb")
    assert out.action == "adopt"
    assert out.physical_id == gid
    assert ctx.out("sg.alb") == gid
    groups = ctx.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"{ctx.cfg.stack}-alb"]}]
    )["SecurityGroups"]
    assert [g["GroupId"] for g in groups] == [gid]


def test_dry_run_create_lists_rules_and_creates_nothing(ctx: Ctx, vpc: str) -> None:
    before = ctx.aws.stats.mutating_total
    out = ensure(dry(ctx), "sg.alb")
    assert out.action == "create"
    assert out.changes == ["ingress tcp/80 from 0.0.0.0/0"]
    assert ctx.aws.stats.mutating_total == before
    assert ctx.state.get("sg.alb") is None


def test_hand_opened_port_is_reported_then_revoked(ctx: Ctx, vpc: str) -> None:
    ensure(ctx, "sg.alb")
    ec2 = ctx.client("ec2")
    gid = ctx.out("sg.alb")
    ec2.authorize_security_group_ingress(
        GroupId=gid,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    ec2.revoke_security_group_ingress(
        GroupId=gid,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    ec2.revoke_security_group_egress(
        GroupId=gid, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    # plan: reported, nothing changed
    before = ctx.aws.stats.mutating_total
    planned = ensure(dry(ctx), "sg.alb")
    assert planned.action == "update"
    assert set(planned.changes) == {
        "add ingress tcp/80 from 0.0.0.0/0",
        "revoke ingress tcp/22 from 0.0.0.0/0",
        "add egress all from 0.0.0.0/0",
    }
    assert ctx.aws.stats.mutating_total == before
    assert ingress(group(ctx, "sg.alb")) == {("tcp", 22, 22, "0.0.0.0/0")}
    # up: put back
    out = ensure(ctx, "sg.alb")
    assert out.action == "update"
    assert set(out.changes) == set(planned.changes)
    sg = group(ctx, "sg.alb")
    assert ingress(sg) == {("tcp", 80, 80, "0.0.0.0/0")}
    assert security.rules_of(sg["IpPermissionsEgress"]) == {security.ALLOW_ALL_EGRESS}
    assert ensure(ctx, "sg.alb").action == "unchanged"


def test_tasks_group_drops_a_cidr_rule_added_by_hand(ctx: Ctx, vpc: str) -> None:
    ensure(ctx, "sg.alb")
    ensure(ctx, "sg.tasks")
    ctx.client("ec2").authorize_security_group_ingress(
        GroupId=ctx.out("sg.tasks"),
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    out = ensure(ctx, "sg.tasks")
    assert out.changes == ["revoke ingress tcp/80 from 0.0.0.0/0"]
    assert ingress(group(ctx, "sg.tasks")) == {("tcp", 80, 80, ctx.out("sg.alb"))}


def test_delete_then_gone(ctx: Ctx, vpc: str) -> None:
    ensure(ctx, "sg.alb")
    ensure(ctx, "sg.tasks")
    ids = [ctx.out("sg.tasks"), ctx.out("sg.alb")]
    assert delete(ctx, "sg.tasks").action == "delete"
    assert delete(ctx, "sg.alb").action == "delete"
    left = ctx.client("ec2").describe_security_groups(Filters=[{"Name": "group-id", "Values": ids}])
    assert left["SecurityGroups"] == []
    assert delete(ctx, "sg.alb").action == "gone"
    assert delete(ctx, "sg.tasks").action == "gone"


def test_delete_revokes_the_rule_of_another_stack_group_referencing_it(ctx: Ctx, vpc: str) -> None:
    ensure(ctx, "sg.alb")
    ensure(ctx, "sg.tasks")
    # sg.tasks' ingress names sg.alb; on AWS (and the emulator) sg.alb cannot go while it does.
    assert delete(ctx, "sg.alb").action == "delete"
    assert group(ctx, "sg.tasks")["IpPermissions"] == []


def test_delete_revokes_own_rules_naming_other_groups(
    ctx: Ctx, vpc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, "sg.alb")
    ensure(ctx, "sg.tasks")
    ec2 = ctx.client("ec2")
    seen: list[Any] = []
    original = ec2.delete_security_group

    def spy(**kw: Any) -> Any:
        seen.append(
            ec2.describe_security_groups(GroupIds=[kw["GroupId"]])["SecurityGroups"][0][
                "IpPermissions"
            ]
        )
        return original(**kw)

    monkeypatch.setattr(ec2, "delete_security_group", spy)
    assert delete(ctx, "sg.tasks").action == "delete"
    assert seen == [[]]  # the rule naming sg.alb was revoked before DeleteSecurityGroup


def test_dependency_violation_is_retried_until_released(
    ctx: Ctx, vpc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, "sg.alb")
    gid = ctx.out("sg.alb")
    errors = [
        client_error(
            "DependencyViolation", f"resource {gid} has a dependent object", "DeleteSecurityGroup"
        ),
        client_error("InvalidGroup.InUse", "Group is in use", "DeleteSecurityGroup"),
    ]
    calls = inject(monkeypatch, ctx.client("ec2"), "delete_security_group", errors)
    assert delete(ctx, "sg.alb").action == "delete"
    assert len(calls) == 3
    assert (
        ctx.client("ec2").describe_security_groups(Filters=[{"Name": "group-id", "Values": [gid]}])[
            "SecurityGroups"
        ]
        == []
    )


def test_dependency_violation_past_the_deadline_names_the_enis(
    ctx: Ctx, vpc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, "sg.alb")
    gid = ctx.out("sg.alb")
    ec2 = ctx.client("ec2")
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.9.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(
        SubnetId=subnet, Groups=[gid], Description="ELB app/test-codepipeline-dev-alb/123"
    )["NetworkInterface"]["NetworkInterfaceId"]
    monkeypatch.setattr(security, "DELETE_DEADLINE", 0.2)
    calls: list[int] = []

    def always(**_kw: Any) -> Any:
        calls.append(1)
        raise client_error(
            "DependencyViolation", f"resource {gid} has a dependent object", "DeleteSecurityGroup"
        )

    monkeypatch.setattr(ec2, "delete_security_group", always)
    with pytest.raises(AwsError) as err:
        delete(ctx, "sg.alb")
    msg = str(err.value)
    assert err.value.code == "DependencyViolation"
    assert eni in msg
    assert "ELB app/test-codepipeline-dev-alb/123" in msg
    assert gid in msg
    assert len(calls) >= 2  # retried until the deadline, not given up at once


def test_other_delete_errors_fail_at_once(
    ctx: Ctx, vpc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, "sg.alb")
    errors = [
        client_error("UnauthorizedOperation", "You are not authorized", "DeleteSecurityGroup")
    ] * 5
    calls = inject(monkeypatch, ctx.client("ec2"), "delete_security_group", list(errors))
    with pytest.raises(AwsError, match="UnauthorizedOperation"):
        delete(ctx, "sg.alb")
    assert len(calls) == 1
