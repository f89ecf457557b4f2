"""What each config serves now, read from the model files' manifests alone (no Dagster, no
arrays): the listing `recsys-assets models` prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recsys_assets.core.models.config import ModelConfig
from recsys_assets.core.models.trained import ModelSummary, best_first_key, summary_if_present
from recsys_assets.core.storage.model_locations import served_model_location


@dataclass(frozen=True)
class ServedConfig:
    """A config, the summary of the model it serves (None before it is trained or where its
    file is damaged: then `problem` says what is wrong), and whether the best model serves that
    very model."""

    key: str
    model: ModelSummary | None
    best: bool
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values."""
        model = self.model
        return {
            "config_key": self.key,
            "best": self.best,
            "trained": model is not None,
            **({"damaged": self.problem} if self.problem else {}),
            **(
                {
                    "family": model.family,
                    "method": model.method,
                    "params": model.params,
                    "k": model.k,
                    "validation": model.validation,
                    "vocabulary_size": model.vocabulary_size,
                    "train_seconds": model.train_seconds,
                    "data_version": model.data_version,
                }
                if model
                else {}
            ),
        }


def _summary_or_problem(location: str) -> tuple[ModelSummary | None, str | None]:
    """The summary of the model file at `location` (None where there is none), or what is wrong."""
    try:
        return summary_if_present(location), None
    except ValueError as error:
        return None, str(error)


def served_configs(models_location: str, configs: list[ModelConfig]) -> tuple[list[ServedConfig], str | None]:
    """Each config with its served model's summary, best first (untrained and damaged ones
    last), and what is wrong with the best model's file (None when its manifest reads whole)."""
    best, problem = _summary_or_problem(served_model_location(models_location, "best_model"))
    rows = []
    for config in configs:
        model, damaged = _summary_or_problem(
            served_model_location(models_location, "embedding_model", config.key)
        )
        chosen = best is not None and model is not None and model.fingerprint == best.fingerprint
        rows.append(ServedConfig(config.key, model, chosen, damaged))
    ordered = sorted(
        rows, key=lambda row: best_first_key(row.model.validation_hit_rate if row.model else -1.0, row.key)
    )
    return ordered, problem
