"""Track and playlist ids: how (artist, track) and (user, playlist) names become one id each."""

from __future__ import annotations

TRACK_ID_SEPARATOR = "|||"
PLAYLIST_ID_SEPARATOR = "-"


def escaped_sql(column: str, separator_character: str) -> str:
    """SQL that backslash-escapes backslashes and `separator_character` in `column`."""
    escaped_backslashes = f"replace({column}, '\\', '\\\\')"
    return f"replace({escaped_backslashes}, '{separator_character}', '\\{separator_character}')"


def split_track_id(track_id: str) -> tuple[str, str]:
    """The (artist, track) names a track id was built from (see `build_playlist_table`)."""
    if "\\" not in track_id:
        artist, _, track = track_id.partition(TRACK_ID_SEPARATOR)
        return artist, track
    artist, position = [], 0
    while position < len(track_id) and not track_id.startswith(TRACK_ID_SEPARATOR, position):
        if track_id[position] == "\\":
            position += 1
        artist.append(track_id[position : position + 1])
        position += 1
    return "".join(artist), track_id[position + len(TRACK_ID_SEPARATOR) :]
