"""Metadata people read on the asset pages: tables, rounded figures and examples. Built from
the typed results the core returns; nothing reads these values back."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from recsys_assets.core.cases import EvaluationCases
from recsys_assets.core.evaluation import StrategyResult
from recsys_assets.core.metrics import METRIC_KS, metric_name
from recsys_assets.core.model import TrainedModel

BASELINE_SUFFIX = " (baseline)"

STRATEGY_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("strategy", "string"),
        dg.TableColumn("hit_rate@10", "float"),
        dg.TableColumn("hit_rate@K", "float"),
        dg.TableColumn("mrr@K", "float"),
        dg.TableColumn("chosen", "bool"),
    ]
)


def readable(values: Mapping[str, object]) -> dict[str, object]:
    """Metadata values with floats rounded to 4 decimals, as people read them."""
    return {name: round(value, 4) if isinstance(value, float) else value for name, value in values.items()}


def strategy_table(results: list[StrategyResult], chosen: StrategyResult, k: int) -> dg.TableMetadataValue:
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


def metrics_table(
    models: Mapping[str, Mapping[str, float]],
    baselines: Mapping[str, Mapping[str, float]],
    k: int,
    marked: str | None = None,
) -> dg.TableMetadataValue:
    """One row per model, then per baseline: hit rates, MRR and coverage, rounded for reading."""
    columns = [metric_name("hit_rate", n) for n in sorted({min(METRIC_KS), k})] + [
        metric_name(metric, k) for metric in ("mrr", "coverage")
    ]
    schema = dg.TableSchema(
        columns=[dg.TableColumn("model", "string"), *(dg.TableColumn(column, "float") for column in columns)]
    )
    rows = {
        **{f"{name} (best)" if name == marked else name: metrics for name, metrics in models.items()},
        **{f"{name}{BASELINE_SUFFIX}": metrics for name, metrics in baselines.items()},
    }
    records = [
        dg.TableRecord(
            {"model": label, **{c: round(metrics[c], 4) if c in metrics else None for c in columns}}
        )
        for label, metrics in rows.items()
    ]
    return dg.MetadataValue.table(records, schema=schema)


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


def examples_table(
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
