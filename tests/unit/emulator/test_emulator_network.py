"""EC2 DependencyViolation refusals while something still uses a network resource, and ELBv2
idempotent creates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def net(aws: Any) -> dict[str, Any]:
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(["ap-northeast-1a", "ap-northeast-1c"])
    ]
    alb_sg = ec2.create_security_group(GroupName="alb", Description="a", VpcId=vpc)["GroupId"]
    task_sg = ec2.create_security_group(GroupName="task", Description="t", VpcId=vpc)["GroupId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    return {
        "ec2": ec2,
        "vpc": vpc,
        "subnets": subnets,
        "alb_sg": alb_sg,
        "task_sg": task_sg,
        "igw": igw,
    }


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_security_group_referenced_by_another_groups_rule(net: dict[str, Any]) -> None:
    ec2 = net["ec2"]
    from_alb = [
        {
            "IpProtocol": "tcp",
            "FromPort": 80,
            "ToPort": 80,
            "UserIdGroupPairs": [{"GroupId": net["alb_sg"]}],
        }
    ]
    ec2.authorize_security_group_ingress(GroupId=net["task_sg"], IpPermissions=from_alb)
    with pytest.raises(ClientError) as err:
        ec2.delete_security_group(GroupId=net["alb_sg"])
    assert _code(err) == "DependencyViolation"
    assert err.value.response["Error"]["Message"] == (
        f"resource {net['alb_sg']} has a dependent object"
    )
    ec2.revoke_security_group_ingress(GroupId=net["task_sg"], IpPermissions=from_alb)
    ec2.delete_security_group(GroupId=net["alb_sg"])


def test_load_balancer_holds_its_subnets_groups_and_public_addresses(
    aws: Any, net: dict[str, Any]
) -> None:
    ec2, elb = net["ec2"], aws("elbv2")
    arn = elb.create_load_balancer(
        Name="web", Subnets=net["subnets"], SecurityGroups=[net["alb_sg"]]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    refusals: list[Callable[[], Any]] = [
        lambda: ec2.delete_security_group(GroupId=net["alb_sg"]),
        lambda: ec2.delete_subnet(SubnetId=net["subnets"][0]),
        lambda: ec2.detach_internet_gateway(InternetGatewayId=net["igw"], VpcId=net["vpc"]),
    ]
    for refused in refusals:
        with pytest.raises(ClientError) as err:
            refused()
        assert _code(err) == "DependencyViolation"
    elb.delete_load_balancer(LoadBalancerArn=arn)
    ec2.detach_internet_gateway(InternetGatewayId=net["igw"], VpcId=net["vpc"])
    ec2.delete_security_group(GroupId=net["alb_sg"])
    ec2.delete_subnet(SubnetId=net["subnets"][0])


def test_running_service_holds_its_subnets_and_groups(aws: Any, net: dict[str, Any]) -> None:
    ec2, ecs = net["ec2"], aws("ecs")
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx"}],
    )
    ecs.create_service(
        cluster="c",
        serviceName="web",
        taskDefinition="web",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [net["subnets"][1]],
                "securityGroups": [net["task_sg"]],
                "assignPublicIp": "ENABLED",
            }
        },
    )
    refusals: list[Callable[[], Any]] = [
        lambda: ec2.delete_subnet(SubnetId=net["subnets"][1]),
        lambda: ec2.delete_security_group(GroupId=net["task_sg"]),
        lambda: ec2.detach_internet_gateway(InternetGatewayId=net["igw"], VpcId=net["vpc"]),
    ]
    for refused in refusals:
        with pytest.raises(ClientError) as err:
            refused()
        assert _code(err) == "DependencyViolation"
    ecs.delete_service(cluster="c", service="web", force=True)
    ec2.delete_subnet(SubnetId=net["subnets"][1])
    ec2.delete_security_group(GroupId=net["task_sg"])


def test_create_load_balancer_and_target_group_are_idempotent(
    aws: Any, net: dict[str, Any]
) -> None:
    elb = aws("elbv2")
    first = elb.create_load_balancer(Name="web", Subnets=net["subnets"])["LoadBalancers"][0]
    again = elb.create_load_balancer(Name="web", Subnets=net["subnets"])["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == first["LoadBalancerArn"]
    assert len(elb.describe_load_balancers()["LoadBalancers"]) == 1
    with pytest.raises(ClientError) as err:
        elb.create_load_balancer(Name="web", Subnets=net["subnets"], Scheme="internal")
    assert _code(err) == "DuplicateLoadBalancerName"

    def group(port: int) -> Any:
        return elb.create_target_group(
            Name="web", Protocol="HTTP", Port=port, VpcId=net["vpc"], TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]

    assert group(80) == group(80)
    with pytest.raises(ClientError) as err:
        group(8080)
    assert _code(err) == "DuplicateTargetGroupName"


def test_a_listener_modified_to_forward_attaches_its_target_groups(
    aws: Any, net: dict[str, Any]
) -> None:
    """ModifyListener attaches what its default action forwards to (weighted groups, weight 0
    too) and detaches what it no longer does; DeleteListener detaches."""
    elb = aws("elbv2")
    lb = elb.create_load_balancer(Name="web", Subnets=net["subnets"])["LoadBalancers"][0][
        "LoadBalancerArn"
    ]

    def group(name: str) -> str:
        return str(
            elb.create_target_group(
                Name=name, Protocol="HTTP", Port=80, VpcId=net["vpc"], TargetType="ip"
            )["TargetGroups"][0]["TargetGroupArn"]
        )

    def attached(arn: str) -> list[str]:
        tg = elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
        return list(tg["LoadBalancerArns"])

    main, blue = group("main"), group("blue")
    listener = elb.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": main}],
    )["Listeners"][0]["ListenerArn"]
    assert (attached(main), attached(blue)) == ([lb], [])

    weighted = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": main, "Weight": 1},
                {"TargetGroupArn": blue, "Weight": 0},
            ]
        },
    }
    elb.modify_listener(ListenerArn=listener, DefaultActions=[weighted])
    assert (attached(main), attached(blue)) == ([lb], [lb])
    [action] = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"]
    assert action["ForwardConfig"]["TargetGroups"] == weighted["ForwardConfig"]["TargetGroups"]

    elb.modify_listener(
        ListenerArn=listener, DefaultActions=[{"Type": "forward", "TargetGroupArn": blue}]
    )
    assert (attached(main), attached(blue)) == ([], [lb])
    elb.delete_target_group(TargetGroupArn=main)  # no longer in use

    elb.delete_listener(ListenerArn=listener)
    assert attached(blue) == []
