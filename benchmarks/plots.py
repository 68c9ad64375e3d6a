"""Matplotlib figures: time vs batch / sequence length / d_model per implementation (log-log,
error bars = interquartile range), and an overview of the main comparison."""
from __future__ import annotations

import os

STYLE = {"numpy": ("C0", "o"), "numpy-nocache": ("C5", "v"), "keras-eager": ("C1", "s"), "keras-graph": ("C2", "^"),
         "keras-graph-cache": ("C8", "<"),
         "keras-xla": ("C3", "D"), "keras-gpu": ("C4", "P"), "numpy-cupy": ("C6", "X"),
         "numpy-cupy-graph": ("C7", "*")}
LABEL = {"batch": "batch size (source 7 / target 12 tokens)", "seq": "source = target length (batch 4)",
         "d_model": "d_model (d_ff = 4·d_model, batch 64)"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _plain_log_axis(axis):
    """Log axis with plain labels (0.5, 1, 2, 5, 10, 20, …) instead of 10^k and 2×10^2."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def sweep_plot(rows, sweep, path):
    plt = _plt()
    from matplotlib.ticker import NullLocator
    rows = [r for r in rows if r.get("sweep") == sweep and r["status"] == "ok"]
    if not rows:
        return None
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    fig, axes = plt.subplots(1, len(workloads), figsize=(5.2 * len(workloads), 3.6), squeeze=False)
    for ax, w in zip(axes[0], workloads):
        for impl in dict.fromkeys(r["impl"] for r in rows if r["workload"] == w):
            pts = sorted((r["x"], r) for r in rows if (r["workload"], r["impl"]) == (w, impl))
            xs = [x for x, _ in pts]
            med = [r["median_s"] * 1e3 for _, r in pts]
            err = [[(r["median_s"] - r["q1_s"]) * 1e3 for _, r in pts], [(r["q3_s"] - r["median_s"]) * 1e3 for _, r in pts]]
            color, marker = STYLE.get(impl, (None, "."))
            ax.errorbar(xs, med, yerr=err, label=impl, color=color, marker=marker, ms=4, capsize=2, lw=1.2)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        xs_all = sorted({r["x"] for r in rows if r["workload"] == w})
        ax.set_xticks(xs_all, [str(x) for x in xs_all])
        ax.xaxis.set_minor_locator(NullLocator())
        _plain_log_axis(ax.yaxis)
        ax.set_xlabel(LABEL.get(sweep, sweep))
        ax.set_ylabel(f"{w} time, ms (median, IQR; log)")
        ax.set_title(f"{w} vs {sweep}, small config (lower is better)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return os.path.basename(path)


def overview_plot(rows, path):
    """Median time of every (config, workload) per implementation, log scale."""
    plt = _plt()
    rows = [r for r in rows if "sweep" not in r and r["status"] == "ok"]
    if not rows:
        return None
    groups = list(dict.fromkeys((r["config"], r["workload"]) for r in rows))
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    width = 0.8 / len(impls)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(groups) + 2), 4.4))
    for j, impl in enumerate(impls):
        xs, ys = [], []
        for i, g in enumerate(groups):
            r = next((r for r in rows if (r["config"], r["workload"], r["impl"]) == (*g, impl)), None)
            if r:
                xs.append(i + (j - (len(impls) - 1) / 2) * width)
                ys.append(r["median_s"] * 1e3)
        ax.bar(xs, ys, width, label=impl, color=STYLE.get(impl, (None,))[0])
    ax.set_xticks(range(len(groups)), [f"{c}\n{w}" for c, w in groups], fontsize=7)
    ax.set_yscale("log")
    _plain_log_axis(ax.yaxis)
    ax.set_ylabel("median time, ms (log scale)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.set_title("median time per config and workload (lower is better)", fontsize=10)
    # legend outside the axes, on the right: it never covers a bar, however many implementations
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return os.path.basename(path)
