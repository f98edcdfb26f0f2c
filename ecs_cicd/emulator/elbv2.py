"""ELBv2: CreateLoadBalancer and CreateTargetGroup are idempotent, as on AWS.

AWS returns the existing load balancer / target group when one of that name exists with the
same settings, and refuses with DuplicateLoadBalancerName / DuplicateTargetGroupName when the
settings differ. moto created a second load balancer of the same name, and refused a repeated
identical target group. A load balancer created without Scheme reports AWS's default,
``internet-facing`` (moto left it out).

With pacing (``pacing.py``), a new load balancer stays ``provisioning`` for ``alb_seconds`` (moto
turned it ``active`` on the first describe), and DeleteLoadBalancer leaves its ENIs holding its
subnets and security groups for ``eni_release_seconds`` (``ec2.linger``).

A target group is attached to a load balancer (its ``LoadBalancerArns``) while a listener or rule
of that load balancer forwards to it, as on AWS: ModifyListener attaches the groups its default
action names (a ``ForwardConfig``'s weighted groups too, weight 0 included) and detaches the ones
no longer named; DeleteListener detaches. moto attached only at CreateListener / CreateRule and
never detached, so an ECS service could not be created on a group a listener was modified to
forward to ("does not have an associated load balancer").
"""

from __future__ import annotations

from typing import Any

from moto.elbv2.exceptions import DuplicateLoadBalancerName, DuplicateTargetGroupName
from moto.elbv2.models import ELBv2Backend, FakeLoadBalancer, FakeTargetGroup

from ecs_cicd.emulator import ec2, pacing
from ecs_cicd.emulator._util import now, replace

_ACTIVE_AT = "_ecs_cicd_active_at"


def active_at(balancer: FakeLoadBalancer) -> float:
    """When the load balancer turns (or turned) active; 0 when it was never paced."""
    return float(getattr(balancer, _ACTIVE_AT, 0.0))


def _create_load_balancer(original: Any) -> Any:
    def create_load_balancer(self: ELBv2Backend, name: str, *args: Any, **kwargs: Any) -> Any:
        existing = next((b for b in self.load_balancers.values() if b.name == name), None)
        if existing is None:
            created = original(self, name, *args, **kwargs)
            # moto stores None when Scheme is omitted; AWS reports its default.
            created.scheme = created.scheme or "internet-facing"
            setattr(created, _ACTIVE_AT, now() + pacing.current().alb_seconds)
            return created
        if _same_load_balancer(existing, kwargs):
            return existing
        raise DuplicateLoadBalancerName()

    return create_load_balancer


def _same_load_balancer(existing: FakeLoadBalancer, kwargs: dict[str, Any]) -> bool:
    subnets = set(kwargs.get("subnet_ids") or []) | {
        m["SubnetId"] for m in kwargs.get("subnet_mappings") or []
    }
    return (
        (existing.scheme or "internet-facing") == (kwargs.get("scheme") or "internet-facing")
        and existing.type == (kwargs.get("loadbalancer_type") or "application")
        and {getattr(s, "id", s) for s in existing.subnets} == subnets
        and set(existing.security_groups or []) == set(kwargs.get("security_groups") or [])
    )


def _create_target_group(original: Any) -> Any:
    def create_target_group(self: ELBv2Backend, name: str, **kwargs: Any) -> Any:
        existing = next((g for g in self.target_groups.values() if g.name == name), None)
        if existing is None:
            return original(self, name, **kwargs)
        if _same_target_group(existing, kwargs):
            return existing
        raise DuplicateTargetGroupName()

    return create_target_group


def _same_target_group(existing: FakeTargetGroup, kwargs: dict[str, Any]) -> bool:
    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return (
        text(existing.protocol) == text(kwargs.get("protocol"))
        and text(existing.port) == text(kwargs.get("port"))
        and existing.vpc_id == kwargs.get("vpc_id")
        and existing.target_type == (kwargs.get("target_type") or "instance")
    )


def _subnet_ids(balancer: FakeLoadBalancer) -> set[str]:
    return {str(getattr(s, "id", s)) for s in balancer.subnets}


def _activate(original: Any) -> Any:
    def activate(self: FakeLoadBalancer) -> None:
        if now() >= active_at(self):
            original(self)

    return activate


def _delete_load_balancer(original: Any) -> Any:
    def delete_load_balancer(self: ELBv2Backend, arn: str) -> None:
        balancer = self.load_balancers.get(arn)
        original(self, arn)
        if balancer is not None:
            ec2.linger(
                self.account_id,
                self.region_name,
                holder=f"ELB {balancer.name}",
                subnets=_subnet_ids(balancer),
                groups=set(balancer.security_groups or []),
            )

    return delete_load_balancer


def _forwarded(backend: ELBv2Backend, load_balancer_arn: str) -> set[str]:
    """The target groups the listeners and rules of a load balancer forward to."""
    balancer = backend.load_balancers.get(load_balancer_arn)
    out: set[str] = set()
    for listener in balancer.listeners.values() if balancer is not None else ():
        for rule in listener.rules.values():
            for action in rule.actions:
                if action.type == "forward":
                    out.update(backend._get_target_group_arns_from(action_data=action.data))
    return out


def sync_attachments(backend: ELBv2Backend, load_balancer_arn: str) -> None:
    """Make each target group's LoadBalancerArns name `load_balancer_arn` (once) exactly when a
    listener or rule of it forwards to the group."""
    forwarded = _forwarded(backend, load_balancer_arn)
    for arn, group in backend.target_groups.items():
        others = [b for b in group.load_balancer_arns if b != load_balancer_arn]
        group.load_balancer_arns = others + ([load_balancer_arn] if arn in forwarded else [])


def _modify_listener(original: Any) -> Any:
    def modify_listener(self: ELBv2Backend, arn: str, *args: Any, **kwargs: Any) -> Any:
        listener = original(self, arn, *args, **kwargs)
        sync_attachments(self, listener.load_balancer_arn)
        return listener

    return modify_listener


def _delete_listener(original: Any) -> Any:
    def delete_listener(self: ELBv2Backend, listener_arn: str) -> Any:
        listener = original(self, listener_arn)
        sync_attachments(self, listener.load_balancer_arn)
        return listener

    return delete_listener


def apply() -> None:
    replace(FakeLoadBalancer, "activate", _activate)
    replace(ELBv2Backend, "delete_load_balancer", _delete_load_balancer)
    replace(ELBv2Backend, "create_load_balancer", _create_load_balancer)
    replace(ELBv2Backend, "create_target_group", _create_target_group)
    replace(ELBv2Backend, "modify_listener", _modify_listener)
    replace(ELBv2Backend, "delete_listener", _delete_listener)
