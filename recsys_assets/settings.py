"""Paths and sources from the environment, in one place."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import fsspec

from recsys_assets.core.data.demo_data import DEMO_SIZES
from recsys_assets.core.data.playlists import check_sample_fraction
from recsys_assets.core.storage.database_urls import shown_url
from recsys_assets.core.storage.fingerprint import combined
from recsys_assets.core.storage.model_locations import served_model_location

PACKAGED_SEARCH_SPACE = Path(__file__).with_name("search_space.toml")
STUDY_FILE = "recsys_study.db"
NIGHTLY_CRON = "0 2 * * *"
CRON_FIELD = re.compile(r"^[0-9*,/-]+$")
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Settings:
    """Where the pipeline reads its source and search space and writes its tables and models."""

    playlists_path: Path | None
    data_dir: Path
    search_space_path: Path
    demo_size: str = "small"
    sample_fraction: float = 1.0
    timezone: str = "UTC"
    nightly_cron: str = NIGHTLY_CRON
    models_url: str | None = None
    storage_url: str | None = None
    study_url: str | None = None
    keep_versions: int = 10

    @property
    def duckdb_path(self) -> Path:
        return self.data_dir / "recsys.duckdb"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def models_location(self) -> str:
        """Where models are stored: RECSYS_MODELS_URL (any fsspec URL), else `models/` under
        RECSYS_STORAGE_URL, else `models/` in data."""
        if self.models_url:
            return self.models_url
        return f"{self.storage_url}/models" if self.storage_url else str(self.models_dir)

    @property
    def splits_location(self) -> str | None:
        """Where the data build also writes the splits as Parquet, for training, selection and
        evaluation to read instead of DuckDB: `splits/` under RECSYS_STORAGE_URL, if set."""
        return f"{self.storage_url}/splits" if self.storage_url else None

    @property
    def training_files_location(self) -> str:
        """Where each data build stores the training split's counts and corpus file: `training/`
        under RECSYS_STORAGE_URL, else in the data directory."""
        return f"{self.storage_url}/training" if self.storage_url else str(self.data_dir / "training")

    @property
    def asset_values_location(self) -> str:
        """Where other asset values (the baselines' and the test evaluation's reports) are stored as JSON."""
        return f"{self.storage_url}/assets" if self.storage_url else str(self.asset_storage_dir)

    @property
    def search_results_location(self) -> str | None:
        """Where the search's trials are published as a Parquet table, if anywhere."""
        return f"{self.storage_url}/search" if self.storage_url else None

    def served_model_location(self, asset: str, partition: str | None = None) -> str:
        """The file a model asset (or config partition) serves now: its latest materialization,
        where the model IO manager publishes it."""
        return served_model_location(self.models_location, asset, partition)

    @property
    def best_model_location(self) -> str:
        """The file of the model `best_model` serves now."""
        return self.served_model_location("best_model")

    @property
    def study_location(self) -> str:
        """The search study's database: RECSYS_STUDY_URL, else SQLite beside the Dagster instance
        (in the data directory when the settings did not come from the environment)."""
        return self.study_url or f"sqlite:///{self.data_dir / STUDY_FILE}"

    @property
    def storage_fingerprint(self) -> str:
        """Where the tables, splits, training files, models and asset values live, as one digest."""
        return combined(
            str(self.duckdb_path),
            self.splits_location,
            self.training_files_location,
            self.models_location,
            self.asset_values_location,
        )

    @property
    def demo_dir(self) -> Path:
        return self.data_dir / "demo"

    @property
    def asset_storage_dir(self) -> Path:
        return self.data_dir / "assets"


class SettingsError(ValueError):
    """An environment variable with a value the pipeline cannot use."""


def _resolved(variable: str, value: str) -> Path:
    try:
        return Path(value).expanduser().resolve()
    except (OSError, RuntimeError) as error:
        raise SettingsError(f"{variable}={value!r}: the path cannot be resolved: {error}") from None


def _storage(variable: str, value: str | None) -> str | None:
    """`value` if it names storage that outlives the process and whose filesystem is installed."""
    if value is None:
        return None
    protocol = value.split("://", 1)[0] if "://" in value else "file"
    if protocol == "memory":
        raise SettingsError(
            f"{variable}={value!r}: memory:// storage ends with the process that wrote it; give a"
            " folder or an object-store URL such as s3://bucket/recsys"
        )
    try:
        fsspec.get_filesystem_class(protocol)
    except (ValueError, ImportError) as error:
        raise SettingsError(
            f"{variable}={value!r}: no filesystem for {protocol}:// is installed ({error})"
        ) from None
    return value


def _database(variable: str, value: str | None) -> str | None:
    """`value` if it is a database URL whose driver is installed."""
    if value is None:
        return None
    import sqlalchemy

    try:
        url = sqlalchemy.make_url(value)
    except sqlalchemy.exc.ArgumentError:
        raise SettingsError(
            f"{variable}={value!r}: not a database URL; expected one such as"
            " sqlite:////path/to/study.db or postgresql://user@host/database"
        ) from None
    shown = shown_url(value)
    try:
        url.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise SettingsError(
            f"{variable}={shown!r}: no database driver for {url.drivername} is installed"
        ) from None
    return value


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from the RECSYS_* environment variables (see the README)."""
    playlists = environ.get("RECSYS_PLAYLISTS_PATH") or None
    demo_size = environ.get("RECSYS_DEMO_SIZE") or "small"
    if demo_size not in DEMO_SIZES:
        raise SettingsError(f"RECSYS_DEMO_SIZE={demo_size!r}: expected one of {', '.join(DEMO_SIZES)}")
    fraction_text = environ.get("RECSYS_SAMPLE_FRACTION") or "1"
    try:
        sample_fraction = check_sample_fraction(float(fraction_text))
    except ValueError:
        raise SettingsError(
            f"RECSYS_SAMPLE_FRACTION={fraction_text!r}: expected a number in (0, 1]"
        ) from None
    keep_text = environ.get("RECSYS_KEEP_VERSIONS") or "10"
    if not WHOLE_NUMBER.fullmatch(keep_text) or int(keep_text) < 1:
        raise SettingsError(f"RECSYS_KEEP_VERSIONS={keep_text!r}: expected a whole number of at least 1")
    timezone = environ.get("RECSYS_TIMEZONE") or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"RECSYS_TIMEZONE={timezone!r}: expected an IANA time zone such as Europe/Berlin"
        ) from None
    nightly_cron = " ".join((environ.get("RECSYS_NIGHTLY_CRON") or NIGHTLY_CRON).split())
    fields = nightly_cron.split(" ")
    if len(fields) != 5 or not all(CRON_FIELD.match(field) for field in fields):
        raise SettingsError(
            f"RECSYS_NIGHTLY_CRON={nightly_cron!r}: expected five cron fields of digits, '*', ',', '-'"
            " and '/', such as '0 2 * * *' (02:00 every day)"
        )
    return Settings(
        playlists_path=_resolved("RECSYS_PLAYLISTS_PATH", playlists) if playlists else None,
        data_dir=_resolved("RECSYS_DATA_DIR", environ.get("RECSYS_DATA_DIR") or "data"),
        search_space_path=_resolved(
            "RECSYS_SEARCH_SPACE", environ.get("RECSYS_SEARCH_SPACE") or str(PACKAGED_SEARCH_SPACE)
        ),
        demo_size=demo_size,
        sample_fraction=sample_fraction,
        timezone=timezone,
        nightly_cron=nightly_cron,
        models_url=_storage("RECSYS_MODELS_URL", environ.get("RECSYS_MODELS_URL") or None),
        storage_url=_storage(
            "RECSYS_STORAGE_URL", (environ.get("RECSYS_STORAGE_URL") or "").rstrip("/") or None
        ),
        keep_versions=int(keep_text),
        study_url=_database("RECSYS_STUDY_URL", environ.get("RECSYS_STUDY_URL") or None)
        or f"sqlite:///{default_dagster_home(environ) / STUDY_FILE}",
    )


def default_dagster_home(environ: Mapping[str, str] = os.environ) -> Path:
    """DAGSTER_HOME if set, else `.dagster_home/` in the working directory."""
    return Path(environ.get("DAGSTER_HOME") or ".dagster_home").expanduser().resolve()
