"""Convert an ECS task definition into a docker-compose.yml that behaves like the task on Fargate.

Pure: a task definition dict (register-task-definition shape, see ``ecs_cicd.taskdef_file``) in,
file texts and warnings out. ``ecs-cli local create`` did this before and lost what matters most
for a multi-container task; this module keeps it:

* **One network namespace per task**, as awsvpc gives. A task of several containers gets a tiny
  namespace-holder service (the pause image), which every container joins with
  ``network_mode: service:<holder>`` and which publishes all the task's ports. ECS itself does the
  same for awsvpc tasks (its agent starts a pause container that owns the task's ENI). We do not
  let the first container own the namespace: it may depend on a later one (nginx waits for the app
  to be HEALTHY, so the app could not wait for nginx to start), it may be a short-lived init
  container, and a container that restarts takes a new namespace with it while the others keep the
  old one. The holder never exits, starts first, and has no dependency. A single-container task
  needs no sharing and keeps the namespace (and the ports) itself.
  ``bridge``, ``host`` and ``none`` tasks (EC2) keep per-container networking, which is what those
  modes are.
* **Start order and health**: ``dependsOn`` becomes ``depends_on`` with conditions; ECS's health
  check defaults are written out, because Docker's differ (its timeout is 30 s, ECS's 5 s).
* **Secrets** become ``${NAME}`` references filled from ``.env``; ``.env.example`` lists where
  each comes from. Secret values appear only in the optional ``.env`` text.

Everything the task definition says that compose cannot express is reported as a warning, never
dropped silently. The YAML is written by a small hand-built writer so that comments survive and
the output is deterministic; every string is double-quoted, and ``$`` in a task's own strings is
escaped as ``$$`` so compose does not interpolate it.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecs_cicd.taskdef_file import validate_task_definition

__all__ = [
    "NAMESPACE_HOLDER_IMAGE",
    "Block",
    "ComposeResult",
    "Ref",
    "render_yaml",
    "secret_sources",
    "task_definition_to_compose",
]

#: The image of the namespace-holder service: a 300 kB process that sleeps until it is stopped.
NAMESPACE_HOLDER_IMAGE = "registry.k8s.io/pause:3.9"
_HOLDER_NAME = "task-network"

# Ports are published on the loopback address only: a task tried on a laptop should not be
# reachable from the café's Wi-Fi. Remove the prefix by hand to expose it.
_PUBLISH_ADDRESS = "127.0.0.1"
_PUBLISH_NOTE = (
    f"published on {_PUBLISH_ADDRESS} only; drop that prefix to expose them on your network"
)

# ECS's defaults (FORMATS.md "Task definition rules"); Docker's own differ.
_ECS_HEALTHCHECK_DEFAULTS = {"interval": 30, "timeout": 5, "retries": 3}
_ECS_STOP_TIMEOUT = 30

_CONDITIONS = {
    "START": "service_started",
    "HEALTHY": "service_healthy",
    "SUCCESS": "service_completed_successfully",
    # Compose has no "exited with any code"; waiting for the exit keeps the start order, which is
    # what COMPLETE is used for, at the price of refusing to start when the dependency fails.
    "COMPLETE": "service_completed_successfully",
}

_ARCHITECTURES = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}

# Container fields compose cannot express, and why. Anything else unhandled is "unknown".
_CONTAINER_NOT_MAPPED = {
    "firelensConfiguration": "FireLens log routing needs the ECS agent; logs go to compose's "
    "default driver",
    "repositoryCredentials": "ECS pulls this image with credentials from Secrets Manager; run "
    "`docker login` for its registry before `docker compose up`",
    "resourceRequirements": "GPU / inference accelerator reservations are not mapped; add a "
    "`deploy.resources.reservations.devices` entry by hand to use a local GPU",
    "credentialSpecs": "gMSA credential specs (Active Directory) exist only on ECS",
    "versionConsistency": "ECS pins the image digest at deployment; compose uses the tag as it is "
    "now",
}
_TASK_NOT_MAPPED = {
    "placementConstraints": "placement applies to EC2 container instances",
    "proxyConfiguration": "the App Mesh proxy configuration needs the ECS agent",
    "inferenceAccelerators": "Elastic Inference accelerators exist only on ECS",
    "ephemeralStorage": "containers use the Docker host's disk; the size is not enforced",
    "enableFaultInjection": "ECS fault injection endpoints exist only on ECS",
}
# Task fields that describe the task without changing how its containers run here; they go into
# the header comment.
_TASK_DESCRIPTIVE = frozenset(
    {"family", "taskRoleArn", "executionRoleArn", "requiresCompatibilities", "tags"}
)


@dataclass(frozen=True)
class ComposeResult:
    """What task_definition_to_compose produces. Only ``env_file_text`` can hold secret values."""

    yaml_text: str
    #: ``.env.example``: every secret variable with the ARN (valueFrom) it comes from; "" if none.
    env_example: str
    warnings: list[str]
    #: ``.env`` with resolved secret values, when resolved_secrets was given and there are secrets.
    env_file_text: str | None = None
    services: tuple[str, ...] = ()
    secret_variables: tuple[str, ...] = ()


def task_definition_to_compose(
    taskdef: Mapping[str, Any],
    *,
    source: str,
    aws_credentials: bool = False,
    resolved_secrets: Mapping[str, str] | None = None,
    aws_region: str | None = None,
    aws_profile: str | None = None,
) -> ComposeResult:
    """Render a task definition as a docker-compose.yml (compose specification format).

    ``source`` names the task definition in the header comment. ``aws_credentials`` mounts
    ``~/.aws`` read-only into each container and sets ``AWS_PROFILE`` (default ``aws_profile``)
    and the region (``aws_region``, else the one the task's logs or ARNs name). ``resolved_secrets``
    maps a secret's valueFrom (or its variable name) to its value; with it the result carries
    ``env_file_text``.
    """
    validate_task_definition(taskdef, source=source)
    task = _Task.start(taskdef, source=source)
    if aws_credentials:
        task.aws = _AwsAccess(
            region=aws_region or _infer_region(taskdef),
            profile=aws_profile
            if aws_profile and _SAFE_DEFAULT.fullmatch(aws_profile)
            else "default",
        )
    task.check_task_fields(aws_credentials=aws_credentials)

    services = Block()
    if task.holder:
        services.set(task.holder, _holder_service(task))
    for container in task.containers:
        services.set(container["name"], _service(task, container))
    document = Block()
    document.set("services", services)
    if task.named_volumes.entries:
        document.set("volumes", task.named_volumes)

    text = "\n".join([*_header(task), render_yaml(document)])
    env_file_text = _env_file(task, resolved_secrets) if resolved_secrets is not None else None
    return ComposeResult(
        yaml_text=text,
        env_example=_env_example(task),
        warnings=list(task.warnings),
        env_file_text=env_file_text,
        services=tuple(services.keys()),
        secret_variables=tuple(s.variable for s in task.secrets),
    )


def secret_sources(taskdef: Mapping[str, Any]) -> list[str]:
    """Every distinct ``secrets[].valueFrom`` of the task, in order: what ``.env`` needs."""
    seen: dict[str, None] = {}
    for container in taskdef.get("containerDefinitions", []):
        for secret in container.get("secrets", []):
            seen.setdefault(str(secret.get("valueFrom", "")), None)
    return [s for s in seen if s]


# --- the task as a whole ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Secret:
    variable: str
    env_name: str
    container: str
    value_from: str


@dataclass(frozen=True)
class _AwsAccess:
    region: str | None
    profile: str


@dataclass
class _Task:
    """What the conversion of one container needs to know about the whole task."""

    source: str
    taskdef: Mapping[str, Any]
    containers: list[dict[str, Any]]
    network_mode: str
    holder: str | None
    task_cpu: int | None
    task_memory: int | None
    platform: str | None
    warnings: list[str] = field(default_factory=list)
    secrets: list[_Secret] = field(default_factory=list)
    volumes: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (type, source)
    named_volumes: Block = field(default_factory=lambda: Block())
    aws: _AwsAccess | None = None

    @classmethod
    def start(cls, taskdef: Mapping[str, Any], *, source: str) -> _Task:
        containers = [dict(c) for c in taskdef["containerDefinitions"]]
        network_mode = taskdef.get("networkMode", "awsvpc")
        names = {c["name"] for c in containers}
        shared = network_mode == "awsvpc" and len(containers) > 1
        task = cls(
            source=source,
            taskdef=taskdef,
            containers=containers,
            network_mode=network_mode,
            holder=_unique_name(_HOLDER_NAME, names) if shared else None,
            task_cpu=_cpu_units(taskdef.get("cpu")),
            task_memory=_memory_mib(taskdef.get("memory")),
            platform=None,
        )
        task.platform = task.runtime_platform()
        task.declare_volumes()
        return task

    def warn(self, where: str, what: str, why: str) -> None:
        self.warnings.append(f"{where}: {what}: {why}")

    def runtime_platform(self) -> str | None:
        platform = self.taskdef.get("runtimePlatform") or {}
        os_family = platform.get("operatingSystemFamily", "LINUX")
        if os_family != "LINUX":
            self.warn(
                "task", "runtimePlatform", f"{os_family} containers need a Windows Docker host"
            )
            return None
        architecture = platform.get("cpuArchitecture")
        if architecture is None:
            return None
        if architecture not in _ARCHITECTURES:
            self.warn(
                "task", "runtimePlatform.cpuArchitecture", f"unknown architecture {architecture!r}"
            )
            return None
        return _ARCHITECTURES[architecture]

    def declare_volumes(self) -> None:
        for volume in self.taskdef.get("volumes", []):
            name = volume["name"]
            host_path = (volume.get("host") or {}).get("sourcePath")
            if host_path:
                self.volumes[name] = ("bind", host_path)
                continue
            self.volumes[name] = ("volume", name)
            self.named_volumes.set(name, self._named_volume(name, volume))

    def _named_volume(self, name: str, volume: Mapping[str, Any]) -> Block:
        spec = Block()
        docker = volume.get("dockerVolumeConfiguration")
        if docker:
            if docker.get("driver") and docker["driver"] != "local":
                spec.set("driver", docker["driver"])
            if docker.get("driverOpts"):
                spec.set("driver_opts", {k: str(v) for k, v in docker["driverOpts"].items()})
            if docker.get("labels"):
                spec.set("labels", {k: str(v) for k, v in docker["labels"].items()})
            if docker.get("scope") == "shared":
                self.named_volumes.comment(
                    f"{name}: a shared Docker volume on ECS; here compose's named volume"
                )
            return spec
        for key, kind in (
            ("efsVolumeConfiguration", "EFS file system"),
            ("fsxWindowsFileServerVolumeConfiguration", "FSx for Windows File Server"),
            ("s3filesVolumeConfiguration", "S3 files volume"),
        ):
            if key in volume:
                what = f"the {kind} {volume[key].get('fileSystemId', '')}".rstrip()
                self.warn(
                    "task",
                    f"volumes[{name}]",
                    f"{what} is not mounted locally; an empty named volume stands in",
                )
                return spec
        if volume.get("configuredAtLaunch"):
            self.warn(
                "task",
                f"volumes[{name}]",
                "an EBS volume configured at launch; an empty named volume stands in",
            )
            return spec
        # A volume with no host path is the task's scratch space on Fargate (it lives as long as
        # the task); compose's named volume outlives `docker compose down` unless you pass -v.
        self.named_volumes.comment(
            f"{name}: task scratch space; `docker compose down -v` empties it"
        )
        return spec

    def volume_for(self, name: str, container: str) -> tuple[str, str]:
        if name not in self.volumes:
            # Only a Terraform bare array gets here: its volumes live in the HCL, not the JSON.
            self.warn(
                container,
                f"mountPoints[{name}]",
                "volume not declared in the task; using a named volume",
            )
            self.volumes[name] = ("volume", name)
            self.named_volumes.set(name, Block())
        return self.volumes[name]

    def secret_variable(self, container: str, env_name: str, value_from: str) -> str:
        """The ${VARIABLE} for a secret: its own name unless another secret already took it."""
        variable = re.sub(r"[^A-Za-z0-9_]", "_", env_name) or "SECRET"
        if variable[0].isdigit():
            variable = f"_{variable}"
        taken = {s.variable: s for s in self.secrets}
        if variable in taken and taken[variable].value_from == value_from:
            return variable
        if variable in taken:
            variable = f"{variable}__{re.sub(r'[^A-Za-z0-9_]', '_', container)}"
            self.warn(
                container,
                f"secrets[{env_name}]",
                f"another container's {env_name} comes from another secret; this one is "
                f"${{{variable}}}",
            )
        self.secrets.append(_Secret(variable, env_name, container, value_from))
        return variable

    def check_task_fields(self, *, aws_credentials: bool) -> None:
        mapped = {
            "containerDefinitions",
            "networkMode",
            "volumes",
            "cpu",
            "memory",
            "runtimePlatform",
            "pidMode",
            "ipcMode",
        }
        for key, value in self.taskdef.items():
            if key in mapped or key in _TASK_DESCRIPTIVE or value in ([], {}, None, ""):
                continue
            self.warn("task", key, _TASK_NOT_MAPPED.get(key, "unknown task field; not mapped"))
        if self.taskdef.get("taskRoleArn") and not aws_credentials:
            self.warn(
                "task",
                "taskRoleArn",
                "the task role is not available locally; AWS calls from the containers fail unless "
                "you give them credentials (local compose --aws-credentials mounts ~/.aws)",
            )
        for key in ("pidMode", "ipcMode"):
            if self.taskdef.get(key) == "task" and not self.holder and len(self.containers) > 1:
                self.warn(
                    "task",
                    key,
                    f"'task' sharing is mapped only for awsvpc tasks, not for {self.network_mode}",
                )


def _holder_service(task: _Task) -> Block:
    holder = Block()
    holder.comment(
        "Owns the task's network namespace, like the pause container ECS starts for an awsvpc\n"
        "task: the other services join it (network_mode: service:...), reach each other on\n"
        "localhost, and their ports are published here. It never exits, so the namespace outlives\n"
        "any container that stops or restarts."
    )
    holder.set("image", NAMESPACE_HOLDER_IMAGE)
    ports = _task_ports(task)
    if ports:
        holder.comment(_PUBLISH_NOTE)
        holder.set("ports", ports)
    if task.taskdef.get("ipcMode") == "task":
        holder.set("ipc", "shareable")
    return holder


def _task_ports(task: _Task) -> list[str]:
    """All port mappings of an awsvpc task, as its one namespace publishes them."""
    owners: dict[str, str] = {}
    ports: list[str] = []
    for container in task.containers:
        for spec in _port_specs(task, container["name"], container.get("portMappings", [])):
            if spec in owners:
                task.warn(
                    container["name"],
                    "portMappings",
                    f"{spec} is also mapped by {owners[spec]}; one namespace binds it once",
                )
                continue
            owners[spec] = container["name"]
            ports.append(spec)
    return ports


def _port_specs(task: _Task, container: str, mappings: Iterable[Mapping[str, Any]]) -> list[str]:
    specs = []
    for mapping in mappings:
        protocol = mapping.get("protocol", "tcp")
        target = str(mapping.get("containerPortRange") or mapping["containerPort"])
        if task.network_mode == "bridge":
            # hostPort absent or 0: Docker picks a free host port, as ECS does in bridge mode.
            published = str(mapping["hostPort"]) if mapping.get("hostPort") else ""
        else:
            published = target
        specs.append(f"{_PUBLISH_ADDRESS}:{published}:{target}/{protocol}")
        extras = sorted(set(mapping) & {"name", "appProtocol"})
        if extras:
            task.warn(
                container,
                f"portMappings[{target}].{'/'.join(extras)}",
                "Service Connect metadata; not used locally",
            )
    return specs


# --- one container -> one service ---------------------------------------------------------------


def _service(task: _Task, container: dict[str, Any]) -> Block:
    rest = dict(container)  # every handler pops what it maps; what is left is reported
    name: str = rest.pop("name")
    home = container_home(container.get("user"))
    service = Block()
    if rest.pop("essential", True):
        service.comment(
            "essential: ECS stops the whole task when it stops; compose keeps the others running"
        )
    else:
        service.comment("not essential: the task keeps running when it exits")
    service.set("image", rest.pop("image"))
    if task.platform:
        service.set("platform", task.platform)
    _process(rest, service)
    _environment(task, name, rest, service, home)
    _networking(task, name, rest, service)
    _shared_namespaces(task, service)
    _dependencies(task, name, rest, service)
    _healthcheck(task, name, rest, service)
    _storage(task, name, rest, service, home)
    memory = _resources(task, name, rest, service)
    _linux_parameters(task, name, rest, service, memory)
    _security(task, name, rest, service)
    _lifecycle(task, name, rest, service)
    _logging(name, rest, service)
    for key, value in rest.items():
        if value not in ([], {}, None, "", False):
            task.warn(
                name, key, _CONTAINER_NOT_MAPPED.get(key, "unknown container field; not mapped")
            )
    return service


def _process(rest: dict[str, Any], service: Block) -> None:
    for ecs_key, compose_key in (("entryPoint", "entrypoint"), ("command", "command")):
        value = rest.pop(ecs_key, None)
        if value:
            service.set(compose_key, [str(v) for v in value])
    for ecs_key, compose_key in (("workingDirectory", "working_dir"), ("user", "user")):
        value = rest.pop(ecs_key, None)
        if value:
            service.set(compose_key, str(value))
    for ecs_key, compose_key in (("interactive", "stdin_open"), ("pseudoTerminal", "tty")):
        if rest.pop(ecs_key, False):
            service.set(compose_key, True)


def _environment(task: _Task, name: str, rest: dict[str, Any], service: Block, home: str) -> None:
    environment = Block()
    for variable in rest.pop("environment", []):
        environment.put(variable["name"], _env_value(variable.get("value", "")))
    for secret in rest.pop("secrets", []):
        env_name = secret["name"]
        if env_name in environment:
            task.warn(name, f"secrets[{env_name}]", "also set in environment; the secret wins")
        variable = task.secret_variable(name, env_name, str(secret["valueFrom"]))
        environment.put(env_name, Ref(f"${{{variable}}}"))
    if task.aws:
        for key, value in _aws_environment(task.aws, home).items():
            if key not in environment:
                environment.put(key, value)
    env_files = []
    for env_file in rest.pop("environmentFiles", []):
        value = str(env_file.get("value", ""))
        if value.startswith("arn:"):
            task.warn(
                name,
                "environmentFiles",
                f"{value} is not fetched; download it ({_s3_url(value)}) and list it under "
                "env_file",
            )
        elif value:
            env_files.append(value)
    if env_files:
        # ECS gives `environment` precedence over environment files, and so does compose.
        service.set("env_file", env_files)
    if environment.entries:
        service.set("environment", environment)


def _networking(task: _Task, name: str, rest: dict[str, Any], service: Block) -> None:
    mappings = rest.pop("portMappings", [])
    name_settings = {
        "hostname": rest.pop("hostname", None),
        "dnsServers": rest.pop("dnsServers", []),
        "dnsSearchDomains": rest.pop("dnsSearchDomains", []),
        "extraHosts": rest.pop("extraHosts", []),
        "links": rest.pop("links", []),
        "disableNetworking": rest.pop("disableNetworking", False),
    }
    if task.network_mode == "awsvpc":
        if task.holder:
            service.set("network_mode", f"service:{task.holder}")
        elif mappings:
            service.comment(_PUBLISH_NOTE)
            service.set("ports", _task_ports(task))
        for key, value in name_settings.items():
            if value:
                # AWS refuses these under awsvpc, and Docker refuses them on a container that
                # joins another's network namespace.
                task.warn(name, key, "not supported under awsvpc networking; not mapped")
        return
    if task.network_mode in ("host", "none") or name_settings["disableNetworking"]:
        mode = "none" if name_settings["disableNetworking"] else task.network_mode
        service.set("network_mode", mode)
        if mappings and mode == "host":
            bound = ", ".join(s.rsplit(":", 1)[1] for s in _port_specs(task, name, mappings))
            service.comment(f"host networking: it binds {bound} on the Docker host itself")
        elif mappings:
            task.warn(name, "portMappings", "no ports under networkMode none; not mapped")
    else:
        ports = _port_specs(task, name, mappings)
        if ports:
            if any("::" in p for p in ports):
                service.comment(
                    "no hostPort: Docker picks a free one, as ECS does; `docker compose port` "
                    "shows it"
                )
            service.set("ports", ports)
    if name_settings["hostname"]:
        service.set("hostname", str(name_settings["hostname"]))
    if name_settings["dnsServers"]:
        service.set("dns", [str(s) for s in name_settings["dnsServers"]])
    if name_settings["dnsSearchDomains"]:
        service.set("dns_search", [str(s) for s in name_settings["dnsSearchDomains"]])
    if name_settings["extraHosts"]:
        service.set(
            "extra_hosts",
            [f"{h['hostname']}:{h['ipAddress']}" for h in name_settings["extraHosts"]],
        )
    if name_settings["links"]:
        service.set("links", [str(link) for link in name_settings["links"]])


def _shared_namespaces(task: _Task, service: Block) -> None:
    pid_mode, ipc_mode = task.taskdef.get("pidMode"), task.taskdef.get("ipcMode")
    if pid_mode == "host":
        service.set("pid", "host")
    elif pid_mode == "task" and task.holder:
        service.set("pid", f"service:{task.holder}")
    if ipc_mode in ("host", "none"):
        service.set("ipc", ipc_mode)
    elif ipc_mode == "task" and task.holder:
        service.set("ipc", f"service:{task.holder}")


def _dependencies(task: _Task, name: str, rest: dict[str, Any], service: Block) -> None:
    depends_on = Block()
    if task.holder:
        depends_on.set(task.holder, {"condition": "service_started"})
    for dependency in rest.pop("dependsOn", []):
        target, condition = dependency["containerName"], dependency["condition"]
        if target in depends_on:
            task.warn(
                name,
                f"dependsOn[{target}]",
                f"listed twice; keeping the first, dropping {condition}",
            )
            continue
        if condition == "COMPLETE":
            depends_on.comment(
                f"ECS COMPLETE (exited, any code) is approximated: if {target} exits non-zero,\n"
                f"compose does not start {name}"
            )
            task.warn(
                name,
                f"dependsOn[{target}]",
                "COMPLETE approximated as service_completed_successfully (compose has no "
                "'exited with any code')",
            )
        depends_on.set(target, {"condition": _CONDITIONS[condition]})
    if depends_on.entries:
        service.set("depends_on", depends_on)


def _healthcheck(task: _Task, name: str, rest: dict[str, Any], service: Block) -> None:
    check = dict(rest.pop("healthCheck", None) or {})
    if not check:
        return
    command = [str(part) for part in check.pop("command", [])]
    if not command or command[0] not in ("CMD", "CMD-SHELL", "NONE"):
        task.warn(name, "healthCheck.command", "does not start with CMD or CMD-SHELL; CMD assumed")
        command = ["CMD", *command]
    health = Block()
    health.set("test", command)
    for ecs_key, compose_key in (
        ("interval", "interval"),
        ("timeout", "timeout"),
        ("retries", "retries"),
    ):
        value = check.pop(ecs_key, _ECS_HEALTHCHECK_DEFAULTS[ecs_key])
        health.set(compose_key, int(value) if ecs_key == "retries" else _seconds(value))
    if "startPeriod" in check:
        health.set("start_period", _seconds(check.pop("startPeriod")))
    for key in check:
        task.warn(name, f"healthCheck.{key}", "unknown health check field; not mapped")
    service.set("healthcheck", health)


def _storage(task: _Task, name: str, rest: dict[str, Any], service: Block, home: str) -> None:
    mounts: list[dict[str, Any]] = []
    for mount in rest.pop("mountPoints", []):
        if not mount.get("containerPath"):
            task.warn(
                name,
                "mountPoints",
                f"{mount.get('sourceVolume')!r} has no containerPath; not mapped",
            )
            continue
        kind, source = task.volume_for(mount["sourceVolume"], name)
        entry: dict[str, Any] = {"type": kind, "source": source, "target": mount["containerPath"]}
        if mount.get("readOnly"):
            entry["read_only"] = True
        mounts.append(entry)
    if task.aws:
        service.comment(
            f"--aws-credentials: your ~/.aws, read-only, stands in for the task role at {home}"
        )
        mounts.append({"type": "bind", "source": "~/.aws", "target": home, "read_only": True})
    if mounts:
        service.set("volumes", mounts)
    volumes_from = [
        f"{v['sourceContainer']}{':ro' if v.get('readOnly') else ''}"
        for v in rest.pop("volumesFrom", [])
    ]
    if volumes_from:
        service.set("volumes_from", volumes_from)


def _resources(task: _Task, name: str, rest: dict[str, Any], service: Block) -> int | None:
    """Map cpu and memory; return the container's effective memory limit in MiB."""
    cpu = _cpu_units(rest.pop("cpu", None))
    memory = _memory_mib(rest.pop("memory", None))
    reservation = _memory_mib(rest.pop("memoryReservation", None))
    if memory is None and task.task_memory:
        memory = task.task_memory  # a container without a limit may use the whole task's
    if cpu:
        # ECS passes a container's cpu to Docker as CpuShares: a relative weight, not a cap.
        service.set("cpu_shares", max(cpu, 2))
    if task.task_cpu:
        # Fargate caps the task as a whole; compose can only cap each container, so each gets
        # the task's cap (exact for one container, generous for several).
        service.set("cpus", round(task.task_cpu / 1024, 4))
    if memory:
        service.set("mem_limit", f"{memory}m")
    if reservation:
        service.set("mem_reservation", f"{reservation}m")
    return memory


def _linux_parameters(
    task: _Task, name: str, rest: dict[str, Any], service: Block, memory: int | None
) -> None:
    params = dict(rest.pop("linuxParameters", None) or {})
    if params.pop("initProcessEnabled", False):
        service.set("init", True)
    capabilities = dict(params.pop("capabilities", None) or {})
    for ecs_key, compose_key in (("add", "cap_add"), ("drop", "cap_drop")):
        if capabilities.get(ecs_key):
            service.set(compose_key, [str(c) for c in capabilities.pop(ecs_key)])
        capabilities.pop(ecs_key, None)
    for key in capabilities:
        task.warn(name, f"linuxParameters.capabilities.{key}", "unknown field; not mapped")
    devices = params.pop("devices", [])
    if devices:
        service.set("devices", [_device(d) for d in devices])
    tmpfs = params.pop("tmpfs", [])
    if tmpfs:
        service.set("tmpfs", [_tmpfs(t) for t in tmpfs])
    if params.get("sharedMemorySize"):
        service.set("shm_size", f"{int(params['sharedMemorySize'])}m")
    params.pop("sharedMemorySize", None)
    if "maxSwap" in params:
        max_swap = int(params.pop("maxSwap"))
        if memory:
            # Docker's memswap_limit is memory plus swap; ECS's maxSwap is the swap alone.
            service.set("memswap_limit", f"{memory + max_swap}m")
        else:
            task.warn(
                name,
                "linuxParameters.maxSwap",
                "needs a memory limit to be expressed in compose; not mapped",
            )
    if "swappiness" in params:
        service.set("mem_swappiness", int(params.pop("swappiness")))
    for key in params:
        task.warn(name, f"linuxParameters.{key}", "unknown field; not mapped")


def _security(task: _Task, name: str, rest: dict[str, Any], service: Block) -> None:
    if rest.pop("privileged", False):
        service.set("privileged", True)
    if rest.pop("readonlyRootFilesystem", False):
        service.set("read_only", True)
    options = []
    for option in rest.pop("dockerSecurityOptions", []):
        if str(option).startswith("credentialspec:"):
            task.warn(
                name, "dockerSecurityOptions", f"{option} (gMSA) exists only on ECS; not mapped"
            )
        else:
            options.append(str(option))  # ECS passes these strings to Docker unchanged
    if options:
        service.set("security_opt", options)
    sysctls = {str(s["namespace"]): str(s["value"]) for s in rest.pop("systemControls", [])}
    if sysctls:
        service.set("sysctls", sysctls)
    ulimits = {
        str(u["name"]): {"soft": int(u["softLimit"]), "hard": int(u["hardLimit"])}
        for u in rest.pop("ulimits", [])
    }
    if ulimits:
        service.set("ulimits", ulimits)
    labels = {str(k): str(v) for k, v in (rest.pop("dockerLabels", None) or {}).items()}
    if labels:
        service.set("labels", labels)


def _lifecycle(task: _Task, name: str, rest: dict[str, Any], service: Block) -> None:
    if "stopTimeout" in rest:
        service.set("stop_grace_period", _seconds(rest.pop("stopTimeout")))
    else:
        service.set("stop_grace_period", _seconds(_ECS_STOP_TIMEOUT))
    if "startTimeout" in rest:
        task.warn(
            name,
            "startTimeout",
            "compose waits for dependencies without a time limit (ECS gives up after "
            f"{rest.pop('startTimeout')}s)",
        )
    policy = dict(rest.pop("restartPolicy", None) or {})
    if policy.pop("enabled", False):
        ignored = sorted(int(c) for c in policy.pop("ignoredExitCodes", []))
        # ECS restarts on every exit code except the ignored ones.
        service.set("restart", "unless-stopped" if not ignored else "on-failure")
        if ignored and ignored != [0]:
            task.warn(
                name,
                "restartPolicy.ignoredExitCodes",
                f"compose can only ignore exit code 0, not {ignored}",
            )
        if "restartAttemptPeriod" in policy:
            task.warn(
                name,
                "restartPolicy.restartAttemptPeriod",
                "Docker restarts with its own back-off; the "
                f"{policy.pop('restartAttemptPeriod')}s period is not mapped",
            )
    # Without a restartPolicy ECS never restarts a container inside a task, and neither does
    # compose's default (restart: "no"): containers that are expected to exit stay exited.


def _logging(name: str, rest: dict[str, Any], service: Block) -> None:
    config = rest.pop("logConfiguration", None)
    if not config:
        return
    options = config.get("options") or {}
    detail = ", ".join(
        f"{k.removeprefix('awslogs-')} {v}" for k, v in options.items() if k.startswith("awslogs-")
    )
    driver = config.get("logDriver", "?") + (f" ({detail})" if detail else "")
    service.comment(
        f"logging: {driver} replaced by compose's default driver; see `docker compose logs {name}`"
    )


# --- small conversions --------------------------------------------------------------------------


def container_home(user: Any) -> str:
    """Where ``~/.aws`` is mounted: root's home, or a neutral path for another user.

    A non-root user cannot traverse /root (mode 700 in most images), and we do not know its
    home; AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE point the SDKs there instead.
    """
    name = str(user or "root").split(":", 1)[0]
    return "/root/.aws" if name in ("root", "0") else "/aws-config"


def _aws_environment(aws: _AwsAccess, target: str) -> dict[str, str]:
    env: dict[str, str] = {"AWS_PROFILE": Ref(f"${{AWS_PROFILE:-{aws.profile}}}")}
    if aws.region:
        env["AWS_REGION"] = Ref(f"${{AWS_REGION:-{aws.region}}}")
        env["AWS_DEFAULT_REGION"] = Ref(f"${{AWS_DEFAULT_REGION:-{aws.region}}}")
    if target != "/root/.aws":
        env["AWS_CONFIG_FILE"] = f"{target}/config"
        env["AWS_SHARED_CREDENTIALS_FILE"] = f"{target}/credentials"
    return env


_SAFE_DEFAULT = re.compile(r"[A-Za-z0-9_.@+-]+")
_REGION_IN_ARN = re.compile(
    r"arn:aws[a-z-]*:(?:secretsmanager|ssm|s3|logs):([a-z]{2}(?:-[a-z]+)+-\d):"
)
_ECR_IMAGE = re.compile(r"^(\d{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?)/")


def _infer_region(taskdef: Mapping[str, Any]) -> str | None:
    """The region the task names: its awslogs region, else one in a secret's ARN or ECR image."""
    containers = taskdef.get("containerDefinitions", [])
    for container in containers:
        options = (container.get("logConfiguration") or {}).get("options") or {}
        if options.get("awslogs-region"):
            return str(options["awslogs-region"])
    for container in containers:
        for secret in container.get("secrets", []):
            match = _REGION_IN_ARN.match(str(secret.get("valueFrom", "")))
            if match:
                return match.group(1)
        match = _ECR_IMAGE.match(str(container.get("image", "")))
        if match:
            return match.group(2)
    return None


def _cpu_units(value: Any) -> int | None:
    """ECS cpu: units (1024 = one vCPU) as a number or string, or "0.5 vCPU"."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(vcpu)?", text)
    if not match:
        return None
    number = float(match.group(1))
    return int(number * 1024) if match.group(2) else int(number)


def _memory_mib(value: Any) -> int | None:
    """ECS memory: MiB as a number or string, or "2 GB" (register-task-definition accepts both)."""
    if value is None or value == "":
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(gb|gib|mb|mib)?", str(value).strip().lower())
    if not match:
        return None
    number = float(match.group(1))
    return int(number * 1024) if match.group(2) in ("gb", "gib") else int(number)


def _seconds(value: Any) -> str:
    return f"{int(value)}s"


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _device(device: Mapping[str, Any]) -> str:
    letters = {"read": "r", "write": "w", "mknod": "m"}
    permissions = "".join(letters.get(str(p), "") for p in device.get("permissions", [])) or "rwm"
    target = device.get("containerPath") or device["hostPath"]
    return f"{device['hostPath']}:{target}:{permissions}"


def _tmpfs(tmpfs: Mapping[str, Any]) -> str:
    options = [f"size={int(tmpfs['size'])}m", *(str(o) for o in tmpfs.get("mountOptions", []))]
    return f"{tmpfs['containerPath']}:{','.join(options)}"


def _s3_url(arn: str) -> str:
    path = arn.split(":::", 1)[1] if ":::" in arn else arn
    return f"aws s3 cp s3://{path} ."


def _unique_name(wanted: str, taken: set[str]) -> str:
    name, n = wanted, 2
    while name in taken:
        name, n = f"{wanted}-{n}", n + 1
    return name


# --- header and .env files ----------------------------------------------------------------------


def _header(task: _Task) -> list[str]:
    """The comment block atop the file: what the task is, and how running it here differs."""
    td = task.taskdef
    facts = [f"network mode {task.network_mode}"]
    if task.task_cpu:
        facts.append(f"cpu {task.task_cpu} ({task.task_cpu / 1024:g} vCPU)")
    if task.task_memory:
        facts.append(f"memory {task.task_memory} MiB")
    differences = [
        f"The containers share the network namespace of {task.holder}, as under awsvpc: "
        "localhost reaches them all."
        if task.holder
        else _MODE_NOTES.get(task.network_mode, ""),
        "ECS stops the whole task when an essential container stops; compose keeps the others "
        "running.",
        _limits_note(task),
        f"stop_grace_period defaults to {_ECS_STOP_TIMEOUT}s, ECS's stop timeout (Docker's is "
        "10s).",
        "Logs go to compose's default driver, not CloudWatch: docker compose logs SERVICE.",
    ]
    if td.get("taskRoleArn"):
        role = f"Task role {td['taskRoleArn']}:"
        differences.append(
            f"{role} your own AWS profile (~/.aws, read-only) stands in for it."
            if task.aws
            else f"{role} not available here; --aws-credentials gives the containers your own "
            "AWS profile."
        )
    if td.get("executionRoleArn"):
        differences.append("Execution role: images are pulled with your Docker login.")
    before = [
        f"aws ecr get-login-password --region {registry.split('.')[3]} | docker login "
        f"--username AWS --password-stdin {registry}"
        for registry in _ecr_registries(task.containers)
    ]
    if task.secrets:
        before.append("Copy .env.example to .env and fill in the secrets (${NAME} references).")
    lines = _wrap(
        f"Generated by ecs_cicd `local compose` from {task.source}; regenerate rather than edit it."
    )
    lines += _wrap(
        f"Task {td.get('family', '(no family)')}: {', '.join(facts)}. Start it with: "
        "docker compose up"
    )
    lines += ["# How this differs from the task on ECS:"]
    lines += [line for item in differences if item for line in _wrap(item, bullet=True)]
    if before:
        lines += ["# Before the first run:"]
        lines += [line for item in before for line in _wrap(item, bullet=True)]
    return lines


def _ecr_registries(containers: Iterable[Mapping[str, Any]]) -> list[str]:
    matches = (_ECR_IMAGE.match(str(c.get("image", ""))) for c in containers)
    return sorted({m.group(1) for m in matches if m})


def _limits_note(task: _Task) -> str:
    caps = []
    if task.task_cpu:
        caps.append(f"cpus {round(task.task_cpu / 1024, 4)}")
    if task.task_memory:
        caps.append(f"mem_limit {task.task_memory}m unless the container sets its own memory")
    text = "cpu_shares is a container's cpu units, a relative weight as on ECS."
    if caps:
        text = (
            f"Each service gets the task's limits ({'; '.join(caps)}): Fargate caps the whole "
            f"task, compose can only cap each container. {text}"
        )
    return text


def _wrap(text: str, *, bullet: bool = False) -> list[str]:
    return [
        f"# {line}"
        for line in textwrap.wrap(
            _one_line(text),
            _WIDTH - 2,
            initial_indent="- " if bullet else "",
            subsequent_indent="  " if bullet else "",
            break_on_hyphens=False,
            break_long_words=False,
        )
    ]


_MODE_NOTES = {
    "bridge": "bridge networking, as on EC2: each container has its own network and reaches the "
    "others by name.",
    "host": "host networking, as on EC2: the containers use the Docker host's network directly.",
    "none": "networkMode none: the containers have no network.",
}


def _env_example(task: _Task) -> str:
    if not task.secrets:
        return ""
    lines = [
        *_wrap(
            f"Secrets of the ECS task in {task.source}, which the compose file references as "
            "${NAME}. Copy this file to .env beside the compose file and fill in the values; a "
            "variable set in your shell wins over .env. Never commit .env."
        ),
        "",
    ]
    for secret in task.secrets:
        lines.append(_comment_line(f"{secret.container}: {secret.env_name} <- {secret.value_from}"))
        lines.append(f"{secret.variable}=")
    return "\n".join(lines) + "\n"


def _env_file(task: _Task, resolved: Mapping[str, str]) -> str | None:
    if not task.secrets:
        return None
    lines = [
        "# Secret values resolved from AWS by ecs_cicd local compose --resolve-secrets.",
        "# Never commit this file.",
        "",
    ]
    for secret in task.secrets:
        value = resolved.get(secret.value_from, resolved.get(secret.variable))
        lines.append(_comment_line(f"{secret.container}: {secret.env_name} <- {secret.value_from}"))
        if value is None:
            task.warn(
                secret.container, f"secrets[{secret.env_name}]", "not resolved; left empty in .env"
            )
            value = ""
        text, safe = _dotenv_quote(value)
        if not safe:
            task.warn(
                secret.container,
                f"secrets[{secret.env_name}]",
                "its value mixes quotes and $ in a way some compose versions expand; check .env",
            )
        lines.append(f"{secret.variable}={text}")
    return "\n".join(lines) + "\n"


def _dotenv_quote(value: str) -> tuple[str, bool]:
    """A .env value compose v1 (python-dotenv) and v2 (compose-go) read back unchanged.

    Returns (text, safe). Single quotes keep ``$`` literal in v2; v1 still expands ``${...}``
    inside them, and a value with a single quote needs double quotes, where v2 expands ``$``:
    those come back with safe=False so the caller can warn (without printing the value).
    """
    if re.fullmatch(r"[A-Za-z0-9_./:@%+=,-]*", value):
        return value, True
    if "'" not in value:
        return f"'{value}'", "${" not in value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"', "$" not in value


def _comment_line(text: str) -> str:
    return f"# {_one_line(text)}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# --- a small YAML writer that keeps comments ----------------------------------------------------


class Ref(str):
    """A string compose must interpolate (``${NAME}``); every other string has ``$`` escaped."""

    __slots__ = ()


@dataclass(frozen=True)
class Comment:
    """A comment line (or lines) inside a mapping."""

    text: str


class Block:
    """An ordered YAML mapping that can carry comment lines between its keys."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any] | Comment] = []

    def set(self, key: str, value: Any) -> None:
        if key in self:
            raise ValueError(f"duplicate key {key!r}")
        self.entries.append((key, value))

    def put(self, key: str, value: Any) -> None:
        """Set or replace (environment semantics: the last definition wins)."""
        self.entries = [e for e in self.entries if isinstance(e, Comment) or e[0] != key]
        self.entries.append((key, value))

    def comment(self, text: str) -> None:
        self.entries.append(Comment(text))

    def keys(self) -> list[str]:
        return [e[0] for e in self.entries if not isinstance(e, Comment)]

    def __contains__(self, key: object) -> bool:
        return key in self.keys()


def render_yaml(document: Block) -> str:
    """Render a Block as YAML text (block style, two-space indent, every string double-quoted)."""
    return "\n".join(_mapping_lines(document, 0)) + "\n"


_WIDTH = 100  # comment lines wrap to this width
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
# Words YAML 1.1 (PyYAML, compose v1) reads as booleans or null; such keys must be quoted.
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _mapping_lines(node: Block | Mapping[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    items = node.entries if isinstance(node, Block) else list(node.items())
    lines: list[str] = []
    for item in items:
        if isinstance(item, Comment):
            width = max(40, _WIDTH - indent - 2)
            for line in item.text.splitlines():
                parts = textwrap.wrap(line, width, break_on_hyphens=False, break_long_words=False)
                lines.extend(f"{pad}# {part}" for part in parts or [""])
            continue
        key, value = item
        head = f"{pad}{_key(key)}:"
        if _is_mapping(value) and _has_entries(value):
            lines.append(head)
            lines.extend(_mapping_lines(value, indent + 2))
        elif isinstance(value, list) and value:
            lines.append(head)
            lines.extend(_sequence_lines(value, indent + 2))
        else:
            lines.append(f"{head} {_scalar(value)}")
    return lines


def _sequence_lines(items: list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for item in items:
        if _is_mapping(item) and _has_entries(item):
            sub = _mapping_lines(item, indent + 2)
            if sub[0].lstrip().startswith("#"):
                raise ValueError("a mapping in a sequence cannot start with a comment")
            lines.append(f"{pad}- {sub[0][indent + 2 :]}")
            lines.extend(sub[1:])
        elif isinstance(item, list):
            raise ValueError("nested sequences are not written")
        else:
            lines.append(f"{pad}- {_scalar(item)}")
    return lines


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Block | dict)


def _has_entries(value: Block | Mapping[str, Any]) -> bool:
    return bool(value.keys() if isinstance(value, Block) else value)


def _key(key: str) -> str:
    if _PLAIN_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS:
        return key
    return _quote(key, escape_dollar=False)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if _is_mapping(value):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _quote(str(value), escape_dollar=not isinstance(value, Ref))


def _quote(text: str, *, escape_dollar: bool) -> str:
    if escape_dollar:
        text = text.replace("$", "$$")
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif (
            code < 0x20
            or 0x7F <= code <= 0x9F
            or char in "\u2028\u2029\ufeff"
            or 0xD800 <= code <= 0xDFFF
        ):
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
