"""Plots of the recurrent examples (matplotlib Agg, atomic writes)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ...data.fileio import atomic_write  # noqa: E402


def _save(fig, path):
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def plot_series_forecast(actual, train_pred, test_pred, split, path, title="", ylabel="value"):
    """The whole series (black) with each backend's one-step predictions: train period solid,
    test period dashed, a vertical line at the split. `train_pred`/`test_pred`: {label: array},
    the train predictions placed from index time_steps, the test ones from `split`."""
    fig, (ax, zoom) = plt.subplots(2, 1, figsize=(11, 6.5))
    t = np.arange(len(actual))
    for a in (ax, zoom):
        a.plot(t, actual, color="black", lw=0.8, label="actual")
        for i, (label, p) in enumerate(test_pred.items()):
            color = f"C{i}"
            tr = train_pred.get(label)
            if tr is not None:
                a.plot(np.arange(split - len(tr), split), tr, color=color, lw=0.8, alpha=0.8,
                       label=f"{label} (train)")
            a.plot(np.arange(split, split + len(p)), p, "--", color=color, lw=1.0, label=f"{label} (test)")
        a.axvline(split, color="red", lw=1)
        a.set(xlabel="month", ylabel=ylabel)
        a.grid(alpha=0.3)
    ax.set_title(title or "actual vs predicted (one step ahead)", fontsize=10)
    ax.legend(fontsize=7, ncol=3)
    zoom.set_xlim(split - 24, len(actual))
    zoom.set_title("test period (right of the red line), zoomed", fontsize=9)
    _save(fig, path)


def plot_attention_study(results, weights, examples, path, title=""):
    """Left: test MSE per model and backend (log scale). Middle: the mean attention weight per
    time step over the test set, per attention model. Right: actual vs predicted on a few test
    samples (first backend). results: [{"model", "backend", "test_mse"}]; weights: {model:
    (T,) mean α}; examples: {"actual": (n,), model: (n,) predictions}."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    models = list(dict.fromkeys(r["model"] for r in results))
    backends = list(dict.fromkeys(r["backend"] for r in results))
    width = 0.8 / max(len(backends), 1)
    for j, be in enumerate(backends):
        vals = [next((r["test_mse"] for r in results if r["model"] == m and r["backend"] == be), np.nan)
                for m in models]
        axes[0].bar(np.arange(len(models)) + j * width, vals, width, label=be)
    axes[0].set_xticks(np.arange(len(models)) + width * (len(backends) - 1) / 2, models)
    axes[0].set(yscale="log", ylabel="test MSE (scaled units)", title="test error")
    axes[0].legend(fontsize=8)
    for m, w in weights.items():
        axes[1].plot(np.arange(1, len(w) + 1), w, "-o", ms=3, label=m)
    axes[1].xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    axes[1].set(xlabel="time step of the input window", ylabel="mean attention weight",
                title="where the attention looks (test set)")
    axes[1].legend(fontsize=8)
    n = len(examples["actual"])
    axes[2].plot(examples["actual"], "ko", ms=4, label="actual")
    for m, p in examples.items():
        if m != "actual":
            axes[2].plot(p, "x", ms=5, label=m)
    axes[2].set(xlabel=f"test sample (the {n} largest targets)", ylabel="next number (scaled)",
                title="actual vs predicted")
    axes[2].legend(fontsize=8)
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)
