"""CodeBuild: AWS's validation of CreateProject, UpdateProject, and AWS's response fields.

* ``source.type`` CODEPIPELINE / NO_SOURCE and ``artifacts.type`` CODEPIPELINE need no
  ``location`` (moto demanded one); environment and compute types are the service model's.
* The service role must exist and trust ``codebuild.amazonaws.com``, else AWS's
  ``InvalidInputException`` "CodeBuild is not authorized to perform: sts:AssumeRole on ...".
* UpdateProject (moto lacks it) replaces the given top-level fields and returns the project.
* Projects carry AWS's defaults and field names (``lastModified``, timeouts 60 / 480).
* BatchGetProjects / BatchGetBuilds report ``projectsNotFound`` / ``buildsNotFound``; reading a
  build no longer appends its phases again on every call.
* Builds a pipeline execution starts (``plan_build``) run during their stage's window: status,
  current phase and phases follow the clock (IN_PROGRESS, then SUCCEEDED, or FAILED in the
  BUILD phase with a COMMAND_EXECUTION_ERROR context when the execution is made to fail at
  that stage: control plane ``/pipeline-failure``). Each writes its log, with CodeBuild's phase
  lines, to the project's CloudWatch group and ``<streamName>/<build uuid>``; ``logs`` of the
  build name them (``groupName``, ``streamName``, ``deepLink``).
* ListBuildsForProject lists newest first (AWS's default ``sortOrder`` DESCENDING).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import moto.codebuild.responses as cb_responses
from moto.codebuild.exceptions import InvalidInputException, ResourceNotFoundException
from moto.codebuild.models import CodeBuildBackend
from moto.codebuild.responses import CodeBuildResponse
from moto.core.utils import unix_time
from moto.iam.models import iam_backends

from ecs_cicd.aws import service_model
from ecs_cicd.emulator import cwlogs
from ecs_cicd.emulator._util import add, dumps, now, replace, rewrap, state, unwrap

_NO_LOCATION_SOURCES = {"CODEPIPELINE", "NO_SOURCE"}


@cache
def _enum(shape: str) -> frozenset[str]:
    model = service_model("codebuild")
    # StringShape carries the enum; the generic Shape type does not declare it.
    return frozenset(getattr(model.shape_for(shape), "enum", []))


def _validate_source(source: dict[str, Any]) -> None:
    if source["type"] not in _enum("SourceType"):
        raise InvalidInputException("Invalid type provided: Project source type")
    if source["type"] not in _NO_LOCATION_SOURCES and not source.get("location"):
        raise InvalidInputException("Project source location is required")


def _validate_artifacts(artifacts: dict[str, Any]) -> None:
    kind = artifacts["type"]
    if kind not in _enum("ArtifactsType"):
        raise InvalidInputException("Invalid type provided: Artifact type")
    if kind == "NO_ARTIFACTS" and "location" in artifacts:
        raise InvalidInputException(
            "Invalid artifacts: artifact type NO_ARTIFACTS should have null location"
        )
    if kind == "S3" and not artifacts.get("location"):
        raise InvalidInputException("Project artifacts location is required")


def _validate_environment(environment: dict[str, Any]) -> None:
    if environment["type"] not in _enum("EnvironmentType"):
        raise InvalidInputException(f"Invalid type provided: {environment['type']}")
    if environment["computeType"] not in _enum("ComputeType"):
        raise InvalidInputException(f"Invalid compute type provided: {environment['computeType']}")


def _validate_role(account_id: str, region: str, role_arn: str) -> None:
    """AWS refuses a role it cannot assume: missing, or not trusting CodeBuild."""
    cb_responses._validate_required_params_service_role(account_id, region, role_arn)
    iam = iam_backends[account_id]["aws"]
    role = next((r for r in iam.roles.values() if r.arn == role_arn), None)
    if role is None or "codebuild.amazonaws.com" not in role.assume_role_policy_document:
        raise InvalidInputException(
            f"CodeBuild is not authorized to perform: sts:AssumeRole on {role_arn}"
        )


def _aws_fields(project: dict[str, Any]) -> dict[str, Any]:
    """Fill in what AWS returns for every project."""
    project["lastModified"] = project.pop("lastModifiedDate", project.get("lastModified"))
    project["timeoutInMinutes"] = project.get("timeoutInMinutes") or 60
    project["queuedTimeoutInMinutes"] = project.get("queuedTimeoutInMinutes") or 480
    project["tags"] = project.get("tags") or []
    project.setdefault("secondarySources", [])
    project.setdefault("secondarySourceVersions", [])
    project.setdefault("secondaryArtifacts", [])
    project.setdefault("projectVisibility", "PRIVATE")
    environment = project.get("environment") or {}
    environment.setdefault("environmentVariables", [])
    environment.setdefault("privilegedMode", False)
    environment.setdefault("imagePullCredentialsType", "CODEBUILD")
    return project


def _create_project(original: Any) -> Any:
    def create_project(self: CodeBuildResponse) -> Any:
        _validate_role(self.current_account, self.region, self._get_param("serviceRole"))
        answer = original(self)
        body = unwrap(answer)
        stored = self.codebuild_backend.codebuild_projects[self._get_param("name")]
        _aws_fields(stored.project_metadata)
        body["project"] = stored.project_metadata
        return rewrap(answer, body)

    return create_project


# UpdateProject parameters that replace the stored field of the same name.
_REPLACED = (
    "description",
    "source",
    "secondarySources",
    "sourceVersion",
    "secondarySourceVersions",
    "artifacts",
    "secondaryArtifacts",
    "cache",
    "environment",
    "serviceRole",
    "timeoutInMinutes",
    "queuedTimeoutInMinutes",
    "encryptionKey",
    "tags",
    "vpcConfig",
    "logsConfig",
    "fileSystemLocations",
    "buildBatchConfig",
    "concurrentBuildLimit",
    "autoRetryLimit",
)


def update_project(self: CodeBuildResponse) -> str:
    backend: CodeBuildBackend = self.codebuild_backend
    name = self._get_param("name")
    stored = backend.codebuild_projects.get(name)
    if stored is None:
        raise ResourceNotFoundException(
            f"Failed to call UpdateProject, reason: Project cannot be found: "
            f"arn:aws:codebuild:{self.region}:{self.current_account}:project/{name}"
        )
    changes = {key: self._get_param(key) for key in _REPLACED}
    changes = {key: value for key, value in changes.items() if value is not None}
    if "source" in changes:
        _validate_source(changes["source"])
    if "artifacts" in changes:
        _validate_artifacts(changes["artifacts"])
    if "environment" in changes:
        _validate_environment(changes["environment"])
    if "serviceRole" in changes:
        _validate_role(self.current_account, self.region, changes["serviceRole"])
        stored.service_role = changes["serviceRole"]
    metadata = stored.project_metadata
    metadata.update(changes)
    if self._get_param("badgeEnabled") is not None:
        metadata["badge"] = {"badgeEnabled": bool(self._get_param("badgeEnabled"))}
    metadata["lastModified"] = unix_time()
    _aws_fields(metadata)
    return dumps({"project": metadata})


def _batch_get_projects(original: Any) -> Any:
    def batch_get_projects(self: CodeBuildResponse) -> Any:
        answer = original(self)
        body = unwrap(answer)
        found = {p["name"] for p in body["projects"]} | {p["arn"] for p in body["projects"]}
        body["projects"] = [_aws_fields(p) for p in body["projects"]]
        body["projectsNotFound"] = [n for n in self._get_param("names") if n not in found]
        return rewrap(answer, body)

    return batch_get_projects


def _batch_get_builds(original: Any) -> Any:
    def batch_get_builds(self: CodeBuildResponse) -> Any:
        answer = original(self)
        body = unwrap(answer)
        found = {b["id"] for b in body["builds"]}
        plans = _plans(self.codebuild_backend)
        at = now()
        body["builds"] = [
            _planned(b, plans[b["id"]], at) if b["id"] in plans else b for b in body["builds"]
        ]
        body["buildsNotFound"] = [i for i in self._get_param("ids") if i not in found]
        return rewrap(answer, body)

    return batch_get_builds


def _set_phases(original: Any) -> Any:
    def set_phases(self: CodeBuildBackend, phases: list[dict[str, Any]]) -> Any:
        # moto appends the completed phases on every read; a finished build has them once.
        if any(p.get("phaseType") == "COMPLETED" for p in phases):
            return phases
        return original(self, phases)

    return set_phases


# --- builds a pipeline runs ------------------------------------------------------------------
PHASES = (
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
)


def _plans(backend: CodeBuildBackend) -> dict[str, dict[str, Any]]:
    return state(backend, "build_plans", dict)


def build_log_lines(project: str, failure: str | None) -> list[str]:
    """CodeBuild's own lines for the phases of a docker build-and-push buildspec."""
    out = ["[Container] Running on CodeBuild On-demand", "[Container] Waiting for agent ping"]
    for phase in ("DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"):
        out.append(f"[Container] Entering phase {phase}")
        if phase == "PRE_BUILD":
            out.append("[Container] Running command aws ecr get-login-password | docker login")
            out.append("Login Succeeded")
        if phase == "BUILD":
            out.append(f"[Container] Running command docker build -t {project} .")
            out.append("Step 1/6 : FROM python:3.12-slim")
            if failure:
                out.append(
                    'ERROR: failed to solve: process "/bin/sh -c pip install" did not complete successfully: exit code: 1'
                )
                out.append(
                    f"[Container] Command did not exit successfully docker build -t {project} . exit status 1"
                )
                out.append("[Container] Phase complete: BUILD State: FAILED")
                out.append(
                    f"[Container] Phase context status code: COMMAND_EXECUTION_ERROR Message: {failure}"
                )
                continue
            out.append("Successfully built 3f2a9c1d7e4b")
        if phase == "POST_BUILD":
            out.append(
                "[Container] Running command docker push"
                if not failure
                else "[Container] Skipping docker push: the build failed"
            )
        out.append(f"[Container] Phase complete: {phase} State: SUCCEEDED")
    return out


def plan_build(
    backend: CodeBuildBackend, build_id: str, start: float, end: float, failure: str | None
) -> None:
    """The build `build_id` runs during [start, end) and fails in BUILD with `failure`."""
    project = build_id.split(":", 1)[0]
    stored = backend.codebuild_projects.get(project)
    config = ((stored.project_metadata if stored else {}).get("logsConfig") or {}).get(
        "cloudWatchLogs"
    ) or {}
    group = config.get("groupName") or f"/aws/codebuild/{project}"
    uuid = build_id.split(":", 1)[1]
    stream = f"{config['streamName']}/{uuid}" if config.get("streamName") else uuid
    _plans(backend)[build_id] = {"start": start, "end": end, "failure": failure}
    lines = build_log_lines(project, failure)
    step = max(end - start, 0.0) * 1000 / max(len(lines), 1)
    cwlogs.write(
        backend.account_id,
        backend.region_name,
        group,
        stream,
        [(int(start * 1000 + i * step), line) for i, line in enumerate(lines)],
        create_group=True,
    )
    for build in backend.build_metadata_history.get(project, []):
        if build["id"] == build_id:
            region = backend.region_name
            build["logs"] = {
                "groupName": group,
                "streamName": stream,
                "deepLink": f"https://console.aws.amazon.com/cloudwatch/home?region={region}"
                f"#logEvent:group={group};stream={stream}",
                "cloudWatchLogsArn": f"arn:aws:logs:{region}:{backend.account_id}:log-group:"
                f"{group}:log-stream:{stream}",
                "cloudWatchLogs": {"status": "ENABLED", "groupName": group, "streamName": stream},
                "s3Logs": {"status": "DISABLED", "encryptionDisabled": False},
            }


def _planned(build: dict[str, Any], plan: dict[str, Any], at: float) -> dict[str, Any]:
    """The build as it is at `at` according to its plan."""
    start, end, failure = plan["start"], plan["end"], plan["failure"]
    step = max(end - start, 0.0) / len(PHASES)
    phases: list[dict[str, Any]] = []
    current = "COMPLETED"
    for i, name in enumerate(PHASES):
        begin, finish = start + i * step, start + (i + 1) * step
        if at < begin:
            break
        phase: dict[str, Any] = {"phaseType": name, "startTime": begin}
        if at < finish and end > at:
            current = name
            phases.append(phase)
            break
        phase.update(endTime=finish, durationInSeconds=int(finish - begin))
        phase["phaseStatus"] = "FAILED" if failure and name == "BUILD" else "SUCCEEDED"
        if failure and name == "BUILD":
            phase["contexts"] = [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": failure}]
        phases.append(phase)
    done = at >= end
    if done:
        phases.append({"phaseType": "COMPLETED", "startTime": end})
    return {
        **build,
        "startTime": start,
        "phases": phases,
        "currentPhase": current if not done else "COMPLETED",
        "buildStatus": ("FAILED" if failure else "SUCCEEDED") if done else "IN_PROGRESS",
        "buildComplete": done,
        **({"endTime": end} if done else {}),
    }


def _list_builds_for_project(original: Any) -> Any:
    def list_builds_for_project(self: CodeBuildResponse) -> Any:
        answer = original(self)
        body = unwrap(answer)
        ids = list(body.get("ids", []))
        if self._get_param("sortOrder", "DESCENDING") == "DESCENDING":
            ids.reverse()
        body["ids"] = ids
        return rewrap(answer, body)

    return list_builds_for_project


def apply() -> None:
    # moto's create_project calls these module functions by name; swapping them in the module
    # is how its validation is corrected without copying create_project.
    cb_responses._validate_required_params_source = _validate_source
    cb_responses._validate_required_params_artifacts = _validate_artifacts
    cb_responses._validate_required_params_environment = _validate_environment
    replace(CodeBuildResponse, "create_project", _create_project)
    replace(CodeBuildResponse, "batch_get_projects", _batch_get_projects)
    replace(CodeBuildResponse, "batch_get_builds", _batch_get_builds)
    replace(CodeBuildResponse, "list_builds_for_project", _list_builds_for_project)
    replace(CodeBuildBackend, "_set_phases", _set_phases)
    add(CodeBuildResponse, "update_project", update_project)
