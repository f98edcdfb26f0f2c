"""The README's library example runs as written (against in-process moto)."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import EXAMPLE, ROOT


def library_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Library API", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "README's Library API section has no python block"
    return found.group(1)


def test_readme_library_example_runs(
    mock: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(EXAMPLE, tmp_path / "ecs_cicd.yaml")
    monkeypatch.chdir(tmp_path)
    real = boto3.Session

    def session(profile_name: str | None = None, **kwargs: Any) -> boto3.Session:
        # The example names a profile of yours; the test has none (and must not read one).
        assert profile_name == "dev"
        return real(region_name="ap-northeast-1", **kwargs)

    monkeypatch.setattr(boto3, "Session", session)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(library_example(), "README.md (Library API)", "exec"), {})
    printed = out.getvalue().splitlines()
    assert printed[0].startswith("http://") and int(printed[0].split()[1]) > 40
    assert any(line.startswith("service unchanged") for line in printed)
    assert printed[-1] == printed[0].split()[0]  # outputs(...).outputs["url"]: the same URL
    assert not (tmp_path / ".ecs_cicd" / "dev.json").exists()  # down removed the state
