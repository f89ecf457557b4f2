"""Files written before the model families became folders still read: model files of formats 2
to 4 of every family, and the asset values pickled by the code of then."""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from pathlib import Path

import pytest

from recsys_assets.core.models.trained import read_model, read_summary
from recsys_assets_tests.reference import next_track_cases, random_playlists, statistics_of

FILES = Path(__file__).parent / "legacy_files"
EXPECTED = json.loads((FILES / "expected.json").read_text())
MODEL_FILES = sorted(name for name in EXPECTED if name.endswith(tuple(f"_format{n}" for n in (2, 3, 4))))


def test_every_family_and_format_is_among_the_files():
    families = {EXPECTED[name]["family"] for name in MODEL_FILES}
    assert families == {"word2vec", "rules", "session_knn", "hybrid"}
    assert {name[-1] for name in MODEL_FILES} == {"2", "3", "4"}


@pytest.mark.parametrize("name", MODEL_FILES)
def test_a_model_file_written_before_the_change_ranks_and_recommends_as_it_did(name):
    expected = EXPECTED[name]
    statistics = statistics_of(random_playlists(21))
    cases = next_track_cases(random_playlists(22, playlists=12))
    location = str(FILES / f"{name}.npz")
    model = read_model(location)
    assert (model.family, model.config_key) == (expected["family"], expected["config_key"])
    assert read_summary(location).family == expected["family"]
    ranks = model.recommender(statistics).rank(cases, 10).ranks
    assert [int(rank) if rank < 2**62 else None for rank in ranks] == expected["ranks"]
    served = model.recommender()
    listed = [served.recommend(inputs, 5).tracks for inputs in cases.inputs[:4]]
    assert [[track for track, _ in tracks] for tracks in listed] == [
        [track for track, _ in tracks] for tracks in expected["recommend"]
    ]
    # Float32 similarities differ in their last digits between processors' vector kernels.
    assert [[score for _, score in tracks] for tracks in listed] == [
        [pytest.approx(score, rel=1e-6) for _, score in tracks] for tracks in expected["recommend"]
    ]


@pytest.mark.parametrize("asset", ["baseline_results", "test_evaluation"])
def test_a_report_pickled_before_the_change_loads_once_and_is_written_back_as_json(asset, tmp_path):
    from upath import UPath

    from recsys_assets.graph.io_managers import AssetValueFiles

    files = AssetValueFiles(base_path=UPath(tmp_path))
    report = files.load_from_path(None, UPath(FILES / asset))
    recorded = asdict(report)
    assert {name: recorded[name] for name in EXPECTED[asset]} == EXPECTED[asset]
    assert set(recorded) - set(EXPECTED[asset]) <= {"leaving_out_played"}
    assert getattr(report, "leaving_out_played", ()) == (), "a report from before the choice keeps the tracks"
    stored = UPath(tmp_path / asset)
    files.dump_to_path(None, report, stored)
    assert {
        name: value
        for name, value in json.loads(stored.read_text())["fields"].items()
        if name in EXPECTED[asset]
    } == EXPECTED[asset]
    assert files.load_from_path(None, stored) == report


def test_a_stored_value_that_unpickles_anything_but_a_report_is_refused(tmp_path):
    from upath import UPath

    from recsys_assets.graph.io_managers import AssetValueFiles

    path = tmp_path / "baseline_results"
    path.write_bytes(pickle.dumps(Path("/etc/passwd")))
    with pytest.raises(pickle.UnpicklingError, match="not a report"):
        AssetValueFiles(base_path=UPath(tmp_path)).load_from_path(None, UPath(path))
