"""IAM roles: the task execution and task roles, and the CodeBuild, CodePipeline and (blue/green)
CodeDeploy service roles. Their documents come from policies.py; this module creates, adopts,
converges and deletes the roles.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, error_code, is_not_found, retry_on, tags_list
from ecs_cicd.engine import Action, Ctx, Outcome, Spec
from ecs_cicd.resources import policies
from ecs_cicd.resources.policies import INLINE_POLICY_NAME
from ecs_cicd.state import Record

T = TypeVar("T")

# IAM's propagation window is about 2 minutes (AWS-BEHAVIOUR.md).
IAM_PROPAGATION = 120


class Desired:
    """What the role should look like."""

    def __init__(self, ctx: Ctx, purpose: str) -> None:
        self.purpose = purpose
        self.trust = policies.trust_policy(purpose)
        self.inline = policies.inline_policy(
            ctx.cfg, purpose, account=ctx.account, region=ctx.region, partition=ctx.aws.partition
        )
        self.managed = policies.managed_policy_arns(ctx.cfg, purpose, partition=ctx.aws.partition)

    def summary(self) -> list[str]:
        out = [f"trusts {policies.TRUST_SERVICES[self.purpose]}"]
        if self.inline:
            out.append(
                f"inline policy {INLINE_POLICY_NAME} ({len(self.inline['Statement'])} statements)"
            )
        out += [f"attach {arn}" for arn in self.managed]
        return out


def after_create(ctx: Ctx, call: Callable[[], T]) -> T:
    """A call on a role just created: retry NoSuchEntity while IAM catches up, never recreate."""
    return retry_on(
        call, codes=("NoSuchEntity",), fragment=None, deadline=IAM_PROPAGATION, sleep=ctx.sleep
    )


def get_role(ctx: Ctx, name: str) -> dict[str, Any] | None:
    try:
        return dict(ctx.client("iam").get_role(RoleName=name)["Role"])
    except ClientError as e:
        if is_not_found(e):
            return None
        raise aws_error("Reading", f"IAM role {name}", e) from None


def _paginate(ctx: Ctx, operation: str, key: str, **kwargs: Any) -> list[Any]:
    out: list[Any] = []
    for page in ctx.client("iam").get_paginator(operation).paginate(**kwargs):
        out += page[key]
    return out


class RoleHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        purpose = str(spec.param("purpose"))
        name = names.role(ctx.cfg, purpose)
        desired = Desired(ctx, purpose)
        rec = ctx.state.get(spec.logical_id)
        role = get_role(ctx, rec.physical_id) if rec else None
        if role is None and (rec is None or rec.physical_id != name):
            role = get_role(ctx, name)
        action: Action
        if role is None:
            if ctx.dry_run:
                return Outcome(spec.logical_id, spec.kind, "create", desired.summary(), name)
            role, created = self._create(ctx, spec, name, desired)
            action = "create" if created else "adopt"
        else:
            action = "adopt" if rec is None else "unchanged"
        role_name = str(role["RoleName"])
        ctx.record(
            Record(
                spec.logical_id,
                spec.kind,
                role_name,
                arn=str(role["Arn"]),
                outputs={"purpose": purpose},
            )
        )
        if action == "create":
            self._attach_fresh(ctx, role_name, desired)
            return Outcome(spec.logical_id, spec.kind, action, [], role_name)
        changes = self._converge(ctx, role, desired)
        if changes and action == "unchanged":
            action = "update"
        return Outcome(spec.logical_id, spec.kind, action, changes, role_name)

    def _create(
        self, ctx: Ctx, spec: Spec, name: str, desired: Desired
    ) -> tuple[dict[str, Any], bool]:
        iam = ctx.client("iam")
        try:
            # "Invalid principal in policy": the service principal has not propagated yet.
            role = retry_on(
                lambda: iam.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=json.dumps(desired.trust),
                    Description=f"ecs-cicd {ctx.cfg.stack}: {desired.purpose} role",
                    Tags=tags_list(ctx.tags(spec.logical_id)),
                )["Role"],
                codes=("MalformedPolicyDocument",),
                fragment="Invalid principal",
                deadline=IAM_PROPAGATION,
                sleep=ctx.sleep,
            )
            return dict(role), True
        except ClientError as e:
            if error_code(e) != "EntityAlreadyExists":
                raise aws_error("Creating", f"IAM role {name}", e) from None
        # Created between our lookup and CreateRole (another run, or a read lagging): adopt it.
        try:
            found = after_create(ctx, lambda: iam.get_role(RoleName=name)["Role"])
        except ClientError as e:
            raise aws_error("Reading", f"IAM role {name}", e) from None
        return dict(found), False

    def _attach_fresh(self, ctx: Ctx, name: str, desired: Desired) -> None:
        """A role we just created has no policies: put and attach without reading first."""
        iam = ctx.client("iam")
        try:
            if desired.inline:
                doc = json.dumps(desired.inline)
                after_create(
                    ctx,
                    lambda: iam.put_role_policy(
                        RoleName=name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=doc
                    ),
                )
            for arn in desired.managed:
                after_create(ctx, partial(iam.attach_role_policy, RoleName=name, PolicyArn=arn))
        except ClientError as e:
            raise aws_error("Configuring", f"IAM role {name}", e) from None

    def _converge(self, ctx: Ctx, role: dict[str, Any], desired: Desired) -> list[str]:
        iam = ctx.client("iam")
        name = str(role["RoleName"])
        changes: list[str] = []

        def apply(change: str, call: Callable[[], Any]) -> None:
            changes.append(change)
            if not ctx.dry_run:
                try:
                    call()
                except ClientError as e:
                    raise aws_error("Updating", f"IAM role {name} ({change})", e) from None

        trust = policies.parse_document(role.get("AssumeRolePolicyDocument", {}))
        if policies.canonical(trust) != policies.canonical(desired.trust):
            apply(
                "trust policy",
                lambda: iam.update_assume_role_policy(
                    RoleName=name, PolicyDocument=json.dumps(desired.trust)
                ),
            )
        inline_names = _paginate(ctx, "list_role_policies", "PolicyNames", RoleName=name)
        for policy in inline_names:
            if policy != INLINE_POLICY_NAME or desired.inline is None:
                apply(
                    f"delete inline policy {policy}",
                    partial(iam.delete_role_policy, RoleName=name, PolicyName=policy),
                )
        if desired.inline is not None:
            doc = json.dumps(desired.inline)
            if INLINE_POLICY_NAME not in inline_names:
                apply(
                    f"add inline policy {INLINE_POLICY_NAME}",
                    lambda: iam.put_role_policy(
                        RoleName=name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=doc
                    ),
                )
            else:
                current = iam.get_role_policy(RoleName=name, PolicyName=INLINE_POLICY_NAME)[
                    "PolicyDocument"
                ]
                if policies.canonical(policies.parse_document(current)) != policies.canonical(
                    desired.inline
                ):
                    apply(
                        f"inline policy {INLINE_POLICY_NAME}",
                        lambda: iam.put_role_policy(
                            RoleName=name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=doc
                        ),
                    )
        attached = {
            p["PolicyArn"]
            for p in _paginate(
                ctx, "list_attached_role_policies", "AttachedPolicies", RoleName=name
            )
        }
        for arn in desired.managed:
            if arn not in attached:
                apply(
                    f"attach {arn}",
                    partial(iam.attach_role_policy, RoleName=name, PolicyArn=arn),
                )
        for arn in sorted(attached - set(desired.managed)):
            apply(f"detach {arn}", partial(iam.detach_role_policy, RoleName=name, PolicyArn=arn))
        return changes

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        name = record.physical_id
        try:
            # "must detach all policies first" / "must delete policies first": each attempt
            # strips the role again, so a policy attached meanwhile is removed too.
            retry_on(
                lambda: _strip_and_delete(ctx, name),
                codes=("DeleteConflict",),
                fragment=None,
                deadline=IAM_PROPAGATION,
                sleep=ctx.sleep,
            )
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], name)
            raise aws_error("Deleting", f"IAM role {name}", e) from None
        return Outcome(record.logical_id, record.kind, "delete", [], name)


def _strip_and_delete(ctx: Ctx, name: str) -> None:
    """Detach managed policies, delete inline ones, leave instance profiles, delete the role.

    NoSuchEntity from the first listing (the role is gone) propagates; on the individual
    detaches it only means that policy is already gone.
    """
    iam = ctx.client("iam")
    attached = _paginate(ctx, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
    for p in attached:
        _tolerate_missing(partial(iam.detach_role_policy, RoleName=name, PolicyArn=p["PolicyArn"]))
    for policy in _paginate(ctx, "list_role_policies", "PolicyNames", RoleName=name):
        _tolerate_missing(partial(iam.delete_role_policy, RoleName=name, PolicyName=policy))
    for profile in _paginate(
        ctx, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name
    ):
        _tolerate_missing(
            partial(
                iam.remove_role_from_instance_profile,
                InstanceProfileName=profile["InstanceProfileName"],
                RoleName=name,
            )
        )
    iam.delete_role(RoleName=name)


def _tolerate_missing(call: Callable[[], Any]) -> None:
    try:
        call()
    except ClientError as e:
        if not is_not_found(e):
            raise
