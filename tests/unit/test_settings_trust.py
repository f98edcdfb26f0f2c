"""Settings the state verified are not read again (Kind.settings_reads, Ctx.trusts): a no-op
`up` and `plan` make one read per resource; `--refresh` reads everything; anything not known
to be on AWS — a crash before `configure`, an update that failed, a changed desire, a record
from `state recover` — is read again."""

from __future__ import annotations

from typing import Any

import pytest

from ecs_cicd.config import Config
from ecs_cicd.lifecycle import Ctx, apply, examine, fingerprint
from ecs_cicd.resources import kinds
from tests.unit.resources.helpers import (
    client_error,
    config_with,
    ensure,
    ensure_all,
    inject,
    plan,
    recorded,
    want,
)


def reads(ctx: Ctx, operation: str) -> int:
    return sum(n for op, n in ctx.aws.stats.reads.items() if op.endswith(":" + operation))


def dns_hostnames(ctx: Ctx, vpc_id: str) -> bool:
    resp = ctx.client("ec2").describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
    return bool(resp["EnableDnsHostnames"]["Value"])


def test_made_settings_are_verified_and_not_read_again(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "vpc")
    rec = recorded(ctx, "vpc")
    assert rec.verified == fingerprint(want(cfg, "vpc"))
    ctx.client("ec2").modify_vpc_attribute(
        VpcId=rec.physical_id, EnableDnsHostnames={"Value": False}
    )
    before = reads(ctx, "DescribeVpcAttribute")
    assert plan(ctx, cfg, "vpc").action == "unchanged"
    assert reads(ctx, "DescribeVpcAttribute") == before
    assert ctx.trusted == {"vpc"}

    ctx.refresh = True
    out = ensure(ctx, cfg, "vpc")
    assert out.action == "update" and out.changes == ["EnableDnsHostnames: False -> True"]
    assert reads(ctx, "DescribeVpcAttribute") == before + 2
    assert dns_hostnames(ctx, rec.physical_id)
    assert recorded(ctx, "vpc").verified == rec.verified


def test_a_crash_before_configure_leaves_the_settings_to_be_read(ctx: Ctx, cfg: Config) -> None:
    """`up` records a resource right after its create; killed before `configure` set its DNS
    attributes, the record is not verified: the next run reads and sets them."""
    w = want(cfg, "vpc")
    kind = kinds()["vpc"]
    made = kind.create(ctx, w)
    ctx.record(kind.record(w, made))  # what apply records before configure
    assert recorded(ctx, "vpc").verified == ""
    assert not dns_hostnames(ctx, made.physical_id)  # a new VPC: DNS hostnames off
    out = ensure(ctx, cfg, "vpc")
    assert out.action == "update" and out.changes == ["EnableDnsHostnames: False -> True"]
    assert dns_hostnames(ctx, made.physical_id)
    assert recorded(ctx, "vpc").verified == fingerprint(w)


def test_a_failed_update_leaves_the_settings_unverified(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, "vpc")
    vid = recorded(ctx, "vpc").physical_id
    ctx.client("ec2").modify_vpc_attribute(VpcId=vid, EnableDnsHostnames={"Value": False})
    ctx.refresh = True
    step = examine(ctx, kinds()["vpc"], want(cfg, "vpc"))
    assert step.outcome.action == "update"
    inject(
        monkeypatch,
        ctx.client("ec2"),
        "modify_vpc_attribute",
        [client_error("InvalidParameterValue", "try again", "ModifyVpcAttribute")],
    )
    with pytest.raises(Exception, match="try again"):
        apply(ctx, step)
    assert recorded(ctx, "vpc").verified == ""
    ctx.refresh = False
    assert plan(ctx, cfg, "vpc").action == "update"  # not trusted: read, still off


@pytest.mark.parametrize(
    ("lid", "operation"),
    [
        ("ecr.app", "GetLifecyclePolicy"),
        ("bucket.artifacts", "GetBucketPolicy"),
    ],
)
def test_a_changed_desire_reads_the_settings_again(
    ctx: Ctx, cfg: Config, lid: str, operation: str
) -> None:
    ensure(ctx, cfg, lid)
    before = reads(ctx, operation)
    assert plan(ctx, cfg, lid).action == "unchanged"
    assert reads(ctx, operation) == before
    changed: dict[str, Any] = {"ecr__keep_images": 5} if lid == "ecr.app" else {"tags": {"a": "b"}}
    other = config_with(**changed)
    assert fingerprint(want(other, lid)) != fingerprint(want(cfg, lid))
    assert plan(ctx, other, lid).action == "update"
    assert reads(ctx, operation) == before + 1


def test_alb_and_target_group_attributes_are_trusted_once_verified(ctx: Ctx, cfg: Config) -> None:
    ensure_all(ctx, cfg, "alb", "tg.main")
    for lid, operation in (
        ("tg.main", "DescribeTargetGroupAttributes"),
        ("alb", "DescribeLoadBalancerAttributes"),
    ):
        before = reads(ctx, operation)
        assert plan(ctx, cfg, lid).action == "unchanged"
        assert reads(ctx, operation) == before
        ctx.refresh = True
        assert plan(ctx, cfg, lid).action == "unchanged"
        assert reads(ctx, operation) == before + 1
        ctx.refresh = False


def test_a_namesake_is_not_trusted(ctx: Ctx, cfg: Config) -> None:
    """Ours was deleted and someone made a repository of the same name, untagged and without a
    lifecycle policy: taking it over (`--adopt`) reads and sets every setting."""
    ensure(ctx, cfg, "ecr.app")
    name = recorded(ctx, "ecr.app").physical_id
    ecr = ctx.client("ecr")
    ecr.delete_repository(repositoryName=name, force=True)
    ecr.create_repository(repositoryName=name)
    assert plan(ctx, cfg, "ecr.app").action == "foreign"
    ctx.adopt = frozenset({"ecr.app"})
    planned = plan(ctx, cfg, "ecr.app")
    assert planned.action == "take"
    assert "lifecyclePolicy: keep the newest 30 images" in planned.changes
    assert "ecr.app" not in ctx.trusted
