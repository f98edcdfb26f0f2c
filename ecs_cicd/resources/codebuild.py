"""The CodeBuild project the pipeline's Build stage runs: source and artifacts from CodePipeline,
a privileged Linux container for docker builds, the environment variables the buildspec reads,
logs into the stack's CodeBuild log group.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, error_code, is_not_found, retry_on, tags_list
from ecs_cicd.config import Config
from ecs_cicd.engine import Action, Ctx, Outcome, Spec
from ecs_cicd.errors import ConfigError
from ecs_cicd.state import Record

T = TypeVar("T")

# A new service role is not yet assumable by CodeBuild for up to ~2 minutes (AWS-BEHAVIOUR.md).
ROLE_PROPAGATION = 120
ROLE_LAG_FRAGMENTS = (
    "not authorized to perform: sts:AssumeRole",
    "Not authorized to perform DescribeSecurityGroups",
)
LOG_STREAM = "build"

# Variables the buildspec reads; set by us, so the config's build.environment may not redefine them.
RESERVED_VARIABLES = (
    "AWS_ACCOUNT_ID",
    "CONTAINER_NAMES",
    "IMAGE_DEFINITIONS_FILE",
    "ENDPOINT_CONTAINER",
    "ENDPOINT_PORT",
    "DEPLOY_STRATEGY",
)
REPO_URI_PREFIX = "IMAGE_REPO_URI_"


def repo_uri_variable(container: str) -> str:
    """IMAGE_REPO_URI_<CONTAINER>: the name uppercased, anything not alphanumeric as `_`."""
    return REPO_URI_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", container).upper()


def environment_variables(
    cfg: Config, *, account: str, repo_uris: dict[str, str]
) -> list[dict[str, str]]:
    """The project's environment variables (all PLAINTEXT), sorted by name.

    `repo_uris` maps each built container to its ECR repository URI.
    """
    built = [c.name for c in cfg.built_containers()]
    ours: dict[str, str] = {
        "AWS_ACCOUNT_ID": account,
        "CONTAINER_NAMES": " ".join(built),
        "IMAGE_DEFINITIONS_FILE": cfg.pipeline.deploy.file_name,
        "ENDPOINT_CONTAINER": cfg.task.endpoint.container,
        "ENDPOINT_PORT": str(cfg.task.endpoint.port),
        "DEPLOY_STRATEGY": cfg.pipeline.deploy.strategy,
    }
    for name in built:
        var = repo_uri_variable(name)
        if var in ours:
            raise ConfigError(
                f"containers {name!r} and another both map to the variable {var}",
                field="task.containers",
                hint="rename one of them (names differing only in case, '-' or '_' collide)",
            )
        ours[var] = repo_uris[name]
    for key in cfg.pipeline.build.environment:
        if key in ours or key.startswith(REPO_URI_PREFIX):
            raise ConfigError(
                f"{key} is set by ecs_cicd for the buildspec",
                field=f"pipeline.build.environment.{key}",
                hint="remove it or choose another name",
            )
    merged = {**ours, **cfg.pipeline.build.environment}
    return [{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in sorted(merged.items())]


def project_request(
    cfg: Config, *, account: str, repo_uris: dict[str, str], service_role: str
) -> dict[str, Any]:
    """The CreateProject / UpdateProject fields we own (no name, no tags)."""
    b = cfg.pipeline.build
    return {
        "source": {"type": "CODEPIPELINE", "buildspec": b.buildspec},
        "artifacts": {"type": "CODEPIPELINE"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": b.image,
            "computeType": b.compute_type,
            "privilegedMode": b.privileged,
            "environmentVariables": environment_variables(
                cfg, account=account, repo_uris=repo_uris
            ),
        },
        "serviceRole": service_role,
        "timeoutInMinutes": b.timeout_minutes,
        "logsConfig": {
            "cloudWatchLogs": {
                "status": "ENABLED",
                "groupName": names.codebuild_log_group(cfg),
                "streamName": LOG_STREAM,
            }
        },
    }


def differences(desired: Any, actual: Any, path: str = "") -> list[str]:
    """What differs in the fields we set (keys AWS adds are ignored). Values of environment
    variables are not shown, only their names."""
    if isinstance(desired, dict) and isinstance(actual, dict):
        out = []
        for key, want in desired.items():
            where = f"{path}.{key}" if path else key
            if key == "environmentVariables":
                out += _variable_differences(want, actual.get(key) or [])
            else:
                out += differences(want, actual.get(key), where)
        return out
    if desired != actual:
        return [f"{path}: {actual!r} -> {desired!r}"]
    return []


def _variable_differences(desired: list[dict[str, str]], actual: list[dict[str, str]]) -> list[str]:
    want = {v["name"]: (v["value"], v.get("type", "PLAINTEXT")) for v in desired}
    have = {v["name"]: (v.get("value"), v.get("type", "PLAINTEXT")) for v in actual}
    out = [f"environment variable {k} added" for k in sorted(want.keys() - have.keys())]
    out += [f"environment variable {k} removed" for k in sorted(have.keys() - want.keys())]
    out += [
        f"environment variable {k} changed"
        for k in sorted(want.keys() & have.keys())
        if want[k] != have[k]
    ]
    return out


def role_lag(ctx: Ctx, call: Callable[[], T]) -> T:
    """Retry only the "role not assumable yet" InvalidInputException; others fail at once."""
    return retry_on(
        call,
        codes=("InvalidInputException",),
        fragment=ROLE_LAG_FRAGMENTS,
        deadline=ROLE_PROPAGATION,
        sleep=ctx.sleep,
    )


def find_project(ctx: Ctx, name: str) -> dict[str, Any] | None:
    try:
        projects = ctx.client("codebuild").batch_get_projects(names=[name])["projects"]
    except ClientError as e:
        raise aws_error("Reading", f"CodeBuild project {name}", e) from None
    return dict(projects[0]) if projects else None


class ProjectHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        cfg = ctx.cfg
        name = names.codebuild_project(cfg)
        codebuild = ctx.client("codebuild")
        desired = project_request(
            cfg,
            account=ctx.account,
            repo_uris={
                c.name: str(ctx.out(f"ecr.{c.name}", "uri")) for c in cfg.built_containers()
            },
            service_role=str(ctx.out("role.codebuild", "arn")),
        )
        rec = ctx.state.get(spec.logical_id)
        project = find_project(ctx, rec.physical_id) if rec else None
        if project is None and (rec is None or rec.physical_id != name):
            project = find_project(ctx, name)
        action: Action
        if project is None:
            if ctx.dry_run:
                return Outcome(
                    spec.logical_id,
                    spec.kind,
                    "create",
                    [f"image {cfg.pipeline.build.image}"],
                    name,
                )
            project, created = self._create(ctx, spec, name, desired)
            action = "create" if created else "adopt"
        else:
            action = "adopt" if rec is None else "unchanged"
        project_name = str(project["name"])
        ctx.record(Record(spec.logical_id, spec.kind, project_name, arn=str(project["arn"])))
        changes = [] if action == "create" else differences(desired, project)
        if changes and not ctx.dry_run:
            try:
                role_lag(ctx, lambda: codebuild.update_project(name=project_name, **desired))
            except ClientError as e:
                raise aws_error("Updating", f"CodeBuild project {project_name}", e) from None
        if changes and action == "unchanged":
            action = "update"
        return Outcome(spec.logical_id, spec.kind, action, changes, project_name)

    def _create(
        self, ctx: Ctx, spec: Spec, name: str, desired: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        codebuild = ctx.client("codebuild")
        try:
            project = role_lag(
                ctx,
                lambda: codebuild.create_project(
                    name=name,
                    description=f"ecs-cicd {ctx.cfg.stack}: builds the images",
                    tags=tags_list(ctx.tags(spec.logical_id), "key", "value"),
                    **desired,
                )["project"],
            )
            return dict(project), True
        except ClientError as e:
            if error_code(e) != "ResourceAlreadyExistsException":
                raise aws_error("Creating", f"CodeBuild project {name}", e) from None
            # Created between our lookup and CreateProject: adopt it, never a second one.
            found = find_project(ctx, name)
            if found is None:
                raise aws_error("Creating", f"CodeBuild project {name}", e) from None
            return found, False

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        name = record.physical_id
        if find_project(ctx, name) is None:
            return Outcome(record.logical_id, record.kind, "gone", [], name)
        try:
            # AWS answers OK for a missing project; the lookup above tells "gone" apart.
            ctx.client("codebuild").delete_project(name=name)
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], name)
            raise aws_error("Deleting", f"CodeBuild project {name}", e) from None
        return Outcome(record.logical_id, record.kind, "delete", [], name)
