"""Jobs: the three stages of a retrain, each runnable on its own from the UI or the CLI."""

import dagster as dg

TRAINING_TAG = "recsys/training"
"""Tag of training runs; the instance's dagster.yaml caps how many run at once."""
RETRAIN_TAG = "recsys/retrain"
"""Tag shared by every run of one retrain or one nightly chain: filter the runs page by it."""
STEP_MESSAGES = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
"""Every job's default run config: the console shows each step's messages in one short line
(graph/console.py) instead of Dagster's debug log."""
TRAINING_RUNS_AT_ONCE = 2
"""The cap on training runs in the packaged dagster.yaml; the search keeps at most this many
trials in flight."""

prepare_data = dg.define_asset_job(
    "prepare_data",
    config=STEP_MESSAGES,
    selection=dg.AssetSelection.groups("data") | dg.AssetSelection.assets("baselines"),
    description="Build the playlist table, its splits and the training statistics, then score the"
    " baselines on them.",
)
train_models = dg.define_asset_job(
    "train_models",
    config=STEP_MESSAGES,
    selection=dg.AssetSelection.assets("embedding_model"),
    description="Train and validate the embedding model of one config partition.",
    tags={TRAINING_TAG: "true"},
)
select_best_model = dg.define_asset_job(
    "select_best_model",
    config=STEP_MESSAGES,
    selection=dg.AssetSelection.assets("best_model", "test_evaluation"),
    description="Pick the best config's model and evaluate it on the test split.",
)
