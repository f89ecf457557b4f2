"""Exact ranks and top-k lists from sparse, non-negative scores over the training tracks: the
scoring path of every family that scores tracks directly (sequential rules, session kNN and the
hybrid). A row lists its scored tracks by score, ties toward the more popular track, then the
unscored tracks by popularity."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_assets.core.data.cases import MISSED, EvaluationCases, PlayedTracks, without_played
from recsys_assets.core.data.corpus import corpus_codes
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.evaluation.evaluator import ranking_summary
from recsys_assets.core.evaluation.ranking import ProgressCallback, Ranking, coverage, coverage_rows
from recsys_assets.core.models.base import PLAYS, Recommendations, check_request
from recsys_assets.core.models.family import FitContext, Fitted

SCORE_DECIMALS = 9
"""Decimals scores are rounded to, so that sums equal but for rounding (1/3 + 2/3 and 1) tie."""


def input_tracks(
    inputs: Sequence[Sequence[str]], statistics: TrainStatistics
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every input track of the playlists one after another: its playlist's row, its training
    track index (-1 where unseen), its 1-based position and its playlist's length; each of shape
    (input tracks,)."""
    lengths = np.fromiter((len(tracks) for tracks in inputs), dtype=np.int64, count=len(inputs))
    found = statistics.index_of(list(chain.from_iterable(inputs)))
    row = np.repeat(np.arange(len(inputs)), lengths)
    position = np.arange(len(found)) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1
    return row, found, position, lengths[row]


def scored_ranks(scores: sp.csr_matrix, targets: np.ndarray, popularity_rank: np.ndarray) -> np.ndarray:
    """The 0-based rank of each row's target track in the row's list; shape (rows,).

    `scores` (rows, tracks) holds positive scores (absent means unscored); `targets` (rows,) are
    track indices, -1 for a track outside training (MISSED); `popularity_rank` (tracks,) orders
    ties and the unscored tracks.
    """
    scores = scores.tocsr()
    return next(ranks_per_scoring(scores, [scores.data], targets, popularity_rank))


def ranks_per_scoring(
    pattern: sp.csr_matrix,
    scorings: Iterable[np.ndarray],
    targets: np.ndarray,
    popularity_rank: np.ndarray,
) -> Iterator[np.ndarray]:
    """`scored_ranks` under each of `scorings`, score arrays (entries,) over the entries of
    `pattern` (rows, tracks; no repeated entry), where 0 means unscored: one rank array (rows,)
    per scoring, the work that depends only on the pattern done once."""
    rows = len(targets)
    row_of = np.repeat(np.arange(rows), np.diff(pattern.indptr))
    known = targets >= 0
    safe_target = np.where(known, targets, 0)
    own_rank = popularity_rank[safe_target]
    more_popular = popularity_rank[pattern.indices] < own_rank[row_of]
    own_entry = np.flatnonzero(pattern.indices == safe_target[row_of])
    for values in scorings:
        scored = values > 0
        own = np.zeros(rows)
        own[row_of[own_entry]] = values[own_entry]
        own_of_entry = own[row_of]
        before = (values > own_of_entry) | ((values == own_of_entry) & more_popular)
        scored_before = np.bincount(row_of, weights=before, minlength=rows).astype(np.int64)
        lengths = np.bincount(row_of, weights=scored, minlength=rows).astype(np.int64)
        more_popular_scored = np.bincount(row_of, weights=more_popular & scored, minlength=rows)
        unscored_before = own_rank - more_popular_scored.astype(np.int64)
        ranks = np.where(own > 0, scored_before, lengths + unscored_before)
        yield np.where(known, ranks, MISSED)


def precedes(
    pattern: sp.csr_matrix, values: np.ndarray, targets: np.ndarray, popularity_rank: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Whether track `tracks[i]` comes before row `rows[i]`'s target in the row's full list, the
    scores `values` (entries,) over the entries of `pattern` (rows, tracks; absent means 0): a
    higher score, or an equal one and more plays (`popularity_rank` (tracks,))."""
    width = pattern.shape[1]
    keys = np.repeat(np.arange(pattern.shape[0], dtype=np.int64), np.diff(pattern.indptr)) * width
    keys += pattern.indices
    if len(keys) > 1 and (np.diff(keys) < 0).any():
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]

    def score_at(rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        wanted = rows * width + np.maximum(tracks, 0)
        at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        found = (keys[at] == wanted) & (tracks >= 0) if len(keys) else np.zeros(len(rows), dtype=bool)
        return np.where(found, values[at] if len(keys) else 0.0, 0.0)

    def before(rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        own = targets[rows]
        score, own_score = score_at(rows, tracks), score_at(rows, own)
        return (score > own_score) | ((score == own_score) & (popularity_rank[tracks] < popularity_rank[own]))

    return before


def row_thresholds(scores: sp.csr_matrix, k: int) -> np.ndarray:
    """Each row's `k`-th largest entry, or -inf for a row of at most `k` entries; shape (rows,)."""
    lengths = np.diff(scores.indptr)
    threshold = np.full(scores.shape[0], -np.inf)
    for row in np.flatnonzero(lengths > k):
        values = scores.data[scores.indptr[row] : scores.indptr[row + 1]]
        threshold[row] = np.partition(values, len(values) - k)[len(values) - k]
    return threshold


def largest_per_row(
    scores: sp.csr_matrix, k: int, tie_rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's `k` largest entries in order, ties toward the smaller `tie_rank` (entries,):
    their rows, their 0-based places in the row and their entry indices, each of shape (kept,)."""
    rows = scores.shape[0]
    row_of = np.repeat(np.arange(rows), np.diff(scores.indptr))
    candidate = np.flatnonzero(scores.data >= row_thresholds(scores, k)[row_of])
    order = candidate[np.lexsort((tie_rank[candidate], -scores.data[candidate], row_of[candidate]))]
    counts = np.bincount(row_of[order], minlength=rows)
    place = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts)
    kept = place < k
    return row_of[order[kept]], place[kept], order[kept]


def top_tracks(
    scores: sp.csr_matrix, k: int, by_popularity: np.ndarray, popularity_rank: np.ndarray
) -> np.ndarray:
    """The first `k` tracks of each row's list: track indices, shape (rows, min(k, tracks)).

    `scores` (rows, tracks) holds positive scores; `by_popularity` (tracks,) lists the track
    indices most played first and `popularity_rank` (tracks,) is each track's place there.
    """
    scores = scores.tocsr()
    rows, k = scores.shape[0], min(k, len(by_popularity))
    row, place, entry = largest_per_row(scores, k, popularity_rank[scores.indices])
    top = np.empty((rows, k), dtype=np.int64)
    top[row, place] = scores.indices[entry]
    scored = np.bincount(row, minlength=rows)
    if (scored < k).any():
        row_of = np.repeat(np.arange(rows), np.diff(scores.indptr))
        entry_rank = popularity_rank[scores.indices]
        popular = entry_rank < k
        unscored = np.ones((rows, k), dtype=bool)
        unscored[row_of[popular], entry_rank[popular]] = False
        fill_place = np.cumsum(unscored, axis=1) - 1 + scored[:, None]
        row, rank = np.nonzero(unscored & (fill_place < k))
        top[row, fill_place[row, rank]] = by_popularity[rank]
    return top


class TrackScorer:
    """A model that scores training tracks directly; a family implements `scores` (and says
    what its scores are in `describe`), and ranking, coverage and recommending follow here.

    Subclasses have a `statistics` (TrainStatistics) attribute and score `rows_per_batch` rows
    at once.
    """

    statistics: TrainStatistics
    rows_per_batch: int = 512
    """Rows scored at once: the fastest per row at the Spotify size (smaller batches stay in cache)."""
    score_kind: ClassVar[str] = "score"
    """What a scored track's score is, as `recommend` labels it."""
    leaves_out_played: bool = False
    """Whether its lists leave the playlist's own tracks out (`leaving_out_played`)."""

    def leaving_out_played(self, leave: bool) -> TrackScorer:
        """The same model (sharing its arrays) whose lists leave the playlist's own tracks out,
        or keep them."""
        changed = copy.copy(self)
        object.__setattr__(changed, "leaves_out_played", leave)
        return changed

    def scores(self, inputs: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """The playlists' scores, shape (playlists, tracks), positive where scored."""
        raise NotImplementedError

    def describe(self, reached: int, tracks: Sequence[str]) -> str:
        """What a list for `tracks` is, given that the model scored `reached` tracks for them."""
        raise NotImplementedError

    def file_layout(self) -> dict[str, Any]:
        """Its family and settings as its model file records them (JSON values)."""
        raise NotImplementedError

    def file_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays its model file keeps, named with `prefix`."""
        raise NotImplementedError

    @property
    def track_keys(self) -> list[str]:
        """The ids of the training tracks it scores."""
        return [str(track) for track in self.statistics.tracks]

    def recommender(
        self, strategy: object, seed: int, statistics: TrainStatistics | None, leave_out_played: bool
    ) -> TrackScorer:
        """Itself (no query strategy; the same for evaluation and serving), leaving the playlist's
        own tracks out or keeping them."""
        return self.leaving_out_played(leave_out_played)

    def tutorial_recommender(self, seed: int, statistics: TrainStatistics) -> None:
        """None: the tutorial's query is Word2Vec's."""
        return None

    def as_part(self, strategy: object, seed: int, statistics: TrainStatistics) -> TrackScorer:
        """Itself, keeping the playlist's own tracks (it scores the same training tracks)."""
        return self.leaving_out_played(False)

    def _batches(self, inputs: Sequence[Sequence[str]]):
        for start in range(0, len(inputs), self.rows_per_batch):
            stop = min(start + self.rows_per_batch, len(inputs))
            yield start, stop, self.scores(inputs[start:stop])

    def rank(self, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None) -> Ranking:
        return self.rankings(cases, k, on_progress, (self.leaves_out_played,))[self.leaves_out_played]

    def rankings(
        self,
        cases: EvaluationCases,
        k: int,
        on_progress: ProgressCallback | None = None,
        leaving_out: tuple[bool, ...] = (False, True),
    ) -> dict[bool, Ranking]:
        """Its rankings of `cases` with lists that keep the playlist's own tracks (False) and
        that leave them out (True), as many as `leaving_out` asks for, from one scoring."""
        statistics = self.statistics
        targets = statistics.index_of(cases.targets)
        ranks = {leave: np.empty(len(cases), dtype=np.int64) for leave in leaving_out}
        for start, stop, scores in self._batches(cases.inputs):
            kept = scored_ranks(scores, targets[start:stop], statistics.popularity_rank)
            for leave, batch in ranks.items():
                if leave:
                    played = PlayedTracks(cases.inputs[start:stop], statistics.index_of)
                    scores = scores.tocsr()
                    before = precedes(scores, scores.data, targets[start:stop], statistics.popularity_rank)
                    batch[start:stop] = without_played(kept, targets[start:stop], played, before)
                else:
                    batch[start:stop] = kept
            if on_progress:
                on_progress("scored playlists", stop, len(cases))
        return {
            leave: self.leaving_out_played(leave).ranking_of(cases, batch, k)
            for leave, batch in ranks.items()
        }

    def ranking_of(self, cases: EvaluationCases, ranks: np.ndarray, k: int) -> Ranking:
        """The `Ranking` of `cases` whose held-out tracks rank `ranks` (rows,) in this model's lists."""
        statistics = self.statistics
        targets = statistics.index_of(cases.targets)
        return Ranking(
            ranks=ranks,
            query_in_vocabulary=statistics.index_of([inputs[-1] for inputs in cases.inputs]) >= 0,
            target_in_vocabulary=targets >= 0,
            coverage=self._coverage(cases, k),
        )

    def _coverage(self, cases: EvaluationCases, k: int) -> float:
        """Coverage@K of the lists of the `coverage_rows` of `cases`."""
        statistics = self.statistics
        sample = [cases.inputs[row] for row in coverage_rows(len(cases))]
        listed = [
            self._top_tracks(scores, sample[start:stop], k) for start, stop, scores in self._batches(sample)
        ]
        return coverage(np.concatenate(listed) if listed else np.zeros(0), len(statistics.tracks))

    def _top_tracks(self, scores: sp.csr_matrix, inputs: Sequence[Sequence[str]], k: int) -> np.ndarray:
        """The first `k` tracks of each row's list (the played ones left out when it leaves them
        out): track indices, shape (rows, at most k)."""
        statistics = self.statistics
        if not self.leaves_out_played:
            return top_tracks(scores, k, statistics.by_popularity, statistics.popularity_rank)
        longest = max((len(set(tracks)) for tracks in inputs), default=0)
        top = top_tracks(scores, k + longest, statistics.by_popularity, statistics.popularity_rank)
        rows = np.repeat(np.arange(len(top)), top.shape[1])
        kept = ~PlayedTracks(inputs, statistics.index_of).holds(rows, top.ravel()).reshape(top.shape)
        width = min(k, int(kept.sum(axis=1).min(initial=k)))
        return (
            np.stack([row[keep][:width] for row, keep in zip(top, kept, strict=True)])
            if len(top)
            else top[:, :width]
        )

    def recommend(self, tracks: Sequence[str], k: int) -> Recommendations:
        """The scored tracks first, by score (of kind `score_kind`); tracks the model does not
        reach follow by plays in training."""
        check_request(tracks, k)
        statistics = self.statistics
        row = self.scores([tracks])
        top = self._top_tracks(row, [tracks], k)[0]
        values = row.toarray()[0][top]
        scored = values > 0
        unknown = [t for t, i in zip(tracks, statistics.index_of(tracks), strict=True) if i < 0]
        described = self.describe(int(np.count_nonzero(row.data)), tracks)
        shown = np.where(scored, values, statistics.plays[top])
        return Recommendations(
            [(str(statistics.tracks[i]), float(value)) for i, value in zip(top, shown, strict=True)],
            tuple(self.score_kind if hit else PLAYS for hit in scored),
            described,
            unknown,
        )


ScorerBuilder = Callable[[dict[str, Any], TrainStatistics, np.ndarray, np.ndarray], TrackScorer]
"""Builds a family's scorer from its params, the training statistics, and the training playlists
as `codes` (words,), their track indices one after another, and `lengths` (playlists,)."""


def scorer_fit(build: ScorerBuilder) -> Callable[[dict[str, Any], FitContext], Fitted]:
    """A family's fit that builds its scorer on the corpus and scores it on every validation case
    (its train seconds count both)."""

    def fit(params: dict[str, Any], context: FitContext) -> Fitted:
        started = time.perf_counter()
        codes, lengths = corpus_codes(context.corpus)
        scorer = build(params, context.statistics, codes, lengths)
        kept, left_out = validated_both_ways(scorer, context)
        return Fitted(
            scorer,
            kept,
            dict(params),
            train_seconds=time.perf_counter() - started,
            validation_leaving_out=left_out,
        )

    return fit


def validated_both_ways(
    scorer: TrackScorer, context: FitContext
) -> tuple[dict[str, float], dict[str, float]]:
    """The scorer's metrics on the validation cases with lists that keep the playlist's own
    tracks, then with lists that leave them out, from one scoring."""
    rankings = scorer.rankings(context.cases, context.k, context.on_progress)
    return ranking_summary(rankings[False], context.k), ranking_summary(rankings[True], context.k)
