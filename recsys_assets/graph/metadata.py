"""Metadata people read on the asset pages: tables, rounded figures and examples. Built from
the typed results the core returns; nothing reads these values back."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import numpy as np

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.track_ids import split_track_id
from recsys_assets.core.evaluation.metrics import METRIC_KS, metric_name
from recsys_assets.core.models.family import Alternatives
from recsys_assets.core.models.trained import TrainedModel

BASELINE_SUFFIX = " (baseline)"


def column_name(metric: str) -> str:
    """A metric's short name as a table column (`hit@100`, `mrr@100`, `cov@100`), so tables fit
    the asset page."""
    return metric.replace("hit_rate", "hit").replace("coverage", "cov")


def _unbroken(text: str) -> str:
    """`text` with non-breaking spaces, so a short phrase stays on one line of a table cell."""
    return text.replace(" ", "\u00a0")


def readable(values: Mapping[str, object]) -> dict[str, object]:
    """Metadata values with floats rounded to 4 decimals, as people read them."""
    return {name: round(value, 4) if isinstance(value, float) else value for name, value in values.items()}


def alternatives_table(alternatives: Alternatives, k: int) -> dg.TableMetadataValue:
    """The ways a fit compared on validation (on the rows they were compared on), best first,
    rounded for reading."""
    hit_rate = metric_name("hit_rate", k)
    metrics = [metric_name("hit_rate", 10), hit_rate, metric_name("mrr", k)]
    settings = list(alternatives.tried[0].settings)
    ordered = sorted(enumerate(alternatives.tried), key=lambda numbered: -numbered[1].metrics[hit_rate])
    return dg.MetadataValue.table(
        [
            dg.TableRecord(
                {
                    "chosen": number == alternatives.chosen,
                    **{name: _unbroken(tried.settings[name]) for name in settings},
                    **{column_name(name): round(tried.metrics[name], 4) for name in metrics},
                }
            )
            for number, tried in ordered
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("chosen", "bool"),
                *(dg.TableColumn(name, "string") for name in settings),
                *(dg.TableColumn(column_name(name), "float") for name in metrics),
            ]
        ),
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
        columns=[
            dg.TableColumn("model", "string"),
            *(dg.TableColumn(column_name(column), "float") for column in columns),
        ]
    )
    rows = {
        **{f"{name} (best)" if name == marked else name: metrics for name, metrics in models.items()},
        **{f"{name}{BASELINE_SUFFIX}": metrics for name, metrics in baselines.items()},
    }
    records = [
        dg.TableRecord(
            {
                "model": label,
                **{column_name(c): round(metrics[c], 4) if c in metrics else None for c in columns},
            }
        )
        for label, metrics in rows.items()
    ]
    return dg.MetadataValue.table(records, schema=schema)


EXAMPLE_CANDIDATES = 500
"""Sampled test rows the examples table looks through for its hits and misses."""
EXAMPLES_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("place", "string", description="The held-out track's place in the model's list"),
        dg.TableColumn("held-out track", "string", description="The track that came next"),
        dg.TableColumn("recommended first", "string", description="The model's first 3 next tracks"),
        dg.TableColumn("last input track", "string"),
        dg.TableColumn("test row", "int", description="The playlist's row in the test split"),
    ]
)
"""The examples' columns, what people look for first first: where the track came, what came
first, then where the playlist left off (the table fits a 1,600-pixel page)."""


def _shown(track: str) -> str:
    """A track id as people read it: artist — track."""
    return " — ".join(split_track_id(track))


def examples_table(
    model: TrainedModel, cases: EvaluationCases, seed: int, hits: int = 3, misses: int = 3
) -> dg.TableMetadataValue:
    """Test playlists sampled with `seed`, up to `hits` the model's top K finds and `misses` it
    does not, one row each: the last input track, the held-out track, its place in the list
    `recsys-assets recommend` gives (the served list), and that list's start."""
    recommender = model.recommender()
    wanted = {True: hits, False: misses}
    records = []
    for row in np.random.default_rng(seed).permutation(len(cases))[:EXAMPLE_CANDIDATES]:
        inputs, target = cases.inputs[row], cases.targets[row]
        listed = [track for track, _ in recommender.recommend(inputs, model.k).tracks]
        hit = target in listed
        if not wanted[hit]:
            continue
        wanted[hit] -= 1
        records.append(
            dg.TableRecord(
                {
                    "place": str(listed.index(target) + 1) if hit else f"not in the {model.k}",
                    "held-out track": _shown(target),
                    "recommended first": "; ".join(map(_shown, listed[:3])),
                    "last input track": _shown(inputs[-1]),
                    "test row": int(row),
                }
            )
        )
        if not any(wanted.values()):
            break
    return dg.MetadataValue.table(records, schema=EXAMPLES_SCHEMA)
