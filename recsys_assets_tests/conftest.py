"""Shared fixtures: small generated playlist data and fast search spaces in temporary folders."""

import os
from pathlib import Path

import pytest

from recsys_assets.core.data.demo_data import DemoDataSpec, write_demo_rows
from recsys_assets.settings import Settings

SMALL_SPEC = DemoDataSpec(playlists=800, users=80, styles=8, artists_per_style=12, seed=3)

FAST_CONFIGS = """
[[config]]
min_count = 2
epochs = 3
vector_size = 16
window = 5

[[config]]
name = "wide-window"
min_count = 3
epochs = 3
vector_size = 16
window = 10
"""


def write_search_space(directory: Path, text: str) -> Path:
    path = directory / "search_space.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A parquet file of about 30 k generated playlist rows."""
    return write_demo_rows(tmp_path_factory.mktemp("rows"), SMALL_SPEC)


@pytest.fixture
def small_settings(tmp_path: Path, small_rows: Path) -> Settings:
    """Settings pointing at the small rows, a fast two-config search space and a fresh data dir."""
    return Settings(
        playlists_path=small_rows,
        data_dir=tmp_path / "data",
        search_space_path=write_search_space(tmp_path, FAST_CONFIGS),
    )


SLOW_TESTS_VARIABLE = "RECSYS_SLOW_TESTS"
"""Set to 1 (CI does) to run the end-to-end tests that take minutes each; `make test` on a
workstation leaves them out."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"slow: an end-to-end test of minutes, run when {SLOW_TESTS_VARIABLE}=1 (as in CI)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(SLOW_TESTS_VARIABLE) == "1":
        return
    skip = pytest.mark.skip(reason=f"slow end-to-end test: runs with {SLOW_TESTS_VARIABLE}=1, as in CI")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
