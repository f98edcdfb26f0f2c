"""Helpers the resource handler tests share: specs and handlers by logical id, other Ctx on the
same moto and state, AWS errors injected into a client, and moto resources standing in for a
handler's dependencies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from ecs_cicd.config import parse_config
from ecs_cicd.engine import Ctx, Handler, Outcome, Spec
from ecs_cicd.stack import build_specs
from ecs_cicd.state import Record
from tests.conftest import EXAMPLE

TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
    '{"Service":"%s"},"Action":"sts:AssumeRole"}]}'
)


# --- config and specs ------------------------------------------------------------------------
def example() -> dict[str, Any]:
    """The example config as a fresh dict, to change before parsing."""
    return dict(yaml.safe_load(EXAMPLE.read_text()))


def spec_of(ctx: Ctx, lid: str) -> Spec:
    """The spec with logical id `lid` among those ctx's config builds."""
    return {s.logical_id: s for s in build_specs(ctx.cfg)}[lid]


def recorded(ctx: Ctx, lid: str) -> Record:
    """The state's record of `lid`; fails the test when there is none."""
    rec = ctx.state.get(lid)
    assert rec is not None, f"no record of {lid}"
    return rec


def ensure_by_kind(handlers: Mapping[str, Handler], ctx: Ctx, lid: str) -> Outcome:
    """Ensure the spec `lid` with the handler of its kind."""
    spec = spec_of(ctx, lid)
    return handlers[spec.kind].ensure(ctx, spec)


def delete_by_kind(handlers: Mapping[str, Handler], ctx: Ctx, lid: str) -> Outcome:
    """Delete what is recorded as `lid` with the handler of its kind."""
    rec = recorded(ctx, lid)
    return handlers[rec.kind].delete(ctx, rec)


# --- other Ctx on the same moto and state ----------------------------------------------------
def with_config(ctx: Ctx, *, dry_run: bool = False, **changes: Any) -> Ctx:
    """A Ctx on the same moto and state, with config keys changed (`a__b` sets a.b)."""
    data = example()
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    cfg = parse_config(data, base_dir=EXAMPLE.parent)
    return Ctx(cfg, ctx.aws, ctx.state, dry_run=dry_run, sleep=lambda _s: None)


def dry(ctx: Ctx) -> Ctx:
    """The same config, moto and state, for a plan (dry run)."""
    return Ctx(ctx.cfg, ctx.aws, ctx.state, dry_run=True, sleep=lambda _s: None)


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


# --- moto resources for a handler's dependencies ---------------------------------------------
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
