"""CodePipeline: executions, pipeline state, token masking.

moto stores pipelines but has no executions at all. Here:

* CreatePipeline starts one execution by itself (trigger ``CreatePipeline``), as AWS does;
  StartPipelineExecution starts more; UpdatePipeline starts none.
* An execution runs its stages in order over ``ECS_CICD_EMULATOR_PIPELINE_SECONDS`` (read when
  it starts; default 0, i.e. it has already succeeded when first read), or the pacing's
  ``pipeline_seconds`` when that is set (``pacing.py``). Status is derived from
  the clock on every read, so nothing runs in the background.
* ``fail_next_execution`` makes the next execution(s) fail at a named stage, so callers can test
  their failed-execution report (ListActionExecutions carries the error details); a CodeBuild
  action's build in that stage fails too, with the message in its BUILD phase and log
  (``codebuild.plan_build``).
* GetPipelineExecution, ListPipelineExecutions, GetPipelineState, ListActionExecutions read
  those executions.
* An execution StartPipelineExecution started deploys when its ECS Deploy stage begins: a new
  task definition revision with the build's images, then UpdateService (``_deploy_ecs``).
  Executions CreatePipeline or a webhook started do not (so `up` sees no revision of its own
  run's pipeline), nor does a CodeDeployToECS action.
* Webhooks are in ``webhooks.py``.
* GetPipeline / CreatePipeline / UpdatePipeline return GitHub ``OAuthToken`` values masked.
"""

from __future__ import annotations

import copy
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.codepipeline.exceptions import PipelineNotFoundException
from moto.codepipeline.models import CodePipelineBackend
from moto.codepipeline.responses import CodePipelineResponse
from moto.core.exceptions import JsonRESTError

from ecs_cicd.emulator import pacing
from ecs_cicd.emulator._util import add, dumps, now, page, replace, rewrap, state, unwrap

PIPELINE_SECONDS_ENV = "ECS_CICD_EMULATOR_PIPELINE_SECONDS"
MASK = "****"
# Configuration keys AWS never returns in clear.
_SECRET_KEYS = ("OAuthToken",)


class CodePipelineError(JsonRESTError):
    """A CodePipeline error moto has no class for (JSON body {__type, message})."""

    code = 400

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(error_type, message)


@dataclass
class _Failure:
    stage: str
    message: str
    code: str
    remaining: int


_failures: list[_Failure] = []
_failures_lock = threading.Lock()


def fail_next_execution(
    stage: str, message: str = "Emulated failure", code: str = "JobFailed", times: int = 1
) -> None:
    """Make the next ``times`` executions (of any pipeline that has ``stage``) fail there."""
    with _failures_lock:
        _failures.append(_Failure(stage, message, code, times))


def clear_failures() -> None:
    with _failures_lock:
        _failures.clear()


def _take_failure(stage_names: list[str]) -> _Failure | None:
    with _failures_lock:
        for failure in _failures:
            if failure.stage in stage_names and failure.remaining > 0:
                failure.remaining -= 1
                if failure.remaining == 0:
                    _failures.remove(failure)
                return failure
    return None


def _pipeline_seconds() -> float:
    paced = pacing.current().pipeline_seconds
    if paced > 0:
        return paced
    try:
        return max(float(os.environ.get(PIPELINE_SECONDS_ENV, "0")), 0.0)
    except ValueError:
        return 0.0


@dataclass
class _ActionRun:
    stage: str
    declaration: dict[str, Any]
    action_execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    external_execution_id: str | None = None


@dataclass
class Execution:
    """One pipeline run. Stage ``i`` of ``n`` runs during [start + i·d/n, start + (i+1)·d/n)."""

    pipeline_name: str
    pipeline_version: int
    execution_id: str
    trigger_type: str
    trigger_detail: str
    execution_mode: str
    start: float
    duration: float
    stages: list[tuple[str, list[_ActionRun]]]
    role_arn: str
    region: str
    failure: _Failure | None = None
    deployed: bool = False

    def _window(self, index: int) -> tuple[float, float]:
        step = self.duration / max(len(self.stages), 1)
        return self.start + index * step, self.start + (index + 1) * step

    def stage_status(self, index: int, at: float) -> str | None:
        """None while the stage has not started (or will never run after a failure)."""
        for earlier in range(index):
            if self.stage_status(earlier, at) != "Succeeded":
                return None
        begin, end = self._window(index)
        if at < begin:
            return None
        if at < end and self.duration > 0:
            return "InProgress"
        if self.failure is not None and self.failure.stage == self.stages[index][0]:
            return "Failed"
        return "Succeeded"

    def stage_changed_at(self, index: int, at: float) -> float:
        begin, end = self._window(index)
        return end if at >= end else begin

    def status(self, at: float) -> str:
        statuses = [self.stage_status(i, at) for i in range(len(self.stages))]
        if "Failed" in statuses:
            return "Failed"
        if all(s == "Succeeded" for s in statuses):
            return "Succeeded"
        return "InProgress"

    def last_update(self, at: float) -> float:
        return min(at, self.start + self.duration)

    def status_summary(self, at: float) -> str | None:
        if self.status(at) == "Failed" and self.failure is not None:
            return self.failure.message
        return None

    def summary(self, at: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pipelineExecutionId": self.execution_id,
            "status": self.status(at),
            "startTime": self.start,
            "lastUpdateTime": self.last_update(at),
            "sourceRevisions": [],
            "trigger": {"triggerType": self.trigger_type, "triggerDetail": self.trigger_detail},
            "executionMode": self.execution_mode,
            "executionType": "STANDARD",
        }
        if self.status_summary(at):
            out["statusSummary"] = self.status_summary(at)
        return out

    def detail(self, at: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pipelineName": self.pipeline_name,
            "pipelineVersion": self.pipeline_version,
            "pipelineExecutionId": self.execution_id,
            "status": self.status(at),
            "artifactRevisions": [],
            "variables": [],
            "trigger": {"triggerType": self.trigger_type, "triggerDetail": self.trigger_detail},
            "executionMode": self.execution_mode,
            "executionType": "STANDARD",
        }
        if self.status_summary(at):
            out["statusSummary"] = self.status_summary(at)
        return out


def _executions(backend: CodePipelineBackend) -> dict[str, list[Execution]]:
    """Pipeline name -> executions, newest first."""
    return state(backend, "executions", dict)


def _mask(pipeline: dict[str, Any]) -> dict[str, Any]:
    masked = copy.deepcopy(pipeline)
    for stage in masked.get("stages", []):
        for action in stage.get("actions", []):
            config = action.get("configuration") or {}
            for key in _SECRET_KEYS:
                if key in config:
                    config[key] = MASK
    return masked


def require_pipeline(backend: CodePipelineBackend, name: str) -> dict[str, Any]:
    codepipeline = backend.pipelines.get(name)
    if codepipeline is None:
        raise PipelineNotFoundException(
            f"Account '{backend.account_id}' does not have a pipeline with name '{name}'"
        )
    return codepipeline.pipeline


def start_execution(backend: CodePipelineBackend, name: str, trigger_type: str) -> Execution:
    """Start an execution of pipeline ``name`` (CreatePipeline, StartPipelineExecution)."""
    pipeline = require_pipeline(backend, name)
    stages = [
        (stage["name"], [_ActionRun(stage["name"], action) for action in stage["actions"]])
        for stage in pipeline["stages"]
    ]
    execution = Execution(
        pipeline_name=name,
        pipeline_version=int(pipeline.get("version", 1)),
        execution_id=str(uuid.uuid4()),
        trigger_type=trigger_type,
        trigger_detail=f"arn:aws:iam::{backend.account_id}:root",
        execution_mode=str(pipeline.get("executionMode", "SUPERSEDED")),
        start=now(),
        duration=_pipeline_seconds(),
        stages=stages,
        role_arn=str(pipeline.get("roleArn", "")),
        region=backend.region_name,
        failure=_take_failure([stage_name for stage_name, _ in stages]),
    )
    _link_builds(backend, execution)
    _executions(backend).setdefault(name, []).insert(0, execution)
    _advance(backend, name)
    return execution


def _advance(backend: CodePipelineBackend, name: str) -> None:
    """Executions started by StartPipelineExecution whose ECS Deploy stage has begun deploy
    once (see ``_deploy_ecs``). Called on every read, since nothing runs in the background."""
    at = now()
    for execution in _executions(backend).get(name, []):
        if execution.deployed or execution.trigger_type != "StartPipelineExecution":
            continue
        for index, (stage, runs) in enumerate(execution.stages):
            for run in runs:
                provider = run.declaration.get("actionTypeId", {}).get("provider")
                if provider != "ECS" or execution.stage_status(index, at) is None:
                    continue
                execution.deployed = True
                failing = execution.failure is not None and execution.failure.stage == stage
                if not failing:
                    _deploy_ecs(backend, execution, run)


def _advance_quietly(backend: CodePipelineBackend, name: str | None) -> None:
    if name and name in backend.pipelines:
        _advance(backend, name)


def _deploy_ecs(backend: CodePipelineBackend, execution: Execution, run: _ActionRun) -> None:
    """The ECS deploy action: a new revision of the service's task definition, without tags,
    with the build's images for the containers that have an ECR repository named
    ``.../<container>`` (what imagedefinitions.json names), tagged with the execution's id;
    then UpdateService to it. A missing service: nothing (AWS fails the action)."""
    from moto.ecr.models import ecr_backends
    from moto.ecs.models import ecs_backends

    ecs = ecs_backends[backend.account_id][backend.region_name]
    conf = run.declaration.get("configuration") or {}
    cluster, name = conf.get("ClusterName"), conf.get("ServiceName")
    service = ecs.services.get(f"{cluster}:{name}")
    if service is None or service.status != "ACTIVE" or not service.task_definition:
        return
    td = ecs.describe_task_definition(service.task_definition)
    repos = ecr_backends[backend.account_id][backend.region_name].repositories
    tag = execution.execution_id[:8]
    containers: list[dict[str, Any]] = copy.deepcopy(list(td.container_definitions))  # type: ignore[arg-type]
    for c in containers:
        suffix = "/" + str(c["name"]).lower()
        repo = next((r for r in repos.values() if r.name.endswith(suffix)), None)
        if repo is not None:
            c["image"] = f"{repo.uri}:{tag}"
    new = ecs.register_task_definition(
        family=td.family,
        container_definitions=containers,
        volumes=td.volumes,
        network_mode=getattr(td, "network_mode", None),
        requires_compatibilities=td.requires_compatibilities,
        cpu=td.cpu,
        memory=td.memory,
        # moto sets these attributes only when they were given
        task_role_arn=getattr(td, "task_role_arn", None),
        execution_role_arn=getattr(td, "execution_role_arn", None),
        runtime_platform=td.runtime_platform,
    )
    ecs.update_service({"cluster": cluster, "service": name, "task_definition": new.arn})


def _link_builds(backend: CodePipelineBackend, execution: Execution) -> None:
    """CodeBuild actions start a build of their project (when it exists), as on AWS."""
    from moto.codebuild.models import codebuild_backends

    builds = codebuild_backends[backend.account_id][backend.region_name]
    from ecs_cicd.emulator.codebuild import plan_build

    for index, (stage, actions) in enumerate(execution.stages):
        for run in actions:
            type_id = run.declaration.get("actionTypeId", {})
            project = (run.declaration.get("configuration") or {}).get("ProjectName")
            if type_id.get("provider") == "CodeBuild" and project in builds.codebuild_projects:
                run.external_execution_id = builds.start_build(project)["id"]
                failure = execution.failure
                begin, end = execution._window(index)
                plan_build(
                    builds,
                    run.external_execution_id,
                    begin,
                    end,
                    failure.message if failure is not None and failure.stage == stage else None,
                )


def _find_execution(backend: CodePipelineBackend, name: str, execution_id: str) -> Execution:
    require_pipeline(backend, name)
    for execution in _executions(backend).get(name, []):
        if execution.execution_id == execution_id:
            return execution
    raise CodePipelineError(
        "PipelineExecutionNotFoundException",
        f"Pipeline Execution ID {execution_id} does not exist in pipeline with name: {name}",
    )


def _action_result(
    execution: Execution, index: int, run: _ActionRun, at: float
) -> dict[str, Any] | None:
    """The ActionExecution of one action in one execution (None if it has not started)."""
    status = execution.stage_status(index, at)
    if status is None:
        return None
    result: dict[str, Any] = {
        "actionExecutionId": run.action_execution_id,
        "status": status,
        "lastStatusChange": execution.stage_changed_at(index, at),
    }
    if run.external_execution_id:
        result["externalExecutionId"] = run.external_execution_id
    if status == "Failed" and execution.failure is not None:
        result["errorDetails"] = {
            "code": execution.failure.code,
            "message": execution.failure.message,
        }
        result["summary"] = execution.failure.message
    return result


def _pipeline_state(backend: CodePipelineBackend, name: str) -> dict[str, Any]:
    pipeline = require_pipeline(backend, name)
    metadata = backend.pipelines[name].metadata
    history = _executions(backend).get(name, [])
    at = now()
    stage_states = []
    for position, stage in enumerate(pipeline["stages"]):
        stage_state: dict[str, Any] = {"stageName": stage["name"], "actionStates": []}
        if position > 0:
            stage_state["inboundTransitionState"] = {"enabled": True}
        # The latest execution that reached this stage, with the stage's index in it.
        latest = None
        for execution in history:
            names = [stage_name for stage_name, _ in execution.stages]
            if stage["name"] in names:
                index = names.index(stage["name"])
                if execution.stage_status(index, at) is not None:
                    latest = (execution, index)
                    break
        for action in stage["actions"]:
            action_state: dict[str, Any] = {"actionName": action["name"]}
            if latest is not None:
                execution, index = latest
                for run in execution.stages[index][1]:
                    if run.declaration.get("name") == action["name"]:
                        result = _action_result(execution, index, run, at)
                        if result is not None:
                            action_state["latestExecution"] = result
            stage_state["actionStates"].append(action_state)
        if latest is not None:
            execution, index = latest
            stage_state["latestExecution"] = {
                "pipelineExecutionId": execution.execution_id,
                "status": execution.stage_status(index, at),
            }
        stage_states.append(stage_state)
    return {
        "pipelineName": name,
        "pipelineVersion": pipeline.get("version", 1),
        "stageStates": stage_states,
        "created": metadata["created"],
        "updated": metadata["updated"],
    }


def _action_details(execution: Execution, at: float) -> list[dict[str, Any]]:
    details = []
    for index, (stage_name, runs) in enumerate(execution.stages):
        for run in runs:
            result = _action_result(execution, index, run, at)
            if result is None:
                continue
            declaration = run.declaration
            configuration = _mask({"stages": [{"actions": [declaration]}]})["stages"][0]["actions"][
                0
            ].get("configuration", {})
            execution_result: dict[str, Any] = {}
            if run.external_execution_id:
                execution_result["externalExecutionId"] = run.external_execution_id
            if "errorDetails" in result:
                execution_result["errorDetails"] = result["errorDetails"]
                execution_result["externalExecutionSummary"] = result["summary"]
            details.append(
                {
                    "pipelineExecutionId": execution.execution_id,
                    "actionExecutionId": run.action_execution_id,
                    "pipelineVersion": execution.pipeline_version,
                    "stageName": stage_name,
                    "actionName": declaration["name"],
                    "startTime": execution._window(index)[0],
                    "lastUpdateTime": result["lastStatusChange"],
                    "status": result["status"],
                    "input": {
                        "actionTypeId": declaration["actionTypeId"],
                        "configuration": configuration,
                        "resolvedConfiguration": configuration,
                        "roleArn": declaration.get("roleArn", execution.role_arn),
                        "region": declaration.get("region", execution.region),
                        "inputArtifacts": [
                            {"name": a["name"]} for a in declaration.get("inputArtifacts", [])
                        ],
                    },
                    "output": {
                        "outputArtifacts": [
                            {"name": a["name"]} for a in declaration.get("outputArtifacts", [])
                        ],
                        "executionResult": execution_result,
                        "outputVariables": {},
                    },
                }
            )
    return list(reversed(details))


# --- response methods -------------------------------------------------------------------


def _create_pipeline(original: Any) -> Any:
    def create_pipeline(self: CodePipelineResponse) -> Any:
        body = original(self)
        name = self._get_param("pipeline")["name"]
        start_execution(self.codepipeline_backend, name, "CreatePipeline")
        return _masked_body(body)

    return create_pipeline


def _masked_body(body: Any) -> Any:
    data = copy.deepcopy(unwrap(body))
    if "pipeline" in data:
        data["pipeline"] = _mask(data["pipeline"])
    return rewrap(body, data)


def _masking(original: Any) -> Any:
    def method(self: CodePipelineResponse) -> Any:
        return _masked_body(original(self))

    method.__name__ = original.__name__
    return method


def _delete_pipeline(original: Any) -> Any:
    def delete_pipeline(self: CodePipelineResponse) -> Any:
        result = original(self)
        _executions(self.codepipeline_backend).pop(self._get_param("name"), None)
        return result

    return delete_pipeline


def start_pipeline_execution(self: CodePipelineResponse) -> str:
    execution = start_execution(
        self.codepipeline_backend, self._get_param("name"), "StartPipelineExecution"
    )
    return dumps({"pipelineExecutionId": execution.execution_id})


def get_pipeline_execution(self: CodePipelineResponse) -> str:
    _advance_quietly(self.codepipeline_backend, self._get_param("pipelineName"))
    execution = _find_execution(
        self.codepipeline_backend,
        self._get_param("pipelineName"),
        self._get_param("pipelineExecutionId"),
    )
    return dumps({"pipelineExecution": execution.detail(now())})


def list_pipeline_executions(self: CodePipelineResponse) -> str:
    _advance_quietly(self.codepipeline_backend, self._get_param("pipelineName"))
    backend = self.codepipeline_backend
    name = self._get_param("pipelineName")
    require_pipeline(backend, name)
    at = now()
    summaries = [e.summary(at) for e in _executions(backend).get(name, [])]
    chunk, token = page(summaries, self._get_param("nextToken"), self._get_param("maxResults"))
    out: dict[str, Any] = {"pipelineExecutionSummaries": chunk}
    if token:
        out["nextToken"] = token
    return dumps(out)


def get_pipeline_state(self: CodePipelineResponse) -> str:
    _advance_quietly(self.codepipeline_backend, self._get_param("name"))
    return dumps(_pipeline_state(self.codepipeline_backend, self._get_param("name")))


def list_action_executions(self: CodePipelineResponse) -> str:
    _advance_quietly(self.codepipeline_backend, self._get_param("pipelineName"))
    backend = self.codepipeline_backend
    name = self._get_param("pipelineName")
    require_pipeline(backend, name)
    wanted = (self._get_param("filter") or {}).get("pipelineExecutionId")
    executions = _executions(backend).get(name, [])
    if wanted:
        executions = [_find_execution(backend, name, wanted)]
    at = now()
    details = [d for e in executions for d in _action_details(e, at)]
    chunk, token = page(details, self._get_param("nextToken"), self._get_param("maxResults"))
    out: dict[str, Any] = {"actionExecutionDetails": chunk}
    if token:
        out["nextToken"] = token
    return dumps(out)


def apply() -> None:
    replace(CodePipelineResponse, "create_pipeline", _create_pipeline)
    replace(CodePipelineResponse, "get_pipeline", _masking)
    replace(CodePipelineResponse, "update_pipeline", _masking)
    replace(CodePipelineResponse, "delete_pipeline", _delete_pipeline)
    for fn in (
        start_pipeline_execution,
        get_pipeline_execution,
        list_pipeline_executions,
        get_pipeline_state,
        list_action_executions,
    ):
        add(CodePipelineResponse, fn.__name__, fn)


__all__ = [
    "PIPELINE_SECONDS_ENV",
    "CodePipelineError",
    "Execution",
    "apply",
    "clear_failures",
    "fail_next_execution",
    "require_pipeline",
    "start_execution",
]
