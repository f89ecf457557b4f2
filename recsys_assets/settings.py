"""Paths and sources from the environment, in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGED_SEARCH_SPACE = Path(__file__).with_name("search_space.toml")


@dataclass(frozen=True)
class Settings:
    """Where the pipeline reads its source and search space and writes its tables and models."""

    playlists_path: Path | None
    data_dir: Path
    search_space_path: Path

    @property
    def duckdb_path(self) -> Path:
        return self.data_dir / "recsys.duckdb"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def demo_dir(self) -> Path:
        return self.data_dir / "demo"

    @property
    def asset_storage_dir(self) -> Path:
        return self.data_dir / "assets"


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from RECSYS_PLAYLISTS_PATH, RECSYS_DATA_DIR and RECSYS_SEARCH_SPACE."""
    playlists = environ.get("RECSYS_PLAYLISTS_PATH") or None
    return Settings(
        playlists_path=Path(playlists).expanduser().resolve() if playlists else None,
        data_dir=Path(environ.get("RECSYS_DATA_DIR") or "data").expanduser().resolve(),
        search_space_path=Path(environ.get("RECSYS_SEARCH_SPACE") or PACKAGED_SEARCH_SPACE)
        .expanduser()
        .resolve(),
    )


def default_dagster_home() -> Path:
    """DAGSTER_HOME if set, else `.dagster_home/` in the working directory."""
    return Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").expanduser().resolve()
