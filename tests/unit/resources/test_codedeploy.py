"""CodeDeploy blue/green on moto (with the emulator's CodeDeploy and ECS behaviour): the
application and deployment group as configured, zero-call second ensure, drift put back, plan
without mutating, strangers refused and taken over on request, a new task definition deployed
through CodeDeploy and followed to the end, failed deployments, IAM role lag, and tolerant
deletes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from botocore.awsrequest import AWSResponse
from moto.codedeploy.models import codedeploy_backends

from ecs_cicd import names
from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError, DeploymentFailed, WaitTimeout
from ecs_cicd.lifecycle import Ctx, Diff, ForeignResources
from ecs_cicd.render.deploy import TASK_DEFINITION_PLACEHOLDER, render_appspec
from ecs_cicd.resources import codedeploy
from ecs_cicd.resources.codedeploy import APP_ID, GROUP_ID, Application, DeploymentGroup
from ecs_cicd.state import Record
from tests.unit.resources.helpers import (
    client_error,
    config_with,
    delete,
    ensure,
    plan,
    record_role,
    recorded,
    stack_of,
    vpc_with_subnets,
    want,
)

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
STACK = "test-codepipeline-dev"
ROLE_LAG = "Cannot assume role provided."
APP_ARN = f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:application:{STACK}"
GROUP_ARN = f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:{STACK}/{STACK}"


def blue_green_config(**blue_green: Any) -> Config:
    return config_with(
        pipeline__deploy={
            "strategy": "blue_green",
            "blue_green": {"test_listener_port": 8080, **blue_green},
        },
        waits={"service": 2},
    )


def group_of(cfg: Config) -> DeploymentGroup:
    group = want(cfg, GROUP_ID)
    assert isinstance(group, DeploymentGroup)
    return group


def live_group(ctx: Ctx) -> dict[str, Any]:
    info: dict[str, Any] = ctx.client("codedeploy").get_deployment_group(
        applicationName=STACK, deploymentGroupName=STACK
    )["deploymentGroupInfo"]
    return info


def tags_of(ctx: Ctx, arn: str) -> dict[str, str]:
    tags = ctx.client("codedeploy").list_tags_for_resource(ResourceArn=arn)["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def register_revision(ctx: Ctx, cfg: Config, image: str) -> str:
    arn: str = ctx.client("ecs").register_task_definition(
        family=names.family(cfg),
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "nginx", "image": image, "portMappings": [{"containerPort": 80}]}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def record_revision(ctx: Ctx, cfg: Config, arn: str) -> None:
    """What the task definition kind records once it registered `arn`."""
    ctx.state.put(Record("taskdef", "task_definition", names.family(cfg), arn=arn))


def stand_up_dependencies(ctx: Ctx, cfg: Config) -> None:
    """Real moto resources for what the deployment group needs, recorded as their kinds do."""
    ec2, elb, ecs = ctx.client("ec2"), ctx.client("elbv2"), ctx.client("ecs")
    vpc, subnets = vpc_with_subnets(ec2, REGION)
    sg = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]
    alb = elb.create_load_balancer(Name=names.alb(cfg), Subnets=subnets, SecurityGroups=[sg])[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    tgs = {}
    for color in ("blue", "green"):
        tgs[color] = elb.create_target_group(
            Name=names.target_group(cfg, color),
            Protocol="HTTP",
            Port=80,
            VpcId=vpc,
            TargetType="ip",
        )["TargetGroups"][0]["TargetGroupArn"]
        ctx.state.put(Record(f"tg.{color}", "target_group", tgs[color], arn=tgs[color]))
    for lid, port, color in (("listener.http", 80, "blue"), ("listener.test", 8080, "green")):
        arn = elb.create_listener(
            LoadBalancerArn=alb,
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs[color]}],
        )["Listeners"][0]["ListenerArn"]
        ctx.state.put(Record(lid, "listener", arn, arn=arn, outputs={"port": port}))
    ctx.state.put(Record("alb", "load_balancer", alb, arn=alb))
    ecs.create_cluster(clusterName=names.cluster(cfg))
    record_revision(ctx, cfg, register_revision(ctx, cfg, "nginx:1"))
    taskdef = recorded(ctx, "taskdef").arn
    svc = ecs.create_service(
        cluster=names.cluster(cfg),
        serviceName=names.service(cfg),
        taskDefinition=taskdef,
        desiredCount=1,
        launchType="FARGATE",
        deploymentController={"type": "CODE_DEPLOY"},
        loadBalancers=[
            {"targetGroupArn": tgs["blue"], "containerName": "nginx", "containerPort": 80}
        ],
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}},
    )["service"]
    ctx.state.put(
        Record(
            "service",
            "service",
            names.service(cfg),
            arn=svc["serviceArn"],
            outputs={"cluster": names.cluster(cfg), "deployment": None},
        )
    )
    record_role(
        ctx,
        ctx.client("iam"),
        "role.codedeploy",
        names.role(cfg, "codedeploy"),
        "codedeploy.amazonaws.com",
    )


@pytest.fixture
def logs() -> list[str]:
    return []


@pytest.fixture
def bgcfg() -> Config:
    return blue_green_config()


@pytest.fixture
def bg(ctx: Ctx, bgcfg: Config, logs: list[str]) -> Ctx:
    """A lifecycle Ctx on moto with the group's dependencies in place."""
    ctx.log = logs.append
    stand_up_dependencies(ctx, bgcfg)
    return ctx


@pytest.fixture
def up(bg: Ctx, bgcfg: Config) -> Ctx:
    """Application and deployment group created."""
    assert ensure(bg, bgcfg, APP_ID).action == "create"
    assert ensure(bg, bgcfg, GROUP_ID).action == "create"
    return bg


def inject_errors(ctx: Ctx, operation: str, errors: list[tuple[str, str]]) -> Callable[[], int]:
    """Make the next calls of `operation` fail with these (code, message); then the real call.
    Returns a counter of the calls seen (a botocore event hook, so retries go through it)."""
    calls = {"n": 0}

    def hook(**_: Any) -> Any:
        calls["n"] += 1
        if not errors:
            return None
        code, message = errors.pop(0)
        response = AWSResponse("https://codedeploy", 400, {}, None)  # type: ignore[arg-type]
        return response, {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    ctx.client("codedeploy").meta.events.register(f"before-call.codedeploy.{operation}", hook)
    return lambda: calls["n"]


def fake_get_deployment(
    monkeypatch: pytest.MonkeyPatch, ctx: Ctx, infos: list[dict[str, Any]]
) -> list[str]:
    """GetDeployment answers these deploymentInfo documents in turn (the last one repeats)."""
    seen: list[str] = []

    def get_deployment(**kw: Any) -> dict[str, Any]:
        seen.append(kw["deploymentId"])
        info = infos.pop(0) if len(infos) > 1 else infos[0]
        return {"deploymentInfo": {"deploymentId": kw["deploymentId"], **info}}

    monkeypatch.setattr(ctx.client("codedeploy"), "get_deployment", get_deployment)
    return seen


def mutating(ctx: Ctx) -> dict[str, int]:
    return dict(ctx.aws.stats.mutating)


def with_deployment(ctx: Ctx, deployment: str | None) -> None:
    """The group's record naming `deployment` to follow (None: none)."""
    rec = recorded(ctx, GROUP_ID)
    outputs = {"application": STACK, **({"deployment": deployment} if deployment else {})}
    ctx.state.put(Record(rec.logical_id, rec.kind, rec.physical_id, arn=rec.arn, outputs=outputs))


def wait(ctx: Ctx, cfg: Config, service_wait: float = 2) -> dict[str, Any] | None:
    return codedeploy.wait_for_deployment_group(ctx, group_of(cfg), service_wait=service_wait)


# --- pure ------------------------------------------------------------------------------------
def test_appspec_names_the_revision_and_the_endpoint_container() -> None:
    cfg = blue_green_config()
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{STACK}:7"
    content = group_of(cfg).appspec(arn)
    assert yaml.safe_load(content) == {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": arn,
                        "LoadBalancerInfo": {"ContainerName": "nginx", "ContainerPort": 80},
                    },
                }
            }
        ],
    }
    assert codedeploy.appspec_task_definition({"appSpecContent": {"content": content}}) == arn
    assert codedeploy.appspec_task_definition({"revisionType": "S3"}) is None


def test_render_writes_the_same_appspec_as_the_deployments_use() -> None:
    cfg = blue_green_config()
    assert render_appspec(cfg) == group_of(cfg).appspec(TASK_DEFINITION_PLACEHOLDER)


def test_deadline_adds_the_time_blue_green_waits_on_purpose() -> None:
    assert codedeploy.traffic_shift_minutes("CodeDeployDefault.ECSAllAtOnce") == 0
    assert codedeploy.traffic_shift_minutes("CodeDeployDefault.ECSCanary10Percent15Minutes") == 15
    assert (
        codedeploy.traffic_shift_minutes("CodeDeployDefault.ECSLinear10PercentEvery3Minutes") == 30
    )
    assert codedeploy.traffic_shift_minutes("MyOwnConfig") == 0
    cfg = blue_green_config(
        deployment_config="CodeDeployDefault.ECSCanary10Percent5Minutes",
        ready_action="STOP_DEPLOYMENT",
        ready_wait_minutes=10,
    )
    assert codedeploy.deployment_deadline(group_of(cfg), 2) == 2 + 60 * (5 + 5 + 10)
    # The ready wait counts only when the deployment stops for it.
    cfg = blue_green_config(ready_wait_minutes=10)
    assert codedeploy.deployment_deadline(group_of(cfg), 2) == 2 + 60 * 5


def test_group_summary_ignores_aws_defaults_and_order() -> None:
    desired: dict[str, Any] = {
        "deploymentConfigName": "CodeDeployDefault.ECSAllAtOnce",
        "blueGreenDeploymentConfiguration": {
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"}
        },
        "autoRollbackConfiguration": {"enabled": True, "events": ["A", "B"]},
        "loadBalancerInfo": {
            "targetGroupPairInfoList": [{"targetGroups": [{"name": "b"}, {"name": "g"}]}]
        },
    }
    have: dict[str, Any] = copy.deepcopy(desired)
    have["blueGreenDeploymentConfiguration"]["deploymentReadyOption"]["waitTimeInMinutes"] = 0
    have["autoRollbackConfiguration"]["events"] = ["B", "A"]
    have["loadBalancerInfo"]["targetGroupPairInfoList"][0]["targetGroups"].reverse()
    have["loadBalancerInfo"]["elbInfoList"] = []
    assert codedeploy.group_differences(desired, have) == []
    have["autoRollbackConfiguration"] = {"enabled": False}
    assert codedeploy.group_differences(desired, have) == [Diff("autoRollback", "off", "on A, B")]


def test_models_hold_every_desired_value() -> None:
    cfg = blue_green_config(
        deployment_config="CodeDeployDefault.ECSCanary10Percent5Minutes",
        ready_action="STOP_DEPLOYMENT",
        ready_wait_minutes=30,
        termination_wait_minutes=60,
    )
    stack = stack_of(cfg)
    app, group = stack.get(APP_ID), stack.get(GROUP_ID)
    assert isinstance(app, Application) and isinstance(group, DeploymentGroup)
    assert (app.kind, app.name, app.compute_platform) == ("codedeploy_app", STACK, "ECS")
    assert dict(app.tags)["ecs-cicd:id"] == APP_ID
    assert group.kind == "deployment_group" and group.application is app
    assert {d.logical_id for d in group.deps()} == {
        APP_ID,
        "role.codedeploy",
        "service",
        "taskdef",
        "tg.blue",
        "tg.green",
        "listener.http",
        "listener.test",
    }
    assert dict(group.tags)["ecs-cicd:id"] == GROUP_ID
    params = group.parameters(
        role_arn="arn:role", production_listener_arn="arn:prod", test_listener_arn="arn:test"
    )
    assert params == {
        "serviceRoleArn": "arn:role",
        "deploymentConfigName": "CodeDeployDefault.ECSCanary10Percent5Minutes",
        "deploymentStyle": {
            "deploymentType": "BLUE_GREEN",
            "deploymentOption": "WITH_TRAFFIC_CONTROL",
        },
        "blueGreenDeploymentConfiguration": {
            "deploymentReadyOption": {
                "actionOnTimeout": "STOP_DEPLOYMENT",
                "waitTimeInMinutes": 30,
            },
            "terminateBlueInstancesOnDeploymentSuccess": {
                "action": "TERMINATE",
                "terminationWaitTimeInMinutes": 60,
            },
        },
        "autoRollbackConfiguration": {
            "enabled": True,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"],
        },
        "ecsServices": [{"clusterName": STACK, "serviceName": STACK}],
        "loadBalancerInfo": {
            "targetGroupPairInfoList": [
                {
                    "targetGroups": [{"name": f"{STACK}-blue"}, {"name": f"{STACK}-green"}],
                    "prodTrafficRoute": {"listenerArns": ["arn:prod"]},
                    "testTrafficRoute": {"listenerArns": ["arn:test"]},
                }
            ]
        },
    }


def test_production_listener_is_https_when_a_certificate_is_set() -> None:
    cfg = config_with(
        load_balancer__certificate_arn=f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/x",
        pipeline__deploy={"strategy": "blue_green"},
    )
    group = group_of(cfg)
    assert group.production_listener.logical_id == "listener.https"
    assert group.test_listener is None  # no test listener configured
    pair = group.parameters(role_arn="r", production_listener_arn="https", test_listener_arn=None)[
        "loadBalancerInfo"
    ]["targetGroupPairInfoList"][0]
    assert pair["prodTrafficRoute"] == {"listenerArns": ["https"]}
    assert "testTrafficRoute" not in pair
    assert group_of(blue_green_config()).production_listener.logical_id == "listener.http"


# --- application -----------------------------------------------------------------------------
def test_application_created_for_ecs_with_tags_then_unchanged(bg: Ctx, bgcfg: Config) -> None:
    out = ensure(bg, bgcfg, APP_ID)
    assert (out.action, out.physical_id) == ("create", STACK)
    cd = bg.client("codedeploy")
    assert cd.get_application(applicationName=STACK)["application"]["computePlatform"] == "ECS"
    tags = tags_of(bg, APP_ARN)
    assert tags["ecs-cicd:stack"] == STACK and tags["ecs-cicd:id"] == APP_ID
    assert "codedeploy:TagResource" not in mutating(bg)  # tags at creation
    rec = recorded(bg, APP_ID)
    assert rec.physical_id == STACK and rec.arn == APP_ARN
    before = bg.aws.stats.mutating_total
    assert ensure(bg, bgcfg, APP_ID).action == "unchanged"
    assert bg.aws.stats.mutating_total == before


def test_application_without_a_record_is_adopted(bg: Ctx, bgcfg: Config) -> None:
    ensure(bg, bgcfg, APP_ID)
    bg.state.remove(APP_ID)
    assert ensure(bg, bgcfg, APP_ID).action == "adopt"
    assert recorded(bg, APP_ID).physical_id == STACK


def test_application_of_a_stranger_is_not_adopted(bg: Ctx, bgcfg: Config) -> None:
    bg.client("codedeploy").create_application(applicationName=STACK, computePlatform="ECS")
    before = bg.aws.stats.mutating_total
    assert plan(bg, bgcfg, APP_ID).action == "foreign"
    with pytest.raises(ForeignResources):
        ensure(bg, bgcfg, APP_ID)
    assert bg.aws.stats.mutating_total == before
    assert tags_of(bg, APP_ARN) == {}
    assert bg.state.get(APP_ID) is None


def test_application_of_a_stranger_is_taken_over_on_request(bg: Ctx, bgcfg: Config) -> None:
    bg.client("codedeploy").create_application(applicationName=STACK, computePlatform="ECS")
    bg.adopt = frozenset({APP_ID})
    out = ensure(bg, bgcfg, APP_ID)
    assert out.action == "take"
    tags = tags_of(bg, APP_ARN)
    assert tags["ecs-cicd:stack"] == STACK and tags["ecs-cicd:id"] == APP_ID
    assert recorded(bg, APP_ID).physical_id == STACK


def test_application_of_another_compute_platform_is_refused(bg: Ctx, bgcfg: Config) -> None:
    bg.client("codedeploy").create_application(
        applicationName=STACK,
        computePlatform="Server",
        tags=[{"Key": "ecs-cicd:stack", "Value": STACK}],
    )
    before = bg.aws.stats.mutating_total
    with pytest.raises(AwsError, match="compute platform is Server") as err:
        plan(bg, bgcfg, APP_ID)  # AWS cannot change it: refused before anything is changed
    assert err.value.code == "WrongComputePlatform"
    assert bg.aws.stats.mutating_total == before
    with pytest.raises(AwsError, match="compute platform is Server"):
        ensure(bg, bgcfg, APP_ID)


def test_application_deleted_by_hand_is_planned_again_and_gone(up: Ctx, bgcfg: Config) -> None:
    up.client("codedeploy").delete_application(applicationName=STACK)
    assert plan(up, bgcfg, APP_ID).action == "create"
    assert delete(up, APP_ID).action == "gone"


def test_application_whose_stack_tag_was_removed_is_left_by_delete(up: Ctx) -> None:
    up.client("codedeploy").untag_resource(ResourceArn=APP_ARN, TagKeys=["ecs-cicd:stack"])
    out = delete(up, APP_ID)
    assert out.action == "skip"
    assert up.client("codedeploy").get_application(applicationName=STACK)["application"]


# --- deployment group ------------------------------------------------------------------------
def test_group_is_created_as_configured(up: Ctx) -> None:
    info = live_group(up)
    http, test = recorded(up, "listener.http"), recorded(up, "listener.test")
    assert info["deploymentStyle"] == {
        "deploymentType": "BLUE_GREEN",
        "deploymentOption": "WITH_TRAFFIC_CONTROL",
    }
    assert info["blueGreenDeploymentConfiguration"] == {
        "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
        "terminateBlueInstancesOnDeploymentSuccess": {
            "action": "TERMINATE",
            "terminationWaitTimeInMinutes": 5,
        },
    }
    assert info["autoRollbackConfiguration"] == {
        "enabled": True,
        "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"],
    }
    [pair] = info["loadBalancerInfo"]["targetGroupPairInfoList"]
    assert pair["targetGroups"] == [{"name": f"{STACK}-blue"}, {"name": f"{STACK}-green"}]
    assert pair["prodTrafficRoute"] == {"listenerArns": [http.physical_id]}
    assert pair["testTrafficRoute"] == {"listenerArns": [test.physical_id]}
    assert info["ecsServices"] == [{"clusterName": STACK, "serviceName": STACK}]
    assert info["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    assert info["serviceRoleArn"].endswith(f":role/{STACK}-codedeploy")
    assert info["computePlatform"] == "ECS"
    rec = recorded(up, GROUP_ID)
    assert rec.physical_id == STACK and rec.arn == GROUP_ARN
    assert rec.outputs == {"application": STACK}
    tags = tags_of(up, GROUP_ARN)
    assert tags["ecs-cicd:id"] == GROUP_ID and tags["ecs-cicd:stack"] == STACK
    assert "codedeploy:TagResource" not in mutating(up)  # tags at creation
    assert "codedeploy:CreateDeployment" not in mutating(up)  # the service runs the revision


def test_second_ensure_makes_no_mutating_call(up: Ctx, bgcfg: Config) -> None:
    before = up.aws.stats.mutating_total
    out = ensure(up, bgcfg, GROUP_ID)
    assert (out.action, out.changes, out.notes) == ("unchanged", [], [])
    assert up.aws.stats.mutating_total == before


def test_group_without_a_record_is_adopted(up: Ctx, bgcfg: Config) -> None:
    up.state.remove(GROUP_ID)
    assert ensure(up, bgcfg, GROUP_ID).action == "adopt"
    assert recorded(up, GROUP_ID).outputs == {"application": STACK}


def make_stranger_group(ctx: Ctx, cfg: Config) -> None:
    """Our group replaced by one of the same name without our tags (Terraform's, say)."""
    cd = ctx.client("codedeploy")
    cd.delete_deployment_group(applicationName=STACK, deploymentGroupName=STACK)
    params = codedeploy.desired_group(ctx, group_of(cfg))
    cd.create_deployment_group(applicationName=STACK, deploymentGroupName=STACK, **params)
    ctx.state.remove(GROUP_ID)


def test_group_of_a_stranger_is_not_adopted(up: Ctx, bgcfg: Config) -> None:
    make_stranger_group(up, bgcfg)
    before = up.aws.stats.mutating_total
    planned = plan(up, bgcfg, GROUP_ID)
    assert planned.action == "foreign"
    assert "without the tag ecs-cicd:stack" in planned.changes[0]
    with pytest.raises(ForeignResources):
        ensure(up, bgcfg, GROUP_ID)
    assert up.aws.stats.mutating_total == before
    assert tags_of(up, GROUP_ARN) == {}
    assert up.state.get(GROUP_ID) is None


def test_group_of_a_stranger_is_taken_over_on_request(up: Ctx, bgcfg: Config) -> None:
    make_stranger_group(up, bgcfg)
    up.adopt = frozenset({GROUP_ID})
    out = ensure(up, bgcfg, GROUP_ID)
    assert out.action == "take"
    tags = tags_of(up, GROUP_ARN)
    assert tags["ecs-cicd:stack"] == STACK and tags["ecs-cicd:id"] == GROUP_ID
    up.adopt = frozenset()
    assert ensure(up, bgcfg, GROUP_ID).action == "unchanged"


def test_drift_is_planned_then_put_back(up: Ctx, bgcfg: Config) -> None:
    up.client("codedeploy").update_deployment_group(
        applicationName=STACK,
        currentDeploymentGroupName=STACK,
        deploymentConfigName="CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        autoRollbackConfiguration={"enabled": False},
    )
    before = up.aws.stats.mutating_total
    planned = plan(up, bgcfg, GROUP_ID)
    assert planned.action == "update"
    assert planned.changes == [
        "deploymentConfigName: 'CodeDeployDefault.ECSLinear10PercentEvery1Minutes' -> "
        "'CodeDeployDefault.ECSAllAtOnce'",
        "autoRollback: 'off' -> 'on DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_REQUEST'",
    ]
    assert planned.notes == []
    assert up.aws.stats.mutating_total == before
    out = ensure(up, bgcfg, GROUP_ID)
    assert out.action == "update" and out.changes == planned.changes
    assert mutating(up).get("codedeploy:UpdateDeploymentGroup") == 2  # the drift's, and ours
    info = live_group(up)
    assert info["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    assert info["autoRollbackConfiguration"]["enabled"] is True
    assert ensure(up, bgcfg, GROUP_ID).action == "unchanged"


def test_config_changes_converge(up: Ctx) -> None:
    cfg = blue_green_config(
        deployment_config="CodeDeployDefault.ECSCanary10Percent5Minutes",
        ready_action="STOP_DEPLOYMENT",
        ready_wait_minutes=30,
        termination_wait_minutes=60,
    )
    out = ensure(up, cfg, GROUP_ID)
    assert out.action == "update"
    assert (
        "deploymentReadyOption: 'CONTINUE_DEPLOYMENT' -> 'STOP_DEPLOYMENT after 30 min'"
        in out.changes
    )
    info = live_group(up)
    assert info["deploymentConfigName"] == "CodeDeployDefault.ECSCanary10Percent5Minutes"
    assert info["blueGreenDeploymentConfiguration"] == {
        "deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 30},
        "terminateBlueInstancesOnDeploymentSuccess": {
            "action": "TERMINATE",
            "terminationWaitTimeInMinutes": 60,
        },
    }
    assert ensure(up, cfg, GROUP_ID).action == "unchanged"


def test_plan_of_a_new_group_makes_nothing(bg: Ctx, bgcfg: Config) -> None:
    before = bg.aws.stats.mutating_total
    assert plan(bg, bgcfg, APP_ID).action == "create"
    assert plan(bg, bgcfg, GROUP_ID).action == "create"  # the application is not there either
    ensure(bg, bgcfg, APP_ID)
    before = bg.aws.stats.mutating_total
    out = plan(bg, bgcfg, GROUP_ID)
    assert out.action == "create"
    assert out.changes == [
        "CodeDeployDefault.ECSAllAtOnce",
        "prod traffic via listener.http",
        "test traffic via listener.test",
    ]
    assert bg.aws.stats.mutating_total == before
    assert (
        bg.client("codedeploy").list_deployment_groups(applicationName=STACK)["deploymentGroups"]
        == []
    )


def test_role_lag_is_retried(bg: Ctx, bgcfg: Config) -> None:
    ensure(bg, bgcfg, APP_ID)
    calls = inject_errors(bg, "CreateDeploymentGroup", [("InvalidRoleException", ROLE_LAG)] * 2)
    assert ensure(bg, bgcfg, GROUP_ID).action == "create"
    assert calls() == 3
    assert live_group(bg)["deploymentGroupName"] == STACK


def test_other_invalid_role_errors_fail_at_once(bg: Ctx, bgcfg: Config) -> None:
    ensure(bg, bgcfg, APP_ID)
    message = "AWS CodeDeploy does not have the permissions required to assume the role"
    calls = inject_errors(bg, "CreateDeploymentGroup", [("InvalidRoleException", message)])
    with pytest.raises(AwsError) as err:
        ensure(bg, bgcfg, GROUP_ID)
    assert calls() == 1
    assert err.value.code == "InvalidRoleException" and message in str(err.value)
    assert bg.state.get(GROUP_ID) is None


def test_role_lag_on_update_is_retried(up: Ctx) -> None:
    cfg = blue_green_config(termination_wait_minutes=10)
    calls = inject_errors(up, "UpdateDeploymentGroup", [("InvalidRoleException", ROLE_LAG)])
    assert ensure(up, cfg, GROUP_ID).action == "update"
    assert calls() == 2


def test_group_deleted_by_hand_is_planned_again_and_gone(up: Ctx, bgcfg: Config) -> None:
    up.client("codedeploy").delete_deployment_group(
        applicationName=STACK, deploymentGroupName=STACK
    )
    assert plan(up, bgcfg, GROUP_ID).action == "create"
    assert delete(up, GROUP_ID).action == "gone"
    assert ensure(up, bgcfg, GROUP_ID).action == "create"


def test_group_whose_stack_tag_was_removed_is_left_by_delete(up: Ctx) -> None:
    up.client("codedeploy").untag_resource(ResourceArn=GROUP_ARN, TagKeys=["ecs-cicd:stack"])
    out = delete(up, GROUP_ID)
    assert out.action == "skip"
    assert live_group(up)["deploymentGroupName"] == STACK


# --- deployments -----------------------------------------------------------------------------
def test_new_revision_is_deployed_through_codedeploy_and_followed(
    up: Ctx, bgcfg: Config, logs: list[str]
) -> None:
    old = recorded(up, "taskdef").arn
    new = register_revision(up, bgcfg, "nginx:2")
    record_revision(up, bgcfg, new)
    before = up.aws.stats.mutating_total
    planned = plan(up, bgcfg, GROUP_ID)
    assert (planned.action, planned.changes) == ("update", [f"taskDefinition: '{old}' -> '{new}'"])
    assert planned.notes == [f"starts a CodeDeploy deployment of {new}"]
    assert up.aws.stats.mutating_total == before

    out = ensure(up, bgcfg, GROUP_ID)
    assert out.action == "update"
    assert mutating(up).get("codedeploy:CreateDeployment") == 1
    assert "codedeploy:UpdateDeploymentGroup" not in mutating(up)  # the group itself is right
    rec = recorded(up, GROUP_ID)
    deployment_id = rec.outputs["deployment"]
    assert rec.outputs["application"] == STACK
    info = up.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["revision"]["revisionType"] == "AppSpecContent"
    assert info["revision"]["appSpecContent"]["content"] == group_of(bgcfg).appspec(new)
    assert codedeploy.appspec_task_definition(info["revision"]) == new

    done = wait(up, bgcfg)
    assert done is not None and done["status"] == "Succeeded"
    assert any(f"deployment {deployment_id} Succeeded" in line for line in logs)
    [svc] = up.client("ecs").describe_services(cluster=STACK, services=[STACK])["services"]
    assert svc["taskDefinition"] == new

    # Deployed: the next `up` changes nothing and follows no deployment.
    before = up.aws.stats.mutating_total
    assert ensure(up, bgcfg, GROUP_ID).action == "unchanged"
    assert up.aws.stats.mutating_total == before
    assert "deployment" not in recorded(up, GROUP_ID).outputs


def test_a_deployment_in_flight_is_followed_not_duplicated(
    up: Ctx, bgcfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.ecs.models import ecs_backends

    old = recorded(up, "taskdef").arn
    assert old is not None
    new = register_revision(up, bgcfg, "nginx:2")
    record_revision(up, bgcfg, new)
    ensure(up, bgcfg, GROUP_ID)
    first = recorded(up, GROUP_ID).outputs["deployment"]
    # Still in progress (moto's finish at once), the service still on the old revision.
    deployments = codedeploy_backends[ACCOUNT][REGION].deployments
    deployments[first].status = "InProgress"
    service_key = f"{names.cluster(bgcfg)}:{names.service(bgcfg)}"
    ecs_backends[ACCOUNT][REGION].services[service_key].task_definition = old
    with_deployment(up, None)

    planned = plan(up, bgcfg, GROUP_ID)
    assert planned.changes == [
        f"taskDefinition: {new} is being deployed by CodeDeploy deployment {first}"
    ]
    assert planned.notes == []
    out = ensure(up, bgcfg, GROUP_ID)
    assert out.changes == planned.changes
    assert mutating(up).get("codedeploy:CreateDeployment") == 1  # still only the first one
    assert recorded(up, GROUP_ID).outputs["deployment"] == first

    newer = register_revision(up, bgcfg, "nginx:3")
    record_revision(up, bgcfg, newer)
    out = ensure(up, bgcfg, GROUP_ID)
    assert out.changes[0].startswith(
        f"taskDefinition: not deploying {newer}: CodeDeploy deployment {first} is in progress"
    )
    assert mutating(up).get("codedeploy:CreateDeployment") == 1
    assert recorded(up, GROUP_ID).outputs["deployment"] == first

    # With no id recorded, the wait finds the group's deployment in flight by itself.
    with_deployment(up, None)
    polled: list[str] = []
    original = up.client("codedeploy").get_deployment

    def spy(**kw: Any) -> Any:
        polled.append(kw["deploymentId"])
        return original(**kw)

    monkeypatch.setattr(up.client("codedeploy"), "get_deployment", spy)
    # moto lacks ListDeploymentTargets (the traffic detail); AWS answers no targets this early.
    monkeypatch.setattr(up.client("codedeploy"), "list_deployment_targets", lambda **_: {})
    quick = blue_green_config(termination_wait_minutes=0)  # a 2 s deadline
    with pytest.raises(WaitTimeout, match=f"CodeDeploy deployment {first}"):
        wait(up, quick)
    assert set(polled) == {first}
    deployments[first].status = "Succeeded"
    polled.clear()
    # Nothing in flight any more: only the service check.
    assert wait(up, quick) is None
    assert polled == []


def test_wait_reports_progress_only_when_it_changes(
    up: Ctx, bgcfg: Config, logs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cd = up.client("codedeploy")
    with_deployment(up, "d-ABC")
    running = {"status": "InProgress", "deploymentOverview": {"InProgress": 1, "Pending": 0}}
    seen = fake_get_deployment(
        monkeypatch,
        up,
        [{"status": "Created"}, running, running, running, {"status": "Succeeded"}],
    )
    weights = iter([(100, 0), (100, 0), (90, 10)])

    def targets(**kw: Any) -> Any:
        blue, green = next(weights)
        return {
            "deploymentTargets": [
                {
                    "ecsTarget": {
                        "taskSetsInfo": [
                            {
                                "taskSetLabel": "Green",
                                "trafficWeight": float(green),
                                "runningCount": 1,
                                "desiredCount": 1,
                            },
                            {
                                "taskSetLabel": "Blue",
                                "trafficWeight": float(blue),
                                "runningCount": 1,
                                "desiredCount": 1,
                            },
                        ],
                        "lifecycleEvents": [
                            {"lifecycleEventName": "Install", "status": "Succeeded"},
                            {"lifecycleEventName": "AllowTraffic", "status": "InProgress"},
                        ],
                    }
                }
            ]
        }

    monkeypatch.setattr(cd, "list_deployment_targets", lambda **_: {"targetIds": ["svc"]})
    monkeypatch.setattr(cd, "batch_get_deployment_targets", targets)
    info = wait(up, bgcfg)
    assert info is not None and info["status"] == "Succeeded"
    assert seen == ["d-ABC"] * 5
    assert [line for line in logs if line.startswith("codedeploy:")] == [
        "codedeploy: deployment d-ABC Created",
        "codedeploy: deployment d-ABC InProgress (InProgress 1): Blue 100% traffic, running 1/1; "
        "Green 0% traffic, running 1/1; step AllowTraffic",
        "codedeploy: deployment d-ABC InProgress (InProgress 1): Blue 90% traffic, running 1/1; "
        "Green 10% traffic, running 1/1; step AllowTraffic",
        "codedeploy: deployment d-ABC Succeeded",
    ]


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_failed_deployment_fails_at_once_with_aws_reason(
    up: Ctx, bgcfg: Config, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    with_deployment(up, "d-BAD")
    seen = fake_get_deployment(
        monkeypatch,
        up,
        [
            {
                "applicationName": STACK,
                "deploymentGroupName": STACK,
                "status": status,
                "errorInformation": {
                    "code": "ECS_UPDATE_ERROR",
                    "message": "The ECS service cannot be updated: new tasks failed health checks",
                },
                "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK"},
            }
        ],
    )
    with pytest.raises(DeploymentFailed) as err:
        wait(up, bgcfg)
    assert seen == ["d-BAD"]  # no second poll
    text = str(err.value)
    assert f"CodeDeploy deployment d-BAD of {STACK}/{STACK} {status}" in text
    assert (
        "ECS_UPDATE_ERROR: The ECS service cannot be updated: new tasks failed health checks"
        in text
    )
    assert "rolled back by deployment d-ROLLBACK" in text


def test_wait_without_a_deployment_checks_the_service_runs(
    up: Ctx, bgcfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert wait(up, bgcfg) is None  # emulator: running == desired
    ecs = up.client("ecs")
    original = ecs.describe_services
    answers = iter([{"services": []}, {"runningCount": 0}])

    def describe(**kw: Any) -> Any:
        resp = original(**kw)
        change = next(answers, None)
        if change is None:
            return resp
        if not change:
            return change  # MISSING right after CreateService
        resp["services"][0].update(change)
        return resp

    monkeypatch.setattr(ecs, "describe_services", describe)
    assert wait(up, bgcfg) is None
    monkeypatch.setattr(
        ecs,
        "describe_services",
        lambda **kw: {"services": [{**original(**kw)["services"][0], "runningCount": 0}]},
    )
    up.deadlines = {"service": 2}  # waits.service, as ops makes the Ctx
    with pytest.raises(WaitTimeout, match=r"waited 2s for ECS service .* running 0/1"):
        codedeploy.wait_for_deployment_group(up, group_of(bgcfg))


# --- delete ----------------------------------------------------------------------------------
def test_delete_group_then_application_then_gone(up: Ctx) -> None:
    assert delete(up, GROUP_ID).action == "delete"
    cd = up.client("codedeploy")
    assert cd.list_deployment_groups(applicationName=STACK)["deploymentGroups"] == []
    assert delete(up, APP_ID).action == "delete"
    assert cd.list_applications()["applications"] == []
    assert delete(up, GROUP_ID).action == "gone"
    assert delete(up, APP_ID).action == "gone"


def test_delete_stops_a_deployment_in_flight_first(
    up: Ctx, bgcfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = register_revision(up, bgcfg, "nginx:2")
    record_revision(up, bgcfg, new)
    ensure(up, bgcfg, GROUP_ID)
    first = recorded(up, GROUP_ID).outputs["deployment"]
    codedeploy_backends[ACCOUNT][REGION].deployments[first].status = "InProgress"
    stopped: list[dict[str, Any]] = []

    def stop_deployment(**kw: Any) -> Any:  # moto lacks StopDeployment
        stopped.append(kw)
        # It finished meanwhile: tolerated, the delete goes on.
        raise client_error(
            "DeploymentAlreadyCompletedException", "already completed", "StopDeployment"
        )

    monkeypatch.setattr(up.client("codedeploy"), "stop_deployment", stop_deployment)
    assert delete(up, GROUP_ID).action == "delete"
    assert stopped == [{"deploymentId": first, "autoRollbackEnabled": False}]
    assert (
        up.client("codedeploy").list_deployment_groups(applicationName=STACK)["deploymentGroups"]
        == []
    )
