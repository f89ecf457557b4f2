"""What changed since the last complete retrain: the nightly schedule and `recsys-assets retrain`
train only when the source, the search space or the code did (or a search has trials left)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from recsys_assets.core.search.study import search_exhausted, trials_left, trials_run
from recsys_assets.core.storage.fingerprint import RetrainInputs
from recsys_assets.graph.history import (
    MODEL_FILE_FINGERPRINT,
    MODEL_FINGERPRINT,
    latest_materialization,
    metadata_values,
)
from recsys_assets.graph.resources import ModelStore, PlaylistSource, SearchSpace
from recsys_assets.graph.versions import RETRAIN_CODE_VERSION

INPUT_NAMES = {
    "data": "source",
    "search_space": "search space",
    "code": "code",
    "storage": "storage settings",
}


@dataclass(frozen=True)
class RetrainDecision:
    """Whether a retrain would change anything, and one line that says why."""

    needed: bool
    reason: str
    inputs: RetrainInputs | None
    last_retrain: dg.EventLogRecord | None = None
    test_only: bool = False
    """Only the test evaluation is missing: the served model, chosen on the current inputs by a
    run outside a retrain, was not evaluated on test."""


def current_inputs(
    source: PlaylistSource,
    search_space: SearchSpace,
    models: ModelStore,
    split_seed: int,
    search_space_read: str | None = None,
) -> RetrainInputs:
    """The inputs a retrain would use now (the search space as `search_space_read` fingerprints
    the file the retrain read, else as it is now)."""
    return RetrainInputs(
        data=source.data_version(split_seed),
        search_space=search_space_read or search_space.fingerprint(),
        code=RETRAIN_CODE_VERSION,
        storage=models.storage,
    )


def _when(record: dg.EventLogRecord) -> str:
    return datetime.fromtimestamp(record.timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def decide(
    instance: dg.DagsterInstance,
    source: PlaylistSource,
    search_space: SearchSpace,
    models: ModelStore,
    split_seed: int,
    search_space_read: str | None = None,
) -> RetrainDecision:
    """Compare the inputs now with those of the last retrain that compared every config and
    evaluated its best model on test. Where only the served file is not the one recorded (damaged,
    replaced), its kept version is served again when it still is, and the skip stands."""
    try:
        inputs = current_inputs(source, search_space, models, split_seed, search_space_read)
    except OSError as error:
        return RetrainDecision(
            True, f"Retraining: the source or search space cannot be read ({error}).", None
        )
    selected = latest_materialization(instance, "best_model")
    tested = latest_materialization(instance, "test_evaluation")
    if selected is None or tested is None:
        return RetrainDecision(True, "Retraining: no retrain has finished yet.", inputs)
    chosen = metadata_values(selected).get(MODEL_FINGERPRINT)
    evaluated = metadata_values(tested).get(MODEL_FINGERPRINT)
    untested = tested.timestamp < selected.timestamp and not (chosen and chosen == evaluated)
    previous = RetrainInputs.from_metadata(metadata_values(selected))
    if previous is None:
        return RetrainDecision(
            True,
            "Retraining: what the served model was trained on is not on record (it left configs out,"
            " was promoted by hand, or predates these records).",
            inputs,
        )
    changed = inputs.changes_since(previous)
    if changed:
        what = " and ".join(INPUT_NAMES[name] for name in changed)
        return RetrainDecision(
            True, f"Retraining: the {what} changed since the retrain of {_when(selected)}.", inputs, selected
        )
    plan = search_space.plan()
    if plan is not None:
        study = search_space.study()
        if trials_left(plan, trials_run(study)) and not search_exhausted(study):
            return RetrainDecision(True, "Retraining: the search has trials left.", inputs, selected)
    recorded = metadata_values(selected)
    fingerprint, kept = recorded.get(MODEL_FILE_FINGERPRINT), recorded.get("path")
    problem = models.served_problem(fingerprint)
    restored = ""
    if problem and fingerprint and kept and models.restore_served(kept, fingerprint):
        restored = f" {problem[0].upper()}{problem[1:]}: its kept version {kept} is served again."
        problem = None
    if problem:
        return RetrainDecision(True, f"Retraining: {problem}.", inputs, selected)
    if untested:
        return RetrainDecision(
            True,
            f"Nothing changed, but the model best_model chose at {_when(selected)} (outside a"
            " retrain) has no test evaluation: evaluating it on test only.",
            inputs,
            selected,
            test_only=True,
        )
    return RetrainDecision(
        False,
        f"Nothing changed since the retrain of {_when(selected)} (source, search space, code and"
        f" storage settings): training skipped; --force retrains anyway.{restored}",
        inputs,
        selected,
    )


def confirm_current(instance: dg.DagsterInstance, decision: RetrainDecision) -> None:
    """Record on `best_model` that it is still current (an observation, which renews its
    freshness check without a new model version)."""
    instance.report_runless_asset_event(
        dg.AssetObservation(
            "best_model",
            description=decision.reason,
            metadata={
                "dagster/last_updated_timestamp": dg.MetadataValue.timestamp(time.time()),
                "unchanged_since": dg.MetadataValue.timestamp(decision.last_retrain.timestamp),
                **(decision.inputs.as_metadata() if decision.inputs else {}),
            },
        )
    )
