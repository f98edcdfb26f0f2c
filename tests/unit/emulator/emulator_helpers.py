"""Helpers for the emulator patch tests (and the emulator server's e2e test): a check that a raw
JSON response matches the botocore output shape (the AWS contract), IAM roles a service may
assume, and the smallest CodeBuild project and pipeline the emulator accepts."""

from __future__ import annotations

import json
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected object, got {type(value).__name__}")
            return
        for key, item in value.items():
            if key not in shape.members:
                problems.append(f"{path}.{key}: not in the {shape.name} shape")
            elif item is not None:
                _check(shape.members[key], item, f"{path}.{key}", problems)
        for key in shape.required_members:
            if value.get(key) is None:
                problems.append(f"{path}.{key}: required by {shape.name}, missing")
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            problems.append(f"{path}: expected list, got {type(value).__name__}")
            return
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]", problems)
    elif isinstance(shape, MapShape):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected map")
            return
        for key, item in value.items():
            _check(shape.value, item, f"{path}[{key}]", problems)
    elif shape.type_name == "string":
        enum = getattr(shape, "enum", None)
        if not isinstance(value, str):
            problems.append(f"{path}: expected string, got {value!r}")
        elif enum and value not in enum:
            problems.append(f"{path}: {value!r} not one of {enum}")
    elif shape.type_name in ("integer", "long") and not isinstance(value, int):
        problems.append(f"{path}: expected integer, got {value!r}")
    elif shape.type_name == "boolean" and not isinstance(value, bool):
        problems.append(f"{path}: expected boolean, got {value!r}")
    elif shape.type_name == "timestamp" and not isinstance(value, (int, float, str)):
        problems.append(f"{path}: expected timestamp, got {value!r}")


def call_checked(client: Any, method: str, **params: Any) -> Any:
    """Call ``method`` and assert the raw JSON body matches the operation's output shape."""
    raw: dict[str, bytes] = {}

    def capture(http_response: Any, **_: Any) -> None:
        raw["body"] = http_response.content

    operation = client.meta.method_to_api_mapping[method]
    event = f"after-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
    client.meta.events.register(event, capture)
    try:
        response = getattr(client, method)(**params)
    finally:
        client.meta.events.unregister(event, capture)
    output = client.meta.service_model.operation_model(operation).output_shape
    body = json.loads(raw["body"] or b"{}")
    problems: list[str] = []
    if output is not None:
        _check(output, body, operation, problems)
    assert not problems, "\n".join(problems)
    return response


def trust_policy(service: str) -> str:
    """The trust policy (JSON) that lets ``service`` (e.g. codebuild.amazonaws.com) assume a role."""
    statement = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def make_role(iam: Any, name: str, service: str) -> str:
    """An IAM role that ``service`` (e.g. codebuild.amazonaws.com) may assume; returns its ARN."""
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy(service))[
        "Role"
    ]["Arn"]
    return arn


def create_project(codebuild: Any, role_arn: str, name: str = "shop-dev", **extra: Any) -> Any:
    """CreateProject of a CODEPIPELINE project on the standard image, run as ``role_arn``;
    ``extra`` adds parameters (e.g. tags). Returns the response."""
    return codebuild.create_project(
        name=name,
        source={"type": "CODEPIPELINE"},
        artifacts={"type": "CODEPIPELINE"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=role_arn,
        **extra,
    )


def two_stage_pipeline(role_arn: str) -> dict[str, Any]:
    """The declaration of pipeline ``p``: two stages of one S3 source action each."""
    action = {
        "name": "a",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "outputArtifacts": [{"name": "o"}],
    }
    return {
        "name": "p",
        "roleArn": role_arn,
        "artifactStore": {"type": "S3", "location": "bucket"},
        "stages": [
            {"name": "One", "actions": [action]},
            {"name": "Two", "actions": [dict(action, name="b", outputArtifacts=[])]},
        ],
    }


def web_cluster(ecs: Any) -> Any:
    """Cluster `c` with two Fargate revisions of family `web` (images nginx:1 and nginx:2)."""
    ecs.create_cluster(clusterName="c")
    for image in ("nginx:1", "nginx:2"):
        ecs.register_task_definition(
            family="web",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "app", "image": image, "essential": True}],
        )
    return ecs
