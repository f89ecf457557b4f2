import math
from pathlib import Path

import pytest

from recsys_assets.core.models.config import is_valid_config_key
from recsys_assets.core.models.word2vec.parameters import WORD2VEC_PARAMETERS, config_key
from recsys_assets.core.search.space import (
    ConfigError,
    find_config,
    load_search_space,
    parse_search_space,
)
from recsys_assets.settings import PACKAGED_SEARCH_SPACE


def test_packaged_search_space_holds_the_two_seed_configs_and_one_config_of_every_other_family():
    configs = load_search_space(PACKAGED_SEARCH_SPACE)
    assert [c.family for c in configs] == [
        "word2vec",
        "word2vec",
        "rules",
        "session_knn",
        "hybrid",
        "reranker",
    ]
    configs = configs[:2]
    assert [c.params for c in configs] == [
        {"min_count": 5, "epochs": 30, "vector_size": 48, "window": 10, "ns_exponent": 0.75},
        {"min_count": 10, "epochs": 30, "vector_size": 48, "window": 10, "ns_exponent": 0.75},
    ]
    assert [c.key for c in configs] == ["dim48-ep30-mc5-ns0.75-win10", "dim48-ep30-mc10-ns0.75-win10"]


def test_key_is_readable_and_independent_of_parameter_order():
    assert config_key({"window": 3, "min_count": 1}) == config_key({"min_count": 1, "window": 3})
    assert config_key({"window": 3, "min_count": 1}) == "mc1-win3"
    assert config_key({"shrink_windows": False}) == "shrinkfalse"


def test_integers_are_accepted_for_float_parameters():
    (config,) = parse_search_space({"config": [{"ns_exponent": 1}]}, "space.toml")
    assert config.params == {"ns_exponent": 1.0}
    assert isinstance(config.params["ns_exponent"], float)


def test_explicit_name_becomes_the_key():
    (config,) = parse_search_space({"config": [{"name": "small", "vector_size": 8}]}, "s")
    assert config.key == "small"
    assert config.params == {"vector_size": 8}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"vector_sise": 48}, "unknown word2vec parameter 'vector_sise'"),
        ({"workers": 4}, "unknown word2vec parameter 'workers'"),
        ({"window": "10"}, "parameter 'window' must be int, got '10' (str)"),
        ({"window": 2.5}, "parameter 'window' must be int"),
        ({"min_count": True}, "parameter 'min_count' must be int"),
        ({"epochs": 0}, "parameter 'epochs' must be >= 1"),
        ({"sg": 2}, "parameter 'sg' must be <= 1"),
        ({"name": "has space"}, "name 'has space' must be"),
        ({"window": 10_000_000_000}, "parameter 'window' must be <= 1000"),
        ({"epochs": 1_000_000_000}, "parameter 'epochs' must be <= 1000"),
        ({"alpha": math.nan}, "parameter 'alpha' must be a finite number, got nan"),
        ({"ns_exponent": math.inf}, "parameter 'ns_exponent' must be a finite number, got inf"),
        ({"sample": -math.inf}, "parameter 'sample' must be a finite number"),
        ({"alpha": 0}, "parameter 'alpha' must be > 0"),
        ({"batch_words": 20_000}, "parameter 'batch_words' must be <= 10000"),
        ({"negative": 0}, "negative = 0 needs hs = 1"),
        ({"alpha": 0.01, "min_alpha": 0.02}, "min_alpha 0.02 must not exceed alpha 0.01"),
    ],
)
def test_invalid_config_is_refused_naming_file_config_and_parameter(table, message):
    with pytest.raises(ConfigError) as error:
        parse_search_space({"config": [{"window": 5}, table]}, "my_space.toml")
    assert str(error.value).startswith("my_space.toml, config #2: ")
    assert message in str(error.value)


def test_duplicate_keys_are_refused():
    with pytest.raises(ConfigError, match="key 'mc1' is already used by config #1"):
        parse_search_space({"config": [{"min_count": 1}, {"min_count": 1}]}, "s")


def test_file_without_configs_or_with_unknown_sections_is_refused():
    with pytest.raises(ConfigError, match=r"at least one \[\[config\]\] table or a \[search\] table"):
        parse_search_space({}, "s")
    with pytest.raises(ConfigError, match="unknown top-level entries"):
        parse_search_space({"config": [{}], "configs": [{}]}, "s")


def test_missing_and_malformed_files_name_the_file(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"nowhere\.toml: search-space file not found"):
        load_search_space(tmp_path / "nowhere.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[config]\nwindow = 3\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_search_space(broken)


def test_find_config_lists_known_keys_when_missing():
    configs = parse_search_space({"config": [{"window": 3}]}, "s")
    assert find_config(configs, "win3", "s").params == {"window": 3}
    with pytest.raises(ConfigError, match="no config has key 'win4'; the search space defines: win3"):
        find_config(configs, "win4", "s")


def test_nan_and_infinity_written_in_toml_are_refused(tmp_path: Path):
    path = tmp_path / "space.toml"
    path.write_text("[[config]]\nalpha = nan\n")
    with pytest.raises(ConfigError, match="parameter 'alpha' must be a finite number"):
        load_search_space(path)


@pytest.mark.parametrize(
    "params",
    [
        {"sample": 1e-20, "alpha": 1e-10, "min_alpha": 1e-11},
        {name: spec.maximum for name, spec in WORD2VEC_PARAMETERS.items() if spec.kind is not bool}
        | {"shrink_windows": False},
    ],
)
def test_every_valid_config_gets_a_valid_key(params: dict):
    (config,) = parse_search_space({"config": [params]}, "space.toml")
    assert is_valid_config_key(config.key), config.key
    assert config.key == parse_search_space({"config": [dict(reversed(params.items()))]}, "x")[0].key


def test_the_word2vec_defaults_are_gensims_own():
    import inspect

    from gensim.models.word2vec import Word2Vec

    from recsys_assets.core.models.word2vec.parameters import WORD2VEC_DEFAULTS, WORD2VEC_PARAMETERS

    signature = inspect.signature(Word2Vec.__init__).parameters
    assert set(WORD2VEC_DEFAULTS) == set(WORD2VEC_PARAMETERS)
    assert {name: signature[name].default for name in WORD2VEC_DEFAULTS} == WORD2VEC_DEFAULTS
