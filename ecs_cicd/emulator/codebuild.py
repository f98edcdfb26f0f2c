"""CodeBuild: AWS's validation of CreateProject, UpdateProject, and AWS's response fields.

* ``source.type`` CODEPIPELINE / NO_SOURCE and ``artifacts.type`` CODEPIPELINE need no
  ``location`` (moto demanded one); environment and compute types are the service model's.
* The service role must exist and trust ``codebuild.amazonaws.com``, else AWS's
  ``InvalidInputException`` "CodeBuild is not authorized to perform: sts:AssumeRole on ...".
* UpdateProject (moto lacks it) replaces the given top-level fields and returns the project.
* Projects carry AWS's defaults and field names (``lastModified``, timeouts 60 / 480).
* BatchGetProjects / BatchGetBuilds report ``projectsNotFound`` / ``buildsNotFound``; reading a
  build no longer appends its phases again on every call.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.session
import moto.codebuild.responses as cb_responses
from moto.codebuild.exceptions import InvalidInputException, ResourceNotFoundException
from moto.codebuild.models import CodeBuildBackend
from moto.codebuild.responses import CodeBuildResponse
from moto.core.utils import unix_time
from moto.iam.models import iam_backends

from ecs_cicd.emulator._util import add, dumps, replace, rewrap, unwrap

_NO_LOCATION_SOURCES = {"CODEPIPELINE", "NO_SOURCE"}


@cache
def _enum(shape: str) -> frozenset[str]:
    model = botocore.session.get_session().get_service_model("codebuild")
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


def apply() -> None:
    # moto's create_project calls these module functions by name; swapping them in the module
    # is how its validation is corrected without copying create_project.
    cb_responses._validate_required_params_source = _validate_source
    cb_responses._validate_required_params_artifacts = _validate_artifacts
    cb_responses._validate_required_params_environment = _validate_environment
    replace(CodeBuildResponse, "create_project", _create_project)
    replace(CodeBuildResponse, "batch_get_projects", _batch_get_projects)
    replace(CodeBuildResponse, "batch_get_builds", _batch_get_builds)
    replace(CodeBuildBackend, "_set_phases", _set_phases)
    add(CodeBuildResponse, "update_project", update_project)
