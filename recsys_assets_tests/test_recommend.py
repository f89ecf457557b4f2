import duckdb
import numpy as np
import pandas as pd
import pytest

from recsys_assets.core.data.playlists import build_playlist_table
from recsys_assets.core.data.track_ids import split_track_id
from recsys_assets.core.data.track_names import TrackNameIndex, resolve_tracks
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.recommender import EmbeddingRecommender
from recsys_assets.core.models.word2vec.strategies import TUTORIAL_STRATEGY, QueryStrategy
from recsys_assets_tests.training_data import train_on

SENTENCES = [[f"Artist {i % 7}|||Song {(i * 3 + j) % 40}" for j in range(10)] for i in range(300)]
VECTORS = train_on(SENTENCES, {"min_count": 2, "epochs": 3, "vector_size": 12, "window": 4}, seed=1)


def recommend(vectors, tracks, k, strategy=TUTORIAL_STRATEGY, seed=0):
    return EmbeddingRecommender(TrackEmbedding(vectors), strategy, seed).recommend(tracks, k)


def test_known_last_track_gives_gensim_most_similar():
    last = VECTORS.index_to_key[3]
    result = recommend(VECTORS, ["Nobody|||Nothing", last], k=8)
    expected = VECTORS.most_similar(last, topn=8)
    assert [t for t, _ in result.tracks] == [t for t, _ in expected]
    assert np.allclose([s for _, s in result.tracks], [s for _, s in expected], atol=1e-5)
    assert result.unknown_tracks == ["Nobody|||Nothing"]
    assert result.query == f"similar to {last}"


def test_mean_of_last_n_gives_most_similar_of_those_tracks():
    tracks = VECTORS.index_to_key[:4]
    result = recommend(VECTORS, tracks, k=5, strategy=QueryStrategy(query="mean_last_n", last_n=2))
    assert [t for t, _ in result.tracks] == [t for t, _ in VECTORS.most_similar(positive=tracks[2:], topn=5)]


def test_cold_starts_are_reported_and_follow_the_strategy():
    unknown = ["Artist 3|||Brand New"]
    random = recommend(VECTORS, unknown, k=3, seed=4)
    assert random.query.startswith("similar to random track ") and random.unknown_tracks == unknown
    assert random.tracks == recommend(VECTORS, unknown, k=3, seed=4).tracks
    popular = recommend(VECTORS, unknown, k=3, strategy=QueryStrategy(cold_start="popular"))
    counts = {key: VECTORS.get_vecattr(key, "count") for key in VECTORS.index_to_key}
    assert [t for t, _ in popular.tracks] == sorted(
        counts, key=lambda key: (-counts[key], VECTORS.key_to_index[key])
    )[:3]
    artist = recommend(VECTORS, unknown, k=3, strategy=QueryStrategy(cold_start="artist"))
    assert artist.query == "similar to Artist 3's known tracks (no known track)"
    with pytest.raises(ValueError, match="at least one track"):
        recommend(VECTORS, [], k=3)


def test_search_finds_ids_and_words_ignoring_case():
    assert TrackNameIndex(VECTORS.index_to_key).search("Artist 1|||Song 3") == ["Artist 1|||Song 3"]
    words = TrackNameIndex(VECTORS.index_to_key).search("artist 1 song 3")
    assert "Artist 1|||Song 3" in words
    assert all(all(w in key.lower() for w in ("artist", "1", "song", "3")) for key in words)
    assert set(TrackNameIndex(VECTORS.index_to_key).search("SONG 39")) == {
        k for k in VECTORS.index_to_key if k.endswith("Song 39")
    }
    assert TrackNameIndex(VECTORS.index_to_key).search("no such words") == []


def test_the_name_index_finds_what_a_scan_of_every_name_finds():
    index = TrackNameIndex(VECTORS.index_to_key)
    names = {key: " ".join(split_track_id(key)).lower() for key in VECTORS.index_to_key}
    for query in ["artist", "1 song", "ong 3", "ARTIST 6 SONG 2", "t 4 s", "9", "zz", "song 39 artist"]:
        words = query.lower().split()
        scanned = [key for key in VECTORS.index_to_key if all(word in names[key] for word in words)]
        found = index.search(query, limit=1000)
        assert sorted(found) == sorted(scanned), query
        closeness = [index.closeness(index.key_to_index[key], words) for key in found]
        assert closeness == sorted(closeness), "closest first"
        assert index.search(query, limit=3) == found[:3]
    with pytest.raises(ValueError, match="k must be at least 1"):
        recommend(VECTORS, VECTORS.index_to_key[:1], k=0)


def test_split_track_id_inverts_the_ids_the_playlist_table_builds(tmp_path):
    pairs = [("A|||B", "C"), ("A", "B|||C"), ("A|", "||B"), ("A\\", "|B"), ("Plain", "Name"), ("", "None")]
    rows = [
        (i * 3 + j, "u", artist, track, f"p{i}") for i, (artist, track) in enumerate(pairs) for j in range(3)
    ]
    path = tmp_path / "rows.parquet"
    pd.DataFrame(rows, columns=["row_id", "user_id", "artist", "track", "playlist"]).to_parquet(path)
    with duckdb.connect() as conn:
        build_playlist_table(conn, path)
        ids = [
            row[0]
            for row in conn.execute("SELECT track_test_y FROM playlists ORDER BY playlist_id").fetchall()
        ]
    assert [split_track_id(track_id) for track_id in ids] == pairs
    assert split_track_id("Plain|||Name") == ("Plain", "Name")


def test_words_resolve_to_the_one_track_they_name_exact_names_first():
    keys = [
        "Crystal Rivers 2|||Blue",
        "Crystal Rivers|||Blue",
        "Crystal Rivers|||Gold",
        "Other|||Crystal Rivers",
    ]
    index = TrackNameIndex(keys)
    assert index.search("crystal rivers") == [
        "Crystal Rivers|||Blue",
        "Crystal Rivers|||Gold",
        "Other|||Crystal Rivers",
        "Crystal Rivers 2|||Blue",
    ], "an artist or name that is the words first, then whole words, in vocabulary order"
    assert index.search("crystal rivers 2 blue") == ["Crystal Rivers 2|||Blue"]
    assert index.search("rivers blue")[:2] == ["Crystal Rivers 2|||Blue", "Crystal Rivers|||Blue"]
    resolved = resolve_tracks(keys, ["crystal rivers blue", "gold", "Nobody|||Nothing", "zzz", "crystal"])
    assert resolved.tracks == ["Crystal Rivers|||Blue", "Crystal Rivers|||Gold", "Nobody|||Nothing", "zzz"]
    assert resolved.resolved == {
        "crystal rivers blue": "Crystal Rivers|||Blue",
        "gold": "Crystal Rivers|||Gold",
    }
    assert resolved.unmatched == ["zzz"]
    assert sorted(resolved.ambiguous) == ["crystal"] and len(resolved.ambiguous["crystal"]) == 4


def test_a_model_lists_next_tracks_for_words_as_for_the_ids_they_name():
    from recsys_assets.core.models.trained import AmbiguousTracks
    from recsys_assets_tests.test_family_contract import fitted

    model = fitted("rules")
    first = model.track_keys[0]
    by_id, _ = model.next_tracks([first, "Nobody|||Nothing"], 5)
    by_words, resolved = model.next_tracks([" ".join(split_track_id(first)), "no such words"], 5)
    assert resolved.resolved == {" ".join(split_track_id(first)): first}
    assert by_words.tracks == by_id.tracks, "words that name nothing are an unknown track, as an unknown id"
    with pytest.raises(AmbiguousTracks, match="'t' matches several tracks"):
        model.next_tracks(["t"], 5)
