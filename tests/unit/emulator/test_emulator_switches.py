"""The emulator's switches: the control plane is opt-in, a non-loopback host warns, and a
missing ``emulator`` extra is a clear error rather than a bare ModuleNotFoundError."""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Any

import pytest

from ecs_cicd.emulator import server
from ecs_cicd.errors import EcsCicdError, MissingExtra
from tests.conftest import ROOT


class _FakeServer:
    """Stands in for EmulatorServer: records how serve() built it, stops at once."""

    built: list[dict[str, Any]] = []

    def __init__(self, host: str, port: int, *, control: bool = False, pacing: Any = None) -> None:
        self.built.append({"host": host, "port": port, "control": control, "pacing": pacing})
        self.endpoint_url = f"http://{host}:{port}"

    def start(self) -> _FakeServer:
        raise KeyboardInterrupt  # as if Ctrl-C came right away

    def stop(self) -> None:
        return None


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    _FakeServer.built = []
    monkeypatch.setattr(server, "EmulatorServer", _FakeServer)
    # serve() installs SIGINT/SIGTERM handlers; leave pytest's alone.
    monkeypatch.setattr(server, "_stop_on_signals", lambda: None)
    return _FakeServer.built


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1"])
def test_loopback_hosts_do_not_warn(
    host: str, fake_server: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert server.exposure_warning(host) is None
    server.serve(host, 0)
    assert capsys.readouterr().err == ""
    assert fake_server == [{"host": host, "port": 0, "control": False, "pacing": None}]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "emulator.local"])
def test_a_non_loopback_host_warns(
    host: str, fake_server: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    server.serve(host, 0)
    err = capsys.readouterr().err
    assert err.startswith(f"warning: the emulator is listening on {host}, not a loopback address")
    assert "control plane" not in err
    server.serve(host, 0, control=True)
    assert "test control plane (/_ecs_cicd/: fault injection, crash hook) is on" in (
        capsys.readouterr().err
    )
    assert [b["control"] for b in fake_server] == [False, True]


def test_serve_passes_its_pacing_to_the_server(fake_server: list[dict[str, Any]]) -> None:
    from ecs_cicd.emulator import Pacing

    server.serve("127.0.0.1", 0, pacing=Pacing(latency_ms=50))
    assert [b["pacing"] for b in fake_server] == [Pacing(latency_ms=50)]


def test_serve_and_the_server_default_to_no_control_plane() -> None:
    assert server.EmulatorServer().control is False
    assert inspect.signature(server.serve).parameters["control"].default is False


def test_missing_extra_names_what_to_install() -> None:
    error = MissingExtra("the emulator", "emulator", ["moto", "flask"])
    assert isinstance(error, EcsCicdError) and isinstance(error, ImportError)
    assert str(error) == (
        "the emulator needs the optional extra 'emulator' (missing: moto, flask)"
        " — install it with: pip install 'ecs_cicd[emulator]'"
    )


def test_importing_the_emulator_without_moto_says_which_extra_to_install() -> None:
    # A fresh interpreter in which moto cannot be found, as after `pip install ecs_cicd`.
    code = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'moto' else real(name, *a)\n"
        "from ecs_cicd.errors import MissingExtra\n"
        "try:\n"
        "    import ecs_cicd.emulator\n"
        "except MissingExtra as exc:\n"
        "    print(exc)\n"
        "    sys.exit(exc.exit_code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'ecs_cicd[emulator]'" in proc.stdout
    assert "missing: moto" in proc.stdout
