"""Database URLs as they may be printed."""

from __future__ import annotations


def shown_url(url: str) -> str:
    """`url` without its password (as given when it has none or does not parse)."""
    import sqlalchemy

    try:
        parsed = sqlalchemy.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        return url
    return parsed.render_as_string(hide_password=True) if parsed.password else url
