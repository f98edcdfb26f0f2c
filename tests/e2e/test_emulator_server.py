"""The emulator as an HTTP server: call log, fault injection, targeted errors, crash hook.

Everything here talks to 127.0.0.1 only. The control plane is test machinery, off unless the
server is started with ``control=True`` (as these tests do; one test checks that it is off
otherwise).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ecs_cicd.emulator import EmulatorServer
from ecs_cicd.emulator.client import (
    ControlPlaneError,
    clear_crash,
    clear_faults,
    clear_injections,
    crash_after,
    fetch_calls,
    inject_error,
    mutating_calls,
    reset_calls,
    set_faults,
)
from tests.unit.emulator.emulator_helpers import (
    create_project,
    make_role,
    trust_policy,
    two_stage_pipeline,
)

pytestmark = pytest.mark.e2e

REGION = "ap-northeast-1"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(control=True) as emulator:
        yield emulator


@pytest.fixture
def endpoint(server: EmulatorServer) -> Iterator[str]:
    url = server.endpoint_url
    request = urllib.request.Request(f"{url}/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    reset_calls(url)
    yield url
    clear_faults(url)
    clear_injections(url)
    clear_crash(url)


def client(endpoint: str, service: str, attempts: int = 1) -> Any:
    config = Config(retries={"mode": "standard", "max_attempts": attempts}, connect_timeout=5)
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def test_binds_loopback_and_picks_a_free_port(server: EmulatorServer) -> None:
    assert server.endpoint_url.startswith("http://127.0.0.1:")
    assert not server.endpoint_url.endswith(":0")


def test_call_log_classifies_every_protocol(endpoint: str) -> None:
    client(endpoint, "sts").get_caller_identity()
    ec2 = client(endpoint, "ec2")
    ec2.create_vpc(CidrBlock="10.0.0.0/16")
    ec2.describe_vpcs()
    client(endpoint, "ecs").list_clusters()
    s3 = client(endpoint, "s3")
    s3.create_bucket(Bucket="art", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.head_bucket(Bucket="art")
    client(endpoint, "elbv2").describe_load_balancers()
    client(endpoint, "logs").create_log_group(logGroupName="/x")
    calls = fetch_calls(endpoint)
    assert [(c["service"], c["action"], c["mutating"]) for c in calls] == [
        ("sts", "GetCallerIdentity", False),
        ("ec2", "CreateVpc", True),
        ("ec2", "DescribeVpcs", False),
        ("ecs", "ListClusters", False),
        ("s3", "CreateBucket", True),
        ("s3", "HeadBucket", False),
        ("elbv2", "DescribeLoadBalancers", False),
        ("logs", "CreateLogGroup", True),
    ]
    assert [c["action"] for c in mutating_calls(endpoint)] == [
        "CreateVpc",
        "CreateBucket",
        "CreateLogGroup",
    ]
    reset_calls(endpoint)
    assert fetch_calls(endpoint) == []


def test_patches_apply_in_the_server(endpoint: str) -> None:
    iam = client(endpoint, "iam")
    role = make_role(iam, "cp", "codepipeline.amazonaws.com")
    cp = client(endpoint, "codepipeline")
    cp.create_pipeline(pipeline=two_stage_pipeline(role))
    [summary] = cp.list_pipeline_executions(pipelineName="p")["pipelineExecutionSummaries"]
    assert summary["status"] == "Succeeded"
    # AWS managed policies are loaded in the server.
    policy = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    assert iam.get_policy(PolicyArn=policy)["Policy"]["Arn"] == policy


def _fifty_calls(endpoint: str, attempts: int) -> tuple[int, list[str]]:
    """50 read calls spread over every protocol; returns (succeeded, error codes of failures)."""
    reads: list[Any] = [
        client(endpoint, "sts", attempts).get_caller_identity,
        client(endpoint, "ecs", attempts).list_clusters,
        client(endpoint, "logs", attempts).describe_log_groups,
        client(endpoint, "iam", attempts).list_roles,
        client(endpoint, "ec2", attempts).describe_vpcs,
        client(endpoint, "s3", attempts).list_buckets,
    ]
    ok, failures = 0, []
    for i in range(50):
        try:
            reads[i % len(reads)]()
            ok += 1
        except ClientError as err:
            failures.append(str(err.response["Error"]["Code"]))
    return ok, failures


def test_standard_retries_absorb_a_15_percent_fault_rate(endpoint: str) -> None:
    set_faults(endpoint, 0.15, seed=1, codes=["ThrottlingException", "ServiceUnavailable"])
    ok, failures = _fifty_calls(endpoint, attempts=10)
    assert (ok, failures) == (50, [])
    faulted = [c for c in fetch_calls(endpoint) if c["error"]]
    assert faulted, "no fault was injected"
    assert {c["error"] for c in faulted} <= {
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "Unavailable",
    }


def test_without_retries_faults_surface(endpoint: str) -> None:
    set_faults(endpoint, 0.15, seed=1, codes=["ThrottlingException", "ServiceUnavailable"])
    ok, failures = _fifty_calls(endpoint, attempts=1)
    assert failures and ok == 50 - len(failures)
    clear_faults(endpoint)
    assert _fifty_calls(endpoint, attempts=1) == (50, [])


def test_targeted_injection_answers_the_next_calls_then_stops(endpoint: str) -> None:
    role = make_role(client(endpoint, "iam"), "cb", "codebuild.amazonaws.com")
    message = f"CodeBuild is not authorized to perform: sts:AssumeRole on {role}"
    inject_error(endpoint, "codebuild", "CreateProject", "InvalidInputException", message, times=2)
    codebuild = client(endpoint, "codebuild")

    def create() -> Any:
        return create_project(codebuild, role, name="shop")

    for _ in range(2):
        with pytest.raises(ClientError) as err:
            create()
        assert err.value.response["Error"] == {"Code": "InvalidInputException", "Message": message}
    assert create()["project"]["name"] == "shop"
    # The injected calls never reached moto: exactly one project exists.
    assert len(codebuild.list_projects()["projects"]) == 1


def test_crash_hook_kills_after_the_kth_mutating_call(endpoint: str) -> None:
    victim = subprocess.Popen(["sleep", "60"])
    try:
        crash_after(endpoint, 2, victim.pid)
        logs = client(endpoint, "logs")
        logs.create_log_group(logGroupName="/one")
        logs.describe_log_groups()
        assert victim.poll() is None  # one mutating call so far
        logs.create_log_group(logGroupName="/two")
        assert victim.wait(timeout=10) == -signal.SIGKILL
        # The call that triggered the kill was carried out by moto first.
        names = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
        assert names == ["/one", "/two"]
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()


def test_crash_hook_refuses_a_process_the_emulator_did_not_start(endpoint: str) -> None:
    # Our parent (the shell that ran pytest) is not a child of the emulator's process.
    with pytest.raises(ControlPlaneError) as err:
        crash_after(endpoint, 1, os.getppid())
    assert err.value.status == 403
    client(endpoint, "logs").create_log_group(logGroupName="/still-here")
    assert [c["action"] for c in mutating_calls(endpoint)] == ["CreateLogGroup"]


def test_control_plane_is_off_unless_asked_for() -> None:
    with EmulatorServer() as plain:
        url = plain.endpoint_url
        for method, route in [("GET", "/health"), ("GET", "/calls"), ("POST", "/faults")]:
            request = urllib.request.Request(f"{url}/_ecs_cicd{route}", data=None, method=method)
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(request, timeout=10)
            assert err.value.code == 404
            err.value.close()
        with pytest.raises(ControlPlaneError) as refused:
            crash_after(url, 1, os.getpid())
        assert refused.value.status == 404
        # The emulator itself still answers AWS calls.
        assert client(url, "sts").get_caller_identity()["Account"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_blocks_until_interrupted(stop: signal.Signals) -> None:
    port = _free_port()
    # Started with SIGINT ignored, as a background job of a non-interactive shell is.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        f"from ecs_cicd.emulator import serve; serve(port={port}, control=True)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/_ecs_cicd/health", timeout=2
                ) as response:
                    assert json.loads(response.read()) == {"ok": True}
                    break
            except OSError:
                assert process.poll() is None, "serve() exited early"
                assert time.monotonic() < deadline, "serve() never answered"
                time.sleep(0.2)
        process.send_signal(stop)
        assert process.wait(timeout=60) == 0
        assert f"http://127.0.0.1:{port}" in (process.stdout.read() if process.stdout else "")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_every_call_the_tool_makes_is_answered(endpoint: str) -> None:
    """One pass over the calls the tool makes, up and down, through the HTTP server.

    Guards against moto upgrades that drop or change something (moto 5.2.x changed how several
    of these services serialize between patch releases).
    """
    c = {s: client(endpoint, s) for s in ("sts", "ec2", "elbv2", "ecr", "iam", "logs", "ecs")}
    c |= {s: client(endpoint, s) for s in ("s3", "codebuild", "codepipeline", "codedeploy")}
    c["tagging"] = client(endpoint, "resourcegroupstaggingapi")
    tags = [{"Key": "ecs-cicd:stack", "Value": "shop-dev"}]
    lower = [{"key": "ecs-cicd:stack", "value": "shop-dev"}]
    ec2, elb, ecs, s3, iam = c["ec2"], c["elbv2"], c["ecs"], c["s3"], c["iam"]

    def spec(kind: str) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": tags}]

    assert c["sts"].get_caller_identity()["Account"] == "123456789012"
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=spec("vpc"))["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.0.{i}.0/24",
            AvailabilityZone=zone,
            TagSpecifications=spec("subnet"),
        )["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]
    ec2.modify_subnet_attribute(SubnetId=subnets[0], MapPublicIpOnLaunch={"Value": True})
    igw = ec2.create_internet_gateway(TagSpecifications=spec("internet-gateway"))[
        "InternetGateway"
    ]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc, TagSpecifications=spec("route-table"))["RouteTable"][
        "RouteTableId"
    ]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    association = ec2.associate_route_table(RouteTableId=table, SubnetId=subnets[0])[
        "AssociationId"
    ]
    alb_sg, task_sg = (
        ec2.create_security_group(
            GroupName=name, Description=name, VpcId=vpc, TagSpecifications=spec("security-group")
        )["GroupId"]
        for name in ("alb", "task")
    )
    http = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80}
    ec2.authorize_security_group_ingress(
        GroupId=alb_sg, IpPermissions=[dict(http, IpRanges=[{"CidrIp": "0.0.0.0/0"}])]
    )
    ec2.authorize_security_group_ingress(
        GroupId=task_sg, IpPermissions=[dict(http, UserIdGroupPairs=[{"GroupId": alb_sg}])]
    )
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [task_sg]}])
    ingress = [r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if not r["IsEgress"]]
    assert (
        ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [task_sg]}])[
            "NetworkInterfaces"
        ]
        == []
    )

    lb = elb.create_load_balancer(
        Name="shop-dev", Subnets=subnets, SecurityGroups=[alb_sg], Tags=tags
    )["LoadBalancers"][0]["LoadBalancerArn"]
    assert elb.describe_load_balancers(Names=["shop-dev"])["LoadBalancers"][0]["State"] == {
        "Code": "active"
    }
    tg = elb.create_target_group(
        Name="shop-dev-blue", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip", Tags=tags
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group(TargetGroupArn=tg, HealthCheckPath="/health")
    elb.modify_target_group_attributes(
        TargetGroupArn=tg,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
    )
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": "30"} in (
        elb.describe_target_group_attributes(TargetGroupArn=tg)["Attributes"]
    )
    forward = [{"Type": "forward", "TargetGroupArn": tg}]
    listener = elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=forward
    )["Listeners"][0]["ListenerArn"]
    elb.modify_listener(ListenerArn=listener, DefaultActions=forward)
    assert elb.describe_tags(ResourceArns=[lb, tg])["TagDescriptions"][1]["Tags"] == tags

    repo = c["ecr"].create_repository(
        repositoryName="shop", tags=tags, imageScanningConfiguration={"scanOnPush": True}
    )["repository"]
    lifecycle = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "imageCountMoreThan",
                    "countNumber": 10,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    c["ecr"].put_lifecycle_policy(repositoryName="shop", lifecyclePolicyText=json.dumps(lifecycle))
    c["ecr"].get_lifecycle_policy(repositoryName="shop")
    c["ecr"].put_image_scanning_configuration(
        repositoryName="shop", imageScanningConfiguration={"scanOnPush": False}
    )
    assert c["ecr"].list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"] == tags

    roles = {
        name: iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=trust_policy(principal), Tags=tags
        )["Role"]["Arn"]
        for name, principal in (
            ("exec", "ecs-tasks.amazonaws.com"),
            ("cb", "codebuild.amazonaws.com"),
            ("cp", "codepipeline.amazonaws.com"),
            ("cd", "codedeploy.amazonaws.com"),
        )
    }
    iam.update_assume_role_policy(
        RoleName="exec", PolicyDocument=trust_policy("ecs-tasks.amazonaws.com")
    )
    allow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="exec", PolicyName="inline", PolicyDocument=json.dumps(allow))
    assert iam.get_role_policy(RoleName="exec", PolicyName="inline")["PolicyDocument"] == allow
    assert iam.list_role_policies(RoleName="exec")["PolicyNames"] == ["inline"]
    managed = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    iam.attach_role_policy(RoleName="exec", PolicyArn=managed)
    assert iam.list_attached_role_policies(RoleName="exec")["AttachedPolicies"][0]["PolicyArn"] == (
        managed
    )
    assert iam.list_instance_profiles_for_role(RoleName="exec")["InstanceProfiles"] == []

    logs = c["logs"]
    logs.create_log_group(logGroupName="/ecs/shop-dev", tags={"ecs-cicd:stack": "shop-dev"})
    logs.put_retention_policy(logGroupName="/ecs/shop-dev", retentionInDays=14)
    group_arn = logs.describe_log_groups(logGroupNamePrefix="/ecs/shop-dev")["logGroups"][0][
        "logGroupArn"
    ]
    assert logs.list_tags_for_resource(resourceArn=group_arn)["tags"] == {
        "ecs-cicd:stack": "shop-dev"
    }

    ecs.create_cluster(
        clusterName="shop-dev",
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
        settings=[{"name": "containerInsights", "value": "enabled"}],
        tags=lower,
    )
    ecs.describe_clusters(clusters=["shop-dev"], include=["TAGS", "SETTINGS"])
    ecs.update_cluster_settings(
        cluster="shop-dev", settings=[{"name": "containerInsights", "value": "disabled"}]
    )
    ecs.put_cluster_capacity_providers(
        cluster="shop-dev",
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )
    container = {"name": "app", "image": "nginx", "portMappings": [{"containerPort": 80}]}
    taskdef = ecs.register_task_definition(
        family="shop-dev",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        executionRoleArn=roles["exec"],
        containerDefinitions=[container],
        tags=lower,
    )["taskDefinition"]["taskDefinitionArn"]
    assert (
        ecs.describe_task_definition(taskDefinition="shop-dev", include=["TAGS"])["tags"] == lower
    )
    assert ecs.list_task_definitions(familyPrefix="shop-dev")["taskDefinitionArns"] == [taskdef]
    service = ecs.create_service(
        cluster="shop-dev",
        serviceName="shop",
        taskDefinition=taskdef,
        desiredCount=2,
        launchType="FARGATE",
        loadBalancers=[{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}],
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": subnets, "securityGroups": [task_sg]}
        },
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        healthCheckGracePeriodSeconds=60,
        enableExecuteCommand=True,
        deploymentController={"type": "ECS"},
        propagateTags="SERVICE",
        tags=lower,
    )["service"]
    assert service["runningCount"] == 2
    ecs.update_service(cluster="shop-dev", service="shop", desiredCount=1)
    [described] = ecs.describe_services(cluster="shop-dev", services=["shop"], include=["TAGS"])[
        "services"
    ]
    assert (described["runningCount"], described["tags"]) == (1, lower)
    tasks = ecs.list_tasks(cluster="shop-dev", serviceName="shop")["taskArns"]
    if tasks:
        ecs.describe_tasks(cluster="shop-dev", tasks=tasks)

    bucket = "shop-dev-artifacts"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    deny_http = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny_http]})
    )
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    for read in ("get_bucket_versioning", "get_bucket_encryption", "get_public_access_block"):
        getattr(s3, read)(Bucket=bucket)
    s3.get_bucket_policy(Bucket=bucket)
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    s3.head_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="artifact.zip", Body=b"1")  # what the pipeline does

    c["codebuild"].create_project(
        name="shop-dev",
        source={"type": "CODEPIPELINE", "buildspec": "version: 0.2"},
        artifacts={"type": "CODEPIPELINE"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "privilegedMode": True,
        },
        serviceRole=roles["cb"],
        tags=lower,
    )
    c["codebuild"].update_project(name="shop-dev", timeoutInMinutes=30)
    assert (
        c["codebuild"].batch_get_projects(names=["shop-dev"])["projects"][0]["timeoutInMinutes"]
        == 30
    )
    source = {
        "name": "Source",
        "actionTypeId": {
            "category": "Source",
            "owner": "ThirdParty",
            "provider": "GitHub",
            "version": "1",
        },
        "configuration": {"Owner": "me", "Repo": "shop", "Branch": "main", "OAuthToken": "t0k"},
        "outputArtifacts": [{"name": "src"}],
    }
    build = {
        "name": "Build",
        "actionTypeId": {
            "category": "Build",
            "owner": "AWS",
            "provider": "CodeBuild",
            "version": "1",
        },
        "configuration": {"ProjectName": "shop-dev"},
        "inputArtifacts": [{"name": "src"}],
    }
    pipeline = {
        "name": "shop-dev",
        "roleArn": roles["cp"],
        "artifactStore": {"type": "S3", "location": bucket},
        "stages": [
            {"name": "Source", "actions": [source]},
            {"name": "Build", "actions": [build]},
        ],
    }
    cp = c["codepipeline"]
    cp.create_pipeline(pipeline=pipeline, tags=lower)
    cp.get_pipeline(name="shop-dev")
    cp.update_pipeline(pipeline=pipeline)
    [run] = cp.list_pipeline_executions(pipelineName="shop-dev")["pipelineExecutionSummaries"]
    build_state = cp.get_pipeline_state(name="shop-dev")["stageStates"][1]["actionStates"][0]
    builds = c["codebuild"].batch_get_builds(
        ids=[build_state["latestExecution"]["externalExecutionId"]]
    )
    assert builds["builds"][0]["buildStatus"] == "SUCCEEDED"
    cp.list_action_executions(
        pipelineName="shop-dev", filter={"pipelineExecutionId": run["pipelineExecutionId"]}
    )
    pipeline_arn = f"arn:aws:codepipeline:{REGION}:123456789012:shop-dev"
    assert cp.list_tags_for_resource(resourceArn=pipeline_arn)["tags"] == lower
    webhook = {
        "name": "shop-dev",
        "targetPipeline": "shop-dev",
        "targetAction": "Source",
        "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}],
        "authentication": "GITHUB_HMAC",
        "authenticationConfiguration": {"SecretToken": "s3cret"},
    }
    cp.put_webhook(webhook=webhook, tags=lower)
    cp.register_webhook_with_third_party(webhookName="shop-dev")

    found = c["tagging"].get_resources(
        TagFilters=[{"Key": "ecs-cicd:stack", "Values": ["shop-dev"]}]
    )["ResourceTagMappingList"]
    kinds = {r["ResourceARN"].split(":")[2] for r in found}
    assert {"ec2", "elasticloadbalancing", "ecr", "logs", "ecs", "s3", "codebuild"} <= kinds
    assert "codepipeline" in kinds

    # --- down, in the order the tool deletes ---
    cp.deregister_webhook_with_third_party(webhookName="shop-dev")
    cp.delete_webhook(name="shop-dev")
    cp.delete_pipeline(name="shop-dev")
    c["codebuild"].delete_project(name="shop-dev")
    with pytest.raises(ClientError):
        ecs.delete_service(cluster="shop-dev", service="shop")  # scaled above 0
    ecs.delete_service(cluster="shop-dev", service="shop", force=True)
    ecs.deregister_task_definition(taskDefinition=taskdef)
    ecs.delete_task_definitions(taskDefinitions=[taskdef])
    ecs.delete_cluster(cluster="shop-dev")
    versions = s3.list_object_versions(Bucket=bucket)
    doomed = [
        {"Key": v["Key"], "VersionId": v["VersionId"]}
        for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
    ]
    assert "Errors" not in s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed})
    s3.delete_bucket(Bucket=bucket)
    logs.delete_log_group(logGroupName="/ecs/shop-dev")
    c["ecr"].delete_repository(repositoryName="shop", force=True)
    elb.delete_listener(ListenerArn=listener)
    elb.delete_load_balancer(LoadBalancerArn=lb)
    elb.delete_target_group(TargetGroupArn=tg)
    ec2.revoke_security_group_ingress(GroupId=task_sg, SecurityGroupRuleIds=ingress)
    for group in (task_sg, alb_sg):
        ec2.delete_security_group(GroupId=group)
    ec2.disassociate_route_table(AssociationId=association)
    ec2.delete_route_table(RouteTableId=table)
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    ec2.delete_internet_gateway(InternetGatewayId=igw)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)
    for name in roles:
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        for inline in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=inline)
        iam.delete_role(RoleName=name)
    left = c["tagging"].get_resources(
        TagFilters=[{"Key": "ecs-cicd:stack", "Values": ["shop-dev"]}]
    )["ResourceTagMappingList"]
    assert [r["ResourceARN"] for r in left] == []
    errors = [call for call in fetch_calls(endpoint) if (call["status"] or 0) >= 500]
    assert errors == []
