"""A trained embedding model with its config and validation result, and its file format."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gensim.models.keyedvectors import KeyedVectors

from recsys_assets.core.baselines import Successors
from recsys_assets.core.files import write_bytes_atomically
from recsys_assets.core.metrics import metric_name
from recsys_assets.core.strategies import QueryStrategy

FORMAT_VERSION = 3
READABLE_FORMATS = (2, 3)
"""Format 2 files (before successor lists) still load: no successors, the strategy's defaults."""
SUCCESSORS_PER_TRACK = 1_000
"""The most successors of one track a model file keeps: more than any recommendation list uses."""


@dataclass(frozen=True)
class TrainedModel:
    """Track vectors of one config, how they were trained and how they scored on validation."""

    config_key: str
    params: dict[str, Any]
    seed: int
    vectors: KeyedVectors
    k: int
    strategy: QueryStrategy
    validation: dict[str, float]
    validation_rows: int
    train_seconds: float
    successors: Successors | None = None
    learning_curve: dict[int, float] = field(default_factory=dict)
    """Validation hit rate@k on a fixed sample of rows, by epochs trained."""

    @property
    def validation_hit_rate(self) -> float:
        """Hit rate@k on the validation split, the number configs are compared by."""
        return self.validation[metric_name("hit_rate", self.k)]

    def describe(self) -> dict[str, Any]:
        """Everything but the vectors, as JSON-ready values."""
        return {
            "config_key": self.config_key,
            "params": self.params,
            "seed": self.seed,
            "k": self.k,
            "strategy": self.strategy.as_dict(),
            "validation": self.validation,
            "validation_rows": self.validation_rows,
            "train_seconds": self.train_seconds,
            "vocabulary_size": len(self.vectors.index_to_key),
            "learning_curve": {str(epoch): value for epoch, value in self.learning_curve.items()},
        }


@dataclass(frozen=True)
class ConfigModels:
    """The trained model of every registered config that has one, and the configs without."""

    models: dict[str, TrainedModel]
    untrained: list[str]


def model_bytes(model: TrainedModel) -> bytes:
    """The model as the bytes of one .npz file: the vectors and a JSON manifest of the rest."""
    manifest = {
        "format_version": FORMAT_VERSION,
        **model.describe(),
        "keys": model.vectors.index_to_key,
        "counts": [int(count) for count in model.vectors.expandos.get("count", [])],
    }
    arrays = {
        "vectors": np.asarray(model.vectors.vectors, dtype=np.float32),
        "manifest": _json_bytes(manifest),
    }
    if model.successors is not None:
        arrays |= {
            "successor_tracks": _json_bytes(model.successors.tracks.tolist()),
            "successor_start": model.successors.start.astype(np.int64),
            "successor_followers": model.successors.followers.astype(np.int32),
            "successor_counts": model.successors.counts.astype(np.int32),
        }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _json_bytes(value: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def _successors(archive: Any) -> Successors | None:
    if "successor_tracks" not in archive:
        return None
    return Successors(
        tracks=np.asarray(json.loads(archive["successor_tracks"].tobytes().decode("utf-8")), dtype=object),
        start=archive["successor_start"],
        followers=archive["successor_followers"].astype(np.int64),
        counts=archive["successor_counts"].astype(np.int64),
    )


def model_from_bytes(data: bytes, source: str) -> TrainedModel:
    """The model in bytes written by `model_bytes`; `source` names them in errors."""
    with np.load(io.BytesIO(data)) as archive:
        vectors = archive["vectors"]
        manifest = json.loads(archive["manifest"].tobytes().decode("utf-8"))
        successors = _successors(archive)
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise ValueError(
            f"{source}: model format {manifest.get('format_version')!r}, expected one of {READABLE_FORMATS}"
        )
    keyed = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
    keyed.add_vectors(manifest["keys"], vectors)
    if manifest["counts"]:
        keyed.allocate_vecattrs(attrs=["count"], types=[np.int64])
        keyed.expandos["count"][:] = manifest["counts"]
    return TrainedModel(
        config_key=manifest["config_key"],
        params=manifest["params"],
        seed=manifest["seed"],
        vectors=keyed,
        k=manifest["k"],
        strategy=QueryStrategy.from_dict(manifest["strategy"]),
        validation=manifest["validation"],
        validation_rows=manifest["validation_rows"],
        train_seconds=manifest["train_seconds"],
        successors=successors,
        learning_curve={int(epoch): value for epoch, value in manifest.get("learning_curve", {}).items()},
    )


def save_model(model: TrainedModel, path: Path) -> None:
    """Write the model to a local .npz file whole, or leave the previous file as it was."""
    write_bytes_atomically(path, model_bytes(model))


def load_model(path: Path) -> TrainedModel:
    """Read a model written by `save_model`."""
    return model_from_bytes(path.read_bytes(), str(path))


def read_model(location: str) -> TrainedModel:
    """Read the model file at a local path or any fsspec URL (s3://, memory://, ...)."""
    if "://" not in location or location.startswith("file://"):
        return load_model(Path(location.removeprefix("file://")))
    from upath import UPath

    return model_from_bytes(UPath(location).read_bytes(), location)


def select_best(models: dict[str, TrainedModel]) -> TrainedModel:
    """The model with the highest validation hit rate; ties go to the smallest config key."""
    if not models:
        raise ValueError("no trained models to choose from")
    return min(models.values(), key=lambda model: (-model.validation_hit_rate, model.config_key))
