"""Pacing: each knob slows the emulator down as AWS is slow, and all zero keeps it instant.

The clock is the emulator's own (``_util.now`` as each module imported it), set by hand, except
for the latency and one real-time check with a small value (0.2 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd import cli
from ecs_cicd.emulator import REALISTIC, EmulatorServer, Pacing, pacing
from ecs_cicd.emulator import codepipeline as cp_patch
from ecs_cicd.emulator import ec2 as ec2_patch
from ecs_cicd.emulator import ecs as ecs_patch
from ecs_cicd.emulator import elbv2 as elbv2_patch
from ecs_cicd.emulator.middleware import EmulatorMiddleware
from tests.unit.emulator.emulator_helpers import make_role, two_stage_pipeline


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    for module in (ecs_patch, elbv2_patch, ec2_patch, cp_patch):
        monkeypatch.setattr(module, "now", c)
    return c


@pytest.fixture
def pace() -> Iterator[Any]:
    """Set the process-wide pacing for one test; put back the previous one afterwards."""
    previous = pacing.current()
    yield pacing.configure
    pacing.configure(previous)


@pytest.fixture
def stack(aws: Any) -> dict[str, Any]:
    """A VPC with two subnets and groups, a cluster and a task definition (nothing paced yet)."""
    ec2, ecs = aws("ec2"), aws("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(["ap-northeast-1a", "ap-northeast-1c"])
    ]
    alb_sg = ec2.create_security_group(GroupName="alb", Description="a", VpcId=vpc)["GroupId"]
    task_sg = ec2.create_security_group(GroupName="task", Description="t", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName="c")
    for image in ("nginx:1", "nginx:2"):
        ecs.register_task_definition(
            family="web",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": "app", "image": image, "portMappings": [{"containerPort": 80}]}
            ],
        )
    return {
        "ec2": ec2,
        "ecs": ecs,
        "elb": aws("elbv2"),
        "vpc": vpc,
        "subnets": subnets,
        "alb_sg": alb_sg,
        "task_sg": task_sg,
    }


def _alb(s: dict[str, Any]) -> str:
    return str(
        s["elb"].create_load_balancer(
            Name="web", Subnets=s["subnets"], SecurityGroups=[s["alb_sg"]]
        )["LoadBalancers"][0]["LoadBalancerArn"]
    )


def _alb_state(s: dict[str, Any], arn: str) -> str:
    return str(
        s["elb"].describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["State"][
            "Code"
        ]
    )


def _service_behind(s: dict[str, Any], alb: str) -> None:
    elb = s["elb"]
    tg = elb.create_target_group(
        Name="web", Protocol="HTTP", Port=80, VpcId=s["vpc"], TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(
        LoadBalancerArn=alb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    s["ecs"].create_service(
        cluster="c",
        serviceName="web",
        taskDefinition="web:1",
        desiredCount=2,
        launchType="FARGATE",
        loadBalancers=[{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}],
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": s["subnets"], "securityGroups": [s["task_sg"]]}
        },
    )


def _service(s: dict[str, Any]) -> dict[str, Any]:
    return s["ecs"].describe_services(cluster="c", services=["web"])["services"][0]  # type: ignore[no-any-return]


def _rollouts(service: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(d["status"], d["rolloutState"], d["runningCount"]) for d in service["deployments"]]


# --- the knobs themselves --------------------------------------------------------------------


def test_pacing_parses_specs_and_defaults_to_off() -> None:
    assert Pacing().off
    assert Pacing.parse("") == Pacing() == Pacing.parse("off")
    assert Pacing.parse("realistic") == REALISTIC
    assert Pacing.parse("latency_ms=50, alb_seconds=20") == Pacing(latency_ms=50, alb_seconds=20)
    assert Pacing.parse(REALISTIC.describe()) == REALISTIC
    for bad in ("alb=3", "latency_ms", "alb_seconds=soon", "alb_seconds=-1"):
        with pytest.raises(ValueError):
            Pacing.parse(bad)


def test_latency_delays_every_aws_request_but_not_the_control_plane(pace: Any) -> None:
    def app(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"{}"]

    def timed(middleware: EmulatorMiddleware, path: str) -> float:
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "POST", "wsgi.input": None}
        t0 = time.monotonic()
        middleware(environ, lambda *_a: None)
        return time.monotonic() - t0

    for control in (False, True):
        pace(Pacing(latency_ms=200))
        middleware = EmulatorMiddleware(app, control=control)
        if control:
            assert timed(middleware, "/_ecs_cicd/health") < 0.15
        else:
            assert timed(middleware, "/") >= 0.2
        pace(Pacing())
        assert timed(EmulatorMiddleware(app), "/") < 0.15


def test_server_sets_the_pacing_while_it_runs() -> None:
    before = pacing.current()
    with EmulatorServer(pacing=Pacing(alb_seconds=0.2)):
        assert pacing.current() == Pacing(alb_seconds=0.2)
    assert pacing.current() == before


# --- load balancer ---------------------------------------------------------------------------


def test_new_load_balancer_is_provisioning_for_alb_seconds(
    stack: dict[str, Any], pace: Any, clock: Clock
) -> None:
    pace(Pacing(alb_seconds=0.2))
    arn = _alb(stack)
    assert _alb_state(stack, arn) == "provisioning"
    clock.advance(0.1)
    assert _alb_state(stack, arn) == "provisioning"
    clock.advance(0.11)
    assert _alb_state(stack, arn) == "active"


def test_load_balancer_pacing_in_real_time(stack: dict[str, Any], pace: Any) -> None:
    pace(Pacing(alb_seconds=0.2))
    arn = _alb(stack)
    assert _alb_state(stack, arn) == "provisioning"
    time.sleep(0.25)
    assert _alb_state(stack, arn) == "active"


def test_without_pacing_a_load_balancer_is_active_on_first_read(stack: dict[str, Any]) -> None:
    assert _alb_state(stack, _alb(stack)) == "active"


# --- ECS service -----------------------------------------------------------------------------


def test_service_settles_service_seconds_after_its_load_balancer_is_active(
    stack: dict[str, Any], pace: Any, clock: Clock
) -> None:
    pace(Pacing(alb_seconds=0.2, service_seconds=0.2))
    alb = _alb(stack)
    clock.advance(0.05)  # the service starts before the ALB is active: the ALB decides
    _service_behind(stack, alb)
    svc = _service(stack)
    assert (svc["runningCount"], svc["pendingCount"]) == (0, 2)
    assert _rollouts(svc) == [("PRIMARY", "IN_PROGRESS", 0)]
    clock.advance(0.3)  # 0.35 s: ALB active since 0.2, service settles at 0.4
    assert _rollouts(_service(stack)) == [("PRIMARY", "IN_PROGRESS", 0)]
    clock.advance(0.06)
    svc = _service(stack)
    assert _rollouts(svc) == [("PRIMARY", "COMPLETED", 2)]
    assert (svc["runningCount"], svc["pendingCount"]) == (2, 0)
    assert "has reached a steady state" in svc["events"][0]["message"]


def test_service_without_load_balancer_settles_after_service_seconds(
    stack: dict[str, Any], pace: Any, clock: Clock
) -> None:
    pace(Pacing(service_seconds=0.2))
    stack["ecs"].create_service(
        cluster="c", serviceName="web", taskDefinition="web:1", desiredCount=1
    )
    assert _rollouts(_service(stack)) == [("PRIMARY", "IN_PROGRESS", 0)]
    clock.advance(0.21)
    assert _rollouts(_service(stack)) == [("PRIMARY", "COMPLETED", 1)]


def test_updated_service_runs_the_old_deployment_until_the_new_one_settles(
    stack: dict[str, Any], pace: Any, clock: Clock
) -> None:
    alb = _alb(stack)
    _service_behind(stack, alb)  # unpaced: steady at once
    pace(Pacing(alb_seconds=0.2, service_seconds=0.2))
    stack["ecs"].update_service(cluster="c", service="web", taskDefinition="web:2")
    svc = _service(stack)
    # The ALB has long been active: only the service's own time counts.
    assert _rollouts(svc) == [("PRIMARY", "IN_PROGRESS", 0), ("ACTIVE", "COMPLETED", 2)]
    assert svc["runningCount"] == 2
    stack["ecs"].update_service(cluster="c", service="web", desiredCount=3)
    assert _service(stack)["deployments"][0]["desiredCount"] == 3
    clock.advance(0.21)
    svc = _service(stack)
    assert _rollouts(svc) == [("PRIMARY", "COMPLETED", 3)]
    assert svc["deployments"][0]["taskDefinition"].endswith("web:2")


def test_without_pacing_a_service_is_steady_at_once(stack: dict[str, Any]) -> None:
    _service_behind(stack, _alb(stack))
    assert _rollouts(_service(stack)) == [("PRIMARY", "COMPLETED", 2)]


# --- ENI release -----------------------------------------------------------------------------


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_deleted_service_and_alb_hold_subnets_and_groups_for_eni_release_seconds(
    stack: dict[str, Any], pace: Any, clock: Clock
) -> None:
    alb = _alb(stack)
    _service_behind(stack, alb)
    pace(Pacing(eni_release_seconds=0.2))
    ec2, elb = stack["ec2"], stack["elb"]
    stack["ecs"].update_service(cluster="c", service="web", desiredCount=0)
    stack["ecs"].delete_service(cluster="c", service="web")
    for listener in elb.describe_listeners(LoadBalancerArn=alb)["Listeners"]:
        elb.delete_listener(ListenerArn=listener["ListenerArn"])
    elb.delete_load_balancer(LoadBalancerArn=alb)
    clock.advance(0.1)
    for refused in (
        lambda: ec2.delete_security_group(GroupId=stack["task_sg"]),
        lambda: ec2.delete_security_group(GroupId=stack["alb_sg"]),
        lambda: ec2.delete_subnet(SubnetId=stack["subnets"][0]),
    ):
        with pytest.raises(ClientError) as err:
            refused()
        assert _code(err) == "DependencyViolation"
    clock.advance(0.11)
    ec2.delete_security_group(GroupId=stack["task_sg"])
    ec2.delete_security_group(GroupId=stack["alb_sg"])
    for subnet in stack["subnets"]:
        ec2.delete_subnet(SubnetId=subnet)


def test_without_pacing_subnets_and_groups_are_free_once_their_users_are_gone(
    stack: dict[str, Any],
) -> None:
    alb = _alb(stack)
    _service_behind(stack, alb)
    ec2, elb = stack["ec2"], stack["elb"]
    stack["ecs"].delete_service(cluster="c", service="web", force=True)
    for listener in elb.describe_listeners(LoadBalancerArn=alb)["Listeners"]:
        elb.delete_listener(ListenerArn=listener["ListenerArn"])
    elb.delete_load_balancer(LoadBalancerArn=alb)
    ec2.delete_security_group(GroupId=stack["task_sg"])
    ec2.delete_security_group(GroupId=stack["alb_sg"])
    ec2.delete_subnet(SubnetId=stack["subnets"][0])


# --- pipeline --------------------------------------------------------------------------------


def test_pipeline_runs_for_pipeline_seconds(aws: Any, pace: Any, clock: Clock) -> None:
    pace(Pacing(pipeline_seconds=0.2))
    cp = aws("codepipeline")
    role = make_role(aws("iam"), "pipeline", "codepipeline.amazonaws.com")
    cp.create_pipeline(pipeline=two_stage_pipeline(role))

    def status() -> str:
        summary = cp.list_pipeline_executions(pipelineName="p")["pipelineExecutionSummaries"][0]
        return str(summary["status"])

    assert status() == "InProgress"
    clock.advance(0.21)
    assert status() == "Succeeded"


# --- the CLI ---------------------------------------------------------------------------------


def test_emulator_verb_takes_each_knob() -> None:
    args = cli.build_parser().parse_args(
        [
            "emulator",
            "--latency-ms",
            "50",
            "--alb-seconds",
            "20",
            "--service-seconds",
            "10",
            "--pipeline-seconds",
            "30",
            "--eni-release-seconds",
            "20",
        ]
    )
    assert Pacing(**{d: getattr(args, d) for d, _f, _t in cli._PACING_OPTIONS}) == Pacing(
        latency_ms=50,
        alb_seconds=20,
        service_seconds=10,
        pipeline_seconds=30,
        eni_release_seconds=20,
    )


def test_emulator_pacing_option_is_checked(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    config = "tests/fixtures/none.yaml"  # never read: the usage error comes first
    monkeypatch.setattr("ecs_cicd.config.load_config", lambda *_a, **_k: None)
    assert cli.main(["status", "-c", config, "--emulator-pacing", "latency_ms=5"]) == 2
    assert "--emulator-pacing needs --emulator" in capsys.readouterr().err
    assert cli.main(["status", "-c", config, "--emulator", "--emulator-pacing", "alb=1"]) == 2
    assert "--emulator-pacing" in capsys.readouterr().err
    monkeypatch.setenv(cli.PACING_ENV, "bogus")
    assert cli.main(["status", "-c", config, "--emulator"]) == 2
    assert cli.PACING_ENV in capsys.readouterr().err


def test_emulator_option_and_env_var_reach_the_embedded_emulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[Pacing] = []

    class Fake:
        def __init__(self, *, pacing: Pacing) -> None:
            built.append(pacing)

        def __enter__(self) -> Fake:
            raise KeyboardInterrupt  # stop before any AWS call

        def __exit__(self, *_exc: object) -> None:
            return None

    monkeypatch.setattr("ecs_cicd.emulator.EmulatorServer", Fake)
    monkeypatch.setattr("ecs_cicd.config.load_config", lambda *_a, **_k: None)
    monkeypatch.setenv(cli.PACING_ENV, "alb_seconds=20")
    assert cli.main(["status", "--emulator"]) == 130
    assert cli.main(["status", "--emulator", "--emulator-pacing", "realistic"]) == 130
    monkeypatch.delenv(cli.PACING_ENV)
    assert cli.main(["status", "--emulator"]) == 130
    assert built == [Pacing(alb_seconds=20), REALISTIC, Pacing()]


def test_emulator_verb_serves_with_its_pacing_and_refuses_a_negative_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: list[Any] = []
    monkeypatch.setattr("ecs_cicd.emulator.serve", lambda **kwargs: served.append(kwargs["pacing"]))
    assert cli.main(["emulator", "--alb-seconds", "3", "--latency-ms", "5"]) == 0
    assert served == [Pacing(latency_ms=5, alb_seconds=3)]
    assert cli.main(["emulator", "--service-seconds", "-1"]) == 2
    assert "service_seconds must be a number >= 0" in capsys.readouterr().err


# --- the tool against a paced emulator -------------------------------------------------------


def test_up_waits_for_the_paced_stack_and_down_rides_out_the_eni_release(
    mock: None, pace: Any, tmp_path: Any
) -> None:
    import boto3

    from ecs_cicd import down, load_config, up
    from ecs_cicd.aws import Aws
    from ecs_cicd.inventory import inventory, non_empty
    from tests.conftest import EXAMPLE

    pace(Pacing(alb_seconds=0.3, service_seconds=0.3, pipeline_seconds=0.3, eni_release_seconds=1))
    cfg = load_config(EXAMPLE)
    session = boto3.Session(region_name="ap-northeast-1")
    state = tmp_path / "s.json"
    lines: list[str] = []
    up(cfg, session=session, state_path=state, log=lines.append)
    assert "load balancer: provisioning" in lines and "load balancer: active" in lines
    service = [line for line in lines if line.startswith("service: ")]
    assert service[0].startswith("service: IN_PROGRESS, running 0/1")
    assert service[-1].startswith("service: COMPLETED, running 1/1")
    gone = down(cfg, session=session, state_path=state, confirm=lambda _r: True)
    deletes = gone.calls["mutating_calls"]
    # Two groups and two subnets, at least one of them refused at first (DependencyViolation).
    assert deletes["ec2:DeleteSecurityGroup"] + deletes["ec2:DeleteSubnet"] > 4
    assert not non_empty(
        inventory(Aws(session, region="ap-northeast-1"), prefix="test-codepipeline")
    )
