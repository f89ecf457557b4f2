"""Model assets: one embedding model per config partition, and the best of them."""

import os
from dataclasses import replace

import dagster as dg
import pandas as pd
from pydantic import Field

from recsys_assets.core.data.cases import CASE_COLUMNS, EvaluationCases
from recsys_assets.core.data.corpus import MAX_SENTENCE_LENGTH
from recsys_assets.core.evaluation.metrics import hit_rate_curve, metric_name, prefixed
from recsys_assets.core.evaluation.reports import BaselineResults, baselines_beating, early_peak, verdict
from recsys_assets.core.models.family import Alternative, Alternatives, FitContext
from recsys_assets.core.models.registry import FAMILIES
from recsys_assets.core.models.trained import (
    ConfigModels,
    FitReport,
    TrainedModel,
    best_first,
    family_margin,
    fit_config,
    read_model,
    select_best,
    summary_if_present,
    tie_note,
)
from recsys_assets.core.storage.fingerprint import RetrainInputs
from recsys_assets.core.storage.model_locations import served_model_location
from recsys_assets.graph.history import MODEL_FINGERPRINT
from recsys_assets.graph.metadata import BASELINE_SUFFIX, alternatives_table, metrics_table, readable
from recsys_assets.graph.owners import ASSET_OWNERS
from recsys_assets.graph.partitions import model_configs
from recsys_assets.graph.plots import hit_rate_curves, learning_curves
from recsys_assets.graph.records import config_to_train, pin, pinned_message
from recsys_assets.graph.resources import ModelStore, SearchSpace, SearchTrial, StoredTrainingData
from recsys_assets.graph.versions import MODEL_CODE_VERSION, RETRAIN_CODE_VERSION

CASE_INPUT = dg.AssetIn(metadata={"columns": list(CASE_COLUMNS)})


class TrainingConfig(dg.Config):
    seed: int = Field(default=42, description="Seed of Word2Vec and of the random cold-start query.")
    k: int = Field(default=100, ge=1, description="Length of the recommendation list scored by hit rate@K.")
    workers: int = Field(
        default=os.cpu_count() or 1,
        ge=1,
        description="Word2Vec threads (default: every core); only 1 gives bit-identical models.",
    )


def cases_of(frame: pd.DataFrame) -> EvaluationCases:
    return EvaluationCases.from_frame(frame)


def progress_logger(context: dg.AssetExecutionContext, step: str):
    """A callback that logs `step, what: done/total` about ten times over each phase."""

    def report(*progress: str | int) -> None:
        *what, done, total = progress
        if done == total or done % max(1, total // 10) == 0:
            context.log.info(f"{', '.join([step, *what])}: {done}/{total}")

    return report


@dg.asset(
    io_manager_key="model_io_manager",
    ins={"validate_playlists": CASE_INPUT},
    group_name="models",
    owners=ASSET_OWNERS,
    kinds={"gensim", "scipy"},
    code_version=MODEL_CODE_VERSION,
    partitions_def=model_configs,
)
def embedding_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    search_space: SearchSpace,
    training_statistics: StoredTrainingData,
    validate_playlists: pd.DataFrame,
    model_store: ModelStore,
) -> TrainedModel:
    """The model of this partition's config, fitted on train_playlists (the data build's corpus
    file) and scored on the next track of validate_playlists (hit rate@10/50/100, MRR, NDCG,
    coverage), of whichever registered family the config names (Word2Vec vectors with the
    query strategy chosen for them, sequential rules, session kNN, their hybrid, ...)."""
    model_config = config_to_train(context.instance, context.partition_key, search_space)
    context.log.info(f"Training {model_config.key} ({model_config.family}) with {model_config.params}")
    cases = cases_of(validate_playlists)
    trial = search_space.trial(model_config.key)
    with training_statistics.corpus() as corpus:
        if corpus.long_playlists and FAMILIES[model_config.family].epochs is not None:
            context.log.warning(
                f"{corpus.long_playlists} training playlist(s) longer than {MAX_SENTENCE_LENGTH} tracks"
                " train in overlapping pieces (gensim's limit per sentence)"
            )
        data_version = training_statistics.build.data_version
        plain = FitContext(
            corpus,
            training_statistics.statistics,
            cases,
            seed=config.seed,
            k=config.k,
            workers=config.workers,
        )
        report = fit_config(
            model_config,
            replace(
                plain,
                on_curve_point=_curve_reporter(context, trial, config.k),
                on_epoch=progress_logger(context, "Epochs"),
                on_progress=progress_logger(context, "Fit"),
                trained_part=_trained_parts(context, search_space, model_store, plain, data_version),
            ),
            data_version=data_version,
        )
    model = report.model
    if trial is not None:
        trial.finish(model.validation_hit_rate, pruned=report.fit.stopped_at_epoch is not None)
    context.log.info(
        f"Chosen on validation: {model.method} (hit rate@{config.k} {model.validation_hit_rate:.4f})"
    )
    hit_rate = metric_name("hit_rate", config.k)
    context.log.info(
        f"The playlist's own tracks are {'left out of' if model.leaves_out_played else 'kept in'} its lists:"
        f" validation hit rate@{config.k} {report.validation_keeping_played[hit_rate]:.4f} keeping them,"
        f" {report.validation_leaving_out[hit_rate]:.4f} leaving them out"
    )
    context.add_output_metadata(_fit_metadata(report, trial, corpus.long_playlists, len(cases)))
    return model


def _trained_parts(
    context: dg.AssetExecutionContext,
    search_space: SearchSpace,
    model_store: ModelStore,
    plain: FitContext,
    data_version: str,
):
    """How a hybrid of named configs gets each one's model as a part: the config's trained model
    where it was trained on this data build with this config, seed and K; else fitted here (the
    same model: fits are deterministic), when the hybrid trained before it."""

    def trained_part(key: str):
        part = config_to_train(context.instance, key, search_space)
        location = served_model_location(model_store.url, "embedding_model", key)
        summary = summary_if_present(location)
        if (
            summary is not None
            and (summary.data_version, summary.seed, summary.k) == (data_version, plain.seed, plain.k)
            and {name: summary.params.get(name) for name in part.params} == part.params
        ):
            context.log.info(f"Part {key}: its trained model ({summary.family_label})")
            model = read_model(location)
        else:
            context.log.info(f"Part {key}: not trained on this data build yet; fitting it here")
            model = fit_config(part, plain, data_version).model
        return model.as_part(plain.statistics)

    return trained_part


def _curve_reporter(context: dg.AssetExecutionContext, trial: SearchTrial | None, k: int):
    """Log each learning-curve point and report it to the search trial, whose pruner may stop it."""

    def on_point(epoch: int, value: float) -> bool:
        context.log.info(f"Learning curve: hit rate@{k} {value:.4f} after {epoch} epoch(s)")
        if trial is not None and not trial.report(epoch, value):
            context.log.info(
                f"Trial {trial.number} pruned after {epoch} epoch(s): its curve is behind the median"
            )
            return False
        return True

    return on_point


def _fit_metadata(
    report: FitReport, trial: SearchTrial | None, long_playlists: int, rows: int
) -> dict[str, object]:
    model, fit, k = report.model, report.fit, report.model.k
    trains_in_epochs = FAMILIES[model.family].epochs is not None
    return {
        "config": model.params,
        "family": model.family_label,
        **fit.notes,
        **({"search_trial": trial.number} if trial is not None else {}),
        **({"pruned_at_epoch": fit.stopped_at_epoch} if fit.stopped_at_epoch is not None else {}),
        **({"kept_epoch": model.kept_epoch} if model.kept_epoch is not None else {}),
        **(
            {fit.alternatives.name: alternatives_table(fit.alternatives, k)}
            if fit.alternatives is not None
            else {}
        ),
        **(
            {
                "learning_curve": dg.MetadataValue.md(
                    learning_curves({model.config_key: model.learning_curve}, "Learning curve", k)
                )
            }
            if model.learning_curve
            else {}
        ),
        "played_tracks": alternatives_table(
            Alternatives(
                name="played tracks",
                rows=rows,
                tried=[
                    Alternative({"the playlist's own tracks": "kept"}, report.validation_keeping_played),
                    Alternative({"the playlist's own tracks": "left out"}, report.validation_leaving_out),
                ],
                chosen=int(model.leaves_out_played),
            ),
            k,
        ),
        "vocabulary_size": len(model.track_keys),
        "train_seconds": round(model.train_seconds, 2),
        **({"evaluation_seconds": round(fit.evaluation_seconds, 2)} if fit.evaluation_seconds else {}),
        **readable(
            {"validation_hit_rate": model.validation_hit_rate, **prefixed(model.validation, "validation")}
        ),
        "run_settings": {
            "k": k,
            "validation_rows": rows,
            **fit.run_settings,
            **({"playlists_trained_in_pieces": long_playlists} if trains_in_epochs else {}),
        },
    }


class SelectionConfig(dg.Config):
    require_all_configs: bool = Field(
        default=True,
        description="Fail when a registered config has no trained model; when false, choose among"
        " the trained ones and list the others in the metadata.",
    )
    search_space_fingerprint: str | None = Field(
        default=None,
        description="The search-space file as the retrain that trained the configs read it"
        " (recorded for the unchanged-skip); unset: the file as it is now.",
    )
    expected_configs: list[str] | None = Field(
        default=None,
        description="The configs the retrain trained: any of them not registered as a partition is"
        " named as not compared, and the selection does not count as complete.",
    )


def _retrain_inputs(data_version: str, search_space: str, storage: str, complete: bool) -> dict[str, str]:
    """The fingerprints of what this selection depended on, when it compared every config."""
    if not complete:
        return {}
    inputs = RetrainInputs(
        data=data_version, search_space=search_space, code=RETRAIN_CODE_VERSION, storage=storage
    )
    return inputs.as_metadata()


def same_k(results: BaselineResults, k: int) -> None:
    """A Failure when the baselines were scored at another K than the model."""
    if results.k != k:
        raise dg.Failure(
            f"The baselines were scored at K = {results.k}, the models at K = {k}: materialize"
            f" `baselines` with the run config k: {k} (or retrain the models at K = {results.k})."
        )


BEATS_BASELINES = "beats_every_baseline_on_validation"
CURVES_END_NEAR_PEAK = "learning_curves_end_near_their_peak"


@dg.asset(
    io_manager_key="model_io_manager",
    group_name="models",
    owners=ASSET_OWNERS,
    kinds={"gensim", "scipy"},
    code_version=MODEL_CODE_VERSION,
    check_specs=[
        dg.AssetCheckSpec(
            BEATS_BASELINES,
            asset="best_model",
            description="The shipped (config, strategy) has a higher validation hit rate@K than the"
            " most-popular and item-to-item baselines; warns otherwise.",
        ),
        dg.AssetCheckSpec(
            CURVES_END_NEAR_PEAK,
            asset="best_model",
            description="No compared Word2Vec config's learning curve ends more than 10 % below its"
            " peak (trained past its best); warns, naming them, otherwise.",
        ),
    ],
)
def best_model(
    context: dg.AssetExecutionContext,
    config: SelectionConfig,
    search_space: SearchSpace,
    model_store: ModelStore,
    embedding_model: ConfigModels,
    baselines: BaselineResults,
):
    """The config with the highest validation hit rate@K among every family (Word2Vec configs bring
    the strategy chosen for them; ties: smallest config key), compared with every config trained
    on the current data build and with the popularity and transition baselines; the verdict names
    the winning family and its margin over the best of each other family. When every config was
    compared, it records what the retrain depended on (data version, search space, code, storage),
    so an unchanged retrain is skipped. Refuses while a promoted version is pinned."""
    pinned = pin(context.instance)
    if pinned is not None:
        raise dg.Failure(f"Not choosing a model: {pinned_message(pinned)}.")
    models = {
        key: summary
        for key, summary in embedding_model.summaries.items()
        if summary.data_version == baselines.data_version
    }
    stale = sorted(set(embedding_model.summaries) - set(models))
    unregistered = sorted(
        set(config.expected_configs or ()) - set(embedding_model.summaries) - set(embedding_model.untrained)
    )
    untrained = [*embedding_model.untrained, *stale, *unregistered]
    if untrained and (config.require_all_configs or not models):
        raise dg.Failure(
            "Config(s) registered but not trained"
            + (f": {', '.join(embedding_model.untrained)}" if embedding_model.untrained else "")
            + (f"; trained on an older data build only: {', '.join(stale)}" if stale else "")
            + (f"; trained but no longer registered: {', '.join(unregistered)}" if unregistered else "")
            + ". Train them with `dg launch --assets embedding_model --partition KEY` or run"
            " `recsys-assets retrain` (or `make demo`) first, or choose among the trained ones with"
            " the run config require_all_configs: false."
        )
    if embedding_model.untrained:
        context.log.warning(f"Not compared, no trained model: {', '.join(embedding_model.untrained)}")
    if stale:
        context.log.warning(f"Not compared, trained on an older data build only: {', '.join(stale)}")
    if unregistered:
        context.log.warning(f"Not compared, no longer a registered partition: {', '.join(unregistered)}")
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
    same_k(baselines, winner.k)
    ordered = best_first(models)
    rates = baselines.hit_rates("validation")
    peaked = [
        note for m in ordered if (note := early_peak(m.config_key, m.learning_curve, m.k, m.kept_epoch))
    ]
    tied = tie_note(models)
    said = " ".join(
        [
            verdict(winner.validation_hit_rate, rates, winner.k, "validation"),
            family_margin(models),
            *([tied] if tied else []),
            *peaked,
        ]
    )
    context.log.info(f"Best of {len(models)} config(s): {winner.config_key}, {winner.method}. {said}")
    curves = {
        **{m.config_key: hit_rate_curve(m.validation) for m in ordered},
        **{
            f"{name}{BASELINE_SUFFIX}": hit_rate_curve(metrics)
            for name, metrics in baselines.validation.items()
        },
    }
    yield dg.Output(
        winner,
        metadata={
            "verdict": said,
            "results": metrics_table(
                {m.config_key: m.validation for m in ordered},
                baselines.validation,
                winner.k,
                winner.config_key,
            ),
            "hit_rate_by_k": dg.MetadataValue.md(hit_rate_curves(curves, "Validation hit rate@K")),
            "learning_curves": dg.MetadataValue.md(
                learning_curves(
                    {m.config_key: m.learning_curve for m in ordered if m.learning_curve},
                    "Learning curves of the Word2Vec configs",
                    winner.k,
                )
            ),
            "winner": winner.config_key,
            MODEL_FINGERPRINT: winner.summary().fingerprint,
            "winner_config": winner.params,
            "strategy": winner.method,
            "k": winner.k,
            **readable(
                {
                    "validation_hit_rate": winner.validation_hit_rate,
                    **{f"baseline_{name}_hit_rate": rate for name, rate in rates.items()},
                }
            ),
            "configs_compared": sorted(models),
            "configs_not_compared": untrained,
            **_retrain_inputs(
                baselines.data_version,
                config.search_space_fingerprint or search_space.fingerprint(),
                model_store.storage,
                complete=not untrained,
            ),
        },
    )
    yield dg.AssetCheckResult(
        check_name=CURVES_END_NEAR_PEAK,
        passed=not peaked,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "trained_past_their_best": dg.MetadataValue.md("\n".join(f"- {n}" for n in peaked) or "none")
        },
    )
    yield dg.AssetCheckResult(
        check_name=BEATS_BASELINES,
        passed=not baselines_beating(winner.validation_hit_rate, rates),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "verdict": said,
            **readable(
                {
                    "model_hit_rate": winner.validation_hit_rate,
                    **{f"baseline_{n}_hit_rate": r for n, r in rates.items()},
                }
            ),
        },
    )
