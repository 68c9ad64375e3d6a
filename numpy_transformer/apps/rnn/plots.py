"""Plots of the recurrent examples (bare matplotlib Figures, no pyplot; atomic writes)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ...training.plots import epoch_ticks, log_axis, save_png, wrap_title


def plot_series_forecast(actual, train_pred, test_pred, split, path, title="", ylabel="value"):
    """The whole series (black) with each backend's one-step predictions: train period solid,
    test period dashed, a vertical line at the split. `train_pred`/`test_pred`: {label: array},
    the train predictions placed from index time_steps, the test ones from `split`. The legend
    sits below both panels, so it covers none of the peaks."""
    fig = Figure(figsize=(11, 7.2), layout="constrained")
    ax, zoom = fig.subplots(2, 1)
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
    ax.set_title("the whole series; train | test split at the red line", fontsize=9)
    fig.suptitle(wrap_title(title, 130) if title else "actual vs predicted (one step ahead)", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5), fontsize=8, frameon=False)
    zoom.set_xlim(split - 24, len(actual))
    zoom.set_title("test period (right of the red line), zoomed", fontsize=9)
    save_png(fig, path)


def plot_attention_study(results, weights, examples, path, title=""):
    """Left: test MSE per model and backend (log scale). Middle: the mean attention weight per
    time step over the test set, per attention model. Right: actual vs predicted on a few test
    samples (first backend). results: [{"model", "backend", "test_mse"}]; weights: {model:
    (T,) mean α}; examples: {"actual": (n,), model: (n,) predictions}."""
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    models = list(dict.fromkeys(r["model"] for r in results))
    backends = list(dict.fromkeys(r["backend"] for r in results))
    width = 0.8 / max(len(backends), 1)
    for j, be in enumerate(backends):
        vals = [next((r["test_mse"] for r in results if r["model"] == m and r["backend"] == be), np.nan)
                for m in models]
        bars = axes[0].bar(np.arange(len(models)) + j * width, vals, width, label=be)
        axes[0].bar_label(bars, fmt="%.2g", fontsize=7)     # a bar's length on a log axis is no measure
    axes[0].set_xticks(np.arange(len(models)) + width * (len(backends) - 1) / 2, models)
    axes[0].set(ylabel="test MSE (scaled units, log scale)", title="test error")
    log_axis(axes[0], [r["test_mse"] for r in results])
    axes[0].margins(y=0.15)                                 # room for the labels above the bars
    axes[0].legend(fontsize=8, loc="best")
    for m, w in weights.items():
        axes[1].plot(np.arange(1, len(w) + 1), w, "-o", ms=3, label=m)
    if weights:                                 # whole time steps 1…T, the first and last shown
        axes[1].set_xticks(epoch_ticks(max(len(w) for w in weights.values())))
    axes[1].set(xlabel="time step of the input window", ylabel="mean attention weight",
                title="where the attention looks (test set)")
    axes[1].legend(fontsize=8, loc="best")
    n = len(examples["actual"])
    axes[2].plot(examples["actual"], "ko", ms=4, label="actual")
    for m, p in examples.items():
        if m != "actual":
            axes[2].plot(p, "x", ms=5, label=m)
    axes[2].set(xlabel=f"test sample (the {n} largest targets)", ylabel="next number (scaled)",
                title="actual vs predicted")
    axes[2].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[2].legend(fontsize=8, loc="best")
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(wrap_title(title, 170), fontsize=10)
    save_png(fig, path)
