"""The state file: one versioned JSON document per stack, written atomically after every change,
guarded by an advisory lock, mode 0600, holding no secret values.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ecs_cicd.errors import StackLocked, StateError
from ecs_cicd.files import write_atomically

SCHEMA_VERSION = 1


@dataclass
class Record:
    """One resource the stack created (owned) or only references (owned=False)."""

    logical_id: str
    kind: str
    physical_id: str
    arn: str | None = None
    owned: bool = True
    outputs: dict[str, Any] = field(default_factory=dict)
    # For kinds with `settings_reads`: the fingerprint of the desired resource whose settings
    # were last verified on AWS (read back equal, or set by this tool); "" when not verified.
    verified: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        return cls(
            logical_id=d["logical_id"],
            kind=d["kind"],
            physical_id=d["physical_id"],
            arn=d.get("arn"),
            owned=d.get("owned", True),
            outputs=dict(d.get("outputs", {})),
            verified=str(d.get("verified", "")),
        )


def default_state_path(
    project: str,
    environment: str,
    region: str,
    base: str | Path = ".",
    *,
    emulator: bool = False,
) -> Path:
    """`<base>/.ecs_cicd/<project>-<environment>-<region>.json`; `base` is the config file's
    folder (Config.base_dir), so the same config finds the same state from any folder. The
    embedded emulator's (`--emulator`) goes under `.ecs_cicd/emulator/`, apart from AWS's."""
    folder = Path(base) / ".ecs_cicd"
    if emulator:
        folder = folder / "emulator"
    return folder / f"{project}-{environment}-{region}.json"


class State:
    """The records of one stack, persisted to `path` after every change (thread-safe)."""

    def __init__(
        self,
        path: Path,
        *,
        stack: str,
        region: str,
        account: str | None = None,
        persist: bool = True,
    ) -> None:
        self.path = path
        self.persist = persist
        self.stack = stack
        self.region = region
        self.account = account
        self.records: dict[str, Record] = {}
        self._lock = threading.Lock()

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path, *, stack: str, region: str) -> State:
        """Read the file if it exists; a missing file is an empty state. Never overwrites a bad file."""
        state = cls(path, stack=stack, region=region)
        if not path.exists():
            return state
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise StateError(
                f"state file {path} is corrupt ({e}); it was left untouched",
                hint="move it aside and run `python -m ecs_cicd state recover` to rebuild it from tags",
            ) from None
        if not isinstance(doc, dict) or "schema_version" not in doc:
            raise StateError(
                f"state file {path} is not an ecs_cicd state file; it was left untouched"
            )
        if doc["schema_version"] != SCHEMA_VERSION:
            raise StateError(
                f"state file {path} has schema_version {doc['schema_version']!r}; this ecs_cicd "
                f"reads version {SCHEMA_VERSION}. It was left untouched",
                hint="use the ecs_cicd version that wrote it",
            )
        if doc.get("stack") != stack or doc.get("region") != region:
            raise StateError(
                f"state file {path} belongs to stack {doc.get('stack')!r} in {doc.get('region')!r}, "
                f"not {stack!r} in {region!r}",
                hint="pass --state with the right file",
            )
        state.account = doc.get("account")
        try:
            state.records = {k: Record.from_dict(v) for k, v in doc.get("resources", {}).items()}
        except (KeyError, TypeError, AttributeError) as e:
            raise StateError(
                f"state file {path} is corrupt (bad record: {e}); it was left untouched"
            ) from None
        return state

    # -- access ------------------------------------------------------------------------------
    def get(self, logical_id: str) -> Record | None:
        with self._lock:
            return self.records.get(logical_id)

    def put(self, record: Record) -> None:
        with self._lock:
            self.records[record.logical_id] = record
            self._write()

    def remove(self, logical_id: str) -> None:
        with self._lock:
            if self.records.pop(logical_id, None) is not None:
                self._write()

    def save(self) -> None:
        with self._lock:
            self._write()

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "stack": self.stack,
            "region": self.region,
            "account": self.account,
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "resources": {k: asdict(v) for k, v in sorted(self.records.items())},
        }

    def scratch_copy(self) -> State:
        """An in-memory copy that never touches the file (plan, status, recovery scans)."""
        copy = State(
            self.path, stack=self.stack, region=self.region, account=self.account, persist=False
        )
        copy.records = dict(self.records)
        return copy

    def _write(self) -> None:
        """Atomic replace (files.write_atomically), mode 0600."""
        if not self.persist:
            return
        write_atomically(self.path, json.dumps(self.to_dict(), indent=2) + "\n", mode=0o600)

    def delete_file(self) -> None:
        with self._lock, contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@contextlib.contextmanager
def stack_lock(state_path: Path, command: str) -> Iterator[None]:
    """Advisory lock on `<state>.lock`; a second holder fails at once naming the first (exit 3)."""
    state_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = state_path.with_name(state_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            raise StackLocked(
                f"the stack is locked by {holder}",
                hint=f"wait for it to finish (lock file {lock_path})",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            f"`{command}` (pid {os.getpid()} on {socket.gethostname()}, since "
            f"{time.strftime('%H:%M:%S')})".encode(),
            0,
        )
        yield
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)
