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
from ecs_cicd.ops import Result, down, outputs, plan, recover, status, up

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
    "down",
    "load_config",
    "outputs",
    "parse_config",
    "plan",
    "recover",
    "status",
    "up",
]
__version__ = "0.1.0"
