"""Model assets: one embedding model per config partition, the best of them, its test result."""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pandas as pd
from gensim.models.keyedvectors import KeyedVectors
from optuna.trial import TrialState
from pydantic import Field

from recsys_assets.core.cases import EvaluationCases
from recsys_assets.core.corpus import MAX_SENTENCE_LENGTH, Corpus
from recsys_assets.core.embedding import TrackEmbedding
from recsys_assets.core.evaluation import (
    CURVE_EVERY,
    CURVE_ROWS,
    CURVE_STRATEGY,
    StrategyResult,
    baselines_beating,
    choose_on_sample,
    evaluate,
    generalization_tolerance,
    sample_cases,
)
from recsys_assets.core.fingerprint import RetrainInputs
from recsys_assets.core.metrics import METRIC_KS, hit_rate_curve, metric_name, prefixed
from recsys_assets.core.model import SUCCESSORS_PER_TRACK, ConfigModels, TrainedModel, select_best
from recsys_assets.core.recommenders import EmbeddingRecommender, baselines
from recsys_assets.core.search import finish, report
from recsys_assets.core.search_space import ModelConfig
from recsys_assets.core.statistics import TrainStatistics
from recsys_assets.core.strategies import SEED_STRATEGY
from recsys_assets.core.train import train_embeddings
from recsys_assets.graph.history import latest_data_version
from recsys_assets.graph.io_managers import RETRAIN_HINT
from recsys_assets.graph.partitions import model_configs
from recsys_assets.graph.plots import hit_rate_curves, learning_curves
from recsys_assets.graph.resources import SearchSpace, TrainingFiles
from recsys_assets.graph.versions import MODEL_CODE_VERSION, RETRAIN_CODE_VERSION

CASE_COLUMNS = dg.AssetIn(metadata={"columns": ["track_test_x", "artist_sequence", "track_test_y"]})


class TrainingConfig(dg.Config):
    seed: int = Field(default=42, description="Seed of Word2Vec and of the random cold-start query.")
    k: int = Field(default=100, ge=1, description="Length of the recommendation list scored by hit rate@K.")
    workers: int = Field(
        default=os.cpu_count() or 1,
        ge=1,
        description="Word2Vec threads (default: every core); only 1 gives bit-identical models.",
    )


def _cases(frame: pd.DataFrame) -> EvaluationCases:
    return EvaluationCases.from_columns(
        frame["track_test_x"], frame["artist_sequence"], frame["track_test_y"]
    )


def _stored_statistics(context: dg.AssetExecutionContext, stored: TrainingFiles) -> TrainStatistics:
    """The statistics the latest data build stored; a Failure that says to rebuild when none."""
    version = latest_data_version(context.instance, "train_playlists")
    statistics = stored.load(version)
    if statistics is None:
        raise dg.Failure(
            f"No training statistics are stored for the latest data build (data version {version})"
            f" under {stored.url}: rebuild the data assets (playlists, train/validate/test_playlists)"
            f" or {RETRAIN_HINT}."
        )
    return statistics


@contextmanager
def _stored_corpus(
    context: dg.AssetExecutionContext, stored: TrainingFiles, statistics: TrainStatistics
) -> Iterator[Corpus]:
    """The corpus file the latest data build stored; a Failure that says to rebuild when none."""
    version = latest_data_version(context.instance, "train_playlists")
    with stored.corpus(version, statistics) as corpus:
        if corpus is None:
            raise dg.Failure(
                f"No training corpus is stored for the latest data build (data version {version})"
                f" under {stored.url}: rebuild the data assets (playlists, train/validate/test_playlists)"
                f" or {RETRAIN_HINT}."
            )
        yield corpus


STRATEGY_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("strategy", "string"),
        dg.TableColumn("hit_rate@10", "float"),
        dg.TableColumn("hit_rate@K", "float"),
        dg.TableColumn("mrr@K", "float"),
        dg.TableColumn("chosen", "bool"),
    ]
)


def _strategy_table(results: list[StrategyResult], chosen: StrategyResult, k: int) -> dg.TableMetadataValue:
    """Validation metrics of every strategy (on the rows they were compared on), best first,
    rounded for reading."""
    hit_rate = metric_name("hit_rate", k)
    ordered = sorted(results, key=lambda result: -result.metrics[hit_rate])
    return dg.MetadataValue.table(
        [
            dg.TableRecord(
                {
                    "strategy": result.strategy.label,
                    "hit_rate@10": round(result.metrics[metric_name("hit_rate", 10)], 4),
                    "hit_rate@K": round(result.metrics[hit_rate], 4),
                    "mrr@K": round(result.metrics[metric_name("mrr", k)], 4),
                    "chosen": result.strategy == chosen.strategy,
                }
            )
            for result in ordered
        ],
        schema=STRATEGY_SCHEMA,
    )


def _readable(values: dict[str, object]) -> dict[str, object]:
    """Metadata values with floats rounded to 4 decimals, as people read them."""
    return {name: round(value, 4) if isinstance(value, float) else value for name, value in values.items()}


def _progress_logger(context: dg.AssetExecutionContext, step: str):
    """A callback that logs `step, what: done/total` about ten times over each phase."""

    def report(*progress: str | int) -> None:
        *what, done, total = progress
        if done == total or done % max(1, total // 10) == 0:
            context.log.info(f"{', '.join([step, *what])}: {done}/{total}")

    return report


def model_asset(**options):
    """An asset of the models group: a model file, scored on the validate playlists."""
    return dg.asset(
        io_manager_key="model_io_manager",
        ins={"validate_playlists": CASE_COLUMNS},
        group_name="models",
        kinds={"gensim"},
        code_version=MODEL_CODE_VERSION,
        **options,
    )


@model_asset(deps=["train_playlists"], partitions_def=model_configs)
def embedding_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    search_space: SearchSpace,
    training_files: TrainingFiles,
    validate_playlists: pd.DataFrame,
) -> TrainedModel:
    """Word2Vec track vectors trained on train_playlists (the data build's corpus file) with this
    partition's config, scored on the next track of validate_playlists (hit rate@10/50/100, MRR,
    NDCG, coverage)."""
    model_config = search_space.find(context.partition_key)
    context.log.info(f"Training {model_config.key} with {model_config.params}")
    train = _stored_statistics(context, training_files)
    with _stored_corpus(context, training_files, train) as corpus:
        if corpus.long_playlists:
            context.log.warning(
                f"{corpus.long_playlists} training playlist(s) longer than {MAX_SENTENCE_LENGTH} tracks"
                " train in overlapping pieces (gensim's limit per sentence)"
            )
        return _train_and_score(
            context, config, search_space, model_config, train, corpus, validate_playlists
        )


def _train_and_score(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    search_space: SearchSpace,
    model_config: ModelConfig,
    train: TrainStatistics,
    corpus: Corpus,
    validate_playlists: pd.DataFrame,
) -> TrainedModel:
    """Train `model_config` on `corpus`, record its learning curve (pruning a search trial whose
    curve falls behind), choose its query strategy on validation and add the metadata."""
    number, _, state = search_space.trials().get(model_config.key, (None, None, None))
    study = search_space.study() if state == TrialState.RUNNING else None
    pruned_at: list[int] = []
    cases = _cases(validate_playlists)
    curve_cases = sample_cases(cases, CURVE_ROWS, config.seed)
    curve: dict[int, float] = {}

    def record_curve(epoch: int, vectors: KeyedVectors) -> bool:
        curve_model = EmbeddingRecommender(TrackEmbedding(vectors), CURVE_STRATEGY, config.seed, train)
        metrics = evaluate(curve_model, curve_cases, config.k)
        curve[epoch] = metrics[metric_name("hit_rate", config.k)]
        context.log.info(f"Learning curve: hit rate@{config.k} {curve[epoch]:.4f} after {epoch} epoch(s)")
        if study is not None and not report(study, number, epoch, curve[epoch]):
            context.log.info(f"Trial {number} pruned after {epoch} epoch(s): its curve is behind the median")
            pruned_at.append(epoch)
            return False
        return True

    started = time.perf_counter()
    vectors = train_embeddings(
        corpus,
        model_config.params,
        seed=config.seed,
        workers=config.workers,
        on_epoch=_progress_logger(context, "Epochs"),
        checkpoint=record_curve,
        checkpoint_every=CURVE_EVERY,
    )
    train_seconds = time.perf_counter() - started
    results, chosen, compared_rows = choose_on_sample(
        TrackEmbedding(vectors),
        cases,
        train,
        config.seed,
        config.k,
        on_progress=_progress_logger(context, "Validation"),
    )
    strategy = chosen.strategy
    hit_rate = metric_name("hit_rate", config.k)
    if study is not None:
        finish(study, number, chosen.metrics[hit_rate], pruned=bool(pruned_at))
        search_space.publish_results(study)
    context.log.info(
        f"Chosen on validation: {strategy.label} (hit rate@{config.k} {chosen.metrics[hit_rate]:.4f})"
    )
    context.add_output_metadata(
        {
            "config": model_config.params,
            "strategy": strategy.label,
            "strategy_settings": strategy.as_dict(),
            **({"search_trial": number} if number is not None else {}),
            **({"pruned_at_epoch": pruned_at[0]} if pruned_at else {}),
            "strategies": _strategy_table(results, chosen, config.k),
            "strategies_compared_on_rows": compared_rows,
            "validation_hit_rate_seed_strategy": round(results[0].metrics[hit_rate], 4),
            "learning_curve": dg.MetadataValue.md(
                learning_curves({model_config.key: curve}, f"Learning curve ({CURVE_STRATEGY.label})")
            ),
            "learning_curve_points": {str(epoch): round(value, 4) for epoch, value in curve.items()},
            "vocabulary_size": len(vectors.index_to_key),
            "playlists_trained_in_pieces": corpus.long_playlists,
            "word2vec_threads": config.workers,
            "train_seconds": round(train_seconds, 2),
            "evaluation_seconds": round(time.perf_counter() - started - train_seconds, 2),
            "k": config.k,
            **_readable(
                {"validation_hit_rate": chosen.metrics[hit_rate], **prefixed(chosen.metrics, "validation")}
            ),
            "validation_rows": len(cases),
        }
    )
    return TrainedModel(
        config_key=model_config.key,
        params=model_config.params,
        seed=config.seed,
        vectors=vectors,
        k=config.k,
        strategy=strategy,
        validation=chosen.metrics,
        validation_rows=len(cases),
        train_seconds=train_seconds,
        successors=(
            train.successors.compact(strategy.min_successor_count, SUCCESSORS_PER_TRACK)
            if strategy.successors_first
            else None
        ),
        learning_curve=curve,
    )


BASELINES = ("most_popular", "item_to_item")


class SelectionConfig(dg.Config):
    require_all_configs: bool = Field(
        default=True,
        description="Fail when a registered config has no trained model; when false, choose among"
        " the trained ones and list the others in the metadata.",
    )


def _baselines(train: TrainStatistics, cases: EvaluationCases, k: int) -> dict[str, dict[str, float]]:
    return {name: evaluate(recommender, cases, k) for name, recommender in baselines(train).items()}


def _baseline_hit_rates(baselines: dict[str, dict[str, float]], k: int) -> dict[str, float]:
    hit_rate = metric_name("hit_rate", k)
    return {f"baseline_{name}_hit_rate": metrics[hit_rate] for name, metrics in baselines.items()}


def _metrics_table(
    rows: dict[str, dict[str, float]], k: int, marked: str | None = None
) -> dg.TableMetadataValue:
    """One row per model or baseline: its hit rates, MRR, NDCG and coverage, rounded for reading."""
    columns = [metric_name("hit_rate", n) for n in sorted({min(METRIC_KS), k})] + [
        metric_name(metric, k) for metric in ("mrr", "coverage")
    ]
    schema = dg.TableSchema(
        columns=[dg.TableColumn("model", "string"), *(dg.TableColumn(column, "float") for column in columns)]
    )
    records = []
    for name, metrics in rows.items():
        label = f"{name} (best)" if name == marked else name
        label = f"{name} (baseline)" if name in BASELINES else label
        values = {column: round(metrics[column], 4) if column in metrics else None for column in columns}
        records.append(dg.TableRecord({"model": label, **values}))
    return dg.MetadataValue.table(records, schema=schema)


def _retrain_inputs(
    instance: dg.DagsterInstance, search_space: SearchSpace, complete: bool
) -> dict[str, str]:
    """The fingerprints of what this selection depended on, when it compared every config."""
    data_version = latest_data_version(instance, "playlists")
    if not complete or data_version is None:
        return {}
    inputs = RetrainInputs(
        data=data_version, search_space=search_space.fingerprint(), code=RETRAIN_CODE_VERSION
    )
    return inputs.as_metadata()


BEATS_BASELINES = "beats_every_baseline_on_validation"
CLOSE_TO_VALIDATION = "test_hit_rate_close_to_validation"


def _verdict(model_hit_rate: float, baselines: dict[str, dict[str, float]], k: int, split: str) -> str:
    """One plain sentence: does the model beat every baseline on `split`?"""
    rates = _baseline_hit_rates(baselines, k)
    beaten_by = baselines_beating(
        model_hit_rate, {name: rates[f"baseline_{name}_hit_rate"] for name in baselines}
    )
    if not beaten_by:
        return f"The model beats every baseline on {split} (hit rate@{k} {model_hit_rate:.4f})."
    return (
        f"A baseline beats the model on {split}: "
        + ", ".join(f"{name} {rates[f'baseline_{name}_hit_rate']:.4f}" for name in beaten_by)
        + f" against the model's {model_hit_rate:.4f} (hit rate@{k})."
    )


@model_asset(
    deps=["train_playlists"],
    check_specs=[
        dg.AssetCheckSpec(
            BEATS_BASELINES,
            asset="best_model",
            description="The shipped (config, strategy) has a higher validation hit rate@K than the"
            " most-popular and item-to-item baselines; warns otherwise.",
        )
    ],
)
def best_model(
    context: dg.AssetExecutionContext,
    config: SelectionConfig,
    search_space: SearchSpace,
    training_files: TrainingFiles,
    embedding_model: ConfigModels,
    validate_playlists: pd.DataFrame,
):
    """The (config, strategy) pair with the highest validation hit rate@K (each config brings the
    strategy chosen for it; ties: smallest config key), compared with every config and with the
    popularity and transition baselines. When every config was compared, it records what the
    retrain depended on (data version, search space, code), so an unchanged retrain is skipped."""
    untrained = embedding_model.untrained
    if untrained and (config.require_all_configs or not embedding_model.summaries):
        raise dg.Failure(
            f"Config(s) registered but not trained: {', '.join(untrained)}. Train them with"
            " `dagster asset materialize -m recsys_assets --select embedding_model --partition KEY`"
            " or run `recsys-assets retrain` (or `make demo`) first, or choose among the trained"
            " ones with the run config require_all_configs: false."
        )
    if untrained:
        context.log.warning(f"Not compared, no trained model: {', '.join(untrained)}")
    models = embedding_model.summaries
    ks = {model.k for model in models.values()}
    if len(ks) > 1:
        raise dg.Failure(
            f"Config models were validated at different K {sorted(ks)}; retrain them with one K."
        )
    chosen = select_best(models)
    winner = embedding_model.load(chosen.config_key)
    if winner.summary() != chosen:
        raise dg.Failure(
            f"The model file of {chosen.config_key} changed while the configs were compared (a"
            " training run of that config finished meanwhile): run the selection again."
        )
    baselines = _baselines(_stored_statistics(context, training_files), _cases(validate_playlists), winner.k)
    ordered = sorted(models.values(), key=lambda m: (-m.validation_hit_rate, m.config_key))
    table = _metrics_table(
        {**{m.config_key: m.validation for m in ordered}, **baselines}, winner.k, winner.config_key
    )
    curves = {
        **{m.config_key: hit_rate_curve(m.validation) for m in ordered},
        **{f"{name} (baseline)": hit_rate_curve(metrics) for name, metrics in baselines.items()},
    }
    verdict = _verdict(winner.validation_hit_rate, baselines, winner.k, "validation")
    context.log.info(
        f"Best of {len(models)} config(s): {winner.config_key}, {winner.strategy.label}. {verdict}"
    )
    rates = _baseline_hit_rates(baselines, winner.k)
    yield dg.Output(
        winner,
        metadata={
            "verdict": verdict,
            "results": table,
            "hit_rate_by_k": dg.MetadataValue.md(hit_rate_curves(curves, "Validation hit rate@K")),
            "learning_curves": dg.MetadataValue.md(
                learning_curves(
                    {m.config_key: m.learning_curve for m in ordered if m.learning_curve},
                    "Learning curves (validation sample)",
                )
            ),
            "winner": winner.config_key,
            "winner_config": winner.params,
            "strategy": winner.strategy.label,
            "k": winner.k,
            **_readable({"validation_hit_rate": winner.validation_hit_rate, **rates}),
            "configs_compared": sorted(models),
            "configs_not_compared": untrained,
            **_retrain_inputs(context.instance, search_space, complete=not untrained),
        },
    )
    yield dg.AssetCheckResult(
        check_name=BEATS_BASELINES,
        passed=not baselines_beating(winner.validation_hit_rate, rates),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"verdict": verdict, **_readable({"model_hit_rate": winner.validation_hit_rate, **rates})},
    )


@dg.asset(
    ins={"test_playlists": CASE_COLUMNS},
    deps=["train_playlists"],
    group_name="evaluation",
    code_version=MODEL_CODE_VERSION,
    check_specs=[
        dg.AssetCheckSpec(
            CLOSE_TO_VALIDATION,
            asset="test_evaluation",
            description="The test hit rate@K is within three standard errors (at least 0.01) of the"
            " validation hit rate@K; warns otherwise.",
        )
    ],
)
def test_evaluation(
    context: dg.AssetExecutionContext,
    training_files: TrainingFiles,
    best_model: TrainedModel,
    test_playlists: pd.DataFrame,
):
    """The best model's next-track metrics on the held-out test playlists under its chosen
    strategy and under the seed's, beside the baselines."""
    k = best_model.k
    cases = _cases(test_playlists)
    train = _stored_statistics(context, training_files)
    progress = _progress_logger(context, "Test")
    metrics = evaluate(best_model.recommender(train), cases, k, progress)
    seed_metrics = evaluate(best_model.recommender(train, SEED_STRATEGY), cases, k)
    baselines = _baselines(train, cases, k)
    hit_rate = metric_name("hit_rate", k)
    tolerance = generalization_tolerance(
        best_model.validation_hit_rate, best_model.validation_rows, len(cases)
    )
    verdict = _verdict(metrics[hit_rate], baselines, k, "test")
    result = {
        "config_key": best_model.config_key,
        "strategy": best_model.strategy.label,
        "k": k,
        "test_hit_rate": metrics[hit_rate],
        "test_hit_rate_seed_strategy": seed_metrics[hit_rate],
        "test_rows": len(cases),
        "validation_hit_rate": best_model.validation_hit_rate,
        **prefixed(metrics, "test"),
        **_baseline_hit_rates(baselines, k),
        "verdict": verdict,
    }
    context.log.info(verdict)
    yield dg.Output(
        result,
        metadata={
            **_readable(result),
            "results": _metrics_table(
                {best_model.config_key: metrics, "seed strategy": seed_metrics, **baselines}, k
            ),
            "examples": _examples(best_model, cases),
        },
    )
    gap = metrics[hit_rate] - best_model.validation_hit_rate
    yield dg.AssetCheckResult(
        check_name=CLOSE_TO_VALIDATION,
        passed=abs(gap) <= tolerance,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=_readable(
            {
                "test_hit_rate": metrics[hit_rate],
                "validation_hit_rate": best_model.validation_hit_rate,
                "difference": gap,
                "tolerance": tolerance,
            }
        ),
    )


EXAMPLES_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("playlist", "int"),
        dg.TableColumn("last input track", "string"),
        dg.TableColumn("held-out track", "string"),
        dg.TableColumn("place", "int"),
        dg.TableColumn("recommended track", "string"),
        dg.TableColumn("hit", "bool"),
    ]
)


def _examples(
    model: TrainedModel, cases: EvaluationCases, rows: int = 5, top: int = 5
) -> dg.TableMetadataValue:
    """The first test playlists, one row per place of the model's top 5: the playlist's last input
    track, its held-out track, the recommended track, and whether it is the held-out one."""
    records = []
    recommender = model.recommender()
    for number, (inputs, target) in enumerate(list(zip(cases.inputs, cases.targets, strict=True))[:rows], 1):
        found = recommender.recommend(inputs, top).tracks
        for place, (track, _) in enumerate(found, start=1):
            records.append(
                dg.TableRecord(
                    {
                        "playlist": number,
                        "last input track": inputs[-1] if place == 1 else "",
                        "held-out track": target if place == 1 else "",
                        "place": place,
                        "recommended track": track,
                        "hit": track == target,
                    }
                )
            )
    return dg.MetadataValue.table(records, schema=EXAMPLES_SCHEMA)
