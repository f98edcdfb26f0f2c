"""Drive the real CLI through a whole cycle against the embedded emulator (see scripts/demo)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config.example.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: dict[str, str], capture: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "ecs_cicd", *args]
    print(f"\n$ python -m ecs_cicd {' '.join(args)}", flush=True)
    proc = subprocess.run(cmd, env=env, text=True, capture_output=capture, cwd=ROOT, check=False)
    if capture:
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        if capture:
            sys.stdout.write(proc.stdout)
        sys.exit(f"demo: `{' '.join(args)}` exited {proc.returncode}")
    return proc


def main() -> int:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_ENDPOINT_URL": endpoint,
        "GITHUB_TOKEN": os.environ.get("GITHUB_TOKEN", "demo-token-for-the-emulator"),
    }
    env.pop("AWS_PROFILE", None)
    os.environ.update(
        {k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
    )
    os.environ.pop("AWS_PROFILE", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "ecs_cicd", "emulator", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            # Any HTTP answer, error or not, means it is listening.
            try:
                urllib.request.urlopen(f"{endpoint}/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit("demo: the emulator did not start")
        print(f"emulator listening on {endpoint}")
        with tempfile.TemporaryDirectory() as tmp:
            state = ["-c", str(CONFIG), "--state", str(Path(tmp) / "state.json")]
            t0 = time.monotonic()
            cli("up", *state, env=env)
            t_up = time.monotonic() - t0
            cli("status", *state, env=env)
            again = cli("up", *state, "--output", "json", env=env, capture=True)
            second = json.loads(again.stdout)
            changed = [r for r in second["resources"] if r["action"] != "unchanged"]
            print(
                f"second up: {len(second['resources'])} resources, {len(changed)} changed, "
                f"{second['calls']['mutating']} mutating API calls"
            )
            if changed or second["calls"]["mutating"]:
                sys.exit(f"demo: the second up changed something: {changed or second['calls']}")
            t0 = time.monotonic()
            cli("down", *state, "--yes", env=env)
            t_down = time.monotonic() - t0
        from ecs_cicd.aws import Aws
        from ecs_cicd.inventory import inventory, non_empty

        left = non_empty(
            inventory(
                Aws(region="ap-northeast-1", endpoint_url=endpoint), prefix="test-codepipeline"
            )
        )
        if left:
            sys.exit(f"demo: down left resources behind: {left}")
        print(
            f"\ndemo ok: up {t_up:.1f}s, down {t_down:.1f}s; nothing of the stack is left in the emulator"
        )
        return 0
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
