"""Asset checks: the data assets' checks block training on broken data; the best model's
freshness warns when the nightly retrain stopped keeping it current."""

import warnings
from datetime import timedelta

import dagster as dg

from recsys_assets.core.data.playlists import SPLIT_TABLES, playlist_table_problems, split_problems
from recsys_assets.graph.resources import PlaylistDatabase


@dg.asset_check(asset="playlists", blocking=True)
def playlists_are_well_formed(playlist_db: PlaylistDatabase) -> dg.AssetCheckResult:
    """Every playlist and track id is present and every sequence has more than 2 tracks."""
    with playlist_db.read_connection() as conn:
        problems = playlist_table_problems(conn)
    return dg.AssetCheckResult(passed=not any(problems.values()), metadata=problems)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "split_is_disjoint_complete_70_20_10",
            asset=table,
            blocking=True,
            description="The three splits share no playlist, cover all of playlists, and hold"
            " 70/20/10 % of it within one row.",
        )
        for table in SPLIT_TABLES
    ],
    can_subset=True,
)
def splits_are_disjoint_and_complete(context: dg.AssetCheckExecutionContext, playlist_db: PlaylistDatabase):
    """One check of the three splits together, reported on each split the run selected."""
    with playlist_db.read_connection() as conn:
        problems = split_problems(conn)
    for table in SPLIT_TABLES:
        key = dg.AssetCheckKey(dg.AssetKey(table), "split_is_disjoint_complete_70_20_10")
        if key not in context.selected_asset_check_keys:
            continue
        yield dg.AssetCheckResult(
            asset_key=table,
            check_name="split_is_disjoint_complete_70_20_10",
            passed=not problems,
            metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
        )


BEST_MODEL_MAX_AGE = timedelta(hours=25)
"""A nightly retrain (or its check that nothing changed) renews the best model daily; an hour of
slack covers the retrain itself."""

with warnings.catch_warnings():
    # Superseded by freshness policies, which count materializations only: a nightly run that
    # finds nothing changed renews the model with an observation instead.
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    best_model_freshness = dg.build_last_update_freshness_checks(
        assets=["best_model"], lower_bound_delta=BEST_MODEL_MAX_AGE, severity=dg.AssetCheckSeverity.WARN
    )
