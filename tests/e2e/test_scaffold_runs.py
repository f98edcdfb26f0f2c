"""The scaffold really runs: `init` writes the repository, its Flask app serves, and a real nginx
with the generated nginx.conf proxies to it (forwarding headers, /health through the chain).

Only the ports differ from production: the config is given free ports, so the generated template
itself is what runs. nginx listens on 127.0.0.1 only (`nginx_conf(listen_address=...)`, the
one line that differs from the committed file, checked below); a test-only wrapper supplies what
the nginx image's main config would (pid, logs, temp paths under tmp_path).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecs_cicd.config import load_config
from ecs_cicd.render.app import nginx_conf
from tests.conftest import EXAMPLE, ROOT

pytestmark = pytest.mark.e2e

HOST = "127.0.0.1"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if found is None:
        message = (
            "nginx is not installed (scripts/system-deps installs it: apt-get install -y nginx)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", headers=headers or {})
    try:
        with _OPENER.open(request, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(port: int, path: str, procs: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                pytest.fail(
                    f"{p.args!r} exited {p.returncode}:\n"
                    + "\n".join(
                        log.read_text(encoding="utf-8", errors="replace")
                        for log in logs
                        if log.exists()
                    )
                )
        try:
            if get(port, path)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"nothing answered 200 on {HOST}:{port}{path}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def ports() -> tuple[int, int]:
    nginx_port, app_port = free_port(), free_port()
    while app_port == nginx_port:
        app_port = free_port()
    return nginx_port, app_port


@pytest.fixture
def scaffold(tmp_path: Path, ports: tuple[int, int]) -> Path:
    """`init` (the real CLI, in a subprocess) for the example config on the test's ports."""
    nginx_port, app_port = ports
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["task"]["endpoint"]["port"] = nginx_port
    nginx, app = data["task"]["containers"]
    nginx["port_mappings"] = [{"container_port": nginx_port}]
    app["port_mappings"] = [{"container_port": app_port}]
    config = tmp_path / "ecs_cicd.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    repo = tmp_path / "repo"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "ecs_cicd", "init", str(repo), "-c", str(config)],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return repo


@pytest.fixture
def running(tmp_path: Path, scaffold: Path, ports: tuple[int, int]) -> Iterator[dict[str, Any]]:
    """The generated app (`python -m flask run`) and nginx in front of it, stopped afterwards."""
    nginx_port, app_port = ports
    binary = nginx_binary()
    cfg = load_config(tmp_path / "ecs_cicd.yaml", check_env=False)
    committed = (scaffold / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    site = nginx_conf(cfg, listen_address=HOST)
    assert site == committed.replace(f"listen {nginx_port};", f"listen {HOST}:{nginx_port};")
    assert site != committed

    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "site.conf").write_text(site, encoding="utf-8")
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / ('tmp-' + kind)};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    wrapper = prefix / "wrapper.conf"
    wrapper.write_text(
        f"worker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'logs' / 'error.log'} info;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n    access_log {prefix / 'logs' / 'access.log'};\n{temp}\n"
        f"    include {prefix / 'site.conf'};\n}}\n",
        encoding="utf-8",
    )
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    nginx_cmd = [
        binary,
        "-p",
        str(prefix),
        "-c",
        str(wrapper),
        "-e",
        str(prefix / "logs" / "error.log"),
    ]
    check = subprocess.run(
        [*nginx_cmd, "-g", directives, "-t"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr

    app_log = tmp_path / "app.log"
    nginx_log = prefix / "logs" / "error.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with app_log.open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "flask",
                        "--app",
                        "app",
                        "run",
                        "--host",
                        HOST,
                        "--port",
                        str(app_port),
                    ],
                    cwd=scaffold,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        wait_for(app_port, "/health", procs, [app_log])
        procs.append(
            subprocess.Popen(
                [*nginx_cmd, "-g", directives], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
        wait_for(nginx_port, "/health", procs, [app_log, nginx_log])
        yield {"app": procs[0], "nginx": procs[1], "port": nginx_port, "prefix": prefix}
    finally:
        for proc in reversed(procs):
            stop(proc)


def test_a_request_through_nginx_reaches_the_app(running: dict[str, Any]) -> None:
    status, body = get(
        running["port"],
        "/",
        {
            "Host": "shop.example.test",
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
        },
    )
    assert status == 200
    doc = json.loads(body)
    assert doc["message"] == "Hello from test-codepipeline (dev)"
    assert doc["host"] == "shop.example.test"  # nginx passed Host
    assert doc["scheme"] == "https"  # ... X-Forwarded-Proto from the load balancer
    # ... and appended its peer to X-Forwarded-For: the app, trusting two hops, sees the client.
    assert doc["client_ip"] == "203.0.113.9"


def test_without_a_load_balancer_nginx_supplies_the_scheme(running: dict[str, Any]) -> None:
    status, body = get(running["port"], "/")
    assert status == 200
    assert json.loads(body)["scheme"] == "http"


def test_health_answers_through_nginx_and_tests_the_whole_chain(running: dict[str, Any]) -> None:
    status, body = get(running["port"], "/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    access = running["prefix"] / "logs" / "access.log"
    get(running["port"], "/")
    # nginx writes the line in its log phase, after the response went out: allow it a moment.
    deadline = time.monotonic() + 5
    while "GET / " not in access.read_text(encoding="utf-8") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "GET / " in access.read_text(encoding="utf-8")
    assert "/health" not in access.read_text(encoding="utf-8")  # health checks are not logged
    stop(running["app"])
    status, _ = get(running["port"], "/health")
    assert status == 502  # the app is down: the target group sees the task unhealthy
