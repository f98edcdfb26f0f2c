"""Helpers the resource kind tests share: the desired stack and one resource of it, the lifecycle
run on one resource (ensure = examine + apply, plan = examine, delete = remove), configs with keys
changed, AWS errors injected into a client, and moto resources standing in for dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from ecs_cicd.config import Config, parse_config
from ecs_cicd.lifecycle import Ctx, Outcome, Resource, Target, apply, examine, remove
from ecs_cicd.resources import kinds
from ecs_cicd.stack import Stack, build_stack
from ecs_cicd.state import Record
from tests.conftest import EXAMPLE, TARGET_ACCOUNT, TARGET_REGION

TARGET = Target(TARGET_ACCOUNT, TARGET_REGION)

TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
    '{"Service":"%s"},"Action":"sts:AssumeRole"}]}'
)


# --- config and the desired stack ------------------------------------------------------------
def example() -> dict[str, Any]:
    """The example config as a fresh dict, to change before parsing."""
    return dict(yaml.safe_load(EXAMPLE.read_text()))


def config_with(**changes: Any) -> Config:
    """The example config with keys changed (`a__b` sets a.b)."""
    data = example()
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return parse_config(data, base_dir=EXAMPLE.parent)


def stack_of(cfg: Config) -> Stack:
    return build_stack(cfg, TARGET)


def want(cfg: Config, lid: str) -> Resource:
    """The desired resource `lid` of cfg's stack."""
    return stack_of(cfg).get(lid)


# --- the lifecycle on one resource -----------------------------------------------------------
def plan(ctx: Ctx, cfg: Config, lid: str) -> Outcome:
    """What `plan` says of `lid`: read-only."""
    w = want(cfg, lid)
    return examine(ctx, kinds()[w.kind], w).outcome


def ensure(ctx: Ctx, cfg: Config, lid: str) -> Outcome:
    """What `up` does to `lid`: examine, then apply."""
    w = want(cfg, lid)
    return apply(ctx, examine(ctx, kinds()[w.kind], w))


def ensure_all(ctx: Ctx, cfg: Config, *lids: str) -> list[Outcome]:
    """Ensure `lids` and, first, everything they depend on (in dependency order)."""
    stack = stack_of(cfg)
    needed: set[str] = set()

    def need(r: Resource) -> None:
        if r.logical_id not in needed:
            needed.add(r.logical_id)
            for d in r.deps():
                need(d)

    for lid in lids:
        need(stack.get(lid))
    return [ensure(ctx, cfg, r.logical_id) for r in stack.resources if r.logical_id in needed]


def delete(ctx: Ctx, lid: str) -> Outcome:
    """What `down` does to the record `lid`."""
    rec = recorded(ctx, lid)
    return remove(ctx, kinds()[rec.kind], rec)


def recorded(ctx: Ctx, lid: str) -> Record:
    """The state's record of `lid`; fails the test when there is none."""
    rec = ctx.state.get(lid)
    assert rec is not None, f"no record of {lid}"
    return rec


# --- injected errors -------------------------------------------------------------------------
def client_error(code: str, message: str, operation: str) -> ClientError:
    """The ClientError botocore raises for an AWS error `code` answered to `operation`."""
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def inject(
    monkeypatch: pytest.MonkeyPatch, c: Any, method: str, errors: list[ClientError]
) -> list[dict[str, Any]]:
    """Make `c.method` raise `errors` one by one, then behave; returns the calls' kwargs."""
    real: Callable[..., Any] = getattr(c, method)
    calls: list[dict[str, Any]] = []

    def wrapper(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if errors:
            raise errors.pop(0)
        return real(**kwargs)

    monkeypatch.setattr(c, method, wrapper)
    return calls


# --- moto resources for a kind's dependencies ------------------------------------------------
def vpc_with_subnets(ec2: Any, region: str) -> tuple[str, list[str]]:
    """A 10.0.0.0/16 VPC with a /24 subnet in zones `a` and `c`: (VPC id, subnet ids)."""
    vpc: str = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ac")
    ]
    return vpc, subnets


def record_role(ctx: Ctx, iam: Any, lid: str, name: str, service: str) -> str:
    """Create the IAM role `name` that `service` may assume, record it as `lid`; its ARN."""
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST % service)["Role"][
        "Arn"
    ]
    ctx.state.put(Record(lid, "iam_role", name, arn=arn))
    return arn


def issued_certificate(ctx: Ctx, domain: str) -> str:
    """An ACM certificate that is ISSUED, as on AWS: requested with DNS validation and its
    validation CNAME written in a hosted zone (the emulator issues it then, not before)."""
    acm = ctx.client("acm")
    arn: str = acm.request_certificate(DomainName=domain, ValidationMethod="DNS")["CertificateArn"]
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    rr = cert["DomainValidationOptions"][0]["ResourceRecord"]
    r53 = ctx.client("route53")
    zone = r53.create_hosted_zone(Name=domain, CallerReference=arn)["HostedZone"]["Id"]
    r53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": rr["Name"],
                        "Type": "CNAME",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": rr["Value"]}],
                    },
                }
            ]
        },
    )
    return arn
