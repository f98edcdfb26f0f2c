"""The CodeBuild project the pipeline's Build stage runs: source and artifacts from CodePipeline,
a privileged Linux container for docker builds, the environment variables the buildspec reads,
logs into the stack's CodeBuild log group.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ecs_cicd import names
from ecs_cicd.aws import retry_on, tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.errors import ConfigError
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource, Target
from ecs_cicd.resources.logs import LogGroup
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


# --- values known once a dependency exists ---------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """A desired value that is another resource's physical id (`id`), ARN (`arn`) or recorded
    output (any other key): it stands in the model's data, and is read from the state when a
    verb runs (a dependency not made yet raises `Pending`, which the lifecycle handles). Equal
    when it names the same resource object (models compare by identity) and attribute."""

    resource: Resource
    attr: str = "id"

    def value(self, ctx: Ctx) -> Any:
        if self.attr == "id":
            return ctx.id_of(self.resource)
        if self.attr == "arn":
            return ctx.arn_of(self.resource)
        return ctx.ref(self.resource).outputs[self.attr]

    def __repr__(self) -> str:
        return f"<{self.resource.logical_id}.{self.attr}>"


def resolve(ctx: Ctx, value: Any) -> Any:
    """A copy of `value` (dicts, lists, tuples as lists) with every `Ref` replaced by its value."""
    if isinstance(value, Ref):
        return value.value(ctx)
    if isinstance(value, dict):
        return {k: resolve(ctx, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(ctx, v) for v in value]
    return value


# --- the desired project (pure) --------------------------------------------------------------
def repo_uri_variable(container: str) -> str:
    """IMAGE_REPO_URI_<CONTAINER>: the name uppercased, anything not alphanumeric as `_`."""
    return REPO_URI_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", container).upper()


def environment_variables(
    cfg: Config, *, account: str, repo_uris: dict[str, Any]
) -> list[dict[str, Any]]:
    """The project's environment variables (all PLAINTEXT), sorted by name.

    `repo_uris` maps each built container to its ECR repository URI (or a `Ref` to it).
    """
    built = [c.name for c in cfg.built_containers()]
    ours: dict[str, Any] = {
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
    cfg: Config, *, account: str, repo_uris: dict[str, Any], service_role: Any, log_group: str
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
                "groupName": log_group,
                "streamName": LOG_STREAM,
            }
        },
    }


@dataclass(frozen=True, eq=False, kw_only=True)
class Project(Resource):
    kind = "codebuild_project"
    name: str
    description: str
    role: Resource
    log_group: LogGroup
    repos: tuple[Resource, ...]
    request: dict[str, Any]  # CreateProject's fields but name, description and tags; Refs inside


def build_project(
    cfg: Config,
    target: Target,
    role: Resource,
    log_group: LogGroup,
    repos: tuple[Resource, ...],
    tags: tuple[tuple[str, str], ...],
) -> Project:
    """The project: its request as data, the role's ARN and the repositories' URIs as `Ref`s.

    `repos` are the built containers' repositories, in `cfg.built_containers()` order."""
    built = [c.name for c in cfg.built_containers()]
    return Project(
        logical_id="codebuild",
        tags=tags,
        name=names.codebuild_project(cfg),
        description=f"ecs-cicd {cfg.stack}: builds the images",
        role=role,
        log_group=log_group,
        repos=tuple(repos),
        request=project_request(
            cfg,
            account=target.account,
            repo_uris={c: Ref(r, "uri") for c, r in zip(built, repos, strict=True)},
            service_role=Ref(role, "arn"),
            log_group=log_group.name,
        ),
    )


# --- comparing -------------------------------------------------------------------------------
def differences(desired: Any, actual: Any, path: str = "") -> list[Diff]:
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
        return [Diff(path, actual, desired)]
    return []


def _variable_differences(
    desired: list[dict[str, Any]], actual: list[dict[str, Any]]
) -> list[Diff]:
    want = {v["name"]: (v["value"], v.get("type", "PLAINTEXT")) for v in desired}
    have = {v["name"]: (v.get("value"), v.get("type", "PLAINTEXT")) for v in actual}

    def var(name: str, what: str) -> Diff:
        return Diff(f"environment variable {name}", note=what)

    out = [var(k, "added") for k in sorted(want.keys() - have.keys())]
    out += [var(k, "removed") for k in sorted(have.keys() - want.keys())]
    out += [var(k, "changed") for k in sorted(want.keys() & have.keys()) if want[k] != have[k]]
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


# --- the verbs -------------------------------------------------------------------------------
class ProjectKind(Kind[Project]):
    kind = "codebuild_project"
    label = "CodeBuild project"

    def lookup(self, ctx: Ctx, name: str, rec: Record | None) -> Live | None:
        projects = ctx.client("codebuild").batch_get_projects(names=[name]).get("projects", [])
        if not projects:
            return None
        p = dict(projects[0])
        return Live(str(p["name"]), str(p["arn"]), tags_dict(p.get("tags"), "key", "value"), p)

    def create(self, ctx: Ctx, want: Project) -> Live:
        request = resolve(ctx, want.request)
        codebuild = ctx.client("codebuild")
        p = role_lag(
            ctx,
            lambda: codebuild.create_project(
                name=want.name,
                description=want.description,
                tags=tags_list(want.tag_dict, "key", "value"),
                **request,
            )["project"],
        )
        return Live(str(p["name"]), str(p["arn"]), want.tag_dict, dict(p))

    def diff(self, ctx: Ctx, want: Project, live: Live) -> list[Diff]:
        return differences(resolve(ctx, want.request), live.data)

    def update(self, ctx: Ctx, want: Project, live: Live, diffs: list[Diff]) -> Live | None:
        request = resolve(ctx, want.request)
        codebuild = ctx.client("codebuild")
        role_lag(ctx, lambda: codebuild.update_project(name=live.physical_id, **request))
        return None

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        # CodeBuild has no TagResource: UpdateProject's `tags` replaces the whole set.
        merged = {**(live.tags or {}), **tags}
        ctx.client("codebuild").update_project(
            name=live.physical_id, tags=tags_list(merged, "key", "value")
        )

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        # AWS answers OK for a missing project; find_recorded has told "gone" apart.
        ctx.client("codebuild").delete_project(name=rec.physical_id)

    def summary(self, want: Project) -> list[str]:
        env = want.request["environment"]
        return [f"image {env['image']}", f"compute {env['computeType']}"]


KINDS = (ProjectKind(),)
