"""Resources: the DuckDB playlist database, the playlist source and the search space."""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import fsspec
import optuna
import pandas as pd
from dagster_duckdb import DuckDBResource
from optuna.trial import TrialState
from pydantic import Field

from recsys_assets.core.data.corpus import CORPUS_FILE, CORPUS_MANIFEST, Corpus, read_corpus_manifest
from recsys_assets.core.data.demo_data import DEMO_SIZES, write_demo_rows
from recsys_assets.core.data.playlists import recorded_data_version
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.data.training_files import (
    CURRENT_BUILD_FILE,
    TRAIN_COUNT_FILES,
    TRAIN_FILES,
    DataBuild,
    read_train_statistics,
    write_training_files,
)
from recsys_assets.core.models.config import ModelConfig
from recsys_assets.core.models.trained import (
    ModelSummary,
    NotTheChosenModel,
    check_model_file,
    summary_if_present,
)
from recsys_assets.core.search.space import (
    SearchPlan,
    SearchSpaceFile,
    find_config,
    load_search_plan,
    load_search_space,
    read_search_space,
)
from recsys_assets.core.search.study import (
    finish,
    open_study,
    propose,
    report,
    trial_configs,
    warm_start,
    with_trials,
)
from recsys_assets.core.storage.files import (
    is_local,
    local_copy,
    local_path,
    publish,
    remove_folders_except,
    upload,
)
from recsys_assets.core.storage.fingerprint import combined, file_fingerprint
from recsys_assets.core.storage.model_locations import served_model_location
from recsys_assets.core.storage.table_files import export_table, read_table_file
from recsys_assets.graph.versions import DATA_CODE_VERSION


class PlaylistDatabase(DuckDBResource):
    """The DuckDB file holding the playlist table and its splits."""

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writing connection, closed however the block ends (the base class leaves it open when
        the block raises, which would keep the file locked for this process's readers)."""
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with super().get_connection() as conn:
            try:
                conn.execute("SET enable_progress_bar = false")
                yield conn
            finally:
                conn.close()

    def built_data_version(self) -> str | None:
        """The data version the tables were last built as, or None before the first build."""
        if not Path(self.database).exists():
            return None
        with self.read_connection() as conn:
            return recorded_data_version(conn)

    @contextmanager
    def read_connection(self, attempts: int = 8) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection: any number of runs may read at once while none writes.

        Waits (up to about a minute in all) while another process writes the database. When this
        process still holds a writing connection to the file, reads through that one's database.
        """
        if not Path(self.database).exists():
            raise FileNotFoundError(f"{self.database}: the playlist database has not been built yet")
        for attempt in range(attempts):
            try:
                conn = duckdb.connect(self.database, read_only=True)
                break
            except duckdb.ConnectionException:
                conn = duckdb.connect(
                    self.database, config={"custom_user_agent": "dagster", **self.connection_config}
                )
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


class SplitFiles(dg.ConfigurableResource):
    """The splits as Parquet files under `url`/<data version>/ (a local path or any fsspec URL),
    written by the data build beside the DuckDB tables, so that training, selection and
    evaluation need no DuckDB file. Unset: they read DuckDB.

    Readers take the files the current `DataBuild` names, so files of a build that failed
    half-way are never read; the last good build's folder stays until the next one succeeds."""

    url: str | None = Field(default=None, description="Folder of the split files; unset to read DuckDB.")

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def location(self, table: str, version: str) -> str:
        return f"{self.url.rstrip('/')}/{version}/{table}.parquet"

    def publish(
        self, conn: duckdb.DuckDBPyConnection, tables: Sequence[str], version: str, keep: set[str]
    ) -> None:
        """Write each table from DuckDB to its file of `version`; then drop the folders of other
        versions but those in `keep`."""
        with tempfile.TemporaryDirectory(prefix="recsys-splits-") as folder:
            for table in tables:
                local = Path(folder) / f"{table}.parquet"
                export_table(conn, table, local)
                upload(local, self.location(table, version))
        remove_folders_except(self.url, {version, *keep})

    def read(self, location: str, columns: list[str] | None = None) -> pd.DataFrame:
        return read_table_file(location, columns)


def _file_stamps(location: str) -> tuple[str, ...]:
    """What the store says of each statistics file at `location` (size, modification time or
    ETag): it changes when a file is rewritten; FileNotFoundError when one is gone."""
    filesystem, folder = fsspec.core.url_to_fs(location)
    return tuple(
        json.dumps(filesystem.info(f"{folder}/{name}"), sort_keys=True, default=str)
        for name in TRAIN_COUNT_FILES
    )


@functools.lru_cache(maxsize=1)
def _statistics_of(location: str, stamps: tuple[str, ...]) -> TrainStatistics:
    """The statistics at `location`, read once per process while its files stay as `stamps`
    found them: the steps of one run (best model, then test evaluation) share them."""
    return read_train_statistics(location)


class TrainingFiles(dg.ConfigurableResource):
    """The training split's counts (plays per track, transitions between tracks) and its corpus
    file for gensim, written once per data build by DuckDB under `url`/<data version>/, so that
    every training, selection and evaluation step loads them instead of counting or reading the
    split again."""

    url: str = Field(description="Folder (path or fsspec URL) of the training files of each data build.")

    def location(self, version: str) -> str:
        return f"{self.url.rstrip('/')}/{version}"

    @property
    def current_build_location(self) -> str:
        return f"{self.url.rstrip('/')}/{CURRENT_BUILD_FILE}"

    def publish(self, conn: duckdb.DuckDBPyConnection, version: str, keep: set[str]) -> None:
        """Count the train split and write its corpus, as this data version's files; then drop
        the other versions but those in `keep` (and the current build's record)."""
        with tempfile.TemporaryDirectory(prefix="recsys-training-") as folder:
            write_training_files(conn, Path(folder))
            for name in TRAIN_FILES:
                upload(Path(folder) / name, f"{self.location(version)}/{name}")
        remove_folders_except(self.url, {version, *keep, CURRENT_BUILD_FILE})

    def record(self, build: DataBuild) -> None:
        """Make `build` the current data build, in one whole write: what readers take from now on."""
        with tempfile.TemporaryDirectory(prefix="recsys-build-") as folder:
            local = Path(folder) / CURRENT_BUILD_FILE
            local.write_text(build.to_json())
            upload(local, self.current_build_location)

    def current(self) -> DataBuild | None:
        """The data build recorded last, or None before the first."""
        location = self.current_build_location
        try:
            with fsspec.open(location, "rt") as file:
                return DataBuild.from_json(file.read(), location)
        except FileNotFoundError:
            return None

    def load(self, version: str | None) -> TrainStatistics | None:
        """The statistics stored for `version`, or None when there are none (or only in a format
        this code does not read)."""
        if version is None:
            return None
        try:
            location = self.location(version)
            return _statistics_of(location, _file_stamps(location))
        except (FileNotFoundError, KeyError):
            return None

    @contextmanager
    def corpus(self, version: str, statistics: TrainStatistics) -> Iterator[Corpus | None]:
        """The corpus file stored for `version` with the tracks and plays of its `statistics`, as
        a local file for gensim (copied from an object store for the block's duration); None
        when there is none."""
        location = self.location(version)
        with tempfile.TemporaryDirectory(prefix="recsys-corpus-") as scratch:
            try:
                folder = local_copy(location, (CORPUS_FILE, CORPUS_MANIFEST), Path(scratch))
                manifest = read_corpus_manifest(folder)
            except FileNotFoundError:
                yield None
                return
            yield Corpus(folder / CORPUS_FILE, statistics.tracks, statistics.plays, **manifest)


@dataclass(frozen=True)
class StoredTrainingData:
    """One data build's training statistics, and its corpus file when a training step asks."""

    build: DataBuild
    statistics: TrainStatistics
    files: TrainingFiles

    @contextmanager
    def corpus(self) -> Iterator[Corpus]:
        """The build's corpus file as a local file for gensim (copied from an object store for
        the block's duration); a Failure that says to rebuild when it is gone."""
        with self.files.corpus(self.build.data_version, self.statistics) as corpus:
            if corpus is None:
                raise dg.Failure(
                    f"No training corpus is stored for the current data build under"
                    f" {self.build.training_location}: rebuild the data (`dg launch --job prepare_data`)"
                    f" or {RETRAIN_HINT}."
                )
            yield corpus


RETRAIN_HINT = "run `recsys-assets retrain` (or `make demo`) first"


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

    def fingerprint(self) -> str:
        """The source's content: the file's bytes, or the demo data's spec (its generator is
        seeded, and its code is part of the data code version)."""
        if self.path:
            return file_fingerprint(Path(self.path), "playlist source file")
        return combined("demo", DEMO_SIZES[self.demo_size])

    def data_version(self, split_seed: int, fingerprint: str | None = None) -> str:
        """The data version of the playlist tables built from this source now: its content (its
        `fingerprint`, computed when not given), the sample and split settings, and the code that
        builds them."""
        return combined(
            fingerprint or self.fingerprint(),
            self.sample_fraction,
            self.sample_seed,
            split_seed,
            DATA_CODE_VERSION,
        )


class ModelStore(dg.ConfigurableResource):
    """The served model files, for what their manifests say (exact validation results)."""

    url: str = Field(description="The models folder: a local path or any fsspec URL.")
    storage: str = Field(
        description="Fingerprint of where the tables, splits, training files, models and asset values"
        " are stored: a retrain after a change of storage settings is not skipped.",
    )

    def served_problem(self, fingerprint: str | None) -> str | None:
        """What is wrong with the served best model's file, or None when it is the file of content
        `fingerprint` that best_model recorded (where none was recorded: when it reads whole)."""
        location = served_model_location(self.url, "best_model")
        try:
            check_model_file(location, fingerprint)
        except FileNotFoundError:
            return f"the served model file {location} is missing"
        except NotTheChosenModel as error:
            return f"the served model file is not the one best_model chose ({error})"
        except ValueError as error:
            return f"the served model file is damaged ({error})"
        return None

    def restore_served(self, version: str, fingerprint: str) -> bool:
        """Serve the kept version file `version` of the best model again when it still has the
        content `fingerprint` recorded for it; whether it did."""
        try:
            check_model_file(version, fingerprint)
        except (OSError, ValueError):
            return False
        served = served_model_location(self.url, "best_model")
        try:
            if is_local(served):
                publish(Path(local_path(version)), Path(local_path(served)))
            else:
                with fsspec.open(version, "rb") as kept, fsspec.open(served, "wb") as copy:
                    shutil.copyfileobj(kept, copy)
        except OSError:
            return False
        return self.served_problem(fingerprint) is None

    def summary(self, key: str) -> ModelSummary | None:
        """The summary of config `key`'s served model, or None when it has none."""
        return summary_if_present(served_model_location(self.url, "embedding_model", key))


class SearchSpace(dg.ConfigurableResource):
    """The file of model configs, one partition of `embedding_model` each, and the study of
    its optional adaptive search, whose trials are partitions too."""

    path: str = Field(description="TOML file of [[config]] tables and an optional [search] table.")
    study_url: str = Field(description="Database of the search's Optuna study (any SQLAlchemy URL).")
    results_url: str | None = Field(
        default=None, description="Folder (path or fsspec URL) where the search's trials are published."
    )

    def fingerprint(self) -> str:
        """The search-space file's content."""
        return file_fingerprint(Path(self.path), "search-space file")

    def read(self) -> SearchSpaceFile:
        """The file read once: its fingerprint, fixed configs, plan and text."""
        return read_search_space(Path(self.path))

    def plan(self) -> SearchPlan | None:
        return load_search_plan(Path(self.path))

    def study(self, writable: bool = False) -> optuna.Study | None:
        """The search's study, or None when the file has no [search] table; StudyUnavailable when
        its database cannot be read (or, with `writable`, written)."""
        plan = self.plan()
        return open_study(self.study_url, plan, writable) if plan else None

    def publish_results(self, study: optuna.Study) -> str | None:
        """Write the study's trials (number, state, value, parameters, times) as a Parquet table
        to `results_url`; return where, or None when it is unset."""
        if not self.results_url:
            return None
        location = f"{self.results_url.rstrip('/')}/{study.study_name}-trials.parquet"
        with tempfile.TemporaryDirectory(prefix="recsys-trials-") as folder:
            local = Path(folder) / "trials.parquet"
            study.trials_dataframe().to_parquet(local)
            upload(local, location)
        return location

    def searching_study(self, plan: SearchPlan, models: ModelStore) -> optuna.Study:
        """The plan's study, started from what is known: the fixed configs' results and learning
        curves (of the families it searches), recorded once (outside the budget)."""
        study = open_study(self.study_url, plan, writable=True)
        known = []
        for config in load_search_space(Path(self.path)):
            trained = models.summary(config.key)
            if trained:
                known.append((config, trained.validation_hit_rate, trained.learning_curve))
        warm_start(study, plan, known)
        return study

    def propose_new(
        self, study: optuna.Study, plan: SearchPlan, models: ModelStore
    ) -> tuple[int, ModelConfig] | None:
        """A new trial and its config; None when it proposed a config already trained, whose
        result the trial takes (a repeat, counted by the search's stop rule)."""
        number, config = propose(study, plan)
        trained = models.summary(config.key)
        if trained is not None:
            finish(study, number, trained.validation_hit_rate, repeated=True)
            return None
        return number, config

    def trial(self, key: str) -> SearchTrial | None:
        """The search trial that proposed config `key`, if one did."""
        number, _, state = self.trials().get(key, (None, None, None))
        if number is None:
            return None
        return SearchTrial(number, self.study() if state == TrialState.RUNNING else None, self)

    def trials(self) -> dict[str, tuple[int, ModelConfig, TrialState]]:
        """The search's trials by config key (none without a [search] table)."""
        study = self.study()
        return trial_configs(study) if study else {}

    def configs(self, fixed: list[ModelConfig] | None = None) -> list[ModelConfig]:
        """The fixed configs (as the file says now, unless given), then the search's trials'."""
        fixed = load_search_space(Path(self.path)) if fixed is None else fixed
        return with_trials(fixed, self.trials())

    def find(self, key: str) -> ModelConfig:
        """The config with partition key `key`, fixed or from a trial."""
        return find_config(self.configs(), key, self.path)


@dataclass(frozen=True)
class SearchTrial:
    """A search trial a training run reports to: its learning curve (for the pruner) and how it
    ended. A trial no longer running (trained before, now retrained on new data) records nothing."""

    number: int
    study: optuna.Study | None
    search_space: SearchSpace

    def report(self, epoch: int, value: float) -> bool:
        """Record a point of the learning curve; False when the pruner stops the trial."""
        return self.study is None or report(self.study, self.number, epoch, value)

    def finish(self, value: float, pruned: bool) -> None:
        """Record the trial's validation hit rate (or that it was pruned), and publish the trials."""
        if self.study is None:
            return
        finish(self.study, self.number, value, pruned=pruned)
        self.search_space.publish_results(self.study)
