"""CodeDeploy blue/green on moto (with the emulator's CodeDeploy and ECS behaviour): the
application and deployment group as configured, zero-call second ensure, drift put back, plan
without mutating, a new task definition deployed through CodeDeploy and followed to the end,
failed deployments, IAM role lag, and tolerant deletes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.awsrequest import AWSResponse
from moto.codedeploy.models import codedeploy_backends

from ecs_cicd import names
from ecs_cicd.aws import Aws, new_session
from ecs_cicd.config import Config, parse_config
from ecs_cicd.engine import Ctx, MissingDependency, Outcome
from ecs_cicd.errors import AwsError, DeploymentFailed, WaitTimeout
from ecs_cicd.resources import codedeploy
from ecs_cicd.resources.codedeploy import ApplicationHandler, DeploymentGroupHandler
from ecs_cicd.state import Record, State
from tests.conftest import EXAMPLE
from tests.unit.resources.helpers import example, record_role, spec_of, vpc_with_subnets

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
ROLE_LAG = "Cannot assume role provided."


def client(service: str) -> Any:
    """A client outside the tool's (its calls are not counted); service models parsed once."""
    return new_session(region=REGION).client(service)


def blue_green_config(**blue_green: Any) -> Config:
    data = example()
    data["pipeline"]["deploy"] = {
        "strategy": "blue_green",
        "blue_green": {"test_listener_port": 8080, **blue_green},
    }
    data["waits"] = {"service": 2}
    return parse_config(data, base_dir=EXAMPLE.parent)


def same_moto(ctx: Ctx, cfg: Config | None = None, *, dry_run: bool = False) -> Ctx:
    """Another Ctx on the same clients and state (a plan, or a changed config)."""
    return Ctx(
        cfg or ctx.cfg, ctx.aws, ctx.state, dry_run=dry_run, log=ctx.log, sleep=lambda _s: None
    )


def ensure_app(ctx: Ctx) -> Outcome:
    return ApplicationHandler().ensure(ctx, spec_of(ctx, "codedeploy.app"))


def ensure_group(ctx: Ctx) -> Outcome:
    return DeploymentGroupHandler().ensure(ctx, spec_of(ctx, "codedeploy.group"))


def live_group(ctx: Ctx) -> dict[str, Any]:
    info: dict[str, Any] = client("codedeploy").get_deployment_group(
        applicationName=names.codedeploy_app(ctx.cfg),
        deploymentGroupName=names.deployment_group(ctx.cfg),
    )["deploymentGroupInfo"]
    return info


def register_revision(ctx: Ctx, image: str) -> str:
    arn: str = client("ecs").register_task_definition(
        family=names.family(ctx.cfg),
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "nginx", "image": image, "portMappings": [{"containerPort": 80}]}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


def stand_up_dependencies(ctx: Ctx) -> None:
    """Real moto resources for what the deployment group needs, recorded as their handlers do."""
    cfg = ctx.cfg
    ec2 = client("ec2")
    elb = client("elbv2")
    ecs = client("ecs")
    iam = client("iam")
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
    taskdef = register_revision(ctx, "nginx:1")
    ctx.state.put(Record("taskdef", "task_definition", names.family(cfg), arn=taskdef))
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
        ctx, iam, "role.codedeploy", names.role(cfg, "codedeploy"), "codedeploy.amazonaws.com"
    )


@pytest.fixture
def logs() -> list[str]:
    return []


@pytest.fixture
def bg(mock: None, tmp_path: Path, logs: list[str]) -> Ctx:
    """A blue/green Ctx on moto with the group's dependencies in place."""
    cfg = blue_green_config()
    aws = Aws(region=REGION, sleep=lambda _s: None)
    state = State(tmp_path / "state.json", stack=cfg.stack, region=REGION)
    ctx = Ctx(cfg, aws, state, log=logs.append, sleep=lambda _s: None)
    stand_up_dependencies(ctx)
    return ctx


@pytest.fixture
def up(bg: Ctx) -> Ctx:
    """Application and deployment group created."""
    assert ensure_app(bg).action == "create"
    assert ensure_group(bg).action == "create"
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


# --- pure ------------------------------------------------------------------------------------
def test_appspec_names_the_revision_and_the_endpoint_container() -> None:
    cfg = blue_green_config()
    arn = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/test-codepipeline-dev:7"
    doc = yaml.safe_load(codedeploy.appspec_content(cfg, arn))
    assert doc == {
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
    revision = {"appSpecContent": {"content": codedeploy.appspec_content(cfg, arn)}}
    assert codedeploy.appspec_task_definition(revision) == arn
    assert codedeploy.appspec_task_definition({"revisionType": "S3"}) is None


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
    assert codedeploy.deployment_deadline(cfg) == 2 + 60 * (5 + 5 + 10)


def test_group_summary_ignores_aws_defaults_and_order() -> None:
    want: dict[str, Any] = {
        "deploymentConfigName": "CodeDeployDefault.ECSAllAtOnce",
        "blueGreenDeploymentConfiguration": {
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"}
        },
        "autoRollbackConfiguration": {"enabled": True, "events": ["A", "B"]},
        "loadBalancerInfo": {
            "targetGroupPairInfoList": [{"targetGroups": [{"name": "b"}, {"name": "g"}]}]
        },
    }
    have: dict[str, Any] = copy.deepcopy(want)
    have["blueGreenDeploymentConfiguration"]["deploymentReadyOption"]["waitTimeInMinutes"] = 0
    have["autoRollbackConfiguration"]["events"] = ["B", "A"]
    have["loadBalancerInfo"]["targetGroupPairInfoList"][0]["targetGroups"].reverse()
    have["loadBalancerInfo"]["elbInfoList"] = []
    assert codedeploy.group_differences(want, have) == []
    have["autoRollbackConfiguration"] = {"enabled": False}
    assert codedeploy.group_differences(want, have) == ["autoRollback: off -> on A, B"]


# --- application -----------------------------------------------------------------------------
def test_application_created_for_ecs_with_tags_then_unchanged(bg: Ctx) -> None:
    out = ensure_app(bg)
    assert (out.action, out.physical_id) == ("create", "test-codepipeline-dev")
    cd = client("codedeploy")
    assert (
        cd.get_application(applicationName="test-codepipeline-dev")["application"][
            "computePlatform"
        ]
        == "ECS"
    )
    arn = f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:application:test-codepipeline-dev"
    tags = {t["Key"]: t["Value"] for t in cd.list_tags_for_resource(ResourceArn=arn)["Tags"]}
    assert tags["ecs-cicd:stack"] == "test-codepipeline-dev"
    assert tags["ecs-cicd:id"] == "codedeploy.app"
    rec = bg.state.get("codedeploy.app")
    assert rec is not None and rec.physical_id == "test-codepipeline-dev" and rec.arn == arn
    before = bg.aws.stats.mutating_total
    assert ensure_app(bg).action == "unchanged"
    assert bg.aws.stats.mutating_total == before


def test_application_of_a_stranger_is_not_adopted(bg: Ctx) -> None:
    client("codedeploy").create_application(
        applicationName="test-codepipeline-dev", computePlatform="ECS"
    )
    with pytest.raises(AwsError, match="does not carry the tag"):
        ensure_app(bg)


def test_application_of_another_compute_platform_is_refused(bg: Ctx) -> None:
    client("codedeploy").create_application(
        applicationName="test-codepipeline-dev",
        computePlatform="Server",
        tags=[{"Key": "ecs-cicd:stack", "Value": "test-codepipeline-dev"}],
    )
    with pytest.raises(AwsError, match="compute platform is Server"):
        ensure_app(bg)


# --- deployment group ------------------------------------------------------------------------
def test_group_is_created_as_configured(up: Ctx) -> None:
    info = live_group(up)
    http, test = up.state.get("listener.http"), up.state.get("listener.test")
    assert http is not None and test is not None
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
    assert pair["targetGroups"] == [
        {"name": "test-codepipeline-dev-blue"},
        {"name": "test-codepipeline-dev-green"},
    ]
    assert pair["prodTrafficRoute"] == {"listenerArns": [http.physical_id]}
    assert pair["testTrafficRoute"] == {"listenerArns": [test.physical_id]}
    assert info["ecsServices"] == [
        {"clusterName": "test-codepipeline-dev", "serviceName": "test-codepipeline-dev"}
    ]
    assert info["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    assert info["serviceRoleArn"].endswith(":role/test-codepipeline-dev-codedeploy")
    assert info["computePlatform"] == "ECS"
    rec = up.state.get("codedeploy.group")
    assert rec is not None and rec.physical_id == "test-codepipeline-dev"
    assert rec.outputs == {"application": "test-codepipeline-dev"}
    cd = client("codedeploy")
    tags = cd.list_tags_for_resource(ResourceArn=rec.arn)["Tags"]
    assert {"Key": "ecs-cicd:id", "Value": "codedeploy.group"} in tags


def test_second_ensure_makes_no_mutating_call(up: Ctx) -> None:
    before = up.aws.stats.mutating_total
    out = ensure_group(up)
    assert (out.action, out.changes) == ("unchanged", [])
    assert up.aws.stats.mutating_total == before


def test_group_without_a_record_is_adopted_and_a_strangers_refused(up: Ctx) -> None:
    up.state.remove("codedeploy.group")
    assert ensure_group(up).action == "adopt"
    cd = client("codedeploy")
    cd.delete_deployment_group(
        applicationName="test-codepipeline-dev", deploymentGroupName="test-codepipeline-dev"
    )
    group = codedeploy.desired_group(up)
    cd.create_deployment_group(
        applicationName="test-codepipeline-dev",
        deploymentGroupName="test-codepipeline-dev",
        **group,
    )
    up.state.remove("codedeploy.group")
    with pytest.raises(AwsError, match="does not carry the tag"):
        ensure_group(up)


def test_drift_is_planned_then_put_back(up: Ctx) -> None:
    cd = client("codedeploy")
    cd.update_deployment_group(
        applicationName="test-codepipeline-dev",
        currentDeploymentGroupName="test-codepipeline-dev",
        deploymentConfigName="CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        autoRollbackConfiguration={"enabled": False},
    )
    before = up.aws.stats.mutating_total
    plan = ensure_group(same_moto(up, dry_run=True))
    assert plan.action == "update"
    assert plan.changes == [
        "deploymentConfigName: CodeDeployDefault.ECSLinear10PercentEvery1Minutes -> "
        "CodeDeployDefault.ECSAllAtOnce",
        "autoRollback: off -> on DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_REQUEST",
    ]
    assert up.aws.stats.mutating_total == before
    out = ensure_group(up)
    assert out.action == "update" and out.changes == plan.changes
    assert mutating(up).get("codedeploy:UpdateDeploymentGroup") == 1
    info = live_group(up)
    assert info["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    assert info["autoRollbackConfiguration"]["enabled"] is True
    assert ensure_group(up).action == "unchanged"


def test_config_changes_converge(up: Ctx) -> None:
    cfg = blue_green_config(
        deployment_config="CodeDeployDefault.ECSCanary10Percent5Minutes",
        ready_action="STOP_DEPLOYMENT",
        ready_wait_minutes=30,
        termination_wait_minutes=60,
    )
    out = ensure_group(same_moto(up, cfg))
    assert out.action == "update"
    assert (
        "deploymentReadyOption: CONTINUE_DEPLOYMENT -> STOP_DEPLOYMENT after 30 min" in out.changes
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
    assert ensure_group(same_moto(up, cfg)).action == "unchanged"


def test_production_listener_is_https_when_a_certificate_is_set(bg: Ctx) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["load_balancer"]["certificate_arn"] = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/x"
    data["pipeline"]["deploy"] = {"strategy": "blue_green"}
    ctx = same_moto(bg, parse_config(data, base_dir=EXAMPLE.parent))
    https = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener/app/x/1/443"
    ctx.state.put(Record("listener.https", "listener", https, arn=https))
    pair = codedeploy.desired_group(ctx)["loadBalancerInfo"]["targetGroupPairInfoList"][0]
    assert pair["prodTrafficRoute"] == {"listenerArns": [https]}
    assert "testTrafficRoute" not in pair  # no test listener configured


def test_plan_of_a_new_group_makes_nothing(bg: Ctx) -> None:
    plan = same_moto(bg, dry_run=True)
    assert ensure_app(plan).action == "create"
    with pytest.raises(MissingDependency):  # the application is not there yet either
        ensure_group(plan)
    ensure_app(bg)
    before = bg.aws.stats.mutating_total
    out = ensure_group(same_moto(bg, dry_run=True))
    assert out.action == "create"
    assert out.changes[0] == "CodeDeployDefault.ECSAllAtOnce"
    assert bg.aws.stats.mutating_total == before
    cd = client("codedeploy")
    assert (
        cd.list_deployment_groups(applicationName="test-codepipeline-dev")["deploymentGroups"] == []
    )


def test_role_lag_is_retried(bg: Ctx) -> None:
    ensure_app(bg)
    calls = inject_errors(bg, "CreateDeploymentGroup", [("InvalidRoleException", ROLE_LAG)] * 2)
    assert ensure_group(bg).action == "create"
    assert calls() == 3
    assert live_group(bg)["deploymentGroupName"] == "test-codepipeline-dev"


def test_other_invalid_role_errors_fail_at_once(bg: Ctx) -> None:
    ensure_app(bg)
    message = "AWS CodeDeploy does not have the permissions required to assume the role"
    calls = inject_errors(bg, "CreateDeploymentGroup", [("InvalidRoleException", message)])
    with pytest.raises(AwsError) as err:
        ensure_group(bg)
    assert calls() == 1
    assert err.value.code == "InvalidRoleException" and message in str(err.value)
    assert bg.state.get("codedeploy.group") is None


def test_role_lag_on_update_is_retried(up: Ctx) -> None:
    cfg = blue_green_config(termination_wait_minutes=10)
    calls = inject_errors(up, "UpdateDeploymentGroup", [("InvalidRoleException", ROLE_LAG)])
    assert ensure_group(same_moto(up, cfg)).action == "update"
    assert calls() == 2


# --- deployments -----------------------------------------------------------------------------
def test_new_revision_is_deployed_through_codedeploy_and_followed(up: Ctx, logs: list[str]) -> None:
    new = register_revision(up, "nginx:2")
    up.state.put(Record("taskdef", "task_definition", names.family(up.cfg), arn=new))
    before = up.aws.stats.mutating_total
    plan = ensure_group(same_moto(up, dry_run=True))
    assert (plan.action, plan.changes) == ("update", [f"deploy {new} via CodeDeploy"])
    assert up.aws.stats.mutating_total == before

    out = ensure_group(up)
    assert out.action == "update"
    assert mutating(up).get("codedeploy:CreateDeployment") == 1
    rec = up.state.get("codedeploy.group")
    assert rec is not None
    deployment_id = rec.outputs["deployment"]
    assert out.changes == [f"deploy {new} via CodeDeploy (deployment {deployment_id})"]
    info = client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["revision"]["revisionType"] == "AppSpecContent"
    assert codedeploy.appspec_task_definition(info["revision"]) == new

    done = codedeploy.wait_for_deployment_group(up)
    assert done is not None and done["status"] == "Succeeded"
    assert any(f"deployment {deployment_id} Succeeded" in line for line in logs)
    [svc] = client("ecs").describe_services(
        cluster="test-codepipeline-dev", services=["test-codepipeline-dev"]
    )["services"]
    assert svc["taskDefinition"] == new

    # Deployed: the next `up` changes nothing and follows no deployment.
    before = up.aws.stats.mutating_total
    assert ensure_group(up).action == "unchanged"
    assert up.aws.stats.mutating_total == before
    rec = up.state.get("codedeploy.group")
    assert rec is not None and "deployment" not in rec.outputs


def test_a_deployment_in_flight_is_followed_not_duplicated(
    up: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.ecs.models import ecs_backends

    old = up.state.get("taskdef")
    assert old is not None and old.arn is not None
    new = register_revision(up, "nginx:2")
    up.state.put(Record("taskdef", "task_definition", names.family(up.cfg), arn=new))
    ensure_group(up)
    rec = up.state.get("codedeploy.group")
    assert rec is not None
    first = rec.outputs["deployment"]
    # Still in progress (moto's finish at once), the service still on the old revision.
    deployments = codedeploy_backends[ACCOUNT][REGION].deployments
    deployments[first].status = "InProgress"
    service_key = f"{names.cluster(up.cfg)}:{names.service(up.cfg)}"
    ecs_backends[ACCOUNT][REGION].services[service_key].task_definition = old.arn

    out = ensure_group(up)
    assert out.changes == [f"deploy {new} via CodeDeploy (deployment {first})"]
    assert mutating(up).get("codedeploy:CreateDeployment") == 1  # still only the first one
    rec = up.state.get("codedeploy.group")
    assert rec is not None and rec.outputs["deployment"] == first

    newer = register_revision(up, "nginx:3")
    up.state.put(Record("taskdef", "task_definition", names.family(up.cfg), arn=newer))
    out = ensure_group(up)
    assert out.changes[0].startswith(f"not deploying {newer}: CodeDeploy deployment {first}")
    assert mutating(up).get("codedeploy:CreateDeployment") == 1
    rec = up.state.get("codedeploy.group")
    assert rec is not None and rec.outputs["deployment"] == first

    # With no id recorded, the wait finds the group's deployment in flight by itself.
    up.state.put(
        Record(
            rec.logical_id,
            rec.kind,
            rec.physical_id,
            arn=rec.arn,
            outputs={"application": "test-codepipeline-dev"},
        )
    )
    polled: list[str] = []
    original = up.client("codedeploy").get_deployment

    def spy(**kw: Any) -> Any:
        polled.append(kw["deploymentId"])
        return original(**kw)

    monkeypatch.setattr(up.client("codedeploy"), "get_deployment", spy)
    # moto lacks ListDeploymentTargets (the traffic detail); AWS answers no targets this early.
    monkeypatch.setattr(up.client("codedeploy"), "list_deployment_targets", lambda **_: {})
    quick = same_moto(up, blue_green_config(termination_wait_minutes=0))  # a 2 s deadline
    with pytest.raises(WaitTimeout, match=f"CodeDeploy deployment {first}"):
        codedeploy.wait_for_deployment_group(quick)
    assert set(polled) == {first}
    deployments[first].status = "Succeeded"
    polled.clear()
    # Nothing in flight any more: only the service check.
    assert codedeploy.wait_for_deployment_group(quick) is None
    assert polled == []


def test_wait_reports_progress_only_when_it_changes(
    up: Ctx, logs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cd = up.client("codedeploy")
    rec = up.state.get("codedeploy.group")
    assert rec is not None
    up.state.put(
        Record(
            rec.logical_id,
            rec.kind,
            rec.physical_id,
            arn=rec.arn,
            outputs={**rec.outputs, "deployment": "d-ABC"},
        )
    )
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
    info = codedeploy.wait_for_deployment_group(up)
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
    up: Ctx, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    rec = up.state.get("codedeploy.group")
    assert rec is not None
    up.state.put(
        Record(
            rec.logical_id,
            rec.kind,
            rec.physical_id,
            arn=rec.arn,
            outputs={**rec.outputs, "deployment": "d-BAD"},
        )
    )
    seen = fake_get_deployment(
        monkeypatch,
        up,
        [
            {
                "applicationName": "test-codepipeline-dev",
                "deploymentGroupName": "test-codepipeline-dev",
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
        codedeploy.wait_for_deployment_group(up)
    assert seen == ["d-BAD"]  # no second poll
    text = str(err.value)
    assert (
        f"CodeDeploy deployment d-BAD of test-codepipeline-dev/test-codepipeline-dev {status}"
        in text
    )
    assert (
        "ECS_UPDATE_ERROR: The ECS service cannot be updated: new tasks failed health checks"
        in text
    )
    assert "rolled back by deployment d-ROLLBACK" in text


def test_wait_without_a_deployment_checks_the_service_runs(
    up: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert codedeploy.wait_for_deployment_group(up) is None  # emulator: running == desired
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
    assert codedeploy.wait_for_deployment_group(up) is None
    monkeypatch.setattr(
        ecs,
        "describe_services",
        lambda **kw: {"services": [{**original(**kw)["services"][0], "runningCount": 0}]},
    )
    with pytest.raises(WaitTimeout, match="running 0/1"):
        codedeploy.wait_for_deployment_group(up)


# --- delete ----------------------------------------------------------------------------------
def test_delete_group_then_application_then_gone(up: Ctx) -> None:
    group, app = up.state.get("codedeploy.group"), up.state.get("codedeploy.app")
    assert group is not None and app is not None
    assert DeploymentGroupHandler().delete(up, group).action == "delete"
    cd = client("codedeploy")
    assert (
        cd.list_deployment_groups(applicationName="test-codepipeline-dev")["deploymentGroups"] == []
    )
    assert ApplicationHandler().delete(up, app).action == "delete"
    assert cd.list_applications()["applications"] == []
    assert DeploymentGroupHandler().delete(up, group).action == "gone"
    assert ApplicationHandler().delete(up, app).action == "gone"
