"""The IAM documents: one service principal per trust policy, least privilege scoped to the
stack's ARNs, and the security rules (no `*` / `service:*` actions, Resource "*" only where AWS
requires it, no broad managed policies) for every role across configs. Asserted on the desired
stack's Role models (`want(cfg, "role.codebuild")`): no client."""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import pytest

from ecs_cicd import rules
from ecs_cicd.config import Config, parse_config
from ecs_cicd.errors import ConfigError
from ecs_cicd.lifecycle import Target
from ecs_cicd.resources import iam, policies
from ecs_cicd.rules import as_list
from ecs_cicd.stack import build_stack
from tests.unit.resources.helpers import example, want

ACCOUNT = "123456789012"
REGION = "ap-northeast-1"
STACK = "test-codepipeline-dev"
CONNECTION = "arn:aws:codestar-connections:ap-northeast-1:123456789012:connection/abc-123"
SM_SECRET = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:shop/db-AbCdEf"
SSM_PARAM = "arn:aws:ssm:ap-northeast-1:123456789012:parameter/shop/api-key"
USER_STATEMENT = {
    "Effect": "Allow",
    "Action": ["s3:GetObject"],
    "Resource": "arn:aws:s3:::shop-uploads/*",
}


def make(**changes: Any) -> Config:
    """The example config with nested keys replaced: make(pipeline={"deploy": {...}})."""
    data = example()

    def merge(into: dict[str, Any], new: dict[str, Any]) -> None:
        for k, v in new.items():
            if isinstance(v, dict) and isinstance(into.get(k), dict) and k != "source":
                merge(into[k], v)
            else:
                into[k] = v

    merge(data, copy.deepcopy(changes))
    return parse_config(data, check_env=False)


def with_secrets() -> Config:
    data = example()
    data["task"]["containers"][1]["secrets"] = {
        "DB_PASSWORD": f"{SM_SECRET}:password::",
        "API_KEY": SSM_PARAM,
    }
    return parse_config(data, check_env=False)


CONFIGS: dict[str, Any] = {
    "rolling": lambda: make(),
    "blue_green": lambda: make(pipeline={"deploy": {"strategy": "blue_green"}}),
    "secrets": with_secrets,
    "exec_and_task_role": lambda: make(
        service={"enable_execute_command": True}, task={"task_role_statements": [USER_STATEMENT]}
    ),
    "codestar": lambda: make(
        pipeline={
            "source": {
                "type": "codestar",
                "connection_arn": CONNECTION,
                "repository": "me/shop",
                "output_format": "CODEBUILD_CLONE_REF",
            }
        }
    ),
    "codecommit": lambda: make(pipeline={"source": {"type": "codecommit", "repository": "shop"}}),
    "s3": lambda: make(
        pipeline={"source": {"type": "s3", "bucket": "src-bucket", "key": "app.zip"}}
    ),
}


def roles_of(cfg: Config) -> list[iam.Role]:
    """The stack's roles: execution, task, CodeBuild, CodePipeline (and blue/green's CodeDeploy)."""
    roles = [
        r for r in build_stack(cfg, Target(ACCOUNT, REGION)).resources if isinstance(r, iam.Role)
    ]
    purposes = ["execution", "task", "codebuild", "codepipeline"]
    if cfg.pipeline.deploy.strategy == "blue_green":
        purposes.append("codedeploy")
    assert sorted(r.purpose for r in roles) == sorted(purposes)
    return roles


def role(cfg: Config, purpose: str, region: str = REGION) -> iam.Role:
    """The desired role `role.<purpose>` (its documents are data of the model)."""
    if region == REGION:
        r = want(cfg, f"role.{purpose}")
    else:
        partition = "aws-cn" if region.startswith("cn-") else "aws"
        r = build_stack(cfg, Target(ACCOUNT, region, partition)).get(f"role.{purpose}")
    assert isinstance(r, iam.Role)
    return r


def doc(cfg: Config, purpose: str, region: str = REGION) -> dict[str, Any] | None:
    return role(cfg, purpose, region).inline


def statements(cfg: Config, purpose: str) -> dict[str, dict[str, Any]]:
    d = doc(cfg, purpose)
    assert d is not None
    return {s.get("Sid", f"#{i}"): s for i, s in enumerate(d["Statement"])}


def actions_of(d: dict[str, Any] | None) -> set[str]:
    return {a for s in (d or {}).get("Statement", []) for a in as_list(s["Action"])}


# --- the rules, for every role and config ----------------------------------------------------
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_role_keeps_the_security_rules(name: str) -> None:
    cfg = CONFIGS[name]()
    for r in roles_of(cfg):
        purpose = r.purpose
        trust = r.trust
        assert trust == policies.trust_policy(purpose)
        assert len(trust["Statement"]) == 1
        principal = trust["Statement"][0]["Principal"]
        assert list(principal) == ["Service"] and isinstance(principal["Service"], str)
        assert trust["Statement"][0]["Action"] == "sts:AssumeRole"

        d = r.inline
        assert d == policies.inline_policy(cfg, purpose, account=ACCOUNT, region=REGION)
        users = len(cfg.task.task_role_statements) if purpose == "task" else 0
        if d is not None:
            assert policies.policy_problems(d, user_statements=users) == [], purpose
            for st in d["Statement"][users:]:
                for res in as_list(st["Resource"]):
                    # Scoped: "*" (checked above) or an ARN of this account, AWS's, or the
                    # config's own (connection, source bucket).
                    assert res == "*" or res.startswith("arn:aws:"), res
        assert policies.managed_policy_problems(list(r.managed)) == []
        assert r.managed == (
            ("arn:aws:iam::aws:policy/AWSCodeDeployRoleForECS",) if purpose == "codedeploy" else ()
        )


def test_trust_principals() -> None:
    expected = {
        "execution": "ecs-tasks.amazonaws.com",
        "task": "ecs-tasks.amazonaws.com",
        "codebuild": "codebuild.amazonaws.com",
        "codepipeline": "codepipeline.amazonaws.com",
        "codedeploy": "codedeploy.amazonaws.com",
    }
    for purpose, service in expected.items():
        assert policies.trust_policy(purpose)["Statement"][0]["Principal"] == {"Service": service}
    for r in roles_of(CONFIGS["blue_green"]()):
        assert r.trust["Statement"][0]["Principal"] == {"Service": expected[r.purpose]}
        assert r.service == expected[r.purpose]


def test_rule_checker_catches_broad_grants() -> None:
    bad = {
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::x"},
            {"Effect": "Allow", "Action": ["s3:*"], "Resource": "arn:aws:s3:::x"},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"},
            {"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "arn:aws:s3:::x"},
        ]
    }
    problems = policies.policy_problems(bad)
    assert len(problems) == 4
    assert (
        policies.policy_problems(
            {
                "Statement": [
                    {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}
                ]
            }
        )
        == []
    )
    assert policies.managed_policy_problems(
        [
            "arn:aws:iam::aws:policy/AdministratorAccess",
            "arn:aws:iam::aws:policy/PowerUserAccess",
            "arn:aws:iam::aws:policy/AmazonS3FullAccess",
        ]
    ) == [
        "broad managed policy arn:aws:iam::aws:policy/AdministratorAccess",
        "broad managed policy arn:aws:iam::aws:policy/PowerUserAccess",
        "broad managed policy arn:aws:iam::aws:policy/AmazonS3FullAccess",
    ]


# --- execution role --------------------------------------------------------------------------
def test_execution_role_pulls_its_repositories_and_writes_its_logs() -> None:
    st = statements(make(), "execution")
    assert st["EcrLogin"]["Action"] == ["ecr:GetAuthorizationToken"] and st["EcrLogin"][
        "Resource"
    ] == ["*"]
    assert set(st["EcrPull"]["Action"]) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
    }
    assert st["EcrPull"]["Resource"] == [
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{STACK}/app",
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{STACK}/nginx",
    ]
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/{STACK}"
    assert st["Logs"]["Resource"] == [group, f"{group}:log-stream:*"]
    assert set(st["Logs"]["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert "SsmSecrets" not in st and "SecretsManager" not in st
    assert not any(a.startswith("kms:") for a in actions_of(doc(make(), "execution")))


def test_execution_role_reads_exactly_the_secrets_named() -> None:
    st = statements(with_secrets(), "execution")
    assert st["SsmSecrets"] == {
        "Sid": "SsmSecrets",
        "Effect": "Allow",
        "Action": ["ssm:GetParameters"],
        "Resource": [SSM_PARAM],
    }
    # The JSON-key suffix is not part of the secret's ARN; a partial ARN needs "-??????".
    assert st["SecretsManager"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert st["SecretsManager"]["Resource"] == [SM_SECRET, f"{SM_SECRET}-??????"]


def test_execution_role_pulls_a_private_ecr_initial_image() -> None:
    data = example()
    data["task"]["containers"].append(
        {
            "name": "sidecar",
            "image": "210987654321.dkr.ecr.us-west-2.amazonaws.com/tools/agent:1.2",
            "essential": False,
        }
    )
    cfg = parse_config(data, check_env=False)
    assert (
        "arn:aws:ecr:us-west-2:210987654321:repository/tools/agent"
        in statements(cfg, "execution")["EcrPull"]["Resource"]
    )


def test_bare_ssm_name_becomes_this_regions_parameter_arn() -> None:
    scope = policies.Scope(ACCOUNT, REGION)
    assert policies.secret_resources(scope, "shop/key") == (
        "ssm",
        [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/shop/key"],
    )


# --- task role -------------------------------------------------------------------------------
def test_task_role_without_statements_has_no_policy() -> None:
    assert doc(make(), "task") is None


def test_task_role_statements_verbatim_plus_exec_channels() -> None:
    cfg = CONFIGS["exec_and_task_role"]()
    d = doc(cfg, "task")
    assert d is not None
    assert d["Statement"][0] == USER_STATEMENT
    exec_st = d["Statement"][1]
    assert exec_st["Resource"] == ["*"]
    assert set(exec_st["Action"]) == {
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    }


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, "grants every action"),
        (
            {"Effect": "Allow", "Action": ["s3:*"], "Resource": "arn:aws:s3:::b/*"},
            "grants every action",
        ),
        ({"Effect": "Allow", "Action": "s3:GetObject"}, "missing Resource"),
        ({"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"}, "missing Action"),
        ({"Action": "s3:GetObject", "Resource": "*"}, "missing Effect"),
        ({"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"}, "must be Allow or Deny"),
        ({"Effect": "Allow", "Action": "GetObject", "Resource": "*"}, "service:Action"),
    ],
)
def test_task_role_statements_are_validated(statement: dict[str, Any], message: str) -> None:
    # Refused when the config is loaded, before any AWS call (exit 2).
    with pytest.raises(ConfigError, match=message) as err:
        make(task={"task_role_statements": [USER_STATEMENT, statement]})
    assert "task.task_role_statements[1]" in str(err.value)
    assert err.value.exit_code == 2


def test_a_deny_may_name_every_action() -> None:
    cfg = make(task={"task_role_statements": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
    assert doc(cfg, "task") is not None


def test_task_role_rules_hold_without_a_config() -> None:
    """The rules are pure (ecs_cicd.rules): policies uses the same check the config runs."""
    rules.validate_task_role_statements([USER_STATEMENT])
    with pytest.raises(ConfigError, match="must be a mapping") as err:
        rules.validate_task_role_statements([USER_STATEMENT, "s3:GetObject"])
    assert "task.task_role_statements[1]" in str(err.value)
    with pytest.raises(ConfigError, match="Resource must be an ARN"):
        rules.validate_task_role_statements([{**USER_STATEMENT, "Resource": []}])


def test_config_imports_no_resource_module() -> None:
    """The config is pure data: its rules come from ecs_cicd.rules, not from a resource module."""
    root = Path(__file__).resolve().parents[3] / "ecs_cicd"
    for module in ("config.py", "rules.py"):
        tree = ast.parse((root / module).read_text())
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + [
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        ]
        assert not [m for m in imported if m.startswith("ecs_cicd.resources")], module
    # rules.py depends on nothing of ecs_cicd but its errors.
    rules_tree = ast.parse((root / "rules.py").read_text())
    ours = {
        n.module
        for n in ast.walk(rules_tree)
        if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("ecs_cicd")
    }
    assert ours == {"ecs_cicd.errors"}


# --- CodeBuild role --------------------------------------------------------------------------
def test_codebuild_role() -> None:
    st = statements(make(), "codebuild")
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild/{STACK}-build"
    assert st["Logs"]["Resource"] == [group, f"{group}:log-stream:*"]
    assert set(st["Logs"]["Action"]) == {
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    bucket = f"arn:aws:s3:::{STACK}-artifacts-{ACCOUNT}-{REGION}"
    assert st["ArtifactObjects"]["Resource"] == [f"{bucket}/*"]
    assert set(st["ArtifactObjects"]["Action"]) == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
    }
    assert st["ArtifactBucket"] == {
        "Sid": "ArtifactBucket",
        "Effect": "Allow",
        "Action": ["s3:GetBucketLocation", "s3:GetBucketAcl"],
        "Resource": [bucket],
    }
    assert st["EcrLogin"]["Resource"] == ["*"]
    assert set(st["EcrPushPull"]["Action"]) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:CompleteLayerUpload",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    }
    assert st["EcrPushPull"]["Resource"] == [
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{STACK}/nginx",
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{STACK}/app",
    ]
    assert "UseConnection" not in st


def test_codebuild_clones_through_the_connection_with_clone_ref() -> None:
    st = statements(CONFIGS["codestar"](), "codebuild")
    assert set(st["UseConnection"]["Action"]) == {
        "codestar-connections:UseConnection",
        "codeconnections:UseConnection",
    }
    assert CONNECTION in st["UseConnection"]["Resource"]


# --- CodePipeline role -----------------------------------------------------------------------
def test_codepipeline_role_rolling() -> None:
    st = statements(make(), "codepipeline")
    assert st["Service"]["Resource"] == [
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{STACK}/{STACK}",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{STACK}/{STACK}-alt",
    ]
    assert set(st["Service"]["Action"]) == {"ecs:DescribeServices", "ecs:UpdateService"}
    assert st["Build"]["Resource"] == [
        f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{STACK}-build"
    ]
    assert set(st["Build"]["Action"]) == {"codebuild:StartBuild", "codebuild:BatchGetBuilds"}
    assert st["PassTaskRoles"] == {
        "Sid": "PassTaskRoles",
        "Effect": "Allow",
        "Action": ["iam:PassRole"],
        "Resource": [
            f"arn:aws:iam::{ACCOUNT}:role/{STACK}-execution",
            f"arn:aws:iam::{ACCOUNT}:role/{STACK}-task",
        ],
        "Condition": {"StringEqualsIfExists": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    }
    family = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{STACK}:*"
    assert st["RegisterTaskDefinition"]["Resource"] == [family]
    assert st["TagTaskDefinition"]["Resource"] == [family]
    assert st["TagTaskDefinition"]["Condition"] == {
        "StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}
    }
    assert st["DescribeTasks"]["Resource"] == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{STACK}/*"]
    assert st["ListTasks"]["Condition"] == {
        "ArnEquals": {"ecs:cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{STACK}"}
    }
    bucket = f"arn:aws:s3:::{STACK}-artifacts-{ACCOUNT}-{REGION}"
    assert st["ArtifactBucket"]["Resource"] == [bucket]
    assert set(st["ArtifactBucket"]["Action"]) == {"s3:GetBucketVersioning", "s3:GetBucketLocation"}
    assert not any(a.startswith("codedeploy:") for a in actions_of(doc(make(), "codepipeline")))
    # A GitHub v1 source authenticates with the OAuth token: no source statements.
    assert not any(
        a.startswith(("codestar", "codeconnections", "codecommit"))
        for a in actions_of(doc(make(), "codepipeline"))
    )


def test_codepipeline_role_blue_green() -> None:
    cfg = CONFIGS["blue_green"]()
    st = statements(cfg, "codepipeline")
    assert st["Deployment"]["Resource"] == [
        f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:{STACK}/{STACK}"
    ]
    assert set(st["Deployment"]["Action"]) == {
        "codedeploy:CreateDeployment",
        "codedeploy:GetDeployment",
    }
    assert st["Application"]["Resource"] == [
        f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:application:{STACK}"
    ]
    assert set(st["Application"]["Action"]) == {
        "codedeploy:GetApplication",
        "codedeploy:GetApplicationRevision",
        "codedeploy:RegisterApplicationRevision",
    }
    assert st["DeploymentConfig"]["Resource"] == [
        f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentconfig:CodeDeployDefault.ECSAllAtOnce"
    ]
    assert "ecs:UpdateService" not in actions_of(doc(cfg, "codepipeline"))
    assert "PassTaskRoles" in st
    assert doc(cfg, "codedeploy") is None


def test_codepipeline_role_per_source() -> None:
    st = statements(CONFIGS["codestar"](), "codepipeline")
    assert st["UseConnection"]["Resource"] == [
        CONNECTION.replace("codestar-connections", "codeconnections"),
        CONNECTION,
    ]
    st = statements(CONFIGS["codecommit"](), "codepipeline")
    assert st["SourceRepository"]["Resource"] == [f"arn:aws:codecommit:{REGION}:{ACCOUNT}:shop"]
    assert {"codecommit:GetBranch", "codecommit:UploadArchive"} <= set(
        st["SourceRepository"]["Action"]
    )
    st = statements(CONFIGS["s3"](), "codepipeline")
    assert st["SourceObject"]["Resource"] == ["arn:aws:s3:::src-bucket/app.zip"]
    assert st["SourceBucket"]["Resource"] == ["arn:aws:s3:::src-bucket"]


def test_partition_follows_the_region() -> None:
    d = doc(make(), "codebuild", region="cn-north-1")
    assert d is not None
    arns = [r for s in d["Statement"] for r in s["Resource"] if r != "*"]
    assert arns and all(r.startswith("arn:aws-cn:") for r in arns)


# --- comparing documents ---------------------------------------------------------------------
def test_canonical_ignores_order_and_singletons() -> None:
    a = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": "arn:aws:s3:::b/*",
            },
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            },
        ],
    }
    b: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Action": "sts:AssumeRole",
                "Principal": {"Service": ["ecs-tasks.amazonaws.com"]},
                "Effect": "Allow",
            },
            {
                "Resource": ["arn:aws:s3:::b/*"],
                "Action": ["s3:PutObject", "s3:GetObject"],
                "Effect": "Allow",
            },
        ],
    }
    assert policies.canonical(a) == policies.canonical(b)
    c = copy.deepcopy(b)
    c["Statement"][1]["Action"].append("s3:DeleteObject")
    assert policies.canonical(a) != policies.canonical(c)


def test_parse_document_decodes_iams_url_encoding() -> None:
    encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D"
    assert policies.parse_document(encoded) == {"Version": "2012-10-17", "Statement": []}
    assert policies.parse_document({"Statement": []}) == {"Statement": []}
