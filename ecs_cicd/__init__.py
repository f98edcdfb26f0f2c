"""ecs_cicd: stand up and tear down an AWS ECS Fargate service and its CI/CD pipeline from one
YAML file, in plain Python.

    from ecs_cicd import load_config, up, down
    result = up(load_config("config.yaml"), session=boto3.Session(profile_name="dev"))
    print(result.outputs["url"])
"""

from ecs_cicd.config import Config, load_config, parse_config
from ecs_cicd.errors import (
    AwsError,
    ConfigError,
    DeploymentFailed,
    EcsCicdError,
    StackLocked,
    StateError,
    UsageError,
    WaitTimeout,
)
from ecs_cicd.logs import build_logs
from ecs_cicd.logs import logs as read_logs
from ecs_cicd.ops import Result, down, outputs, plan, recover, status, up
from ecs_cicd.release import deploy, deploy_image, rollback

__all__ = [
    "AwsError",
    "Config",
    "ConfigError",
    "DeploymentFailed",
    "EcsCicdError",
    "Result",
    "StackLocked",
    "StateError",
    "UsageError",
    "WaitTimeout",
    "build_logs",
    "deploy",
    "deploy_image",
    "down",
    "load_config",
    "outputs",
    "parse_config",
    "plan",
    "read_logs",
    "recover",
    "rollback",
    "status",
    "up",
]
__version__ = "0.1.0"
