"""IAM roles: the desired Role model (name, trust, inline policy, managed policies as data), and on
moto: created with trust, tags and inline policy; idempotent; adopted after a lost record; drift
converged (trust, inline policy, stray policies, attachments); a stranger's role of our name left
alone; take-over; tolerant deletes; the propagation retries of AWS-BEHAVIOUR.md injected."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError
from ecs_cicd.lifecycle import Ctx, ForeignResources
from ecs_cicd.resources import iam, policies
from tests.unit.resources.helpers import (
    TARGET,
    client_error,
    config_with,
    delete,
    ensure,
    inject,
    plan,
    recorded,
    want,
)

STACK = "test-codepipeline-dev"
ACCOUNT = "123456789012"
ROLES = ("role.execution", "role.task", "role.codebuild", "role.codepipeline")
CODEDEPLOY_POLICY = "arn:aws:iam::aws:policy/AWSCodeDeployRoleForECS"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
USER_STATEMENT = {
    "Effect": "Allow",
    "Action": ["s3:GetObject"],
    "Resource": "arn:aws:s3:::shop-uploads/*",
}
USER_POLICY = {"Version": "2012-10-17", "Statement": [USER_STATEMENT]}
WIDE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


def role_of(cfg: Config, lid: str) -> iam.Role:
    r = want(cfg, lid)
    assert isinstance(r, iam.Role)
    return r


def blue_green() -> Config:
    return config_with(pipeline__deploy__strategy="blue_green")


def with_task_statements(statements: list[dict[str, Any]]) -> Config:
    return config_with(task__task_role_statements=statements)


def inline_doc(ctx: Ctx, name: str) -> dict[str, Any]:
    return dict(
        ctx.client("iam").get_role_policy(RoleName=name, PolicyName="ecs-cicd")["PolicyDocument"]
    )


def role_tags(ctx: Ctx, name: str) -> dict[str, str]:
    role = ctx.client("iam").get_role(RoleName=name)["Role"]
    return {t["Key"]: t["Value"] for t in role.get("Tags", [])}


def count_roles(ctx: Ctx, name: str) -> int:
    return len([r for r in ctx.client("iam").list_roles()["Roles"] if r["RoleName"] == name])


def stranger(ctx: Ctx, name: str, service: str = "codebuild.amazonaws.com") -> None:
    """Someone else's role of our name: a wide inline policy, AdministratorAccess, no stack tag."""
    c = ctx.client("iam")
    trust = policies.trust_policy("codebuild")
    trust["Statement"][0]["Principal"] = {"Service": service}
    c.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust),
        Tags=[{"Key": "team", "Value": "x"}],
    )
    c.put_role_policy(RoleName=name, PolicyName="theirs", PolicyDocument=json.dumps(WIDE))
    c.attach_role_policy(RoleName=name, PolicyArn=ADMIN)


def untouched(ctx: Ctx, name: str, service: str = "codebuild.amazonaws.com") -> None:
    """The stranger's role is as its owner left it."""
    c = ctx.client("iam")
    role = c.get_role(RoleName=name)["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": service}
    assert c.list_role_policies(RoleName=name)["PolicyNames"] == ["theirs"]
    assert c.get_role_policy(RoleName=name, PolicyName="theirs")["PolicyDocument"] == WIDE
    assert [
        p["PolicyArn"] for p in c.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    ] == [ADMIN]
    assert "ecs-cicd:stack" not in role_tags(ctx, name)


# --- the desired model: data, no client ------------------------------------------------------
def test_role_model_holds_every_desired_value(cfg: Config) -> None:
    r = role_of(cfg, "role.codebuild")
    assert r.kind == "iam_role"
    assert r.name == f"{STACK}-codebuild" and r.purpose == "codebuild"
    assert r.arn == f"arn:aws:iam::{ACCOUNT}:role/{STACK}-codebuild"
    assert r.trust == policies.trust_policy("codebuild")
    assert r.service == "codebuild.amazonaws.com"
    assert r.inline == policies.inline_policy(
        cfg, "codebuild", account=TARGET.account, region=TARGET.region
    )
    assert r.managed == ()
    assert (
        dict(r.tags)["ecs-cicd:stack"] == STACK and dict(r.tags)["ecs-cicd:id"] == "role.codebuild"
    )
    # The example's task role has no statements: no inline policy at all.
    assert role_of(cfg, "role.task").inline is None
    assert "role.codedeploy" not in [x.logical_id for x in _roles(cfg)]
    assert iam.RoleKind().summary(r)[0] == "trusts codebuild.amazonaws.com"


def test_blue_green_adds_the_codedeploy_role_with_its_managed_policy() -> None:
    r = role_of(blue_green(), "role.codedeploy")
    assert r.managed == (CODEDEPLOY_POLICY,) and r.inline is None
    assert r.trust["Statement"][0]["Principal"] == {"Service": "codedeploy.amazonaws.com"}
    assert iam.RoleKind().summary(r) == [
        "trusts codedeploy.amazonaws.com",
        f"attach {CODEDEPLOY_POLICY}",
    ]


def test_task_role_inline_policy_follows_the_config() -> None:
    r = role_of(with_task_statements([USER_STATEMENT]), "role.task")
    assert r.inline == USER_POLICY


def _roles(cfg: Config) -> list[iam.Role]:
    from tests.unit.resources.helpers import stack_of

    return [r for r in stack_of(cfg).resources if isinstance(r, iam.Role)]


# --- create / idempotence / adopt ------------------------------------------------------------
def test_creates_roles_with_trust_tags_and_policy(ctx: Ctx, cfg: Config) -> None:
    outcomes = {lid: ensure(ctx, cfg, lid) for lid in ROLES}
    assert {o.action for o in outcomes.values()} == {"create"}
    c = ctx.client("iam")
    principals = {
        "execution": "ecs-tasks.amazonaws.com",
        "task": "ecs-tasks.amazonaws.com",
        "codebuild": "codebuild.amazonaws.com",
        "codepipeline": "codepipeline.amazonaws.com",
    }
    for purpose, service in principals.items():
        role = c.get_role(RoleName=f"{STACK}-{purpose}")["Role"]
        trust = role["AssumeRolePolicyDocument"]
        assert [s["Principal"] for s in trust["Statement"]] == [{"Service": service}]
        tags = role_tags(ctx, role["RoleName"])
        assert tags["ecs-cicd:stack"] == STACK and tags["ecs-cicd:id"] == f"role.{purpose}"
        rec = recorded(ctx, f"role.{purpose}")
        assert rec.physical_id == role["RoleName"] and rec.arn == role["Arn"]
        assert rec.outputs == {"purpose": purpose}
        assert rec.arn == role_of(cfg, f"role.{purpose}").arn
    # Tags at creation: no TagRole call.
    assert "iam:TagRole" not in ctx.aws.stats.mutating
    assert inline_doc(ctx, f"{STACK}-codebuild") == role_of(cfg, "role.codebuild").inline
    assert inline_doc(ctx, f"{STACK}-execution")["Statement"][0]["Action"] == [
        "ecr:GetAuthorizationToken"
    ]
    assert c.list_role_policies(RoleName=f"{STACK}-task")["PolicyNames"] == []
    assert c.list_attached_role_policies(RoleName=f"{STACK}-codepipeline")["AttachedPolicies"] == []


def test_codedeploy_role_gets_the_managed_policy(ctx: Ctx) -> None:
    bg = blue_green()
    assert ensure(ctx, bg, "role.codedeploy").action == "create"
    c = ctx.client("iam")
    attached = c.list_attached_role_policies(RoleName=f"{STACK}-codedeploy")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [CODEDEPLOY_POLICY]
    assert c.list_role_policies(RoleName=f"{STACK}-codedeploy")["PolicyNames"] == []
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, bg, "role.codedeploy").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_second_ensure_makes_no_mutating_call(ctx: Ctx, cfg: Config) -> None:
    for lid in ROLES:
        ensure(ctx, cfg, lid)
    before = ctx.aws.stats.mutating_total
    again = [ensure(ctx, cfg, lid) for lid in ROLES]
    assert {o.action for o in again} == {"unchanged"} and all(o.changes == [] for o in again)
    assert ctx.aws.stats.mutating_total == before


def test_adopts_a_role_whose_record_was_lost(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "role.execution")
    ctx.state.remove("role.execution")
    before = ctx.aws.stats.mutating_total
    out = ensure(ctx, cfg, "role.execution")
    assert out.action == "adopt" and out.changes == []
    assert ctx.aws.stats.mutating_total == before
    assert count_roles(ctx, f"{STACK}-execution") == 1
    assert recorded(ctx, "role.execution").physical_id == f"{STACK}-execution"


def test_plan_reports_a_create_without_creating(ctx: Ctx, cfg: Config) -> None:
    out = plan(ctx, cfg, "role.codebuild")
    assert out.action == "create"
    assert "trusts codebuild.amazonaws.com" in out.changes
    assert ctx.aws.stats.mutating_total == 0
    assert ctx.state.get("role.codebuild") is None


# --- drift -----------------------------------------------------------------------------------
def test_converges_drift(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "role.codebuild")
    name = f"{STACK}-codebuild"
    c = ctx.client("iam")
    c.put_role_policy(RoleName=name, PolicyName="ecs-cicd", PolicyDocument=json.dumps(WIDE))
    c.put_role_policy(RoleName=name, PolicyName="stray", PolicyDocument=json.dumps(WIDE))
    c.attach_role_policy(RoleName=name, PolicyArn=ADMIN)
    other = policies.trust_policy("codepipeline")
    c.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(other))

    before = ctx.aws.stats.mutating_total
    planned = plan(ctx, cfg, "role.codebuild")
    assert planned.action == "update"
    assert ctx.aws.stats.mutating_total == before
    assert inline_doc(ctx, name) == WIDE

    out = ensure(ctx, cfg, "role.codebuild")
    assert out.action == "update"
    assert out.changes == planned.changes
    fields = [ch.split(":", 1)[0] for ch in out.changes]
    assert fields == [
        "trust policy",
        "inline policies",
        "inline policy ecs-cicd",
        "managed policies",
    ]
    assert "['ecs-cicd', 'stray'] -> ['ecs-cicd']" in out.changes[1]
    assert out.changes[3] == f"managed policies: ['{ADMIN}'] -> []"
    assert inline_doc(ctx, name) == role_of(cfg, "role.codebuild").inline
    assert c.list_role_policies(RoleName=name)["PolicyNames"] == ["ecs-cicd"]
    assert c.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
    trust = c.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "codebuild.amazonaws.com"}
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, cfg, "role.codebuild").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_restores_a_deleted_inline_policy_and_follows_config(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "role.task")
    with_user = with_task_statements([USER_STATEMENT])
    out = ensure(ctx, with_user, "role.task")
    assert out.action == "update" and out.changes == ["inline policies: [] -> ['ecs-cicd']"]
    assert inline_doc(ctx, f"{STACK}-task")["Statement"] == [USER_STATEMENT]
    ctx.client("iam").delete_role_policy(RoleName=f"{STACK}-task", PolicyName="ecs-cicd")
    assert ensure(ctx, with_user, "role.task").action == "update"
    assert inline_doc(ctx, f"{STACK}-task") == USER_POLICY
    # Statements removed from the config: the policy goes too.
    out = ensure(ctx, with_task_statements([]), "role.task")
    assert out.changes == ["inline policies: ['ecs-cicd'] -> []"]
    assert ctx.client("iam").list_role_policies(RoleName=f"{STACK}-task")["PolicyNames"] == []


def test_reattaches_a_detached_managed_policy(ctx: Ctx) -> None:
    bg = blue_green()
    ensure(ctx, bg, "role.codedeploy")
    ctx.client("iam").detach_role_policy(
        RoleName=f"{STACK}-codedeploy", PolicyArn=CODEDEPLOY_POLICY
    )
    out = ensure(ctx, bg, "role.codedeploy")
    assert out.action == "update" and out.changes == [
        f"managed policies: [] -> ['{CODEDEPLOY_POLICY}']"
    ]
    attached = ctx.client("iam").list_attached_role_policies(RoleName=f"{STACK}-codedeploy")
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [CODEDEPLOY_POLICY]


def test_compares_url_encoded_documents(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IAM returns documents URL-encoded; a raw (undecoded) answer must still compare equal."""
    ensure(ctx, cfg, "role.codebuild")
    c = ctx.client("iam")
    real_policy, real_role = c.get_role_policy, c.get_role

    def raw_policy(**kwargs: Any) -> Any:
        resp = dict(real_policy(**kwargs))
        resp["PolicyDocument"] = quote(json.dumps(resp["PolicyDocument"]))
        return resp

    def raw_role(**kwargs: Any) -> Any:
        resp = dict(real_role(**kwargs))
        role = dict(resp["Role"])
        role["AssumeRolePolicyDocument"] = quote(json.dumps(role["AssumeRolePolicyDocument"]))
        return {**resp, "Role": role}

    monkeypatch.setattr(c, "get_role_policy", raw_policy)
    monkeypatch.setattr(c, "get_role", raw_role)
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, cfg, "role.codebuild").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


# --- a stranger's role of our name, take-over ------------------------------------------------
def test_a_strangers_role_is_never_rewritten(ctx: Ctx, cfg: Config) -> None:
    name = f"{STACK}-codebuild"
    stranger(ctx, name, "ec2.amazonaws.com")
    out = plan(ctx, cfg, "role.codebuild")
    assert out.action == "foreign" and "without the tag ecs-cicd:stack" in out.changes[0]
    before = ctx.aws.stats.mutating_total
    with pytest.raises(ForeignResources):
        ensure(ctx, cfg, "role.codebuild")
    assert ctx.aws.stats.mutating_total == before
    untouched(ctx, name, "ec2.amazonaws.com")
    assert ctx.state.get("role.codebuild") is None


def test_a_strangers_role_replacing_our_recorded_one_is_left_alone(ctx: Ctx, cfg: Config) -> None:
    name = f"{STACK}-codebuild"
    ensure(ctx, cfg, "role.codebuild")
    rec = recorded(ctx, "role.codebuild")
    assert delete(ctx, "role.codebuild").action == "delete"
    ctx.state.put(rec)
    stranger(ctx, name)  # someone took the name meanwhile; our record still names it
    assert plan(ctx, cfg, "role.codebuild").action == "foreign"
    with pytest.raises(ForeignResources):
        ensure(ctx, cfg, "role.codebuild")
    assert delete(ctx, "role.codebuild").action == "skip"
    untouched(ctx, name)


def test_a_role_made_meanwhile_by_a_stranger_is_not_taken(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CreateRole says EntityAlreadyExists and the role is not ours: fail, change nothing."""
    name = f"{STACK}-codebuild"
    stranger(ctx, name)
    c = ctx.client("iam")
    lag = client_error("NoSuchEntity", "The role cannot be found.", "GetRole")
    inject(monkeypatch, c, "get_role", [lag])  # the look-up misses (read lag)
    with pytest.raises(AwsError, match="EntityAlreadyExists") as e:
        ensure(ctx, cfg, "role.codebuild")
    assert "left alone" in (e.value.hint or "")
    untouched(ctx, name)
    assert ctx.state.get("role.codebuild") is None


def test_a_role_made_meanwhile_by_another_run_is_converged(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CreateRole says EntityAlreadyExists, the role carries our tag (another run won the race):
    recorded and converged, not recreated."""
    name = f"{STACK}-codebuild"
    r = role_of(cfg, "role.codebuild")
    ctx.client("iam").create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(policies.trust_policy("codepipeline")),
        Tags=[{"Key": k, "Value": v} for k, v in r.tags],
    )
    ctx.client("iam").put_role_policy(
        RoleName=name, PolicyName="stray", PolicyDocument=json.dumps(WIDE)
    )
    c = ctx.client("iam")
    lag = client_error("NoSuchEntity", "The role cannot be found.", "GetRole")
    # The look-up misses (read lag), and so does the first read after the conflict.
    inject(monkeypatch, c, "get_role", [lag, lag])
    assert ensure(ctx, cfg, "role.codebuild").action == "adopt"  # found again after the conflict
    assert recorded(ctx, "role.codebuild").physical_id == name
    assert inline_doc(ctx, name) == r.inline
    assert c.list_role_policies(RoleName=name)["PolicyNames"] == ["ecs-cicd"]
    trust = c.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert count_roles(ctx, name) == 1


def test_take_over_with_adopt(ctx: Ctx, cfg: Config) -> None:
    name = f"{STACK}-codebuild"
    stranger(ctx, name)
    ctx.adopt = frozenset({"role.codebuild"})
    out = ensure(ctx, cfg, "role.codebuild")
    assert out.action == "take"
    assert out.changes[0].startswith("tag ecs-cicd:stack=")
    tags = role_tags(ctx, name)
    assert tags["ecs-cicd:stack"] == STACK and tags["ecs-cicd:id"] == "role.codebuild"
    c = ctx.client("iam")
    assert c.list_role_policies(RoleName=name)["PolicyNames"] == ["ecs-cicd"]
    assert c.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
    assert recorded(ctx, "role.codebuild").physical_id == name
    ctx.adopt = frozenset()
    assert ensure(ctx, cfg, "role.codebuild").action == "unchanged"


# --- delete ----------------------------------------------------------------------------------
def test_delete_detaches_and_is_tolerant(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "role.codebuild")
    name = f"{STACK}-codebuild"
    c = ctx.client("iam")
    c.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    c.put_role_policy(RoleName=name, PolicyName="extra", PolicyDocument=json.dumps(USER_POLICY))
    c.create_instance_profile(InstanceProfileName="p")
    c.add_role_to_instance_profile(InstanceProfileName="p", RoleName=name)
    assert delete(ctx, "role.codebuild").action == "delete"
    with pytest.raises(ClientError):
        c.get_role(RoleName=name)
    assert c.get_instance_profile(InstanceProfileName="p")["InstanceProfile"]["Roles"] == []
    assert delete(ctx, "role.codebuild").action == "gone"


def test_delete_skips_a_recorded_role_without_our_tag(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "role.codebuild")
    name = f"{STACK}-codebuild"
    ctx.client("iam").untag_role(RoleName=name, TagKeys=["ecs-cicd:stack"])
    before = ctx.aws.stats.mutating_total
    assert delete(ctx, "role.codebuild").action == "skip"
    assert ctx.aws.stats.mutating_total == before
    assert ctx.client("iam").get_role(RoleName=name)["Role"]["RoleName"] == name
    assert ctx.client("iam").list_role_policies(RoleName=name)["PolicyNames"] == ["ecs-cicd"]


def test_deleted_by_hand_plans_a_create_and_deletes_as_gone(ctx: Ctx, cfg: Config) -> None:
    ensure(ctx, cfg, "role.codebuild")
    c = ctx.client("iam")
    c.delete_role_policy(RoleName=f"{STACK}-codebuild", PolicyName="ecs-cicd")
    c.delete_role(RoleName=f"{STACK}-codebuild")
    assert plan(ctx, cfg, "role.codebuild").action == "create"
    assert delete(ctx, "role.codebuild").action == "gone"


def test_delete_retries_delete_conflict(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, "role.execution")
    conflict = client_error(
        "DeleteConflict", "Cannot delete entity, must detach all policies first.", "DeleteRole"
    )
    calls = inject(monkeypatch, ctx.client("iam"), "delete_role", [conflict] * 2)
    assert delete(ctx, "role.execution").action == "delete"
    assert len(calls) == 3


def test_delete_conflict_past_the_deadline_fails(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure(ctx, cfg, "role.execution")
    monkeypatch.setattr(iam, "IAM_PROPAGATION", 0)
    inject(
        monkeypatch,
        ctx.client("iam"),
        "delete_role",
        [client_error("DeleteConflict", "must delete policies first.", "DeleteRole")] * 50,
    )
    with pytest.raises(AwsError, match="DeleteConflict"):
        delete(ctx, "role.execution")


# --- propagation retries ---------------------------------------------------------------------
def test_create_retries_invalid_principal(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = client_error(
        "MalformedPolicyDocument", 'Invalid principal in policy: "SERVICE":"x"', "CreateRole"
    )
    calls = inject(monkeypatch, ctx.client("iam"), "create_role", [err, err])
    assert ensure(ctx, cfg, "role.codebuild").action == "create"
    assert len(calls) == 3
    assert count_roles(ctx, f"{STACK}-codebuild") == 1


def test_other_malformed_policy_fails_at_once(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = client_error("MalformedPolicyDocument", "Syntax errors in policy.", "CreateRole")
    calls = inject(monkeypatch, ctx.client("iam"), "create_role", [err])
    with pytest.raises(AwsError, match="MalformedPolicyDocument") as e:
        ensure(ctx, cfg, "role.codebuild")
    assert len(calls) == 1
    assert f"{STACK}-codebuild" in str(e.value)


def test_writes_right_after_create_retry_no_such_entity(
    ctx: Ctx, cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = ctx.client("iam")
    put_err = client_error("NoSuchEntity", "The role with name x cannot be found.", "PutRolePolicy")
    attach_err = client_error("NoSuchEntity", "The role cannot be found.", "AttachRolePolicy")
    puts = inject(monkeypatch, c, "put_role_policy", [put_err, put_err])
    creates = inject(monkeypatch, c, "create_role", [])
    assert ensure(ctx, cfg, "role.codebuild").action == "create"
    assert len(puts) == 3 and len(creates) == 1
    assert inline_doc(ctx, f"{STACK}-codebuild")["Statement"]
    # The managed attachment of a fresh role retries the same way (blue/green's CodeDeploy role).
    attaches = inject(monkeypatch, c, "attach_role_policy", [attach_err])
    assert ensure(ctx, blue_green(), "role.codedeploy").action == "create"
    assert len(attaches) == 2 and len(creates) == 2
    # Recorded before the policies were put: a crash in between leaves the state true.
    assert recorded(ctx, "role.codedeploy").physical_id == f"{STACK}-codedeploy"
