"""Config validation: every bad input is refused with the field named, before any AWS call."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecs_cicd.config import load_config, parse_config
from ecs_cicd.errors import ConfigError
from tests.conftest import EXAMPLE


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def refused(data: dict[str, Any], *fragments: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    msg = str(e.value)
    for f in fragments:
        assert f in msg, msg
    assert e.value.exit_code == 2
    return msg


def test_example_loads_with_documented_defaults() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.stack == "test-codepipeline-dev"
    assert cfg.region == "ap-northeast-1"
    hc = cfg.load_balancer.health_check
    assert (
        hc.path,
        hc.interval,
        hc.healthy_threshold,
        hc.unhealthy_threshold,
        hc.timeout,
        hc.matcher,
    ) == ("/health", 10, 2, 3, 5, "200-399")
    assert cfg.load_balancer.deregistration_delay == 30
    assert cfg.logs.retention_days == 30
    assert cfg.ecr.keep_images == 30
    assert [c.name for c in cfg.built_containers()] == ["nginx", "app"]
    assert cfg.pipeline.source.type == "github"


def test_unknown_key_suggests_the_typo_fix() -> None:
    d = example()
    d["load_balancer"]["listner_port"] = 80
    refused(d, "load_balancer.listner_port", "unknown key", "listener_port")


def test_unknown_top_level_key() -> None:
    d = example()
    d["servce"] = {}
    refused(d, "servce", "service")


def test_host_port_must_equal_container_port() -> None:
    d = example()
    d["task"]["containers"][0]["port_mappings"] = [{"container_port": 80, "host_port": 8080}]
    refused(d, "task.containers[0].port_mappings[0].host_port", "hostPort == containerPort")


def test_endpoint_container_missing() -> None:
    d = example()
    d["task"]["endpoint"]["container"] = "web"
    refused(d, "task.endpoint.container", "'web'", "nginx, app")


def test_endpoint_port_not_mapped() -> None:
    d = example()
    d["task"]["endpoint"]["port"] = 8080
    refused(d, "task.endpoint.port", "8080")


def test_depends_on_unknown_container() -> None:
    d = example()
    d["task"]["containers"][0]["depends_on"] = [{"container": "db", "condition": "START"}]
    refused(d, "task.containers[0].depends_on[0].container", "'db'")


def test_depends_on_cycle() -> None:
    d = example()
    d["task"]["containers"][1]["depends_on"] = [{"container": "nginx", "condition": "START"}]
    refused(d, "cycle", "nginx -> app -> nginx")


def test_healthy_needs_a_health_check() -> None:
    d = example()
    del d["task"]["containers"][1]["health_check"]
    refused(d, "depends_on[0].condition", "HEALTHY", "health_check")


@pytest.mark.parametrize(
    ("cpu", "memory", "fragment"),
    [(256, 4096, "not valid with cpu 256"), (300, 512, "not a Fargate size")],
)
def test_fargate_sizes(cpu: int, memory: int, fragment: str) -> None:
    d = example()
    d["task"].update(cpu=cpu, memory=memory)
    refused(d, "task", fragment)


def test_valid_fargate_size() -> None:
    d = example()
    d["task"].update(cpu=1024, memory=3072)
    assert parse_config(d).task.memory == 3072


def test_derived_names_too_long_are_shortened_not_refused() -> None:
    from ecs_cicd import names

    d = example()
    d["project"] = "a-very-long-project-name-x"
    cfg = parse_config(d)
    assert len(names.alb(cfg)) <= 32 and names.alb(cfg).endswith("-alb")


def test_subnets_in_fewer_than_two_azs() -> None:
    d = example()
    d["network"] = {"vpc_id": "vpc-1", "subnet_ids": ["subnet-1"]}
    refused(d, "network", "two availability zones")
    d["network"] = {
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-1", "subnet-2"],
        "subnet_availability_zones": ["a", "a"],
    }
    refused(d, "fewer than two availability zones")


def test_invalid_cidr() -> None:
    d = example()
    d["network"]["vpc_cidr"] = "10.0.0.0/33"
    refused(d, "network.vpc_cidr", "not a valid IPv4 CIDR")
    d = example()
    d["load_balancer"]["ingress_cidrs"] = ["1.2.3.4/8"]
    refused(d, "load_balancer.ingress_cidrs")


def test_subnet_outside_vpc() -> None:
    d = example()
    d["network"]["public_subnet_cidrs"] = ["10.0.0.0/24", "192.168.0.0/24"]
    refused(d, "not inside vpc_cidr")


def test_github_token_variable_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    with pytest.raises(ConfigError, match=r"pipeline\.source\.token_env: .*GITHUB_TOKEN"):
        parse_config(example(), check_env=True)
    # By default it is not asked for at load: read-only commands (plan, status, down...) and
    # an `up` that leaves the pipeline alone never need it.
    assert parse_config(example()).stack == "test-codepipeline-dev"


def test_env_interpolation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_OWNER", "octo")
    assert parse_config(example()).pipeline.source.owner == "octo"  # type: ignore[union-attr]
    d = example()
    d["environment"] = "${DEPLOY_ENV}"
    refused(d, "environment", "DEPLOY_ENV is not set")


def test_invalid_yaml(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("project: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_secrets_must_be_arns() -> None:
    d = example()
    d["task"]["containers"][1]["secrets"] = {"DB_PASSWORD": "hunter2"}
    msg = refused(d, "secrets", "ARN")
    d["task"]["containers"][1]["secrets"] = {
        "DB_PASSWORD": "arn:aws:ssm:ap-northeast-1:123456789012:parameter/db"
    }
    assert parse_config(d)
    _ = msg


def test_no_built_container() -> None:
    d = example()
    for c in d["task"]["containers"]:
        c.pop("build")
    refused(d, "build")


def test_bad_project_name() -> None:
    d = example()
    d["project"] = "My_Project"
    refused(d, "project", "lowercase")


def test_definition_file_bare_array(tmp_path: Path) -> None:
    d = example()
    containers = [
        {
            "name": "nginx",
            "image": "nginx",
            "portMappings": [{"containerPort": 80}],
            "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}],
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
        },
        {"name": "app", "image": "python", "healthCheck": {"command": ["CMD-SHELL", "true"]}},
    ]
    (tmp_path / "containers.json").write_text(__import__("json").dumps(containers))
    task = copy.deepcopy(d["task"])
    task.pop("containers")
    task["definition_file"] = "containers.json"
    task["builds"] = {"app": {"context": "."}}
    d["task"] = task
    cfg = parse_config(d, base_dir=tmp_path)
    assert [c.name for c in cfg.built_containers()] == ["app"]
    from ecs_cicd.taskdef import build_task_definition

    td = build_task_definition(cfg, region="ap-northeast-1")
    assert td["containerDefinitions"][0]["ulimits"][0]["name"] == "nofile"  # passed through
    assert (
        td["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-group"]
        == "/ecs/test-codepipeline-dev"
    )
