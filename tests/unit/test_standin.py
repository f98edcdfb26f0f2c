"""The stand-in entry point really runs: in an image without the command's program (the initial
image) it serves 200 on every path of the port; with the program (a built image) it runs the
command itself. Real /bin/sh and python3, no container."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

from ecs_cicd.config import parse_config
from ecs_cicd.errors import ConfigError
from ecs_cicd.standin import entry_point
from tests.conftest import EXAMPLE

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(port: int, path: str) -> tuple[int, bytes]:
    with _OPENER.open(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return int(r.status), bytes(r.read())


def test_initial_image_serves_every_path() -> None:
    port = free_port()
    argv = [*entry_point(port), "no-such-program-xyz", "--bind", "0.0.0.0:1"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                status, body = get(port, "/health")
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 200 and b"stand-in" in body
        assert get(port, "/")[0] == 200
        assert get(port, "/any/path?x=1")[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_built_image_runs_the_command() -> None:
    argv = [*entry_point(5000), "echo", "built", "image"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)
    assert out.stdout == "built image\n"


def test_example_uses_the_stand_in_for_both_containers() -> None:
    cfg = parse_config(yaml.safe_load(EXAMPLE.read_text()), check_env=False)
    defs = {c.name: c.to_ecs() for c in cfg.container_definitions()}
    assert defs["nginx"]["entryPoint"] == entry_point(80)
    assert defs["nginx"]["command"][0] == "nginx"
    assert defs["app"]["entryPoint"] == entry_point(5000)
    assert defs["app"]["command"][0] == "gunicorn"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"command": None}, "stand_in needs command"),
        ({"command": ["python3", "app.py"]}, "the initial image has it too"),
        ({"entry_point": ["/init"]}, "remove entry_point"),
        ({"port_mappings": []}, "needs a port mapping"),
    ],
)
def test_stand_in_misuse_is_refused(change: dict[str, object], fragment: str) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    app = next(c for c in data["task"]["containers"] if c["name"] == "app")
    app.update(change)
    app = {k: v for k, v in app.items() if v is not None}
    data["task"]["containers"] = [
        app if c["name"] == "app" else c for c in data["task"]["containers"]
    ]
    with pytest.raises(ConfigError) as e:
        parse_config(data, check_env=False)
    assert fragment in str(e.value) and "task.containers[1]" in str(e.value)
