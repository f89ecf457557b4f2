"""Starting, waiting for and stopping the real Dagster processes the end-to-end tests run."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STOP_TIMEOUT_SECONDS = 60
"""How long a server may take to stop on SIGTERM before its processes are killed: on a loaded
2-core machine `dagster dev` has been seen to miss the signal and keep serving."""


def next_minute_cron(lead_seconds: int = 50) -> str:
    """A daily cron firing at the first whole minute at least `lead_seconds` from now (UTC)."""
    at = (datetime.now(UTC) + timedelta(seconds=lead_seconds + 60)).replace(second=0, microsecond=0)
    return f"{at.minute} {at.hour} * * *"


def wait_until(condition, timeout: float, what: str, *logs: Path):
    """`condition()`'s first truthy result, polled every second; fails the test with the end of
    each log after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(1)
    said = "\n".join(
        f"--- {log.name}\n{log.read_text()[-3000:] if log.exists() else '(not written yet)'}" for log in logs
    )
    pytest.fail(f"timed out waiting for {what}:\n{said}")


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `command` in the repository in its own session, its output in `log`."""
    with open(log, "w") as output:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen:
    """The real `dagster-daemon` on the project's workspace."""
    daemon = str(Path(sys.executable).with_name("dagster-daemon"))
    return start([daemon, "run", "-w", str(REPO / "workspace.yaml")], env, log)


def stop(process: subprocess.Popen, home: Path | None = None) -> None:
    """SIGTERM `process`'s session, SIGKILL it if it lingers, then kill what else ran with
    DAGSTER_HOME=`home` (a daemon's code server outlives it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for pid in processes_of(home) if home else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def processes_of(home: Path) -> list[int]:
    """The processes started with DAGSTER_HOME=`home`."""
    marker = f"DAGSTER_HOME={home}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL the process `pid` and every process under it (the run worker and its step
    process), as when a machine or pod dies."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], []))
    for member in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def run_retrain(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess:
    """`recsys-assets retrain` with `args`, run to its end; its output captured."""
    command = [sys.executable, "-m", "recsys_assets.cli", "retrain", *args]
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def start_retrain(env: dict[str, str], search_space: Path) -> subprocess.Popen:
    """`recsys-assets retrain` of `search_space`, started; its output (both streams) on a pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "recsys_assets.cli", "retrain"],
        env={**env, "RECSYS_SEARCH_SPACE": str(search_space)},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
