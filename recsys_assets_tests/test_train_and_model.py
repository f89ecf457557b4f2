import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from gensim.models.word2vec import Word2Vec

from recsys_assets.core.data.corpus import (
    CORPUS_MANIFEST,
    MAX_SENTENCE_LENGTH,
    PIECE_OVERLAP,
    Corpus,
    read_corpus_manifest,
)
from recsys_assets.core.data.training_files import training_data_of
from recsys_assets.core.evaluation.reports import early_peak
from recsys_assets.core.models.trained import (
    TrainedModel,
    load_model,
    save_model,
    select_best,
    summary_from_file,
)
from recsys_assets.core.models.word2vec.model import Word2VecModel
from recsys_assets.core.models.word2vec.strategies import QueryStrategy
from recsys_assets.core.models.word2vec.train import TrainingError, train_embeddings
from recsys_assets_tests.training_data import train_on

SENTENCES = [[f"t{(i * 7 + j) % 40}" for j in range(12)] for i in range(200)]
PARAMS = {"min_count": 2, "epochs": 3, "vector_size": 8, "window": 3}


@pytest.mark.parametrize(
    "text", ["{", "[]", '{"lines": 1, "words": 2}', '{"lines": 1, "words": -2, "long_playlists": 0}']
)
def test_a_damaged_corpus_manifest_names_its_file(tmp_path: Path, text: str):
    (tmp_path / CORPUS_MANIFEST).write_text(text)
    with pytest.raises(
        ValueError, match=re.escape(f"{tmp_path / CORPUS_MANIFEST}: expected a JSON object of the counts")
    ):
        read_corpus_manifest(tmp_path)


def gensim_reference(corpus: Corpus, params: dict, seed: int) -> Word2Vec:
    """gensim's own corpus-file training in one call, on the corpus's counts."""
    model = Word2Vec(seed=seed, workers=1, **params)
    model.build_vocab_from_freq(
        {str(code): int(n) for code, n in enumerate(corpus.plays)}, corpus_count=corpus.lines
    )
    model.train(
        corpus_file=str(corpus.path),
        total_examples=corpus.lines,
        total_words=corpus.words,
        epochs=model.epochs,
    )
    return model


def test_one_worker_training_is_reproducible_and_the_seed_matters(tmp_path: Path):
    corpus = training_data_of(SENTENCES, tmp_path).corpus
    first = train_embeddings(corpus, PARAMS, seed=5)
    again = train_embeddings(corpus, PARAMS, seed=5)
    other = train_embeddings(corpus, PARAMS, seed=6)
    assert first.index_to_key == again.index_to_key
    assert np.array_equal(first.vectors, again.vectors)
    assert not np.array_equal(first.vectors, other.vectors)
    assert first.vector_size == 8


def test_epoch_progress_is_reported():
    seen = []
    train_on(SENTENCES, PARAMS, seed=1, on_epoch=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_empty_vocabulary_gives_a_clear_error():
    with pytest.raises(TrainingError, match="lower min_count"):
        train_on(SENTENCES, {**PARAMS, "min_count": 10_000}, seed=1)


def make_model(key: str, hit_rate: float) -> TrainedModel:
    vectors = train_on(SENTENCES, PARAMS, seed=1)
    return TrainedModel(
        config_key=key,
        params=PARAMS,
        seed=1,
        fitted=Word2VecModel(vectors),
        k=10,
        strategy=QueryStrategy(query="mean_last_n", last_n=2, cold_start="artist"),
        validation={"hit_rate@10": hit_rate, "mrr@10": hit_rate / 2},
        validation_rows=50,
        train_seconds=0.5,
    )


def test_model_file_round_trips_and_leaves_no_temporary_file(tmp_path: Path):
    model = make_model("a", 0.25)
    path = tmp_path / "models" / "a.npz"
    save_model(model, path)
    loaded = load_model(path)
    assert loaded.describe() == model.describe()
    assert loaded.strategy == model.strategy
    assert loaded.fitted.vectors.index_to_key == model.fitted.vectors.index_to_key
    assert np.array_equal(loaded.fitted.vectors.vectors, model.fitted.vectors.vectors)
    assert loaded.fitted.vectors.most_similar("t1", topn=5) == model.fitted.vectors.most_similar("t1", topn=5)
    assert [p.name for p in path.parent.iterdir()] == ["a.npz"]


def test_a_model_summary_read_from_its_file_describes_the_model(tmp_path: Path):
    model = make_model("a", 0.25)
    path = tmp_path / "a.npz"
    save_model(model, path)
    with path.open("rb") as file:
        summary = summary_from_file(file, str(path))
    assert summary == model.summary() == load_model(path).summary()
    assert summary.validation_hit_rate == 0.25
    assert summary.vocabulary_size == len(model.fitted.vectors.index_to_key)
    assert summary.strategy == model.strategy and summary.config_key == "a"


@pytest.mark.parametrize(
    "content", [b"not a model", b"PK\x03\x04 cut short", b""], ids=["text", "truncated", "empty"]
)
def test_a_file_that_is_no_model_is_refused_with_its_name(tmp_path: Path, content: bytes):
    path = tmp_path / "a.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"{path}: not a model file"):
        load_model(path)
    with path.open("rb") as file, pytest.raises(ValueError, match=f"{path}: not a model file"):
        summary_from_file(file, str(path))


def test_failed_save_keeps_the_previous_file(tmp_path: Path, monkeypatch):
    path = tmp_path / "a.npz"
    save_model(make_model("a", 0.25), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("recsys_assets.core.storage.files.os.fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model(make_model("a", 0.5), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]


def test_select_best_takes_the_highest_hit_rate_and_breaks_ties_by_key():
    models = {key: make_model(key, rate) for key, rate in [("b", 0.3), ("a", 0.3), ("c", 0.1)]}
    assert select_best(models).config_key == "a"
    models["c"] = make_model("c", 0.4)
    assert select_best(models).config_key == "c"
    assert select_best({"only": models["b"]}).config_key == "b"
    summaries = {key: model.summary() for key, model in models.items()}
    assert select_best(summaries) == models["c"].summary()


def test_a_playlist_longer_than_gensims_limit_trains_every_track(tmp_path: Path):
    ab = ["a", "b"] * (MAX_SENTENCE_LENGTH // 2 + 3_000)
    cd = ["c", "d"] * 3_000
    long = [ab + cd]
    corpus = training_data_of(long, tmp_path).corpus
    pieces = [line.split() for line in corpus.path.read_text().splitlines()]
    assert corpus.long_playlists == 1 and corpus.lines == len(pieces) == 3
    assert all(len(piece) <= MAX_SENTENCE_LENGTH for piece in pieces)
    for before, after in itertools.pairwise(pieces):
        assert before[-PIECE_OVERLAP:] == after[:PIECE_OVERLAP], "pieces overlap by the largest window"
    assert corpus.words == sum(map(len, pieces)) == len(long[0]) + 2 * PIECE_OVERLAP
    whole = pieces[0] + [code for piece in pieces[1:] for code in piece[PIECE_OVERLAP:]]
    assert [corpus.tracks[int(code)] for code in whole] == long[0]
    params = {"min_count": 1, "epochs": 3, "vector_size": 8, "window": 5, "sample": 0}
    vectors = train_embeddings(corpus, params, seed=1)
    start = gensim_reference(corpus, {**params, "epochs": 1, "alpha": 1e-9, "min_alpha": 1e-9}, seed=1).wv
    for track in "abcd":
        code = str(np.searchsorted(corpus.tracks, track))
        assert not np.allclose(vectors[track], start[code], atol=1e-4), f"{track} was trained"


def test_training_epoch_by_epoch_gives_gensims_vectors_and_checkpoints_can_stop_it(tmp_path: Path):
    params = {**PARAMS, "epochs": 7, "alpha": 0.05, "min_alpha": 0.001}
    corpus = training_data_of(SENTENCES, tmp_path).corpus
    reference = gensim_reference(corpus, params, seed=1).wv
    seen = []

    def keep_going(epoch, vectors):
        seen.append((epoch, vectors.most_similar("t1", topn=1)[0][0]))
        return True

    vectors = train_embeddings(corpus, params, seed=1, checkpoint=keep_going, checkpoint_every=3)
    assert vectors.index_to_key == [corpus.tracks[int(code)] for code in reference.index_to_key]
    # gensim computes each epoch's starting rate in float32, this loop in float64: rounding apart.
    assert np.allclose(vectors.vectors, reference.vectors, atol=1e-5)
    assert [epoch for epoch, _ in seen] == [3, 6, 7]
    assert all(track.startswith("t") for _, track in seen), "checkpoints see track ids, not codes"

    def stop_after_two(epoch, vectors):
        return epoch < 2

    two = train_embeddings(corpus, {**params, "epochs": 2}, seed=1)
    stopped = train_embeddings(corpus, params, seed=1, checkpoint=stop_after_two)
    assert not np.allclose(stopped.vectors, reference.vectors, atol=1e-3)
    assert not np.allclose(stopped.vectors, two.vectors, atol=1e-3), "a stopped run keeps the 7-epoch rate"


def test_the_vocabulary_comes_from_the_corpus_counts_and_min_count_applies(tmp_path: Path):
    corpus = training_data_of([*SENTENCES, ["rare", "t1", "t2"]], tmp_path).corpus
    assert corpus.plays[np.searchsorted(corpus.tracks, "rare")] == 1
    vectors = train_embeddings(corpus, PARAMS, seed=1)
    scanned = Word2Vec([*SENTENCES, ["rare", "t1", "t2"]], seed=1, workers=1, **PARAMS).wv
    assert sorted(vectors.index_to_key) == sorted(scanned.index_to_key)
    assert "rare" not in vectors.key_to_index
    assert [vectors.get_vecattr(key, "count") for key in vectors.index_to_key] == [
        scanned.get_vecattr(key, "count") for key in vectors.index_to_key
    ]


def test_a_curve_that_ends_well_below_its_peak_is_named_with_both_points():
    said = early_peak("dim48-ep30", {2: 0.48, 4: 0.45, 30: 0.35}, k=100)
    assert said == (
        "dim48-ep30's embedding peaked at hit rate@100 0.4800 after 2 epochs and ended at 0.3500"
        " after 30: fewer epochs (or a patience) may train a better model."
    )
    assert early_peak("dim48-ep30", {2: 0.48, 4: 0.45, 6: 0.35}, k=100, kept=2) is None, "best kept"
    assert early_peak("c", {2: 0.40, 4: 0.48, 6: 0.44}, k=10) is None, "within 10 % of the peak"
    assert early_peak("c", {2: 0.48}, k=10) is None and early_peak("c", {}, k=10) is None


def test_word2vec_keeps_its_best_epochs_vectors_and_stops_after_its_patience(tmp_path: Path):
    from recsys_assets.core.models.family import FitContext
    from recsys_assets.core.models.registry import make_config
    from recsys_assets.core.models.trained import fit_config, model_bytes, model_from_bytes
    from recsys_assets_tests.reference import corpus_of, next_track_cases, random_playlists, statistics_of

    train = random_playlists(41, playlists=200, tracks=60)
    cases = next_track_cases(random_playlists(42, playlists=60, tracks=60))
    context = FitContext(corpus_of(train, tmp_path), statistics_of(train), cases, seed=3, k=10)
    every = {"vector_size": 8, "min_count": 1, "epochs": 30, "alpha": 0.5, "min_alpha": 0.4, "patience": 0}
    full = fit_config(make_config("t.toml", "word2vec", every), context, "v").model
    assert max(full.learning_curve) == 30 and full.kept_epoch == 30, "patience 0: every epoch, the last kept"
    stopping = fit_config(make_config("t.toml", "word2vec", {**every, "patience": 4}), context, "v").model
    curve = stopping.learning_curve
    best = max(curve, key=lambda epoch: (curve[epoch], -epoch))
    assert stopping.kept_epoch == best and max(curve) == best + 4 < 30
    assert {epoch: full.learning_curve[epoch] for epoch in curve} == curve, "the same training until it stops"
    loaded = model_from_bytes(model_bytes(stopping), "m.npz")
    assert loaded.kept_epoch == best
