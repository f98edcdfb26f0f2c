"""State file: atomic, 0600, versioned, never overwritten when unreadable; the stack lock."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ecs_cicd.errors import StackLocked, StateError
from ecs_cicd.state import SCHEMA_VERSION, Record, State, stack_lock


def test_round_trip_and_mode(tmp_path: Path) -> None:
    p = tmp_path / "s" / "state.json"
    s = State(p, stack="a-dev", region="eu-west-1", account="1")
    s.put(Record("vpc", "vpc", "vpc-1", outputs={"cidr": "10.0.0.0/16"}))
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    doc = json.loads(p.read_text())
    assert (
        doc["schema_version"] == SCHEMA_VERSION
        and doc["resources"]["vpc"]["physical_id"] == "vpc-1"
    )
    again = State.load(p, stack="a-dev", region="eu-west-1")
    assert again.get("vpc") == s.get("vpc")
    assert [f.name for f in p.parent.iterdir()] == ["state.json"]  # no temp files left


def test_corrupt_file_is_left_untouched(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    p.write_text("{not json")
    with pytest.raises(StateError, match="corrupt"):
        State.load(p, stack="a-dev", region="eu-west-1")
    assert p.read_text() == "{not json"


def test_unknown_schema_version(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    p.write_text(json.dumps({"schema_version": 99, "stack": "a-dev", "region": "eu-west-1"}))
    with pytest.raises(StateError, match="schema_version 99"):
        State.load(p, stack="a-dev", region="eu-west-1")
    assert json.loads(p.read_text())["schema_version"] == 99


def test_other_stack_refused(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    State(p, stack="b-dev", region="eu-west-1").save()
    with pytest.raises(StateError, match="belongs to stack 'b-dev'"):
        State.load(p, stack="a-dev", region="eu-west-1")


def test_scratch_copy_never_writes(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    s = State(p, stack="a-dev", region="eu-west-1")
    s.scratch_copy().put(Record("vpc", "vpc", "vpc-1"))
    assert not p.exists()


def test_second_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    code = (
        "import sys, time; from pathlib import Path; from ecs_cicd.state import stack_lock\n"
        f"with stack_lock(Path({str(p)!r}), 'up'):\n    print('locked', flush=True); time.sleep(30)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(StackLocked, match=rf"`up` \(pid {holder.pid}") as e,
            stack_lock(p, "down"),
        ):
            pass
        assert e.value.exit_code == 3
    finally:
        holder.kill()
        holder.wait()
    with stack_lock(p, "down"):  # released when the holder died
        pass
