"""Evaluation assets: the baselines on both splits of a data build, and the best model on test."""

import dagster as dg
import pandas as pd
from pydantic import Field

from recsys_assets.core.evaluation.evaluator import evaluate
from recsys_assets.core.evaluation.metrics import metric_name, prefixed
from recsys_assets.core.evaluation.reports import (
    BaselineResults,
    TestEvaluation,
    generalization_tolerance,
    verdict,
    verdict_headline,
)
from recsys_assets.core.models.baselines import evaluate_baselines
from recsys_assets.core.models.trained import TrainedModel
from recsys_assets.graph.history import MODEL_FINGERPRINT
from recsys_assets.graph.metadata import examples_table, metrics_table, readable
from recsys_assets.graph.models import CASE_INPUT, cases_of, progress_logger, same_k
from recsys_assets.graph.owners import ASSET_OWNERS
from recsys_assets.graph.resources import StoredTrainingData
from recsys_assets.graph.versions import MODEL_CODE_VERSION

CLOSE_TO_VALIDATION = "test_hit_rate_close_to_validation"


class BaselinesConfig(dg.Config):
    k: int = Field(default=100, ge=1, description="Length of the recommendation list, as the models'.")


@dg.asset(
    ins={"validate_playlists": CASE_INPUT, "test_playlists": CASE_INPUT},
    group_name="evaluation",
    owners=ASSET_OWNERS,
    kinds={"python"},
    code_version=MODEL_CODE_VERSION,
)
def baselines(
    config: BaselinesConfig,
    training_statistics: StoredTrainingData,
    validate_playlists: pd.DataFrame,
    test_playlists: pd.DataFrame,
) -> dg.Output[BaselineResults]:
    """What every model must beat, scored once per data build through the same path as the models:
    the most played training tracks, and the tracks that followed the last track most often
    (item-to-item), each on the validate and test playlists, each leaving the playlist's own
    tracks out where that scores better on validation, as the models do."""
    results = evaluate_baselines(
        training_statistics.statistics,
        cases_of(validate_playlists),
        cases_of(test_playlists),
        config.k,
        training_statistics.build.data_version,
    )
    return dg.Output(
        results,
        metadata={
            "validation": metrics_table({}, results.validation, results.k),
            "test": metrics_table({}, results.test, results.k),
            "k": results.k,
            "leaving_out_played": ", ".join(results.leaving_out_played)
            or "none (keeping them scored as well)",
            **readable(
                {
                    f"validation_{name}_hit_rate": rate
                    for name, rate in results.hit_rates("validation").items()
                }
            ),
            **readable({f"test_{name}_hit_rate": rate for name, rate in results.hit_rates("test").items()}),
        },
    )


@dg.asset(
    ins={"test_playlists": CASE_INPUT},
    group_name="evaluation",
    owners=ASSET_OWNERS,
    kinds={"python"},
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
    training_statistics: StoredTrainingData,
    best_model: TrainedModel,
    baselines: BaselineResults,
    test_playlists: pd.DataFrame,
):
    """The best model's next-track metrics on the held-out test playlists under its chosen
    strategy and under the tutorial flow's, beside the baselines."""
    k = best_model.k
    same_k(baselines, k)
    cases = cases_of(test_playlists)
    train = training_statistics.statistics
    metrics = evaluate(best_model.recommender(train), cases, k, progress_logger(context, "Test"))
    tutorial = best_model.tutorial_recommender(train)
    seed_metrics = evaluate(tutorial, cases, k) if tutorial is not None else None
    rates = baselines.hit_rates("test")
    hit_rate = metric_name("hit_rate", k)
    result = TestEvaluation(
        config_key=best_model.config_key,
        strategy=best_model.method,
        k=k,
        metrics=metrics,
        seed_strategy_metrics=seed_metrics,
        test_rows=len(cases),
        validation_hit_rate=best_model.validation_hit_rate,
        baseline_hit_rates=rates,
        verdict=verdict(metrics[hit_rate], rates, k, "test"),
    )
    context.log.info(result.verdict)
    yield dg.Output(
        result,
        metadata={
            **readable(
                {
                    "config_key": result.config_key,
                    MODEL_FINGERPRINT: best_model.summary().fingerprint,
                    "strategy": result.strategy,
                    "k": k,
                    "test_hit_rate": result.test_hit_rate,
                    **(
                        {"test_hit_rate_seed_strategy": result.test_hit_rate_seed_strategy}
                        if seed_metrics is not None
                        else {}
                    ),
                    "test_rows": result.test_rows,
                    "validation_hit_rate": result.validation_hit_rate,
                    **prefixed(metrics, "test"),
                    **{f"baseline_{name}_hit_rate": rate for name, rate in rates.items()},
                }
            ),
            "verdict": verdict_headline(result.test_hit_rate, rates),
            "results": metrics_table(
                {
                    best_model.config_key: metrics,
                    **({"seed strategy": seed_metrics} if seed_metrics is not None else {}),
                },
                baselines.test,
                k,
            ),
            "examples": examples_table(best_model, cases, seed=best_model.seed),
        },
    )
    tolerance = generalization_tolerance(
        best_model.validation_hit_rate, best_model.validation_rows, len(cases)
    )
    gap = result.test_hit_rate - best_model.validation_hit_rate
    yield dg.AssetCheckResult(
        check_name=CLOSE_TO_VALIDATION,
        passed=abs(gap) <= tolerance,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=readable(
            {
                "test_hit_rate": result.test_hit_rate,
                "validation_hit_rate": best_model.validation_hit_rate,
                "difference": gap,
                "tolerance": tolerance,
            }
        ),
    )
