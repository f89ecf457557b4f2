"""The commands users run, as subprocesses sharing one persistent Dagster instance."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from recsys_assets.cli import main, printable
from recsys_assets.client import load_best_model
from recsys_assets.core.data.track_ids import split_track_id
from recsys_assets.core.data.track_names import TrackNameIndex
from recsys_assets.definitions import build_definitions
from recsys_assets.graph.history import latest_metadata
from recsys_assets.graph.partitions import model_configs
from recsys_assets.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def environment(small_settings: Settings, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DAGSTER_HOME": str(home),
        "RECSYS_DATA_DIR": str(small_settings.data_dir),
        "RECSYS_PLAYLISTS_PATH": str(small_settings.playlists_path),
        "RECSYS_SEARCH_SPACE": str(small_settings.search_space_path),
    }


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def materialize(env: dict[str, str], cwd: Path, *selection: str) -> subprocess.CompletedProcess:
    return run(
        env, cwd, "-m", "dagster", "asset", "materialize", "-m", "recsys_assets", "--select", *selection
    )


def test_materialize_before_training_says_what_to_run_first(environment, tmp_path: Path):
    result = materialize(environment, tmp_path, "best_model")
    assert result.returncode != 0
    assert "recsys-assets retrain" in result.stdout + result.stderr


@pytest.mark.slow
def test_retrain_then_materialize_in_the_same_instance(environment, tmp_path: Path):
    retrained = run(environment, tmp_path, "-m", "recsys_assets.cli", "retrain")
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert "Best config: " in retrained.stdout
    assert "test hit rate@100:" in retrained.stdout
    assert str(Path(environment["RECSYS_DATA_DIR"]) / "models" / "best_model.npz") in retrained.stdout
    assert " - dagster - " not in retrained.stdout, "one short line per step message, no log records"
    assert "   embedding_model: Training " in retrained.stdout and "Telemetry" not in retrained.stdout

    listing = "import sys; from recsys_assets.cli import main; main(['models']); print(sorted(sys.modules))"
    listed = run(environment, tmp_path, "-c", listing)
    assert listed.returncode == 0 and "* " in listed.stdout
    loaded = set(ast.literal_eval(listed.stdout.splitlines()[-1]))
    assert not {"dagster", "gensim"} & loaded, "the listing reads model files, not the instance"

    for selection in (["best_model"], ["test_evaluation"], ["embedding_model", "--partition", "wide-window"]):
        result = materialize(environment, tmp_path, *selection)
        assert result.returncode == 0, result.stderr[-3000:]
        assert " - DEBUG - " not in result.stderr, "step messages only"
        assert_latest_run_succeeded_in_the_code_location(environment)
    launched = subprocess.run(
        [str(Path(sys.executable).with_name("dg")), "launch", "--assets", "best_model"],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "best_model" in launched.stderr + launched.stdout
    assert_latest_run_succeeded_in_the_code_location(environment)


def assert_latest_run_succeeded_in_the_code_location(environment: dict[str, str]) -> None:
    with dg.DagsterInstance.from_config(environment["DAGSTER_HOME"]) as instance:
        (latest,) = instance.get_runs(limit=1)
    assert latest.status == dg.DagsterRunStatus.SUCCESS, latest.run_id
    assert latest.remote_job_origin.location_name == "recsys_assets", "on its job's page"


def test_retrain_with_a_bad_search_space_exits_with_its_error(environment, tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[config]]\nepochs = 'many'\n")
    result = run(
        {**environment, "RECSYS_SEARCH_SPACE": str(bad)}, tmp_path, "-m", "recsys_assets.cli", "retrain"
    )
    assert result.returncode == 2
    assert f"{bad}, config #1: word2vec parameter 'epochs' must be int" in result.stderr


@pytest.fixture
def retrained(environment, monkeypatch, capsys):
    """A retrain on the small data, run in-process in a temporary persistent instance."""
    for name in ("DAGSTER_HOME", "RECSYS_DATA_DIR", "RECSYS_PLAYLISTS_PATH", "RECSYS_SEARCH_SPACE"):
        monkeypatch.setenv(name, environment[name])
    assert main(["retrain"]) == 0
    capsys.readouterr()
    with dg.DagsterInstance.get() as instance:
        return load_best_model(instance)


def test_recommend_prints_top_k_by_id_or_by_name(retrained, capsys):
    first, second = retrained.fitted.vectors.index_to_key[:2]
    assert main(["recommend", first, second, "-k", "4"]) == 0
    out = capsys.readouterr().out
    expected = retrained.recommender().recommend([first, second], 4)
    assert f"Model {retrained.config_key} ({retrained.strategy.label}); query: {expected.query}" in out
    rows = [line for line in out.splitlines() if " — " in line][1:]
    assert len(rows) == 4
    if retrained.leaves_out_played:
        assert {first, second}.isdisjoint(track for track, _ in expected.tracks)
    for row, (track, _), kind in zip(rows, expected.tracks, expected.kinds, strict=True):
        assert row.endswith(" — ".join(split_track_id(track))) and kind in row

    artist, name = split_track_id(second)
    words = f"{artist.upper()} {name.lower()}"
    assert second in TrackNameIndex(retrained.fitted.vectors.index_to_key).search(words)
    unique = len(TrackNameIndex(retrained.fitted.vectors.index_to_key).search(words)) == 1
    assert main(["recommend", words, "-k", "2"]) == (0 if unique else 2)
    assert (second in capsys.readouterr().out) == unique


def test_recommend_serves_the_list_chosen_on_validation_keeps_played_tracks_on_request_and_prints_json(
    retrained, capsys
):
    played = retrained.fitted.vectors.index_to_key[:3]
    assert main(["recommend", *played, "-k", "5", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [row["rank"] for row in listed["tracks"]] == [1, 2, 3, 4, 5]
    served = retrained.recommender().recommend(played, 5)
    assert [row["track"] for row in listed["tracks"]] == [track for track, _ in served.tracks]
    if retrained.leaves_out_played:
        assert set(played).isdisjoint(row["track"] for row in listed["tracks"])
    kept = retrained.recommender(leave_out_played=False).recommend(played, 5)
    assert main(["recommend", *played, "-k", "5", "--json", "--keep-played"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(row["track"], row["score"], row["score_is"]) for row in listed["tracks"]] == [
        (track, score, kind) for (track, score), kind in zip(kept.tracks, kept.kinds, strict=True)
    ]
    assert listed["model"] == retrained.config_key and listed["query"] == kept.query


def test_recommend_reports_unknown_and_ambiguous_tracks(retrained, capsys):
    assert main(["recommend", "Nobody|||Nothing", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "Not in the model's vocabulary: Nobody|||Nothing" in out
    assert "(no known track)" in out
    assert main(["recommend", "zzz no such words", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "No track matches 'zzz no such words'" in out and "(no known track)" in out
    word = split_track_id(retrained.fitted.vectors.index_to_key[0])[1].split()[0]
    assert main(["recommend", word]) == 2
    assert f"{word!r} matches several tracks" in capsys.readouterr().err


def test_models_lists_every_config_with_the_best_marked(retrained, capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("* ")] == [retrained.config_key]
    assert max(map(len, lines)) <= 130, "a narrow table: Word2Vec strategies in short"
    assert any("wide-window" in line for line in lines) and any(
        "dim16-ep3-mc2-win5" in line for line in lines
    )


def test_models_shows_the_metrics_at_the_k_the_configs_were_validated_at(
    environment, small_settings: Settings, monkeypatch, capsys
):
    monkeypatch.setenv("DAGSTER_HOME", environment["DAGSTER_HOME"])
    monkeypatch.setenv("RECSYS_DATA_DIR", str(small_settings.data_dir))
    monkeypatch.setenv("RECSYS_SEARCH_SPACE", str(small_settings.search_space_path))
    defs = build_definitions(small_settings)
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(model_configs.name, ["wide-window"])
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        defs.resolve_job_def("train_models").execute_in_process(
            instance=instance,
            partition_key="wide-window",
            run_config={"ops": {"embedding_model": {"config": {"k": 20}}}},
        )
        expected = latest_metadata(instance, "embedding_model", "wide-window")["validation_hit_rate@20"]
    capsys.readouterr()
    assert main(["models"]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    columns = header.split()[1:]
    assert "HR@20" in columns and "MRR@20" in columns and "HR@100" in columns
    assert row.split()[0] == "wide-window"
    assert float(row.split()[1 + columns.index("HR@20")]) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize("command", [["retrain"], ["recommend", "a|||b"], ["models"]])
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RECSYS_SAMPLE_FRACTION", "abc", "RECSYS_SAMPLE_FRACTION='abc': expected a number in (0, 1]"),
        ("RECSYS_DEMO_SIZE", "huge", "RECSYS_DEMO_SIZE='huge': expected one of small, daylists, spotify"),
        ("RECSYS_PLAYLISTS_PATH", "loop", "the path cannot be resolved"),
    ],
)
def test_bad_settings_give_one_error_line_and_exit_2(
    environment, tmp_path, command, variable, value, message
):
    if value == "loop":
        (tmp_path / "loop").symlink_to(tmp_path / "loop")
        value = str(tmp_path / "loop")
    result = run({**environment, variable: value}, tmp_path, "-m", "recsys_assets.cli", *command)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()] and result.stderr.startswith("error: ")
    assert message in result.stderr


@pytest.mark.parametrize("k", ["0", "-1", "many"])
def test_recommend_refuses_a_k_below_one(k: str, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["recommend", "a|||b", "-k", k])
    assert exit_.value.code == 2
    assert "expected a whole number of at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--workers", "0"], "expected a whole number of at least 1"),
        (["--workers", "2", "--reproducible"], "not allowed with argument"),
    ],
)
def test_retrain_refuses_bad_thread_counts(arguments: list[str], message: str, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["retrain", *arguments])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_retrain_says_which_training_mode_ran(environment, monkeypatch, capsys):
    for name in ("DAGSTER_HOME", "RECSYS_DATA_DIR", "RECSYS_PLAYLISTS_PATH", "RECSYS_SEARCH_SPACE"):
        monkeypatch.setenv(name, environment[name])
    assert main(["retrain", "--reproducible"]) == 0
    out = capsys.readouterr().out
    assert "Training mode: reproducible: 1 Word2Vec thread per config" in out
    assert out.count("reproducible: 1 Word2Vec thread") == 2, "at the start and in the summary"
    with dg.DagsterInstance.get() as instance:
        trained = [
            latest_metadata(instance, "embedding_model", key)
            for key in instance.get_dynamic_partitions("model_configs")
        ]
    assert {metadata["run_settings"]["word2vec_threads"] for metadata in trained} == {1}
    assert main(["retrain", "--force", "--workers", "2"]) == 0
    assert "Training mode: fast: 2 Word2Vec threads per config" in capsys.readouterr().out


def test_names_from_the_data_cannot_drive_the_terminal(retrained, capsys):
    assert printable("Red\x1b[31m \u202eevil ünï ♪") == "Red\\u001b[31m \\u202eevil ünï ♪"
    assert main(["recommend", "Bad\x1b]0;owned\x07|||Name", "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "Bad\\u001b]0;owned\\u0007|||Name" in out


def test_recommend_refuses_an_argument_that_is_not_utf8_in_one_line(retrained, capsys):
    not_text = b"Blue\xff Rivers|||Again".decode("utf-8", "surrogateescape")
    assert main(["recommend", not_text]) == 2
    out, err = capsys.readouterr()
    assert not out and err == "error: b'Blue\\xff Rivers|||Again' is not UTF-8 text; give tracks as UTF-8\n"
    assert main(["recommend", "--json", not_text]) == 2
    assert json.loads(capsys.readouterr().out) == {
        "errors": ["b'Blue\\xff Rivers|||Again' is not UTF-8 text; give tracks as UTF-8"]
    }


def test_models_with_a_study_that_cannot_be_used_or_a_bad_search_space_says_so_in_one_line(
    environment, tmp_path: Path, monkeypatch, capsys
):
    space = tmp_path / "searching.toml"
    space.write_text(
        '[[config]]\nmodel = "rules"\n[search]\ntrials = 3\n[search.rules]\nsteps = {low = 3, high = 9}\n'
    )
    study = tmp_path / "study.db"
    study.write_text("not a database")
    monkeypatch.setenv("DAGSTER_HOME", environment["DAGSTER_HOME"])
    monkeypatch.setenv("RECSYS_SEARCH_SPACE", str(space))
    monkeypatch.setenv("RECSYS_STUDY_URL", f"sqlite:///{study}")
    assert main(["models"]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: the search study at sqlite:///{study} cannot be used")
        and err.count("\n") == 1
    )
    space.write_text("config = [1, 2]\n")
    assert main(["models"]) == 2
    assert capsys.readouterr().err == f"error: {space}, config #1: expected a table of parameters, got 1\n"


def test_a_reader_that_stops_reading_ends_the_listing_quietly(environment, tmp_path: Path):
    listing = subprocess.Popen(
        [sys.executable, "-m", "recsys_assets.cli", "models", "--json"],
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    listing.stdout.close()
    _, err = listing.communicate(timeout=300)
    assert listing.returncode == 1 and b"Traceback" not in err and b"BrokenPipe" not in err, err


def test_the_ui_job_lists_the_served_models_next_tracks_as_recommend_does(retrained, capsys):
    first = retrained.track_keys[0]
    words = " ".join(split_track_id(first))
    expected, _ = retrained.next_tracks([first], 5)
    job = build_definitions(load_settings()).resolve_job_def("recommend_next_tracks")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, run_config={"ops": {"next_tracks": {"config": {"tracks": [words], "k": 5}}}}
        )
        (output,) = [event for event in result.all_events if event.event_type_value == "STEP_OUTPUT"]
        metadata = output.event_specific_data.metadata
        assert metadata["words_named"].text == f"{words!r} is {' — '.join(split_track_id(first))}"
        listed = [(record.data["artist"], record.data["track"]) for record in metadata["next_tracks"].records]
        assert listed == [split_track_id(track) for track, _ in expected.tracks]
        failed = job.execute_in_process(
            instance=instance,
            run_config={"ops": {"next_tracks": {"config": {"tracks": ["a"]}}}},
            raise_on_error=False,
        )
        assert not failed.success
