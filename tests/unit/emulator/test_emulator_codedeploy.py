"""CodeDeploy: ECS blue/green deployment groups, deployments that finish, updates and deletes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.unit.emulator.emulator_helpers import call_checked, make_role

LISTENER = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener/app/a/1/2"
GROUP = {
    "applicationName": "shop-dev",
    "deploymentGroupName": "shop-dev",
    "ecsServices": [{"clusterName": "shop-dev", "serviceName": "shop"}],
    "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    "blueGreenDeploymentConfiguration": {
        "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
        "terminateBlueInstancesOnDeploymentSuccess": {
            "action": "TERMINATE",
            "terminationWaitTimeInMinutes": 5,
        },
    },
    "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
    "loadBalancerInfo": {
        "targetGroupPairInfoList": [
            {
                "targetGroups": [{"name": "shop-dev-blue"}, {"name": "shop-dev-green"}],
                "prodTrafficRoute": {"listenerArns": [LISTENER]},
            }
        ]
    },
}


@pytest.fixture
def cd(aws: Any) -> Any:
    client = aws("codedeploy")
    client.create_application(applicationName="shop-dev", computePlatform="ECS")
    return client


@pytest.fixture
def role(aws: Any) -> str:
    return make_role(aws("iam"), "cd-role", "codedeploy.amazonaws.com")


def test_blue_green_group_round_trips(cd: Any, role: str) -> None:
    cd.create_deployment_group(serviceRoleArn=role, **GROUP)
    info = call_checked(
        cd, "get_deployment_group", applicationName="shop-dev", deploymentGroupName="shop-dev"
    )["deploymentGroupInfo"]
    for key in (
        "ecsServices",
        "deploymentStyle",
        "blueGreenDeploymentConfiguration",
        "autoRollbackConfiguration",
        "loadBalancerInfo",
    ):
        assert info[key] == GROUP[key], key
    assert info["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"  # ECS default
    assert info["computePlatform"] == "ECS"


def test_group_with_a_role_codedeploy_cannot_assume_is_refused(aws: Any, cd: Any) -> None:
    wrong = make_role(aws("iam"), "wrong", "ecs-tasks.amazonaws.com")
    with pytest.raises(ClientError) as err:
        cd.create_deployment_group(serviceRoleArn=wrong, **GROUP)
    assert err.value.response["Error"]["Code"] == "InvalidRoleException"
    assert err.value.response["Error"]["Message"] == "Cannot assume role provided."


def test_update_deployment_group_changes_and_renames(cd: Any, role: str) -> None:
    cd.create_deployment_group(serviceRoleArn=role, **GROUP)
    call_checked(
        cd,
        "update_deployment_group",
        applicationName="shop-dev",
        currentDeploymentGroupName="shop-dev",
        newDeploymentGroupName="shop-dev-2",
        deploymentConfigName="CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        autoRollbackConfiguration={"enabled": False},
    )
    info = cd.get_deployment_group(applicationName="shop-dev", deploymentGroupName="shop-dev-2")[
        "deploymentGroupInfo"
    ]
    assert info["deploymentConfigName"] == "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    assert info["autoRollbackConfiguration"] == {"enabled": False}
    assert info["loadBalancerInfo"] == GROUP["loadBalancerInfo"]
    with pytest.raises(ClientError) as err:
        cd.get_deployment_group(applicationName="shop-dev", deploymentGroupName="shop-dev")
    assert err.value.response["Error"]["Code"] == "DeploymentGroupDoesNotExistException"
    with pytest.raises(ClientError) as err:
        cd.update_deployment_group(
            applicationName="shop-dev", currentDeploymentGroupName="nope", deploymentConfigName="x"
        )
    assert err.value.response["Error"]["Code"] == "DeploymentGroupDoesNotExistException"


def test_deletes_succeed_and_are_tolerant_like_aws(cd: Any, role: str) -> None:
    cd.create_deployment_group(serviceRoleArn=role, **GROUP)
    assert (
        call_checked(
            cd,
            "delete_deployment_group",
            applicationName="shop-dev",
            deploymentGroupName="shop-dev",
        )["hooksNotCleanedUp"]
        == []
    )
    assert cd.list_deployment_groups(applicationName="shop-dev")["deploymentGroups"] == []
    cd.delete_deployment_group(applicationName="shop-dev", deploymentGroupName="shop-dev")
    cd.create_deployment_group(serviceRoleArn=role, **GROUP)
    cd.delete_application(applicationName="shop-dev")
    assert cd.list_applications()["applications"] == []
    with pytest.raises(ClientError) as err:
        cd.get_application(applicationName="shop-dev")
    assert err.value.response["Error"]["Code"] == "ApplicationDoesNotExistException"
    cd.delete_application(applicationName="shop-dev")  # unknown: success
    # Re-creating after a delete starts clean (no leftover groups).
    cd.create_application(applicationName="shop-dev", computePlatform="ECS")
    assert cd.list_deployment_groups(applicationName="shop-dev")["deploymentGroups"] == []


def _ecs_service(aws: Any) -> tuple[Any, str]:
    ecs = aws("ecs")
    ecs.create_cluster(clusterName="shop-dev")
    first = ecs.register_task_definition(
        family="shop", containerDefinitions=[{"name": "app", "image": "nginx:1", "memory": 512}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="shop-dev",
        serviceName="shop",
        taskDefinition=first,
        desiredCount=1,
        deploymentController={"type": "CODE_DEPLOY"},
    )
    second = ecs.register_task_definition(
        family="shop", containerDefinitions=[{"name": "app", "image": "nginx:2", "memory": 512}]
    )["taskDefinition"]["taskDefinitionArn"]
    return ecs, second


def test_ecs_deployment_succeeds_and_switches_the_service(aws: Any, cd: Any, role: str) -> None:
    ecs, new_taskdef = _ecs_service(aws)
    cd.create_deployment_group(serviceRoleArn=role, **GROUP)
    appspec = {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": new_taskdef,
                        "LoadBalancerInfo": {"ContainerName": "app", "ContainerPort": 80},
                    },
                }
            }
        ],
    }
    deployment_id = cd.create_deployment(
        applicationName="shop-dev",
        deploymentGroupName="shop-dev",
        revision={
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": json.dumps(appspec)},
        },
    )["deploymentId"]
    info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["status"] == "Succeeded"
    assert info["completeTime"] >= info["createTime"]
    group = cd.get_deployment_group(applicationName="shop-dev", deploymentGroupName="shop-dev")[
        "deploymentGroupInfo"
    ]
    assert group["lastSuccessfulDeployment"]["deploymentId"] == deployment_id
    assert group["lastAttemptedDeployment"]["status"] == "Succeeded"
    [service] = ecs.describe_services(cluster="shop-dev", services=["shop"])["services"]
    assert service["taskDefinition"] == new_taskdef
    assert service["runningCount"] == service["desiredCount"] == 1
    assert service["deployments"] == []  # CODE_DEPLOY services report no ECS deployments
