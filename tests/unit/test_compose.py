"""Task definition -> docker-compose.yml: every mapped field, the shared namespace, secrets,
warnings, the YAML writer, and the `local compose` command around it."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecs_cicd import local
from ecs_cicd.errors import AwsError, ConfigError, UsageError
from ecs_cicd.render.compose import (
    NAMESPACE_HOLDER_IMAGE,
    Block,
    ComposeResult,
    Ref,
    render_yaml,
    task_definition_to_compose,
)
from ecs_cicd.taskdef_file import load_task_definition_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "task-definitions"
HOLDER = "task-network"


def convert(containers: list[dict[str, Any]], **task: Any) -> tuple[dict[str, Any], ComposeResult]:
    result = task_definition_to_compose(
        {"containerDefinitions": containers, **task}, source="test.json"
    )
    return yaml.safe_load(result.yaml_text), result


def service(container: dict[str, Any], **task: Any) -> dict[str, Any]:
    """The service of a one-container task."""
    document, _ = convert([{"name": "app", "image": "app:1", **container}], **task)
    svc: dict[str, Any] = document["services"]["app"]
    return svc


# --- every mapped container field ----------------------------------------------------------------

MAPPED = [
    ("image", {}, {"image": "app:1"}),
    (
        "command",
        {"command": ["gunicorn", "-b", "0.0.0.0:5000"]},
        {"command": ["gunicorn", "-b", "0.0.0.0:5000"]},
    ),
    ("entryPoint", {"entryPoint": ["/entry.sh"]}, {"entrypoint": ["/entry.sh"]}),
    (
        "environment",
        {"environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "x y"}]},
        {"environment": {"A": "1", "B": "x y"}},
    ),
    ("workingDirectory", {"workingDirectory": "/srv"}, {"working_dir": "/srv"}),
    ("user", {"user": "1000:1000"}, {"user": "1000:1000"}),
    ("interactive", {"interactive": True}, {"stdin_open": True}),
    ("pseudoTerminal", {"pseudoTerminal": True}, {"tty": True}),
    ("privileged", {"privileged": True}, {"privileged": True}),
    ("readonlyRootFilesystem", {"readonlyRootFilesystem": True}, {"read_only": True}),
    (
        "ulimits",
        {"ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}]},
        {"ulimits": {"nofile": {"soft": 1024, "hard": 4096}}},
    ),
    (
        "systemControls",
        {"systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}]},
        {"sysctls": {"net.core.somaxconn": "1024"}},
    ),
    (
        "dockerLabels",
        {"dockerLabels": {"com.example/team": "web"}},
        {"labels": {"com.example/team": "web"}},
    ),
    (
        "dockerSecurityOptions",
        {"dockerSecurityOptions": ["no-new-privileges"]},
        {"security_opt": ["no-new-privileges"]},
    ),
    ("stopTimeout", {"stopTimeout": 90}, {"stop_grace_period": "90s"}),
    ("stopTimeout default is ECS's", {}, {"stop_grace_period": "30s"}),
    ("cpu is a relative weight", {"cpu": 256}, {"cpu_shares": 256}),
    ("memory", {"memory": 512}, {"mem_limit": "512m"}),
    ("memoryReservation", {"memoryReservation": 128}, {"mem_reservation": "128m"}),
    ("initProcessEnabled", {"linuxParameters": {"initProcessEnabled": True}}, {"init": True}),
    (
        "capabilities",
        {"linuxParameters": {"capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]}}},
        {"cap_add": ["SYS_PTRACE"], "cap_drop": ["NET_RAW"]},
    ),
    (
        "tmpfs",
        {
            "linuxParameters": {
                "tmpfs": [{"containerPath": "/run", "size": 64, "mountOptions": ["noexec"]}]
            }
        },
        {"tmpfs": ["/run:size=64m,noexec"]},
    ),
    ("sharedMemorySize", {"linuxParameters": {"sharedMemorySize": 256}}, {"shm_size": "256m"}),
    (
        "devices",
        {
            "linuxParameters": {
                "devices": [{"hostPath": "/dev/fuse", "permissions": ["read", "mknod"]}]
            }
        },
        {"devices": ["/dev/fuse:/dev/fuse:rm"]},
    ),
    (
        "maxSwap and swappiness",
        {"memory": 512, "linuxParameters": {"maxSwap": 256, "swappiness": 10}},
        {"memswap_limit": "768m", "mem_swappiness": 10},
    ),
    (
        "environmentFiles (local path)",
        {"environmentFiles": [{"value": "app.env", "type": "s3"}]},
        {"env_file": ["app.env"]},
    ),
    (
        "healthCheck",
        {
            "healthCheck": {
                "command": ["CMD-SHELL", "curl -f http://localhost:5000/health || exit 1"],
                "interval": 10,
                "timeout": 2,
                "retries": 5,
                "startPeriod": 20,
            }
        },
        {
            "healthcheck": {
                "test": ["CMD-SHELL", "curl -f http://localhost:5000/health || exit 1"],
                "interval": "10s",
                "timeout": "2s",
                "retries": 5,
                "start_period": "20s",
            }
        },
    ),
    (
        "healthCheck with ECS defaults",
        {"healthCheck": {"command": ["CMD", "/bin/check"]}},
        {
            "healthcheck": {
                "test": ["CMD", "/bin/check"],
                "interval": "30s",
                "timeout": "5s",
                "retries": 3,
            }
        },
    ),
    ("restartPolicy", {"restartPolicy": {"enabled": True}}, {"restart": "unless-stopped"}),
    (
        "restartPolicy ignoring exit 0",
        {"restartPolicy": {"enabled": True, "ignoredExitCodes": [0]}},
        {"restart": "on-failure"},
    ),
    (
        "portMappings on a one-container task",
        {
            "portMappings": [
                {"containerPort": 5000},
                {"containerPort": 53, "hostPort": 53, "protocol": "udp"},
            ]
        },
        {"ports": ["127.0.0.1:5000:5000/tcp", "127.0.0.1:53:53/udp"]},
    ),
    (
        "containerPortRange",
        {"portMappings": [{"containerPortRange": "7000-7002"}]},
        {"ports": ["127.0.0.1:7000-7002:7000-7002/tcp"]},
    ),
]


@pytest.mark.parametrize(
    ("container", "expected"), [m[1:] for m in MAPPED], ids=[m[0] for m in MAPPED]
)
def test_container_field_mapping(container: dict[str, Any], expected: dict[str, Any]) -> None:
    svc = service(container)
    for key, value in expected.items():
        assert svc[key] == value, key


def test_unset_fields_are_not_written() -> None:
    assert set(service({})) == {"image", "stop_grace_period"}


def test_task_cpu_and_memory_cap_each_container() -> None:
    svc = service({"cpu": 256}, cpu="512", memory="1024")
    assert svc["cpus"] == 0.5 and svc["cpu_shares"] == 256 and svc["mem_limit"] == "1024m"
    # the container's own memory limit wins over the task's
    assert service({"memory": 300}, memory="1024")["mem_limit"] == "300m"
    # register-task-definition also accepts "1 vCPU" / "2 GB"
    svc = service({}, cpu="1 vCPU", memory="2 GB")
    assert svc["cpus"] == 1.0 and svc["mem_limit"] == "2048m"


def test_runtime_platform_sets_platform() -> None:
    platform = {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}
    assert service({}, runtimePlatform=platform)["platform"] == "linux/arm64"
    platform = {"cpuArchitecture": "X86_64"}
    assert service({}, runtimePlatform=platform)["platform"] == "linux/amd64"


def test_logging_is_replaced_by_the_default_driver_with_a_comment() -> None:
    log = {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/ecs/x", "awslogs-region": "eu-west-1"},
    }
    document, result = convert([{"name": "app", "image": "a", "logConfiguration": log}])
    assert "logging" not in document["services"]["app"]
    assert (
        "# logging: awslogs (group /ecs/x, region eu-west-1) replaced by compose's default"
        in result.yaml_text
    )
    assert result.warnings == []


def test_essential_is_a_comment() -> None:
    _, result = convert(
        [{"name": "app", "image": "a"}, {"name": "init", "image": "b", "essential": False}]
    )
    assert "# essential: ECS stops the whole task when it stops" in result.yaml_text
    assert "# not essential: the task keeps running when it exits" in result.yaml_text
    services = yaml.safe_load(result.yaml_text)["services"]
    # ECS never restarts a container without a restartPolicy; neither does compose's default
    assert not any("restart" in svc for svc in services.values())


def test_dollar_signs_of_the_task_are_escaped_for_compose() -> None:
    svc = service(
        {
            "environment": [{"name": "PRICE", "value": "$5"}],
            "command": ["sh", "-c", "echo ${HOME}"],
        }
    )
    assert svc["environment"]["PRICE"] == "$$5"
    assert svc["command"][2] == "echo $${HOME}"


# --- dependsOn ------------------------------------------------------------------------------------

INIT = {"name": "init", "image": "busybox", "essential": False}
DB = {"name": "db", "image": "postgres", "healthCheck": {"command": ["CMD", "pg_isready"]}}


@pytest.mark.parametrize(
    ("condition", "target", "expected"),
    [
        ("START", DB, "service_started"),
        ("HEALTHY", DB, "service_healthy"),
        ("SUCCESS", INIT, "service_completed_successfully"),
        ("COMPLETE", INIT, "service_completed_successfully"),
    ],
)
def test_depends_on_conditions(condition: str, target: dict[str, Any], expected: str) -> None:
    app = {
        "name": "app",
        "image": "a",
        "dependsOn": [{"containerName": target["name"], "condition": condition}],
    }
    document, result = convert([target, app])
    depends_on = document["services"]["app"]["depends_on"]
    assert depends_on == {
        HOLDER: {"condition": "service_started"},
        target["name"]: {"condition": expected},
    }
    approximated = "ECS COMPLETE (exited, any code) is approximated" in result.yaml_text
    assert approximated == (condition == "COMPLETE")
    assert any("COMPLETE approximated" in w for w in result.warnings) == (condition == "COMPLETE")


def test_start_timeout_is_warned() -> None:
    _, result = convert([{"name": "app", "image": "a", "startTimeout": 120}])
    assert result.warnings == [
        "app: startTimeout: compose waits for dependencies without a time limit (ECS gives up "
        "after 120s)"
    ]


# --- the shared network namespace -----------------------------------------------------------------

NGINX = {
    "name": "nginx",
    "image": "nginx:1.27",
    "portMappings": [{"containerPort": 80, "hostPort": 80}],
    "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}],
}
APP = {
    "name": "app",
    "image": "shop/app:1",
    "portMappings": [{"containerPort": 5000}],
    "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:5000/health"]},
}


def test_nginx_depending_on_healthy_app_shares_one_namespace() -> None:
    document, result = convert([NGINX, APP], networkMode="awsvpc")
    services = document["services"]
    # The holder comes first and owns the namespace; nginx (first in the task) can wait for the
    # app without the app having to wait for nginx.
    assert list(services) == [HOLDER, "nginx", "app"]
    assert services[HOLDER] == {
        "image": NAMESPACE_HOLDER_IMAGE,
        "ports": ["127.0.0.1:80:80/tcp", "127.0.0.1:5000:5000/tcp"],
    }
    for name in ("nginx", "app"):
        assert services[name]["network_mode"] == f"service:{HOLDER}"
        assert "ports" not in services[name]
        assert services[name]["depends_on"][HOLDER] == {"condition": "service_started"}
    assert services["nginx"]["depends_on"]["app"] == {"condition": "service_healthy"}
    assert set(services["app"]["depends_on"]) == {HOLDER}
    header = " ".join(
        line.lstrip("# ") for line in result.yaml_text.splitlines() if line[:1] == "#"
    )
    assert (
        f"share the network namespace of {HOLDER}, as under awsvpc: localhost reaches them all"
        in header
    )


def test_holder_name_avoids_a_container_of_that_name() -> None:
    document, _ = convert([{"name": HOLDER, "image": "a"}, {"name": "b", "image": "b"}])
    assert list(document["services"]) == [f"{HOLDER}-2", HOLDER, "b"]
    assert document["services"]["b"]["network_mode"] == f"service:{HOLDER}-2"


def test_a_single_container_task_owns_its_namespace() -> None:
    document, _ = convert([APP])
    assert list(document["services"]) == ["app"]
    assert document["services"]["app"]["ports"] == ["127.0.0.1:5000:5000/tcp"]
    assert "network_mode" not in document["services"]["app"]


def test_pid_and_ipc_task_modes_share_the_holder() -> None:
    document, _ = convert([NGINX, APP], pidMode="task", ipcMode="task")
    services = document["services"]
    assert services[HOLDER]["ipc"] == "shareable"
    assert services["app"]["pid"] == services["app"]["ipc"] == f"service:{HOLDER}"


def test_duplicate_port_in_one_namespace_is_warned() -> None:
    other = {"name": "other", "image": "o", "portMappings": [{"containerPort": 5000}]}
    document, result = convert([APP, other])
    assert document["services"][HOLDER]["ports"] == ["127.0.0.1:5000:5000/tcp"]
    assert (
        "other: portMappings: 127.0.0.1:5000:5000/tcp is also mapped by app" in result.warnings[0]
    )


@pytest.mark.parametrize(
    "key", ["hostname", "dnsServers", "dnsSearchDomains", "extraHosts", "links"]
)
def test_name_settings_under_awsvpc_are_warned(key: str) -> None:
    value: Any = {
        "hostname": "web",
        "dnsServers": ["10.0.0.2"],
        "dnsSearchDomains": ["corp"],
        "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.5"}],
        "links": ["db"],
    }[key]
    document, result = convert([{"name": "app", "image": "a", key: value}])
    assert result.warnings == [f"app: {key}: not supported under awsvpc networking; not mapped"]
    assert set(document["services"]["app"]) == {"image", "stop_grace_period"}


def test_bridge_mode_keeps_per_container_networking() -> None:
    web = {
        "name": "web",
        "image": "httpd",
        "portMappings": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 443}],
        "links": ["cache:memcached"],
        "hostname": "web.local",
        "dnsServers": ["10.0.0.2"],
        "dnsSearchDomains": ["corp.example"],
        "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.5"}],
    }
    cache = {
        "name": "cache",
        "image": "memcached",
        "portMappings": [{"containerPort": 11211, "hostPort": 0}],
    }
    document, result = convert([web, cache], networkMode="bridge")
    services = document["services"]
    assert list(services) == ["web", "cache"]
    assert "network_mode" not in services["web"]
    assert services["web"]["ports"] == ["127.0.0.1:8080:80/tcp", "127.0.0.1::443/tcp"]
    assert services["cache"]["ports"] == ["127.0.0.1::11211/tcp"]
    assert services["web"]["links"] == ["cache:memcached"]
    assert services["web"]["hostname"] == "web.local"
    assert services["web"]["dns"] == ["10.0.0.2"]
    assert services["web"]["dns_search"] == ["corp.example"]
    assert services["web"]["extra_hosts"] == ["db:10.0.0.5"]
    assert result.warnings == []
    assert "bridge networking, as on EC2" in result.yaml_text


def test_host_and_none_network_modes() -> None:
    document, result = convert(
        [{**APP, "portMappings": [{"containerPort": 5000}]}], networkMode="host"
    )
    assert document["services"]["app"]["network_mode"] == "host"
    assert "ports" not in document["services"]["app"]
    assert "host networking: it binds 5000/tcp on the Docker host itself" in result.yaml_text
    document, _ = convert([{"name": "a", "image": "a"}], networkMode="none")
    assert document["services"]["a"]["network_mode"] == "none"


def test_disable_networking_outside_awsvpc() -> None:
    document, _ = convert(
        [{"name": "a", "image": "a", "disableNetworking": True}], networkMode="bridge"
    )
    assert document["services"]["a"]["network_mode"] == "none"


# --- volumes --------------------------------------------------------------------------------------


def test_task_volumes_and_mount_points() -> None:
    volumes = [
        {"name": "scratch"},
        {"name": "logs", "host": {"sourcePath": "/var/log/app"}},
        {
            "name": "cache",
            "dockerVolumeConfiguration": {"driver": "local", "driverOpts": {"type": "tmpfs"}},
        },
        {
            "name": "plugin",
            "dockerVolumeConfiguration": {"driver": "rexray/ebs", "scope": "shared"},
        },
        {"name": "files", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}},
    ]
    mounts = [
        {"sourceVolume": "scratch", "containerPath": "/tmp/s"},
        {"sourceVolume": "logs", "containerPath": "/logs", "readOnly": True},
        {"sourceVolume": "cache", "containerPath": "/cache"},
        {"sourceVolume": "files", "containerPath": "/files"},
    ]
    document, result = convert(
        [
            {"name": "app", "image": "a", "mountPoints": mounts},
            {
                "name": "side",
                "image": "s",
                "volumesFrom": [{"sourceContainer": "app", "readOnly": True}],
            },
        ],
        volumes=volumes,
    )
    assert document["services"]["app"]["volumes"] == [
        {"type": "volume", "source": "scratch", "target": "/tmp/s"},
        {"type": "bind", "source": "/var/log/app", "target": "/logs", "read_only": True},
        {"type": "volume", "source": "cache", "target": "/cache"},
        {"type": "volume", "source": "files", "target": "/files"},
    ]
    assert document["services"]["side"]["volumes_from"] == ["app:ro"]
    assert document["volumes"] == {
        "scratch": {},
        "cache": {"driver_opts": {"type": "tmpfs"}},
        "plugin": {"driver": "rexray/ebs"},
        "files": {},
    }
    assert result.warnings == [
        "task: volumes[files]: the EFS file system fs-1 is not mounted locally; an empty named "
        "volume stands in"
    ]
    assert "scratch: task scratch space" in result.yaml_text


def test_mount_of_a_volume_a_bare_array_cannot_declare() -> None:
    containers = [
        {
            "name": "app",
            "image": "a",
            "mountPoints": [{"sourceVolume": "data", "containerPath": "/d"}],
        }
    ]
    document, result = convert(containers)
    assert document["volumes"] == {"data": {}}
    assert result.warnings == [
        "app: mountPoints[data]: volume not declared in the task; using a named volume"
    ]


# --- secrets --------------------------------------------------------------------------------------

SM_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf:password::"
SSM_ARN = "arn:aws:ssm:eu-west-1:123456789012:parameter/app/api-key"
WORKER = {
    "name": "worker",
    "image": "w",
    "secrets": [
        {"name": "DB_PASSWORD", "valueFrom": SM_ARN},
        {"name": "API_KEY", "valueFrom": SSM_ARN},
    ],
}


def test_secrets_become_references_and_env_example() -> None:
    document, result = convert([WORKER])
    assert document["services"]["worker"]["environment"] == {
        "DB_PASSWORD": "${DB_PASSWORD}",
        "API_KEY": "${API_KEY}",
    }
    assert f"# worker: DB_PASSWORD <- {SM_ARN}\nDB_PASSWORD=\n" in result.env_example
    assert f"# worker: API_KEY <- {SSM_ARN}\nAPI_KEY=\n" in result.env_example
    assert result.env_file_text is None
    assert result.secret_variables == ("DB_PASSWORD", "API_KEY")
    assert "copy .env.example to .env" in result.yaml_text.lower()


def test_no_secrets_no_env_example() -> None:
    assert convert([APP])[1].env_example == ""


def test_resolved_secrets_go_to_env_file_only() -> None:
    values = {SM_ARN: "s3cr3t'$x", "API_KEY": "k-123"}
    result = task_definition_to_compose(
        {"containerDefinitions": [WORKER]}, source="t", resolved_secrets=values
    )
    assert result.env_file_text is not None
    assert "API_KEY=k-123\n" in result.env_file_text
    assert 'DB_PASSWORD="s3cr3t\'$x"\n' in result.env_file_text
    for text in (result.yaml_text, result.env_example, *result.warnings):
        assert "s3cr3t" not in text and "k-123" not in text
    # a value whose quoting some compose versions expand is flagged, without the value
    assert any("DB_PASSWORD" in w and "check .env" in w for w in result.warnings)


def test_unresolved_secret_is_warned_and_left_empty() -> None:
    result = task_definition_to_compose(
        {"containerDefinitions": [WORKER]}, source="t", resolved_secrets={}
    )
    assert result.env_file_text is not None and "\nAPI_KEY=\n" in result.env_file_text
    assert "worker: secrets[API_KEY]: not resolved; left empty in .env" in result.warnings


def test_same_name_from_different_secrets_gets_two_variables() -> None:
    other = {
        "name": "other",
        "image": "o",
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": SSM_ARN}],
    }
    document, result = convert([WORKER, other])
    assert document["services"]["other"]["environment"]["DB_PASSWORD"] == "${DB_PASSWORD__other}"
    assert "DB_PASSWORD__other=" in result.env_example


# --- AWS credentials ------------------------------------------------------------------------------


def test_aws_credentials_mount_and_environment() -> None:
    taskdef = {
        "containerDefinitions": [
            {"name": "app", "image": "a"},
            {"name": "w", "image": "w", "user": "1000"},
        ]
    }
    result = task_definition_to_compose(
        taskdef, source="t", aws_credentials=True, aws_region="eu-west-1", aws_profile="dev"
    )
    services = yaml.safe_load(result.yaml_text)["services"]
    assert services["app"]["volumes"] == [
        {"type": "bind", "source": "~/.aws", "target": "/root/.aws", "read_only": True}
    ]
    assert services["app"]["environment"] == {
        "AWS_PROFILE": "${AWS_PROFILE:-dev}",
        "AWS_REGION": "${AWS_REGION:-eu-west-1}",
        "AWS_DEFAULT_REGION": "${AWS_DEFAULT_REGION:-eu-west-1}",
    }
    # a non-root user cannot traverse /root: mount elsewhere and point the SDKs there
    assert services["w"]["volumes"][0]["target"] == "/aws-config"
    assert services["w"]["environment"]["AWS_CONFIG_FILE"] == "/aws-config/config"
    assert "volumes" not in services[HOLDER]


def test_aws_credentials_region_from_the_task_logs() -> None:
    log = {"logDriver": "awslogs", "options": {"awslogs-region": "ap-northeast-1"}}
    taskdef = {"containerDefinitions": [{"name": "app", "image": "a", "logConfiguration": log}]}
    result = task_definition_to_compose(taskdef, source="t", aws_credentials=True)
    env = yaml.safe_load(result.yaml_text)["services"]["app"]["environment"]
    assert env["AWS_REGION"] == "${AWS_REGION:-ap-northeast-1}"
    assert env["AWS_PROFILE"] == "${AWS_PROFILE:-default}"


def test_task_role_without_credentials_is_warned() -> None:
    _, result = convert([APP], taskRoleArn="arn:aws:iam::1:role/t")
    assert any(
        w.startswith("task: taskRoleArn: the task role is not available") for w in result.warnings
    )


# --- warnings for what compose cannot express -----------------------------------------------------

NOT_MAPPED = [
    ("firelensConfiguration", {"type": "fluentbit"}),
    ("repositoryCredentials", {"credentialsParameter": "arn:aws:secretsmanager:x"}),
    ("resourceRequirements", [{"type": "GPU", "value": "1"}]),
    ("credentialSpecs", ["credentialspecdomainless:arn:aws:s3:::b/k"]),
    ("versionConsistency", "enabled"),
]


@pytest.mark.parametrize(("key", "value"), NOT_MAPPED, ids=[k for k, _ in NOT_MAPPED])
def test_unsupported_container_fields_are_warned(key: str, value: Any) -> None:
    document, result = convert([{"name": "app", "image": "a", key: value}])
    assert len(result.warnings) == 1 and result.warnings[0].startswith(f"app: {key}: ")
    assert set(document["services"]["app"]) == {"image", "stop_grace_period"}


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ({"placementConstraints": [{"type": "memberOf"}]}, "task: placementConstraints: "),
        ({"ephemeralStorage": {"sizeInGiB": 50}}, "task: ephemeralStorage: "),
        ({"proxyConfiguration": {"containerName": "envoy"}}, "task: proxyConfiguration: "),
        (
            {"runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}},
            "task: runtimePlatform: ",
        ),
    ],
)
def test_unsupported_task_fields_are_warned(task: dict[str, Any], expected: str) -> None:
    _, result = convert([{"name": "app", "image": "a"}], **task)
    assert [w for w in result.warnings if w.startswith(expected)], result.warnings


def test_other_approximations_are_warned() -> None:
    container = {
        "name": "app",
        "image": "a",
        "environmentFiles": [{"value": "arn:aws:s3:::cfg/app.env", "type": "s3"}],
        "portMappings": [{"containerPort": 80, "name": "web", "appProtocol": "http"}],
        "restartPolicy": {"enabled": True, "ignoredExitCodes": [0, 3], "restartAttemptPeriod": 60},
        "dockerSecurityOptions": ["credentialspec:file://x.json"],
        "linuxParameters": {"maxSwap": 10},
        "healthCheck": {"command": ["curl", "-f", "http://localhost"]},
    }
    document, result = convert([container])
    fields = [w.split(": ")[1] for w in result.warnings]
    assert fields == [
        "environmentFiles",
        "portMappings[80].appProtocol/name",
        "healthCheck.command",
        "linuxParameters.maxSwap",
        "dockerSecurityOptions",
        "restartPolicy.ignoredExitCodes",
        "restartPolicy.restartAttemptPeriod",
    ]
    assert document["services"]["app"]["healthcheck"]["test"] == [
        "CMD",
        "curl",
        "-f",
        "http://localhost",
    ]
    assert "aws s3 cp s3://cfg/app.env ." in result.warnings[0]


def test_empty_values_of_unsupported_fields_are_quiet() -> None:
    # describe-task-definition returns empty lists for fields that were never set
    _, result = convert(
        [{"name": "app", "image": "a", "links": [], "credentialSpecs": [], "cpu": 0}],
        placementConstraints=[],
    )
    assert result.warnings == []


# --- whole files, determinism, the header ---------------------------------------------------------


def test_terraform_array_and_full_definition_give_the_same_compose_file(tmp_path: Path) -> None:
    containers = [
        {**NGINX, "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}]},
        {**APP, "secrets": [{"name": "DB_PASSWORD", "valueFrom": SM_ARN}]},
    ]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(containers))
    full = tmp_path / "full.json"
    full.write_text(
        json.dumps(
            {
                "containerDefinitions": containers,
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
            }
        )
    )
    describe = tmp_path / "describe.json"
    describe.write_text(
        json.dumps(
            {
                "taskDefinition": {
                    "containerDefinitions": containers,
                    "revision": 4,
                    "status": "ACTIVE",
                }
            }
        )
    )
    results = [
        task_definition_to_compose(load_task_definition_file(p), source="task.json")
        for p in (bare, full, describe)
    ]
    assert results[0] == results[1] == results[2]


def test_output_is_deterministic() -> None:
    taskdef = load_task_definition_file(FIXTURES / "kitchen-sink.json")
    first = task_definition_to_compose(taskdef, source="k.json", aws_credentials=True)
    second = task_definition_to_compose(
        json.loads(json.dumps(taskdef)), source="k.json", aws_credentials=True
    )
    assert first == second


def test_header_names_source_and_tool() -> None:
    _, result = convert([APP], family="shop", cpu="256", memory="512")
    lines = result.yaml_text.splitlines()
    assert lines[0].startswith("# Generated by ecs_cicd `local compose` from test.json")
    assert (
        "# Task shop: network mode awsvpc, cpu 256 (0.25 vCPU), memory 512 MiB." in result.yaml_text
    )
    assert "version:" not in result.yaml_text


def test_ecr_images_get_a_login_hint() -> None:
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1"
    _, result = convert([{"name": "app", "image": image}])
    assert (
        "aws ecr get-login-password --region eu-west-1 | docker login --username AWS"
        in result.yaml_text
    )


def test_fixture_files_convert_and_parse() -> None:
    for path in sorted(FIXTURES.glob("*.json")):
        result = task_definition_to_compose(load_task_definition_file(path), source=path.name)
        assert yaml.safe_load(result.yaml_text)["services"], path


# --- the YAML writer ------------------------------------------------------------------------------


def test_writer_round_trips_awkward_strings() -> None:
    awkward = [
        "yes",
        "no",
        "on",
        "null",
        "1e3",
        "0x1F",
        "08",
        ": x",
        "- y",
        "#z",
        "a\nb",
        'q"uote',
        "tab\t",
        "\\",
        "\x01",
        "ünï©ødé 🚀",
        "",
        " lead",
        "\u2028",
    ]
    doc = Block()
    doc.set("items", awkward)
    doc.set("map", {word: word for word in awkward if word})
    doc.comment("a comment\nover two lines")
    doc.set("nested", {"list": [{"a": 1, "b": [True, False, None, 1.5]}], "empty": {}, "none": []})
    parsed = yaml.safe_load(render_yaml(doc))
    assert parsed["items"] == awkward
    assert parsed["map"] == {word: word for word in awkward if word}
    assert parsed["nested"] == {
        "list": [{"a": 1, "b": [True, False, None, 1.5]}],
        "empty": {},
        "none": [],
    }


def test_writer_escapes_dollars_except_in_references() -> None:
    doc = Block()
    doc.set("literal", "$HOME")
    doc.set("reference", Ref("${HOME}"))
    text = render_yaml(doc)
    assert 'literal: "$$HOME"' in text and 'reference: "${HOME}"' in text


def test_writer_keeps_comments() -> None:
    doc = Block()
    doc.comment("top")
    inner = Block()
    inner.comment("inside")
    inner.set("k", "v")
    doc.set("outer", inner)
    assert render_yaml(doc) == '# top\nouter:\n  # inside\n  k: "v"\n'


def test_block_rejects_duplicate_keys() -> None:
    doc = Block()
    doc.set("a", 1)
    with pytest.raises(ValueError, match="duplicate key"):
        doc.set("a", 2)


# --- local compose: write_compose and the CLI handler ---------------------------------------------


def parser() -> argparse.ArgumentParser:
    """A CLI like ecs_cicd.cli's: a common parent with -c (defaulted), --region, --profile..."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default="ecs_cicd.yaml")
    common.add_argument("--region")
    common.add_argument("--profile")
    common.add_argument("--endpoint-url")
    common.add_argument("--emulator", action="store_true")
    common.add_argument("--output", choices=("text", "json"), default="text")
    common.add_argument("-v", "--verbose", action="store_true")
    top = argparse.ArgumentParser(prog="ecs_cicd")
    local.register(top.add_subparsers(dest="verb", required=True), [common])
    return top


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


def test_write_compose_writes_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    taskdef = {"containerDefinitions": [WORKER]}
    output = tmp_path / "out" / "docker-compose.yml"
    result = local.write_compose(taskdef, output, source="t.json", force=False)
    assert output.read_text() == result.yaml_text
    assert (output.parent / ".env.example").read_text() == result.env_example
    assert not (output.parent / ".env").exists()
    with pytest.raises(UsageError, match="already exist"):
        local.write_compose(taskdef, output, source="t.json", force=False)
    local.write_compose(taskdef, output, source="t.json", force=True)


def test_env_file_is_private(tmp_path: Path) -> None:
    output = tmp_path / "docker-compose.yml"
    local.write_compose(
        {"containerDefinitions": [WORKER]}, output, source="t", resolved_secrets={SM_ARN: "pw"}
    )
    env = tmp_path / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "DB_PASSWORD=pw" in env.read_text()


def test_cli_task_def(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "compose.yml"
    source = FIXTURES / "kitchen-sink.json"
    assert run(["local", "compose", "--task-def", str(source), "-o", str(output)]) == 0
    assert yaml.safe_load(output.read_text())["services"]["main"]["image"] == "alpine:3.20"
    out, err = capsys.readouterr()
    assert f"wrote {output}" in out
    assert "warning: main: firelensConfiguration:" in err
    with pytest.raises(UsageError, match="pass --force"):
        run(["local", "compose", "--task-def", str(source), "-o", str(output)])
    assert run(["local", "compose", "--task-def", str(source), "-o", str(output), "--force"]) == 0


def test_cli_json_output_names_secrets_not_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "compose.yml"
    run(
        [
            "local",
            "compose",
            "--task-def",
            str(FIXTURES / "secrets.json"),
            "-o",
            str(output),
            "--output",
            "json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == [str(output), str(tmp_path / ".env.example")]
    assert summary["secrets"] == ["DB_PASSWORD", "DB_USER", "STRIPE_KEY", "DB_PASSWORD__metrics"]
    assert summary["services"] == [HOLDER, "worker", "metrics"]


def test_cli_refuses_two_sources(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="-c/--config and --task-def"):
        run(["local", "compose", "-c", "other.yaml", "--task-def", "x.json"])
    with pytest.raises(SystemExit):  # argparse: not allowed with argument --task-def
        run(["local", "compose", "--remote", "x", "--task-def", "x.json"])


def test_cli_without_any_source_or_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"config file 'ecs_cicd\.yaml' not found"):
        run(["local", "compose"])


def test_cli_refuses_the_emulator() -> None:
    with pytest.raises(UsageError, match="--emulator"):
        run(["local", "compose", "--emulator", "--task-def", "x.json"])


def test_cli_config_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-c: the task definition `up` would register, from the config modules (faked here)."""
    import sys
    import types

    calls: dict[str, Any] = {}
    config_module = types.ModuleType("ecs_cicd.config")
    taskdef_module = types.ModuleType("ecs_cicd.taskdef")

    def load_config(path: Any, *, check_env: bool = True) -> Any:
        calls["config"] = (str(path), check_env)
        return types.SimpleNamespace(region="eu-west-1")

    def build_task_definition(cfg: Any, *, region: str | None = None, **_: Any) -> dict[str, Any]:
        calls["region"] = region
        return {"family": "shop", "networkMode": "awsvpc", "containerDefinitions": [NGINX, APP]}

    config_module.load_config = load_config  # type: ignore[attr-defined]
    taskdef_module.build_task_definition = build_task_definition  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ecs_cicd.config", config_module)
    monkeypatch.setitem(sys.modules, "ecs_cicd.taskdef", taskdef_module)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ecs_cicd.yaml").write_text("project: shop\n")
    assert run(["local", "compose", "--aws-credentials"]) == 0
    assert calls == {"config": ("ecs_cicd.yaml", False), "region": "eu-west-1"}
    compose = yaml.safe_load((tmp_path / "docker-compose.yml").read_text())
    assert compose["services"]["app"]["environment"]["AWS_REGION"] == "${AWS_REGION:-eu-west-1}"
    (tmp_path / "other.yaml").write_text("project: shop\n")
    assert run(["local", "compose", "-c", "other.yaml", "-o", "b.yml"]) == 0
    assert calls["config"] == ("other.yaml", False)


@pytest.fixture
def moto() -> Any:
    from moto import mock_aws

    with mock_aws():
        yield


def test_cli_remote_describes_the_task_definition(moto: None, tmp_path: Path) -> None:
    import boto3

    boto3.client("ecs").register_task_definition(
        family="shop",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[NGINX, APP],
    )
    output = tmp_path / "docker-compose.yml"
    assert run(["local", "compose", "--remote", "shop:1", "-o", str(output)]) == 0
    text = output.read_text()
    assert text.startswith("# Generated by ecs_cicd `local compose` from ECS shop:1")
    services = yaml.safe_load(text)["services"]
    assert services["nginx"]["depends_on"]["app"] == {"condition": "service_healthy"}


def test_cli_remote_unknown_family(moto: None, tmp_path: Path) -> None:
    with pytest.raises(AwsError, match="Describing task definition nope: AWS said ClientException"):
        run(["local", "compose", "--remote", "nope", "-o", str(tmp_path / "c.yml")])


def test_cli_resolve_secrets_from_secrets_manager_and_ssm(
    moto: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    region = "eu-west-1"
    arn = boto3.client("secretsmanager", region_name=region).create_secret(
        Name="db", SecretString=json.dumps({"password": "pw-1", "port": 5432})
    )["ARN"]
    boto3.client("ssm", region_name=region).put_parameter(
        Name="/app/api-key", Value="key-2", Type="SecureString"
    )
    worker = {
        "name": "worker",
        "image": "w",
        "secrets": [
            {"name": "DB_PASSWORD", "valueFrom": f"{arn}:password::"},
            {"name": "DB_PORT", "valueFrom": f"{arn}:port::"},
            {"name": "DB_JSON", "valueFrom": arn},
            {
                "name": "API_KEY",
                "valueFrom": f"arn:aws:ssm:{region}:123456789012:parameter/app/api-key",
            },
        ],
    }
    taskdef = tmp_path / "taskdef.json"
    taskdef.write_text(json.dumps([worker]))
    output = tmp_path / "docker-compose.yml"
    assert (
        run(
            ["local", "compose", "--task-def", str(taskdef), "-o", str(output), "--resolve-secrets"]
        )
        == 0
    )
    env = (tmp_path / ".env").read_text()
    assert "DB_PASSWORD=pw-1\n" in env and "DB_PORT=5432\n" in env and "API_KEY=key-2\n" in env
    assert 'DB_JSON=\'{"password": "pw-1", "port": 5432}\'' in env
    out, err = capsys.readouterr()
    for value in ("pw-1", "key-2"):
        assert value not in out + err + output.read_text() + (tmp_path / ".env.example").read_text()
    # a second run refuses before it reads any secret
    with pytest.raises(UsageError, match=r"\.env"):
        run(
            ["local", "compose", "--task-def", str(taskdef), "-o", str(output), "--resolve-secrets"]
        )


def test_resolve_secrets_errors(moto: None) -> None:
    import boto3

    def client(service: str, region: str | None) -> Any:
        return boto3.client(service, region_name=region or "eu-west-1")  # type: ignore[call-overload]

    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gone-AbCdEf"
    with pytest.raises(
        AwsError, match=r"Resolving secret .*gone-AbCdEf: AWS said ResourceNotFoundException"
    ):
        local.resolve_secrets([missing], client=client)
    arn = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name="plain", SecretString="text"
    )["ARN"]
    with pytest.raises(ConfigError, match="no JSON key 'password'"):
        local.resolve_secrets([f"{arn}:password::"], client=client)
    assert local.resolve_secrets([arn], client=client) == {arn: "text"}
