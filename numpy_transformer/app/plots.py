"""Plots (matplotlib, optional): training curves and cross-attention maps."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .fileio import atomic_write  # noqa: E402


def plot_curves(histories, path, labels=None):
    """Loss and accuracy per epoch, train (solid) and validation (dashed); `histories` is one
    history list or several (e.g. NumPy and Keras runs side by side)."""
    if histories and isinstance(histories[0], dict):
        histories = [histories]
    labels = labels or [h[0].get("backend", f"run {i}") if h else "" for i, h in enumerate(histories)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for hist, label in zip(histories, labels):
        ep = [h["epoch"] for h in hist]
        for ax, key in zip(axes, ("loss", "acc")):
            line, = ax.plot(ep, [h[f"train_{key}"] for h in hist], "-o", ms=3, label=f"{label} train")
            ax.plot(ep, [h[f"val_{key}"] for h in hist], "--s", ms=3, color=line.get_color(), label=f"{label} val")
    axes[0].set(xlabel="epoch", ylabel="masked cross-entropy", title="loss")
    axes[1].set(xlabel="epoch", ylabel="masked token accuracy", title="accuracy", ylim=(0, 1))
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def plot_attention(weights, src_words, tgt_words, path, title=""):
    """One heatmap per head: rows = target positions (what is being produced), columns =
    source words attended to. `weights` (heads, T, S)."""
    H = weights.shape[0]
    cols = min(H, 4)
    rows = (H + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 1, 2.4 * rows + 0.6), squeeze=False)
    for h, ax in enumerate(axes.flat):
        if h >= H:
            ax.axis("off")
            continue
        ax.imshow(weights[h], cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(src_words)), src_words, rotation=60, fontsize=7)
        ax.set_yticks(range(len(tgt_words)), tgt_words, fontsize=7)
        ax.set_title(f"head {h}", fontsize=8)
    fig.suptitle(title or "cross-attention (last decoder layer)", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
