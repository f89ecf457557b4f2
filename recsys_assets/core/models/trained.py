"""A trained model of any family with its config and validation result, its file format, and
the fit of a config into one."""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import numpy as np

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.data.track_names import ResolvedTracks, resolve_tracks
from recsys_assets.core.evaluation.evaluator import ranking_summary
from recsys_assets.core.evaluation.metrics import metric_name
from recsys_assets.core.models.base import Recommendations, Recommender
from recsys_assets.core.models.config import ModelConfig
from recsys_assets.core.models.family import FitContext, Fitted, FittedModel
from recsys_assets.core.models.file_checks import DamagedModelFile, entry, finite
from recsys_assets.core.models.registry import DEFAULT_FAMILY, FAMILIES
from recsys_assets.core.models.sparse import TrackScorer
from recsys_assets.core.models.sparse_files import json_array, json_of_array
from recsys_assets.core.models.word2vec.strategies import QueryStrategy
from recsys_assets.core.storage.files import (
    NotARegularFile,
    check_regular_file,
    is_local,
    local_path,
    write_bytes_atomically,
)
from recsys_assets.core.storage.fingerprint import bytes_fingerprint, location_fingerprint

FORMAT_VERSION = 5
READABLE_FORMATS = (2, 3, 4, 5)
"""Format 2 files (before successor lists) still load: no successors, the strategy's defaults;
format 3 files (before families) load as Word2Vec models; format 4 files kept a Word2Vec model's
track ids and plays in the manifest, which format 5 keeps as arrays."""


def method_of(family: str, strategy: QueryStrategy) -> str:
    """How a model lists tracks: its query strategy where its family has them, else its family."""
    spec = FAMILIES[family]
    return spec.describe_strategy(strategy) if spec.describe_strategy else spec.label


class AmbiguousTracks(ValueError):
    """Words that name several tracks; `resolved.ambiguous` lists the candidates of each."""

    def __init__(self, resolved: ResolvedTracks) -> None:
        super().__init__(
            "; ".join(f"{text!r} matches several tracks" for text in resolved.ambiguous)
            + ": give each as artist|||track"
        )
        self.resolved = resolved


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
    family: str = DEFAULT_FAMILY
    """The model family's name in the registry."""
    leaves_out_played: bool = False
    """Whether the model's lists leave the playlist's own tracks out, as chosen on validation
    (False in files written before the choice: their lists were evaluated keeping them)."""
    kept_epoch: int | None = None
    """The epoch of the learning curve whose vectors the model keeps (None: a family without
    epochs, or a file written before it was recorded: the last epoch)."""

    @property
    def method(self) -> str:
        """How the model lists tracks: its query strategy for Word2Vec, else its family."""
        return method_of(self.family, self.strategy)

    @property
    def family_label(self) -> str:
        """The family as tables name it."""
        return FAMILIES[self.family].label

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
    """One config's fitted model (its family's `FittedModel`), how it was trained and how it
    scored on validation."""

    fitted: FittedModel

    @property
    def track_keys(self) -> list[str]:
        """The ids of the tracks the model knows."""
        return self.fitted.track_keys

    def recommender(
        self,
        statistics: TrainStatistics | None = None,
        strategy: QueryStrategy | None = None,
        leave_out_played: bool | None = None,
    ) -> Recommender:
        """The model as it is served, under its strategy (or `strategy`), leaving the playlist's
        own tracks out as chosen on validation (or as `leave_out_played` says): for evaluation
        with the data build's `statistics`, for serving (None) with what its file keeps."""
        leave = self.leaves_out_played if leave_out_played is None else leave_out_played
        return self.fitted.recommender(strategy or self.strategy, self.seed, statistics, leave)

    def next_tracks(
        self, typed: Sequence[str], k: int, keep_played: bool = False
    ) -> tuple[Recommendations, ResolvedTracks]:
        """The served list of `k` tracks after a playlist given as ids or words of artist and
        track names (as `recommend` takes them), with how the words were resolved; the
        playlist's own tracks are left out where the model was chosen to, unless `keep_played`.
        AmbiguousTracks when some words name several tracks."""
        resolved = resolve_tracks(self.track_keys, typed)
        if resolved.ambiguous:
            raise AmbiguousTracks(resolved)
        leave_out = self.leaves_out_played and not keep_played
        return self.recommender(leave_out_played=leave_out).recommend(resolved.tracks, k), resolved

    def as_part(self, statistics: TrainStatistics) -> TrackScorer:
        """The model as a hybrid's part, scoring the training tracks of `statistics`."""
        return self.fitted.as_part(self.strategy, self.seed, statistics)

    def tutorial_recommender(self, statistics: TrainStatistics) -> Recommender | None:
        """The model under the tutorial flow's query, or None when its family has none."""
        return self.fitted.tutorial_recommender(self.seed, statistics)

    def summary(self) -> ModelSummary:
        """Everything but the arrays."""
        record = {item.name: getattr(self, item.name) for item in fields(ModelRecord)}
        return ModelSummary(**record, vocabulary_size=len(self.track_keys))

    def describe(self) -> dict[str, Any]:
        """Everything but the arrays, as JSON-ready values."""
        summary = self.summary()
        return {
            **{item.name: getattr(summary, item.name) for item in fields(ModelSummary)},
            "strategy": summary.strategy.as_dict(),
            "learning_curve": {str(epoch): value for epoch, value in summary.learning_curve.items()},
        }


@dataclass(frozen=True)
class FitReport:
    """A config's trained model and how its fit went (what was compared on validation, when
    training stopped, figures people read)."""

    model: TrainedModel
    fit: Fitted
    validation_keeping_played: dict[str, float]
    validation_leaving_out: dict[str, float]


def fit_config(config: ModelConfig, context: FitContext, data_version: str) -> FitReport:
    """Fit `config` with its family on the context's data build (`data_version`) and validate
    it, its lists keeping the playlist's own tracks and leaving them out: the model serves the
    better of the two on validation (keeping them on a tie)."""
    fitted = FAMILIES[config.family].fit(dict(config.params), context)
    strategy = fitted.strategy or QueryStrategy()
    leaving = fitted.validation_leaving_out
    if leaving is None:
        left_out = fitted.model.recommender(strategy, context.seed, context.statistics, True)
        leaving = ranking_summary(left_out.rank(context.cases, context.k, context.on_progress), context.k)
    hit_rate = metric_name("hit_rate", context.k)
    leaves_out_played = leaving[hit_rate] > fitted.validation[hit_rate]
    model = TrainedModel(
        config_key=config.key,
        params=fitted.params,
        seed=context.seed,
        k=context.k,
        strategy=strategy,
        validation=leaving if leaves_out_played else fitted.validation,
        validation_rows=len(context.cases),
        train_seconds=fitted.train_seconds,
        learning_curve=fitted.learning_curve,
        data_version=data_version,
        family=config.family,
        leaves_out_played=leaves_out_played,
        kept_epoch=fitted.kept_epoch,
        fitted=fitted.model,
    )
    return FitReport(
        model, fitted, validation_keeping_played=fitted.validation, validation_leaving_out=leaving
    )


@dataclass(frozen=True)
class ConfigModels:
    """The summary of every registered config's model file, the configs without a file, and
    `load`, which reads one config's model whole (so choosing among many holds one in memory)."""

    summaries: dict[str, ModelSummary]
    untrained: list[str]
    load: Callable[[str], TrainedModel]


def model_bytes(model: TrainedModel) -> bytes:
    """The model as the bytes of one .npz file: its family's arrays and a JSON manifest of the rest."""
    manifest: dict[str, Any] = {"format_version": FORMAT_VERSION, **model.describe()}
    arrays = {"manifest": json_array(manifest), **FAMILIES[model.family].write(model.fitted)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _field(manifest: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    return entry(manifest, name, kind, where="its manifest")


def _summary(manifest: Mapping[str, Any]) -> ModelSummary:
    k = _field(manifest, "k", int)
    validation = _field(manifest, "validation", dict)
    hit_rate = validation.get(metric_name("hit_rate", k)) if k > 0 else None
    if not isinstance(hit_rate, int | float) or isinstance(hit_rate, bool) or not 0 <= hit_rate <= 1:
        raise DamagedModelFile(f"its manifest has no validation hit rate@{k} from 0 to 1")
    return ModelSummary(
        config_key=_field(manifest, "config_key", str),
        params=_field(manifest, "params", dict),
        seed=_field(manifest, "seed", int),
        k=k,
        strategy=QueryStrategy.from_dict(_field(manifest, "strategy", dict)),
        validation=validation,
        validation_rows=_field(manifest, "validation_rows", int),
        train_seconds=_field(manifest, "train_seconds", (float, int)),
        vocabulary_size=_field(manifest, "vocabulary_size", int),
        learning_curve={int(epoch): value for epoch, value in manifest.get("learning_curve", {}).items()},
        data_version=manifest.get("data_version"),
        family=manifest.get("family", DEFAULT_FAMILY),
        leaves_out_played=bool(manifest.get("leaves_out_played", False)),
        kept_epoch=manifest.get("kept_epoch"),
    )


@contextmanager
def _reading(source: str) -> Iterator[None]:
    """Turn whatever reading a model file's bytes raises into one DamagedModelFile naming
    `source` and what is wrong (a bit flip, a missing array or field, a bad layout)."""
    try:
        yield
    except DamagedModelFile as error:
        raise DamagedModelFile(f"{source}: {error}") from None
    except KeyError as error:
        raise DamagedModelFile(f"{source}: damaged model file, {error.args[0]!r} is missing") from None
    except (ValueError, TypeError, IndexError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DamagedModelFile(f"{source}: damaged model file ({type(error).__name__}: {error})") from None


def _archive(file: IO[bytes]) -> Any:
    """The .npz archive of a model in `file`."""
    try:
        archive = np.load(file)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DamagedModelFile(f"not a model file, expected a .npz archive ({error})") from None
    if "manifest" not in getattr(archive, "files", []):
        raise DamagedModelFile("not a model file, expected a .npz archive with a manifest")
    return archive


def _manifest(archive: Any) -> dict[str, Any]:
    manifest = json_of_array(archive["manifest"])
    if not isinstance(manifest, dict):
        raise DamagedModelFile("its manifest is not a table")
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise DamagedModelFile(
            f"model format {manifest.get('format_version')!r}, expected one of {READABLE_FORMATS}"
        )
    if manifest.get("family", DEFAULT_FAMILY) not in FAMILIES:
        known = ", ".join(FAMILIES)
        raise DamagedModelFile(f"unknown model family {manifest.get('family')!r}; expected one of: {known}")
    return manifest


def model_from_bytes(data: bytes, source: str) -> TrainedModel:
    """The model in bytes written by `model_bytes`, every array checked; DamagedModelFile
    naming `source` when they do not read whole."""
    with _reading(source):
        with _archive(io.BytesIO(data)) as archive:
            manifest = _manifest(archive)
            summary = _summary(manifest)
            arrays = {name: archive[name] for name in archive.files if name != "manifest"}
        finite(arrays)
        fitted = FAMILIES[summary.family].read(arrays, manifest, FAMILIES)
        if len(fitted.track_keys) != summary.vocabulary_size:
            raise DamagedModelFile(
                f"its manifest says {summary.vocabulary_size} tracks,"
                f" its arrays hold {len(fitted.track_keys)}"
            )
    record = {item.name: getattr(summary, item.name) for item in fields(ModelRecord)}
    return TrainedModel(**record, fitted=fitted)


def summary_from_file(file: IO[bytes], source: str) -> ModelSummary:
    """The summary of the model file open in `file` (seekable), reading its manifest only;
    DamagedModelFile naming `source` when the manifest does not read whole."""
    with _reading(source), _archive(file) as archive:
        return _summary(_manifest(archive))


def save_model(model: TrainedModel, path: Path) -> None:
    """Write the model to a local .npz file whole, or leave the previous file as it was."""
    write_bytes_atomically(path, model_bytes(model))


def _checked_local(location: str) -> Path:
    """The local path of `location`, checked to be a regular file before anything reads it (a
    FIFO or /dev/zero in a model's place would hang or never end); FileNotFoundError where there
    is none, DamagedModelFile where it is something else."""
    path = Path(local_path(location))
    try:
        check_regular_file(path, "model file")
    except NotARegularFile as error:
        raise DamagedModelFile(str(error)) from None
    return path


class NotTheChosenModel(ValueError):
    """A model file that is not the one recorded as chosen: its content differs."""


def _not_chosen(location: str, found: str, recorded: str) -> str:
    return (
        f"{location}: not the model file that was chosen (its content fingerprint is {found},"
        f" the one recorded when it was written {recorded})"
    )


def load_model(path: Path) -> TrainedModel:
    """Read a model written by `save_model`."""
    return read_model(str(path))


def read_model(location: str, fingerprint: str | None = None) -> TrainedModel:
    """Read the model file at a local path or any fsspec URL (s3://, memory://, ...):
    DamagedModelFile where it does not read whole, else NotTheChosenModel where a `fingerprint`
    of its content was recorded and it no longer has it."""
    if is_local(location):
        data = _checked_local(location).read_bytes()
    else:
        from upath import UPath

        data = UPath(location).read_bytes()
    model = model_from_bytes(data, location)
    if fingerprint is not None and bytes_fingerprint(data) != fingerprint:
        raise NotTheChosenModel(_not_chosen(location, bytes_fingerprint(data), fingerprint))
    return model


def check_model_file(location: str, fingerprint: str | None) -> None:
    """Nothing when the model file at `location` is the one chosen: it has the content
    `fingerprint` recorded when it was written (a file written from a model, so it reads whole),
    or, where none was recorded, it reads whole. FileNotFoundError where there is none,
    DamagedModelFile where it does not read whole, NotTheChosenModel where it does but differs."""
    if fingerprint is None:
        read_model(location)
        return
    try:
        found = location_fingerprint(location, "model file")
    except NotARegularFile as error:
        raise DamagedModelFile(str(error)) from None
    if found != fingerprint:
        read_model(location)
        raise NotTheChosenModel(_not_chosen(location, found, fingerprint))


def read_summary(location: str) -> ModelSummary:
    """The summary of the model file at a local path or fsspec URL, reading its manifest only."""
    if is_local(location):
        with _checked_local(location).open("rb") as file:
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
    def method(self) -> str: ...

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


def family_margin(models: Mapping[str, ModelSummary]) -> str:
    """One sentence naming the winning family and its margin over the best of each other one."""
    best = list(best_of_each_family(models).values())
    winner, others = best[0], best[1:]
    said = f"Best family: {winner.family_label} ({winner.config_key}, {winner.validation_hit_rate:.4f})"
    if not others:
        return said + "."
    margins = ", ".join(
        f"{other.family_label} {other.validation_hit_rate:.4f}"
        + (
            f" ({winner.validation_hit_rate / other.validation_hit_rate:.2f}x)"
            if other.validation_hit_rate > 0
            else ""
        )
        for other in others
    )
    return f"{said}, ahead of the best {margins}."


def tie_note(models: Mapping[str, ValidatedModel]) -> str | None:
    """A sentence naming the configs that tie with the best on validation hit rate, if any:
    ties go to the smallest config key."""
    ordered = best_first(models)
    tied = [
        model.config_key
        for model in ordered[1:]
        if model.validation_hit_rate == ordered[0].validation_hit_rate
    ]
    if not tied:
        return None
    return (
        f"{ordered[0].config_key} ties with {', '.join(tied)} on validation"
        f" ({ordered[0].validation_hit_rate:.4f}); ties go to the smallest config key."
    )


def select_best(models: Mapping[str, ValidatedModel]) -> ValidatedModel:
    """The best model (`best_first_key`)."""
    if not models:
        raise ValueError("no trained models to choose from")
    return best_first(models)[0]
