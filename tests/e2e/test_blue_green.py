"""Blue/green end to end: `up` with a CodeDeploy strategy creates both target groups, the test
listener, the CODE_DEPLOY service, the application and deployment group and a CodeDeployToECS
pipeline action; a second `up` changes nothing; a config change deploys through CodeDeploy;
`down` leaves nothing."""

from __future__ import annotations

import json

import pytest
import yaml

from ecs_cicd.emulator.client import clear_injections, fetch_calls, inject_error, reset_calls
from ecs_cicd.inventory import inventory, non_empty
from tests.conftest import EXAMPLE
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e
STACK = "test-codepipeline-dev"


def blue_green(cli: Cli) -> None:
    d = yaml.safe_load(EXAMPLE.read_text())
    d["pipeline"]["deploy"] = {"strategy": "blue_green", "blue_green": {"test_listener_port": 8080}}
    (cli.workdir / "ecs_cicd.yaml").write_text(yaml.safe_dump(d))


def rolling(cli: Cli) -> None:
    (cli.workdir / "ecs_cicd.yaml").write_text(EXAMPLE.read_text())


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
    # `outputs` names what a blue/green user looks for: the test listener, CodeDeploy's names.
    out = json.loads(cli.run("outputs", "--output", "json").stdout)
    assert out["test_listener_port"] == 8080 and out["test_url"].endswith(":8080")
    assert out["codedeploy_application"] == out["codedeploy_deployment_group"] == STACK
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


# --- strategy switch without downtime ----------------------------------------------------------
def production(cli: Cli) -> list[dict[str, object]]:
    """The HTTP listener's target groups: [{name, weight}]."""
    elb = cli.aws().client("elbv2")
    lb = elb.describe_load_balancers(Names=[f"{STACK}-alb"])["LoadBalancers"][0]
    [listener] = [
        x
        for x in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        if x["Port"] == 80
    ]
    [action] = listener["DefaultActions"]
    groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
        {"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}
    ]
    return [
        {"name": g["TargetGroupArn"].split("/")[1], "weight": g.get("Weight", 1)} for g in groups
    ]


def active_services(cli: Cli) -> dict[str, str]:
    """ACTIVE services of the cluster: name -> deployment controller."""
    ecs = cli.aws().client("ecs")
    arns = ecs.list_services(cluster=STACK)["serviceArns"]
    found = ecs.describe_services(cluster=STACK, services=arns)["services"] if arns else []
    return {s["serviceName"]: s["deploymentController"]["type"] for s in found}


def target_groups(cli: Cli) -> set[str]:
    elb = cli.aws().client("elbv2")
    return {t["TargetGroupName"] for t in elb.describe_target_groups()["TargetGroups"]}


def mutating(cli: Cli) -> list[str]:
    return [f"{c['service']}:{c['action']}" for c in fetch_calls(cli.endpoint) if c["mutating"]]


def test_switching_strategy_without_downtime(cli: Cli) -> None:
    cli.run("up")
    try:
        blue_green(cli)
        # The plan names the steps and what goes at the end.
        lines = {
            r["id"]: r for r in json.loads(cli.run("plan", "--output", "json").stdout)["resources"]
        }
        notes = " ".join(lines["service"]["notes"])
        assert lines["service"]["action"] == "replace" and "no downtime" in notes
        assert f"creates {STACK}-alt" in notes and "alongside" in notes
        assert lines["service.previous"]["action"] == "delete"
        assert lines["tg.main"]["action"] == "delete"

        reset_calls(cli.endpoint)
        up = json.loads(cli.run("up", "--replace-service", "--output", "json").stdout)
        calls = mutating(cli)
        create = calls.index("ecs:CreateService")
        moves = [i for i, c in enumerate(calls) if c == "elbv2:ModifyListener"]
        retire = min(
            i for i, c in enumerate(calls) if c in ("ecs:UpdateService", "ecs:DeleteService")
        )
        # attach (weight 0) < create the new service < move traffic < scale down/delete the old
        assert len(moves) == 2 and moves[0] < create < moves[-1] < retire
        assert calls.count("ecs:CreateService") == calls.count("ecs:DeleteService") == 1
        assert calls.index("ecs:DeleteService") < calls.index("elbv2:DeleteTargetGroup")
        assert up["outputs"]["service"] == f"{STACK}-alt"
        assert active_services(cli) == {f"{STACK}-alt": "CODE_DEPLOY"}
        assert production(cli) == [{"name": f"{STACK}-blue", "weight": 1}]
        assert target_groups(cli) == {f"{STACK}-blue", f"{STACK}-green"}
        group = (
            cli.aws()
            .client("codedeploy")
            .get_deployment_group(applicationName=STACK, deploymentGroupName=STACK)[
                "deploymentGroupInfo"
            ]
        )
        assert group["ecsServices"] == [{"clusterName": STACK, "serviceName": f"{STACK}-alt"}]

        reset_calls(cli.endpoint)
        again = json.loads(cli.run("up", "--output", "json").stdout)
        assert {r["action"] for r in again["resources"]} == {"unchanged"}
        assert mutating(cli) == []

        # And back: the rolling service takes the original name again; what only blue/green
        # used (the test listener, both target groups, the CodeDeploy group) goes.
        rolling(cli)
        reset_calls(cli.endpoint)
        cli.run("up", "--replace-service")
        calls = mutating(cli)
        create = calls.index("ecs:CreateService")
        moves = [i for i, c in enumerate(calls) if c == "elbv2:ModifyListener"]
        retire = calls.index("ecs:DeleteService")
        assert moves[0] < create < moves[-1] < retire
        assert active_services(cli) == {STACK: "ECS"}
        assert production(cli) == [{"name": f"{STACK}-tg", "weight": 1}]
        assert target_groups(cli) == {f"{STACK}-tg"}
        pipeline = cli.aws().client("codepipeline").get_pipeline(name=STACK)["pipeline"]
        assert pipeline["stages"][2]["actions"][0]["configuration"]["ServiceName"] == STACK
    finally:
        cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix="test-codepipeline")) == {}


def test_a_failed_switch_keeps_the_old_service_serving_and_a_rerun_continues(cli: Cli) -> None:
    cli.run("up")
    try:
        blue_green(cli)
        inject_error(
            cli.endpoint, "ecs", "CreateService", "AccessDeniedException", "not authorized"
        )
        failed = cli.run("up", "--replace-service", check=False)
        assert failed.returncode != 0 and "not authorized" in failed.stderr
        # The old service still takes all the traffic; the new target group is attached.
        assert active_services(cli) == {STACK: "ECS"}
        assert production(cli) == [
            {"name": f"{STACK}-tg", "weight": 1},
            {"name": f"{STACK}-blue", "weight": 0},
        ]
        status = json.loads(cli.run("status", "--output", "json").stdout)
        assert "up --replace-service" in status["details"]["switch"]
        # Continuing needs the flag too; nothing changes without it.
        reset_calls(cli.endpoint)
        refused = cli.run("up", check=False)
        assert refused.returncode == 2 and "--replace-service" in refused.stderr
        assert mutating(cli) == []

        cli.run("up", "--replace-service")
        assert active_services(cli) == {f"{STACK}-alt": "CODE_DEPLOY"}
        assert production(cli) == [{"name": f"{STACK}-blue", "weight": 1}]
        assert f"{STACK}-tg" not in target_groups(cli)
    finally:
        clear_injections(cli.endpoint)
        cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix="test-codepipeline")) == {}


def half_switched(cli: Cli) -> None:
    """rolling -> blue_green stopped after the new service took the traffic, before the old one
    was deleted (the deployment group, created next, is refused)."""
    cli.run("up")
    blue_green(cli)
    inject_error(
        cli.endpoint, "codedeploy", "CreateDeploymentGroup", "AccessDeniedException", "denied"
    )
    try:
        assert cli.run("up", "--replace-service", check=False).returncode != 0
    finally:
        clear_injections(cli.endpoint)
    assert active_services(cli) == {STACK: "ECS", f"{STACK}-alt": "CODE_DEPLOY"}
    assert production(cli) == [{"name": f"{STACK}-blue", "weight": 1}]
    (cli.workdir / ".ecs_cicd" / f"{STACK}-ap-northeast-1.json").unlink()


def test_an_unfinished_switch_is_recovered_from_tags_and_finished(cli: Cli) -> None:
    half_switched(cli)
    try:
        recovered = json.loads(cli.run("state", "recover", "--output", "json").stdout)
        ids = {r["id"]: r["physical_id"] for r in recovered["resources"]}
        assert ids["service"] == f"{STACK}-alt" and ids["service.previous"] == STACK
        cli.run("up", "--replace-service")
        assert active_services(cli) == {f"{STACK}-alt": "CODE_DEPLOY"}
    finally:
        cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix="test-codepipeline")) == {}


def test_down_without_state_finds_both_services_of_an_unfinished_switch(cli: Cli) -> None:
    half_switched(cli)
    cli.run("down", "--yes")
    assert non_empty(inventory(cli.aws(), prefix="test-codepipeline")) == {}
