"""Helpers for the emulator patch tests: a check that a raw JSON response matches the botocore
output shape (the AWS contract), and IAM roles a service may assume."""

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


TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": ""}}],
}


def make_role(iam: Any, name: str, service: str) -> str:
    """An IAM role that ``service`` (e.g. codebuild.amazonaws.com) may assume; returns its ARN."""
    trust = json.loads(json.dumps(TRUST))
    trust["Statement"][0]["Principal"]["Service"] = service
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    return arn
