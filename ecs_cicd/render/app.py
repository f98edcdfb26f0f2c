"""The app repository `init` scaffolds: a Flask app with its tests, its Dockerfile, an nginx image
in front of it, the buildspec and (blue/green) taskdef.json + appspec.yaml. Pure: config in,
{path: text} out; paths are relative to the repository root.

Which container is what (`deploy.container_roles`): the endpoint container is the proxy (nginx)
when the pipeline builds it and builds another container too; that other container is the app.
When the endpoint is the only built container, it is the app itself and no nginx is written.
When the endpoint is not built (its image comes from the config), only the app is written. Any
further built container gets a placeholder Dockerfile rebuilding its configured image, so the
buildspec's `docker build` of it works until the real one replaces it.

Every path, port and container name comes from the config: each built container's
`build.context` / `build.dockerfile`, the app's first port mapping, the endpoint port, the load
balancer's health check path and `pipeline.build.buildspec`.
"""

from __future__ import annotations

import json
from importlib import resources
from string import Template

from ecs_cicd.config import CodeCommitSource, Config, ConnectionSource, GitHubSource, S3Source
from ecs_cicd.errors import ConfigError
from ecs_cicd.render.deploy import (
    ACCOUNT_PLACEHOLDER,
    APPSPEC_FILE,
    IMAGE1_PLACEHOLDER,
    REGION_PLACEHOLDER,
    TAG_PLACEHOLDER,
    TASKDEF_FILE,
    Roles,
    container_roles,
    render_deploy_files,
    repo_path,
)

__all__ = ["NGINX_IMAGE", "PYTHON_IMAGE", "health_paths", "nginx_conf", "render_app_repository"]

# From ECR Public rather than Docker Hub: CodeBuild's shared addresses hit Docker Hub's pull limit.
PYTHON_IMAGE = "public.ecr.aws/docker/library/python:3.12-slim"
NGINX_IMAGE = "public.ecr.aws/nginx/nginx:stable-alpine"
_APP_HEALTH_PATH = "/health"


class _Template(Template):
    # `$` is everywhere in nginx.conf, shell and Dockerfiles; the templates use @@{name}.
    delimiter = "@@"


def _template(name: str, **values: object) -> str:
    text = resources.files("ecs_cicd.render").joinpath("templates", "app", name).read_text("utf-8")
    return _Template(text).substitute({k: str(v) for k, v in values.items()})


def health_paths(cfg: Config) -> list[str]:
    """The app's health routes: /health (the container health check's) and the target group's."""
    paths = [_APP_HEALTH_PATH]
    tg = cfg.load_balancer.health_check.path
    if tg not in paths and tg != "/":
        paths.append(tg)
    return paths


def _proxy_text(roles: Roles) -> str:
    if roles.app_is_endpoint:
        return "the load balancer only"
    return (
        f"the load balancer, then {roles.proxy.name if roles.proxy else 'the endpoint container'}"
    )


def nginx_conf(cfg: Config, *, listen_address: str | None = None) -> str:
    """nginx.conf of the proxy: listens on the endpoint port, proxies to the app on localhost.

    `listen_address` binds one address (tests use 127.0.0.1); the image listens on all of them.
    """
    roles = container_roles(cfg)
    if roles.proxy is None:
        raise ConfigError(
            "the pipeline builds no proxy in front of the app, so there is no nginx.conf to render",
            field="task.endpoint.container",
        )
    port = cfg.task.endpoint.port
    locations = "\n".join(
        f"    location = {path} {{\n"
        "        proxy_pass http://app;\n"
        "        access_log off;\n"
        "    }\n"
        for path in health_paths(cfg)
    )
    return _template(
        "nginx.conf.tmpl",
        container=roles.proxy.name,
        app_container=roles.app.name,
        app_port=roles.app_port,
        listen=f"{listen_address}:{port}" if listen_address else port,
        health_locations=locations,
    )


def _app_files(cfg: Config, roles: Roles) -> dict[str, str]:
    assert roles.app.build is not None
    ctx = roles.app.build.context
    message = json.dumps(f"Hello from {cfg.project} ({cfg.environment})")
    hops = roles.proxy_hops
    forwarded = ", ".join(["203.0.113.7", *(f"10.0.0.{5 + i}" for i in range(hops - 1))])
    paths = health_paths(cfg)
    proxy_text = _proxy_text(roles)
    via = (
        ""
        if roles.app_is_endpoint
        else f" (through {roles.proxy.name if roles.proxy else 'the proxy'})"
    )
    common = {"project": cfg.project, "message": message, "app_port": roles.app_port}
    return {
        repo_path(ctx, "app.py"): _template(
            "app.py.tmpl",
            **common,
            health_via=via,
            proxy_text=proxy_text,
            proxy_hops=hops,
            health_routes="\n".join(f"@app.get({json.dumps(p)})" for p in paths),
        ),
        repo_path(ctx, "tests", "test_app.py"): _template(
            "test_app.py.tmpl",
            **common,
            health_paths=json.dumps(paths),
            proxy_text=proxy_text,
            forwarded_for=json.dumps(forwarded),
        ),
        repo_path(ctx, "tests", "__init__.py"): "",
        repo_path(ctx, "requirements.txt"): _template("requirements.txt"),
        repo_path(ctx, "requirements-dev.txt"): _template("requirements-dev.txt"),
        repo_path(ctx, "pytest.ini"): _template("pytest.ini"),
        repo_path(ctx, ".dockerignore"): _dockerignore(cfg, roles),
        repo_path(roles.app.build.dockerfile): _template(
            "Dockerfile.tmpl",
            container=roles.app.name,
            python_image=PYTHON_IMAGE,
            app_port=roles.app_port,
            health_path=_APP_HEALTH_PATH,
        ),
    }


def _dockerignore(cfg: Config, roles: Roles) -> str:
    """Keep the app image to the app: no git data, tests, deploy files or other build contexts."""
    assert roles.app.build is not None
    ctx = repo_path(roles.app.build.context)
    lines = [
        "# What `docker build` of the app does not send (the build context is this folder).",
        ".git",
        ".gitignore",
        "**/__pycache__",
        "**/*.pyc",
        ".pytest_cache",
        ".venv",
        ".ecs_cicd",
        "tests/",
        "pytest.ini",
        "requirements-dev.txt",
        "README.md",
    ]
    if ctx == ".":
        lines += [
            repo_path(cfg.pipeline.build.buildspec),
            TASKDEF_FILE,
            APPSPEC_FILE,
            "imageDetail.json",
            repo_path(cfg.pipeline.deploy.file_name),
        ]
    for c in cfg.built_containers():
        other = repo_path(c.build.context) if c.build else "."
        if (
            c.name != roles.app.name
            and other != ctx
            and (ctx == "." or other.startswith(ctx + "/"))
        ):
            inside = other if ctx == "." else other[len(ctx) + 1 :]
            lines.append(f"{inside}/")
    return "\n".join(lines) + "\n"


def _proxy_files(cfg: Config, roles: Roles) -> dict[str, str]:
    if roles.proxy is None:
        return {}
    assert roles.proxy.build is not None
    return {
        repo_path(roles.proxy.build.context, "nginx.conf"): nginx_conf(cfg),
        repo_path(roles.proxy.build.dockerfile): _template(
            "nginx.Dockerfile.tmpl",
            container=roles.proxy.name,
            nginx_image=NGINX_IMAGE,
            listen_port=cfg.task.endpoint.port,
        ),
    }


def _other_files(roles: Roles) -> dict[str, str]:
    out = {}
    for c in roles.others:
        assert c.build is not None
        out[repo_path(c.build.dockerfile)] = _template(
            "other.Dockerfile.tmpl", container=c.name, image=c.image
        )
    return out


def render_app_repository(cfg: Config) -> dict[str, str]:
    """Path (relative to the repository root) -> text of every file of the app repository."""
    roles = container_roles(cfg)
    files: dict[str, str] = {}
    owners: dict[str, str] = {}
    groups = [
        (f"the app ({roles.app.name})", _app_files(cfg, roles)),
        (
            f"the proxy ({roles.proxy.name})" if roles.proxy else "the proxy",
            _proxy_files(cfg, roles),
        ),
        ("another built container", _other_files(roles)),
        ("the deploy files", render_deploy_files(cfg, examples=False)),
        ("the repository", {".gitignore": _template("gitignore")}),
    ]
    for owner, group in groups:
        for path, text in group.items():
            if path in files:
                raise ConfigError(
                    f"{path} would be written for both {owners[path]} and {owner}",
                    field="task.containers[].build",
                    hint="give each built container its own build.dockerfile / build.context",
                )
            files[path] = text
            owners[path] = owner
    files["README.md"] = _readme(cfg, roles, sorted(files))
    return files


# --- README.md ----------------------------------------------------------------------------------
def _trigger(cfg: Config) -> str:
    src = cfg.pipeline.source
    if isinstance(src, GitHubSource):
        how = (
            "a GitHub webhook starts the pipeline at once"
            if src.webhook
            else "CodePipeline polls GitHub and starts within minutes"
        )
        return f"Push to branch `{src.branch}` of github.com/{src.owner}/{src.repo}: {how}."
    if isinstance(src, ConnectionSource):
        how = "the connection starts the pipeline" if src.detect_changes else "start it by hand"
        return f"Push to branch `{src.branch}` of `{src.repository}` (CodeStar connection): {how}."
    if isinstance(src, CodeCommitSource):
        return (
            f"Push to branch `{src.branch}` of the CodeCommit repository `{src.repository}`: "
            "CodePipeline polls it and starts within minutes."
        )
    assert isinstance(src, S3Source)
    return (
        f"Upload a zip of this repository to `s3://{src.bucket}/{src.key}` (versioning on): "
        "CodePipeline polls the object and starts within minutes."
    )


def _describe(path: str, cfg: Config, roles: Roles) -> str:
    name = path.rsplit("/", 1)[-1]
    app, proxy = roles.app, roles.proxy
    buildspec = repo_path(cfg.pipeline.build.buildspec)
    known = {
        "app.py": "the Flask app: `/` (JSON: message, version, host, scheme, client_ip) and "
        + ", ".join(f"`{p}`" for p in health_paths(cfg)),
        "test_app.py": "the app's tests (Flask's test client); the Build stage runs them",
        "__init__.py": "makes `tests` a package",
        "requirements.txt": "the app's dependencies (Flask, gunicorn; majors pinned)",
        "requirements-dev.txt": "what the tests need on top (pytest)",
        "pytest.ini": "pytest settings: tests in `tests/`, the app importable",
        ".dockerignore": "what the app image leaves out",
        ".gitignore": "what git leaves out",
        "nginx.conf": f"nginx: port {cfg.task.endpoint.port} -> the app on localhost:"
        f"{roles.app_port}; forwarding headers; health checks passed through",
        TASKDEF_FILE: "the task definition CodeDeploy registers for each deployment "
        '(see "Blue/green" above)',
        APPSPEC_FILE: "tells CodeDeploy which container and port take the traffic",
    }
    if path == buildspec:
        return "what CodeBuild runs: test, build and push the images, write the deploy files"
    if app.build and path == repo_path(app.build.dockerfile):
        return f"the `{app.name}` image: gunicorn on port {roles.app_port}, non-root, HEALTHCHECK"
    if proxy and proxy.build and path == repo_path(proxy.build.dockerfile):
        return f"the `{proxy.name}` image: nginx with nginx.conf"
    for c in roles.others:
        if c.build and path == repo_path(c.build.dockerfile):
            return f"placeholder for `{c.name}`: rebuilds its configured image `{c.image}`"
    return known.get(name, "")


def _readme(cfg: Config, roles: Roles, paths: list[str]) -> str:
    deploy = cfg.pipeline.deploy
    blue_green = deploy.strategy == "blue_green"
    app, proxy = roles.app, roles.proxy
    assert app.build is not None
    ctx = repo_path(app.build.context)
    cd = "" if ctx == "." else f"cd {ctx}\n"
    buildspec = repo_path(cfg.pipeline.build.buildspec)
    out = [
        f"# {cfg.project}",
        "",
        f"The app of the `{cfg.stack}` stack, scaffolded by `python -m ecs_cicd init` from its "
        "config. The stack itself (cluster, load balancer, ECR repositories, pipeline) is made by "
        "`python -m ecs_cicd up -c <config>`.",
        "",
        "## How a change is deployed",
        "",
        _trigger(cfg),
        "",
        "1. **Source**: CodePipeline zips the repository into its S3 artifact bucket.",
        f"2. **Build**: CodeBuild runs `{buildspec}`: logs in to ECR, tags the images with the "
        "commit's first 7 characters, runs the app's tests, builds and pushes "
        + ", ".join(f"`{c.name}`" for c in cfg.built_containers())
        + " (that tag and `latest`), and writes "
        + (
            "`imageDetail.json` (the app's new image), `taskdef.json` and `appspec.yaml`."
            if blue_green
            else f"`{deploy.file_name}` (each container's new image)."
        ),
        "3. **Deploy**: "
        + (
            "CodeDeploy starts a new (green) task set with the new task definition, moves the "
            "load balancer's traffic to it and stops the old (blue) one."
            if blue_green
            else "ECS copies the service's task definition, swaps in the new images and rolls the "
            "service over to it."
        ),
        "",
        "CodePipeline also runs once when the pipeline is created, so the first deploy happens "
        "without a push.",
        "",
        "## The containers",
        "",
    ]
    if proxy is not None:
        out.append(
            f"The load balancer sends traffic to `{proxy.name}`"
            + ("" if proxy.name == "nginx" else " (nginx)")
            + " on port "
            f"{cfg.task.endpoint.port}; it proxies to `{app.name}` (the Flask app, gunicorn) on "
            f"localhost:{roles.app_port}: the containers of one Fargate task share one network "
            f"namespace. `{cfg.load_balancer.health_check.path}` goes through nginx to the app, so "
            "the target group's health check tests the whole chain."
        )
    elif roles.app_is_endpoint:
        out.append(
            f"The pipeline builds one container, `{app.name}`, which is also the load balancer's "
            f"endpoint: the Flask app (gunicorn) takes the traffic itself on port "
            f"{roles.app_port}. No nginx is generated."
        )
    else:
        out.append(
            f"The load balancer's endpoint `{cfg.task.endpoint.container}` is not built by the "
            "pipeline (its image comes from the config), so no nginx is generated here; it must "
            f"forward to `{app.name}` (the Flask app) on localhost:{roles.app_port}."
        )
    for c in roles.others:
        out += [
            "",
            f"`{c.name}` is built too; its Dockerfile is a placeholder rebuilding `{c.image}`.",
        ]
    if blue_green:
        others = [c.name for c in cfg.built_containers() if c.name != app.name]
        out += [
            "",
            "## Blue/green: taskdef.json and the images",
            "",
            f"CodeDeploy puts the new image of `{app.name}` where taskdef.json says "
            f"`<{IMAGE1_PLACEHOLDER}>` (from imageDetail.json); it substitutes one image per "
            "artifact, so the buildspec pins the others itself: "
            + (
                ", ".join(f"`{n}`" for n in others)
                + (" names its" if len(others) == 1 else " name their")
                + f" ECR repository with the tag `{TAG_PLACEHOLDER}`, which post_build "
                "replaces with this build's tag. Each deployment, and a rollback, thus runs "
                "exactly the images built together. "
                if others
                else ""
            )
            + f"post_build also fills in `{ACCOUNT_PLACEHOLDER}` and `{REGION_PLACEHOLDER}` "
            "from CodeBuild's variables and fails if any other `<...>` is left. Change the task "
            "(ports, health checks, environment) in the ecs_cicd config and run "
            "`python -m ecs_cicd render` to regenerate taskdef.json and appspec.yaml.",
        ]
    out += [
        "",
        "## Run it locally",
        "",
        "```sh",
        f"{cd}python3 -m venv .venv && . .venv/bin/activate",
        "pip install -r requirements-dev.txt",
        "python -m pytest",
        f"flask --app app run --port {roles.app_port}    # then open http://127.0.0.1:{roles.app_port}/",
        "```",
        "",
        "Or the image the pipeline builds:",
        "",
        "```sh",
        f"docker build -t {app.name} -f {repo_path(app.build.dockerfile)} {ctx}",
        f"docker run --rm -p {roles.app_port}:{roles.app_port} {app.name}",
        "```",
        "",
        "To run the whole task as on Fargate (every container in one network namespace, with "
        "its start order and health checks), see `python -m ecs_cicd local compose --help`.",
        "",
        "## Files",
        "",
    ]
    for path in [*paths, "README.md"]:
        text = "this file" if path == "README.md" else _describe(path, cfg, roles)
        out.append(f"- `{path}`" + (f": {text}" if text else ""))
    return "\n".join(out) + "\n"
