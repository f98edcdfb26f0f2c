"""Real task definitions -> compose files that the real `docker-compose config` accepts.

The corpus is AWS's public sample task definitions (aws-samples, Apache-2.0) in the shared
folder beside the repository (override with ECS_CICD_CORPUS), plus our own cases in
tests/fixtures/task-definitions/. `docker-compose config` (Debian's docker-compose package)
validates a file without a Docker engine; we point DOCKER_HOST at nothing to make sure of it.
Without docker-compose the validating tests fail under CI and skip elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecs_cicd.errors import ConfigError
from ecs_cicd.render.compose import ComposeResult, task_definition_to_compose
from ecs_cicd.taskdef_file import load_task_definition_file

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(
    os.environ.get("ECS_CICD_CORPUS") or REPO.parent / "shared" / "corpus" / "task-definitions"
)
FIXTURES = REPO / "tests" / "fixtures" / "task-definitions"

# Two "EC2" samples declare networkMode awsvpc with a hostPort other than the containerPort.
# RegisterTaskDefinition refuses exactly that ("When networkMode=awsvpc, the host ports and
# container ports in port mappings must match"), so the loader must refuse them too.
EXPECTED_REJECTIONS = {
    "kibana_kibana_ec2.json": "$.containerDefinitions[0].portMappings[0].hostPort: 80 differs",
    "tomcat_tomcat_ec2.json": "$.containerDefinitions[0].portMappings[0].hostPort: 80 differs",
}


def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*/*.json")) if CORPUS.is_dir() else []


def corpus_params() -> list[Any]:
    if not CORPUS.is_dir():
        reason = f"task definition corpus not found at {CORPUS} (set ECS_CICD_CORPUS)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    return [pytest.param(p, id=p.name) for p in corpus_files()]


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found:
        return found
    message = "docker-compose is not installed (apt-get install docker-compose)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def compose_config(result: ComposeResult, workdir: Path, *, quiet: bool = True) -> str:
    """Write the files as `local compose` would, and run `docker-compose config` on them."""
    compose_file = workdir / "docker-compose.yml"
    compose_file.write_text(result.yaml_text)
    document = yaml.safe_load(result.yaml_text)
    for service in document["services"].values():
        for env_file in service.get("env_file", []):
            (workdir / env_file).write_text("")  # compose reads env files while validating
    if result.env_example:
        (workdir / ".env").write_text(result.env_file_text or result.env_example)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"  # no engine is needed, nor used
    completed = subprocess.run(
        [docker_compose(), "-f", str(compose_file), "config", *(["-q"] if quiet else [])],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, (
        f"docker-compose config failed:\n{completed.stderr}\n{result.yaml_text}"
    )
    return completed.stdout


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"task definition corpus not found at {CORPUS} (set ECS_CICD_CORPUS)")
    return CORPUS


@pytest.mark.parametrize("path", corpus_params())
def test_corpus_file_converts_and_validates(path: Path, tmp_path: Path) -> None:
    if path.name in EXPECTED_REJECTIONS:
        with pytest.raises(ConfigError) as caught:
            load_task_definition_file(path)
        assert f"{path}: {EXPECTED_REJECTIONS[path.name]}" in str(caught.value)
        return
    taskdef = load_task_definition_file(path)
    result = task_definition_to_compose(taskdef, source=path.name)
    compose_config(result, tmp_path)


@pytest.mark.parametrize("path", fixture_files(), ids=[p.name for p in fixture_files()])
def test_fixture_converts_and_validates(path: Path, tmp_path: Path) -> None:
    taskdef = load_task_definition_file(path)
    compose_config(task_definition_to_compose(taskdef, source=path.name), tmp_path)
    resolved = {"DB_PASSWORD": "pa$$ word", "STRIPE_KEY": "sk_test_1"}
    result = task_definition_to_compose(
        taskdef, source=path.name, aws_credentials=True, resolved_secrets=resolved
    )
    compose_config(result, tmp_path)


def test_the_corpus_is_there(corpus: Path) -> None:
    # The aws-samples folder holds 14 task definitions; a smaller count means a broken copy.
    assert len(corpus_files()) >= 14
    assert set(EXPECTED_REJECTIONS) <= {p.name for p in corpus_files()}


def port_specs(service: dict[str, Any]) -> list[str]:
    """Ports as docker-compose printed them: strings (v1) or the long syntax (v2)."""
    specs = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            host = f"{port.get('host_ip', '')}:{port.get('published', '')}"
            port = f"{host}:{port['target']}/{port.get('protocol', 'tcp')}"
        specs.append(str(port))
    return specs


def config_of(path: Path, tmp_path: Path, **options: Any) -> dict[str, Any]:
    """What docker-compose itself understands the generated file to mean."""
    result = task_definition_to_compose(
        load_task_definition_file(path), source=path.name, **options
    )
    parsed: dict[str, Any] = yaml.safe_load(compose_config(result, tmp_path, quiet=False))
    return parsed


def test_compose_reads_the_shared_namespace_and_health_order(tmp_path: Path) -> None:
    services = config_of(FIXTURES / "nginx-app-healthy.json", tmp_path)["services"]
    assert services["nginx"]["network_mode"] == "service:task-network"
    assert services["nginx"]["depends_on"]["app"] == {"condition": "service_healthy"}
    assert services["app"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert services["app"]["environment"]["GREETING"] == "costs $$5 a month"  # literal $ kept
    assert services["app"]["healthcheck"]["timeout"] == "3s"
    assert port_specs(services["task-network"]) == [
        "127.0.0.1:80:80/tcp",
        "127.0.0.1:5000:5000/tcp",
    ]


def test_compose_reads_bridge_mode_as_per_container_networking(
    corpus: Path, tmp_path: Path
) -> None:
    services = config_of(corpus / "aws-samples" / "nginx_nginx_ec2.json", tmp_path)["services"]
    assert list(services) == ["nginx"]
    assert "network_mode" not in services["nginx"]
    assert port_specs(services["nginx"]) == ["127.0.0.1::80/tcp"]  # a dynamic host port, as on ECS
    services = config_of(FIXTURES / "volumes-bridge-ec2.json", tmp_path)["services"]
    assert services["web"]["links"] == ["cache-server:cache"]
    assert port_specs(services["web"]) == ["127.0.0.1:8080:80/tcp", "127.0.0.1::443/tcp"]


def test_compose_reads_resolved_secrets_from_env(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:billing/db-AbCdEf:password::"
    resolved = {arn: "p@ss w$rd"}
    services = config_of(FIXTURES / "secrets.json", tmp_path, resolved_secrets=resolved)["services"]
    # docker-compose prints a literal $ of the result as $$
    assert services["worker"]["environment"]["DB_PASSWORD"] == "p@ss w$$rd"
    assert services["worker"]["environment"]["DB_USER"] == ""
