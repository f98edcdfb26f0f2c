"""AWS's own rules, refused at load: a table of bad configs (at least one per rule family), each
refused with exit 2 and its field path before any AWS call; all problems reported at once;
names that always fit (a property test over every project/environment the schema allows)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.client
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecs_cicd import names, preflight
from ecs_cicd.config import NAME_RE, Config, load_config, parse_config
from ecs_cicd.errors import ConfigError, ConfigErrors
from tests.conftest import EXAMPLE

REGION = "ap-northeast-1"


def example() -> dict[str, Any]:
    return dict(yaml.safe_load(EXAMPLE.read_text()))


def load(data: dict[str, Any]) -> Config:
    """What every CLI verb does at load: the config's rules, then the plan's requests checked
    against the botocore models (preflight)."""
    return parse_config(
        data,
        base_dir=EXAMPLE.parent,
        check_env=False,
        extra=lambda c: preflight.problems(c, c.region or REGION),
    )


@pytest.fixture(autouse=True)
def no_aws_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any API call in these tests fails the test: the rules are checked offline."""
    calls: list[str] = []

    def refuse(self: Any, operation: str, params: Any) -> Any:
        calls.append(operation)
        raise AssertionError(f"API call {operation} during config validation")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse)
    yield calls
    assert calls == []


def setter(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = d
        for p in parents:
            node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
        node[last] = value

    return change


def with_statement(**statement: Any) -> Callable[[dict[str, Any]], None]:
    base = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    return setter("task.task_role_statements", [{**base, **statement}])


def blue_green(config: str) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        d["pipeline"]["deploy"] = {
            "strategy": "blue_green",
            "blue_green": {"deployment_config": config},
        }

    return change


def container(index: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        d["task"]["containers"][index].update(values)

    return change


def s3_source(bucket: str) -> Callable[[dict[str, Any]], None]:
    return setter("pipeline.source", {"type": "s3", "bucket": bucket, "key": "src.zip"})


# (rule family, change to the example, field path named, fragment of the message)
BAD: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    # tags: AWS tagging docs (charset, aws: prefix, lengths, 50 per resource)
    ("tag aws: prefix", setter("tags", {"aws:owner": "me"}), "tags.aws:owner", "reserved"),
    ("tag AWS: prefix", setter("tags", {"AWS:Owner": "me"}), "tags.AWS:Owner", "reserved"),
    ("tag key charset", setter("tags", {"team!": "x"}), "tags.team!", "characters"),
    ("tag value charset", setter("tags", {"team": "a<b>"}), "tags.team", "characters"),
    ("tag value length", setter("tags", {"team": "x" * 257}), "tags.team", "256"),
    ("tag key length", setter("tags", {"k" * 129: "x"}), "tags." + "k" * 129, "1-128"),
    ("tag count", setter("tags", {f"k{i}": "v" for i in range(49)}), "tags", "50"),
    ("own tag prefix", setter("tags", {"ecs-cicd:stack": "x"}), "tags.ecs-cicd:stack", "ecs_cicd"),
    # tags: the botocore model (CodeBuild allows 255-character values, 127-character keys)
    ("tag value codebuild", setter("tags", {"team": "x" * 256}), "tags.team", "255"),
    ("tag key codebuild", setter("tags", {"k" * 128: "x"}), "tags." + "k" * 128, "127"),
    # names: ELBv2 CreateLoadBalancer (no internal- prefix), S3 reserved bucket prefixes
    ("alb internal- prefix", setter("project", "internal"), "project", "internal-"),
    ("alb internal- prefix 2", setter("project", "internal-shop"), "project", "internal-"),
    ("bucket xn-- prefix", setter("project", "xn--shop"), "project", "xn--"),
    ("bucket sthree- prefix", setter("project", "sthree-shop"), "project", "sthree-"),
    (
        "bucket amzn-s3-demo- prefix",
        setter("project", "amzn-s3-demo-x"),
        "project",
        "amzn-s3-demo-",
    ),
    # names: the botocore model (ECR CreateRepository repositoryName pattern)
    ("ecr repository pattern", container(1, name="app-"), "task.containers[1].name", "pattern"),
    ("ecr repository pattern 2", container(1, name="a___b"), "task.containers[1].name", "pattern"),
    # S3 source bucket: S3 bucket naming rules
    ("s3 bucket charset", s3_source("My_Bucket"), "pipeline.source.bucket", "bucket name"),
    ("s3 bucket suffix", s3_source("shop-s3alias"), "pipeline.source.bucket", "-s3alias"),
    ("s3 bucket --ol-s3", s3_source("shop--ol-s3"), "pipeline.source.bucket", "--ol-s3"),
    ("s3 bucket prefix", s3_source("xn--shop"), "pipeline.source.bucket", "xn--"),
    ("s3 bucket ip", s3_source("192.168.1.1"), "pipeline.source.bucket", "IP address"),
    ("s3 bucket dots", s3_source("a..b"), "pipeline.source.bucket", "adjacent dots"),
    ("s3 bucket length", s3_source("b" * 64), "pipeline.source.bucket", "3-63"),
    # target group health check: ELBv2 CreateTargetGroup
    (
        "health path /",
        setter("load_balancer.health_check.path", "health"),
        "load_balancer.health_check.path",
        "'/'",
    ),
    (
        "health path length",
        setter("load_balancer.health_check.path", "/" + "x" * 1024),
        "load_balancer.health_check.path",
        "1024",
    ),
    (
        "matcher range",
        setter("load_balancer.health_check.matcher", "200-599"),
        "load_balancer.health_check.matcher",
        "200-499",
    ),
    (
        "matcher low",
        setter("load_balancer.health_check.matcher", "100"),
        "load_balancer.health_check.matcher",
        "200-499",
    ),
    (
        "matcher form",
        setter("load_balancer.health_check.matcher", "2xx"),
        "load_balancer.health_check.matcher",
        "not HTTP",
    ),
    (
        "matcher order",
        setter("load_balancer.health_check.matcher", "300-200"),
        "load_balancer.health_check.matcher",
        "outside",
    ),
    # numeric ranges (the config schema, from the APIs' ranges)
    (
        "interval range",
        setter("load_balancer.health_check.interval", 301),
        "load_balancer.health_check.interval",
        "300",
    ),
    # container sizes: ECS RegisterTaskDefinition (containers within the task's size)
    ("memory sum", container(1, memory=1024), "task.containers", "memory adds up"),
    ("cpu sum", container(1, cpu=512), "task.containers", "cpu adds up"),
    # enums: CodeDeploy ECS deployment configs (user guide), CodeBuild computeType (model)
    (
        "codedeploy config",
        blue_green("CodeDeployDefault.OneAtATime"),
        "pipeline.deploy.blue_green.deployment_config",
        "not a deployment config for ECS",
    ),
    (
        "codedeploy config pattern",
        blue_green("my config"),
        "pipeline.deploy.blue_green.deployment_config",
        "pattern",
    ),
    (
        "codebuild compute type",
        setter("pipeline.build.compute_type", "BUILD_GENERAL1_HUGE"),
        "pipeline.build.compute_type",
        "BUILD_GENERAL1_SMALL",
    ),
    # IAM statements: IAM JSON policy reference (Sid, Resource)
    (
        "iam sid",
        with_statement(Sid="read-it"),
        "task.task_role_statements[0].Sid",
        "letters and digits",
    ),
    (
        "iam resource",
        with_statement(Resource="my-bucket"),
        "task.task_role_statements[0].Resource",
        "not an ARN",
    ),
    # network: VPC user guide (block sizes /16-/28), EC2 (a zone's name starts with its region)
    ("vpc block size", setter("network.vpc_cidr", "10.0.0.0/8"), "network.vpc_cidr", "/16 to /28"),
    (
        "subnet block size",
        setter("network.public_subnet_cidrs", ["10.0.0.0/29", "10.0.0.8/29"]),
        "network.public_subnet_cidrs",
        "/16 to /28",
    ),
    (
        "zone of another region",
        setter("network.availability_zones", ["us-east-1a", "us-east-1b"]),
        "network.availability_zones",
        "not in region",
    ),
    # listeners: ELBv2 (one listener per port; certificates from ACM or IAM)
    (
        "listener port clash",
        lambda d: d["load_balancer"].update(
            certificate_arn="arn:aws:acm:ap-northeast-1:123456789012:certificate/x", https_port=80
        ),
        "load_balancer",
        "one listener per port",
    ),
    (
        "certificate arn",
        setter("load_balancer.certificate_arn", "my-cert"),
        "load_balancer.certificate_arn",
        "pattern",
    ),
    # Fargate: Spot does not run ARM64 (ECS developer guide)
    (
        "spot arm64",
        lambda d: (
            d["task"].update(cpu_architecture="ARM64"),
            d.setdefault("service", {}).update(capacity_provider="FARGATE_SPOT"),
        ),
        "service.capacity_provider",
        "ARM64",
    ),
    # CodeBuild: reserved environment variable prefix (CodeBuild user guide)
    (
        "codebuild env prefix",
        setter("pipeline.build.environment", {"CODEBUILD_X": "1"}),
        "pipeline.build.environment",
        "reserved",
    ),
    # regions: botocore's partitions
    ("region", setter("region", "ap-northeast-9"), "region", "ap-northeast-1"),
    ("region typo", setter("region", "us-est-1"), "region", "us-east-1"),
]


@pytest.mark.parametrize(("family", "change", "field", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_refused(
    family: str, change: Callable[[dict[str, Any]], None], field: str, fragment: str
) -> None:
    data = copy.deepcopy(example())
    change(data)
    with pytest.raises(ConfigError) as e:
        load(data)
    problems = e.value.problems if isinstance(e.value, ConfigErrors) else [e.value]
    assert e.value.exit_code == 2
    mine = [p for p in problems if p.field == field]
    assert mine, f"{family}: no problem names {field}: {e.value}"
    assert any(fragment in str(p) for p in mine), f"{family}: {e.value}"


def test_the_example_passes_every_rule() -> None:
    for strategy in ("rolling", "blue_green"):
        data = example()
        data["pipeline"]["deploy"] = {"strategy": strategy}
        load(data)


def test_every_problem_is_reported_at_once() -> None:
    data = example()
    data["region"] = "ap-northeast-9"
    data["load_balancer"]["health_check"] = {"path": "health", "matcher": "600"}
    data["tags"] = {"aws:owner": "me"}
    with pytest.raises(ConfigErrors) as e:
        load(data)
    fields = [p.field for p in e.value.problems]
    assert fields == [
        "region",
        "load_balancer.health_check.path",
        "load_balancer.health_check.matcher",
        "tags.aws:owner",
    ]
    assert len(str(e.value).splitlines()) == 4


def test_semantic_and_model_problems_are_reported_together() -> None:
    data = example()
    data["tags"] = {"team": "a!b"}
    data["pipeline"]["build"]["compute_type"] = "HUGE"
    data["task"]["task_role_statements"] = [
        {"Sid": "x-y", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    ]
    with pytest.raises(ConfigErrors) as e:
        load(data)
    fields = [p.field for p in e.value.problems]
    # the tag once (not once per resource), the statement, the model's enum
    assert sorted(fields) == sorted(
        ["tags.team", "task.task_role_statements[0].Sid", "pipeline.build.compute_type"]
    )


def test_duplicate_yaml_key_names_both_lines(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "environment: dev\n", "environment: dev\nenvironment: prod\n"
    )
    path = tmp_path / "ecs_cicd.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path, check_env=False)
    line = text.splitlines().index("environment: dev") + 1
    assert e.value.field == "environment"
    assert f"line {line} and line {line + 1}" in str(e.value)


def test_nested_duplicate_yaml_key(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "  listener_port: 80\n", "  listener_port: 80\n  listener_port: 81\n"
    )
    path = tmp_path / "ecs_cicd.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"load_balancer.listener_port: given twice"):
        load_config(path, check_env=False)


def test_a_duplicate_key_does_not_hide_the_other_problems(tmp_path: Path) -> None:
    text = (
        EXAMPLE.read_text()
        .replace("environment: dev\n", "environment: dev\nenvironment: prod\n")
        .replace("path: /health", "path: health")
    )
    assert "path: health" in text
    path = tmp_path / "ecs_cicd.yaml"
    path.write_text(text)
    with pytest.raises(ConfigErrors) as e:
        load_config(path, check_env=False)
    fields = [p.field for p in e.value.problems]
    assert fields[0] == "environment" and "load_balancer.health_check.path" in fields


# --- names that always fit ---------------------------------------------------------------------
def test_short_form_is_pinned() -> None:
    """The short form is a pure function of the full name: the same on every run and machine
    (pinned here, so a change to it — which would orphan deployed stacks — fails a test)."""
    stack = "a-very-long-project-name-for-testing-production"
    assert names.fit(stack, "-alb", 32) == "a-very-long-project-8f8610be-alb"
    assert names.fit(stack, "-tg", 32) == "a-very-long-project-eaa97d9c-tg"
    assert names.fit("shop-dev", "-alb", 32) == "shop-dev-alb"  # fits: unchanged


def test_long_project_and_production_deploys(no_aws_calls: list[str]) -> None:
    data = example()
    data["project"] = "a-very-long-project-name-for-testing"
    data["environment"] = "production"
    cfg = load(data)
    assert names.alb(cfg) == "a-very-long-project-8f8610be-alb"
    assert len(names.target_group(cfg)) <= 32


PROJECT = st.from_regex(NAME_RE, fullmatch=True).filter(lambda s: 2 <= len(s) <= 40)
ENVIRONMENT = st.from_regex(NAME_RE, fullmatch=True).filter(lambda s: 2 <= len(s) <= 12)
LIMITS = {
    "load_balancer": 32,
    "target_group": 32,
    "role": 64,
    "pipeline": 100,
    "webhook": 100,
    "codedeploy": 100,
    "deployment_group": 100,
    "codebuild_project": 150,
    "artifact_bucket": 63,
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    project=PROJECT, environment=ENVIRONMENT, strategy=st.sampled_from(["rolling", "blue_green"])
)
def test_any_allowed_project_and_environment_yields_valid_names(
    project: str, environment: str, strategy: str
) -> None:
    """Every project/environment the schema accepts either is refused at load naming `project`
    (a reserved prefix) or gives names that pass every kind's rules, all distinct."""
    data = example()
    data["project"], data["environment"] = project, environment
    data["pipeline"]["deploy"] = {"strategy": strategy}
    try:
        cfg = load(data)
    except ConfigError as e:
        problems = e.problems if isinstance(e, ConfigErrors) else [e]
        assert {p.field for p in problems} == {"project"}, str(e)
        return
    all_names = names.all_names(cfg, "123456789012", REGION)
    by_kind: dict[str, list[str]] = {}
    for key, name in all_names.items():
        by_kind.setdefault(key.split(".")[0], []).append(name)
    for kind, of_kind in by_kind.items():  # never two resources of one kind on one name
        assert len(set(of_kind)) == len(of_kind), (kind, of_kind)
    for key, name in all_names.items():
        limit = next((n for k, n in LIMITS.items() if key.startswith(k)), 255)
        assert len(name) <= limit, (key, name)
        assert not name.startswith("-") and not name.endswith("-"), (key, name)


def test_tag_rules_accept_what_aws_accepts() -> None:
    """Unicode letters, digits and spaces and `_ . : / = + - @` pass both the documented rule and
    the models' \\p{L}\\p{Z}\\p{N} patterns; an emoji does not."""
    data = example()
    data["tags"] = {"Owner": "Équipe Ünïcode", "cost-center": "42", "a/b": "x=y+z@q:1_2.3"}
    load(data)
    data["tags"] = {"team": "🚀"}
    with pytest.raises(ConfigError, match=r"tags\.team"):
        load(data)


def test_model_check_finds_problems_in_requests() -> None:
    """The model walk, on its own: a value over a model maximum, off an enum, off a pattern."""
    shape = preflight._input_shape("codebuild", "CreateProject")
    found = dict(
        preflight.check_value(
            "codebuild",
            "CreateProject",
            shape,
            {"name": "a b", "environment": {"computeType": "HUGE"}, "timeoutInMinutes": 3000},
            "",
        )
    )
    assert set(found) == {"name", "environment.computeType", "timeoutInMinutes"}
    assert "pattern" in found["name"] and "at most 2160" in found["timeoutInMinutes"]


def test_validate_shows_shortened_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecs_cicd.cli import main

    monkeypatch.setenv("GITHUB_TOKEN", "x")
    text = EXAMPLE.read_text().replace(
        "project: test-codepipeline", "project: a-very-long-project-name-for-testing"
    )
    path = tmp_path / "ecs_cicd.yaml"
    path.write_text(text.replace("environment: dev", "environment: production"))
    assert main(["validate", "-c", str(path), "--output", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shortened_names"] == {
        "load_balancer": "a-very-long-project-8f8610be-alb",
        "target_group.main": "a-very-long-project-eaa97d9c-tg",
    }
