"""Security groups on moto: every rule in the model, exact ingress, converge (add and revoke),
adopt, ownership (strangers, take-over, skip), delete with the dependency violations AWS reports
while ENIs are released."""

from __future__ import annotations

from typing import Any

import pytest

from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError
from ecs_cicd.lifecycle import Ctx, ForeignResources
from ecs_cicd.resources import security
from tests.unit.resources.helpers import (
    client_error,
    config_with,
    delete,
    ensure,
    ensure_all,
    inject,
    plan,
    recorded,
    want,
)


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


def gid_of(ctx: Ctx, lid: str) -> str:
    return recorded(ctx, lid).physical_id


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that meets an unexpected DependencyViolation fails in seconds, not 20 minutes."""
    monkeypatch.setattr(security, "DELETE_DEADLINE", 3)


@pytest.fixture
def vpc(ctx: Ctx, cfg: Config) -> str:
    assert ensure(ctx, cfg, "vpc").action == "create"
    return gid_of(ctx, "vpc")


# --- the desired models ----------------------------------------------------------------------
def test_models_hold_every_rule(cfg: Config) -> None:
    alb = want(cfg, "sg.alb")
    assert isinstance(alb, security.SecurityGroup)
    assert alb.name == f"{cfg.stack}-alb"
    assert alb.description == f"ecs_cicd {cfg.stack}: alb"
    assert alb.ingress == (security.Ingress("tcp", 80, 80, "0.0.0.0/0"),)
    assert alb.egress == (security.ALLOW_ALL_EGRESS,)
    assert alb.rule_description == f"ecs_cicd {cfg.stack}"
    assert alb.tag_dict["Name"] == f"{cfg.stack}-sg.alb"
    assert alb.tag_dict["ecs-cicd:id"] == "sg.alb"
    assert [d.logical_id for d in alb.deps()] == ["vpc"]
    tasks = want(cfg, "sg.tasks")
    assert isinstance(tasks, security.SecurityGroup)
    assert tasks.name == f"{cfg.stack}-tasks"
    [rule] = tasks.ingress
    assert (rule.protocol, rule.from_port, rule.to_port) == ("tcp", 80, 80)
    assert isinstance(rule.source, security.SecurityGroup) and rule.source.logical_id == "sg.alb"
    assert rule.source.vpc is tasks.vpc
    assert {d.logical_id for d in tasks.deps()} == {"vpc", "sg.alb"}


def test_blue_green_test_port_and_several_cidrs_in_the_model() -> None:
    c = config_with(
        load_balancer__ingress_cidrs=["10.1.0.0/16", "192.168.0.0/24"],
        pipeline__deploy={"strategy": "blue_green", "blue_green": {"test_listener_port": 8080}},
    )
    alb = want(c, "sg.alb")
    assert set(alb.ingress) == {  # type: ignore[attr-defined]
        security.Ingress("tcp", p, p, cidr)
        for p in (80, 8080)
        for cidr in ("10.1.0.0/16", "192.168.0.0/24")
    }


# --- create, idempotence, adopt --------------------------------------------------------------
def test_alb_group_created_with_exact_rules_and_tags(ctx: Ctx, cfg: Config, vpc: str) -> None:
    out = ensure(ctx, cfg, "sg.alb")
    assert out.action == "create"
    sg = group(ctx, "sg.alb")
    assert sg["GroupName"] == f"{cfg.stack}-alb"
    assert sg["VpcId"] == vpc
    tags = {t["Key"]: t["Value"] for t in sg["Tags"]}
    assert tags["ecs-cicd:stack"] == cfg.stack
    assert tags["ecs-cicd:id"] == "sg.alb"
    assert tags["Name"] == f"{cfg.stack}-sg.alb"
    assert ingress(sg) == {("tcp", 80, 80, "0.0.0.0/0")}
    assert sg["IpPermissions"][0]["IpRanges"][0]["Description"] == f"ecs_cicd {cfg.stack}"
    assert security.rules_of(sg["IpPermissionsEgress"]) == {security.ALLOW_ALL_EGRESS}
    assert recorded(ctx, "sg.alb").outputs == {"name": f"{cfg.stack}-alb", "vpc_id": vpc}
    # Tags were set at creation: no CreateTags call.
    assert "ec2:CreateTags" not in ctx.aws.stats.mutating


def test_tasks_group_only_from_alb_group(ctx: Ctx, cfg: Config, vpc: str) -> None:
    ensure(ctx, cfg, "sg.alb")
    assert ensure(ctx, cfg, "sg.tasks").action == "create"
    alb_id = gid_of(ctx, "sg.alb")
    sg = group(ctx, "sg.tasks")
    assert ingress(sg) == {("tcp", 80, 80, alb_id)}
    assert not any(p["IpRanges"] for p in sg["IpPermissions"])
    assert security.rules_of(sg["IpPermissionsEgress"]) == {security.ALLOW_ALL_EGRESS}


def test_blue_green_test_port_and_several_cidrs(ctx: Ctx) -> None:
    c = config_with(
        load_balancer__ingress_cidrs=["10.1.0.0/16", "192.168.0.0/24"],
        pipeline__deploy={"strategy": "blue_green", "blue_green": {"test_listener_port": 8080}},
    )
    ensure_all(ctx, c, "sg.alb")
    assert ingress(group(ctx, "sg.alb")) == {
        ("tcp", p, p, cidr) for p in (80, 8080) for cidr in ("10.1.0.0/16", "192.168.0.0/24")
    }


def test_second_ensure_is_unchanged_and_makes_no_mutating_call(
    ctx: Ctx, cfg: Config, vpc: str
) -> None:
    ensure(ctx, cfg, "sg.alb")
    ensure(ctx, cfg, "sg.tasks")
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, cfg, "sg.alb").action == "unchanged"
    assert ensure(ctx, cfg, "sg.tasks").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_adopts_a_tagged_group_missing_from_state(ctx: Ctx, cfg: Config, vpc: str) -> None:
    ensure(ctx, cfg, "sg.alb")
    gid = gid_of(ctx, "sg.alb")
    ctx.state.remove("sg.alb")
    out = ensure(ctx, cfg, "sg.alb")
    assert out.action == "adopt"
    assert out.physical_id == gid
    assert gid_of(ctx, "sg.alb") == gid
    groups = ctx.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"{cfg.stack}-alb"]}]
    )["SecurityGroups"]
    assert [g["GroupId"] for g in groups] == [gid]


def test_plan_of_a_create_lists_rules_and_creates_nothing(ctx: Ctx, cfg: Config, vpc: str) -> None:
    before = ctx.aws.stats.mutating_total
    out = plan(ctx, cfg, "sg.alb")
    assert out.action == "create"
    assert out.changes == ["ingress tcp/80 from 0.0.0.0/0"]
    tasks = plan(ctx, cfg, "sg.tasks")
    assert tasks.action == "create"
    assert tasks.changes[0] == "ingress tcp/80 from sg.alb"
    assert ctx.aws.stats.mutating_total == before
    assert ctx.state.get("sg.alb") is None


def test_plan_before_the_vpc_exists_says_create(ctx: Ctx, cfg: Config) -> None:
    out = plan(ctx, cfg, "sg.alb")
    assert out.action == "create" and out.after == "vpc"


# --- drift -----------------------------------------------------------------------------------
def test_hand_opened_port_is_reported_then_revoked(ctx: Ctx, cfg: Config, vpc: str) -> None:
    ensure(ctx, cfg, "sg.alb")
    ec2 = ctx.client("ec2")
    gid = gid_of(ctx, "sg.alb")
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
    planned = plan(ctx, cfg, "sg.alb")
    assert planned.action == "update"
    assert set(planned.changes) == {
        "ingress: add tcp/80 from 0.0.0.0/0",
        "ingress: revoke tcp/22 from 0.0.0.0/0",
        "egress: add all from 0.0.0.0/0",
    }
    assert ctx.aws.stats.mutating_total == before
    assert ingress(group(ctx, "sg.alb")) == {("tcp", 22, 22, "0.0.0.0/0")}
    # up: put back
    out = ensure(ctx, cfg, "sg.alb")
    assert out.action == "update"
    assert set(out.changes) == set(planned.changes)
    sg = group(ctx, "sg.alb")
    assert ingress(sg) == {("tcp", 80, 80, "0.0.0.0/0")}
    assert security.rules_of(sg["IpPermissionsEgress"]) == {security.ALLOW_ALL_EGRESS}
    assert ensure(ctx, cfg, "sg.alb").action == "unchanged"


def test_extra_egress_is_kept(ctx: Ctx, cfg: Config, vpc: str) -> None:
    ensure(ctx, cfg, "sg.alb")
    ctx.client("ec2").authorize_security_group_egress(
        GroupId=gid_of(ctx, "sg.alb"),
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            }
        ],
    )
    assert plan(ctx, cfg, "sg.alb").action == "unchanged"


def test_tasks_group_drops_a_cidr_rule_added_by_hand(ctx: Ctx, cfg: Config, vpc: str) -> None:
    ensure(ctx, cfg, "sg.alb")
    ensure(ctx, cfg, "sg.tasks")
    ctx.client("ec2").authorize_security_group_ingress(
        GroupId=gid_of(ctx, "sg.tasks"),
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    out = ensure(ctx, cfg, "sg.tasks")
    assert out.changes == ["ingress: revoke tcp/80 from 0.0.0.0/0"]
    assert ingress(group(ctx, "sg.tasks")) == {("tcp", 80, 80, gid_of(ctx, "sg.alb"))}


def test_not_found_right_after_create_is_retried(
    ctx: Ctx, cfg: Config, vpc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lag = client_error("InvalidGroup.NotFound", "The security group does not exist", "Authorize")
    calls = inject(monkeypatch, ctx.client("ec2"), "authorize_security_group_ingress", [lag])
    assert ensure(ctx, cfg, "sg.alb").action == "create"
    assert len(calls) == 2
    assert ingress(group(ctx, "sg.alb")) == {("tcp", 80, 80, "0.0.0.0/0")}


# --- ownership -------------------------------------------------------------------------------
def stranger(ctx: Ctx, cfg: Config, vpc: str) -> str:
    """A group with our name in our VPC, without our stack tag."""
    gid: str = ctx.client("ec2").create_security_group(
        GroupName=f"{cfg.stack}-alb", Description="someone else's", VpcId=vpc
    )["GroupId"]
    return gid


def test_a_stranger_with_our_name_is_foreign_and_left_alone(
    ctx: Ctx, cfg: Config, vpc: str
) -> None:
    gid = stranger(ctx, cfg, vpc)
    out = plan(ctx, cfg, "sg.alb")
    assert out.action == "foreign" and out.physical_id == gid
    assert "without the tag ecs-cicd:stack" in out.changes[0]
    before = ctx.aws.stats.mutating_total
    with pytest.raises(ForeignResources):
        ensure(ctx, cfg, "sg.alb")
    assert ctx.aws.stats.mutating_total == before
    sg = ctx.client("ec2").describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert not sg.get("Tags") and sg["IpPermissions"] == []
    assert ctx.state.get("sg.alb") is None


def test_take_over_tags_the_stranger_and_converges_it(ctx: Ctx, cfg: Config, vpc: str) -> None:
    gid = stranger(ctx, cfg, vpc)
    ctx.adopt = frozenset({"sg.alb"})
    out = ensure(ctx, cfg, "sg.alb")
    assert out.action == "take" and out.physical_id == gid
    sg = group(ctx, "sg.alb")
    tags = {t["Key"]: t["Value"] for t in sg["Tags"]}
    assert tags["ecs-cicd:stack"] == cfg.stack and tags["ecs-cicd:id"] == "sg.alb"
    assert ingress(sg) == {("tcp", 80, 80, "0.0.0.0/0")}
    ctx.adopt = frozenset()
    assert ensure(ctx, cfg, "sg.alb").action == "unchanged"


def test_delete_skips_a_recorded_group_without_our_tag(ctx: Ctx, cfg: Config, vpc: str) -> None:
    ensure(ctx, cfg, "sg.alb")
    gid = gid_of(ctx, "sg.alb")
    ctx.client("ec2").delete_tags(Resources=[gid], Tags=[{"Key": "ecs-cicd:stack"}])
    assert delete(ctx, "sg.alb").action == "skip"
    assert ctx.client("ec2").describe_security_groups(GroupIds=[gid])["SecurityGroups"]


def test_deleted_by_hand_plans_create_and_deletes_as_gone(ctx: Ctx, cfg: Config, vpc: str) -> None:
    ensure(ctx, cfg, "sg.alb")
    ctx.client("ec2").delete_security_group(GroupId=gid_of(ctx, "sg.alb"))
    assert plan(ctx, cfg, "sg.alb").action == "create"
    assert delete(ctx, "sg.alb").action == "gone"


# --- delete ----------------------------------------------------------------------------------
def test_delete_then_gone(ctx: Ctx, cfg: Config, vpc: str) -> None:
    ensure(ctx, cfg, "sg.alb")
    ensure(ctx, cfg, "sg.tasks")
    ids = [gid_of(ctx, "sg.tasks"), gid_of(ctx, "sg.alb")]
    assert delete(ctx, "sg.tasks").action == "delete"
    assert delete(ctx, "sg.alb").action == "delete"
    left = ctx.client("ec2").describe_security_groups(Filters=[{"Name": "group-id", "Values": ids}])
    assert left["SecurityGroups"] == []
    assert delete(ctx, "sg.alb").action == "gone"
    assert delete(ctx, "sg.tasks").action == "gone"


def test_delete_revokes_the_rule_of_another_stack_group_referencing_it(
    ctx: Ctx, cfg: Config, vpc: str
) -> None:
    ensure(ctx, cfg, "sg.alb")
    ensure(ctx, cfg, "sg.tasks")
    # sg.tasks' ingress names sg.alb; on AWS (and the emulator) sg.alb cannot go while it does.
    assert delete(ctx, "sg.alb").action == "delete"
    assert group(ctx, "sg.tasks")["IpPermissions"] == []


def test_delete_revokes_own_rules_naming_other_groups(
    ctx: Ctx, cfg: Config, vpc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, "sg.alb")
    ensure(ctx, cfg, "sg.tasks")
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
    ctx: Ctx, cfg: Config, vpc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, "sg.alb")
    gid = gid_of(ctx, "sg.alb")
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
    ctx: Ctx, cfg: Config, vpc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, "sg.alb")
    gid = gid_of(ctx, "sg.alb")
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
    ctx: Ctx, cfg: Config, vpc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, "sg.alb")
    errors = [
        client_error("UnauthorizedOperation", "You are not authorized", "DeleteSecurityGroup")
    ] * 5
    calls = inject(monkeypatch, ctx.client("ec2"), "delete_security_group", list(errors))
    with pytest.raises(AwsError, match="UnauthorizedOperation"):
        delete(ctx, "sg.alb")
    assert len(calls) == 1
