"""The embedded AWS emulator: moto's HTTP server plus what moto lacks or answers unlike AWS.

``install()`` patches moto in-process (for ``mock_aws`` tests too); ``EmulatorServer`` serves it
on 127.0.0.1 with a call log and fault injection; ``serve()`` blocks (``python -m ecs_cicd
emulator``).
"""

from ecs_cicd.emulator.patches import install
from ecs_cicd.emulator.server import EmulatorServer, serve

__all__ = ["EmulatorServer", "install", "serve"]
