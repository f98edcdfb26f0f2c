"""The IAM documents of the stack's roles: pure functions of the config, account, region and
partition (no AWS calls).

Owns the trust policy of each role (exactly one service principal), its least-privilege inline
policy scoped to this stack's ARNs, and the one AWS managed policy we attach (CodeDeploy's, for
blue/green). Also the rules every document here keeps, checked in one place by the tests: no
`*` or `service:*` action, Resource "*" only for the actions AWS authorizes against "*" alone
(STAR_RESOURCE_ACTIONS), no broad managed policies. The rules of the config's own task-role
statements live in `ecs_cicd.rules`, which the config checks when it is loaded.

iam.py's `build_role` puts these documents in the desired Role model, so they are data there.

Resource types per action follow AWS's Service Authorization Reference.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from ecs_cicd import names, taskdef
from ecs_cicd.config import CodeCommitSource, Config, ConnectionSource, S3Source
from ecs_cicd.lifecycle import Target
from ecs_cicd.rules import as_list, is_broad, validate_task_role_statements

VERSION = "2012-10-17"
INLINE_POLICY_NAME = "ecs-cicd"

TRUST_SERVICES: dict[str, str] = {
    "execution": "ecs-tasks.amazonaws.com",
    "task": "ecs-tasks.amazonaws.com",
    "codebuild": "codebuild.amazonaws.com",
    "codepipeline": "codepipeline.amazonaws.com",
    "codedeploy": "codedeploy.amazonaws.com",
}
PURPOSES = tuple(TRUST_SERVICES)

# The one managed policy we attach. Its "Limited" sibling reads S3 objects only when they carry
# the tag UseWithCodeDeploy=true, which CodePipeline's artifacts do not, so it cannot run a
# pipeline's blue/green deployment.
CODEDEPLOY_MANAGED_POLICY = "AWSCodeDeployRoleForECS"
FORBIDDEN_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess")

# Actions AWS authorizes only against Resource "*" (no resource types in the Service
# Authorization Reference). Nothing else in our documents may use "*".
STAR_RESOURCE_ACTIONS = frozenset(
    {
        "ecr:GetAuthorizationToken",
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "ecs:DescribeTaskDefinition",
        # ListTasks' only resource type is container-instance, which Fargate tasks do not have;
        # we grant it on "*" narrowed by the ecs:cluster condition to this stack's cluster.
        "ecs:ListTasks",
    }
)

ECR_PULL = ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")
ECR_PUSH = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
EXEC_COMMAND = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)

_PRIVATE_ECR = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repo>[^:@]+)"
)


# Where the stack lives: the parts of every ARN we build (the lifecycle's Target).
Scope = Target


# --- trust -----------------------------------------------------------------------------------
def trust_policy(purpose: str) -> dict[str, Any]:
    """The role's trust policy: one service principal may assume it."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": TRUST_SERVICES[purpose]},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def managed_policy_arns(cfg: Config, purpose: str, *, partition: str = "aws") -> list[str]:
    if purpose == "codedeploy":
        return [f"arn:{partition}:iam::aws:policy/{CODEDEPLOY_MANAGED_POLICY}"]
    return []


def inline_policy(
    cfg: Config, purpose: str, *, account: str, region: str, partition: str = "aws"
) -> dict[str, Any] | None:
    """The role's inline policy `ecs-cicd`, or None when the role needs no statements."""
    scope = Scope(account, region, partition)
    builders: dict[str, Callable[[Config, Scope], list[dict[str, Any]]]] = {
        "execution": execution_statements,
        "task": task_statements,
        "codebuild": codebuild_statements,
        "codepipeline": codepipeline_statements,
        # CodeDeploy's role has only the managed policy.
        "codedeploy": lambda _cfg, _scope: [],
    }
    statements = builders[purpose](cfg, scope)
    if not statements:
        return None
    return {"Version": VERSION, "Statement": statements}


def _allow(
    sid: str, actions: tuple[str, ...] | list[str], resources: list[str], **extra: Any
) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": resources, **extra}


# --- ARNs of this stack ----------------------------------------------------------------------
def repository_arns(cfg: Config, scope: Scope) -> list[str]:
    return [
        scope.arn("ecr", f"repository/{names.repository(cfg, c.name)}")
        for c in cfg.built_containers()
    ]


def log_group_arn(scope: Scope, group: str) -> str:
    return scope.arn("logs", f"log-group:{group}")


def log_resources(scope: Scope, group: str) -> list[str]:
    """The log group and its streams: CreateLogStream is checked on the group, PutLogEvents on
    the stream."""
    arn = log_group_arn(scope, group)
    return [arn, f"{arn}:log-stream:*"]


def bucket_arn(cfg: Config, scope: Scope) -> str:
    return f"arn:{scope.partition}:s3:::{names.artifact_bucket(cfg, scope.account, scope.region)}"


def role_arn(cfg: Config, scope: Scope, purpose: str) -> str:
    return scope.arn("iam", f"role/{names.role(cfg, purpose)}", region=False)


def cluster_arn(cfg: Config, scope: Scope) -> str:
    return scope.arn("ecs", f"cluster/{names.cluster(cfg)}")


def service_arns(cfg: Config, scope: Scope) -> list[str]:
    """The service under both its names (a strategy switch moves it to the other one)."""
    return [scope.arn("ecs", f"service/{names.cluster(cfg)}/{n}") for n in names.service_names(cfg)]


def task_definition_family_arn(cfg: Config, scope: Scope) -> str:
    return scope.arn("ecs", f"task-definition/{names.family(cfg)}:*")


def project_arn(cfg: Config, scope: Scope) -> str:
    return scope.arn("codebuild", f"project/{names.codebuild_project(cfg)}")


def connection_arns(arn: str) -> list[str]:
    """A connection under both its service prefixes (codestar-connections was renamed
    codeconnections; one connection answers to both ARNs)."""
    other = (
        arn.replace(":codestar-connections:", ":codeconnections:", 1)
        if ":codestar-connections:" in arn
        else arn.replace(":codeconnections:", ":codestar-connections:", 1)
    )
    return sorted({arn, other})


# --- execution role --------------------------------------------------------------------------
def execution_statements(cfg: Config, scope: Scope) -> list[dict[str, Any]]:
    """Pull the task's images, write its logs, read the secrets its containers name.

    kms:Decrypt is not granted: SSM SecureStrings and secrets under the AWS managed keys need
    none, and a customer managed key's ARN is not in the config to scope it to.
    """
    containers = [
        taskdef.container_to_ecs(c, cfg, scope.region) for c in cfg.container_definitions()
    ]
    repos = set(repository_arns(cfg, scope))
    groups = {names.log_group(cfg)}
    ssm: set[str] = set()
    secrets_manager: set[str] = set()
    for c in containers:
        m = _PRIVATE_ECR.match(str(c.get("image", "")))
        if m:
            repos.add(
                f"arn:{scope.partition}:ecr:{m['region']}:{m['account']}:repository/{m['repo']}"
            )
        log = c.get("logConfiguration") or {}
        if log.get("logDriver") == "awslogs" and log.get("options", {}).get("awslogs-group"):
            groups.add(log["options"]["awslogs-group"])
        for s in c.get("secrets", []):
            kind, arns = secret_resources(scope, str(s["valueFrom"]))
            (ssm if kind == "ssm" else secrets_manager).update(arns)
    out: list[dict[str, Any]] = []
    if repos:
        # ecr:GetAuthorizationToken has no resource type: AWS accepts it only on "*".
        out.append(_allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]))
        out.append(_allow("EcrPull", ECR_PULL, sorted(repos)))
    out.append(
        _allow(
            "Logs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            sorted(r for g in groups for r in log_resources(scope, g)),
        )
    )
    if ssm:
        out.append(_allow("SsmSecrets", ["ssm:GetParameters"], sorted(ssm)))
    if secrets_manager:
        out.append(
            _allow("SecretsManager", ["secretsmanager:GetSecretValue"], sorted(secrets_manager))
        )
    return out


def secret_resources(scope: Scope, value_from: str) -> tuple[str, list[str]]:
    """("ssm" | "secretsmanager", resource ARNs) for one container secret's valueFrom."""
    if not value_from.startswith("arn:"):
        # A bare name is an SSM parameter in the task's own region and account.
        path = value_from if value_from.startswith("/") else f"/{value_from}"
        return "ssm", [scope.arn("ssm", f"parameter{path}")]
    parts = value_from.split(":")
    if parts[2] == "ssm":
        return "ssm", [value_from]
    # arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:json-key:version-stage:version-id]
    secret = ":".join(parts[:7])
    # A partial ARN (no random 6-character suffix) matches the secret only with "-??????".
    return "secretsmanager", [secret, f"{secret}-??????"]


# --- task role -------------------------------------------------------------------------------
def task_statements(cfg: Config, scope: Scope) -> list[dict[str, Any]]:
    """The config's statements verbatim, plus ECS Exec's channels when it is enabled."""
    validate_task_role_statements(cfg.task.task_role_statements)
    out = [copy.deepcopy(st) for st in cfg.task.task_role_statements]
    if cfg.service.enable_execute_command:
        # ssmmessages actions have no resource type: AWS accepts them only on "*".
        out.append(_allow("EcsExec", EXEC_COMMAND, ["*"]))
    return out


# --- CodeBuild role --------------------------------------------------------------------------
def codebuild_statements(cfg: Config, scope: Scope) -> list[dict[str, Any]]:
    bucket = bucket_arn(cfg, scope)
    out = [
        _allow(
            "Logs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            log_resources(scope, names.codebuild_log_group(cfg)),
        ),
        _allow(
            "ArtifactObjects",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            [f"{bucket}/*"],
        ),
        _allow("ArtifactBucket", ["s3:GetBucketLocation", "s3:GetBucketAcl"], [bucket]),
        # ecr:GetAuthorizationToken has no resource type: AWS accepts it only on "*".
        _allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
        _allow("EcrPushPull", ECR_PUSH, repository_arns(cfg, scope)),
    ]
    src = cfg.pipeline.source
    if isinstance(src, ConnectionSource) and src.output_format == "CODEBUILD_CLONE_REF":
        # With CODEBUILD_CLONE_REF the build clones the repository through the connection.
        out.append(_use_connection(src.connection_arn))
    return out


def _use_connection(arn: str) -> dict[str, Any]:
    return _allow(
        "UseConnection",
        ["codestar-connections:UseConnection", "codeconnections:UseConnection"],
        connection_arns(arn),
    )


# --- CodePipeline role -----------------------------------------------------------------------
def codepipeline_statements(cfg: Config, scope: Scope) -> list[dict[str, Any]]:
    bucket = bucket_arn(cfg, scope)
    family = task_definition_family_arn(cfg, scope)
    blue_green = cfg.pipeline.deploy.strategy == "blue_green"
    out = [
        _allow(
            "ArtifactObjects",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            [f"{bucket}/*"],
        ),
        _allow("ArtifactBucket", ["s3:GetBucketVersioning", "s3:GetBucketLocation"], [bucket]),
        _allow(
            "Build", ["codebuild:StartBuild", "codebuild:BatchGetBuilds"], [project_arn(cfg, scope)]
        ),
        _allow("RegisterTaskDefinition", ["ecs:RegisterTaskDefinition"], [family]),
        # The deploy copies the task definition's tags to the new revision: tagging on create.
        _allow(
            "TagTaskDefinition",
            ["ecs:TagResource"],
            [family],
            Condition={"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}},
        ),
        _allow(
            "PassTaskRoles",
            ["iam:PassRole"],
            [role_arn(cfg, scope, "execution"), role_arn(cfg, scope, "task")],
            Condition={"StringEqualsIfExists": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        ),
    ]
    if blue_green:
        out += codedeploy_statements(cfg, scope)
    else:
        out += [
            _allow(
                "Service", ["ecs:DescribeServices", "ecs:UpdateService"], service_arns(cfg, scope)
            ),
            _allow(
                "DescribeTasks",
                ["ecs:DescribeTasks"],
                [scope.arn("ecs", f"task/{names.cluster(cfg)}/*")],
            ),
            # DescribeTaskDefinition has no resource type: AWS accepts it only on "*".
            _allow("DescribeTaskDefinition", ["ecs:DescribeTaskDefinition"], ["*"]),
            # ListTasks' resource type is container-instance (none on Fargate): "*", narrowed to
            # this stack's cluster by the ecs:cluster condition.
            _allow(
                "ListTasks",
                ["ecs:ListTasks"],
                ["*"],
                Condition={"ArnEquals": {"ecs:cluster": cluster_arn(cfg, scope)}},
            ),
        ]
    out += source_statements(cfg, scope)
    return out


def codedeploy_statements(cfg: Config, scope: Scope) -> list[dict[str, Any]]:
    app = names.codedeploy_app(cfg)
    group = names.deployment_group(cfg)
    config_name = cfg.pipeline.deploy.blue_green.deployment_config
    return [
        _allow(
            "Deployment",
            ["codedeploy:CreateDeployment", "codedeploy:GetDeployment"],
            [scope.arn("codedeploy", f"deploymentgroup:{app}/{group}")],
        ),
        _allow(
            "Application",
            [
                "codedeploy:GetApplication",
                "codedeploy:GetApplicationRevision",
                "codedeploy:RegisterApplicationRevision",
            ],
            [scope.arn("codedeploy", f"application:{app}")],
        ),
        _allow(
            "DeploymentConfig",
            ["codedeploy:GetDeploymentConfig"],
            [scope.arn("codedeploy", f"deploymentconfig:{config_name}")],
        ),
    ]


def source_statements(cfg: Config, scope: Scope) -> list[dict[str, Any]]:
    """What the Source action needs. GitHub (OAuth, v1) authenticates with the token: nothing."""
    src = cfg.pipeline.source
    if isinstance(src, ConnectionSource):
        return [_use_connection(src.connection_arn)]
    if isinstance(src, CodeCommitSource):
        return [
            _allow(
                "SourceRepository",
                [
                    "codecommit:GetBranch",
                    "codecommit:GetCommit",
                    "codecommit:GetRepository",
                    "codecommit:UploadArchive",
                    "codecommit:GetUploadArchiveStatus",
                    "codecommit:CancelUploadArchive",
                ],
                [scope.arn("codecommit", src.repository)],
            )
        ]
    if isinstance(src, S3Source):
        source_bucket = f"arn:{scope.partition}:s3:::{src.bucket}"
        return [
            _allow(
                "SourceObject",
                ["s3:GetObject", "s3:GetObjectVersion"],
                [f"{source_bucket}/{src.key}"],
            ),
            _allow("SourceBucket", ["s3:GetBucketVersioning"], [source_bucket]),
        ]
    return []


# --- rules and comparison --------------------------------------------------------------------
def policy_problems(doc: dict[str, Any], *, user_statements: int = 0) -> list[str]:
    """Breaches of our rules in a document (empty: none).

    The first `user_statements` statements are the config's own (task role): for them only the
    action rules apply, since an application may legitimately need Resource "*".
    """
    problems = []
    for i, st in enumerate(as_list(doc.get("Statement", []))):
        where = st.get("Sid") or f"statement {i}"
        if "NotAction" in st or "NotResource" in st:
            problems.append(f"{where}: NotAction/NotResource")
        actions = [str(a) for a in as_list(st.get("Action", []))]
        if st.get("Effect") == "Allow":
            problems += [f"{where}: broad action {a}" for a in actions if is_broad(a)]
        if i >= user_statements and "*" in as_list(st.get("Resource", [])):
            problems += [
                f"{where}: {a} on Resource *" for a in actions if a not in STAR_RESOURCE_ACTIONS
            ]
    return problems


def managed_policy_problems(arns: list[str]) -> list[str]:
    out = []
    for arn in arns:
        name = arn.rsplit("/", 1)[-1]
        if name in FORBIDDEN_MANAGED_POLICIES or name.endswith("FullAccess"):
            out.append(f"broad managed policy {arn}")
        elif name != CODEDEPLOY_MANAGED_POLICY:
            out.append(f"managed policy {arn} is not the one we allow")
    return out


def parse_document(value: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: botocore decodes it to a dict; raw responses carry
    it URL-encoded JSON."""
    if isinstance(value, dict):
        return value
    from urllib.parse import unquote

    text = str(value)
    doc = json.loads(text if text.lstrip().startswith("{") else unquote(text))
    if not isinstance(doc, dict):
        raise ValueError("policy document is not a JSON object")
    return doc


def canonical(doc: dict[str, Any]) -> dict[str, Any]:
    """A document in a form where equal meaning compares equal: statements in a fixed order,
    single values and one-element lists alike, list order ignored."""

    def values(v: Any) -> list[Any]:
        return sorted(json.dumps(x, sort_keys=True) for x in as_list(v))

    def statement(st: dict[str, Any]) -> str:
        out: dict[str, Any] = {}
        for key, value in st.items():
            if key in ("Action", "NotAction", "Resource", "NotResource"):
                out[key] = values(value)
            elif key in ("Principal", "NotPrincipal") and isinstance(value, dict):
                out[key] = {k: values(v) for k, v in value.items()}
            elif key == "Condition" and isinstance(value, dict):
                out[key] = {op: {k: values(v) for k, v in kv.items()} for op, kv in value.items()}
            else:
                out[key] = value
        return json.dumps(out, sort_keys=True)

    return {
        "Version": doc.get("Version"),
        "Statement": sorted(statement(st) for st in as_list(doc.get("Statement", []))),
    }
