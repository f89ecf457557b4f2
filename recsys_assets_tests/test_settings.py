from pathlib import Path

import pytest

from recsys_assets.settings import PACKAGED_SEARCH_SPACE, SettingsError, load_settings


def test_defaults_use_demo_data_and_the_packaged_search_space():
    settings = load_settings({})
    assert settings.playlists_path is None
    assert settings.data_dir == Path("data").resolve()
    assert settings.search_space_path == PACKAGED_SEARCH_SPACE
    assert (settings.demo_size, settings.sample_fraction) == ("small", 1.0)


def test_environment_sets_every_path_and_switch(tmp_path: Path):
    settings = load_settings(
        {
            "RECSYS_PLAYLISTS_PATH": str(tmp_path / "spotify_dataset.csv"),
            "RECSYS_DATA_DIR": str(tmp_path / "d"),
            "RECSYS_SEARCH_SPACE": str(tmp_path / "s.toml"),
            "RECSYS_DEMO_SIZE": "spotify",
            "RECSYS_SAMPLE_FRACTION": "0.01",
        }
    )
    assert settings.playlists_path == tmp_path / "spotify_dataset.csv"
    assert settings.duckdb_path == tmp_path / "d" / "recsys.duckdb"
    assert (settings.demo_size, settings.sample_fraction) == ("spotify", 0.01)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "RECSYS_DEMO_SIZE",
            "huge",
            "RECSYS_DEMO_SIZE='huge': expected one of small, daylists, spotify, mpd",
        ),
        ("RECSYS_SAMPLE_FRACTION", "0", "RECSYS_SAMPLE_FRACTION='0': expected a number in"),
        ("RECSYS_SAMPLE_FRACTION", "half", "RECSYS_SAMPLE_FRACTION='half': expected a number in"),
        ("RECSYS_KEEP_VERSIONS", "²", "RECSYS_KEEP_VERSIONS='²': expected a whole number"),
        ("RECSYS_KEEP_VERSIONS", "9" * 5000, "expected a whole number of at least 1"),
        ("RECSYS_STORAGE_URL", "foo://x", "RECSYS_STORAGE_URL='foo://x': no filesystem for foo://"),
        ("RECSYS_STORAGE_URL", "memory://bucket", "memory:// storage ends with the process"),
        ("RECSYS_MODELS_URL", "memory://models", "RECSYS_MODELS_URL='memory://models': memory://"),
        ("RECSYS_STUDY_URL", "nonsense", "RECSYS_STUDY_URL='nonsense': not a database URL"),
        ("RECSYS_STUDY_URL", "foo://u:secret@x/db", "'foo://u:***@x/db': no database driver for foo"),
    ],
)
def test_bad_switches_are_refused_by_name(variable: str, value: str, message: str):
    with pytest.raises(SettingsError) as error:
        load_settings({variable: value})
    assert message in str(error.value)
