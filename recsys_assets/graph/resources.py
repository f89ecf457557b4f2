"""Resources: the DuckDB playlist database, the playlist source and the search space."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from recsys_assets.core.demo_data import DEMO_SIZES, write_demo_rows
from recsys_assets.core.search_space import ModelConfig, load_search_space


class PlaylistDatabase(DuckDBResource):
    """The DuckDB file holding the playlist table and its splits."""

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with super().get_connection() as conn:
            conn.execute("SET enable_progress_bar = false")
            yield conn

    @contextmanager
    def read_connection(self, attempts: int = 8) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection: any number of runs may read at once while none writes.

        Waits (up to about a minute in all) while another process writes the database.
        """
        if not Path(self.database).exists():
            raise FileNotFoundError(f"{self.database}: the playlist database has not been built yet")
        for attempt in range(attempts):
            try:
                conn = duckdb.connect(self.database, read_only=True)
                break
            except duckdb.IOException:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.25 * 2**attempt)
        try:
            conn.execute("SET enable_progress_bar = false")
            yield conn
        finally:
            conn.close()


class PlaylistSource(dg.ConfigurableResource):
    """Where playlist rows come from: a parquet file, or the built-in demo data when unset."""

    path: str | None = Field(default=None, description="Cleaned parquet or raw Spotify CSV of playlist rows.")
    demo_dir: str = Field(description="Directory for the generated demo rows.")
    demo_size: str = Field(default="small", description="Size of the demo data: small or spotify.")
    sample_fraction: float = Field(
        default=1.0, description="Share of whole playlists kept, in (0, 1] (dev mode when below 1)."
    )
    sample_seed: int = Field(default=0, description="Seed of the playlist sample.")

    def resolve(self) -> Path:
        """The file to read, generating the demo data first when no path is set."""
        if self.path:
            return Path(self.path)
        return write_demo_rows(Path(self.demo_dir), DEMO_SIZES[self.demo_size])

    @property
    def is_demo(self) -> bool:
        return not self.path


class SearchSpace(dg.ConfigurableResource):
    """The file of Word2Vec configs, one partition of `embedding_model` each."""

    path: str = Field(description="TOML file of [[config]] tables.")

    def configs(self) -> list[ModelConfig]:
        return load_search_space(Path(self.path))
