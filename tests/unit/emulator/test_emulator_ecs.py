"""ECS: services reach steady state like on AWS, and AWS's refusals."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.unit.emulator.emulator_helpers import call_checked, web_cluster


@pytest.fixture
def ecs(aws: Any) -> Any:
    client = web_cluster(aws("ecs"))
    return client


@pytest.fixture
def network(aws: Any) -> dict[str, Any]:
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="task", Description="t", VpcId=vpc)["GroupId"]
    return {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}


def _create(ecs: Any, network: dict[str, Any], **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "cluster": "c",
        "serviceName": "web",
        "taskDefinition": "web:1",
        "desiredCount": 2,
        "launchType": "FARGATE",
        "networkConfiguration": network,
    }
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    return call_checked(ecs, "create_service", **params)["service"]


def _describe(ecs: Any) -> Any:
    return call_checked(ecs, "describe_services", cluster="c", services=["web"])["services"][0]


def _assert_steady(service: Any, taskdef_revision: int) -> None:
    assert service["runningCount"] == service["desiredCount"]
    assert service["pendingCount"] == 0
    [deployment] = service["deployments"]
    assert deployment["status"] == "PRIMARY"
    assert deployment["rolloutState"] == "COMPLETED"
    assert deployment["runningCount"] == deployment["desiredCount"] == service["desiredCount"]
    assert deployment["taskDefinition"].endswith(f":task-definition/web:{taskdef_revision}")
    assert service["taskDefinition"] == deployment["taskDefinition"]


def test_new_service_is_steady(ecs: Any, network: dict[str, Any]) -> None:
    created = _create(ecs, network)
    _assert_steady(created, 1)
    _assert_steady(_describe(ecs), 1)
    assert "has reached a steady state" in _describe(ecs)["events"][0]["message"]


def test_create_service_returns_what_it_was_given(ecs: Any, network: dict[str, Any]) -> None:
    created = _create(
        ecs,
        network,
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "minimumHealthyPercent": 50,
        },
        healthCheckGracePeriodSeconds=60,
        enableExecuteCommand=True,
        propagateTags="SERVICE",
    )
    assert created["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 50,
    }
    assert created["healthCheckGracePeriodSeconds"] == 60
    assert created["enableExecuteCommand"] is True
    assert created["platformVersion"] == "LATEST"
    described = _describe(ecs)
    assert described["deploymentConfiguration"] == created["deploymentConfiguration"]
    assert described["enableExecuteCommand"] is True
    assert "createdAt" in described


def test_desired_count_change_keeps_the_deployment(ecs: Any, network: dict[str, Any]) -> None:
    first = _create(ecs, network)["deployments"][0]["id"]
    updated = call_checked(ecs, "update_service", cluster="c", service="web", desiredCount=5)[
        "service"
    ]
    _assert_steady(updated, 1)
    assert updated["runningCount"] == 5
    assert _describe(ecs)["deployments"][0]["id"] == first


def test_new_task_definition_makes_one_new_completed_deployment(
    ecs: Any, network: dict[str, Any]
) -> None:
    first = _create(ecs, network)["deployments"][0]["id"]
    ecs.update_service(cluster="c", service="web", taskDefinition="web:2")
    described = _describe(ecs)
    _assert_steady(described, 2)
    assert described["deployments"][0]["id"] != first
    # A bare family resolves to the latest revision, and is reported as the full ARN.
    ecs.update_service(cluster="c", service="web", taskDefinition="web")
    assert _describe(ecs)["taskDefinition"].startswith("arn:aws:ecs:")


def test_force_new_deployment_replaces_the_deployment(ecs: Any, network: dict[str, Any]) -> None:
    first = _create(ecs, network)["deployments"][0]["id"]
    ecs.update_service(cluster="c", service="web", forceNewDeployment=True)
    described = _describe(ecs)
    _assert_steady(described, 1)
    assert described["deployments"][0]["id"] != first


def test_delete_service_refused_while_scaled_above_zero(ecs: Any, network: dict[str, Any]) -> None:
    _create(ecs, network)
    with pytest.raises(ClientError) as err:
        ecs.delete_service(cluster="c", service="web")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert err.value.response["Error"]["Message"] == (
        "The service cannot be stopped while it is scaled above 0."
    )
    ecs.update_service(cluster="c", service="web", desiredCount=0)
    deleted = ecs.delete_service(cluster="c", service="web")["service"]
    assert deleted["status"] == "INACTIVE"
    assert ecs.list_services(cluster="c")["serviceArns"] == []


def test_delete_service_with_force(ecs: Any, network: dict[str, Any]) -> None:
    _create(ecs, network)
    deleted = ecs.delete_service(cluster="c", service="web", force=True)["service"]
    assert (deleted["status"], deleted["runningCount"]) == ("INACTIVE", 0)
    with pytest.raises(ClientError) as err:
        ecs.update_service(cluster="c", service="web", desiredCount=1)
    assert err.value.response["Error"]["Code"] == "ServiceNotActiveException"
    # A deleted (INACTIVE) name can be used again.
    _assert_steady(_create(ecs, network), 1)


def test_second_active_service_of_the_same_name_is_refused(
    ecs: Any, network: dict[str, Any]
) -> None:
    _create(ecs, network)
    with pytest.raises(ClientError) as err:
        _create(ecs, network, desiredCount=1)
    assert err.value.response["Error"]["Message"] == "Creation of service was not idempotent."
    assert _describe(ecs)["desiredCount"] == 2


def test_target_group_without_a_load_balancer_is_refused(
    aws: Any, ecs: Any, network: dict[str, Any]
) -> None:
    elb = aws("elbv2")
    ec2 = aws("ec2")
    subnet = network["awsvpcConfiguration"]["subnets"][0]
    vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
    other = ec2.create_subnet(
        VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="ap-northeast-1c"
    )
    tg = elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    balancers = [{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}]
    with pytest.raises(ClientError) as err:
        _create(ecs, network, loadBalancers=balancers)
    assert err.value.response["Error"]["Message"] == (
        f"The target group with targetGroupArn {tg} does not have an associated load balancer."
    )
    lb = elb.create_load_balancer(Name="web", Subnets=[subnet, other["Subnet"]["SubnetId"]])
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancers"][0]["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    assert _create(ecs, network, loadBalancers=balancers)["loadBalancers"] == balancers


def test_running_tasks_are_healthy_targets_of_the_target_group(
    aws: Any, ecs: Any, network: dict[str, Any]
) -> None:
    elb, ec2 = aws("elbv2"), aws("ec2")
    subnet = network["awsvpcConfiguration"]["subnets"][0]
    vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    tg = elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    lb = elb.create_load_balancer(Name="web", Subnets=[subnet, other])["LoadBalancers"][0]
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )

    def healthy() -> list[tuple[int, str]]:
        found = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        return [(t["Target"]["Port"], t["TargetHealth"]["State"]) for t in found]

    balancers = [{"targetGroupArn": tg, "containerName": "app", "containerPort": 8000}]
    _create(ecs, network, loadBalancers=balancers)
    assert healthy() == [(8000, "healthy")] * 2
    ecs.update_service(cluster="c", service="web", desiredCount=1)
    assert healthy() == [(8000, "healthy")]
    ecs.update_service(cluster="c", service="web", desiredCount=0)
    ecs.delete_service(cluster="c", service="web")
    assert healthy() == []


def test_code_deploy_services_have_no_deployments_but_run(
    ecs: Any, network: dict[str, Any]
) -> None:
    created = _create(ecs, network, deploymentController={"type": "CODE_DEPLOY"})
    assert created["deployments"] == []
    assert created["runningCount"] == created["desiredCount"] == 2
    assert "deploymentCircuitBreaker" not in created["deploymentConfiguration"]


def test_capacity_provider_strategy_instead_of_launch_type(
    ecs: Any, network: dict[str, Any]
) -> None:
    strategy = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    created = _create(ecs, network, launchType=None, capacityProviderStrategy=strategy)
    assert "launchType" not in created
    assert created["capacityProviderStrategy"] == strategy
    assert created["platformVersion"] == "LATEST"
    assert created["deployments"][0]["capacityProviderStrategy"] == strategy


def test_delete_cluster_refused_while_services_are_active(
    ecs: Any, network: dict[str, Any]
) -> None:
    _create(ecs, network)
    with pytest.raises(ClientError) as err:
        ecs.delete_cluster(cluster="c")
    assert err.value.response["Error"]["Code"] == "ClusterContainsServicesException"
    [cluster] = ecs.describe_clusters(clusters=["c"])["clusters"]
    assert cluster["activeServicesCount"] == 1
    ecs.delete_service(cluster="c", service="web", force=True)
    assert ecs.delete_cluster(cluster="c")["cluster"]["status"] == "INACTIVE"


def test_update_cluster_settings(ecs: Any) -> None:
    cluster = call_checked(
        ecs,
        "update_cluster_settings",
        cluster="c",
        settings=[{"name": "containerInsights", "value": "enabled"}],
    )["cluster"]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    [described] = ecs.describe_clusters(clusters=["c"], include=["SETTINGS"])["clusters"]
    assert described["settings"] == [{"name": "containerInsights", "value": "enabled"}]
