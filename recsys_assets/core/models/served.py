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
    """A config, the summary of the model it serves (None before it is trained), and whether
    the best model serves that very model."""

    key: str
    model: ModelSummary | None
    best: bool

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values."""
        model = self.model
        return {
            "config_key": self.key,
            "best": self.best,
            "trained": model is not None,
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


def served_configs(models_location: str, configs: list[ModelConfig]) -> list[ServedConfig]:
    """Each config with its served model's summary, best first (untrained ones last)."""
    best = summary_if_present(served_model_location(models_location, "best_model"))
    rows = []
    for config in configs:
        model = summary_if_present(served_model_location(models_location, "embedding_model", config.key))
        chosen = best is not None and model is not None and model.fingerprint == best.fingerprint
        rows.append(ServedConfig(config.key, model, chosen))
    return sorted(
        rows, key=lambda row: best_first_key(row.model.validation_hit_rate if row.model else -1.0, row.key)
    )
