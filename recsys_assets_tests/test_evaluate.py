import math
import random
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
from gensim.models.keyedvectors import KeyedVectors

from recsys_assets.core.data.cases import MISSED, EvaluationCases
from recsys_assets.core.data.statistics import TrackIndex
from recsys_assets.core.evaluation.evaluator import evaluate, sample_cases
from recsys_assets.core.evaluation.metrics import hit_rate, ranking_metrics
from recsys_assets.core.evaluation.reports import baselines_beating, generalization_tolerance
from recsys_assets.core.models import successors as successors_module
from recsys_assets.core.models.base import PLAYS, TIMES_FOLLOWED
from recsys_assets.core.models.baselines import FollowersRecommender, PopularityRecommender
from recsys_assets.core.models.hybrid.scorer import Hybrid
from recsys_assets.core.models.registry import config_params
from recsys_assets.core.models.rules.family import build_rules
from recsys_assets.core.models.session_knn.family import build_session_knn
from recsys_assets.core.models.successors import successor_ranks
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.ranking import (
    _counts_above,
    embedding_outranks,
    embedding_rankings,
    embedding_ranks,
)
from recsys_assets.core.models.word2vec.recommender import EmbeddingRecommender
from recsys_assets.core.models.word2vec.strategies import COLD_STARTS, EMBEDDING_STRATEGIES, QueryStrategy
from recsys_assets.core.models.word2vec.strategy_choice import (
    StrategyResult,
    choose_on_sample,
    choose_strategy,
    score_strategies,
)
from recsys_assets_tests.reference import codes_of
from recsys_assets_tests.training_data import statistics_of, train_on


def successors_first(ranking, embedding, cases, train, min_count):
    """The ranks of an embedding ranking with successors first, as a successor strategy ranks."""
    outranks = embedding_outranks(ranking, embedding, cases, train)
    return successor_ranks(ranking.ranks, cases, train.successors, min_count, outranks)


def tid(number: int) -> str:
    """Track id of track `number`, whose artist has tracks 5a to 5a + 4."""
    return f"a{number // 5}|||t{number}"


rng = random.Random(0)
SENTENCES = [
    [tid(group * 30 + (start + step) % 30) for step in range(rng.randrange(4, 30))]
    for group, start in ((rng.randrange(10), rng.randrange(30)) for _ in range(600))
]
ARTISTS = [[t.split("|||")[0] for t in s] for s in SENTENCES]
VECTORS = train_on(SENTENCES, {"min_count": 3, "epochs": 3, "vector_size": 16}, seed=3)
EMBEDDING = TrackEmbedding(VECTORS)
STATISTICS = statistics_of(SENTENCES)


def cases_from(sentences, artists) -> EvaluationCases:
    return EvaluationCases.from_columns([s[:-1] for s in sentences], artists, [s[-1] for s in sentences])


@pytest.fixture(scope="module")
def cases() -> EvaluationCases:
    built = cases_from(SENTENCES, ARTISTS)
    built.inputs[0] = [tid(1), "never-seen"]
    built.targets[1] = "also-never-seen"
    built.targets[2] = built.inputs[2][-1]
    return built


def gensim_hits(cases: EvaluationCases, k: int, seed: int, last_n: int = 1) -> list[bool]:
    """Hits with gensim's most_similar of the last `last_n` known tracks, seeded random fallback."""
    fallback = np.random.default_rng(seed).integers(0, len(VECTORS.index_to_key), len(cases))
    hits = []
    for inputs, target, fall in zip(cases.inputs, cases.targets, fallback, strict=True):
        if last_n == 1:
            keys = [inputs[-1]] if inputs[-1] in VECTORS.key_to_index else []
        else:
            keys = [t for t in reversed(inputs) if t in VECTORS.key_to_index][:last_n]
        keys = keys or [VECTORS.index_to_key[fall]]
        hits.append(target in [t for t, _ in VECTORS.most_similar(positive=keys, topn=k)])
    return hits


@pytest.mark.parametrize("k", [1, 10, 50])
def test_hits_agree_with_gensim_most_similar_row_by_row(cases: EvaluationCases, k: int):
    ours = (embedding_ranks(EMBEDDING, cases, seed=9).ranks < k).tolist()
    theirs = gensim_hits(cases, k, seed=9)
    assert np.mean(np.array(ours) == np.array(theirs)) >= 0.999
    assert 0 < sum(theirs) < len(cases), "the check needs both hits and misses"


def test_mean_of_last_n_agrees_with_gensim_most_similar_of_several_keys(cases: EvaluationCases):
    strategy = QueryStrategy(query="mean_last_n", last_n=3)
    ours = (embedding_ranks(EMBEDDING, cases, seed=9, strategy=strategy).ranks < 10).tolist()
    theirs = gensim_hits(cases, 10, seed=9, last_n=3)
    assert np.mean(np.array(ours) == np.array(theirs)) >= 0.999


def test_ranks_are_exact(cases: EvaluationCases):
    full = embedding_ranks(EMBEDDING, cases, seed=9).ranks
    unit = VECTORS.get_normed_vectors()
    known = [row for row in np.flatnonzero(full != MISSED) if cases.inputs[row][-1] in VECTORS.key_to_index]
    for row in known[:50]:
        query = VECTORS.key_to_index[cases.inputs[row][-1]]
        scores = unit @ unit[query]
        scores[query] = -np.inf
        assert full[row] == np.count_nonzero(scores > scores[VECTORS.key_to_index[cases.targets[row]]])


def test_rows_sharing_a_query_count_the_tracks_above_their_own_as_one_by_one():
    scores = np.array([0.5, 0.1, 0.9, 0.5, -np.inf, 0.3, 0.7], dtype=np.float32)
    thresholds = np.array([0.5, 0.3, -np.inf, 0.5, 0.9, 0.1, 0.7], dtype=np.float32)
    counts = _counts_above(scores, thresholds)
    finite = np.isfinite(thresholds)
    assert list(counts[finite]) == [np.count_nonzero(scores > value) for value in thresholds[finite]]
    assert counts[~finite] == len(scores), "a left-out track ranks below every track"


def test_unrankable_rows_are_misses(cases: EvaluationCases):
    ranks = embedding_ranks(EMBEDDING, cases, seed=9).ranks
    assert ranks[1] == MISSED, "a held-out track outside the vocabulary cannot be recommended"
    assert ranks[2] == MISSED, "the query track itself is never recommended"


def test_ranks_do_not_depend_on_chunk_size(cases: EvaluationCases):
    progress = []
    small = embedding_ranks(
        EMBEDDING, cases, seed=9, chunk_bytes=1, on_progress=lambda phase, d, t: progress.append((d, t))
    )
    whole = embedding_ranks(EMBEDDING, cases, seed=9)
    differ = np.flatnonzero(small.ranks != whole.ranks)
    unit = VECTORS.get_normed_vectors()
    for row in differ:
        scores = unit.astype(np.float64) @ whole.queries[row].astype(np.float64)
        own = scores[VECTORS.key_to_index[cases.targets[row]]]
        near_ties = np.count_nonzero(np.abs(scores - own) < 1e-6) - 1
        assert abs(int(small.ranks[row]) - int(whole.ranks[row])) <= near_ties, "only rounding of ties"
    assert len(differ) <= len(cases) // 100
    assert small.coverage == whole.coverage
    assert progress[-1][0] == progress[-1][1] and len(progress) == progress[-1][1]


def test_vocabulary_shares_and_coverage(cases: EvaluationCases):
    ranking = embedding_ranks(EMBEDDING, cases, seed=9, top_k=5)
    assert not ranking.query_in_vocabulary[0] and ranking.query_in_vocabulary[1:].all()
    assert not ranking.target_in_vocabulary[1] and ranking.target_in_vocabulary.sum() == len(cases) - 1
    assert 5 / len(VECTORS.index_to_key) < ranking.coverage <= 1
    assert embedding_ranks(EMBEDDING, cases, seed=9, top_k=50).coverage >= ranking.coverage
    sampled = embedding_ranks(EMBEDDING, cases, seed=9, top_k=5, coverage_sample=3)
    assert 0 < sampled.coverage <= 15 / len(VECTORS.index_to_key)


def test_out_of_vocabulary_fallback_is_seeded(cases: EvaluationCases):
    oov = EvaluationCases(inputs=[["nope"]] * 40, last_artists=["a1"] * 40, targets=cases.targets[3:43])
    first = embedding_ranks(EMBEDDING, oov, seed=1).ranks
    assert np.array_equal(first, embedding_ranks(EMBEDDING, oov, seed=1).ranks)
    assert not np.array_equal(first, embedding_ranks(EMBEDDING, oov, seed=2).ranks)


def test_artist_cold_start_queries_the_mean_of_the_artists_tracks():
    oov = EvaluationCases(inputs=[["a3|||unknown"]], last_artists=["a3"], targets=[tid(16)])
    ranking = embedding_ranks(EMBEDDING, oov, seed=1, strategy=QueryStrategy(cold_start="artist"))
    unit = VECTORS.get_normed_vectors()
    members = [VECTORS.key_to_index[tid(i)] for i in range(15, 20) if tid(i) in VECTORS.key_to_index]
    assert len(members) > 1
    query = unit[members].mean(axis=0)
    scores = unit @ (query / np.linalg.norm(query))
    assert ranking.ranks[0] == np.count_nonzero(scores > scores[VECTORS.key_to_index[tid(16)]])


def test_a_query_that_leaves_its_track_out_is_not_shared_with_the_same_vector_that_keeps_it():
    vectors = KeyedVectors(vector_size=2)
    vectors.add_vectors(
        ["solo|||s", "b|||1", "b|||2", "c|||3"],
        np.array([[1.0, 0.0], [0.6, 0.8], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32),
    )
    known = EvaluationCases(inputs=[["solo|||s"]], last_artists=["solo"], targets=["b|||1"])
    unknown = EvaluationCases(inputs=[["solo|||new"]], last_artists=["solo"], targets=["b|||1"])
    both = EvaluationCases(
        inputs=known.inputs + unknown.inputs, last_artists=["solo"] * 2, targets=["b|||1"] * 2
    )
    strategy = QueryStrategy(cold_start="artist")
    alone = [
        embedding_ranks(TrackEmbedding(vectors), cases, 1, strategy).ranks[0] for cases in (known, unknown)
    ]
    assert alone == [1, 2], (
        "the artist's mean is the solo track itself, which only the known query leaves out"
    )
    assert embedding_ranks(TrackEmbedding(vectors), both, 1, strategy).ranks.tolist() == alone


def test_popular_cold_start_ranks_by_train_popularity():
    oov = EvaluationCases(inputs=[["nope"], [tid(3)]], last_artists=["zz", "a0"], targets=[tid(5), tid(4)])
    strategy = QueryStrategy(cold_start="popular")
    ranks = embedding_ranks(EMBEDDING, oov, seed=1, strategy=strategy, train=STATISTICS).ranks
    assert ranks[0] == PopularityRecommender(STATISTICS).rank(oov, 100).ranks[0]
    assert ranks[1] == embedding_ranks(EMBEDDING, oov, seed=1).ranks[1]


def test_invalid_strategy_is_refused():
    with pytest.raises(ValueError, match="query strategy 'first'"):
        QueryStrategy(query="first")
    with pytest.raises(ValueError, match="needs training statistics"):
        embedding_ranks(
            EMBEDDING, cases_from(SENTENCES[:3], ARTISTS[:3]), 1, QueryStrategy(cold_start="popular")
        )


def test_baselines_follow_train_counts_and_transitions():
    train = statistics_of([["a", "b", "a"], ["c", "a", "b"]])
    cases = EvaluationCases(
        inputs=[["x", "a"], ["a"], ["z"], ["a"], ["b"]],
        last_artists=["A"] * 5,
        targets=["b", "c", "a", "q", "a"],
    )
    assert PopularityRecommender(train).rank(cases, 100).ranks.tolist() == [1, 2, 0, MISSED, 0]
    assert FollowersRecommender(train).rank(cases, 100).ranks.tolist() == [0, 2, 0, MISSED, 0]
    assert train.index_of(["c", "zz", "a"]).tolist() == [2, -1, 0]


def test_ranking_metrics_from_known_ranks():
    metrics = ranking_metrics(np.array([0, 1, 9, 99, MISSED]), cutoff=100)
    assert metrics["hit_rate@10"] == pytest.approx(3 / 5)
    assert metrics["hit_rate@50"] == pytest.approx(3 / 5)
    assert metrics["hit_rate@100"] == pytest.approx(4 / 5)
    assert metrics["mrr@100"] == pytest.approx((1 + 1 / 2 + 1 / 10 + 1 / 100) / 5)
    ndcg = (1 + 1 / math.log2(3) + 1 / math.log2(11) + 1 / math.log2(101)) / 5
    assert metrics["ndcg@100"] == pytest.approx(ndcg)
    assert set(ranking_metrics(np.array([3]), cutoff=30)) == {
        *(f"hit_rate@{k}" for k in (1, 2, 5, 10, 20, 30, 50, 100)),
        "mrr@30",
        "ndcg@30",
    }
    assert hit_rate(np.array([0, 4, 5, MISSED]), k=5) == 0.5
    assert hit_rate(np.array([], dtype=np.int64), k=5) == 0.0


def test_screened_ranks_match_brute_force_on_a_large_vocabulary():
    generator = np.random.default_rng(4)
    size, dims = 6_000, 12
    large = KeyedVectors(dims, count=0, dtype=np.float32)
    centres = generator.standard_normal((60, dims)).astype(np.float32)
    large.add_vectors(
        [f"k{i}" for i in range(size)],
        centres[np.arange(size) % 60] + generator.standard_normal((size, dims), dtype=np.float32),
    )
    queries = generator.integers(0, size, 3_000)
    targets = np.where(
        generator.random(3_000) < 0.5, queries + 60 * generator.integers(1, 5, 3_000), queries * 7
    )
    cases = EvaluationCases(
        inputs=[[f"k{q}"] for q in queries],
        last_artists=[""] * 3_000,
        targets=[f"k{t % size}" for t in targets],
    )
    phases = set()
    ranks = embedding_ranks(
        TrackEmbedding(large), cases, seed=1, on_progress=lambda phase, d, t: phases.add(phase)
    ).ranks
    assert phases == {"screened queries", "fully scored queries"}
    unit = large.get_normed_vectors()
    scores = unit[queries] @ unit.T
    own = scores[np.arange(3_000), [large.key_to_index[t] for t in cases.targets]]
    scores[np.arange(3_000), queries] = -np.inf
    brute = np.count_nonzero(scores > own[:, None], axis=1)
    query_is_target = np.array(cases.targets) == np.array([inputs[-1] for inputs in cases.inputs])
    expected = np.where((brute < 100) & ~query_is_target, brute, MISSED)
    assert 0 < np.count_nonzero(expected != MISSED) < 3_000
    assert np.mean(ranks == expected) >= 0.999


def successor_first_lists(cases: EvaluationCases, strategy: QueryStrategy, min_count: int) -> list[list[str]]:
    """Each row's full list, built by hand: the last track's successors in train (by count, then
    popularity), then gensim's most_similar of the query, without them."""
    lists = []
    for inputs in cases.inputs:
        followers = STATISTICS.successors.of(STATISTICS.index_of([inputs[-1]])[0], min_count)
        first = [str(STATISTICS.tracks[index]) for index in followers]
        keys = [t for t in reversed(inputs) if t in VECTORS.key_to_index][: strategy.last_n]
        keys = keys[:1] if strategy.query == "last" else keys
        rest = (
            [t for t, _ in VECTORS.most_similar(positive=keys, topn=len(VECTORS.index_to_key))]
            if keys
            else []
        )
        lists.append(first + [t for t in rest if t not in first])
    return lists


@pytest.mark.parametrize("min_count", [1, 2])
@pytest.mark.parametrize("query", ["last", "mean_last_n"])
def test_successor_ranks_match_a_list_built_by_hand(min_count: int, query: str):
    known = [i for i, s in enumerate(SENTENCES) if s[-2] in VECTORS.key_to_index][:300]
    cases = cases_from([SENTENCES[i] for i in known], [ARTISTS[i] for i in known])
    strategy = QueryStrategy(query=query)
    ranking = embedding_ranks(EMBEDDING, cases, seed=1, strategy=strategy, train=STATISTICS)
    ranks = successors_first(ranking, EMBEDDING, cases, STATISTICS, min_count)
    lists = successor_first_lists(cases, strategy, min_count)
    for row, (target, full) in enumerate(zip(cases.targets, lists, strict=True)):
        expected = full.index(target) if target in full else None
        if expected is not None and expected < 50:
            assert ranks[row] == expected, row
        elif expected is None:
            assert ranks[row] >= 50
    assert np.mean(ranks < 10) > np.mean(ranking.ranks < 10), "successors help on sequential data"


def test_successor_ranks_of_popularity_fallbacks_match_a_list_built_by_hand(monkeypatch):
    cases = cold_and_warm_cases()
    strategy = QueryStrategy(cold_start="popular")
    ranking = embedding_ranks(EMBEDDING, cases, seed=1, strategy=strategy, train=STATISTICS)
    ranks = successors_first(ranking, EMBEDDING, cases, STATISTICS, 1)
    popular = [str(track) for track in STATISTICS.tracks[STATISTICS.by_popularity]]
    cold = np.flatnonzero(~ranking.has_query)
    assert len(cold) > 100
    for row in cold:
        followers = STATISTICS.successors.of(STATISTICS.index_of([cases.inputs[row][-1]])[0])
        first = [str(STATISTICS.tracks[index]) for index in followers]
        full = first + [track for track in popular if track not in first]
        assert ranks[row] == full.index(cases.targets[row]), row
    monkeypatch.setattr(successors_module, "SUCCESSOR_PAIRS_PER_BATCH", 7)
    assert np.array_equal(successors_first(ranking, EMBEDDING, cases, STATISTICS, 1), ranks)


def test_a_known_successor_is_ranked_first_and_recommended_first():
    sentences = [["x", "a", "b", "y"]] * 5 + [["a", "c", "z"]] * 2 + [["b", "c", "x", "a"]] * 3
    vectors = train_on(sentences, {"min_count": 1, "epochs": 2, "vector_size": 4}, seed=1)
    train = statistics_of(sentences)
    cases = EvaluationCases.from_columns([["x", "a"]], [["X", "A", "B"]], ["b"])
    ranking = embedding_ranks(TrackEmbedding(vectors), cases, seed=1, train=train)
    assert successors_first(ranking, TrackEmbedding(vectors), cases, train, 1).tolist() == [0]
    assert (
        successors_first(ranking, TrackEmbedding(vectors), cases, train, 6).tolist() == ranking.ranks.tolist()
    )
    strategy = QueryStrategy(successors_first=True)
    served = EmbeddingRecommender(
        TrackEmbedding(vectors), strategy, successors=train.successors.compact(1, 10)
    )
    found = served.recommend(["x", "a"], 3).tracks
    assert [track for track, _ in found[:2]] == ["b", "c"] and [count for _, count in found[:2]] == [5, 2]


def test_the_strategy_with_the_best_validation_hit_rate_is_chosen():
    results = score_strategies(EMBEDDING, cases_from(SENTENCES, ARTISTS), STATISTICS, seed=1, k=10)
    assert results[0].strategy == QueryStrategy()
    assert len({result.strategy for result in results}) == len(results) == 18
    chosen = choose_strategy(results, k=10)
    assert chosen.metrics["hit_rate@10"] == max(result.metrics["hit_rate@10"] for result in results)
    assert chosen.strategy.successors_first, "on these sequential playlists successors win"
    tie = [
        StrategyResult(QueryStrategy(), {"hit_rate@10": 0.5}),
        StrategyResult(QueryStrategy("mean_last_n"), {"hit_rate@10": 0.5}),
    ]
    assert choose_strategy(tie, k=10).strategy == QueryStrategy()


def test_a_tie_between_cold_starts_goes_to_the_artist_then_the_most_popular_not_a_random_track():
    """Few cold queries on validation: every cold start scores the same."""
    results = [StrategyResult(QueryStrategy(cold_start=c), {"hit_rate@10": 0.5}) for c in COLD_STARTS]
    assert choose_strategy(results, k=10).strategy.cold_start == "artist"
    assert choose_strategy([results[0], results[2]], k=10).strategy.cold_start == "popular"
    better = StrategyResult(QueryStrategy(cold_start="random"), {"hit_rate@10": 0.51})
    assert choose_strategy([*results, better], k=10) is better, "a better hit rate still wins"


def cold_and_warm_cases() -> EvaluationCases:
    """Every third playlist's input tracks replaced by unknown ones of the same artists: cold
    starts beside known queries."""
    inputs = [
        [f"{t.split('|||')[0]}|||unknown{n}" for n, t in enumerate(s[:-1])] if number % 3 == 0 else s[:-1]
        for number, s in enumerate(SENTENCES)
    ]
    return EvaluationCases.from_columns(inputs, ARTISTS, [s[-1] for s in SENTENCES])


def test_strategies_ranked_together_rank_as_each_alone():
    cases = cold_and_warm_cases()
    together = embedding_rankings(
        EMBEDDING, cases, 4, EMBEDDING_STRATEGIES, STATISTICS, top_k=5, coverage_sample=7
    )
    for strategy, ranking in zip(EMBEDDING_STRATEGIES, together, strict=True):
        alone = embedding_ranks(EMBEDDING, cases, 4, strategy, STATISTICS, top_k=5, coverage_sample=7)
        assert np.array_equal(ranking.ranks, alone.ranks), strategy.label
        assert ranking.coverage == alone.coverage, strategy.label
    warm = np.array([number % 3 != 0 for number in range(len(cases))])
    for first, second in ((0, 1), (0, 2), (3, 4)):
        assert np.array_equal(together[first].ranks[warm], together[second].ranks[warm])
        assert not np.array_equal(together[first].ranks[~warm], together[second].ranks[~warm])
    for result in score_strategies(EMBEDDING, cases, STATISTICS, seed=4, k=10):
        assert result.metrics == evaluate(
            EmbeddingRecommender(EMBEDDING, result.strategy, 4, STATISTICS), cases, 10
        ), result.strategy


def test_strategies_are_compared_on_a_sample_and_the_chosen_one_scored_on_every_row():
    cases = cases_from(SENTENCES, ARTISTS)
    results, chosen, rows = choose_on_sample(EMBEDDING, cases, STATISTICS, seed=1, k=10)
    assert rows == len(cases)
    assert [r.metrics for r in results] == [
        r.metrics for r in score_strategies(EMBEDDING, cases, STATISTICS, seed=1, k=10)
    ]
    assert chosen == choose_strategy(results, k=10)

    results, chosen, rows = choose_on_sample(EMBEDDING, cases, STATISTICS, seed=1, k=10, rows=len(cases) // 3)
    sample = sample_cases(cases, len(cases) // 3, seed=1)
    assert rows == len(sample) < len(cases)
    assert [r.metrics for r in results] == [
        r.metrics for r in score_strategies(EMBEDDING, sample, STATISTICS, seed=1, k=10)
    ]
    assert chosen.strategy == choose_strategy(results, k=10).strategy
    assert chosen.metrics == evaluate(
        EmbeddingRecommender(EMBEDDING, chosen.strategy, 1, STATISTICS), cases, 10
    )


def test_generalization_tolerance_shrinks_with_more_rows():
    assert generalization_tolerance(0.5, 100, 100) == pytest.approx(3 * (0.25 / 50) ** 0.5)
    assert generalization_tolerance(0.5, 10**7, 10**7) == 0.01
    assert baselines_beating(0.4, {"popular": 0.2, "transitions": 0.45}) == ["transitions"]


def test_track_lookup_finds_every_id_even_when_hashes_collide():
    tracks = np.array(sorted(f"a{n}|||t{n}" for n in range(50)), dtype=object)
    index = TrackIndex(tracks)
    keys = [*tracks[::-1], "absent", tracks[3]]
    expected = [*range(49, -1, -1), -1, 3]
    assert index.positions(keys).tolist() == expected
    index.hashes = np.zeros_like(index.hashes)
    index.order = np.arange(len(tracks))
    with patch.object(pd.util, "hash_array", lambda values, categorize: np.zeros(len(values), np.uint64)):
        assert index.positions(keys).tolist() == expected
    assert TrackIndex(tracks[:0]).positions(["a0|||t0"]).tolist() == [-1]


def test_every_recommender_ranks_a_held_out_track_where_its_own_list_puts_it():
    """The two views of the one scoring path agree: rank() is the place in recommend()."""
    warm = [
        i for i, s in enumerate(SENTENCES) if s[-2] in VECTORS.key_to_index and s[-1] in VECTORS.key_to_index
    ]
    cases = cases_from([SENTENCES[i] for i in warm[:120]], [ARTISTS[i] for i in warm[:120]])
    codes, lengths = codes_of(SENTENCES, STATISTICS)
    models = {
        "popularity": PopularityRecommender(STATISTICS),
        "followers": FollowersRecommender(STATISTICS),
        "followers seen 2+": FollowersRecommender(STATISTICS, min_count=2),
        "embedding": EmbeddingRecommender(EMBEDDING, QueryStrategy(), 1, STATISTICS),
        "embedding, successors first": EmbeddingRecommender(
            EMBEDDING, QueryStrategy(query="mean_last_n", successors_first=True), 1, STATISTICS
        ),
        "rules": build_rules(config_params("test", "rules", {}), STATISTICS, codes, lengths),
        "session_knn": build_session_knn(
            config_params("test", "session_knn", {}), STATISTICS, codes, lengths
        ),
    }
    models["hybrid"] = Hybrid((models["rules"], models["session_knn"]), (0.6, 0.4), STATISTICS)
    for name, model in models.items():
        ranks = model.rank(cases, 50).ranks
        for row, (inputs, target) in enumerate(zip(cases.inputs, cases.targets, strict=True)):
            listed = [track for track, _ in model.recommend(inputs, 50).tracks]
            expected = listed.index(target) if target in listed else None
            if expected is None:
                assert ranks[row] >= 50, (name, row)
            else:
                assert ranks[row] == expected, (name, row)


def test_the_followers_list_is_the_followers_then_the_most_played():
    train = statistics_of([["a", "b", "a"], ["c", "a", "b"], ["d", "d", "b", "c"]])
    found = FollowersRecommender(train).recommend(["x", "a"], 4)
    assert found.tracks == [("b", 2.0), ("a", 3.0), ("c", 2.0), ("d", 2.0)]
    assert found.kinds == (TIMES_FOLLOWED, PLAYS, PLAYS, PLAYS)
    assert found.unknown_tracks == ["x"]
    assert [t for t, _ in PopularityRecommender(train).recommend(["a"], 2).tracks] == ["a", "b"]
    assert FollowersRecommender(train).rank(
        EvaluationCases(inputs=[["a"]], last_artists=["A"], targets=["c"]), 10
    ).ranks.tolist() == [2]


def test_the_followers_coverage_is_that_of_its_lists():
    train = statistics_of([["a", "b", "a"], ["c", "a", "b"], ["d", "d", "b", "c"]])
    followers = FollowersRecommender(train)

    def coverage(last: str, k: int) -> float:
        return followers.rank(EvaluationCases(inputs=[[last]], last_artists=["A"], targets=["a"]), k).coverage

    assert coverage("zz", 2) == 2 / 4, "an unknown track lists the two most played"
    assert coverage("d", 1) == 1 / 4 and coverage("a", 10) == 1.0


def test_a_model_that_leaves_out_played_tracks_lists_and_ranks_without_them():
    """ "b" followed itself most often: a list without played tracks does not offer it."""
    train = statistics_of([["a", "b", "b", "b"], ["c", "b", "b", "a"], ["d", "c"]])
    model = FollowersRecommender(train)
    assert [t for t, _ in model.recommend(["a", "b"], 3).tracks] == ["b", "a", "c"]
    leaving = FollowersRecommender(train, leave_out_played=True)
    found = leaving.recommend(["a", "b"], 3)
    assert found.tracks == [("c", 2.0), ("d", 1.0)] and found.kinds == (PLAYS, PLAYS), "only 2 tracks left"
    cases = EvaluationCases(inputs=[["a", "b"]] * 3, last_artists=["x"] * 3, targets=["c", "d", "b"])
    assert leaving.rank(cases, 3).ranks.tolist() == [0, 1, MISSED]
    assert model.rank(cases, 3).ranks.tolist() == [2, 3, 0]


def test_a_baseline_that_ties_with_the_model_is_said_to_tie_not_to_beat_it():
    from recsys_assets.core.evaluation.reports import verdict, verdict_headline

    assert verdict(0.5, {"most_popular": 0.5}, 100, "test").startswith(
        "A baseline ties with the model on test"
    )
    assert verdict(0.5, {"most_popular": 0.6}, 100, "test").startswith("A baseline beats the model on test")
    assert verdict(0.5, {"most_popular": 0.4}, 100, "test").startswith("The model beats every baseline")
    rates = {"most_popular": 0.5, "item_to_item": 0.6}
    assert verdict_headline(0.5, rates) == "beaten by item_to_item"
    assert verdict_headline(0.55, rates) == "beaten by item_to_item"
    assert verdict_headline(0.5, {"most_popular": 0.5}) == "tied with most_popular"
    assert verdict_headline(0.7, rates) == "beats every baseline"
