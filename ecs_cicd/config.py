"""The config file: pydantic models, YAML loading, ${VAR} interpolation and cross-field rules.

Everything here runs before any AWS call. A bad config raises ConfigError naming the field and,
where one exists, the fix.
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ecs_cicd import limits
from ecs_cicd.errors import ConfigError, ConfigErrors, raise_all
from ecs_cicd.rules import task_role_statement_problems
from ecs_cicd.taskdef_file import load_task_definition_file, validate_container_definitions

# Fargate task cpu -> allowed memory (MiB). FORMATS.md "Task definition rules".
FARGATE_SIZES: dict[int, list[int]] = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4097, 1024)),
    1024: list(range(2048, 8193, 1024)),
    2048: list(range(4096, 16385, 1024)),
    4096: list(range(8192, 30721, 1024)),
    8192: list(range(16384, 61441, 4096)),
    16384: list(range(32768, 122881, 8192)),
}

NAME_RE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


class Model(BaseModel):
    # A string right after a field is its description (the JSON Schema's, the README's config
    # reference: `python -m ecs_cicd schema`).
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class HealthCheckTG(Model):
    """Target group health check. Defaults are tuned for fast deploys, not AWS's."""

    path: str = "/health"
    """Path the load balancer requests on each target; begins with `/`."""
    interval: int = Field(10, ge=5, le=300)
    """Seconds between health checks (5-300)."""
    timeout: int = Field(5, ge=2, le=120)
    """Seconds a health check may take (2-120); below `interval`."""
    healthy_threshold: int = Field(2, ge=2, le=10)
    """Consecutive successes before a target is healthy (2-10)."""
    unhealthy_threshold: int = Field(3, ge=2, le=10)
    """Consecutive failures before a target is unhealthy (2-10)."""
    matcher: str = "200-399"
    """HTTP codes that count as healthy: `200`, `200,202` or `200-299` (200-499)."""

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        # ELBv2 CreateTargetGroup HealthCheckPath: "must begin with a '/'" (API reference).
        if not v.startswith("/"):
            raise ValueError(f"{v!r} must begin with '/', e.g. /{v}")
        return v

    @field_validator("matcher")
    @classmethod
    def _matcher(cls, v: str) -> str:
        problem = limits.matcher_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> HealthCheckTG:
        if self.timeout >= self.interval:
            raise ValueError("timeout must be smaller than interval (AWS refuses otherwise)")
        return self


class Network(Model):
    vpc_cidr: str = "10.0.0.0/16"
    """IPv4 block of the VPC `up` creates, /16 to /28."""
    public_subnet_cidrs: list[str] | None = None
    """Blocks of the public subnets, one per zone, inside `vpc_cidr` (at least two); default: the VPC's first /24s (or smaller)."""
    availability_zones: list[str] | None = None
    """Zones of `region` for the subnets (at least two); default: the region's first two."""
    vpc_id: str | None = None
    """Use this existing VPC instead of creating one (referenced, never changed or deleted); needs `subnet_ids`."""
    subnet_ids: list[str] | None = None
    """With `vpc_id`: existing subnets for the load balancer and tasks, in at least two zones."""
    # For an existing VPC: the AZ of each subnet id, so the two-AZ rule is checked offline.
    subnet_availability_zones: list[str] | None = None
    """With `subnet_ids`: the zone of each subnet, so the two-zone rule is checked offline."""

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        _check_cidr(v)
        _check_block_size(v)
        return v

    @field_validator("public_subnet_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str] | None) -> list[str] | None:
        for c in v or []:
            _check_cidr(c)
            _check_block_size(c)
        return v

    @model_validator(mode="after")
    def _rules(self) -> Network:
        if self.vpc_id or self.subnet_ids:
            if not (self.vpc_id and self.subnet_ids):
                raise ValueError("an existing network needs both vpc_id and subnet_ids")
            if len(self.subnet_ids) < 2:
                raise ValueError(
                    "subnet_ids: an ALB needs subnets in at least two availability zones"
                )
            azs = self.subnet_availability_zones
            if azs is not None and len(set(azs)) < 2:
                raise ValueError(
                    "subnet_availability_zones: the subnets are in fewer than two "
                    "availability zones; an ALB needs two"
                )
            return self
        vpc = ipaddress.ip_network(self.vpc_cidr)
        cidrs = self.public_subnet_cidrs
        if cidrs is not None:
            if len(cidrs) < 2:
                raise ValueError(
                    "public_subnet_cidrs: give at least two (one per availability zone)"
                )
            for c in cidrs:
                net = ipaddress.ip_network(c)
                if not net.subnet_of(vpc):  # type: ignore[arg-type]
                    raise ValueError(f"public_subnet_cidrs: {c} is not inside vpc_cidr {vpc}")
        if self.availability_zones is not None and len(set(self.availability_zones)) < 2:
            raise ValueError("availability_zones: give at least two distinct zones")
        return self

    @property
    def existing(self) -> bool:
        return self.vpc_id is not None

    def subnet_cidrs(self, count: int) -> list[str]:
        if self.public_subnet_cidrs:
            return list(self.public_subnet_cidrs)
        vpc = ipaddress.ip_network(self.vpc_cidr)
        new_prefix = min(vpc.prefixlen + 8, 28)
        return [
            str(s) for _, s in zip(range(count), vpc.subnets(new_prefix=new_prefix), strict=False)
        ]


def _check_block_size(v: str) -> None:
    # Amazon VPC user guide, "VPC CIDR blocks" / "Subnet CIDR blocks": "The allowed block size
    # is between a /16 netmask (65,536 IP addresses) and /28 netmask (16 IP addresses)."
    prefix = ipaddress.ip_network(v).prefixlen
    if not 16 <= prefix <= 28:
        raise ValueError(f"{v!r}: AWS allows VPC and subnet blocks from /16 to /28")


def _check_cidr(v: str) -> None:
    try:
        net = ipaddress.ip_network(v, strict=True)
    except ValueError as e:
        raise ValueError(f"{v!r} is not a valid IPv4 CIDR ({e})") from None
    if net.version != 4:
        raise ValueError(f"{v!r}: only IPv4 CIDRs are supported")


class LoadBalancer(Model):
    listener_port: int = Field(80, ge=1, le=65535)
    """Port of the HTTP listener (with `certificate_arn`, it redirects to HTTPS)."""
    ingress_cidrs: list[str] = ["0.0.0.0/0"]
    """IPv4 blocks allowed to reach the listener port(s)."""
    # ELBv2 Certificate (API reference): an ACM certificate or an IAM server certificate.
    certificate_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:(acm|iam):")
    """ACM or IAM server certificate ARN: adds an HTTPS listener on `https_port`."""
    https_port: int = Field(443, ge=1, le=65535)
    """Port of the HTTPS listener (with `certificate_arn`); differs from `listener_port`."""
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    """Security policy of the HTTPS listener."""
    idle_timeout: int = Field(60, ge=1, le=4000)
    """Seconds the load balancer keeps an idle connection open (1-4000)."""
    health_check: HealthCheckTG = HealthCheckTG()
    """How the target group checks the endpoint container."""
    deregistration_delay: int = Field(30, ge=0, le=3600)
    """Seconds a target drains before it is removed (AWS's default is 300)."""

    @field_validator("ingress_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            _check_cidr(c)
        return v

    @model_validator(mode="after")
    def _distinct_ports(self) -> LoadBalancer:
        # ELBv2 CreateListener: one listener per port ("DuplicateListener").
        if self.certificate_arn and self.https_port == self.listener_port:
            raise ValueError(
                f"https_port and listener_port are both {self.https_port}; a load balancer has "
                "one listener per port (the HTTP one redirects to HTTPS)"
            )
        return self

    def ports(self) -> list[int]:
        return [self.listener_port] + ([self.https_port] if self.certificate_arn else [])


class ContainerHealthCheck(Model):
    command: list[str]
    """`[\"CMD\", ...]` or `[\"CMD-SHELL\", \"...\"]`, run inside the container."""
    interval: int = Field(30, ge=5, le=300)
    """Seconds between checks (5-300)."""
    timeout: int = Field(5, ge=2, le=60)
    """Seconds a check may take (2-60)."""
    retries: int = Field(3, ge=1, le=10)
    """Failures in a row before the container is unhealthy (1-10)."""
    start_period: int = Field(0, ge=0, le=300)
    """Seconds after start during which failures do not count (0-300)."""

    @field_validator("command")
    @classmethod
    def _form(cls, v: list[str]) -> list[str]:
        if not v or v[0] not in ("CMD", "CMD-SHELL"):
            raise ValueError(
                'must start with "CMD" or "CMD-SHELL", e.g. ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]'
            )
        return v


class DependsOn(Model):
    container: str
    """The container this one waits for."""
    condition: Literal["START", "COMPLETE", "SUCCESS", "HEALTHY"] = "START"
    """What it waits for: START, HEALTHY (needs its health check), COMPLETE (exited) or SUCCESS (exited 0)."""


class PortMapping(Model):
    container_port: int = Field(ge=1, le=65535)
    """Port the container listens on."""
    host_port: int | None = None
    """Must equal `container_port` on Fargate (awsvpc); may be left out."""
    protocol: Literal["tcp", "udp"] = "tcp"
    """`tcp` or `udp`."""


class Build(Model):
    """How the pipeline builds this container's image (its ECR repository is created by `up`)."""

    context: str = "."
    """Docker build context, relative to the repository root."""
    dockerfile: str = "Dockerfile"
    """Dockerfile path, relative to the repository root."""


class Container(Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
    """Container name (letters, digits, `_`, `-`); a built container's name, lowercased, is also its ECR repository's."""
    image: str = Field(
        description="Initial image (the pipeline replaces built ones): must exist and pass the health checks, so the service is healthy before the first pipeline run."
    )
    build: Build | None = None
    """The pipeline builds this container's image (an ECR repository is created for it)."""
    essential: bool = True
    """The task stops when this container stops; at least one container is essential."""
    port_mappings: list[PortMapping] = []
    """Ports the container listens on."""
    depends_on: list[DependsOn] = []
    """Containers to wait for before this one starts."""
    health_check: ContainerHealthCheck | None = None
    """Docker health check of the container (what HEALTHY waits for)."""
    environment: dict[str, str] = {}
    """Environment variables (NAME: value), shown in plans; put secrets in `secrets`."""
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="NAME: the SSM parameter or Secrets Manager ARN ECS injects the variable from when the task starts.",
    )
    command: list[str] | None = None
    """Overrides the image's CMD."""
    entry_point: list[str] | None = None
    """Overrides the image's ENTRYPOINT."""
    working_directory: str | None = None
    """Working directory inside the container."""
    user: str | None = None
    """User (and group) the container runs as."""
    cpu: int | None = Field(None, ge=0)
    """CPU units reserved for the container; the containers' sum may not exceed `task.cpu`."""
    memory: int | None = Field(None, ge=6)
    """Hard memory limit in MiB; the containers' sum may not exceed `task.memory`."""
    memory_reservation: int | None = Field(None, ge=6)
    """Soft memory limit in MiB (counted when `memory` is not set)."""
    stop_timeout: int | None = Field(None, ge=2, le=120)
    """Seconds to wait after SIGTERM before the container is killed (2-120)."""
    start_timeout: int | None = Field(None, ge=2, le=600)
    """Seconds to wait for its dependencies before giving up (2-600)."""
    readonly_root_filesystem: bool | None = None
    """Mount the root filesystem read-only."""
    log_stream_prefix: str | None = None
    """awslogs stream prefix in the app log group (default: the container's name)."""
    stand_in: bool = Field(
        False,
        description="until the pipeline deploys a build, the initial (official python) image "
        "serves 200 on every path of the first port; `command` is the built image's program "
        "(README, The first deploy)",
    )
    # Set when the container comes from task.definition_file: the original definition, passed
    # through to RegisterTaskDefinition so fields the config does not model survive.
    ecs_definition: dict[str, Any] | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _stand_in(self) -> Container:
        if self.stand_in:
            from ecs_cicd.standin import problem

            ports = [p.container_port for p in self.port_mappings]
            found = problem(self.command, self.entry_point, ports)
            if found:
                raise ValueError(found)
        return self

    @field_validator("secrets")
    @classmethod
    def _secret_arns(cls, v: dict[str, str]) -> dict[str, str]:
        for name, arn in v.items():
            if not (arn.startswith("arn:") and (":ssm:" in arn or ":secretsmanager:" in arn)):
                raise ValueError(
                    f"{name}: {arn!r} is not an SSM parameter or Secrets Manager ARN "
                    "(arn:aws:ssm:REGION:ACCOUNT:parameter/NAME or arn:aws:secretsmanager:...)"
                )
        return v

    def to_ecs(self) -> dict[str, Any]:
        """This container in RegisterTaskDefinition shape, without its log configuration: the
        shape the task definition rules (taskdef_file) check and `up` registers."""
        if self.ecs_definition is not None:
            return dict(self.ecs_definition)
        d: dict[str, Any] = {"name": self.name, "image": self.image, "essential": self.essential}
        if self.port_mappings:
            d["portMappings"] = [
                {
                    "containerPort": p.container_port,
                    "hostPort": p.container_port if p.host_port is None else p.host_port,
                    "protocol": p.protocol,
                }
                for p in self.port_mappings
            ]
        if self.depends_on:
            d["dependsOn"] = [
                {"containerName": x.container, "condition": x.condition} for x in self.depends_on
            ]
        if self.health_check:
            h = self.health_check
            d["healthCheck"] = {
                "command": list(h.command),
                "interval": h.interval,
                "timeout": h.timeout,
                "retries": h.retries,
                "startPeriod": h.start_period,
            }
        if self.environment:
            d["environment"] = [
                {"name": k, "value": v} for k, v in sorted(self.environment.items())
            ]
        if self.secrets:
            d["secrets"] = [{"name": k, "valueFrom": v} for k, v in sorted(self.secrets.items())]
        entry_point = self.entry_point
        if self.stand_in and self.port_mappings:
            from ecs_cicd.standin import entry_point as stand_in_entry_point

            entry_point = stand_in_entry_point(self.port_mappings[0].container_port)
        optional = {
            "command": self.command,
            "entryPoint": entry_point,
            "workingDirectory": self.working_directory,
            "user": self.user,
            "cpu": self.cpu,
            "memory": self.memory,
            "memoryReservation": self.memory_reservation,
            "stopTimeout": self.stop_timeout,
            "startTimeout": self.start_timeout,
            "readonlyRootFilesystem": self.readonly_root_filesystem,
        }
        d.update({k: v for k, v in optional.items() if v is not None})
        return d


class Endpoint(Model):
    """The container (and port) the load balancer sends traffic to."""

    container: str
    """Name of the container the load balancer targets."""
    port: int = Field(ge=1, le=65535)
    """Its port (one of its `port_mappings`)."""


class Task(Model):
    cpu: int = 256
    """Task CPU units: 256, 512, 1024, 2048, 4096, 8192 or 16384."""
    memory: int = 512
    """Task memory in MiB; a valid Fargate pair with `cpu` (256: 512-2048)."""
    endpoint: Endpoint
    """The container and port the load balancer sends traffic to."""
    containers: list[Container] | None = None
    """The task's containers (or give `definition_file`)."""
    definition_file: str | None = Field(
        None,
        description="Instead of `containers`: a JSON file (relative to the config) holding a bare array of container definitions or a full task definition.",
    )
    builds: dict[str, Build] = Field(
        default_factory=dict,
        description="With `definition_file`: container name -> how the pipeline builds it.",
    )
    task_role_statements: list[dict[str, Any]] = []
    """Extra IAM statements (`Effect`, `Action`, `Resource`, optional `Sid`) for the app's task role; no `*` or `service:*` Allow."""
    cpu_architecture: Literal["X86_64", "ARM64"] = "X86_64"
    """`X86_64` or `ARM64` (Fargate Spot runs X86_64 only)."""

    @model_validator(mode="after")
    def _size(self) -> Task:
        allowed = FARGATE_SIZES.get(self.cpu)
        if allowed is None:
            raise ValueError(
                f"cpu {self.cpu} is not a Fargate size; use one of {sorted(FARGATE_SIZES)}"
            )
        if self.memory not in allowed:
            raise ValueError(
                f"memory {self.memory} is not valid with cpu {self.cpu}; "
                f"Fargate allows {allowed[0]}-{allowed[-1]} ({', '.join(map(str, allowed[:4]))}...)"
            )
        if (self.containers is None) == (self.definition_file is None):
            raise ValueError("give exactly one of task.containers or task.definition_file")
        if self.containers is not None and self.builds:
            raise ValueError("task.builds is for definition_file; give each container a build")
        return self


class Service(Model):
    desired_count: int = Field(1, ge=0, le=1000)
    """Tasks to keep running (0-1000)."""
    health_check_grace_period: int = Field(60, ge=0, le=2147483647)
    """Seconds ECS ignores load balancer health checks after a task starts."""
    min_healthy_percent: int = Field(100, ge=0, le=100)
    """Lower bound of running tasks during a rolling deployment, in % of `desired_count`."""
    max_percent: int = Field(200, ge=100, le=200)
    """Upper bound of running tasks during a rolling deployment, in % of `desired_count` (100-200)."""
    circuit_breaker: bool = True
    """Stop a failing rolling deployment and roll back to the last working one."""
    enable_execute_command: bool = False
    """Allow `aws ecs execute-command` into the tasks (ECS Exec)."""
    assign_public_ip: bool = True
    """Give tasks public IPs (needed in public subnets to pull images without a NAT)."""
    capacity_provider: Literal["FARGATE", "FARGATE_SPOT"] = "FARGATE"
    """`FARGATE` or `FARGATE_SPOT` (cheaper, may be interrupted)."""
    rollback_on_alarms: bool = Field(
        False,
        description="CloudWatch alarms on the target group's 5xx count and unhealthy hosts, "
        "attached to the service's deployments: a deployment that sets one off is rolled back "
        "(rolling deploys only; about USD 0.10 per alarm-month)",
    )


class Autoscaling(Model):
    """Application Auto Scaling of the service's desired count (target tracking)."""

    min_count: int = Field(1, ge=0, le=1000, description="fewest tasks autoscaling keeps")
    max_count: int = Field(ge=1, le=1000, description="most tasks autoscaling starts")
    cpu_target: float | None = Field(
        None, gt=0, le=100, description="target average CPU utilization of the service (%)"
    )
    memory_target: float | None = Field(
        None, gt=0, le=100, description="target average memory utilization of the service (%)"
    )
    requests_per_target: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="target load balancer requests per task per minute (ALBRequestCountPerTarget)",
    )
    scale_in_cooldown: int = Field(
        300, ge=0, le=3600, description="seconds after a scale-in before the next one"
    )
    scale_out_cooldown: int = Field(
        60, ge=0, le=3600, description="seconds after a scale-out before the next one"
    )

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_count > self.max_count:
            raise ValueError(
                f"min_count {self.min_count} is more than max_count {self.max_count}; "
                "make min_count <= max_count"
            )
        if self.cpu_target is None and self.memory_target is None and not self.requests_per_target:
            raise ValueError(
                "no target to track: give cpu_target, memory_target and/or requests_per_target"
            )
        return self


class Cluster(Model):
    container_insights: bool = False
    """Turn on CloudWatch Container Insights for the cluster (billed)."""


class Ecr(Model):
    keep_images: int = Field(30, ge=1, le=1000)
    """ECR lifecycle policy: keep the newest N images per repository (1-1000)."""
    scan_on_push: bool = True
    """Scan each pushed image for vulnerabilities."""


class Logs(Model):
    retention_days: Literal[
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    ] = 30
    """Days CloudWatch keeps the app's and the build's logs (one of CloudWatch's values)."""


class GitHubSource(Model):
    type: Literal["github"] = "github"
    """A GitHub repository through CodePipeline's GitHub (OAuth token) source."""
    owner: str
    """GitHub user or organization."""
    repo: str
    """Repository name."""
    branch: str = "main"
    """Branch whose pushes run the pipeline."""
    token_env: str = "GITHUB_TOKEN"
    """Name of the environment variable holding the GitHub token (scopes: repo, admin:repo_hook); read only when `up` creates or changes the pipeline, never stored."""
    webhook: bool = True
    """Register a GitHub webhook so each push runs the pipeline (else CodePipeline polls)."""


class ConnectionSource(Model):
    type: Literal["codestar"] = "codestar"
    """A repository through a CodeStar / CodeConnections connection."""
    connection_arn: str = Field(pattern=r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):")
    """ARN of the connection (made and authorized in the console)."""
    repository: str = Field(pattern=r"^[^/]+/[^/]+$", description="`owner/repo`.")
    branch: str = "main"
    """Branch whose pushes run the pipeline."""
    detect_changes: bool = True
    """Start the pipeline on each push."""
    output_format: Literal["CODE_ZIP", "CODEBUILD_CLONE_REF"] = "CODE_ZIP"
    """`CODE_ZIP`, or `CODEBUILD_CLONE_REF` (a full git clone in the build)."""


class CodeCommitSource(Model):
    type: Literal["codecommit"] = "codecommit"
    """A CodeCommit repository."""
    repository: str
    """Repository name."""
    branch: str = "main"
    """Branch whose changes run the pipeline."""


class S3Source(Model):
    type: Literal["s3"] = "s3"
    """A zip file in an S3 bucket (versioning on)."""
    bucket: str
    """Bucket name (a valid S3 bucket name)."""
    key: str
    """Object key of the source zip."""

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str) -> str:
        problems = limits.bucket_problems(v)
        if problems:
            raise ValueError("; ".join(problems))
        return v


class BuildConfig(Model):
    buildspec: str = "buildspec.yml"
    """Buildspec file in the repository."""
    image: str = "aws/codebuild/standard:7.0"
    """CodeBuild image."""
    compute_type: str = "BUILD_GENERAL1_SMALL"
    """CodeBuild compute type (one of CodeBuild's `ComputeType` values)."""
    privileged: bool = True
    """Privileged mode (needed to build Docker images)."""
    timeout_minutes: int = Field(30, ge=5, le=2160)
    """Build timeout in minutes (5-2160)."""
    environment: dict[str, str] = {}
    """Extra plaintext build environment variables (no `CODEBUILD_` names)."""

    @field_validator("environment")
    @classmethod
    def _reserved(cls, v: dict[str, str]) -> dict[str, str]:
        # CodeBuild user guide, "Environment variables in build environments": names that
        # start with CODEBUILD_ are reserved for CodeBuild's own use.
        reserved = sorted(k for k in v if k.upper().startswith("CODEBUILD_"))
        if reserved:
            raise ValueError(
                f"{', '.join(reserved)}: names starting with CODEBUILD_ are reserved by CodeBuild"
            )
        return v


class BlueGreen(Model):
    deployment_config: str = "CodeDeployDefault.ECSAllAtOnce"
    """How traffic shifts: an ECS CodeDeploy config (`CodeDeployDefault.ECSAllAtOnce`, `...ECSLinear10PercentEvery1Minutes`, `...ECSCanary10Percent5Minutes`, ...) or your own ECS config's name."""
    test_listener_port: int | None = Field(None, ge=1, le=65535)
    """Port of an optional test listener forwarding to the new (green) tasks during a deployment."""
    termination_wait_minutes: int = Field(5, ge=0, le=2880)
    """Minutes the old (blue) tasks stay after traffic moved (0-2880)."""
    ready_action: Literal["CONTINUE_DEPLOYMENT", "STOP_DEPLOYMENT"] = "CONTINUE_DEPLOYMENT"
    """`CONTINUE_DEPLOYMENT` shifts traffic at once; `STOP_DEPLOYMENT` waits for approval."""
    ready_wait_minutes: int = Field(0, ge=0, le=2880)
    """With `STOP_DEPLOYMENT`: minutes to wait for approval before the deployment stops (0-2880)."""

    @field_validator("deployment_config")
    @classmethod
    def _ecs_config(cls, v: str) -> str:
        problem = limits.deployment_config_problem(v)
        if problem:
            raise ValueError(f"{problem[0]}; {problem[1]}")
        return v


class Deploy(Model):
    strategy: Literal["rolling", "blue_green"] = "rolling"
    """`rolling` (ECS deploys, circuit breaker) or `blue_green` (CodeDeploy)."""
    file_name: str = "imagedefinitions.json"
    """Image definitions file the build writes and the rolling deploy action reads."""
    timeout_minutes: int = Field(15, ge=1, le=60)
    """Deadline of the pipeline's ECS deploy action, in minutes (1-60)."""
    blue_green: BlueGreen = BlueGreen()
    """Settings of the `blue_green` strategy."""


class Pipeline(Model):
    source: GitHubSource | ConnectionSource | CodeCommitSource | S3Source = Field(
        discriminator="type"
    )
    """Where the code comes from: `type` github, codestar, codecommit or s3."""
    build: BuildConfig = BuildConfig()
    """The CodeBuild project that builds and pushes the images."""
    deploy: Deploy = Deploy()
    """How the pipeline deploys to the service."""


# A DNS name as Route 53 and ACM take it: labels of letters, digits and '-' (not at either end),
# 63 characters at most each, 253 in all, at least two labels; no trailing dot, no wildcard.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_RE = re.compile(rf"^(?=.{{1,253}}$)({_LABEL}\.)+[a-z][a-z0-9-]*[a-z0-9]$")


class Domain(Model):
    """The service's public name, served over HTTPS (an ACM certificate, an alias record)."""

    name: str = Field(
        description="The service's public DNS name (e.g. shop.example.com). `up` requests an "
        "ACM certificate for it (DNS-validated through the hosted zone), adds the HTTPS "
        "listener (HTTP redirects to it) and an alias record to the load balancer."
    )
    hosted_zone_id: str | None = Field(
        None,
        pattern=r"^(/hostedzone/)?[A-Z0-9]{1,32}$",
        description="The Route 53 public hosted zone to write the records in (Z...). Default: "
        "the account's public hosted zone whose name is the longest suffix of `name`.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        name = v.strip().lower().removesuffix(".")
        if name.startswith("*."):
            raise ValueError(
                f"{v!r}: a wildcard name cannot be the service's address; name one host"
            )
        if not DOMAIN_RE.match(name):
            raise ValueError(
                f"{v!r} is not a DNS name: use labels of letters, digits and '-' separated by "
                "dots (e.g. shop.example.com), at most 63 characters each and 253 in all"
            )
        # ACM RequestCertificate DomainName: 1-253 characters; the first label of a name ACM
        # validates (the CNAME's name is `_<hash>.<name>`) must keep the name within 253.
        if len(name) > 253 - 34:
            raise ValueError(
                f"{v!r} is too long for DNS validation (its validation record's name, 33 "
                "characters longer, would exceed 253); use a shorter name"
            )
        return name

    @field_validator("hosted_zone_id")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        return v.removeprefix("/hostedzone/") if v else v


class Waits(Model):
    """Deadlines, in seconds, of the waits at the end of `up` and `down`."""

    load_balancer: int = Field(600, ge=1)
    """Seconds `up` waits for the load balancer to become active."""
    service: int = Field(900, ge=1)
    """Seconds `up` waits for the service deployment to finish."""
    pipeline: int = Field(1800, ge=1)
    """Seconds `up` waits for the pipeline execution."""
    delete: int = Field(1200, ge=1)
    """Seconds `down` waits for a deletion AWS finishes later."""
    certificate: int = Field(
        1800,
        ge=1,
        description="How long `up` waits for the ACM certificate of `domain` to be ISSUED once "
        "its validation record is written (ACM usually validates in minutes).",
    )
    # How soon a wait notices a change: within max(poll_min, poll_fraction x the time waited so
    # far) — every second at first, every 6 s after a minute, every 30 s after five.
    poll_min: float = Field(1.0, ge=0.2, le=60)
    """A wait notices a change within max(`poll_min`, `poll_fraction` x the time waited) seconds."""
    poll_fraction: float = Field(0.1, gt=0, le=1)
    """See `poll_min`."""


class Config(Model):
    project: str = Field(min_length=2, max_length=40)
    """Project name: lowercase letters, digits, `-`, starting with a letter (2-40); names are `<project>-<environment>-...`."""
    environment: str = Field("dev", min_length=1, max_length=12)
    """Environment name, same characters (1-12)."""
    region: str | None = None
    """AWS region; default: --region, then AWS_REGION / the profile's."""
    tags: dict[str, str] = {}
    """Extra tags on every resource (at most 48; no `aws:` or `ecs-cicd:` keys)."""
    network: Network = Network()
    """The VPC and public subnets (created, or existing ones referenced)."""
    load_balancer: LoadBalancer = LoadBalancer()
    """The internet-facing Application Load Balancer."""
    cluster: Cluster = Cluster()
    """The ECS cluster."""
    task: Task
    """The Fargate task definition."""
    service: Service = Service()
    """The ECS service."""
    autoscaling: Autoscaling | None = Field(
        None,
        description="scale the service's task count by target tracking (off when absent)",
    )
    ecr: Ecr = Ecr()
    """The ECR repositories of built containers."""
    logs: Logs = Logs()
    """The CloudWatch log groups."""
    pipeline: Pipeline
    """The CodePipeline: source, build, deploy."""
    waits: Waits = Waits()
    """Deadlines of the waits in `up` and `down`, and their polling."""
    domain: Domain | None = Field(
        None,
        description="Serve the service on this DNS name over HTTPS: an ACM certificate (unless "
        "load_balancer.certificate_arn is given), its DNS validation record, the HTTPS "
        "listener and alias record(s) in the Route 53 hosted zone. Off by default.",
    )

    # Where relative paths (task.definition_file) are resolved; set by load_config.
    base_dir: str = Field(".", exclude=True)
    # task.definition_file, read and checked once by parse_config (taskdef_file's loader).
    _definition: dict[str, Any] | None = PrivateAttr(None)
    _file_containers: list[Container] | None = PrivateAttr(None)

    @field_validator("project", "environment")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(
                f"{v!r}: use lowercase letters, digits and '-', starting with a letter "
                "(it becomes part of AWS resource names)"
            )
        return v

    @field_validator("region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        problem = limits.region_problem(v) if v is not None else None
        if problem:
            raise ValueError(f"{problem[0]}; {problem[1]}")
        return v

    @property
    def stack(self) -> str:
        return f"{self.project}-{self.environment}"

    @property
    def https(self) -> bool:
        """An HTTPS listener: a certificate given, or one `domain` requests."""
        return bool(self.load_balancer.certificate_arn or self.domain)

    def listener_ports(self) -> list[int]:
        """The production listeners' ports: HTTP, and HTTPS when there is a certificate."""
        lb = self.load_balancer
        return [lb.listener_port] + ([lb.https_port] if self.https else [])

    @model_validator(mode="after")
    def _https_ports(self) -> Config:
        # ELBv2 CreateListener: one listener per port ("DuplicateListener").
        lb = self.load_balancer
        if self.domain and not lb.certificate_arn and lb.https_port == lb.listener_port:
            raise ValueError(
                f"load_balancer.https_port and listener_port are both {lb.https_port}; with "
                "`domain` the load balancer has an HTTPS listener too (HTTP redirects to it)"
            )
        return self

    @property
    def definition(self) -> dict[str, Any] | None:
        """task.definition_file, normalized to the RegisterTaskDefinition shape (or None)."""
        return self._definition

    def container_definitions(self) -> list[Container]:
        """The containers, from the config or from task.definition_file (validated)."""
        if self.task.containers is not None:
            return list(self.task.containers)
        if self._file_containers is None:
            raise ConfigError(
                "task.definition_file was not loaded", field="task.definition_file"
            )  # a Config made without parse_config
        return list(self._file_containers)

    def built_containers(self) -> list[Container]:
        return [c for c in self.container_definitions() if c.build is not None]


def _interpolate(value: Any, path: str) -> Any:
    """Replace ${VAR} and ${VAR:-default} from the environment, recursively."""
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(3)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"environment variable {name} is not set",
            field=path,
            hint=f"export {name}=... or write ${{{name}:-default}}",
        )

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", sub, value)


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("github", "codestar", "codecommit", "s3") and out.endswith("source"):
            continue  # discriminated-union tag, not a field the user wrote
        else:
            out += f".{part}" if out else str(part)
    return out


def _known_fields(loc: tuple[int | str, ...]) -> list[str]:
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        fields = getattr(model, "model_fields", {})
        if part in fields:
            ann = fields[part].annotation
            model = _model_of(ann)
        elif part in ("github", "codestar", "codecommit", "s3"):
            model = {
                "github": GitHubSource,
                "codestar": ConnectionSource,
                "codecommit": CodeCommitSource,
                "s3": S3Source,
            }[str(part)]
    return list(getattr(model, "model_fields", {}).keys()) if model is not None else []


def _model_of(ann: Any) -> Any:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()):
        m = _model_of(arg)
        if m is not None:
            return m
    return None


def config_error_from_validation(e: ValidationError) -> ConfigError:
    """Every pydantic error, each one line naming the field (a typo suggestion where one
    fits): a ConfigError, or ConfigErrors for several."""
    problems = [_one_error(err) for err in e.errors()]
    return problems[0] if len(problems) == 1 else ConfigErrors(problems)


def _one_error(err: Any) -> ConfigError:
    loc = tuple(err["loc"])
    field = _field_path(loc) or "config"
    if err["type"] == "extra_forbidden":
        known = [k for k in _known_fields(loc) if k != "base_dir"]
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return ConfigError("unknown key", field=field, hint=hint)
    if err["type"] == "missing":
        return ConfigError("required key is missing", field=field)
    msg = str(err["msg"]).removeprefix("Value error, ")
    return ConfigError(msg, field=field)


Checks = Callable[["Config"], list[ConfigError]]


def parse_config(
    data: Any,
    *,
    base_dir: str | Path = ".",
    check_env: bool = False,
    extra: Checks | None = None,
) -> Config:
    """Validate already-loaded YAML data. Raises ConfigError (ConfigErrors: every problem).

    `check_env=True` also asks for the GitHub token variable now; by default it is asked for
    only when `up` creates or changes the pipeline (read-only verbs never need it).

    `extra` adds problems found by checks outside this module (the CLI's preflight against the
    botocore models); they are reported together with the config's own."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a YAML mapping", field="config")
    data = _interpolate(data, "")
    try:
        cfg = Config.model_validate({**data, "base_dir": str(base_dir)})
    except ValidationError as e:
        problems = [config_error_from_validation(e)]
        # The rest of the config may hold more problems: check it with the refused values set
        # back to their defaults, so `validate` shows every problem at once.
        problems += _problems_of_the_rest(data, e, base_dir, check_env, extra)
        raise_all(problems)
        raise  # unreachable: raise_all raised
    if cfg.task.definition_file is not None:
        # Read once, checked by taskdef_file's rules (the ones the config's containers obey).
        path = Path(cfg.base_dir) / cfg.task.definition_file
        definition = load_task_definition_file(path)
        cfg._definition = definition
        cfg._file_containers = containers_from_definition(cfg.task, definition, path.name)
    try:
        check_semantics(cfg, check_env=check_env)
    except ConfigError as e:
        # Still run the extra checks, so every problem shows at once; a config this broken may
        # not build, and then only its own problems are reported.
        try:
            more = extra(cfg) if extra else []
        except Exception:
            more = []
        found = e.problems if isinstance(e, ConfigErrors) else [e]
        fields = {p.field for p in found}
        raise_all([*found, *(p for p in more if p.field not in fields)])
    if extra:
        raise_all(extra(cfg))
    return cfg


def _duplicate_keys(node: yaml.Node | None, path: str) -> list[ConfigError]:
    """Every key given twice in one mapping (PyYAML silently keeps the last), with its field
    path and both lines."""
    out: list[ConfigError] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
            where = f"{path}.{key}" if path else str(key)
            line = key_node.start_mark.line + 1
            if key is not None and key != "<<" and key in seen:
                out.append(
                    ConfigError(
                        f"given twice, at line {seen[key]} and line {line} (YAML would "
                        "silently keep the second)",
                        field=where,
                        hint=f"keep one of lines {seen[key]} and {line}",
                    )
                )
            elif key is not None:
                seen[key] = line
            out += _duplicate_keys(value_node, where)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += _duplicate_keys(item, f"{path}[{i}]")
    return out


def _problems_of_the_rest(
    data: dict[str, Any],
    error: ValidationError,
    base_dir: str | Path,
    check_env: bool,
    extra: Checks | None,
) -> list[ConfigError]:
    """Problems of the parts of `data` pydantic did not refuse, found by validating `data` with
    the refused keys removed (their defaults stand in). Nothing when a refused key is required
    or the rest does not validate; never a problem of a field already reported."""
    reported = {_field_path(tuple(err["loc"])) for err in error.errors()}
    rest = copy.deepcopy(data)
    removed: set[tuple[Any, ...]] = set()
    for err in error.errors():
        loc = [p for p in err["loc"] if p not in ("github", "codestar", "codecommit", "s3")]
        if err["type"] == "missing" or not loc:
            return []
        node: Any = rest
        for part in loc[:-1]:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return []
        if tuple(loc) in removed:
            continue  # a second error of the same key
        if not isinstance(node, dict) or loc[-1] not in node:
            return []  # a model rule (no single key to remove)
        del node[loc[-1]]
        removed.add(tuple(loc))
    try:
        parse_config(rest, base_dir=base_dir, check_env=check_env, extra=extra)
    except ConfigError as e:
        found = e.problems if isinstance(e, ConfigErrors) else [e]
        return [p for p in found if p.field not in reported]
    except Exception:
        return []
    return []


def load_config(
    path: str | Path, *, check_env: bool = False, extra: Checks | None = None
) -> Config:
    """Read, interpolate and validate a config file. Raises ConfigError (exit 2). The GitHub
    token is not needed here (see parse_config's `check_env`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {str(p)!r} not found",
            hint="pass -c PATH, or copy config.example.yaml to ecs_cicd.yaml",
        ) from None
    try:
        duplicates = _duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader), "")
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not duplicates:
        return parse_config(data, base_dir=p.parent, check_env=check_env, extra=extra)
    # Every problem at once: the duplicates, then whatever else the config (as YAML reads it,
    # the second value kept) holds.
    try:
        parse_config(data, base_dir=p.parent, check_env=check_env, extra=extra)
    except ConfigError as e:
        more = e.problems if isinstance(e, ConfigErrors) else [e]
        raise_all([*duplicates, *more])
    raise_all(duplicates)
    raise AssertionError("unreachable")  # raise_all raised


def check_semantics(cfg: Config, *, check_env: bool = False) -> None:
    """Cross-field rules that need the whole config (containers may come from a file), and
    AWS's rules the models do not hold. Raises every problem found (ConfigErrors)."""
    problems: list[ConfigError] = []
    for rule in (
        _check_names,
        _check_wiring,
        _check_sizes,
        _check_placement,
        _check_tags,
        _check_scaling,
    ):
        try:
            rule(cfg, check_env)
        except ConfigError as e:
            problems.append(e)
    problems += task_role_statement_problems(cfg.task.task_role_statements)
    raise_all(problems)


def _check_names(cfg: Config, _check_env: bool) -> None:
    """Names too long for a kind's limit are shortened (names.fit); these are the name rules
    that shortening cannot satisfy, as they hold for the name's beginning."""
    raise_all(
        [
            ConfigError(p, field="project", hint="choose another project name")
            for p in limits.stack_name_problems(cfg.stack)
        ]
    )


def _check_placement(cfg: Config, _check_env: bool) -> None:
    problems = []
    zones = cfg.network.availability_zones or []
    if cfg.region and not cfg.network.existing:
        # EC2 user guide, "Regions and Zones": a zone's name starts with its region's code
        # (us-east-1a; Local and Wavelength Zones too: us-west-2-lax-1a).
        wrong = [z for z in zones if not (z.startswith(cfg.region) and len(z) > len(cfg.region))]
        if wrong:
            problems.append(
                ConfigError(
                    f"{', '.join(wrong)} not in region {cfg.region}",
                    field="network.availability_zones",
                    hint=f"use zones such as {cfg.region}a, {cfg.region}c",
                )
            )
    if cfg.service.capacity_provider == "FARGATE_SPOT" and cfg.task.cpu_architecture == "ARM64":
        # ECS developer guide, "Fargate capacity providers": Linux tasks with the ARM64
        # architecture don't support the Fargate Spot capacity provider.
        problems.append(
            ConfigError(
                "Fargate Spot does not run ARM64 tasks",
                field="service.capacity_provider",
                hint="use FARGATE, or task.cpu_architecture: X86_64",
            )
        )
    raise_all(problems)


def _check_scaling(cfg: Config, _check_env: bool) -> None:
    """autoscaling and service.rollback_on_alarms against the deploy strategy."""
    raise_all(scaling_problems(cfg))


def scaling_problems(cfg: Config) -> list[ConfigError]:
    problems: list[ConfigError] = []
    blue_green = cfg.pipeline.deploy.strategy == "blue_green"
    if cfg.service.rollback_on_alarms and blue_green:
        problems.append(
            ConfigError(
                "ECS deployment alarms work only with rolling deploys (the ECS deployment "
                "controller); a blue/green service uses CodeDeploy's",
                field="service.rollback_on_alarms",
                hint="remove service.rollback_on_alarms, or use pipeline.deploy.strategy: rolling "
                "(blue/green already rolls back when the new tasks fail their health checks)",
            )
        )
    scaling = cfg.autoscaling
    if scaling is None:
        return problems
    if scaling.requests_per_target and blue_green:
        problems.append(
            ConfigError(
                "requests per target tracks one target group, and a blue/green service moves "
                "between two at every deployment",
                field="autoscaling.requests_per_target",
                hint="track cpu_target / memory_target instead, or use rolling deploys",
            )
        )
    if "desired_count" in cfg.service.model_fields_set and not (
        scaling.min_count <= cfg.service.desired_count <= scaling.max_count
    ):
        problems.append(
            ConfigError(
                f"desired_count {cfg.service.desired_count} is outside autoscaling's "
                f"{scaling.min_count}..{scaling.max_count} (AWS would move it inside at once)",
                field="service.desired_count",
                hint="remove service.desired_count (autoscaling starts at min_count) or give "
                "one between min_count and max_count",
            )
        )
    return problems


def _check_tags(cfg: Config, _check_env: bool) -> None:
    raise_all(_tag_errors(cfg.tags))


def _tag_errors(tags: dict[Any, Any]) -> list[ConfigError]:
    return [
        ConfigError(problem, field=f"tags.{key}" if key else "tags", hint=fix or None)
        for key, problem, fix in limits.tag_problems(tags)
    ]


def _check_sizes(cfg: Config, _check_env: bool) -> None:
    """ECS RegisterTaskDefinition (API reference, ContainerDefinition memory/cpu): with a task
    size, the containers' memory (hard limit, else reservation) may not add up to more than
    the task's, nor their cpu units to more than the task's."""
    containers = [c.to_ecs() for c in cfg.container_definitions()]
    where = "task.containers" if cfg.task.containers is not None else "task.definition_file"
    problems = []
    memory = sum(int(c.get("memory") or c.get("memoryReservation") or 0) for c in containers)
    if memory > cfg.task.memory:
        problems.append(
            ConfigError(
                f"the containers' memory adds up to {memory} MiB, more than task.memory "
                f"{cfg.task.memory}",
                field=where,
                hint="lower the containers' memory / memory_reservation or raise task.memory",
            )
        )
    cpu = sum(int(c.get("cpu") or 0) for c in containers)
    if cpu > cfg.task.cpu:
        problems.append(
            ConfigError(
                f"the containers' cpu adds up to {cpu} units, more than task.cpu {cfg.task.cpu}",
                field=where,
                hint="lower the containers' cpu or raise task.cpu",
            )
        )
    raise_all(problems)


def _check_wiring(cfg: Config, check_env: bool) -> None:
    containers = cfg.container_definitions()
    names = [c.name for c in containers]
    by_name = {c.name: c for c in containers}
    prefix = "task.containers" if cfg.task.containers is not None else "task.definition_file"
    if cfg.task.containers is not None:
        # The rules of taskdef_file, which its loader applied to task.definition_file already.
        check_containers([c.to_ecs() for c in containers])
    if not any(c.essential for c in containers):
        raise ConfigError("at least one container must be essential", field=prefix)
    ep = cfg.task.endpoint
    if ep.container not in by_name:
        raise ConfigError(
            f"endpoint container {ep.container!r} is not among the containers",
            field="task.endpoint.container",
            hint=f"containers are: {', '.join(names)}",
        )
    if ep.port not in [pm.container_port for pm in by_name[ep.container].port_mappings]:
        raise ConfigError(
            f"endpoint container {ep.container!r} has no port mapping for port {ep.port}",
            field="task.endpoint.port",
            hint=f"add port_mappings: [{{container_port: {ep.port}}}] to {ep.container!r}",
        )
    src = cfg.pipeline.source
    if check_env and isinstance(src, GitHubSource) and not os.environ.get(src.token_env):
        raise ConfigError(
            f"the GitHub token variable {src.token_env} is not set",
            field="pipeline.source.token_env",
            hint=f"export {src.token_env}=<a personal access token with repo and admin:repo_hook scopes>",
        )
    if not cfg.built_containers():
        raise ConfigError(
            "no container has a build section, so the pipeline would build nothing",
            field=f"{prefix}",
            hint="add build: {context: ., dockerfile: Dockerfile} to the container(s) the pipeline builds",
        )
    bg = cfg.pipeline.deploy.blue_green
    if (
        cfg.pipeline.deploy.strategy == "blue_green"
        and bg.test_listener_port in cfg.listener_ports()
    ):
        raise ConfigError(
            f"test listener port {bg.test_listener_port} is already a production listener port",
            field="pipeline.deploy.blue_green.test_listener_port",
        )


# The config's names for the RegisterTaskDefinition keys the container rules speak of.
_CONFIG_KEYS = {
    "portMappings": "port_mappings",
    "hostPort": "host_port",
    "containerPort": "container_port",
    "dependsOn": "depends_on",
    "containerName": "container",
    "healthCheck": "health_check",
}
_ECS_KEY = re.compile(r"\b(" + "|".join(_CONFIG_KEYS) + r")\b")
# Where the rule's own hint speaks of what a config cannot set (networkMode).
_CONFIG_HINTS = {
    "host_port": "Fargate (awsvpc) requires hostPort == containerPort; remove host_port",
}


def check_containers(containers: list[dict[str, Any]]) -> None:
    """task.containers (in RegisterTaskDefinition shape) against the task definition rules of
    taskdef_file — the one source of them — with errors in the config's words."""
    source = "config"
    try:
        validate_container_definitions(containers, source=source, path="task.containers")
    except ConfigError as e:
        field = e.field or ""
        problem = e.message.removeprefix(f"{field}: ")
        where = _ECS_KEY.sub(lambda m: _CONFIG_KEYS[m.group(1)], field.removeprefix(f"{source}: "))
        hint = e.hint and _ECS_KEY.sub(lambda m: _CONFIG_KEYS[m.group(1)], e.hint)
        raise ConfigError(
            _ECS_KEY.sub(lambda m: _CONFIG_KEYS[m.group(1)], problem),
            field=where,
            hint=_CONFIG_HINTS.get(where.rsplit(".", 1)[-1], hint),
        ) from None


def containers_from_definition(task: Task, td: dict[str, Any], filename: str) -> list[Container]:
    """The containers of task.definition_file (loaded and checked by taskdef_file), as config
    models, after the rules that tie the file to the config (sizes, networking, builds).

    The original container definition is kept (ecs_definition) so fields the config does not
    model (ulimits, linuxParameters, ...) pass through to RegisterTaskDefinition unchanged.
    """
    for key in ("cpu", "memory"):
        want = str(getattr(task, key))
        if key in td and str(td[key]) != want:
            raise ConfigError(
                f"{filename} sets {key}={td[key]!r} but task.{key} is {want!r}",
                field="task.definition_file",
                hint=f"remove {key} from the file or make task.{key} match",
            )
    if td.get("networkMode", "awsvpc") != "awsvpc":
        raise ConfigError(
            f"{filename} sets networkMode {td['networkMode']!r}; Fargate requires awsvpc",
            field="task.definition_file",
        )
    out = []
    for i, d in enumerate(td["containerDefinitions"]):
        where = f"task.definition_file ({filename}: $.containerDefinitions[{i}])"
        hc = d.get("healthCheck")
        try:
            out.append(
                Container(
                    name=d["name"],
                    image=d["image"],
                    build=task.builds.get(d["name"]),
                    essential=d.get("essential", True),
                    port_mappings=[
                        PortMapping(
                            container_port=p["containerPort"],
                            host_port=p.get("hostPort"),
                            protocol=p.get("protocol", "tcp"),
                        )
                        for p in d.get("portMappings", [])
                    ],
                    depends_on=[
                        DependsOn(container=x["containerName"], condition=x["condition"])
                        for x in d.get("dependsOn", [])
                    ],
                    health_check=ContainerHealthCheck(
                        command=hc["command"],
                        interval=hc.get("interval", 30),
                        timeout=hc.get("timeout", 5),
                        retries=hc.get("retries", 3),
                        start_period=hc.get("startPeriod", 0),
                    )
                    if hc
                    else None,
                    ecs_definition=d,
                )
            )
        except (KeyError, ValueError) as e:
            raise ConfigError(f"invalid container definition: {e}", field=where) from None
    unknown = set(task.builds) - {c.name for c in out}
    if unknown:
        raise ConfigError(
            f"names containers not in {filename}: {', '.join(sorted(unknown))}",
            field="task.builds",
        )
    return out
