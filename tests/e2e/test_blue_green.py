"""Blue/green end to end: `up` with a CodeDeploy strategy creates both target groups, the test
listener, the CODE_DEPLOY service, the application and deployment group and a CodeDeployToECS
pipeline action; a second `up` changes nothing; a config change deploys through CodeDeploy;
`down` leaves nothing."""

from __future__ import annotations

import json

import pytest
import yaml

from ecs_cicd.emulator.client import fetch_calls, reset_calls
from ecs_cicd.inventory import inventory, non_empty
from tests.conftest import EXAMPLE
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e
STACK = "test-codepipeline-dev"


def blue_green(cli: Cli) -> None:
    d = yaml.safe_load(EXAMPLE.read_text())
    d["pipeline"]["deploy"] = {"strategy": "blue_green", "blue_green": {"test_listener_port": 8080}}
    (cli.workdir / "ecs_cicd.yaml").write_text(yaml.safe_dump(d))


def test_blue_green_cycle(cli: Cli) -> None:
    blue_green(cli)
    up = json.loads(cli.run("up", "--output", "json").stdout)
    ids = {r["id"] for r in up["resources"]}
    assert {
        "tg.blue",
        "tg.green",
        "listener.test",
        "codedeploy.app",
        "codedeploy.group",
        "role.codedeploy",
    } <= ids
    assert "tg.main" not in ids
    aws = cli.aws()
    elb = aws.client("elbv2")
    tgs = {t["TargetGroupName"]: t for t in elb.describe_target_groups()["TargetGroups"]}
    blue, green = tgs[f"{STACK}-blue"], tgs[f"{STACK}-green"]
    assert blue["HealthCheckPath"] == green["HealthCheckPath"] == "/health"
    lb = elb.describe_load_balancers(Names=[f"{STACK}-alb"])["LoadBalancers"][0]
    listeners = {
        lst["Port"]: lst
        for lst in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    }
    assert listeners[80]["DefaultActions"][0]["TargetGroupArn"] == blue["TargetGroupArn"]
    assert listeners[8080]["DefaultActions"][0]["TargetGroupArn"] == green["TargetGroupArn"]

    svc = aws.client("ecs").describe_services(cluster=STACK, services=[STACK])["services"][0]
    assert svc["deploymentController"]["type"] == "CODE_DEPLOY"

    cd = aws.client("codedeploy")
    group = cd.get_deployment_group(applicationName=STACK, deploymentGroupName=STACK)[
        "deploymentGroupInfo"
    ]
    assert group["deploymentStyle"] == {
        "deploymentType": "BLUE_GREEN",
        "deploymentOption": "WITH_TRAFFIC_CONTROL",
    }
    pair = group["loadBalancerInfo"]["targetGroupPairInfoList"][0]
    assert [t["name"] for t in pair["targetGroups"]] == [f"{STACK}-blue", f"{STACK}-green"]
    assert pair["prodTrafficRoute"]["listenerArns"] == [listeners[80]["ListenerArn"]]
    assert pair["testTrafficRoute"]["listenerArns"] == [listeners[8080]["ListenerArn"]]
    assert group["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    assert (
        group["blueGreenDeploymentConfiguration"]["terminateBlueInstancesOnDeploymentSuccess"][
            "terminationWaitTimeInMinutes"
        ]
        == 5
    )
    assert group["autoRollbackConfiguration"]["enabled"] is True

    deploy = aws.client("codepipeline").get_pipeline(name=STACK)["pipeline"]["stages"][2][
        "actions"
    ][0]
    assert deploy["actionTypeId"]["provider"] == "CodeDeployToECS"
    conf = deploy["configuration"]
    assert (
        conf["TaskDefinitionTemplatePath"] == "taskdef.json"
        and conf["AppSpecTemplatePath"] == "appspec.yaml"
    )
    assert conf["Image1ContainerName"] == "IMAGE1_NAME"
    assert conf["ApplicationName"] == STACK and conf["DeploymentGroupName"] == STACK

    reset_calls(cli.endpoint)
    again = json.loads(cli.run("up", "--output", "json").stdout)
    assert {r["action"] for r in again["resources"]} == {"unchanged"}
    assert [c for c in fetch_calls(cli.endpoint) if c["mutating"]] == []

    # A task definition change on a CODE_DEPLOY service goes through a CodeDeploy deployment.
    d = yaml.safe_load((cli.workdir / "ecs_cicd.yaml").read_text())
    d["task"]["containers"][1]["environment"]["FEATURE"] = "on"
    (cli.workdir / "ecs_cicd.yaml").write_text(yaml.safe_dump(d))
    reset_calls(cli.endpoint)
    cli.run("up")
    assert any(c["action"] == "CreateDeployment" for c in fetch_calls(cli.endpoint))
    assert not any(
        c["action"] == "UpdateService" and c["service"] == "ecs" for c in fetch_calls(cli.endpoint)
    )

    cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix="test-codepipeline")) == {}


def test_switching_strategy_needs_the_flag(cli: Cli) -> None:
    cli.run("up")
    try:
        blue_green(cli)
        proc = cli.run("up", check=False)
        assert proc.returncode == 2 and "--replace-service" in proc.stderr
    finally:
        cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix="test-codepipeline")) == {}
