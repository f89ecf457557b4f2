from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from recsys_assets.core.data.demo_data import DemoDataSpec, generate_playlist_rows, write_demo_rows

SPEC = DemoDataSpec(playlists=2_000, users=150, seed=11)


def test_same_spec_gives_identical_rows_and_another_seed_differs():
    first = generate_playlist_rows(SPEC)
    assert first.equals(generate_playlist_rows(SPEC))
    other = generate_playlist_rows(DemoDataSpec(playlists=2_000, users=150, seed=12))
    assert not first.equals(other)


def test_rows_have_the_cleaned_schema_in_file_order():
    rows = generate_playlist_rows(SPEC)
    assert rows.column_names == ["row_id", "user_id", "artist", "track", "playlist"]
    assert np.array_equal(rows["row_id"].to_numpy(), np.arange(rows.num_rows))


def test_rows_have_the_structure_of_listening_data():
    frame = generate_playlist_rows(SPEC).to_pandas()
    frame["track_id"] = frame["artist"] + "|||" + frame["track"]
    frame["playlist_id"] = frame["user_id"] + "-" + frame["playlist"]

    playlists_per_user = frame.groupby("user_id")["playlist_id"].nunique()
    assert (playlists_per_user > 1).mean() > 0.5

    tracks_per_artist = frame.groupby("artist")["track_id"].nunique()
    assert tracks_per_artist.median() >= 3

    popularity = frame["track_id"].value_counts()
    top_share = popularity.iloc[: max(1, len(popularity) // 100)].sum() / len(frame)
    assert top_share > 0.05, "the top 1 % of tracks should take a skewed share of plays"

    lengths = frame.groupby("playlist_id").size()
    assert lengths.max() > 5 * lengths.median(), "playlist lengths should be heavy-tailed"

    repeats = frame.groupby("playlist_id")["artist"].agg(lambda a: len(a) - a.nunique())
    assert (repeats > 0).mean() > 0.5, "most playlists should repeat an artist"


def test_write_is_idempotent_and_leaves_no_temporary_file(tmp_path: Path):
    spec = DemoDataSpec(playlists=200, users=20)
    path = write_demo_rows(tmp_path, spec)
    modified = path.stat().st_mtime_ns
    assert write_demo_rows(tmp_path, spec) == path
    assert path.stat().st_mtime_ns == modified
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert write_demo_rows(tmp_path, DemoDataSpec(playlists=201, users=20)) != path


def test_every_user_has_one_name_per_playlist():
    rows = generate_playlist_rows(SPEC)
    pairs = pc.binary_join_element_wise(rows["user_id"], rows["playlist"], "\x00")
    assert len(pc.unique(pairs)) == SPEC.playlists
