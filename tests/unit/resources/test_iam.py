"""IAM roles on moto: created with trust, tags and inline policy; idempotent; adopted after a lost
record; drift converged (trust, inline policy, stray policies, attachments); tolerant deletes;
the propagation retries of AWS-BEHAVIOUR.md injected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ecs_cicd.aws import Aws
from ecs_cicd.config import Config, parse_config
from ecs_cicd.engine import Ctx
from ecs_cicd.errors import AwsError
from ecs_cicd.resources import iam, policies
from ecs_cicd.state import State
from tests.unit.resources.helpers import client_error, example, inject, spec_of

STACK = "test-codepipeline-dev"
ACCOUNT = "123456789012"
ROLES = ("role.execution", "role.task", "role.codebuild", "role.codepipeline")
CODEDEPLOY_POLICY = "arn:aws:iam::aws:policy/AWSCodeDeployRoleForECS"
USER_STATEMENT = {
    "Effect": "Allow",
    "Action": ["s3:GetObject"],
    "Resource": "arn:aws:s3:::shop-uploads/*",
}
USER_POLICY = {"Version": "2012-10-17", "Statement": [USER_STATEMENT]}


def client() -> Any:
    return boto3.client("iam", region_name="ap-northeast-1")


def ensure(ctx: Ctx, lid: str) -> Any:
    return iam.RoleHandler().ensure(ctx, spec_of(ctx, lid))


def new_ctx(cfg: Config, tmp_path: Path) -> Ctx:
    aws = Aws(region="ap-northeast-1", sleep=lambda _s: None)
    state = State(tmp_path / "state.json", stack=cfg.stack, region="ap-northeast-1")
    return Ctx(cfg, aws, state, sleep=lambda _s: None)


def blue_green_ctx(tmp_path: Path) -> Ctx:
    data = example()
    data["pipeline"]["deploy"]["strategy"] = "blue_green"
    return new_ctx(parse_config(data, check_env=False), tmp_path)


def inline_doc(name: str) -> dict[str, Any]:
    return dict(client().get_role_policy(RoleName=name, PolicyName="ecs-cicd")["PolicyDocument"])


# --- create / idempotence / adopt ------------------------------------------------------------
def test_creates_roles_with_trust_tags_and_policy(ctx: Ctx) -> None:
    outcomes = {lid: ensure(ctx, lid) for lid in ROLES}
    assert {o.action for o in outcomes.values()} == {"create"}
    c = client()
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
        tags = {t["Key"]: t["Value"] for t in role["Tags"]}
        assert tags["ecs-cicd:stack"] == STACK and tags["ecs-cicd:id"] == f"role.{purpose}"
        rec = ctx.state.get(f"role.{purpose}")
        assert rec is not None and rec.physical_id == role["RoleName"] and rec.arn == role["Arn"]
    expected = policies.inline_policy(
        ctx.cfg, "codebuild", account=ACCOUNT, region="ap-northeast-1"
    )
    assert inline_doc(f"{STACK}-codebuild") == expected
    assert inline_doc(f"{STACK}-execution")["Statement"][0]["Action"] == [
        "ecr:GetAuthorizationToken"
    ]
    # The example's task role has no statements: no inline policy at all.
    assert c.list_role_policies(RoleName=f"{STACK}-task")["PolicyNames"] == []
    assert c.list_attached_role_policies(RoleName=f"{STACK}-codepipeline")["AttachedPolicies"] == []


def test_codedeploy_role_gets_the_managed_policy(mock: None, tmp_path: Path) -> None:
    ctx = blue_green_ctx(tmp_path)
    assert ensure(ctx, "role.codedeploy").action == "create"
    c = client()
    attached = c.list_attached_role_policies(RoleName=f"{STACK}-codedeploy")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [CODEDEPLOY_POLICY]
    assert c.list_role_policies(RoleName=f"{STACK}-codedeploy")["PolicyNames"] == []
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, "role.codedeploy").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_second_ensure_makes_no_mutating_call(ctx: Ctx) -> None:
    for lid in ROLES:
        ensure(ctx, lid)
    before = ctx.aws.stats.mutating_total
    again = [ensure(ctx, lid) for lid in ROLES]
    assert {o.action for o in again} == {"unchanged"} and all(o.changes == [] for o in again)
    assert ctx.aws.stats.mutating_total == before


def test_adopts_a_role_whose_record_was_lost(ctx: Ctx) -> None:
    ensure(ctx, "role.execution")
    ctx.state.remove("role.execution")
    before = ctx.aws.stats.mutating_total
    out = ensure(ctx, "role.execution")
    assert out.action == "adopt" and out.changes == []
    assert ctx.aws.stats.mutating_total == before
    names = [r["RoleName"] for r in client().list_roles()["Roles"]]
    assert names.count(f"{STACK}-execution") == 1
    assert ctx.state.get("role.execution") is not None


def test_plan_reports_a_create_without_creating(ctx: Ctx) -> None:
    ctx.dry_run = True
    out = ensure(ctx, "role.codebuild")
    assert out.action == "create"
    assert "trusts codebuild.amazonaws.com" in out.changes
    assert ctx.aws.stats.mutating_total == 0
    assert ctx.state.get("role.codebuild") is None


# --- drift -----------------------------------------------------------------------------------
def test_converges_drift(ctx: Ctx) -> None:
    ensure(ctx, "role.codebuild")
    name = f"{STACK}-codebuild"
    c = client()
    wide = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    c.put_role_policy(RoleName=name, PolicyName="ecs-cicd", PolicyDocument=json.dumps(wide))
    c.put_role_policy(RoleName=name, PolicyName="stray", PolicyDocument=json.dumps(wide))
    c.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    other = policies.trust_policy("codepipeline")
    c.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(other))

    ctx.dry_run = True
    before = ctx.aws.stats.mutating_total
    planned = ensure(ctx, "role.codebuild")
    assert planned.action == "update"
    assert ctx.aws.stats.mutating_total == before
    assert inline_doc(name) == wide

    ctx.dry_run = False
    out = ensure(ctx, "role.codebuild")
    assert out.action == "update"
    assert out.changes == planned.changes
    assert set(out.changes) == {
        "trust policy",
        "delete inline policy stray",
        "inline policy ecs-cicd",
        "detach arn:aws:iam::aws:policy/AdministratorAccess",
    }
    assert inline_doc(name) == policies.inline_policy(
        ctx.cfg, "codebuild", account=ACCOUNT, region="ap-northeast-1"
    )
    assert c.list_role_policies(RoleName=name)["PolicyNames"] == ["ecs-cicd"]
    assert c.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
    trust = c.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "codebuild.amazonaws.com"}
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, "role.codebuild").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


def test_restores_a_deleted_inline_policy_and_follows_config(ctx: Ctx) -> None:
    ensure(ctx, "role.task")
    data = example()
    data["task"]["task_role_statements"] = [USER_STATEMENT]
    ctx.cfg = parse_config(data, check_env=False)
    out = ensure(ctx, "role.task")
    assert out.action == "update" and out.changes == ["add inline policy ecs-cicd"]
    assert inline_doc(f"{STACK}-task")["Statement"] == [USER_STATEMENT]
    # Statements removed from the config: the policy goes too.
    data["task"]["task_role_statements"] = []
    ctx.cfg = parse_config(data, check_env=False)
    assert ensure(ctx, "role.task").changes == ["delete inline policy ecs-cicd"]
    assert client().list_role_policies(RoleName=f"{STACK}-task")["PolicyNames"] == []


def test_reattaches_a_detached_managed_policy(mock: None, tmp_path: Path) -> None:
    ctx = blue_green_ctx(tmp_path)
    ensure(ctx, "role.codedeploy")
    client().detach_role_policy(RoleName=f"{STACK}-codedeploy", PolicyArn=CODEDEPLOY_POLICY)
    out = ensure(ctx, "role.codedeploy")
    assert out.action == "update" and out.changes == [f"attach {CODEDEPLOY_POLICY}"]


def test_compares_url_encoded_documents(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """IAM returns documents URL-encoded; a raw (undecoded) answer must still compare equal."""
    from urllib.parse import quote

    ensure(ctx, "role.codebuild")
    c = ctx.client("iam")
    real = c.get_role_policy

    def raw(**kwargs: Any) -> Any:
        resp = dict(real(**kwargs))
        resp["PolicyDocument"] = quote(json.dumps(resp["PolicyDocument"]))
        return resp

    monkeypatch.setattr(c, "get_role_policy", raw)
    before = ctx.aws.stats.mutating_total
    assert ensure(ctx, "role.codebuild").action == "unchanged"
    assert ctx.aws.stats.mutating_total == before


# --- delete ----------------------------------------------------------------------------------
def test_delete_detaches_and_is_tolerant(ctx: Ctx) -> None:
    ensure(ctx, "role.codebuild")
    name = f"{STACK}-codebuild"
    c = client()
    c.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    c.put_role_policy(RoleName=name, PolicyName="extra", PolicyDocument=json.dumps(USER_POLICY))
    c.create_instance_profile(InstanceProfileName="p")
    c.add_role_to_instance_profile(InstanceProfileName="p", RoleName=name)
    rec = ctx.state.get("role.codebuild")
    assert rec is not None
    assert iam.RoleHandler().delete(ctx, rec).action == "delete"
    with pytest.raises(ClientError):
        c.get_role(RoleName=name)
    assert c.get_instance_profile(InstanceProfileName="p")["InstanceProfile"]["Roles"] == []
    assert iam.RoleHandler().delete(ctx, rec).action == "gone"


def test_delete_retries_delete_conflict(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure(ctx, "role.execution")
    calls = inject(
        monkeypatch,
        ctx.client("iam"),
        "delete_role",
        [
            client_error(
                "DeleteConflict",
                "Cannot delete entity, must detach all policies first.",
                "DeleteRole",
            )
        ]
        * 2,
    )
    rec = ctx.state.get("role.execution")
    assert rec is not None
    assert iam.RoleHandler().delete(ctx, rec).action == "delete"
    assert len(calls) == 3


def test_delete_conflict_past_the_deadline_fails(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure(ctx, "role.execution")
    monkeypatch.setattr(iam, "IAM_PROPAGATION", 0)
    inject(
        monkeypatch,
        ctx.client("iam"),
        "delete_role",
        [client_error("DeleteConflict", "must delete policies first.", "DeleteRole")] * 50,
    )
    rec = ctx.state.get("role.execution")
    assert rec is not None
    with pytest.raises(AwsError, match="DeleteConflict"):
        iam.RoleHandler().delete(ctx, rec)


# --- propagation retries ---------------------------------------------------------------------
def test_create_retries_invalid_principal(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    err = client_error(
        "MalformedPolicyDocument", 'Invalid principal in policy: "SERVICE":"x"', "CreateRole"
    )
    calls = inject(monkeypatch, ctx.client("iam"), "create_role", [err, err])
    assert ensure(ctx, "role.codebuild").action == "create"
    assert len(calls) == 3
    assert (
        len([r for r in client().list_roles()["Roles"] if r["RoleName"] == f"{STACK}-codebuild"])
        == 1
    )


def test_other_malformed_policy_fails_at_once(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    err = client_error("MalformedPolicyDocument", "Syntax errors in policy.", "CreateRole")
    calls = inject(monkeypatch, ctx.client("iam"), "create_role", [err])
    with pytest.raises(AwsError, match="MalformedPolicyDocument") as e:
        ensure(ctx, "role.codebuild")
    assert len(calls) == 1
    assert f"{STACK}-codebuild" in str(e.value)


def test_writes_right_after_create_retry_no_such_entity(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = client_error("NoSuchEntity", "The role with name x cannot be found.", "PutRolePolicy")
    c = ctx.client("iam")
    puts = inject(monkeypatch, c, "put_role_policy", [err, err])
    creates = inject(monkeypatch, c, "create_role", [])
    assert ensure(ctx, "role.codebuild").action == "create"
    assert len(puts) == 3 and len(creates) == 1
    assert inline_doc(f"{STACK}-codebuild")["Statement"]


def test_role_created_meanwhile_is_adopted(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """CreateRole says EntityAlreadyExists (another run won the race): adopt, do not fail."""
    client().create_role(
        RoleName=f"{STACK}-codebuild",
        AssumeRolePolicyDocument=json.dumps(policies.trust_policy("codebuild")),
    )
    c = ctx.client("iam")
    lag = client_error("NoSuchEntity", "The role cannot be found.", "GetRole")
    # The look-up misses (read lag), and so does the first read after the conflict.
    inject(monkeypatch, c, "get_role", [lag, lag])
    out = ensure(ctx, "role.codebuild")
    assert out.action == "adopt"
    assert inline_doc(f"{STACK}-codebuild")["Statement"]
    assert (
        len([r for r in client().list_roles()["Roles"] if r["RoleName"] == f"{STACK}-codebuild"])
        == 1
    )
