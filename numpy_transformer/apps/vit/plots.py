"""The ViT program's plots (matplotlib Agg, written atomically): the confusion matrix and the
class token's attention over the patches (its curves are every model's: training/plots.py)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ...data.fileio import atomic_write  # noqa: E402


def _save(fig, path):
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def plot_confusion(labels, pred, num_classes, path, title):
    """Counts of (true class, predicted class); the diagonal is what was right."""
    cm = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(cm, (labels, pred), 1)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    im = ax.imshow(cm, cmap="Blues")
    for (i, j), c in np.ndenumerate(cm):
        if c:
            ax.text(j, i, str(c), ha="center", va="center", fontsize=7,
                    color="white" if c > cm.max() / 2 else "black")
    ax.set(xlabel="predicted class", ylabel="true class", title=title,
           xticks=range(num_classes), yticks=range(num_classes))
    ax.title.set_fontsize(9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    _save(fig, path)
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


def plot_class_token_attention(images, labels, pred, weights, cfg, path):
    """Per image: the digit, the last layer's class-token attention over the patches (heads
    averaged) and the rollout through every layer, each shown on the patch grid."""
    layers = [weights[f"encoder.layers.{i}.self_attn"] for i in range(cfg.num_layers)]
    g = cfg.image_size // cfg.patch_size
    last = layers[-1].mean(axis=1)[:, 0, 1:].reshape(-1, g, g)
    roll = attention_rollout(layers)[:, 0, 1:].reshape(-1, g, g)
    n = len(images)
    fig, axes = plt.subplots(3, n, figsize=(1.25 * n + 0.8, 4.3), squeeze=False)
    extent = (-0.5, cfg.image_size - 0.5, cfg.image_size - 0.5, -0.5)
    for k in range(n):
        axes[0, k].imshow(images[k].mean(-1), cmap="gray_r")
        axes[0, k].set_title(f"{labels[k]} → {pred[k]}", fontsize=8, color="black" if labels[k] == pred[k] else "red")
        for row, att in ((1, last), (2, roll)):   # attention per patch, the digit's outline on top
            axes[row, k].imshow(att[k], cmap="magma", extent=extent, interpolation="nearest")
            axes[row, k].contour(images[k].mean(-1), levels=[0.4], colors="cyan", linewidths=0.9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=8)
    axes[1, 0].set_ylabel(f"layer {cfg.num_layers}\n[CLS]→patches", fontsize=8)
    axes[2, 0].set_ylabel("rollout", fontsize=8)
    fig.suptitle("class token's attention over the patches (true → predicted; heads averaged)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
