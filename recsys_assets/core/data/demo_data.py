"""A deterministic generator of playlist rows with the structure of real listening data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recsys_assets.core.storage.files import replacing


def _words(text: str) -> list[str]:
    return text.split()


_STYLE_WORDS = _words(
    "Ambient Blues Bossa Country Disco Dub Electro Folk Funk Garage Gospel Grunge House Indie "
    "Jazz Lounge Metal Motown Punk Reggae Salsa Samba Shoegaze Ska Soul Surf Swing Synth "
    "Techno Trance"
)
_ADJECTIVES = _words(
    "Amber Bitter Blue Broken Burning Crimson Crystal Dancing Distant Electric Empty Fading "
    "Frozen Golden Hollow Hungry Lonely Lucky Midnight Neon Paper Quiet Restless Rusty Silent "
    "Silver Sleepy Velvet Wild Young"
)
_NOUNS = _words(
    "Anchors Arrows Bells Birds Bridges Candles Comets Crows Diamonds Engines Feathers Foxes "
    "Gardens Ghosts Harbors Horses Lanterns Mirrors Oceans Owls Rivers Roses Sailors Shadows "
    "Sparrows Stones Strangers Tigers Wolves Wheels"
)
_TRACK_WORDS = _words(
    "Again Away Back Before Blue Call Dance Dawn Down Dream Fire Forever Ghost Gold Heart "
    "Home Light Line Love Moon Night Rain River Road Run Sky Song Summer Tears Time Tonight "
    "Train Water Wind World Years"
)


@dataclass(frozen=True)
class DemoDataSpec:
    """Size and shape of the generated data; the defaults make the quick demo."""

    playlists: int = 15_000
    users: int = 1_200
    styles: int = 30
    artists_per_style: int = 40
    mean_tracks_per_artist: float = 12.0
    median_playlist_length: float = 30.0
    playlist_length_spread: float = 0.9
    max_playlist_length: int = 400
    home_style_share: float = 0.7
    style_switch_rate: float = 0.15
    artist_repeat_rate: float = 0.35
    artist_popularity_exponent: float = 1.1
    track_popularity_power: float = 2.5
    ordered: bool = True
    seed: int = 7


DEMO_SIZES = {
    "small": DemoDataSpec(),
    "daylists": DemoDataSpec(ordered=False),
    "spotify": DemoDataSpec(
        playlists=232_369,
        users=15_918,
        styles=300,
        artists_per_style=1_000,
        mean_tracks_per_artist=30.0,
        median_playlist_length=37.5,
    ),
    "mpd": DemoDataSpec(
        playlists=1_000_000,
        users=200_000,
        styles=300,
        artists_per_style=1_000,
        mean_tracks_per_artist=9.0,
        median_playlist_length=50.0,
        playlist_length_spread=0.75,
        max_playlist_length=250,
    ),
}
"""Named sizes: `small` runs the demo in about a minute (`daylists`: the same with the order within
each playlist shuffled); `spotify` matches the Kaggle dump
(about 12.9 M rows, 232 k playlists, 16 k users, 290 k artists, 2.7 M tracks); `mpd` the Million
Playlist Dataset's size (about 65 M rows, 1 M playlists of at most 250 tracks, 300 k artists)."""


def _zipf_inverse_cdf(rng: np.random.Generator, n: int, exponent: float, size: int) -> np.ndarray:
    """Ranks 0..n-1 drawn with probability proportional to (rank + 1) ** -exponent."""
    cdf = np.cumsum(np.arange(1, n + 1, dtype=np.float64) ** -exponent)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), n - 1)


def _forward_fill(values: np.ndarray, starts_new: np.ndarray) -> np.ndarray:
    """Each row takes the value of the latest row at or before it where `starts_new` is set."""
    source = np.where(starts_new, np.arange(len(values)), 0)
    return values[np.maximum.accumulate(source)]


def _word_pair_names(ids: np.ndarray, first: list[str], second: list[str]) -> list[str]:
    pairs = len(first) * len(second)
    names = []
    for value in ids.tolist():
        cycle, pair = divmod(value, pairs)
        name = f"{first[pair // len(second)]} {second[pair % len(second)]}"
        names.append(f"{name} {cycle + 1}" if cycle else name)
    return names


def generate_playlist_rows(spec: DemoDataSpec) -> pa.Table:
    """Playlist rows (row_id, user_id, artist, track, playlist) in file order, as an Arrow table.

    Users have a home style; each playlist mixes its owner's style with neighbouring ones in
    sticky stretches, repeats artists, and draws artists and tracks with skewed popularity. With
    `ordered` false, each playlist's tracks come in a random order (day lists, not sequences).
    """
    rng = np.random.default_rng(spec.seed)
    n_artists = spec.styles * spec.artists_per_style

    lengths = np.rint(
        rng.lognormal(np.log(spec.median_playlist_length), spec.playlist_length_spread, spec.playlists)
    )
    lengths = np.clip(lengths, 1, spec.max_playlist_length).astype(np.int64)
    user_weights = np.arange(1, spec.users + 1, dtype=np.float64) ** -0.8
    owner = rng.choice(spec.users, size=spec.playlists, p=user_weights / user_weights.sum())
    home_style = rng.integers(0, spec.styles, spec.users)
    playlist_style = (home_style[owner] + rng.integers(-1, 2, spec.playlists)) % spec.styles

    n_rows = int(lengths.sum())
    row_playlist = np.repeat(np.arange(spec.playlists), lengths)
    first_row = np.zeros(n_rows, dtype=bool)
    first_row[np.concatenate(([0], np.cumsum(lengths)[:-1]))] = True

    style_switch = first_row | (rng.random(n_rows) < spec.style_switch_rate)
    offsets = np.where(rng.random(n_rows) < spec.home_style_share, 0, rng.integers(-2, 3, n_rows))
    row_style = (playlist_style[row_playlist] + _forward_fill(offsets, style_switch)) % spec.styles

    artist_rank = _zipf_inverse_cdf(rng, spec.artists_per_style, spec.artist_popularity_exponent, n_rows)
    new_artist = style_switch | (rng.random(n_rows) >= spec.artist_repeat_rate)
    row_artist = _forward_fill(row_style * spec.artists_per_style + artist_rank, new_artist)

    tracks_per_artist = np.maximum(
        1, np.rint(rng.lognormal(np.log(spec.mean_tracks_per_artist), 0.8, n_artists))
    ).astype(np.int64)
    track_offset = np.concatenate(([0], np.cumsum(tracks_per_artist)[:-1]))
    track_rank = np.minimum(
        (tracks_per_artist[row_artist] * rng.random(n_rows) ** spec.track_popularity_power).astype(np.int64),
        tracks_per_artist[row_artist] - 1,
    )

    used_artists, artist_index = np.unique(row_artist, return_inverse=True)
    used_tracks, track_index = np.unique(track_offset[row_artist] + track_rank, return_inverse=True)
    artist_of_track = np.searchsorted(track_offset, used_tracks, side="right") - 1
    rank_of_track = used_tracks - track_offset[artist_of_track]
    track_names = _word_pair_names(rank_of_track * 7 + artist_of_track % 7, _TRACK_WORDS, _TRACK_WORDS)

    playlist_rank = np.zeros(spec.playlists, dtype=np.int64)
    order = np.argsort(owner, kind="stable")
    sorted_owner = owner[order]
    group_start = np.searchsorted(sorted_owner, sorted_owner, side="left")
    playlist_rank[order] = np.arange(spec.playlists) - group_start
    playlist_names = [
        f"{_STYLE_WORDS[style % len(_STYLE_WORDS)]} mix {rank + 1}"
        for style, rank in zip(playlist_style.tolist(), playlist_rank.tolist(), strict=True)
    ]

    def dictionary(indices: np.ndarray, names: list[str]) -> pa.Array:
        return pa.array(names, pa.string()).take(pa.array(indices, pa.int32()))

    row_id = np.arange(n_rows, dtype=np.int64)
    if not spec.ordered:
        within_playlist = np.lexsort((np.random.default_rng(spec.seed + 1).random(n_rows), row_playlist))
        row_id[within_playlist] = np.arange(n_rows)
    return pa.table(
        {
            "row_id": pa.array(row_id),
            "user_id": dictionary(owner[row_playlist], [f"user{u:06d}" for u in range(spec.users)]),
            "artist": dictionary(artist_index, _word_pair_names(used_artists, _ADJECTIVES, _NOUNS)),
            "track": dictionary(track_index, track_names),
            "playlist": dictionary(row_playlist, playlist_names),
        }
    )


def write_demo_rows(directory: Path, spec: DemoDataSpec) -> Path:
    """The parquet file of rows for `spec` in `directory`, generated and written atomically once."""
    digest = hashlib.sha256(repr(spec).encode()).hexdigest()[:12]
    path = directory / f"playlist_rows-{digest}.parquet"
    if path.exists():
        return path
    with replacing(path) as temporary:
        pq.write_table(generate_playlist_rows(spec), temporary)
    return path
