"""The files the pipeline's Build and Deploy stages read: buildspec.yml, imagedefinitions.json,
imageDetail.json, taskdef.json and appspec.yaml. Pure: config (and optional stack facts) in,
text out.

Every container name, port, file name and repository variable comes from the config (through
`build_task_definition` and the CodeBuild project's variable naming), so the buildspec, the task
definition and the deploy stage cannot disagree (STYLE.md habit 9).

Blue/green (CodeDeployToECS) substitutes only `<IMAGE1_NAME>` in taskdef.json, from the one
imageDetail.json of its Image1 artifact. The image-1 container is the app. Every other built
container (nginx) is pinned by the buildspec itself: taskdef.json names its image
`<registry>/<repo>:<IMAGE_TAG>` and post_build replaces `<IMAGE_TAG>` (and `<AWS_ACCOUNT_ID>` /
`<AWS_DEFAULT_REGION>` when no state was available) with `sed`, so each deployment (and
CodeDeploy's rollback to the previous revision) names the exact nginx image built with it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from ecs_cicd.config import Config, Container
from ecs_cicd.errors import ConfigError
from ecs_cicd.resources.codebuild import repo_uri_variable
from ecs_cicd.resources.codedeploy import appspec_content
from ecs_cicd.taskdef import build_task_definition, image_uri

__all__ = [
    "ACCOUNT_PLACEHOLDER",
    "APPSPEC_FILE",
    "IMAGE1_PLACEHOLDER",
    "IMAGE_DETAIL_FILE",
    "REGION_PLACEHOLDER",
    "TAG_PLACEHOLDER",
    "TASKDEF_FILE",
    "TASK_DEFINITION_PLACEHOLDER",
    "Roles",
    "container_roles",
    "deploy_task_definition",
    "image_definitions",
    "render_appspec",
    "render_buildspec",
    "render_deploy_files",
    "repo_path",
    "repository_uris",
]

#: The CodeDeployToECS action's Image1ContainerName; taskdef.json writes it as `<IMAGE1_NAME>`.
IMAGE1_PLACEHOLDER = "IMAGE1_NAME"
#: CodeDeploy replaces this in appspec.yaml with the task definition it registered.
TASK_DEFINITION_PLACEHOLDER = "<TASK_DEFINITION>"
TASKDEF_FILE = "taskdef.json"
APPSPEC_FILE = "appspec.yaml"
IMAGE_DETAIL_FILE = "imageDetail.json"  # exact name: CodeDeployToECS looks for it (FORMATS.md)

# Filled in by the buildspec's post_build from CodeBuild's variables (blue/green taskdef.json).
# Each is `<NAME>` of the shell variable that replaces it.
ACCOUNT_PLACEHOLDER = "<AWS_ACCOUNT_ID>"
REGION_PLACEHOLDER = "<AWS_DEFAULT_REGION>"
TAG_PLACEHOLDER = "<IMAGE_TAG>"

# The tag the example files and the rolling taskdef.json use; the buildspec pushes it every build.
EXAMPLE_TAG = "latest"
_TEST_VENV = "/tmp/app-venv"


@dataclass(frozen=True)
class Roles:
    """What each container of the config is, for the scaffold and the buildspec.

    `app` is the Flask app (and blue/green's image-1 container); `proxy` the nginx in front of it
    (the endpoint container, when the pipeline builds it and another built container exists);
    `others` any further built containers, which the scaffold gives placeholder Dockerfiles.
    """

    app: Container
    app_port: int
    proxy: Container | None
    others: tuple[Container, ...]
    app_is_endpoint: bool = False

    @property
    def proxy_hops(self) -> int:
        """Proxies in front of the app: the load balancer, plus the endpoint container unless
        the app is the endpoint."""
        return 1 if self.app_is_endpoint else 2


def container_roles(cfg: Config) -> Roles:
    """Pick the app and the proxy among the built containers (check_semantics ensures one)."""
    built = cfg.built_containers()
    endpoint = cfg.task.endpoint
    others = [c for c in built if c.name != endpoint.container]
    endpoint_built = next((c for c in built if c.name == endpoint.container), None)
    if not others:
        # One built container, the endpoint itself: the app takes the load balancer's traffic.
        assert endpoint_built is not None
        return Roles(endpoint_built, endpoint.port, None, (), app_is_endpoint=True)
    # Prefer a container with a port mapping: the app must listen somewhere the proxy can reach.
    app = next((c for c in others if c.port_mappings), others[0])
    if not app.port_mappings:
        raise ConfigError(
            f"container {app.name!r} (the app behind {endpoint.container!r}) has no port mapping, "
            "so nothing says which port it listens on",
            field="task.containers",
            hint=f"add port_mappings: [{{container_port: 5000}}] to {app.name!r}",
        )
    rest = tuple(c for c in others if c.name != app.name)
    return Roles(app, app.port_mappings[0].container_port, endpoint_built, rest)


def repo_path(path: str, *parts: str) -> str:
    """A path inside the repository, normalised; refuses absolute paths and `..`."""
    p = PurePosixPath(path, *parts)
    if p.is_absolute() or ".." in p.parts:
        raise ConfigError(
            f"{str(p)!r} is outside the repository",
            field="build",
            hint="build.context and build.dockerfile are paths relative to the repository root",
        )
    return str(p)


def repository_uris(
    cfg: Config, *, account_id: str | None, region: str | None, repo_uris: Mapping[str, str] | None
) -> dict[str, str]:
    """Each built container's ECR repository URI (no tag): from the state, else derived."""
    known = dict(repo_uris or {})
    account = account_id or ACCOUNT_PLACEHOLDER
    reg = region or cfg.region or REGION_PLACEHOLDER
    out = {}
    for c in cfg.built_containers():
        # taskdef.image_uri is the one place the ECR URI's shape is written; drop its tag.
        derived = image_uri(cfg, account, reg, c.name, "tag").removesuffix(":tag")
        out[c.name] = known.get(c.name) or derived
    return out


# --- taskdef.json and appspec.yaml -------------------------------------------------------------
def deploy_task_definition(
    cfg: Config,
    *,
    account_id: str | None = None,
    region: str | None = None,
    role_arns: Mapping[str, str] | None = None,
    repo_uris: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The task definition for taskdef.json (`build_task_definition` with the pipeline's images).

    Blue/green: the app's image is `<IMAGE1_NAME>`, other built containers `<repo>:<IMAGE_TAG>`.
    Rolling (a reference copy; the ECS action reuses the service's own): `<repo>:latest`.
    `role_arns` maps "execution" / "task" to the roles' ARNs.
    """
    roles = role_arns or {}
    account = account_id or ACCOUNT_PLACEHOLDER
    blue_green = cfg.pipeline.deploy.strategy == "blue_green"
    tag = TAG_PLACEHOLDER if blue_green else EXAMPLE_TAG
    uris = repository_uris(cfg, account_id=account_id, region=region, repo_uris=repo_uris)
    images = {name: f"{uri}:{tag}" for name, uri in uris.items()}
    if blue_green:
        images[container_roles(cfg).app.name] = f"<{IMAGE1_PLACEHOLDER}>"
    return build_task_definition(
        cfg,
        region=region or cfg.region or REGION_PLACEHOLDER,
        account_id=account,
        execution_role_arn=roles.get("execution"),
        task_role_arn=roles.get("task"),
        images=images,
    )


def render_appspec(cfg: Config) -> str:
    """appspec.yaml exactly as FORMATS.md shows it: the endpoint container and port (the same
    app spec `up`'s CodeDeploy deployments use, with CodeDeploy's placeholder)."""
    ep = cfg.task.endpoint
    return appspec_content(ep.container, ep.port, TASK_DEFINITION_PLACEHOLDER)


def image_definitions(cfg: Config, uris: Mapping[str, str], tag: str) -> list[dict[str, str]]:
    """imagedefinitions.json's content: every built container and its `<repo>:<tag>`."""
    return [{"name": c.name, "imageUri": f"{uris[c.name]}:{tag}"} for c in cfg.built_containers()]


# --- buildspec.yml ------------------------------------------------------------------------------
class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as buildspecs are usually written."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _q(text: str) -> str:
    return shlex.quote(text)


def _image_ref(container: str, tag: str = "$IMAGE_TAG") -> str:
    return f'"${repo_uri_variable(container)}:{tag}"'


def render_buildspec(cfg: Config) -> str:
    """buildspec.yml (version 0.2) for the config's strategy, reading the CodeBuild project's
    variables."""
    roles = container_roles(cfg)
    built = cfg.built_containers()
    deploy = cfg.pipeline.deploy
    blue_green = deploy.strategy == "blue_green"
    required = ["AWS_ACCOUNT_ID", "AWS_DEFAULT_REGION", *(repo_uri_variable(c.name) for c in built)]
    pre_build = [
        'echo "Logging in to Amazon ECR in $AWS_DEFAULT_REGION"',
        # Fail at once, naming the variable, rather than pushing to a malformed repository name.
        ": " + " ".join(f'"${{{v}:?is not set}}"' for v in required),
        "aws ecr get-login-password --region $AWS_DEFAULT_REGION | docker login --username AWS "
        "--password-stdin $AWS_ACCOUNT_ID.dkr.ecr.$AWS_DEFAULT_REGION.amazonaws.com",
        # The commit's first 7 characters (only characters a Docker tag allows); `latest` when
        # CodeBuild runs without a resolved source version.
        "IMAGE_TAG=$(printf '%s' \"${CODEBUILD_RESOLVED_SOURCE_VERSION:-}\" "
        "| tr -cd 'A-Za-z0-9_.-' | cut -c 1-7)",
        'IMAGE_TAG="${IMAGE_TAG:-latest}"',
        'echo "Image tag: $IMAGE_TAG"',
    ]
    app_dir = repo_path(roles.app.build.context if roles.app.build else ".")
    run_tests = f"{_TEST_VENV}/bin/python -m pytest"
    build = [
        f'echo "Testing the app ({roles.app.name})"',
        f"python3 -m venv {_TEST_VENV}",
        f"{_TEST_VENV}/bin/pip install --quiet --disable-pip-version-check "
        f"-r {_q(repo_path(app_dir, 'requirements-dev.txt'))}",
        run_tests if app_dir == "." else f"(cd {_q(app_dir)} && {run_tests})",
    ]
    for c in built:
        assert c.build is not None
        version_arg = ' --build-arg APP_VERSION="$IMAGE_TAG"' if c.name == roles.app.name else ""
        dockerfile, context = _q(repo_path(c.build.dockerfile)), _q(repo_path(c.build.context))
        build.append(
            f"docker build --tag {_image_ref(c.name)} --tag {_image_ref(c.name, 'latest')}"
            f"{version_arg} --file {dockerfile} {context}"
        )
    post_build = [
        # post_build runs even when build failed: never push or deploy the images of a failed build.
        '[ "${CODEBUILD_BUILD_SUCCEEDING:-1}" = 1 ] || '
        '{ echo "build failed: no image pushed, nothing deployed" >&2; exit 1; }',
    ]
    for c in built:
        post_build += [
            f"docker push {_image_ref(c.name)}",
            f"docker push {_image_ref(c.name, 'latest')}",
        ]
    if blue_green:
        files = [IMAGE_DETAIL_FILE, TASKDEF_FILE, APPSPEC_FILE]
        post_build += [
            f'printf \'{{"ImageURI":"%s"}}\\n\' {_image_ref(roles.app.name)} > {IMAGE_DETAIL_FILE}',
            'sed -i -e "s|<AWS_ACCOUNT_ID>|$AWS_ACCOUNT_ID|g" '
            '-e "s|<AWS_DEFAULT_REGION>|$AWS_DEFAULT_REGION|g" '
            f'-e "s|<IMAGE_TAG>|$IMAGE_TAG|g" {TASKDEF_FILE}',
            f"if grep -oE '<[A-Z0-9_]+>' {TASKDEF_FILE} | grep -v -x '<{IMAGE1_PLACEHOLDER}>'; "
            "then "
            f'echo "{TASKDEF_FILE}: placeholders above were not replaced" >&2; exit 1; fi',
            f"cat {IMAGE_DETAIL_FILE} {APPSPEC_FILE} {TASKDEF_FILE}",
        ]
    else:
        out = repo_path(deploy.file_name)
        files = [out]
        items = ",".join(f'{{"name":{json.dumps(c.name)},"imageUri":"%s"}}' for c in built)
        refs = " ".join(_image_ref(c.name) for c in built)
        if "/" in out:
            post_build.append(f"mkdir -p {_q(str(PurePosixPath(out).parent))}")
        post_build += [f"printf '[{items}]\\n' {refs} > {_q(out)}", f"cat {_q(out)}"]
    doc = {
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "pre_build": {"commands": pre_build},
            "build": {"commands": build},
            "post_build": {"commands": post_build},
        },
        "artifacts": {"files": files},
    }
    header = (
        f"# buildspec for {cfg.stack} ({deploy.strategy} deploy), generated by ecs_cicd from "
        "its config.\n"
        "# Variables from the CodeBuild project: AWS_ACCOUNT_ID, "
        + ", ".join(repo_uri_variable(c.name) for c in built)
        + ".\n"
    )
    body = yaml.dump(
        doc, Dumper=_IndentedDumper, sort_keys=False, default_flow_style=False, width=10_000
    )
    return header + body


# --- all of them --------------------------------------------------------------------------------
def render_deploy_files(
    cfg: Config,
    *,
    account_id: str | None = None,
    region: str | None = None,
    role_arns: Mapping[str, str] | None = None,
    repo_uris: Mapping[str, str] | None = None,
    examples: bool = True,
) -> dict[str, str]:
    """File name -> text of the deploy files, consistent with the config and the stack's facts.

    Without `account_id` / `region` / `repo_uris` the files name `<AWS_ACCOUNT_ID>` and
    `<AWS_DEFAULT_REGION>` (blue/green's buildspec fills them in at build time). `examples` adds
    what the buildspec writes at build time: imagedefinitions.json (rolling) or imageDetail.json
    (blue/green), with the `latest` tag.
    """
    blue_green = cfg.pipeline.deploy.strategy == "blue_green"
    files = {repo_path(cfg.pipeline.build.buildspec): render_buildspec(cfg)}
    td = deploy_task_definition(
        cfg, account_id=account_id, region=region, role_arns=role_arns, repo_uris=repo_uris
    )
    if blue_green or examples:
        files[TASKDEF_FILE] = json.dumps(td, indent=2) + "\n"
    if blue_green:
        files[APPSPEC_FILE] = render_appspec(cfg)
    if examples:
        uris = repository_uris(cfg, account_id=account_id, region=region, repo_uris=repo_uris)
        if blue_green:
            app = container_roles(cfg).app.name
            detail = {"ImageURI": f"{uris[app]}:{EXAMPLE_TAG}"}
            files[IMAGE_DETAIL_FILE] = json.dumps(detail) + "\n"
        else:
            defs = image_definitions(cfg, uris, EXAMPLE_TAG)
            files[repo_path(cfg.pipeline.deploy.file_name)] = json.dumps(defs, indent=2) + "\n"
    return files
