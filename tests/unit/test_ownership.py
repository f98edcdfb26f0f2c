"""Ownership through the library API (in-process moto): a resource with the stack's name but not
its tag is someone else's. `up` refuses before changing anything and names every one; `down`, with
or without a state file, never deletes, empties or modifies one; `--adopt` takes one over."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ecs_cicd import down, load_config, plan, up
from ecs_cicd.lifecycle import ForeignResources
from ecs_cicd.resources import kinds
from tests.conftest import EXAMPLE
from tests.unit.resources.helpers import TRUST, stack_of

REGION = "ap-northeast-1"


def no_sleep(_s: float) -> None:
    return None


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def name_of(lid: str) -> str:
    w = stack_of(load_config(EXAMPLE)).get(lid)
    return kinds()[w.kind].name(w)


# Each: make a stranger named like `lid`; return a check that it is intact (raises if not).
def role(name: str) -> Callable[[], None]:
    iam = client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST % "ec2.amazonaws.com")
    iam.put_role_policy(
        RoleName=name,
        PolicyName="theirs",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
            }
        ),
    )

    def intact() -> None:
        r = iam.get_role(RoleName=name)["Role"]
        assert "ec2.amazonaws.com" in json.dumps(r["AssumeRolePolicyDocument"])
        assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["theirs"]

    return intact


def bucket(name: str) -> Callable[[], None]:
    s3 = client("s3")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=name, Key="their-data.txt", Body=b"keep me")

    def intact() -> None:
        assert s3.get_object(Bucket=name, Key="their-data.txt")["Body"].read() == b"keep me"
        with pytest.raises(ClientError, match=r"NoSuchBucketPolicy"):  # we put none on it
            s3.get_bucket_policy(Bucket=name)

    return intact


def log_group(name: str) -> Callable[[], None]:
    logs = client("logs")
    logs.create_log_group(logGroupName=name)
    logs.put_retention_policy(logGroupName=name, retentionInDays=400)

    def intact() -> None:
        (g,) = [
            g
            for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
            if g["logGroupName"] == name
        ]
        assert g["retentionInDays"] == 400

    return intact


def repository(name: str) -> Callable[[], None]:
    ecr = client("ecr")
    ecr.create_repository(repositoryName=name)

    def intact() -> None:
        (r,) = ecr.describe_repositories(repositoryNames=[name])["repositories"]
        assert not r.get("imageScanningConfiguration", {}).get("scanOnPush")

    return intact


def cluster(name: str) -> Callable[[], None]:
    ecs = client("ecs")
    ecs.create_cluster(clusterName=name)

    def intact() -> None:
        (c,) = ecs.describe_clusters(clusters=[name])["clusters"]
        assert c["status"] == "ACTIVE"

    return intact


def codebuild_project(name: str) -> Callable[[], None]:
    cb = client("codebuild")
    iam = client("iam")
    arn = iam.create_role(
        RoleName="their-cb", AssumeRolePolicyDocument=TRUST % "codebuild.amazonaws.com"
    )["Role"]["Arn"]
    cb.create_project(
        name=name,
        source={"type": "NO_SOURCE", "buildspec": "version: 0.2"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "their/image",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=arn,
    )

    def intact() -> None:
        (p,) = cb.batch_get_projects(names=[name])["projects"]
        assert p["environment"]["image"] == "their/image"

    return intact


def target_group(name: str) -> Callable[[], None]:
    vpc = client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    elb = client("elbv2")
    elb.create_target_group(
        Name=name, Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip", HealthCheckPath="/theirs"
    )

    def intact() -> None:
        (tg,) = elb.describe_target_groups(Names=[name])["TargetGroups"]
        assert tg["HealthCheckPath"] == "/theirs" and tg["Port"] == 8080

    return intact


STRANGERS: dict[str, Callable[[str], Callable[[], None]]] = {
    "tg.main": target_group,
    "role.codebuild": role,
    "role.execution": role,
    "bucket.artifacts": bucket,
    "logs.app": log_group,
    "ecr.app": repository,
    "cluster": cluster,
    "codebuild": codebuild_project,
}


@pytest.mark.parametrize("lid", sorted(STRANGERS))
def test_a_stranger_is_refused_by_up_and_survives_down(
    mock: None, tmp_path: Path, lid: str
) -> None:
    cfg = load_config(EXAMPLE)
    intact = STRANGERS[lid](name_of(lid))
    state = tmp_path / "s.json"
    planned = {o.logical_id: o for o in plan(cfg, state_path=state).outcomes}
    assert planned[lid].action == "foreign"
    with pytest.raises(ForeignResources) as e:
        up(cfg, state_path=state, sleep=no_sleep)
    assert name_of(lid) in str(e.value) and f"--adopt {lid}" in e.value.hint  # type: ignore[operator]
    intact()
    # Nothing was created: the refusal came before the first mutating call.
    assert not client("ecs").list_clusters()["clusterArns"] or lid == "cluster"
    assert not client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:ecs-cicd:stack", "Values": [cfg.stack]}]
    )["Vpcs"]
    # Without a state file, down finds the stack by name and leaves the stranger alone.
    result = down(cfg, state_path=state, confirm=lambda _r: True, sleep=no_sleep)
    assert {o.logical_id: o.action for o in result.outcomes}.get(lid) == "skip"
    intact()


def test_resources_that_lost_our_tag_survive_down_with_a_state_file(
    mock: None, tmp_path: Path
) -> None:
    cfg = load_config(EXAMPLE)
    state = tmp_path / "s.json"
    up(cfg, state_path=state, sleep=no_sleep)
    iam, logs, ecr, ecs = client("iam"), client("logs"), client("ecr"), client("ecs")
    iam.untag_role(RoleName=name_of("role.task"), TagKeys=["ecs-cicd:stack"])
    log_arn = f"arn:aws:logs:{REGION}:123456789012:log-group:{name_of('logs.codebuild')}"
    logs.untag_resource(resourceArn=log_arn, tagKeys=["ecs-cicd:stack"])
    repo = ecr.describe_repositories(repositoryNames=[name_of("ecr.app")])["repositories"][0]
    ecr.untag_resource(resourceArn=repo["repositoryArn"], tagKeys=["ecs-cicd:stack"])
    result = down(cfg, state_path=state, confirm=lambda _r: True, sleep=no_sleep)
    actions = {o.logical_id: o.action for o in result.outcomes}
    assert actions["role.task"] == actions["logs.codebuild"] == actions["ecr.app"] == "skip"
    assert iam.get_role(RoleName=name_of("role.task"))
    assert logs.describe_log_groups(logGroupNamePrefix=name_of("logs.codebuild"))["logGroups"]
    assert ecr.describe_repositories(repositoryNames=[name_of("ecr.app")])["repositories"]
    assert not ecs.list_clusters()["clusterArns"] or all(
        c["status"] == "INACTIVE"
        for c in ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"])["clusters"]
    )


def test_adopt_takes_a_stranger_over_explicitly(mock: None, tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE)
    name = name_of("logs.app")
    log_group(name)
    state = tmp_path / "s.json"
    planned = {o.logical_id: o for o in plan(cfg, state_path=state, adopt=["logs.app"]).outcomes}
    assert planned["logs.app"].action == "take"
    assert any("retentionInDays: 400 -> 30" in c for c in planned["logs.app"].changes)
    result = up(cfg, state_path=state, adopt=["logs.app"], wait=False, sleep=no_sleep)
    assert {o.logical_id: o.action for o in result.outcomes}["logs.app"] == "take"
    arn = f"arn:aws:logs:{REGION}:123456789012:log-group:{name}"
    assert (
        client("logs").list_tags_for_resource(resourceArn=arn)["tags"]["ecs-cicd:stack"]
        == cfg.stack
    )
    assert {o.action for o in plan(cfg, state_path=state).outcomes} == {"unchanged"}
    down(cfg, state_path=state, confirm=lambda _r: True, sleep=no_sleep)


def test_resources_deleted_by_hand_are_reported_by_plan_and_status(
    mock: None, tmp_path: Path
) -> None:
    cfg = load_config(EXAMPLE)
    state = tmp_path / "s.json"
    up(cfg, state_path=state, sleep=no_sleep)
    from ecs_cicd import status

    recs = json.loads(state.read_text())["resources"]
    elb = client("elbv2")
    elb.delete_listener(ListenerArn=recs["listener.http"]["physical_id"])
    elb.delete_load_balancer(LoadBalancerArn=recs["alb"]["physical_id"])
    client("logs").delete_log_group(logGroupName=name_of("logs.app"))
    client("ecr").delete_repository(repositoryName=name_of("ecr.app"), force=True)
    client("codebuild").delete_project(name=name_of("codebuild"))
    gone = {"alb", "listener.http", "logs.app", "ecr.app", "codebuild"}
    planned = {o.logical_id: o.action for o in plan(cfg, state_path=state).outcomes}
    assert {lid for lid, a in planned.items() if a == "create"} == gone
    st = {o.logical_id: o.action for o in status(cfg, state_path=state).outcomes}
    assert {lid for lid, a in st.items() if a == "gone"} == gone
    up(cfg, state_path=state, sleep=no_sleep)  # puts them back
    assert {o.action for o in plan(cfg, state_path=state).outcomes} == {"unchanged"}
    down(cfg, state_path=state, confirm=lambda _r: True, sleep=no_sleep)
