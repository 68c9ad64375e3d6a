"""The ViT program's plots (bare matplotlib Figures, no pyplot, written atomically): the
confusion matrix and the class token's attention over the patches (its curves are every
model's: training/plots.py)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ...training.plots import save_png, wrap_title


def plot_confusion(labels, pred, num_classes, path, title):
    """Counts of (true class, predicted class); the diagonal is what was right. `title`: the
    run, its configuration and its score (wrapped to the figure's width)."""
    cm = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(cm, (labels, pred), 1)
    fig = Figure(figsize=(6.0, 5.4), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues")
    for (i, j), c in np.ndenumerate(cm):
        if c:
            ax.text(j, i, str(c), ha="center", va="center", fontsize=7,
                    color="white" if c > cm.max() / 2 else "black")
    ax.set(xlabel="predicted class", ylabel="true class", xticks=range(num_classes), yticks=range(num_classes))
    bar = fig.colorbar(im, ax=ax, fraction=0.046, label="images (count)")
    bar.locator = MaxNLocator(integer=True)          # counts: whole-number ticks
    bar.update_ticks()
    fig.suptitle(wrap_title(title, 70), fontsize=9)
    save_png(fig, path)
    return cm


def attention_rollout(weights):
    """Abnar & Zuidema (2020): average the heads, add the residual path (½A + ½I, rows
    renormalised) and multiply through the layers; row 0 is how much the class token's final
    state draws on each input position. `weights`: [(B, H, T, T)] per layer → (B, T, T)."""
    out = None
    for w in weights:
        a = w.mean(axis=1)
        a = 0.5 * a + 0.5 * np.eye(a.shape[-1])
        a /= a.sum(-1, keepdims=True)
        out = a if out is None else a @ out
    return out


def plot_class_token_attention(images, labels, pred, weights, cfg, path, title=""):
    """Per image: the digit, the last layer's class-token attention over the patches (heads
    averaged) and the rollout through every layer, each shown on the patch grid. Each row has
    one colour scale from 0 for all its images (one colour bar), so a brighter patch draws more
    attention than a darker one in any image of the row; `title` names the run and its config."""
    layers = [weights[f"encoder.layers.{i}.self_attn"] for i in range(cfg.num_layers)]
    g = cfg.image_size // cfg.patch_size
    last = layers[-1].mean(axis=1)[:, 0, 1:].reshape(-1, g, g)
    roll = attention_rollout(layers)[:, 0, 1:].reshape(-1, g, g)
    pixels = images.mean(-1)
    n = len(images)
    fig = Figure(figsize=(1.3 * n + 1.6, 5.0), layout="constrained")
    axes = fig.subplots(3, n, squeeze=False)
    extent = (-0.5, cfg.image_size - 0.5, cfg.image_size - 0.5, -0.5)
    rows = ((pixels, "gray_r", "pixel value", False),
            (last, "magma", "attention weight", True),
            (roll, "magma", "rollout weight", True))
    for row, (maps, cmap, label, outline) in enumerate(rows):
        vmax = float(maps.max()) or 1.0
        for k in range(n):
            im = axes[row, k].imshow(maps[k], cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest",
                                     extent=extent if outline else None)
            if outline:                  # attention per patch, the digit's outline on top
                axes[row, k].contour(pixels[k], levels=[0.4], colors="cyan", linewidths=0.9)
        fig.colorbar(im, ax=axes[row, :].tolist(), shrink=0.9, pad=0.01, aspect=12).set_label(label, fontsize=8)
    for k in range(n):
        axes[0, k].set_title(f"{labels[k]} → {pred[k]}", fontsize=9, color="black" if labels[k] == pred[k] else "red")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=9)
    axes[1, 0].set_ylabel(f"layer {cfg.num_layers}\n[CLS]→patches", fontsize=9)
    axes[2, 0].set_ylabel("rollout\n(all layers)", fontsize=9)
    what = "class token's attention over the patches (true → predicted class; heads averaged; cyan: the digit)"
    fig.suptitle(f"{wrap_title(title, 150)}\n{what}" if title else what, fontsize=10)
    save_png(fig, path)
