"""The requests the plan would send, checked offline against the botocore service models.

botocore validates a request's types, required members and minimums only; the models also state
maximum lengths, patterns, enums and ranges, which AWS enforces mid-`up` — after other resources
were created. Here the desired stack is built for a placeholder account and each resource's
creating request (its name, tags and settings) is checked against its operation's input shape,
every problem mapped back to the config field it comes from (REQUESTS, one table). Where a model
is silent but AWS documents a rule, DOCUMENTED supplies it, with its source.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.model import Shape

from ecs_cicd.aws import service_model
from ecs_cicd.config import Config
from ecs_cicd.errors import ConfigError, raise_all
from ecs_cicd.lifecycle import Resource, Target
from ecs_cicd.rules import task_role_statement_problems
from ecs_cicd.stack import build_stack

PLACEHOLDER_ACCOUNT = "000000000000"
NAMES = "project"  # names derive from project and environment
NAMES_HINT = "the name comes from project and environment; change them"

# Rules the models do not state, by (service, operation, member path): AWS's API references.
_ELB_NAME = {"max": 32, "pattern": r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"}
_ECS_NAME = {"max": 255, "pattern": r"[A-Za-z0-9_-]+"}
DOCUMENTED: dict[tuple[str, str, str], dict[str, Any]] = {
    # ELBv2 API reference, CreateLoadBalancer/CreateTargetGroup Name: "a maximum of 32
    # characters, must contain only alphanumeric characters or hyphens, and must not begin or
    # end with a hyphen" (and not begin with "internal-": config.py, limits.stack_name_problems).
    ("elbv2", "CreateLoadBalancer", "Name"): _ELB_NAME,
    ("elbv2", "CreateTargetGroup", "Name"): _ELB_NAME,
    # ECS API reference, CreateCluster clusterName / CreateService serviceName /
    # RegisterTaskDefinition family: "Up to 255 letters (uppercase and lowercase), numbers,
    # underscores, and hyphens are allowed."
    ("ecs", "CreateCluster", "clusterName"): _ECS_NAME,
    ("ecs", "CreateService", "serviceName"): _ECS_NAME,
    ("ecs", "RegisterTaskDefinition", "family"): _ECS_NAME,
    # EC2 API reference, CreateSecurityGroup: GroupName and Description "up to 255 characters";
    # a name "cannot start with sg-"; in a VPC "a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*".
    ("ec2", "CreateSecurityGroup", "GroupName"): {
        "max": 255,
        "pattern": r"(?!sg-)[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+",
    },
    ("ec2", "CreateSecurityGroup", "Description"): {
        "max": 255,
        "pattern": r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*",
    },
    # S3 user guide, "General purpose bucket naming rules" (the rest: limits.bucket_problems).
    ("s3", "CreateBucket", "Bucket"): {"max": 63, "pattern": r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"},
}


@dataclass(frozen=True)
class Request:
    """One creating call of the plan: what is sent and where each part comes from."""

    service: str
    operation: str
    params: dict[str, Any]
    # request member path prefix -> the config field it comes from (longest prefix wins)
    fields: dict[str, str] = field(default_factory=dict)
    # the request's tag member and the tag keys in the order they were sent
    tag_member: str | None = None
    tag_keys: tuple[str, ...] = ()


def _tags(r: Resource, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in sorted(r.tag_dict.items())]


def _tagged(
    service: str,
    operation: str,
    r: Resource,
    params: dict[str, Any],
    fields: dict[str, str],
    tag_member: str,
    style: str = "Key",
) -> Request:
    keys = tuple(sorted(r.tag_dict))
    if style == "map":
        tags: Any = dict(r.tag_dict)
    else:
        tags = _tags(r, style, "Value" if style == "Key" else "value")
    return Request(
        service,
        operation,
        {**params, tag_member: tags},
        fields,
        tag_member=tag_member,
        tag_keys=keys,
    )


def _container_field(cfg: Config, name: str) -> str:
    if cfg.task.containers is None:
        return "task.definition_file"
    names = [c.name for c in cfg.task.containers]
    return f"task.containers[{names.index(name)}].name" if name in names else "task.containers"


_HC = "load_balancer.health_check"
_BUILD = "pipeline.build"


def _requests(cfg: Config, r: Resource) -> list[Request]:
    """REQUESTS: the creating request(s) of one resource, by kind."""
    a: Any = r
    k = r.kind
    if k == "load_balancer":
        return [
            _tagged("elbv2", "CreateLoadBalancer", r, {"Name": a.name}, {"Name": NAMES}, "Tags")
        ]
    if k == "target_group":
        hc = dict(a.health_check)
        fields = {
            "Name": NAMES,
            "HealthCheckPath": f"{_HC}.path",
            "HealthCheckIntervalSeconds": f"{_HC}.interval",
            "HealthCheckTimeoutSeconds": f"{_HC}.timeout",
            "HealthyThresholdCount": f"{_HC}.healthy_threshold",
            "UnhealthyThresholdCount": f"{_HC}.unhealthy_threshold",
            "Matcher": f"{_HC}.matcher",
        }
        params = {"Name": a.name, "Protocol": a.protocol, "Port": a.port, **hc}
        return [_tagged("elbv2", "CreateTargetGroup", r, params, fields, "Tags")]
    if k == "iam_role":
        params = {"RoleName": a.name, "Description": a.description}
        return [_tagged("iam", "CreateRole", r, params, {"": NAMES}, "Tags")]
    if k == "ecr_repository":
        field_ = _container_field(cfg, a.container)
        return [
            _tagged("ecr", "CreateRepository", r, {"repositoryName": a.name}, {"": field_}, "tags")
        ]
    if k == "log_group":
        return [
            _tagged(
                "logs", "CreateLogGroup", r, {"logGroupName": a.name}, {"": NAMES}, "tags", "map"
            )
        ]
    if k == "cluster":
        return [
            _tagged("ecs", "CreateCluster", r, {"clusterName": a.name}, {"": NAMES}, "tags", "key")
        ]
    if k == "service":
        return [
            _tagged(
                "ecs",
                "CreateService",
                r,
                {"serviceName": a.name, "desiredCount": cfg.service.desired_count},
                {"serviceName": NAMES, "desiredCount": "service.desired_count"},
                "tags",
                "key",
            )
        ]
    if k == "task_definition":
        return [
            _tagged(
                "ecs", "RegisterTaskDefinition", r, {"family": a.family}, {"": NAMES}, "tags", "key"
            )
        ]
    if k == "security_group":
        params = {"GroupName": a.name, "Description": a.description}
        return [Request("ec2", "CreateSecurityGroup", params, {"": NAMES})]
    if k == "artifact_bucket":
        return [Request("s3", "CreateBucket", {"Bucket": a.name}, {"": NAMES})]
    if k == "codebuild_project":
        params = {"name": a.name, "description": a.description, **a.request}
        fields = {
            "": NAMES,
            "environment": _BUILD,
            "environment.computeType": f"{_BUILD}.compute_type",
            "environment.image": f"{_BUILD}.image",
            "environment.privilegedMode": f"{_BUILD}.privileged",
            "environment.environmentVariables": f"{_BUILD}.environment",
            "timeoutInMinutes": f"{_BUILD}.timeout_minutes",
            "source.buildspec": f"{_BUILD}.buildspec",
        }
        return [_tagged("codebuild", "CreateProject", r, params, fields, "tags", "key")]
    if k == "pipeline":
        fields = {
            "pipeline": "pipeline",
            "pipeline.name": NAMES,
            "pipeline.stages": "pipeline.source",
        }
        return [
            _tagged(
                "codepipeline",
                "CreatePipeline",
                r,
                {"pipeline": a.declaration},
                fields,
                "tags",
                "key",
            )
        ]
    if k == "webhook":
        return [Request("codepipeline", "PutWebhook", {"webhook": a.definition}, {"": NAMES})]
    if k == "codedeploy_app":
        params = {"applicationName": a.name, "computePlatform": a.compute_platform}
        return [_tagged("codedeploy", "CreateApplication", r, params, {"": NAMES}, "tags")]
    if k == "certificate":
        params = {"DomainName": a.domain, "ValidationMethod": "DNS"}
        fields = {"": "domain.name"}
        return [_tagged("acm", "RequestCertificate", r, params, fields, "Tags")]
    if k == "deployment_group":
        bg = "pipeline.deploy.blue_green"
        params = {
            "applicationName": a.application.name,
            "deploymentGroupName": a.name,
            "deploymentConfigName": a.deployment_config,
        }
        fields = {"": NAMES, "deploymentConfigName": f"{bg}.deployment_config"}
        return [_tagged("codedeploy", "CreateDeploymentGroup", r, params, fields, "tags")]
    if k == "scalable_target":
        params = {
            "ServiceNamespace": "ecs",
            "ResourceId": a.name,
            "ScalableDimension": "ecs:service:DesiredCount",
            "MinCapacity": a.min_count,
            "MaxCapacity": a.max_count,
        }
        fields = {
            "": NAMES,
            "MinCapacity": "autoscaling.min_count",
            "MaxCapacity": "autoscaling.max_count",
        }
        return [
            _tagged(
                "application-autoscaling",
                "RegisterScalableTarget",
                r,
                params,
                fields,
                "Tags",
                "map",
            )
        ]
    if k == "scaling_policy":
        params = {
            "PolicyName": a.name,
            "ServiceNamespace": "ecs",
            "ResourceId": a.scalable_target.name,
            "ScalableDimension": "ecs:service:DesiredCount",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": float(a.target_value),
                "PredefinedMetricSpecification": {"PredefinedMetricType": a.metric},
                "ScaleInCooldown": a.scale_in_cooldown,
                "ScaleOutCooldown": a.scale_out_cooldown,
            },
        }
        fields = {"": NAMES, "TargetTrackingScalingPolicyConfiguration": "autoscaling"}
        return [Request("application-autoscaling", "PutScalingPolicy", params, fields)]
    if k == "metric_alarm":
        spec = a.spec
        params = {
            "AlarmName": a.name,
            "MetricName": spec.metric,
            "Namespace": "AWS/ApplicationELB",
            "Statistic": spec.statistic,
            "Period": spec.period,
            "EvaluationPeriods": spec.evaluation_periods,
            "Threshold": float(spec.threshold),
            "ComparisonOperator": spec.comparison,
        }
        fields = {"": NAMES}
        return [_tagged("cloudwatch", "PutMetricAlarm", r, params, fields, "Tags")]
    return []


@functools.cache
def _input_shape(service: str, operation: str) -> Shape:
    model = service_model(service)
    shape = model.operation_model(operation).input_shape
    assert shape is not None
    return shape


def check_config(cfg: Config, region: str) -> None:
    """Refuse (ConfigErrors, every problem) any request of the plan the models would refuse."""
    raise_all(problems(cfg, region))


def problems(cfg: Config, region: str) -> list[ConfigError]:
    if task_role_statement_problems(cfg.task.task_role_statements):
        # Reported by the config's own rules; the rest of the stack is still checked.
        task = cfg.task.model_copy(update={"task_role_statements": []})
        cfg = cfg.model_copy(update={"task": task})
    stack = build_stack(cfg, Target(PLACEHOLDER_ACCOUNT, region))
    out: list[ConfigError] = []
    seen: set[str] = set()
    for r in stack.resources:
        for req in _requests(cfg, r):
            shape = _input_shape(req.service, req.operation)
            for path, problem in check_value(req.service, req.operation, shape, req.params, ""):
                where = _field_of(req, path)
                if where in seen:  # e.g. a tag, refused by every resource's request: once
                    continue
                seen.add(where)
                out.append(
                    ConfigError(
                        f"{problem} (AWS {req.service} {req.operation} {path})",
                        field=where,
                        hint=_hint(where),
                    )
                )
    return out


# The fix, by the config field a problem is mapped to (its first part that matches).
HINTS = {
    NAMES: NAMES_HINT,
    "task.containers": "a built container's name, lowercased, is part of its ECR repository "
    "name: letters and digits separated by single '.', '_', '__' or '-'",
    "tags": "AWS's tightest tag limits apply (CodeBuild: keys up to 127, values up to 255 "
    "characters); letters, digits, spaces and _ . : / = + - @",
    "pipeline.deploy.blue_green.deployment_config": "a CodeDeployDefault.ECS* config or the "
    "name of your own ECS deployment config",
    "pipeline.build.compute_type": "use one of the listed values",
}


def _hint(where: str) -> str | None:
    return next(
        (h for k, h in HINTS.items() if where == k or where.startswith((k + ".", k + "["))), None
    )


_INDEX = re.compile(r"\[[^\]]*\]")


def _field_of(req: Request, path: str) -> str:
    if req.tag_member and (
        path.startswith(f"{req.tag_member}[") or path.startswith(f"{req.tag_member}.")
    ):
        m = re.match(rf"{re.escape(req.tag_member)}\[(\d+)\]", path)
        if m and int(m.group(1)) < len(req.tag_keys):
            return f"tags.{req.tag_keys[int(m.group(1))]}"
        m = re.match(rf"{re.escape(req.tag_member)}\.(.+)", path)
        return f"tags.{m.group(1)}" if m else "tags"
    bare = _INDEX.sub("", path)
    best = max(
        (p for p in req.fields if p == "" or bare == p or bare.startswith(p + ".")),
        key=len,
        default=None,
    )
    return req.fields[best] if best is not None else NAMES


def check_value(
    service: str, operation: str, shape: Shape, value: Any, path: str
) -> Iterator[tuple[str, str]]:
    """(request path, problem) for each part of `value` its model shape refuses. Values that
    are not plain data (references resolved at apply time) are skipped."""
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        for name, v in value.items():
            if name in members:
                sub = f"{path}.{name}" if path else name
                yield from check_value(service, operation, members[name], v, sub)
        return
    if t == "list" and isinstance(value, list | tuple):
        yield from _bounds(shape, len(value), path, "items")
        for i, v in enumerate(value):
            yield from check_value(service, operation, shape.member, v, f"{path}[{i}]")  # type: ignore[attr-defined]
        return
    if t == "map" and isinstance(value, dict):
        yield from _bounds(shape, len(value), path, "entries")
        for k, v in value.items():
            yield from check_value(service, operation, shape.key, k, f"{path}.{k}")  # type: ignore[attr-defined]
            yield from check_value(service, operation, shape.value, v, f"{path}.{k}")  # type: ignore[attr-defined]
        return
    if t == "string" and isinstance(value, str):
        rules = {**shape.metadata, **DOCUMENTED.get((service, operation, path), {})}
        yield from _bounds_of(rules, len(value), path, "characters", value)
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            yield path, f"{_show(value)} is not one of {', '.join(enum)}"
        pattern = rules.get("pattern")
        if pattern and not _matches(pattern, value):
            yield path, f"{_show(value)} does not match AWS's pattern {pattern}"
        return
    if t in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        yield from _bounds(shape, value, path, "")


def _show(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37] + "...")


def _bounds(shape: Shape, n: int, path: str, unit: str) -> Iterator[tuple[str, str]]:
    yield from _bounds_of(shape.metadata, n, path, unit, None)


def _bounds_of(
    rules: dict[str, Any], n: int, path: str, unit: str, value: str | None
) -> Iterator[tuple[str, str]]:
    lo, hi = rules.get("min"), rules.get("max")
    what = (
        f"{_show(value)} has {n} {unit}"
        if value is not None
        else (f"{n} {unit}" if unit else str(n))
    )
    if hi is not None and n > hi:
        yield path, f"{what}; AWS allows at most {hi}"
    if lo is not None and n < lo:
        yield path, f"{what}; AWS needs at least {lo}"


# The models' patterns are Java regexes; Python's `re` has no \p{..} classes. A value is
# checked with each such class's characters mapped to one representative.
_UNICODE_CLASSES = {"L": "a", "Z": " ", "N": "0"}
_P_CLASS = re.compile(r"\\p\{([LZN])\}")


@functools.cache
def _compiled(pattern: str) -> tuple[re.Pattern[str] | None, bool]:
    translated = _P_CLASS.sub(lambda m: _UNICODE_CLASSES[m.group(1)], pattern)
    try:
        return re.compile(translated), translated != pattern
    except re.error:
        return None, False  # a construct Python lacks: not checked here (AWS still checks it)


def _matches(pattern: str, value: str) -> bool:
    rx, mapped = _compiled(pattern)
    if rx is None:
        return True
    if mapped:
        value = "".join(_UNICODE_CLASSES.get(unicodedata.category(c)[0], c) for c in value)
    # AWS matches the whole value (Java's String.matches); most patterns carry no anchors.
    return rx.fullmatch(value) is not None
