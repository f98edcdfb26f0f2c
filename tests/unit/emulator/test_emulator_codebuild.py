"""CodeBuild: CODEPIPELINE sources without a location, role checks, UpdateProject, batch reads."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.unit.emulator.emulator_helpers import ACCOUNT, REGION, call_checked, make_role

ENVIRONMENT = {
    "type": "LINUX_CONTAINER",
    "image": "aws/codebuild/standard:7.0",
    "computeType": "BUILD_GENERAL1_SMALL",
    "privilegedMode": True,
}


@pytest.fixture
def cb(aws: Any) -> Any:
    return aws("codebuild")


@pytest.fixture
def role(aws: Any) -> str:
    return make_role(aws("iam"), "cb-role", "codebuild.amazonaws.com")


def _create(cb: Any, role: str, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "name": "shop-dev",
        "source": {"type": "CODEPIPELINE", "buildspec": "version: 0.2\n"},
        "artifacts": {"type": "CODEPIPELINE"},
        "environment": ENVIRONMENT,
        "serviceRole": role,
        "tags": [{"key": "ecs-cicd:stack", "value": "shop-dev"}],
    }
    params.update(overrides)
    return call_checked(cb, "create_project", **params)["project"]


def test_codepipeline_source_and_artifacts_need_no_location(cb: Any, role: str) -> None:
    project = _create(cb, role)
    assert project["source"] == {"type": "CODEPIPELINE", "buildspec": "version: 0.2\n"}
    assert project["artifacts"] == {"type": "CODEPIPELINE"}
    # AWS's defaults and field names.
    assert project["timeoutInMinutes"] == 60
    assert project["queuedTimeoutInMinutes"] == 480
    assert "lastModified" in project


def test_locations_still_required_where_aws_requires_them(cb: Any, role: str) -> None:
    for overrides in ({"source": {"type": "GITHUB"}}, {"artifacts": {"type": "S3"}}):
        with pytest.raises(ClientError) as err:
            _create(cb, role, **overrides)
        assert err.value.response["Error"]["Code"] == "InvalidInputException"


def test_environment_types_come_from_the_service_model(cb: Any, role: str) -> None:
    project = _create(cb, role, environment=dict(ENVIRONMENT, computeType="BUILD_GENERAL1_XLARGE"))
    assert project["environment"]["computeType"] == "BUILD_GENERAL1_XLARGE"


@pytest.mark.parametrize("trusted", ["codepipeline.amazonaws.com", None])
def test_a_role_codebuild_cannot_assume_is_refused(aws: Any, cb: Any, trusted: str | None) -> None:
    if trusted:
        role = make_role(aws("iam"), "other", trusted)
    else:
        role = f"arn:aws:iam::{ACCOUNT}:role/missing"
    with pytest.raises(ClientError) as err:
        _create(cb, role)
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    assert err.value.response["Error"]["Message"] == (
        f"CodeBuild is not authorized to perform: sts:AssumeRole on {role}"
    )


def test_update_project_replaces_the_given_fields(aws: Any, cb: Any, role: str) -> None:
    created = _create(cb, role)
    new_role = make_role(aws("iam"), "cb-role-2", "codebuild.amazonaws.com")
    updated = call_checked(
        cb,
        "update_project",
        name="shop-dev",
        source={"type": "CODEPIPELINE", "buildspec": "version: 0.2\nphases: {}\n"},
        environment=dict(
            ENVIRONMENT,
            computeType="BUILD_GENERAL1_MEDIUM",
            environmentVariables=[{"name": "A", "value": "1", "type": "PLAINTEXT"}],
        ),
        serviceRole=new_role,
        logsConfig={"cloudWatchLogs": {"status": "ENABLED", "groupName": "/codebuild/shop"}},
        timeoutInMinutes=30,
    )["project"]
    assert updated["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"
    assert updated["serviceRole"] == new_role
    assert updated["timeoutInMinutes"] == 30
    assert updated["lastModified"] >= created["lastModified"]
    [stored] = cb.batch_get_projects(names=["shop-dev"])["projects"]
    assert stored["source"]["buildspec"] == "version: 0.2\nphases: {}\n"
    assert stored["environment"]["environmentVariables"] == [
        {"name": "A", "value": "1", "type": "PLAINTEXT"}
    ]
    assert stored["logsConfig"]["cloudWatchLogs"]["groupName"] == "/codebuild/shop"
    assert stored["artifacts"] == {"type": "CODEPIPELINE"}  # untouched
    assert stored["tags"] == [{"key": "ecs-cicd:stack", "value": "shop-dev"}]


def test_update_project_refusals(aws: Any, cb: Any, role: str) -> None:
    with pytest.raises(ClientError) as err:
        cb.update_project(name="nope", timeoutInMinutes=5)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    _create(cb, role)
    with pytest.raises(ClientError) as err:
        cb.update_project(name="shop-dev", serviceRole=f"arn:aws:iam::{ACCOUNT}:role/missing")
    assert "not authorized to perform: sts:AssumeRole" in err.value.response["Error"]["Message"]


def test_batch_reads_report_what_they_did_not_find(cb: Any, role: str) -> None:
    _create(cb, role)
    arn = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/shop-dev"
    got = call_checked(cb, "batch_get_projects", names=["shop-dev", arn, "nope"])
    assert got["projectsNotFound"] == ["nope"]
    assert len(got["projects"]) == 2
    build_id = cb.start_build(projectName="shop-dev")["build"]["id"]
    first = call_checked(cb, "batch_get_builds", ids=[build_id, "shop-dev:missing"])
    assert first["buildsNotFound"] == ["shop-dev:missing"]
    second = cb.batch_get_builds(ids=[build_id])
    # Reading a finished build again does not grow its phases (moto appended them per read).
    assert len(second["builds"][0]["phases"]) == len(first["builds"][0]["phases"])
    assert second["builds"][0]["buildStatus"] == "SUCCEEDED"
