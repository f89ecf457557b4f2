"""The pure core: data preparation, training, evaluation and model storage, free of Dagster."""
