"""The deploy files (buildspec.yml, imagedefinitions.json, imageDetail.json, taskdef.json,
appspec.yaml) and the app repository: consistent with the config, FORMATS.md and each other.
The buildspec's shell is run for real with bash, docker and aws stubbed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecs_cicd.config import Config, parse_config
from ecs_cicd.errors import ConfigError
from ecs_cicd.render.app import health_paths, nginx_conf, render_app_repository
from ecs_cicd.render.deploy import (
    IMAGE1_PLACEHOLDER,
    TASK_DEFINITION_PLACEHOLDER,
    container_roles,
    deploy_task_definition,
    render_appspec,
    render_buildspec,
    render_deploy_files,
)
from ecs_cicd.resources.codebuild import environment_variables, repo_uri_variable
from ecs_cicd.resources.codepipeline import deploy_action
from ecs_cicd.taskdef import build_task_definition
from tests.conftest import EXAMPLE

ACCOUNT = "210987654321"
REGION = "ap-northeast-1"
COMMIT = "3f9c2e1d0b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e"
TAG = COMMIT[:7]


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def make_config(data: dict[str, Any] | None = None, **deploy: Any) -> Config:
    data = data if data is not None else example_data()
    data["pipeline"].setdefault("deploy", {}).update(deploy)
    return parse_config(data, base_dir=EXAMPLE.parent, check_env=False)


@pytest.fixture
def rolling() -> Config:
    return make_config()


@pytest.fixture
def blue_green() -> Config:
    return make_config(strategy="blue_green")


def fake_repo_uris(cfg: Config) -> dict[str, str]:
    return {
        c.name: f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/real/{c.name}"
        for c in cfg.built_containers()
    }


def containers(td: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in td["containerDefinitions"]}


# --- buildspec.yml ------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["rolling", "blue_green"])
def test_buildspec_is_version_02_with_the_three_phases_and_artifacts(strategy: str) -> None:
    cfg = make_config(strategy=strategy)
    doc = yaml.safe_load(render_buildspec(cfg))
    assert doc["version"] == 0.2
    assert set(doc["phases"]) == {"pre_build", "build", "post_build"}
    for phase in doc["phases"].values():
        assert phase["commands"] and all(isinstance(c, str) for c in phase["commands"])
    assert doc["artifacts"]["files"]


def test_buildspec_references_every_built_container_and_the_file_name(rolling: Config) -> None:
    cfg = make_config(file_name="deploy/images.json")
    text = render_buildspec(cfg)
    doc = yaml.safe_load(text)
    for c in cfg.built_containers():
        assert f"${repo_uri_variable(c.name)}:$IMAGE_TAG" in text
        assert c.build is not None
        build = " ".join(doc["phases"]["build"]["commands"])
        assert f"--file {c.build.dockerfile} {c.build.context}" in build
    assert doc["artifacts"]["files"] == ["deploy/images.json"]
    assert any("> deploy/images.json" in c for c in doc["phases"]["post_build"]["commands"])


def test_buildspec_reads_only_variables_the_codebuild_project_sets(rolling: Config) -> None:
    """The contract with resources/codebuild.py: every $VAR the buildspec needs is provided."""
    provided = {
        v["name"]
        for v in environment_variables(rolling, account=ACCOUNT, repo_uris=fake_repo_uris(rolling))
    }
    text = render_buildspec(rolling)
    used = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))
    codebuild_builtin = {
        "AWS_DEFAULT_REGION",
        "CODEBUILD_RESOLVED_SOURCE_VERSION",
        "CODEBUILD_BUILD_SUCCEEDING",
    }
    assert used - codebuild_builtin - {"IMAGE_TAG"} <= provided
    assert {repo_uri_variable(c.name) for c in rolling.built_containers()} <= used


def test_buildspec_logs_in_to_ecr_and_derives_the_tag(rolling: Config) -> None:
    pre = yaml.safe_load(render_buildspec(rolling))["phases"]["pre_build"]["commands"]
    assert (
        "aws ecr get-login-password --region $AWS_DEFAULT_REGION | docker login --username AWS "
        "--password-stdin $AWS_ACCOUNT_ID.dkr.ecr.$AWS_DEFAULT_REGION.amazonaws.com"
    ) in pre
    assert any("CODEBUILD_RESOLVED_SOURCE_VERSION" in c and "cut -c 1-7" in c for c in pre)


def test_buildspec_runs_the_app_tests_in_the_app_context() -> None:
    data = example_data()
    app = data["task"]["containers"][1]
    app["build"] = {"context": "web", "dockerfile": "web/Dockerfile"}
    cfg = make_config(data)
    build = yaml.safe_load(render_buildspec(cfg))["phases"]["build"]["commands"]
    assert any("-r web/requirements-dev.txt" in c for c in build)
    assert "(cd web && /tmp/app-venv/bin/python -m pytest)" in build
    files = render_app_repository(cfg)
    assert {"web/app.py", "web/tests/test_app.py", "web/Dockerfile", "web/requirements.txt"} <= set(
        files
    )


# --- imagedefinitions.json / imageDetail.json examples -----------------------------------------
def test_imagedefinitions_example_follows_formats_md(rolling: Config) -> None:
    files = render_deploy_files(
        rolling, account_id=ACCOUNT, region=REGION, repo_uris=fake_repo_uris(rolling)
    )
    defs = json.loads(files["imagedefinitions.json"])
    assert isinstance(defs, list)
    assert all(set(d) == {"name", "imageUri"} for d in defs)
    td_names = set(containers(build_task_definition(rolling)))
    assert [d["name"] for d in defs] == [c.name for c in rolling.built_containers()]
    assert {d["name"] for d in defs} <= td_names
    assert defs[0]["imageUri"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/real/nginx:latest"
    assert "imageDetail.json" not in files and "appspec.yaml" not in files


def test_imagedetail_example_has_exactly_imageuri_of_the_app(blue_green: Config) -> None:
    files = render_deploy_files(
        blue_green, account_id=ACCOUNT, region=REGION, repo_uris=fake_repo_uris(blue_green)
    )
    detail = json.loads(files["imageDetail.json"])
    assert list(detail) == ["ImageURI"]
    assert detail["ImageURI"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/real/app:latest"
    assert "imagedefinitions.json" not in files


# --- taskdef.json and appspec.yaml (blue/green) -------------------------------------------------
def test_taskdef_matches_build_task_definition_with_image1_on_the_app(blue_green: Config) -> None:
    files = render_deploy_files(blue_green)
    td = json.loads(files["taskdef.json"])
    reference = build_task_definition(blue_green)
    assert td["family"] == reference["family"]
    assert [c["name"] for c in td["containerDefinitions"]] == [
        c["name"] for c in reference["containerDefinitions"]
    ]
    for name, c in containers(td).items():
        ref = containers(reference)[name]
        assert c.get("portMappings") == ref.get("portMappings")
        assert c.get("dependsOn") == ref.get("dependsOn")
        assert c.get("healthCheck") == ref.get("healthCheck")
    assert containers(td)["app"]["image"] == f"<{IMAGE1_PLACEHOLDER}>"
    assert containers(td)["nginx"]["image"].endswith("/test-codepipeline-dev/nginx:<IMAGE_TAG>")
    assert json.dumps(td).count(f"<{IMAGE1_PLACEHOLDER}>") == 1


def test_image1_is_what_the_codedeploy_action_names(blue_green: Config) -> None:
    conf = deploy_action(blue_green)["configuration"]
    assert conf["Image1ContainerName"] == IMAGE1_PLACEHOLDER
    assert conf["TaskDefinitionTemplatePath"] in render_deploy_files(blue_green)
    assert conf["AppSpecTemplatePath"] in render_deploy_files(blue_green)


def test_appspec_is_the_formats_md_shape(blue_green: Config) -> None:
    doc = yaml.safe_load(render_appspec(blue_green))
    assert doc == {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": TASK_DEFINITION_PLACEHOLDER,
                        "LoadBalancerInfo": {"ContainerName": "nginx", "ContainerPort": 80},
                    },
                }
            }
        ],
    }
    ep = blue_green.task.endpoint
    td = build_task_definition(blue_green)
    ports = [p["containerPort"] for p in containers(td)[ep.container]["portMappings"]]
    assert ep.port in ports


def test_render_uses_the_stack_facts(blue_green: Config) -> None:
    roles = {
        "execution": f"arn:aws:iam::{ACCOUNT}:role/path/exec-real",
        "task": f"arn:aws:iam::{ACCOUNT}:role/task-real",
    }
    uris = fake_repo_uris(blue_green)
    files = render_deploy_files(
        blue_green, account_id=ACCOUNT, region="eu-west-1", role_arns=roles, repo_uris=uris
    )
    td = json.loads(files["taskdef.json"])
    assert td["executionRoleArn"] == roles["execution"]
    assert td["taskRoleArn"] == roles["task"]
    assert containers(td)["nginx"]["image"] == f"{uris['nginx']}:<IMAGE_TAG>"
    assert containers(td)["app"]["logConfiguration"]["options"]["awslogs-region"] == "eu-west-1"
    assert "<AWS_ACCOUNT_ID>" not in json.dumps(td)


def test_without_facts_the_files_name_placeholders(rolling: Config) -> None:
    td = deploy_task_definition(rolling)
    assert (
        td["executionRoleArn"]
        == "arn:aws:iam::<AWS_ACCOUNT_ID>:role/test-codepipeline-dev-execution"
    )
    assert containers(td)["app"]["image"] == (
        f"<AWS_ACCOUNT_ID>.dkr.ecr.{REGION}.amazonaws.com/test-codepipeline-dev/app:latest"
    )


# --- the buildspec's shell, run for real ---------------------------------------------------------
def run_buildspec(
    cfg: Config, workdir: Path, *, commit: str | None = COMMIT, succeeding: str = "1"
) -> subprocess.CompletedProcess[str]:
    """pre_build, the docker commands of build, and post_build, with docker and aws stubbed."""
    doc = yaml.safe_load(render_buildspec(cfg))
    phases = doc["phases"]
    build = [c for c in phases["build"]["commands"] if c.startswith("docker ")]
    commands = [*phases["pre_build"]["commands"], *build, *phases["post_build"]["commands"]]
    shim = workdir / ".shim"
    shim.mkdir()
    for tool in ("docker", "aws"):
        stub = shim / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "$STUB_LOG"\nexit 0\n', encoding="utf-8")
        stub.chmod(0o755)
    env = {
        "PATH": f"{shim}:{os.environ['PATH']}",
        "HOME": str(workdir),
        "STUB_LOG": str(workdir / ".calls"),
        "AWS_ACCOUNT_ID": ACCOUNT,
        "AWS_DEFAULT_REGION": REGION,
        "CODEBUILD_BUILD_SUCCEEDING": succeeding,
        **{
            repo_uri_variable(name): f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fake/{name}"
            for name in (c.name for c in cfg.built_containers())
        },
    }
    if commit is not None:
        env["CODEBUILD_RESOLVED_SOURCE_VERSION"] = commit
    script = "set -e\n" + "\n".join(commands) + "\n"
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", "-c", script],
        cwd=workdir,
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


def fake(name: str, tag: str = TAG) -> str:
    return f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fake/{name}:{tag}"


def test_post_build_writes_exactly_the_imagedefinitions(rolling: Config, tmp_path: Path) -> None:
    proc = run_buildspec(rolling, tmp_path)
    assert proc.returncode == 0, proc.stderr
    defs = json.loads((tmp_path / "imagedefinitions.json").read_text(encoding="utf-8"))
    assert defs == [
        {"name": "nginx", "imageUri": fake("nginx")},
        {"name": "app", "imageUri": fake("app")},
    ]
    calls = (tmp_path / ".calls").read_text(encoding="utf-8").splitlines()
    assert f"aws ecr get-login-password --region {REGION}" in calls
    for name in ("nginx", "app"):
        assert f"docker push {fake(name)}" in calls
        assert f"docker push {fake(name, 'latest')}" in calls
    assert any(c.startswith("docker build") and f"APP_VERSION={TAG}" in c for c in calls)


def test_the_tag_falls_back_to_latest(rolling: Config, tmp_path: Path) -> None:
    proc = run_buildspec(rolling, tmp_path, commit=None)
    assert proc.returncode == 0, proc.stderr
    defs = json.loads((tmp_path / "imagedefinitions.json").read_text(encoding="utf-8"))
    assert [d["imageUri"] for d in defs] == [fake("nginx", "latest"), fake("app", "latest")]


def test_post_build_of_a_failed_build_pushes_and_writes_nothing(
    rolling: Config, tmp_path: Path
) -> None:
    proc = run_buildspec(rolling, tmp_path, succeeding="0")
    assert proc.returncode != 0
    assert not (tmp_path / "imagedefinitions.json").exists()
    assert "docker push" not in (tmp_path / ".calls").read_text(encoding="utf-8")


def test_a_custom_file_name_is_written(tmp_path: Path) -> None:
    cfg = make_config(file_name="out/defs.json")
    assert run_buildspec(cfg, tmp_path).returncode == 0
    assert (
        json.loads((tmp_path / "out" / "defs.json").read_text(encoding="utf-8"))[1]["name"] == "app"
    )


def test_blue_green_post_build_writes_imagedetail_and_pins_nginx(
    blue_green: Config, tmp_path: Path
) -> None:
    for name, text in render_deploy_files(blue_green, examples=False).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    appspec_before = (tmp_path / "appspec.yaml").read_text(encoding="utf-8")
    proc = run_buildspec(blue_green, tmp_path)
    assert proc.returncode == 0, proc.stderr
    detail = json.loads((tmp_path / "imageDetail.json").read_text(encoding="utf-8"))
    assert detail == {"ImageURI": fake("app")}
    td = json.loads((tmp_path / "taskdef.json").read_text(encoding="utf-8"))
    assert containers(td)["app"]["image"] == f"<{IMAGE1_PLACEHOLDER}>"
    assert containers(td)["nginx"]["image"] == (
        f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/test-codepipeline-dev/nginx:{TAG}"
    )
    assert td["executionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/test-codepipeline-dev-execution"
    assert (tmp_path / "appspec.yaml").read_text(encoding="utf-8") == appspec_before
    files = yaml.safe_load(render_buildspec(blue_green))["artifacts"]["files"]
    assert all((tmp_path / f).exists() for f in files)


def test_blue_green_without_a_region_fills_it_in_at_build_time(tmp_path: Path) -> None:
    data = example_data()
    del data["region"]
    cfg = make_config(data, strategy="blue_green")
    for name, text in render_deploy_files(cfg, examples=False).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert "<AWS_DEFAULT_REGION>" in (tmp_path / "taskdef.json").read_text(encoding="utf-8")
    assert run_buildspec(cfg, tmp_path).returncode == 0
    td = json.loads((tmp_path / "taskdef.json").read_text(encoding="utf-8"))
    assert containers(td)["app"]["logConfiguration"]["options"]["awslogs-region"] == REGION


def test_blue_green_refuses_a_taskdef_with_an_unknown_placeholder(
    blue_green: Config, tmp_path: Path
) -> None:
    for name, text in render_deploy_files(blue_green, examples=False).items():
        (tmp_path / name).write_text(text.replace("<IMAGE_TAG>", "<NGINX_TAG>"), encoding="utf-8")
    proc = run_buildspec(blue_green, tmp_path)
    assert proc.returncode != 0
    assert "<NGINX_TAG>" in proc.stdout + proc.stderr


# --- which container is what; other shapes -------------------------------------------------------
def test_roles_of_the_example(rolling: Config) -> None:
    roles = container_roles(rolling)
    assert (roles.app.name, roles.app_port) == ("app", 5000)
    assert roles.proxy is not None and roles.proxy.name == "nginx"
    assert roles.proxy_hops == 2


def test_one_built_container_is_the_app_and_the_endpoint() -> None:
    data = example_data()
    app = data["task"]["containers"][1]
    app["port_mappings"] = [{"container_port": 8000}]
    data["task"]["containers"] = [app]
    data["task"]["endpoint"] = {"container": "app", "port": 8000}
    cfg = make_config(data, strategy="blue_green")
    roles = container_roles(cfg)
    assert roles.proxy is None and roles.app_is_endpoint and roles.app_port == 8000
    files = render_app_repository(cfg)
    assert not any(p.startswith("nginx/") for p in files)
    assert '"0.0.0.0:8000"' in files["Dockerfile"]
    assert "x_for=1" in files["app.py"]
    assert yaml.safe_load(files["appspec.yaml"])["Resources"][0]["TargetService"]["Properties"][
        "LoadBalancerInfo"
    ] == {"ContainerName": "app", "ContainerPort": 8000}
    with pytest.raises(ConfigError):
        nginx_conf(cfg)


def test_an_endpoint_the_pipeline_does_not_build_gets_no_nginx() -> None:
    data = example_data()
    del data["task"]["containers"][0]["build"]
    cfg = make_config(data)
    files = render_app_repository(cfg)
    assert not any(p.startswith("nginx/") for p in files)
    assert "is not built by the pipeline" in files["README.md"]
    assert [d["name"] for d in json.loads(render_deploy_files(cfg)["imagedefinitions.json"])] == [
        "app"
    ]


def test_a_further_built_container_gets_a_placeholder_dockerfile() -> None:
    data = example_data()
    data["task"]["containers"].append(
        {
            "name": "worker",
            "image": "public.ecr.aws/docker/library/busybox:stable",
            "build": {"context": "worker", "dockerfile": "worker/Dockerfile"},
            "essential": False,
        }
    )
    cfg = make_config(data)
    files = render_app_repository(cfg)
    assert (
        files["worker/Dockerfile"]
        .rstrip()
        .endswith("FROM public.ecr.aws/docker/library/busybox:stable")
    )
    assert "worker/" in files[".dockerignore"].splitlines()
    assert "$IMAGE_REPO_URI_WORKER:$IMAGE_TAG" in files["buildspec.yml"]


def test_two_containers_writing_one_file_is_refused() -> None:
    data = example_data()
    data["task"]["containers"][0]["build"] = {"context": ".", "dockerfile": "Dockerfile"}
    with pytest.raises(ConfigError, match="Dockerfile would be written for both"):
        render_app_repository(make_config(data))


def test_a_build_path_outside_the_repository_is_refused() -> None:
    data = example_data()
    data["task"]["containers"][0]["build"] = {
        "context": "../nginx",
        "dockerfile": "nginx/Dockerfile",
    }
    with pytest.raises(ConfigError, match="outside the repository"):
        render_app_repository(make_config(data))


# --- the app repository --------------------------------------------------------------------------
def test_app_repository_files_follow_the_config(rolling: Config) -> None:
    files = render_app_repository(rolling)
    assert {
        "app.py",
        "tests/test_app.py",
        "requirements.txt",
        "Dockerfile",
        ".dockerignore",
        "nginx/Dockerfile",
        "nginx/nginx.conf",
        "buildspec.yml",
        "README.md",
    } <= set(files)
    assert "taskdef.json" not in files  # rolling: the ECS action reuses the service's own
    assert re.search(r"^Flask>=3[^\n]*,<4$", files["requirements.txt"], re.M)
    assert re.search(r"^gunicorn>=\d+[^\n]*,<\d+$", files["requirements.txt"], re.M)
    dockerfile = files["Dockerfile"]
    assert re.search(r"^FROM \S*python:3\.\d+-slim$", dockerfile, re.M)
    assert re.search(r"^USER (?!root|0\b)\S+", dockerfile, re.M)
    assert '"0.0.0.0:5000"' in dockerfile and "gunicorn" in dockerfile
    healthcheck = re.search(r"^HEALTHCHECK .*?\n(?:    .*\n)*", dockerfile, re.M)
    assert healthcheck is not None
    assert "urllib.request" in healthcheck.group(0) and "curl" not in healthcheck.group(0)
    conf = files["nginx/nginx.conf"]
    assert re.search(r"^\s*listen 80;$", conf, re.M)
    assert "server 127.0.0.1:5000;" in conf
    for header in ("Host $host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto"):
        assert f"proxy_set_header {header}" in conf
    assert "location = /health {" in conf
    assert "COPY nginx.conf /etc/nginx/conf.d/default.conf" in files["nginx/Dockerfile"]
    readme = files["README.md"]
    assert "`master`" in readme and "Source" in readme and "Build" in readme and "Deploy" in readme
    for path in files:
        if path != "README.md":
            assert f"`{path}`" in readme


def test_blue_green_repository_has_taskdef_and_appspec(blue_green: Config) -> None:
    files = render_app_repository(blue_green)
    assert json.loads(files["taskdef.json"])["family"] == "test-codepipeline-dev"
    assert "<TASK_DEFINITION>" in files["appspec.yaml"]
    assert "imageDetail.json" not in files  # the build writes it
    assert "<IMAGE1_NAME>" in files["README.md"]


def test_a_custom_health_check_path_is_served_and_proxied() -> None:
    data = example_data()
    data["load_balancer"]["health_check"]["path"] = "/healthz"
    cfg = make_config(data)
    assert health_paths(cfg) == ["/health", "/healthz"]
    files = render_app_repository(cfg)
    assert '@app.get("/healthz")' in files["app.py"]
    assert "location = /healthz {" in files["nginx/nginx.conf"]


def test_nginx_conf_can_listen_on_one_address(rolling: Config) -> None:
    assert "listen 127.0.0.1:80;" in nginx_conf(rolling, listen_address="127.0.0.1")


def test_generated_python_compiles(rolling: Config) -> None:
    for path, text in render_app_repository(rolling).items():
        if path.endswith(".py"):
            compile(text, path, "exec")
