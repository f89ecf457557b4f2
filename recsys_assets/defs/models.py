"""Model assets: one embedding model per config partition, the best of them, its test result."""

import time

import dagster as dg
import pandas as pd
from pydantic import Field

from recsys_assets.core.evaluate import (
    NextTrackCases,
    embedding_ranks,
    hit_rate,
    popularity_ranks,
)
from recsys_assets.core.model import TrainedModel, select_best
from recsys_assets.core.search_space import find_config
from recsys_assets.core.train import as_sentences, train_embeddings
from recsys_assets.defs.partitions import model_configs
from recsys_assets.defs.resources import SearchSpace

TRAIN_COLUMNS = dg.AssetIn(metadata={"columns": ["track_sequence"]})
CASE_COLUMNS = dg.AssetIn(metadata={"columns": ["track_test_x", "track_test_y"]})


class TrainingConfig(dg.Config):
    seed: int = Field(default=42, description="Seed of Word2Vec and of the out-of-vocabulary fallback.")
    k: int = Field(default=100, ge=1, description="Length of the recommendation list scored by hit rate@K.")
    workers: int = Field(
        default=1, ge=1, description="Word2Vec threads; only 1 gives bit-identical models on rerun."
    )


def _cases(frame: pd.DataFrame) -> NextTrackCases:
    return NextTrackCases.from_sequences(frame["track_test_x"], frame["track_test_y"])


def _progress_logger(context: dg.AssetExecutionContext, what: str):
    """A callback that logs `what: done/total` about ten times over a step."""

    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            context.log.info(f"{what}: {done}/{total}")

    return report


@dg.asset(
    partitions_def=model_configs,
    io_manager_key="model_io_manager",
    ins={"train_playlists": TRAIN_COLUMNS, "validate_playlists": CASE_COLUMNS},
    group_name="models",
    kinds={"gensim"},
)
def embedding_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    search_space: SearchSpace,
    train_playlists: pd.DataFrame,
    validate_playlists: pd.DataFrame,
) -> TrainedModel:
    """Word2Vec track vectors trained on train_playlists with this partition's config, scored by
    hit rate@K of the next track on validate_playlists."""
    model_config = find_config(search_space.configs(), context.partition_key, search_space.path)
    context.log.info(f"Training {model_config.key} with {model_config.params}")
    started = time.perf_counter()
    vectors = train_embeddings(
        as_sentences(train_playlists["track_sequence"]),
        model_config.params,
        seed=config.seed,
        workers=config.workers,
        on_epoch=_progress_logger(context, "Epochs"),
    )
    train_seconds = time.perf_counter() - started
    cases = _cases(validate_playlists)
    validation = hit_rate(
        embedding_ranks(
            vectors, cases, seed=config.seed, on_progress=_progress_logger(context, "Ranked validation rows")
        ),
        config.k,
    )
    context.add_output_metadata(
        {
            "config": model_config.params,
            "vocabulary_size": len(vectors.index_to_key),
            "train_seconds": round(train_seconds, 2),
            "k": config.k,
            f"validation_hit_rate@{config.k}": validation.value,
            "validation_hit_rate": validation.value,
            "validation_rows": validation.rows,
        }
    )
    return TrainedModel(
        config_key=model_config.key,
        params=model_config.params,
        seed=config.seed,
        vectors=vectors,
        k=config.k,
        validation_hit_rate=validation.value,
        validation_rows=validation.rows,
        train_seconds=train_seconds,
    )


def _results_table(models: dict[str, TrainedModel], winner: TrainedModel, baseline: float) -> str:
    lines = [
        "| config | parameters | vocabulary | validation hit rate |",
        "| --- | --- | --- | --- |",
    ]
    for key, model in sorted(models.items(), key=lambda item: -item[1].validation_hit_rate):
        mark = " **(best)**" if key == winner.config_key else ""
        params = ", ".join(f"{name}={value}" for name, value in sorted(model.params.items()))
        vocabulary = len(model.vectors.index_to_key)
        lines.append(f"| {key}{mark} | {params} | {vocabulary} | {model.validation_hit_rate:.4f} |")
    lines.append(f"| most popular tracks (baseline) | | | {baseline:.4f} |")
    return "\n".join(lines)


@dg.asset(
    io_manager_key="model_io_manager",
    ins={"train_playlists": TRAIN_COLUMNS, "validate_playlists": CASE_COLUMNS},
    group_name="models",
    kinds={"gensim"},
)
def best_model(
    context: dg.AssetExecutionContext,
    embedding_model: dict[str, TrainedModel],
    train_playlists: pd.DataFrame,
    validate_playlists: pd.DataFrame,
) -> TrainedModel:
    """The config's model with the highest validation hit rate@K (ties: smallest config key)."""
    ks = {model.k for model in embedding_model.values()}
    if len(ks) > 1:
        raise dg.Failure(
            f"Config models were validated at different K {sorted(ks)}; retrain them with one K."
        )
    winner = select_best(embedding_model)
    baseline = hit_rate(
        popularity_ranks(train_playlists["track_sequence"], _cases(validate_playlists)), winner.k
    ).value
    context.log.info(f"Best of {len(embedding_model)} config(s): {winner.config_key}")
    context.add_output_metadata(
        {
            "results": dg.MetadataValue.md(_results_table(embedding_model, winner, baseline)),
            "winner": winner.config_key,
            "winner_config": winner.params,
            "k": winner.k,
            "validation_hit_rate": winner.validation_hit_rate,
            "baseline_most_popular_hit_rate": baseline,
            "configs_compared": sorted(embedding_model),
        }
    )
    return winner


@dg.asset(
    ins={"train_playlists": TRAIN_COLUMNS, "test_playlists": CASE_COLUMNS},
    group_name="evaluation",
)
def test_evaluation(
    context: dg.AssetExecutionContext,
    best_model: TrainedModel,
    train_playlists: pd.DataFrame,
    test_playlists: pd.DataFrame,
) -> dict:
    """Hit rate@K of the best model on the held-out test playlists, beside the popularity baseline."""
    cases = _cases(test_playlists)
    ranks = embedding_ranks(
        best_model.vectors,
        cases,
        seed=best_model.seed,
        on_progress=_progress_logger(context, "Ranked test rows"),
    )
    result = {
        "config_key": best_model.config_key,
        "k": best_model.k,
        "test_hit_rate": hit_rate(ranks, best_model.k).value,
        "test_rows": len(cases),
        "baseline_most_popular_hit_rate": hit_rate(
            popularity_ranks(train_playlists["track_sequence"], cases), best_model.k
        ).value,
        "validation_hit_rate": best_model.validation_hit_rate,
    }
    context.add_output_metadata(result)
    return result
