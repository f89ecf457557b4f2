"""The Word2Vec ("Prod2Vec") family: track vectors trained on the playlists, queried under a
strategy chosen on validation."""

from recsys_assets.core.models.family import Family
from recsys_assets.core.models.word2vec.fit import fit_word2vec
from recsys_assets.core.models.word2vec.model import word2vec_arrays, word2vec_from_arrays
from recsys_assets.core.models.word2vec.parameters import (
    CONFIG_PARAMETERS,
    UNKNOWN_PARAMETER_HINT,
    WORD2VEC_DEFAULTS,
    check_combination,
    config_key,
)
from recsys_assets.core.models.word2vec.part import read_embedding_part
from recsys_assets.core.models.word2vec.recommender import SIMILARITY

FAMILY = Family(
    name="word2vec",
    label="Word2Vec",
    score_kind=SIMILARITY,
    parameters=CONFIG_PARAMETERS,
    fit=fit_word2vec,
    write=word2vec_arrays,
    read=word2vec_from_arrays,
    custom_key=config_key,
    fills_defaults=False,
    check_together=check_combination,
    unknown_parameter_hint=UNKNOWN_PARAMETER_HINT,
    study_prefix="",
    search_table="params",
    describe_strategy=lambda strategy: strategy.label,
    epochs=lambda params: int(params.get("epochs", WORD2VEC_DEFAULTS["epochs"])),
    layout_reader=read_embedding_part,
)
