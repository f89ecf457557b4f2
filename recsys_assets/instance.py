"""The persistent Dagster instance the commands share: its folder, its settings file, and a first
use that is safe when several commands start at once."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from recsys_assets.settings import default_dagster_home

INSTANCE_SETTINGS = Path(__file__).with_name("dagster.yaml")
INITIALIZED_MARKER = ".recsys_initialized"


@contextmanager
def exclusive_lock(path: Path, waiting_message: str) -> Iterator[None]:
    """Hold an exclusive lock on the file `path`; print `waiting_message` if another process
    holds it, then wait. The lock goes with the process, however it ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(waiting_message, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def prepare_dagster_home() -> Path:
    """Create the instance folder with the packaged instance settings if it has none, point
    DAGSTER_HOME at it for this process, and create its storage once, one process at a time."""
    home = default_dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    if (home / INITIALIZED_MARKER).exists():
        return home
    with exclusive_lock(home / ".init.lock", f"Waiting for another command to set up {home} ..."):
        if not (home / "dagster.yaml").exists():
            shutil.copyfile(INSTANCE_SETTINGS, home / "dagster.yaml")
        if not (home / INITIALIZED_MARKER).exists():
            with dg.DagsterInstance.get() as instance:
                instance.get_runs(limit=1)
                instance.get_dynamic_partitions("model_configs")
                instance.fetch_materializations(dg.AssetKey("playlists"), limit=1)
            (home / INITIALIZED_MARKER).touch()
    return home
