"""A trained model of any family with its config and validation result, and its file format."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from recsys_assets.core.data.statistics import Successors, TrainStatistics
from recsys_assets.core.evaluation.metrics import metric_name
from recsys_assets.core.models.base import Recommender
from recsys_assets.core.models.scorer_files import scorer_arrays, scorer_from_arrays
from recsys_assets.core.models.sparse import TrackScorer
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.recommender import EmbeddingRecommender
from recsys_assets.core.models.word2vec.strategies import QueryStrategy
from recsys_assets.core.storage.files import is_local, local_path, write_bytes_atomically

if TYPE_CHECKING:
    from gensim.models.keyedvectors import KeyedVectors

FORMAT_VERSION = 4
READABLE_FORMATS = (2, 3, 4)
"""Format 2 files (before successor lists) still load: no successors, the strategy's defaults;
format 3 files (before families) load as Word2Vec models."""
FAMILY_LABELS = {
    "rules": "sequential rules",
    "session_knn": "session kNN",
    "hybrid": "hybrid of rules and session kNN",
}
"""How each family that scores tracks directly reads in a results table."""
SUCCESSORS_PER_TRACK = 1_000
"""The most successors of one track a model file keeps: more than any recommendation list uses."""


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    """What a model file records of its model besides the arrays: config, strategy, validation."""

    config_key: str
    params: dict[str, Any]
    seed: int
    k: int
    strategy: QueryStrategy
    validation: dict[str, float]
    validation_rows: int
    train_seconds: float
    learning_curve: dict[int, float] = field(default_factory=dict)
    """Validation hit rate@k on a fixed sample of rows, by epochs trained."""
    data_version: str | None = None
    """The data build the model was trained and validated on (None in files written before it
    was recorded)."""
    family: str = "word2vec"
    """The model family: word2vec, rules, session_knn or hybrid."""

    @property
    def method(self) -> str:
        """How the model lists tracks: its query strategy for Word2Vec, else its family."""
        return self.strategy.label if self.family == "word2vec" else FAMILY_LABELS[self.family]

    @property
    def validation_hit_rate(self) -> float:
        """Hit rate@k on the validation split, the number configs are compared by."""
        return self.validation[metric_name("hit_rate", self.k)]


@dataclass(frozen=True, kw_only=True)
class ModelSummary(ModelRecord):
    """A model file's record and its vocabulary's size, read without the arrays."""

    vocabulary_size: int

    @property
    def fingerprint(self) -> str:
        """An id of this trained model: the same whenever its file is read, new with every
        training (its record holds the training's time)."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class TrainedModel(ModelRecord):
    """One config's fitted model, how it was trained and how it scored on validation: track
    vectors (and successors) for Word2Vec, a track scorer for the other families."""

    vectors: KeyedVectors | None = None
    successors: Successors | None = None
    scorer: TrackScorer | None = None

    def __post_init__(self) -> None:
        if (self.vectors is None) == (self.scorer is None):
            raise ValueError(f"{self.config_key}: a model holds either vectors or a scorer")

    @property
    def track_keys(self) -> list[str]:
        """The ids of the tracks the model knows."""
        if self.vectors is not None:
            return list(self.vectors.index_to_key)
        return [str(track) for track in self.scorer.statistics.tracks]

    @cached_property
    def embedding(self) -> TrackEmbedding:
        """The vectors with their unit vectors and artist index, computed once."""
        return TrackEmbedding(self.vectors)

    def recommender(
        self, statistics: TrainStatistics | None = None, strategy: QueryStrategy | None = None
    ) -> Recommender:
        """The model under its strategy (or `strategy`): for evaluation with the data build's
        `statistics`, for serving (None) with the successors its file keeps. A scorer family has
        no strategy and ranks the same either way."""
        if self.scorer is not None:
            return self.scorer
        return EmbeddingRecommender(
            self.embedding, strategy or self.strategy, self.seed, statistics, self.successors
        )

    def summary(self) -> ModelSummary:
        """Everything but the vectors and successors."""
        record = {item.name: getattr(self, item.name) for item in fields(ModelRecord)}
        size = (
            len(self.vectors.index_to_key) if self.vectors is not None else len(self.scorer.statistics.tracks)
        )
        return ModelSummary(**record, vocabulary_size=size)

    def describe(self) -> dict[str, Any]:
        """Everything but the vectors, as JSON-ready values."""
        summary = self.summary()
        return {
            **{item.name: getattr(summary, item.name) for item in fields(ModelSummary)},
            "strategy": summary.strategy.as_dict(),
            "learning_curve": {str(epoch): value for epoch, value in summary.learning_curve.items()},
        }


@dataclass(frozen=True)
class ConfigModels:
    """The summary of every registered config's model file, the configs without a file, and
    `load`, which reads one config's model whole (so choosing among many holds one in memory)."""

    summaries: dict[str, ModelSummary]
    untrained: list[str]
    load: Callable[[str], TrainedModel]


def model_bytes(model: TrainedModel) -> bytes:
    """The model as the bytes of one .npz file: the vectors and a JSON manifest of the rest."""
    manifest: dict[str, Any] = {"format_version": FORMAT_VERSION, **model.describe()}
    if model.scorer is not None:
        arrays = {"manifest": _json_bytes(manifest), **scorer_arrays(model.scorer)}
    else:
        manifest |= {
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


def _summary(manifest: dict[str, Any]) -> ModelSummary:
    return ModelSummary(
        config_key=manifest["config_key"],
        params=manifest["params"],
        seed=manifest["seed"],
        k=manifest["k"],
        strategy=QueryStrategy.from_dict(manifest["strategy"]),
        validation=manifest["validation"],
        validation_rows=manifest["validation_rows"],
        train_seconds=manifest["train_seconds"],
        vocabulary_size=manifest["vocabulary_size"],
        learning_curve={int(epoch): value for epoch, value in manifest.get("learning_curve", {}).items()},
        data_version=manifest.get("data_version"),
        family=manifest.get("family", "word2vec"),
    )


def _archive(file: IO[bytes], source: str) -> Any:
    """The .npz archive of a model in `file`; a ValueError naming `source` if it holds none."""
    try:
        archive = np.load(file)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{source}: not a model file, expected a .npz archive ({error})") from None
    if "manifest" not in getattr(archive, "files", []):
        raise ValueError(f"{source}: not a model file, expected a .npz archive with a manifest")
    return archive


def _manifest(archive: Any, source: str) -> dict[str, Any]:
    manifest = json.loads(archive["manifest"].tobytes().decode("utf-8"))
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise ValueError(
            f"{source}: model format {manifest.get('format_version')!r}, expected one of {READABLE_FORMATS}"
        )
    return manifest


def model_from_bytes(data: bytes, source: str) -> TrainedModel:
    """The model in bytes written by `model_bytes`; `source` names them in errors."""
    with _archive(io.BytesIO(data), source) as archive:
        manifest = _manifest(archive, source)
        summary = _summary(manifest)
        record = {item.name: getattr(summary, item.name) for item in fields(ModelRecord)}
        if "vectors" not in archive:
            return TrainedModel(**record, scorer=scorer_from_arrays(archive))
        vectors = archive["vectors"]
        successors = _successors(archive)
    from gensim.models.keyedvectors import KeyedVectors

    keyed = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
    keyed.add_vectors(manifest["keys"], vectors)
    if manifest["counts"]:
        keyed.allocate_vecattrs(attrs=["count"], types=[np.int64])
        keyed.expandos["count"][:] = manifest["counts"]
    return TrainedModel(**record, vectors=keyed, successors=successors)


def summary_from_file(file: IO[bytes], source: str) -> ModelSummary:
    """The summary of the model file open in `file` (seekable), reading its manifest only;
    `source` names the file in errors."""
    with _archive(file, source) as archive:
        return _summary(_manifest(archive, source))


def save_model(model: TrainedModel, path: Path) -> None:
    """Write the model to a local .npz file whole, or leave the previous file as it was."""
    write_bytes_atomically(path, model_bytes(model))


def load_model(path: Path) -> TrainedModel:
    """Read a model written by `save_model`."""
    return model_from_bytes(path.read_bytes(), str(path))


def read_model(location: str) -> TrainedModel:
    """Read the model file at a local path or any fsspec URL (s3://, memory://, ...)."""
    if is_local(location):
        return load_model(Path(local_path(location)))
    from upath import UPath

    return model_from_bytes(UPath(location).read_bytes(), location)


def read_summary(location: str) -> ModelSummary:
    """The summary of the model file at a local path or fsspec URL, reading its manifest only."""
    if is_local(location):
        with open(local_path(location), "rb") as file:
            return summary_from_file(file, location)
    import fsspec

    with fsspec.open(location, "rb") as file:
        return summary_from_file(file, location)


def summary_if_present(location: str) -> ModelSummary | None:
    """`read_summary(location)`, or None when there is no file there."""
    try:
        return read_summary(location)
    except FileNotFoundError:
        return None


class Validated(Protocol):
    """A model or its summary: a config key and a validation hit rate."""

    @property
    def config_key(self) -> str: ...

    @property
    def method(self) -> str:
        """How the model lists tracks: its query strategy for Word2Vec, else its family."""
        return self.strategy.label if self.family == "word2vec" else FAMILY_LABELS[self.family]

    @property
    def validation_hit_rate(self) -> float: ...


ValidatedModel = TypeVar("ValidatedModel", bound=Validated)


def best_first_key(validation_hit_rate: float, config_key: str) -> tuple[float, str]:
    """The order models are listed and chosen in: highest validation hit rate first, ties by
    the smallest config key."""
    return -validation_hit_rate, config_key


def best_first(models: Mapping[str, ValidatedModel]) -> list[ValidatedModel]:
    """The models, best first (`best_first_key`)."""
    return sorted(
        models.values(), key=lambda model: best_first_key(model.validation_hit_rate, model.config_key)
    )


def best_of_each_family(models: Mapping[str, ModelSummary]) -> dict[str, ModelSummary]:
    """The best model of each family among `models`, best family first."""
    best: dict[str, ModelSummary] = {}
    for model in best_first(models):
        best.setdefault(model.family, model)
    return best


def _family_name(model: ModelRecord) -> str:
    return "Word2Vec" if model.family == "word2vec" else FAMILY_LABELS[model.family]


def family_margin(models: Mapping[str, ModelSummary]) -> str:
    """One sentence naming the winning family and its margin over the best of each other one."""
    best = list(best_of_each_family(models).values())
    winner, others = best[0], best[1:]
    said = f"Best family: {_family_name(winner)} ({winner.config_key}, {winner.validation_hit_rate:.4f})"
    if not others:
        return said + "."
    margins = ", ".join(
        f"{_family_name(other)} {other.validation_hit_rate:.4f}"
        + (
            f" ({winner.validation_hit_rate / other.validation_hit_rate:.2f}x)"
            if other.validation_hit_rate > 0
            else ""
        )
        for other in others
    )
    return f"{said}, ahead of the best {margins}."


def select_best(models: Mapping[str, ValidatedModel]) -> ValidatedModel:
    """The best model (`best_first_key`)."""
    if not models:
        raise ValueError("no trained models to choose from")
    return best_first(models)[0]
