"""The served model, as `recommend` reads it, and the job that shows its list for a playlist in
the UI (the Launchpad takes the playlist as run config)."""

import dagster as dg
from pydantic import Field

from recsys_assets.core.data.track_ids import split_track_id
from recsys_assets.core.models.trained import AmbiguousTracks, TrainedModel, read_model
from recsys_assets.core.storage.model_locations import served_model_location
from recsys_assets.graph.history import MODEL_FILE_FINGERPRINT, latest_metadata
from recsys_assets.graph.resources import ModelStore


def read_served_model(
    instance: dg.DagsterInstance,
    models_location: str,
    asset: str = "best_model",
    partition: str | None = None,
) -> TrainedModel:
    """The model served for `asset` (or one config partition), refused unless its file is the
    one its latest materialization recorded (NotTheChosenModel) and reads whole (DamagedModelFile)."""
    recorded = latest_metadata(instance, asset, partition).get(MODEL_FILE_FINGERPRINT)
    return read_model(served_model_location(models_location, asset, partition), recorded)


class NextTracksConfig(dg.Config):
    tracks: list[str] = Field(
        description="The playlist in order: artist|||track ids, or words of artist and track names."
    )
    k: int = Field(default=10, ge=1, description="How many tracks to list.")
    keep_played: bool = Field(
        default=False, description="Keep the playlist's own tracks where the model leaves them out."
    )


@dg.op
def next_tracks(context: dg.OpExecutionContext, config: NextTracksConfig, model_store: ModelStore) -> None:
    """List the served best model's next tracks for the playlist in the run config, as
    `recsys-assets recommend` does: the list is this step's output metadata."""
    try:
        model = read_served_model(context.instance, model_store.url)
    except FileNotFoundError:
        raise dg.Failure("No best model is served yet: run `recsys-assets retrain` first.") from None
    except ValueError as error:
        raise dg.Failure(
            f"{error}; serve a kept version again (`recsys-assets promote`) or retrain."
        ) from None
    try:
        result, resolved = model.next_tracks(config.tracks, config.k, keep_played=config.keep_played)
    except AmbiguousTracks as error:
        raise dg.Failure(
            "; ".join(
                f"{text!r} matches several tracks, give one as artist|||track: {', '.join(found[:5])}"
                for text, found in error.resolved.ambiguous.items()
            )
        ) from None
    kinds = dict(zip((track for track, _ in result.tracks), result.kinds, strict=True))
    named = "; ".join(
        f"{text!r} is {' — '.join(split_track_id(track))}" for text, track in resolved.resolved.items()
    )
    listed = "\n".join(
        f"{rank:>3}. {' — '.join(split_track_id(track))} ({score:,.3f}, {kinds[track]})"
        for rank, (track, score) in enumerate(result.tracks, start=1)
    )
    context.log.info(f"{model.config_key} ({model.method}): {result.query}\n{listed}")
    context.add_output_metadata(
        {
            "model": model.config_key,
            "query": result.query,
            "words_named": named or "none",
            "not_in_the_model": ", ".join(result.unknown_tracks) or "none",
            "next_tracks": dg.MetadataValue.table(
                [
                    dg.TableRecord(
                        {
                            "rank": rank,
                            "artist": split_track_id(track)[0],
                            "track": split_track_id(track)[1],
                            "score": round(score, 3),
                            "score is": kinds[track],
                        }
                    )
                    for rank, (track, score) in enumerate(result.tracks, start=1)
                ],
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn("rank", "int"),
                        dg.TableColumn("artist", "string"),
                        dg.TableColumn("track", "string"),
                        dg.TableColumn("score", "float"),
                        dg.TableColumn("score is", "string"),
                    ]
                ),
            ),
        }
    )


@dg.job(
    description="The served best model's next tracks for a playlist, as `recsys-assets recommend` lists"
    " them: give the playlist as run config in the Launchpad (ops: next_tracks: config: tracks)."
)
def recommend_next_tracks() -> None:
    next_tracks()
