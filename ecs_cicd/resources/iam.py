"""IAM roles: the task execution and task roles, and the CodeBuild, CodePipeline and (blue/green)
CodeDeploy service roles. Their documents come from policies.py and are data of the Role model;
this module creates, converges and deletes the roles.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import error_code, is_not_found, retry_on, tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource, Target
from ecs_cicd.resources import policies
from ecs_cicd.resources.policies import INLINE_POLICY_NAME
from ecs_cicd.state import Record

T = TypeVar("T")

# IAM's propagation window is about 2 minutes (AWS-BEHAVIOUR.md).
IAM_PROPAGATION = 120

# The fields of a role's diff.
TRUST = "trust policy"
INLINE_NAMES = "inline policies"
INLINE_DOC = f"inline policy {INLINE_POLICY_NAME}"
MANAGED = "managed policies"
# A deployer policy may not allow the batched read: then each role is read on its own.
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


@dataclass(frozen=True, eq=False, kw_only=True)
class Role(Resource):
    """One role: its name, trust policy, inline policy `ecs-cicd` (None: none) and the managed
    policies attached to it, all computed by policies.py."""

    kind = "iam_role"
    name: str
    purpose: str
    arn: str
    description: str
    service: str  # the one service principal that may assume it
    trust: dict[str, Any]
    inline: dict[str, Any] | None
    managed: tuple[str, ...]


def build_role(
    cfg: Config, target: Target, purpose: str, tags: tuple[tuple[str, str], ...]
) -> Role:
    name = names.role(cfg, purpose)
    return Role(
        logical_id=f"role.{purpose}",
        tags=tags,
        name=name,
        purpose=purpose,
        arn=target.arn("iam", f"role/{name}", region=False),
        description=f"ecs-cicd {cfg.stack}: {purpose} role",
        service=policies.TRUST_SERVICES[purpose],
        trust=policies.trust_policy(purpose),
        inline=policies.inline_policy(
            cfg, purpose, account=target.account, region=target.region, partition=target.partition
        ),
        managed=tuple(policies.managed_policy_arns(cfg, purpose, partition=target.partition)),
    )


@dataclass(frozen=True)
class Found:
    """What a Live role carries: GetRole's answer, and whether we have just made it (a fresh
    role has no policies: `configure` puts ours without reading first)."""

    role: dict[str, Any]
    fresh: bool = False
    # From GetAccountAuthorizationDetails (lookup_many): the role's inline policies (name ->
    # document), the ARNs of its managed policies and its instance profiles; None: not read.
    inline: dict[str, Any] | None = None
    attached: list[str] | None = None
    profiles: list[str] | None = None


def after_create(ctx: Ctx, call: Callable[[], T]) -> T:
    """A call on a role just created: retry NoSuchEntity while IAM catches up, never recreate."""
    return retry_on(
        call, codes=("NoSuchEntity",), fragment=None, deadline=IAM_PROPAGATION, sleep=ctx.sleep
    )


def _live(
    role: dict[str, Any],
    outputs: dict[str, Any],
    *,
    fresh: bool = False,
    found: Found | None = None,
) -> Live:
    return Live(
        str(role["RoleName"]),
        str(role["Arn"]),
        tags_dict(role.get("Tags")),
        found or Found(dict(role), fresh),
        outputs,
    )


def _detail(role: dict[str, Any]) -> Found:
    """A RoleDetail of GetAccountAuthorizationDetails: the role, its policies and profiles."""
    return Found(
        dict(role),
        inline={
            p["PolicyName"]: policies.parse_document(p["PolicyDocument"])
            for p in role.get("RolePolicyList", [])
        },
        attached=[p["PolicyArn"] for p in role.get("AttachedManagedPolicies", [])],
        profiles=[p["InstanceProfileName"] for p in role.get("InstanceProfileList", [])],
    )


def _get_role(ctx: Ctx, name: str) -> dict[str, Any] | None:
    try:
        return dict(ctx.client("iam").get_role(RoleName=name)["Role"])
    except ClientError as e:
        if is_not_found(e):
            return None
        raise


def _paginate(ctx: Ctx, operation: str, key: str, **kwargs: Any) -> list[Any]:
    out: list[Any] = []
    for page in ctx.client("iam").get_paginator(operation).paginate(**kwargs):
        out += page[key]
    return out


class RoleKind(Kind[Role]):
    kind = "iam_role"
    label = "IAM role"
    named_ids = True

    def find(self, ctx: Ctx, want: Role, rec: Record | None) -> Live | None:
        role = _get_role(ctx, rec.physical_id) if rec else None
        if role is None and (rec is None or rec.physical_id != want.name):
            role = _get_role(ctx, want.name)
        return _live(role, {"purpose": want.purpose}) if role else None

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        role = _get_role(ctx, rec.physical_id)
        return _live(role, dict(rec.outputs)) if role else None

    def lookup_many(self, ctx: Ctx, recs: list[Record]) -> dict[str, Live | None] | None:
        """Every recorded role with its trust policy, tags, inline and managed policies and
        instance profiles, from GetAccountAuthorizationDetails(Filter=[Role]) — one call per
        1000 roles of the account, instead of four per role (GetRole, ListRolePolicies,
        GetRolePolicy, ListAttachedRolePolicies); it stops paging once every role is found.
        Denied (a deployer policy without iam:GetAccountAuthorizationDetails): None, and each
        role is read on its own."""
        wanted = {r.physical_id: r for r in recs}
        out: dict[str, Live | None] = {}
        try:
            pages = (
                ctx.client("iam")
                .get_paginator("get_account_authorization_details")
                .paginate(Filter=["Role"], PaginationConfig={"PageSize": 1000})
            )
            for page in pages:
                for role in page.get("RoleDetailList", []):
                    rec = wanted.get(role.get("RoleName", ""))
                    if rec is not None:
                        outputs = dict(rec.outputs) or {"purpose": rec.logical_id.split(".")[-1]}
                        out[rec.physical_id] = _live(role, outputs, found=_detail(role))
                if len(out) == len(wanted):
                    return out
        except ClientError as e:
            if error_code(e) in DENIED:
                return None
            raise
        # The whole account listed: a role not in it does not exist.
        return {name: out.get(name) for name in wanted}

    def create(self, ctx: Ctx, want: Role) -> Live:
        iam = ctx.client("iam")
        # "Invalid principal in policy": the service principal has not propagated yet.
        role = retry_on(
            lambda: iam.create_role(
                RoleName=want.name,
                AssumeRolePolicyDocument=json.dumps(want.trust),
                Description=want.description,
                Tags=tags_list(want.tag_dict),
            )["Role"],
            codes=("MalformedPolicyDocument",),
            fragment="Invalid principal",
            deadline=IAM_PROPAGATION,
            sleep=ctx.sleep,
        )
        return _live(role, {"purpose": want.purpose}, fresh=True)

    def configure(self, ctx: Ctx, want: Role, live: Live) -> Live | None:
        # A role we just created has no policies: put and attach without reading first.
        iam = ctx.client("iam")
        name = live.physical_id
        if want.inline is not None:
            doc = json.dumps(want.inline)
            after_create(
                ctx,
                lambda: iam.put_role_policy(
                    RoleName=name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=doc
                ),
            )
        for arn in want.managed:
            after_create(ctx, partial(iam.attach_role_policy, RoleName=name, PolicyArn=arn))
        return None

    def diff(self, ctx: Ctx, want: Role, live: Live) -> list[Diff]:
        iam = ctx.client("iam")
        name = live.physical_id
        out: list[Diff] = []
        found: Found = live.data
        trust = policies.parse_document(found.role.get("AssumeRolePolicyDocument", {}))
        if policies.canonical(trust) != policies.canonical(want.trust):
            out.append(Diff(TRUST, trust, want.trust))
        have_names = sorted(
            found.inline
            if found.inline is not None
            else _paginate(ctx, "list_role_policies", "PolicyNames", RoleName=name)
        )
        want_names = [INLINE_POLICY_NAME] if want.inline is not None else []
        if have_names != want_names:
            out.append(Diff(INLINE_NAMES, have_names, want_names))
        if want.inline is not None and INLINE_POLICY_NAME in have_names:
            current = (
                found.inline[INLINE_POLICY_NAME]
                if found.inline is not None
                else policies.parse_document(
                    iam.get_role_policy(RoleName=name, PolicyName=INLINE_POLICY_NAME)[
                        "PolicyDocument"
                    ]
                )
            )
            if policies.canonical(current) != policies.canonical(want.inline):
                out.append(Diff(INLINE_DOC, current, want.inline))
        attached = sorted(
            found.attached
            if found.attached is not None
            else (
                p["PolicyArn"]
                for p in _paginate(
                    ctx, "list_attached_role_policies", "AttachedPolicies", RoleName=name
                )
            )
        )
        if attached != sorted(want.managed):
            out.append(Diff(MANAGED, attached, sorted(want.managed)))
        return out

    def update(self, ctx: Ctx, want: Role, live: Live, diffs: list[Diff]) -> Live | None:
        iam = ctx.client("iam")
        name = live.physical_id
        by_field = {d.field: d for d in diffs}
        if TRUST in by_field:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(want.trust))
        put = INLINE_DOC in by_field
        if INLINE_NAMES in by_field:
            d = by_field[INLINE_NAMES]
            for policy in d.have:
                if policy not in d.want:
                    iam.delete_role_policy(RoleName=name, PolicyName=policy)
            put = put or (INLINE_POLICY_NAME in d.want and INLINE_POLICY_NAME not in d.have)
        if put and want.inline is not None:
            iam.put_role_policy(
                RoleName=name,
                PolicyName=INLINE_POLICY_NAME,
                PolicyDocument=json.dumps(want.inline),
            )
        if MANAGED in by_field:
            d = by_field[MANAGED]
            for arn in d.want:
                if arn not in d.have:
                    iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            for arn in d.have:
                if arn not in d.want:
                    iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        return None

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("iam").tag_role(RoleName=live.physical_id, Tags=tags_list(tags))

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        # "must detach all policies first" / "must delete policies first": each attempt strips
        # the role again, so a policy attached meanwhile is removed too. The first attempt
        # strips what the look-up saw (when it read the policies: lookup_many); a retry lists
        # again.
        seen: list[Found | None] = [live.data if isinstance(live.data, Found) else None]

        def attempt() -> None:
            found, seen[0] = seen[0], None
            _strip_and_delete(ctx, rec.physical_id, found)

        retry_on(
            attempt,
            codes=("DeleteConflict",),
            fragment=None,
            deadline=IAM_PROPAGATION,
            sleep=ctx.sleep,
        )

    def summary(self, want: Role) -> list[str]:
        out = [f"trusts {want.service}"]
        if want.inline:
            out.append(
                f"inline policy {INLINE_POLICY_NAME} ({len(want.inline['Statement'])} statements)"
            )
        out += [f"attach {arn}" for arn in want.managed]
        return out


def _strip_and_delete(ctx: Ctx, name: str, found: Found | None = None) -> None:
    """Detach managed policies, delete inline ones, leave instance profiles, delete the role.

    `found`: the role's policies and profiles as just read (lookup_many), else they are listed.
    If one was added since, DeleteRole fails with DeleteConflict and the retry lists them.
    NoSuchEntity from the first listing (the role is gone) propagates; on the individual
    detaches it only means that policy is already gone.
    """
    iam = ctx.client("iam")
    full = found is not None and None not in (found.attached, found.inline, found.profiles)
    if full and found is not None:
        attached, inline, profiles = (
            found.attached or [],
            list(found.inline or {}),
            found.profiles or [],
        )
    else:
        attached = [
            p["PolicyArn"]
            for p in _paginate(
                ctx, "list_attached_role_policies", "AttachedPolicies", RoleName=name
            )
        ]
        inline = _paginate(ctx, "list_role_policies", "PolicyNames", RoleName=name)
        profiles = [
            p["InstanceProfileName"]
            for p in _paginate(
                ctx, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name
            )
        ]
    for arn in attached:
        _tolerate_missing(partial(iam.detach_role_policy, RoleName=name, PolicyArn=arn))
    for policy in inline:
        _tolerate_missing(partial(iam.delete_role_policy, RoleName=name, PolicyName=policy))
    for profile in profiles:
        _tolerate_missing(
            partial(
                iam.remove_role_from_instance_profile,
                InstanceProfileName=profile,
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


KINDS = (RoleKind(),)
