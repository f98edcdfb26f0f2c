"""Importing task definitions: both shapes, describe output, and every rule with its JSON path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ecs_cicd.errors import ConfigError
from ecs_cicd.taskdef_file import (
    READ_ONLY_FIELDS,
    load_task_definition_file,
    parse_task_definition,
    validate_container_definitions,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "task-definitions"

APP = {"name": "app", "image": "shop/app:1", "portMappings": [{"containerPort": 5000}]}
NGINX = {"name": "nginx", "image": "nginx:1.27", "portMappings": [{"containerPort": 80}]}


def write(tmp_path: Path, data: Any, name: str = "taskdef.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


def error_for(tmp_path: Path, data: Any) -> tuple[str, ConfigError]:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_task_definition_file(path)
    return str(path), caught.value


# --- the two shapes ---------------------------------------------------------------------------


def test_terraform_bare_array_becomes_container_definitions(tmp_path: Path) -> None:
    taskdef = load_task_definition_file(write(tmp_path, [NGINX, APP]))
    assert taskdef == {"containerDefinitions": [NGINX, APP]}


def test_full_definition_keeps_task_level_keys(tmp_path: Path) -> None:
    data = {
        "family": "shop",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "taskRoleArn": "arn:aws:iam::123456789012:role/task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 30},
        "pidMode": "task",
        "ipcMode": "none",
        "volumes": [{"name": "scratch"}],
        "tags": [{"key": "team", "value": "web"}],
        "containerDefinitions": [NGINX, APP],
    }
    taskdef = load_task_definition_file(write(tmp_path, data))
    assert taskdef == data
    assert next(iter(taskdef)) == "containerDefinitions"


def test_same_containers_from_either_shape(tmp_path: Path) -> None:
    bare = load_task_definition_file(FIXTURES / "terraform-container-definitions.json")
    full = load_task_definition_file(FIXTURES / "nginx-app-healthy.json")
    assert bare["containerDefinitions"] == full["containerDefinitions"]


def test_describe_output_drops_read_only_fields_and_keeps_tags() -> None:
    taskdef = load_task_definition_file(FIXTURES / "describe-output.json")
    assert not READ_ONLY_FIELDS & set(taskdef)
    assert taskdef["family"] == "hello"
    assert taskdef["tags"] == [{"key": "app", "value": "hello"}]
    assert taskdef["containerDefinitions"][0]["name"] == "hello"
    for key in ("taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities"):
        assert key not in taskdef


def test_describe_inner_object_without_wrapper(tmp_path: Path) -> None:
    wrapped = json.loads((FIXTURES / "describe-output.json").read_text())
    inner = load_task_definition_file(write(tmp_path, wrapped["taskDefinition"]))
    assert "revision" not in inner and "registeredAt" not in inner
    assert inner["cpu"] == "256"


def test_parse_already_parsed_data_with_response_metadata() -> None:
    response = {
        "taskDefinition": {"containerDefinitions": [APP], "revision": 3, "family": "x"},
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
    assert parse_task_definition(response, source="ECS x:3") == {
        "containerDefinitions": [APP],
        "family": "x",
    }


def test_null_values_mean_not_set(tmp_path: Path) -> None:
    # AWS's own wildfly sample carries "ulimits": null.
    taskdef = load_task_definition_file(write(tmp_path, [{**APP, "ulimits": None}]))
    assert "ulimits" not in taskdef["containerDefinitions"][0]


def test_bridge_mode_accepts_other_host_ports(tmp_path: Path) -> None:
    data = {
        "networkMode": "bridge",
        "containerDefinitions": [
            {**APP, "portMappings": [{"containerPort": 5000, "hostPort": 80}, {"containerPort": 1}]}
        ],
    }
    assert load_task_definition_file(write(tmp_path, data))["networkMode"] == "bridge"


def test_awsvpc_accepts_equal_host_port(tmp_path: Path) -> None:
    container = {**APP, "portMappings": [{"containerPort": 5000, "hostPort": 5000}]}
    load_task_definition_file(write(tmp_path, [container]))


def test_the_input_is_not_modified() -> None:
    data = {"containerDefinitions": [{**APP, "ulimits": None}], "revision": 1}
    before = json.dumps(data)
    parse_task_definition(data, source="x")
    assert json.dumps(data) == before


# --- errors: each names the file and the JSON path ----------------------------------------------

HEALTHY_APP = {**APP, "healthCheck": {"command": ["CMD-SHELL", "true"]}}
ERROR_CASES: list[tuple[str, Any, str, str]] = [
    ("not JSON", '[\n  {"name": "app",, }\n]', "line 2, column 18", "not valid JSON"),
    (
        "full definition inside a bare array",
        [{"containerDefinitions": [APP]}],
        "$[0].containerDefinitions",
        "a full task definition inside a bare array",
    ),
    (
        "describe output inside a bare array",
        [{"taskDefinition": {"containerDefinitions": [APP]}}],
        "$[0].taskDefinition",
        "inside a bare array",
    ),
    (
        "object with neither key",
        {"family": "shop", "cpu": "256"},
        "$",
        "neither containerDefinitions nor taskDefinition",
    ),
    ("a single container object", APP, "$", "a single container definition"),
    (
        "both wrapper and containerDefinitions",
        {"taskDefinition": {"containerDefinitions": [APP]}, "containerDefinitions": [APP]},
        "$",
        "both taskDefinition and containerDefinitions",
    ),
    (
        "describe wrapper without containers",
        {"taskDefinition": {"family": "x"}},
        "$.taskDefinition.containerDefinitions",
        "missing",
    ),
    ("a string", '"hello"', "$", "expected a JSON object or array, got a string"),
    ("empty array", [], "$", "no container definitions"),
    ("container not an object", [APP, "nginx"], "$[1]", "expected a container definition"),
    ("missing name", [{"image": "x"}], "$[0].name", "missing"),
    (
        "missing image",
        {"containerDefinitions": [NGINX, {"name": "app"}]},
        "$.containerDefinitions[1].image",
        "missing",
    ),
    ("image not a string", [{"name": "a", "image": 3}], "$[0].image", "expected a string"),
    ("invalid name", [{"name": "my app", "image": "x"}], "$[0].name", "invalid container name"),
    (
        "duplicate names",
        {"containerDefinitions": [APP, {**NGINX, "name": "app"}]},
        "$.containerDefinitions[1].name",
        "duplicate container name 'app' (also $.containerDefinitions[0])",
    ),
    (
        "unknown dependsOn target",
        [{**NGINX, "dependsOn": [{"containerName": "ghost", "condition": "START"}]}],
        "$[0].dependsOn[0].containerName",
        "unknown container 'ghost'",
    ),
    (
        "bad dependsOn condition",
        [APP, {**NGINX, "dependsOn": [{"containerName": "app", "condition": "READY"}]}],
        "$[1].dependsOn[0].condition",
        "unknown condition 'READY'",
    ),
    (
        "missing dependsOn condition",
        [APP, {**NGINX, "dependsOn": [{"containerName": "app"}]}],
        "$[1].dependsOn[0].condition",
        "missing",
    ),
    (
        "HEALTHY without healthCheck",
        [APP, {**NGINX, "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}]}],
        "$[1].dependsOn[0].condition",
        "HEALTHY, but container 'app' has no healthCheck",
    ),
    (
        "SUCCESS on an essential container",
        [APP, {**NGINX, "dependsOn": [{"containerName": "app", "condition": "SUCCESS"}]}],
        "$[1].dependsOn[0].condition",
        "SUCCESS on essential container 'app'",
    ),
    (
        "dependsOn cycle",
        {
            "containerDefinitions": [
                {**HEALTHY_APP, "dependsOn": [{"containerName": "nginx", "condition": "START"}]},
                {**NGINX, "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}]},
            ]
        },
        "$.containerDefinitions[0].dependsOn",
        "dependency cycle: app -> nginx -> app",
    ),
    (
        "self dependency",
        [{**APP, "dependsOn": [{"containerName": "app", "condition": "START"}]}],
        "$[0].dependsOn",
        "dependency cycle: app -> app",
    ),
    (
        "hostPort differs under awsvpc",
        {
            "networkMode": "awsvpc",
            "containerDefinitions": [
                NGINX,
                {**APP, "portMappings": [{"containerPort": 5000, "hostPort": 8080}]},
            ],
        },
        "$.containerDefinitions[1].portMappings[0].hostPort",
        "8080 differs from containerPort 5000 under networkMode awsvpc",
    ),
    (
        "hostPort differs, no networkMode (Fargate implies awsvpc)",
        {
            "containerDefinitions": [
                {**APP, "portMappings": [{"containerPort": 5000, "hostPort": 1}]}
            ]
        },
        "$.containerDefinitions[0].portMappings[0].hostPort",
        "differs from containerPort",
    ),
    (
        "hostPort differs in a bare array",
        [{**APP, "portMappings": [{"containerPort": 5000, "hostPort": 80}]}],
        "$[0].portMappings[0].hostPort",
        "differs from containerPort",
    ),
    (
        "hostPort differs under host networking",
        {
            "networkMode": "host",
            "containerDefinitions": [
                {**APP, "portMappings": [{"containerPort": 1, "hostPort": 2}]}
            ],
        },
        "$.containerDefinitions[0].portMappings[0].hostPort",
        "under networkMode host",
    ),
    (
        "port mapping without containerPort",
        [{**APP, "portMappings": [{"hostPort": 80}]}],
        "$[0].portMappings[0].containerPort",
        "missing",
    ),
    (
        "bad protocol",
        [{**APP, "portMappings": [{"containerPort": 80, "protocol": "sctp"}]}],
        "$[0].portMappings[0].protocol",
        "unknown protocol 'sctp'",
    ),
    (
        "unknown container field",
        {"containerDefinitions": [{**APP, "portMapping": []}]},
        "$.containerDefinitions[0].portMapping",
        "unknown container definition field — did you mean 'portMappings'?",
    ),
    (
        "unknown task field",
        {"containerDefinitions": [APP], "netwrokMode": "awsvpc"},
        "$.netwrokMode",
        "unknown task definition field — did you mean 'networkMode'?",
    ),
    (
        "unknown network mode",
        {"containerDefinitions": [APP], "networkMode": "nat"},
        "$.networkMode",
        "unknown network mode 'nat'",
    ),
    (
        "Fargate with bridge",
        {
            "containerDefinitions": [APP],
            "networkMode": "bridge",
            "requiresCompatibilities": ["FARGATE"],
        },
        "$.networkMode",
        "'bridge' with requiresCompatibilities FARGATE",
    ),
    (
        "mount of an undeclared volume",
        {
            "volumes": [{"name": "data"}],
            "containerDefinitions": [
                {**APP, "mountPoints": [{"sourceVolume": "dta", "containerPath": "/d"}]}
            ],
        },
        "$.containerDefinitions[0].mountPoints[0].sourceVolume",
        "unknown volume 'dta'",
    ),
    (
        "volumesFrom an unknown container",
        {
            "volumes": [],
            "containerDefinitions": [{**APP, "volumesFrom": [{"sourceContainer": "x"}]}],
        },
        "$.containerDefinitions[0].volumesFrom[0].sourceContainer",
        "unknown container 'x'",
    ),
    (
        "error inside describe output",
        {"taskDefinition": {"containerDefinitions": [{"name": "app"}], "revision": 2}},
        "$.taskDefinition.containerDefinitions[0].image",
        "missing",
    ),
]


@pytest.mark.parametrize(
    ("data", "json_path", "problem"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_errors_name_the_file_and_json_path(
    tmp_path: Path, data: Any, json_path: str, problem: str
) -> None:
    file, error = error_for(tmp_path, data)
    message = str(error)
    assert message.startswith(f"{file}: {json_path}: "), message
    assert problem in message
    assert error.exit_code == 2


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.json: cannot read the task definition"):
        load_task_definition_file(tmp_path / "nope.json")


def test_error_message_of_the_brief(tmp_path: Path) -> None:
    path = write(tmp_path, {"containerDefinitions": [NGINX, {"name": "app"}]})
    with pytest.raises(ConfigError) as caught:
        load_task_definition_file(path)
    assert caught.value.message == f"{path}: $.containerDefinitions[1].image: missing"
    assert caught.value.field == f"{path}: $.containerDefinitions[1].image"


def test_validate_container_definitions_is_reusable() -> None:
    containers = [APP, {**NGINX, "dependsOn": [{"containerName": "api", "condition": "START"}]}]
    with pytest.raises(ConfigError) as caught:
        validate_container_definitions(containers, source="ecs_cicd.yaml", path="$.task.containers")
    assert str(caught.value).startswith(
        "ecs_cicd.yaml: $.task.containers[1].dependsOn[0].containerName: unknown container 'api'"
    )
    # bridge networking allows other host ports; the default (awsvpc) does not
    bridged = [{**APP, "portMappings": [{"containerPort": 5000, "hostPort": 80}]}]
    validate_container_definitions(bridged, source="x", network_mode="bridge")
    with pytest.raises(ConfigError, match="differs from containerPort"):
        validate_container_definitions(bridged, source="x")


def test_complete_and_success_allowed_on_non_essential_containers(tmp_path: Path) -> None:
    init = {"name": "init", "image": "busybox", "essential": False}
    app = {
        **APP,
        "dependsOn": [
            {"containerName": "init", "condition": "SUCCESS"},
            {"containerName": "init", "condition": "COMPLETE"},
        ],
    }
    load_task_definition_file(write(tmp_path, [init, app]))
