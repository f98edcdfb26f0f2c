"""EC2: the DependencyViolation refusals AWS gives while something still uses a network resource.

moto deletes a security group another group's rule references, a security group or subnet an
ALB or a running Fargate service still sits in, and detaches an internet gateway while public
addresses are mapped. On AWS each of these fails with ``DependencyViolation`` (for minutes after
the user is gone; here only while it exists). What counts as a user here:

* ELBv2 load balancers (their subnets and security groups; internet-facing ones map public IPs),
* ACTIVE ECS services with running tasks (awsvpc subnets and security groups; assignPublicIp),
* network interfaces moto itself holds,
* for a security group, another group's rule that references it,
* with pacing (``eni_release_seconds``), the ENIs of a service or load balancer deleted less
  than that long ago (``linger``): on AWS they are released minutes after the user is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from moto.ec2.exceptions import DependencyViolationError
from moto.ec2.models import EC2Backend, ec2_backends
from moto.ecs.models import ecs_backends
from moto.elbv2.models import elbv2_backends

from ecs_cicd.emulator import pacing
from ecs_cicd.emulator._util import now, replace, state


@dataclass(frozen=True)
class _Lingering:
    """ENIs of a deleted service or load balancer, released at ``until``."""

    holder: str
    subnets: frozenset[str]
    groups: frozenset[str]
    until: float


def linger(
    account_id: str, region: str, *, holder: str, subnets: set[str], groups: set[str]
) -> None:
    """``holder`` was just deleted: its ENIs hold ``subnets`` and ``groups`` for a while."""
    seconds = pacing.current().eni_release_seconds
    if seconds <= 0:
        return
    backend = ec2_backends[account_id][region]
    lingering = state(backend, "lingering_enis", list)
    lingering.append(_Lingering(holder, frozenset(subnets), frozenset(groups), now() + seconds))


def _lingering(ec2: EC2Backend) -> list[_Lingering]:
    items: list[_Lingering] = state(ec2, "lingering_enis", list)
    t = now()
    items[:] = [item for item in items if item.until > t]
    return items


def _awsvpc(service: Any) -> dict[str, Any]:
    config: dict[str, Any] = (service.network_configuration or {}).get("awsvpcConfiguration") or {}
    return config


def _running_services(ec2: EC2Backend) -> Iterator[Any]:
    for service in ecs_backends[ec2.account_id][ec2.region_name].services.values():
        if service.status != "INACTIVE" and service.running_count > 0:
            yield service


def _load_balancers(ec2: EC2Backend) -> Iterator[Any]:
    yield from elbv2_backends[ec2.account_id][ec2.region_name].load_balancers.values()


def _subnet_ids(balancer: Any) -> set[str]:
    return {getattr(s, "id", s) for s in balancer.subnets}


def _security_group_users(ec2: EC2Backend, group_id: str) -> list[str]:
    users = []
    for vpc_groups in ec2.groups.values():
        for group in vpc_groups.values():
            if group.id == group_id:
                continue
            for rule in [*group.ingress_rules, *group.egress_rules]:
                if (rule.source_group or {}).get("GroupId") == group_id:
                    users.append(group.id)
    users += [b.arn for b in _load_balancers(ec2) if group_id in (b.security_groups or [])]
    users += [
        s.arn for s in _running_services(ec2) if group_id in _awsvpc(s).get("securityGroups", [])
    ]
    users += [
        eni.id
        for eni in ec2.enis.values()
        if group_id in {getattr(g, "id", g) for g in getattr(eni, "group_set", [])}
    ]
    users += [f"ENIs of {item.holder}" for item in _lingering(ec2) if group_id in item.groups]
    return users


def _subnet_users(ec2: EC2Backend, subnet_id: str) -> list[str]:
    users = [b.arn for b in _load_balancers(ec2) if subnet_id in _subnet_ids(b)]
    users += [s.arn for s in _running_services(ec2) if subnet_id in _awsvpc(s).get("subnets", [])]
    users += [e.id for e in ec2.enis.values() if getattr(e.subnet, "id", None) == subnet_id]
    users += [f"ENIs of {item.holder}" for item in _lingering(ec2) if subnet_id in item.subnets]
    return users


def _public_addresses(ec2: EC2Backend, vpc_id: str) -> list[str]:
    vpc_subnets = {s.id for s in ec2.describe_subnets(filters={"vpc-id": [vpc_id]})}
    users = [
        b.arn for b in _load_balancers(ec2) if b.vpc_id == vpc_id and b.scheme == "internet-facing"
    ]
    users += [
        s.arn
        for s in _running_services(ec2)
        if _awsvpc(s).get("assignPublicIp") == "ENABLED"
        and vpc_subnets & set(_awsvpc(s).get("subnets", []))
    ]
    return users


def _delete_security_group(original: Any) -> Any:
    def delete_security_group(
        self: EC2Backend, name: str | None = None, group_id: str | None = None
    ) -> None:
        if group_id and _security_group_users(self, group_id):
            raise DependencyViolationError(f"resource {group_id} has a dependent object")
        original(self, name=name, group_id=group_id)

    return delete_security_group


def _delete_subnet(original: Any) -> Any:
    def delete_subnet(self: EC2Backend, subnet_id: str) -> Any:
        if _subnet_users(self, subnet_id):
            raise DependencyViolationError(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
            )
        return original(self, subnet_id)

    return delete_subnet


def _detach_internet_gateway(original: Any) -> Any:
    def detach_internet_gateway(self: EC2Backend, internet_gateway_id: str, vpc_id: str) -> None:
        gateway = self.get_internet_gateway(internet_gateway_id)
        attached = gateway.vpc is not None and gateway.vpc.id == vpc_id
        if attached and _public_addresses(self, vpc_id):
            raise DependencyViolationError(
                f"Network {vpc_id} has some mapped public address(es). Please unmap those "
                "public address(es) before detaching the gateway."
            )
        original(self, internet_gateway_id, vpc_id)

    return detach_internet_gateway


def apply() -> None:
    replace(EC2Backend, "delete_security_group", _delete_security_group)
    replace(EC2Backend, "delete_subnet", _delete_subnet)
    replace(EC2Backend, "detach_internet_gateway", _detach_internet_gateway)
