"""The embedded AWS emulator: moto's HTTP server plus what moto lacks or answers unlike AWS.

``install()`` patches moto in-process (for ``mock_aws`` tests too); ``EmulatorServer`` serves it
on 127.0.0.1; ``serve()`` blocks (``python -m ecs_cicd emulator``); ``Pacing`` slows it down to AWS's pace. The test control plane (call
log, fault injection, crash hook) is off unless asked for with ``control=True``.

This package needs the ``emulator`` extra (moto's server); importing it without raises
``MissingExtra`` naming what to install, never a bare ModuleNotFoundError.
"""

import importlib.util

from ecs_cicd.errors import MissingExtra

# What `pip install 'ecs_cicd[emulator]'` (moto[server]) brings that this package imports.
_EXTRA_MODULES = ("moto", "werkzeug", "flask", "flask_cors")


def _require_extra() -> None:
    missing = [name for name in _EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra("the emulator", "emulator", missing)


_require_extra()

from ecs_cicd.emulator.pacing import REALISTIC, Pacing  # noqa: E402
from ecs_cicd.emulator.patches import install  # noqa: E402
from ecs_cicd.emulator.server import EmulatorServer, serve  # noqa: E402

__all__ = ["REALISTIC", "EmulatorServer", "Pacing", "install", "serve"]
