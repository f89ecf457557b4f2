"""Pictures for asset metadata: PNG charts embedded in Markdown."""

import base64
import io
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from recsys_assets.core.models.word2vec.strategy_choice import CURVE_STRATEGY


def _markdown_image(figure: plt.Figure, title: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return f"![{title}](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"


def hit_rate_curves(curves: Mapping[str, Mapping[int, float]], title: str) -> str:
    """Hit rate@K against K (log scale) for each named model or baseline."""
    figure, axes = plt.subplots(figsize=(6.5, 4))
    for name, curve in curves.items():
        ks = sorted(curve)
        style = "--" if name.endswith("(baseline)") else "-"
        axes.plot(ks, [curve[k] for k in ks], style, marker="o", markersize=3, label=name)
    axes.set_xscale("log")
    axes.set_xlabel("K (length of the recommendation list)")
    axes.set_ylabel("hit rate@K")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    return _markdown_image(figure, title)


def playlist_distributions(lengths: np.ndarray, track_counts: np.ndarray) -> str:
    """Playlist length histogram and track popularity by rank, side by side, log scales."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    bins = np.unique(np.logspace(0, np.log10(max(lengths.max(), 2)), 40).astype(int))
    left.hist(lengths, bins=bins, color="#4477aa")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("tracks in the playlist")
    left.set_ylabel("playlists")
    left.set_title(f"Playlist lengths (median {int(np.median(lengths))})")
    ranked = np.sort(track_counts)[::-1]
    right.loglog(np.arange(1, len(ranked) + 1), ranked, color="#cc6677")
    right.set_xlabel("track rank by plays")
    right.set_ylabel("plays")
    top_share = ranked[: max(1, len(ranked) // 100)].sum() / ranked.sum()
    right.set_title(f"Track popularity (top 1 % of tracks: {top_share:.0%} of plays)")
    for axes in (left, right):
        axes.grid(True, which="major", alpha=0.3)
    return _markdown_image(figure, "playlist lengths and track popularity")


def learning_curves(curves: Mapping[str, Mapping[int, float]], title: str, k: int) -> str:
    """Validation hit rate@`k` of each Word2Vec config's embedding alone against epochs trained,
    one line per config."""
    figure, axes = plt.subplots(figsize=(6.5, 4))
    for name, curve in curves.items():
        epochs = sorted(curve)
        axes.plot(epochs, [curve[epoch] for epoch in epochs], marker="o", markersize=3, label=name)
    axes.set_xlabel("epochs trained")
    axes.set_ylabel(f"hit rate@{k}, embedding alone\n({CURVE_STRATEGY.label}, validation sample)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    if curves:
        axes.legend(fontsize=8)
    else:
        axes.text(0.5, 0.5, "no Word2Vec config compared", ha="center", va="center", transform=axes.transAxes)
    return _markdown_image(figure, title)
