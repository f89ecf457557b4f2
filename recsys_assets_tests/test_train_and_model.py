from pathlib import Path

import numpy as np
import pytest
from gensim.models.word2vec import Word2Vec

from recsys_assets.core.model import TrainedModel, load_model, save_model, select_best
from recsys_assets.core.strategies import QueryStrategy
from recsys_assets.core.train import (
    MAX_SENTENCE_LENGTH,
    TrainingError,
    as_sentences,
    count_long_sentences,
    split_long_sentences,
    train_embeddings,
)

SENTENCES = [[f"t{(i * 7 + j) % 40}" for j in range(12)] for i in range(200)]
PARAMS = {"min_count": 2, "epochs": 3, "vector_size": 8, "window": 3}


def test_as_sentences_turns_arrays_into_lists_of_str():
    sentences = as_sentences([np.array(["a", "b"], dtype=object), ("c",)])
    assert sentences == [["a", "b"], ["c"]]
    assert all(type(s) is list for s in sentences)


def test_one_worker_training_is_reproducible_and_the_seed_matters():
    first = train_embeddings(SENTENCES, PARAMS, seed=5)
    again = train_embeddings(SENTENCES, PARAMS, seed=5)
    other = train_embeddings(SENTENCES, PARAMS, seed=6)
    assert first.index_to_key == again.index_to_key
    assert np.array_equal(first.vectors, again.vectors)
    assert not np.array_equal(first.vectors, other.vectors)
    assert first.vector_size == 8


def test_epoch_progress_is_reported():
    seen = []
    train_embeddings(SENTENCES, PARAMS, seed=1, on_epoch=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_empty_vocabulary_gives_a_clear_error():
    with pytest.raises(TrainingError, match="lower min_count"):
        train_embeddings(SENTENCES, {**PARAMS, "min_count": 10_000}, seed=1)


def make_model(key: str, hit_rate: float) -> TrainedModel:
    vectors = train_embeddings(SENTENCES, PARAMS, seed=1)
    return TrainedModel(
        config_key=key,
        params=PARAMS,
        seed=1,
        vectors=vectors,
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
    assert loaded.vectors.index_to_key == model.vectors.index_to_key
    assert np.array_equal(loaded.vectors.vectors, model.vectors.vectors)
    assert loaded.vectors.most_similar("t1", topn=5) == model.vectors.most_similar("t1", topn=5)
    assert [p.name for p in path.parent.iterdir()] == ["a.npz"]


def test_failed_save_keeps_the_previous_file(tmp_path: Path, monkeypatch):
    path = tmp_path / "a.npz"
    save_model(make_model("a", 0.25), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("recsys_assets.core.files.os.fsync", crash)
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


def test_a_playlist_longer_than_gensims_limit_trains_every_track():
    ab = ["a", "b"] * (MAX_SENTENCE_LENGTH // 2 + 3_000)
    cd = ["c", "d"] * 3_000
    long = [ab + cd]
    assert count_long_sentences(long) == 1
    pieces = split_long_sentences(long, window=5)
    assert all(len(piece) <= MAX_SENTENCE_LENGTH for piece in pieces)
    assert pieces[0][-5:] == pieces[1][:5], "pieces overlap by the window"
    assert sum(len(piece) for piece in pieces) - 5 * (len(pieces) - 1) == len(long[0])
    params = {"min_count": 1, "epochs": 3, "vector_size": 8, "window": 5, "sample": 0}
    untrained = Word2Vec(seed=1, workers=1, **params)
    untrained.build_vocab(long)
    truncated = Word2Vec(long, seed=1, workers=1, **params).wv
    assert np.array_equal(truncated["c"], untrained.wv["c"]), "gensim alone leaves c at its random start"
    vectors = train_embeddings(long, params, seed=1)
    for track in "abcd":
        assert not np.allclose(vectors[track], untrained.wv[track]), f"{track} was trained"


def test_training_epoch_by_epoch_gives_gensims_vectors_and_checkpoints_can_stop_it():
    params = {**PARAMS, "epochs": 7, "alpha": 0.05, "min_alpha": 0.001}
    reference = Word2Vec(SENTENCES, seed=1, workers=1, **params).wv
    seen = []

    def keep_going(epoch, vectors):
        seen.append(epoch)
        return True

    vectors = train_embeddings(SENTENCES, params, seed=1, checkpoint=keep_going, checkpoint_every=3)
    assert np.array_equal(vectors.vectors, reference.vectors)
    assert seen == [3, 6, 7]

    def stop_after_two(epoch, vectors):
        return epoch < 2

    two = train_embeddings(SENTENCES, {**params, "epochs": 2}, seed=1)
    stopped = train_embeddings(SENTENCES, params, seed=1, checkpoint=stop_after_two)
    assert not np.array_equal(stopped.vectors, reference.vectors)
    assert not np.array_equal(stopped.vectors, two.vectors), "a stopped run keeps the 7-epoch learning rate"
