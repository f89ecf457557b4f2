"""What the instance records beside runs and materializations, so that the CLI and the daemon act
on one story: the search space the configs partitions follow, the search space the daemon reads,
the retrain the CLI is driving, and the pin that keeps a promoted model served."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from typing import TypeVar

import dagster as dg

from recsys_assets.core.models.config import ModelConfig
from recsys_assets.core.search.space import parse_search_space_text
from recsys_assets.core.storage.processes import process_alive

DRIVER_TAG = "recsys/driver"
"""Tag of the runs a `recsys-assets retrain` drives: the sensors leave their chain to it."""
CLI_DRIVER = "recsys-assets retrain"

_SEARCH_SPACE = "recsys/search_space"
_DAEMON_SEARCH_SPACE = "recsys/daemon_search_space"
_CLI_RETRAIN = "recsys/cli_retrain"
_PIN = "recsys/pin"


@dataclass(frozen=True)
class SearchSpaceRecord:
    """A search-space file as someone read it: its path and content fingerprint."""

    path: str
    fingerprint: str
    recorded_by: str
    """`recsys-assets retrain <id>`, `nightly_retrain <night>` or `register_configs`."""
    text: str = ""
    """The file's content as read, so that any process can train its configs."""

    def configs(self) -> list[ModelConfig]:
        return parse_search_space_text(self.text, f"{self.path} (as {self.recorded_by} read it)")

    @property
    def by_the_cli(self) -> bool:
        return self.recorded_by.startswith(CLI_DRIVER)


@dataclass(frozen=True)
class CliRetrain:
    """A `recsys-assets retrain` that started, on which host and process."""

    retrain_id: str
    search_space: str
    host: str
    pid: int
    finished: bool = False

    def running(self) -> bool:
        """Not finished, and its process is alive (a process on another host counts as alive)."""
        if self.finished:
            return False
        return self.host != socket.gethostname() or process_alive(self.pid)


@dataclass(frozen=True)
class Pin:
    """A promoted best_model version that stays served until released."""

    version: str
    config_key: str
    reason: str
    pinned_at: float


T = TypeVar("T")


def _get(instance: dg.DagsterInstance, key: str, kind: type[T]) -> T | None:
    # The instance's key-value store (the daemon's cursors live there too) has no wrapper on
    # DagsterInstance; its run storage exposes it on every storage (SQLite, Postgres).
    text = instance.run_storage.get_cursor_values({key}).get(key)
    return kind(**json.loads(text)) if text else None


def _set(instance: dg.DagsterInstance, key: str, value: object | None) -> None:
    instance.run_storage.set_cursor_values({key: json.dumps(asdict(value)) if value is not None else ""})


def recorded_search_space(instance: dg.DagsterInstance) -> SearchSpaceRecord | None:
    """The search space the config partitions follow: the one the latest retrain read."""
    return _get(instance, _SEARCH_SPACE, SearchSpaceRecord)


def record_search_space(instance: dg.DagsterInstance, record: SearchSpaceRecord) -> None:
    _set(instance, _SEARCH_SPACE, record)


def config_to_train(instance: dg.DagsterInstance, key: str, search_space) -> ModelConfig:
    """The config of partition `key` as the recorded search space defines it (whoever trains it:
    the retrain, a sensor, the UI), else from `search_space` (this process's file and its
    search's trials)."""
    recorded = recorded_search_space(instance)
    if recorded is not None and recorded.text:
        found = [config for config in recorded.configs() if config.key == key]
        if found:
            return found[0]
    return search_space.find(key)


def daemon_search_space(instance: dg.DagsterInstance) -> SearchSpaceRecord | None:
    """The search space the daemon's sensors read, as they last said."""
    return _get(instance, _DAEMON_SEARCH_SPACE, SearchSpaceRecord)


def announce_daemon_search_space(instance: dg.DagsterInstance, path: str, fingerprint: str) -> None:
    """Record the daemon's search space, when it is not the one recorded already."""
    known = daemon_search_space(instance)
    if known is None or (known.path, known.fingerprint) != (path, fingerprint):
        _set(instance, _DAEMON_SEARCH_SPACE, SearchSpaceRecord(path, fingerprint, "register_configs"))


def cli_retrain(instance: dg.DagsterInstance) -> CliRetrain | None:
    """The latest `recsys-assets retrain` that trained, finished or not."""
    return _get(instance, _CLI_RETRAIN, CliRetrain)


def start_cli_retrain(instance: dg.DagsterInstance, retrain_id: str, search_space: str) -> None:
    _set(instance, _CLI_RETRAIN, CliRetrain(retrain_id, search_space, socket.gethostname(), os.getpid()))


def finish_cli_retrain(instance: dg.DagsterInstance, retrain_id: str) -> None:
    started = cli_retrain(instance)
    if started is not None and started.retrain_id == retrain_id:
        _set(instance, _CLI_RETRAIN, CliRetrain(**{**asdict(started), "finished": True}))


def pin(instance: dg.DagsterInstance) -> Pin | None:
    """The pinned best_model version, if a promote pinned one."""
    return _get(instance, _PIN, Pin)


def set_pin(instance: dg.DagsterInstance, version: str, config_key: str, reason: str) -> Pin:
    pinned = Pin(version, config_key, reason, time.time())
    _set(instance, _PIN, pinned)
    return pinned


def release_pin(instance: dg.DagsterInstance) -> Pin | None:
    """Unpin the served model; return the pin there was."""
    released = pin(instance)
    if released is not None:
        _set(instance, _PIN, None)
    return released


def pinned_message(pinned: Pin) -> str:
    return (
        f"best_model is pinned to version {pinned.version[:8]} ({pinned.config_key}), promoted with the"
        f" reason {pinned.reason!r}: `recsys-assets promote --release` unpins it, and"
        " `recsys-assets retrain` retrains and unpins it"
    )
