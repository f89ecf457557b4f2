"""Assembles the assets, resources and jobs of recsys_assets."""

import dagster as dg

from recsys_assets.graph import automation, checks, console, data, evaluation, jobs, models, runs, serving
from recsys_assets.graph.io_managers import (
    AssetValueIOManager,
    ModelIOManager,
    PlaylistTableIOManager,
    TrainingStatisticsIOManager,
)
from recsys_assets.graph.resources import (
    ModelStore,
    PlaylistDatabase,
    PlaylistSource,
    SearchSpace,
    SplitFiles,
    TrainingFiles,
)
from recsys_assets.settings import Settings, load_settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """The whole graph, reading and writing where `settings` says."""
    playlist_db = PlaylistDatabase(database=str(settings.duckdb_path))
    split_files = SplitFiles(url=settings.splits_location)
    training_files = TrainingFiles(url=settings.training_files_location)
    return dg.Definitions(
        assets=[
            data.playlist_tables,
            models.embedding_model,
            models.best_model,
            evaluation.baselines,
            evaluation.test_evaluation,
        ],
        asset_checks=[
            checks.playlists_are_well_formed,
            checks.splits_are_disjoint_and_complete,
            *checks.best_model_freshness,
        ],
        jobs=[jobs.prepare_data, jobs.train_models, jobs.select_best_model, serving.recommend_next_tracks],
        executor=runs.in_process_in_code_location,
        loggers={"console": console.console},
        schedules=[automation.nightly_retrain_schedule(settings.timezone, settings.nightly_cron)],
        sensors=[
            automation.train_after_data,
            automation.select_after_training,
            automation.register_configs,
            automation.propose_trials,
            automation.best_model_freshness_sensor,
        ],
        resources={
            "playlist_db": playlist_db,
            "playlist_source": PlaylistSource(
                path=str(settings.playlists_path) if settings.playlists_path else None,
                demo_dir=str(settings.demo_dir),
                demo_size=settings.demo_size,
                sample_fraction=settings.sample_fraction,
            ),
            "search_space": SearchSpace(
                path=str(settings.search_space_path),
                study_url=settings.study_location,
                results_url=settings.search_results_location,
            ),
            "split_files": split_files,
            "training_files": training_files,
            "table_io_manager": PlaylistTableIOManager(
                database=playlist_db, split_files=split_files, training_files=training_files
            ),
            "training_statistics_io_manager": TrainingStatisticsIOManager(training_files=training_files),
            "model_store": ModelStore(url=settings.models_location, storage=settings.storage_fingerprint),
            "model_io_manager": ModelIOManager(base_dir=settings.models_location),
            "io_manager": AssetValueIOManager(base_dir=settings.asset_values_location),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The graph as the RECSYS_* environment variables configure it, built when Dagster loads it."""
    return build_definitions(load_settings())
