"""What a model family is: the one spec each family's folder exports, with what its fit is given
and returns, and what its fitted model answers. The registry lists the specs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.corpus import Corpus
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.evaluation.ranking import ProgressCallback
from recsys_assets.core.models.base import Recommender
from recsys_assets.core.models.parameters import Parameter

if TYPE_CHECKING:
    from recsys_assets.core.models.sparse import TrackScorer
    from recsys_assets.core.models.word2vec.strategies import QueryStrategy

Arrays = Mapping[str, np.ndarray]
"""A model file's arrays by name."""
CurvePoint = Callable[[int, float], bool]
"""Called with the epochs trained and the learning curve's hit rate@K then; False stops training."""
EpochCallback = Callable[[int, int], None]
"""Called with the epochs done and the epochs in all."""


class FittedModel(Protocol):
    """A family's fitted model, as its fit returns it and its model file reads back."""

    @property
    def track_keys(self) -> list[str]:
        """The ids of the tracks the model knows."""
        ...

    def recommender(
        self, strategy: QueryStrategy, seed: int, statistics: TrainStatistics | None, leave_out_played: bool
    ) -> Recommender:
        """The model as a `Recommender` under the record's query `strategy` and `seed` (families
        without strategies ignore them): for evaluation with the data build's `statistics`, for
        serving (None) with what its file keeps; its lists leave the playlist's own tracks out
        when `leave_out_played`."""
        ...

    def tutorial_recommender(self, seed: int, statistics: TrainStatistics) -> Recommender | None:
        """The same model under the tutorial flow's query, or None when the family has none."""
        ...

    def as_part(self, strategy: QueryStrategy, seed: int, statistics: TrainStatistics) -> TrackScorer:
        """The model as a part of a hybrid: its scores over the training tracks of `statistics`
        (its lists keeping the playlist's own tracks), under the record's strategy and seed."""
        ...


@dataclass(frozen=True)
class FitContext:
    """What a fit is given: the data build's corpus and statistics, the validation cases, the
    seed, the cutoff K, threads, and callbacks for progress and learning curves."""

    corpus: Corpus
    statistics: TrainStatistics
    cases: EvaluationCases
    seed: int
    k: int
    workers: int = 1
    on_curve_point: CurvePoint | None = None
    on_epoch: EpochCallback | None = None
    on_progress: ProgressCallback | None = None
    trained_part: Callable[[str], TrackScorer] | None = None
    """The model of another config (by key) trained on the same data build, as a hybrid part
    (`FittedModel.as_part`); None where no other config is at hand."""


@dataclass(frozen=True)
class Alternative:
    """One way of serving a fitted model compared on validation (a query strategy, a weighting),
    with its settings as people read them, and its metrics."""

    settings: dict[str, str]
    metrics: dict[str, float]


@dataclass(frozen=True)
class Alternatives:
    """The ways a fit compared on validation: `name` (e.g. strategies), the `rows` they were
    compared on, each one (the tutorial's first where there is one) and the chosen one."""

    name: str
    rows: int
    tried: list[Alternative]
    chosen: int


@dataclass(frozen=True)
class Fitted:
    """A family's fit of one config: the model, its validation metrics (on every case), the
    params the model file records (the config's, plus what the fit chose), and how it went."""

    model: FittedModel
    validation: dict[str, float]
    params: dict[str, Any]
    train_seconds: float
    strategy: QueryStrategy | None = None
    """The query strategy chosen on validation; None for a family without strategies."""
    learning_curve: dict[int, float] = field(default_factory=dict)
    evaluation_seconds: float = 0.0
    stopped_at_epoch: int | None = None
    """The epoch the search's pruner stopped training at, if it did."""
    kept_epoch: int | None = None
    """The epoch whose vectors the model keeps, for a family that trains in epochs."""
    alternatives: Alternatives | None = None
    validation_leaving_out: dict[str, float] | None = None
    """Its validation metrics with lists that leave the playlist's own tracks out, where the fit
    scored them in the same pass (else they are scored after the fit)."""
    notes: dict[str, Any] = field(default_factory=dict)
    """Figures about the fit that people read beside the metrics (metadata)."""
    run_settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """A model family: its name (`model = ...` in a config), how it reads in tables, its
    parameters, how its config keys read, its fit, and its model file's arrays.

    `write` gives the arrays a model file keeps of a fitted model; `read` reads them back, given
    the file's manifest and every family by name (a model made of other families' models reads
    its parts through them).
    """

    name: str
    label: str
    score_kind: str
    """What the scores `recommend` lists are (e.g. cosine similarity), as it labels them."""
    parameters: dict[str, Parameter]
    fit: Callable[[dict[str, Any], FitContext], Fitted]
    write: Callable[[Any], dict[str, np.ndarray]]
    read: Callable[[Arrays, Mapping[str, Any], Mapping[str, Family]], FittedModel]
    key_prefix: str = ""
    """The start of a config key; the parameters' key parts follow in order."""
    custom_key: Callable[[Mapping[str, Any]], str | None] | None = None
    """A key made otherwise (Word2Vec: only the parameters a config sets, sorted), or None
    where the parameters' key parts make it."""
    fills_defaults: bool = True
    """Whether a config's params are completed with the defaults (Word2Vec leaves them to gensim)."""
    check_together: Callable[[str, Mapping[str, Any]], None] | None = None
    """Rules between parameters valid alone; raises ConfigError naming the config."""
    unknown_parameter_hint: str = ""
    study_prefix: str | None = None
    """How the search's study prefixes this family's parameters: `<name>.` unless set (Word2Vec's
    are unprefixed, as in studies made before other families could be searched)."""
    search_table: str | None = None
    """The [search] sub-table of this family's space: `[search.<name>]` unless set."""
    describe_strategy: Callable[[QueryStrategy], str] | None = None
    """How a model reads in tables when its method is its query strategy."""
    epochs: Callable[[Mapping[str, Any]], int] | None = None
    """The epochs a config asks for, for a family that trains in epochs."""
    layout_reader: Callable[..., Any] | None = None
    """How a model stored inside another model's file reads back (the hybrid's parts)."""

    def key(self, params: Mapping[str, Any]) -> str:
        """The config key of `params` (a parameter whose key part is empty is left out)."""
        custom = self.custom_key(params) if self.custom_key is not None else None
        if custom is not None:
            return custom
        parts = (
            self.parameters[name].key(value) for name, value in params.items() if name in self.parameters
        )
        return "-".join([self.key_prefix, *(part for part in parts if part)])

    @property
    def study_parameter_prefix(self) -> str:
        return f"{self.name}." if self.study_prefix is None else self.study_prefix

    @property
    def search_table_name(self) -> str:
        return self.search_table or self.name
