"""CodeDeploy: the deletes and updates moto lacks, and ECS blue/green deployments that finish.

* DeleteApplication (also deletes its deployment groups) and DeleteDeploymentGroup; both
  succeed for names AWS does not know, as AWS does.
* UpdateDeploymentGroup (rename, and replace any given field).
* CreateDeploymentGroup / UpdateDeploymentGroup check the service role (must exist and trust
  ``codedeploy.amazonaws.com``: AWS's ``InvalidRoleException`` "Cannot assume role provided.");
  for ECS applications the default config is ``CodeDeployDefault.ECSAllAtOnce``.
* CreateDeployment on an ECS deployment group succeeds at once: status ``Succeeded`` with
  start/complete times, the group's lastAttempted/lastSuccessfulDeployment filled in, and the
  ECS service switched to the appspec's task definition (what a finished blue/green does).
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from moto.codedeploy.exceptions import (
    ApplicationDoesNotExistException,
    DeploymentGroupAlreadyExistsException,
    DeploymentGroupDoesNotExistException,
)
from moto.codedeploy.models import CodeDeployBackend, DeploymentGroup, DeploymentInfo
from moto.codedeploy.responses import CodeDeployResponse
from moto.core.exceptions import JsonRESTError
from moto.core.utils import iso_8601_datetime_with_milliseconds
from moto.ecs.models import ecs_backends
from moto.iam.models import iam_backends

from ecs_cicd.emulator._util import add, dumps, replace, rewrap, unwrap

ECS_DEFAULT_CONFIG = "CodeDeployDefault.ECSAllAtOnce"


class _Error(JsonRESTError):
    code = 400

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(error_type, message)


def _check_role(account_id: str, role_arn: str | None) -> None:
    iam = iam_backends[account_id]["aws"]
    role = next((r for r in iam.roles.values() if r.arn == role_arn), None)
    if role is None or "codedeploy.amazonaws.com" not in role.assume_role_policy_document:
        raise _Error("InvalidRoleException", "Cannot assume role provided.")


def _app_arn(backend: CodeDeployBackend, name: str) -> str:
    return f"arn:aws:codedeploy:{backend.region_name}:{backend.account_id}:application:{name}"


def _group_arn(backend: CodeDeployBackend, app: str, group: str) -> str:
    return (
        f"arn:aws:codedeploy:{backend.region_name}:{backend.account_id}"
        f":deploymentgroup:{app}/{group}"
    )


def _create_deployment_group(original: Any) -> Any:
    def create_deployment_group(self: CodeDeployResponse) -> Any:
        _check_role(self.current_account, self._get_param("serviceRoleArn"))
        body = original(self)
        backend = self.codedeploy_backend
        app = backend.applications[self._get_param("applicationName")]
        group = backend.deployment_groups[app.application_name][
            self._get_param("deploymentGroupName")
        ]
        if app.compute_platform == "ECS" and not self._get_param("deploymentConfigName"):
            group.deployment_config_name = ECS_DEFAULT_CONFIG
        return body

    return create_deployment_group


# UpdateDeploymentGroup parameter -> DeploymentGroup attribute it replaces.
_GROUP_FIELDS = {
    "deploymentConfigName": "deployment_config_name",
    "ec2TagFilters": "ec2_tag_filters",
    "onPremisesInstanceTagFilters": "on_premises_instance_tag_filters",
    "autoScalingGroups": "auto_scaling_groups",
    "serviceRoleArn": "service_role_arn",
    "triggerConfigurations": "trigger_configurations",
    "alarmConfiguration": "alarm_configuration",
    "autoRollbackConfiguration": "auto_rollback_configuration",
    "outdatedInstancesStrategy": "outdated_instances_strategy",
    "deploymentStyle": "deployment_style",
    "blueGreenDeploymentConfiguration": "blue_green_deployment_configuration",
    "loadBalancerInfo": "load_balancer_info",
    "ec2TagSet": "ec2_tag_set",
    "ecsServices": "ecs_services",
    "onPremisesTagSet": "on_premises_tag_set",
    "terminationHookEnabled": "termination_hook_enabled",
}


def update_deployment_group(self: CodeDeployResponse) -> str:
    backend: CodeDeployBackend = self.codedeploy_backend
    app_name = self._get_param("applicationName")
    current = self._get_param("currentDeploymentGroupName")
    group = backend.get_deployment_group(app_name, current)
    if self._get_param("serviceRoleArn") is not None:
        _check_role(self.current_account, self._get_param("serviceRoleArn"))
    for param, attr in _GROUP_FIELDS.items():
        value = self._get_param(param)
        if value is not None:
            setattr(group, attr, value)
    new_name = self._get_param("newDeploymentGroupName")
    if new_name and new_name != current:
        groups = backend.deployment_groups[app_name]
        if new_name in groups:
            raise DeploymentGroupAlreadyExistsException(
                f"Deployment group {new_name} already exists."
            )
        groups[new_name] = groups.pop(current)
        group.deployment_group_name = new_name
        backend.tagger.copy_tags(
            _group_arn(backend, app_name, current), _group_arn(backend, app_name, new_name)
        )
        backend.tagger.delete_all_tags_for_resource(_group_arn(backend, app_name, current))
    return dumps({"hooksNotCleanedUp": []})


def delete_deployment_group(self: CodeDeployResponse) -> str:
    backend: CodeDeployBackend = self.codedeploy_backend
    app_name = self._get_param("applicationName")
    name = self._get_param("deploymentGroupName")
    if backend.deployment_groups.get(app_name, {}).pop(name, None) is not None:
        backend.tagger.delete_all_tags_for_resource(_group_arn(backend, app_name, name))
    return dumps({"hooksNotCleanedUp": []})


def delete_application(self: CodeDeployResponse) -> str:
    backend: CodeDeployBackend = self.codedeploy_backend
    name = self._get_param("applicationName")
    if backend.applications.pop(name, None) is not None:
        for group in backend.deployment_groups.pop(name, {}):
            backend.tagger.delete_all_tags_for_resource(_group_arn(backend, name, group))
        backend.tagger.delete_all_tags_for_resource(_app_arn(backend, name))
    return "{}"


def _appspec_task_definition(revision: dict[str, Any] | None) -> str | None:
    """The TaskDefinition named by an ECS appspec revision, if any."""
    revision = revision or {}
    content = (revision.get("appSpecContent") or revision.get("string") or {}).get("content")
    if not content:
        return None
    try:
        spec = yaml.safe_load(content)
        resources = spec.get("Resources") or []
        target = resources[0]["TargetService"]["Properties"]["TaskDefinition"]
    except (yaml.YAMLError, AttributeError, IndexError, KeyError, TypeError):
        return None
    return str(target)


def _switch_service(account_id: str, region: str, group: DeploymentGroup, taskdef: str) -> None:
    """Point the group's ECS services at the deployed task definition."""
    backend = ecs_backends[account_id][region]
    for mapping in group.ecs_services:
        service = backend.services.get(f"{mapping.get('clusterName')}:{mapping.get('serviceName')}")
        if service is None:
            continue
        try:
            service.task_definition = backend.describe_task_definition(taskdef).arn
        except Exception:  # an unknown task definition fails on AWS too; leave the service
            continue


def _create_deployment(original: Any) -> Any:
    def create_deployment(self: CodeDeployResponse) -> Any:
        answer = original(self)
        body = unwrap(answer)
        backend: CodeDeployBackend = self.codedeploy_backend
        deployment: DeploymentInfo = backend.deployments[body["deploymentId"]]
        group = deployment.deployment_group
        if deployment.application.compute_platform == "ECS":
            stamp = iso_8601_datetime_with_milliseconds()
            deployment.status = "Succeeded"
            deployment.start_time = stamp  # type: ignore[assignment]
            deployment.complete_time = stamp  # type: ignore[assignment]
            taskdef = _appspec_task_definition(self._get_param("revision"))
            if taskdef:
                _switch_service(self.current_account, self.region, group, taskdef)
        last = {
            "deploymentId": deployment.deployment_id,
            "status": deployment.status,
            "createTime": deployment.create_time,
        }
        if deployment.complete_time:
            last["endTime"] = deployment.complete_time
        group.__dict__["_ecs_cicd_last_attempted"] = last
        if deployment.status == "Succeeded":
            group.__dict__["_ecs_cicd_last_successful"] = last
        group.__dict__["_ecs_cicd_target_revision"] = self._get_param("revision")
        return rewrap(answer, body)

    return create_deployment


def _get_deployment_group(original: Any) -> Any:
    def get_deployment_group(self: CodeDeployResponse) -> Any:
        answer = original(self)
        body = copy.deepcopy(unwrap(answer))
        group = self.codedeploy_backend.get_deployment_group(
            self._get_param("applicationName"), self._get_param("deploymentGroupName")
        )
        info = body["deploymentGroupInfo"]
        info["lastAttemptedDeployment"] = group.__dict__.get("_ecs_cicd_last_attempted", {})
        info["lastSuccessfulDeployment"] = group.__dict__.get("_ecs_cicd_last_successful", {})
        info["targetRevision"] = group.__dict__.get("_ecs_cicd_target_revision") or {}
        return rewrap(answer, body)

    return get_deployment_group


def apply() -> None:
    replace(CodeDeployResponse, "create_deployment_group", _create_deployment_group)
    replace(CodeDeployResponse, "create_deployment", _create_deployment)
    replace(CodeDeployResponse, "get_deployment_group", _get_deployment_group)
    add(CodeDeployResponse, "update_deployment_group", update_deployment_group)
    add(CodeDeployResponse, "delete_deployment_group", delete_deployment_group)
    add(CodeDeployResponse, "delete_application", delete_application)


__all__ = [
    "ECS_DEFAULT_CONFIG",
    "ApplicationDoesNotExistException",
    "DeploymentGroupDoesNotExistException",
    "apply",
]
