"""``EmulatorServer``: moto's HTTP server with our patches and middleware, on 127.0.0.1.

Runs in a background thread of the calling process (the embedded ``--emulator`` mode and the
e2e tests), or in the foreground via ``serve()`` (``python -m ecs_cicd emulator``). Binds the
loopback address unless told otherwise (``serve()`` warns on any other); port 0 picks a free port.
The test control plane (call log, fault and error injection, crash hook; see ``middleware``) is
off unless ``control=True``. ``pacing`` (``pacing.Pacing``) makes it answer as slowly as AWS's
slow parts while it runs; the default answers at once.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
import threading
import time
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ecs_cicd.emulator import pacing as pacing_mod
from ecs_cicd.emulator.middleware import EmulatorMiddleware
from ecs_cicd.emulator.pacing import Pacing
from ecs_cicd.emulator.patches import install

DEFAULT_HOST = "127.0.0.1"
# Not 5000: the example app (and Flask's default) listens there, as does macOS's AirPlay.
DEFAULT_PORT = 4455
# The region the export lines suggest; a config's `region` wins over it.
EXPORT_REGION = "us-east-1"


class _QuietHandler(WSGIRequestHandler):
    """No per-request access log on stderr (the CLI prints its own progress)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _moto_app() -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


class EmulatorServer:
    """The emulator as a context manager::

    with EmulatorServer() as emulator:
        boto3.client("ecs", endpoint_url=emulator.endpoint_url, ...)
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        pipeline_seconds: float | None = None,
        control: bool = False,
        pacing: Pacing | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.pipeline_seconds = pipeline_seconds
        self.control = control
        self.pacing = pacing
        self._previous_pacing: Pacing | None = None
        self.middleware: EmulatorMiddleware | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("EmulatorServer is not started")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> EmulatorServer:
        if self._server is not None:
            return self
        install()
        if self.pipeline_seconds is not None:
            from ecs_cicd.emulator.codepipeline import PIPELINE_SECONDS_ENV

            os.environ[PIPELINE_SECONDS_ENV] = str(self.pipeline_seconds)
        if self.pacing is not None:
            # Process-wide, as moto's backends are; put back on stop().
            self._previous_pacing = pacing_mod.configure(self.pacing)
        self.middleware = EmulatorMiddleware(_moto_app(), control=self.control)
        self._server = make_server(
            self.host, self.port, self.middleware, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ecs-cicd-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
        if self._previous_pacing is not None:
            pacing_mod.configure(self._previous_pacing)
            self._previous_pacing = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _stop_on_signals() -> None:
    """SIGINT and SIGTERM stop ``serve()`` cleanly.

    A process started in the background by a non-interactive shell inherits SIGINT ignored, and
    Python then never raises KeyboardInterrupt; restore it, and treat SIGTERM the same way.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def exposure_warning(host: str, *, control: bool = False) -> str | None:
    """The warning ``serve()`` prints before binding ``host``, or None for a loopback address."""
    if is_loopback(host):
        return None
    warning = (
        f"warning: the emulator is listening on {host}, not a loopback address: anyone who can "
        "reach it can read and change everything it holds, without credentials"
    )
    if control:
        warning += "; its test control plane (/_ecs_cicd/: fault injection, crash hook) is on too"
    return warning


def export_lines(endpoint_url: str) -> str:
    """What to paste into another shell so the CLI (and any AWS SDK) talks to this emulator: the
    endpoint, dummy credentials (never your real ones) and a region."""
    return "\n".join(
        [
            "# in another shell, point ecs_cicd (and any AWS SDK or CLI) at this emulator:",
            f"export AWS_ENDPOINT_URL={endpoint_url}",
            "export AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator",
            f"export AWS_REGION={EXPORT_REGION}  # the config's region, when it has one, wins",
            "unset AWS_PROFILE AWS_SESSION_TOKEN",
        ]
    )


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    control: bool = False,
    pacing: Pacing | None = None,
) -> None:
    """Serve the emulator in the foreground until KeyboardInterrupt (SIGINT) or SIGTERM.

    ``control`` switches on the test control plane under ``/_ecs_cicd/``; off by default. A
    ``host`` other than a loopback address gets a warning on stderr. ``pacing``: see
    ``pacing.Pacing``.
    """
    warning = exposure_warning(host, control=control)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    _stop_on_signals()
    server = EmulatorServer(host, port, control=control, pacing=pacing)
    try:
        server.start()
        plane = ", test control plane on /_ecs_cicd/" if control else ""
        paced = f", pacing {pacing.describe()}" if pacing is not None and not pacing.off else ""
        print(
            f"ecs_cicd emulator listening on {server.endpoint_url}{plane}{paced} (Ctrl-C to stop)",
            flush=True,
        )
        print(export_lines(server.endpoint_url), flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
