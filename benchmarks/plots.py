"""Matplotlib figures of the translation harness: time against each sweep's variable (log-log,
IQR error bars) and an overview; bare Figures (no pyplot), titles naming the config and the
machine. `python -m benchmarks plot [results.json]` redraws them from a stored run."""
from __future__ import annotations

import json
import math
import os
import textwrap

STYLE = {"numpy": ("C0", "o"), "numpy-nocache": ("C5", "v"), "keras-eager": ("C1", "s"), "keras-graph": ("C2", "^"),
         "keras-graph-cache": ("C8", "<"),
         "keras-xla": ("C3", "D"), "keras-gpu": ("C4", "P"), "numpy-cupy": ("C6", "X"),
         "numpy-cupy-graph": ("C7", "*"), "keras-jax": ("C9", "h"), "keras-torch": ("#333333", "p")}
LABEL = {"batch": "batch size (source 7 / target 12 tokens)", "seq": "source = target length (batch 4)",
         "d_model": "d_model (d_ff = 4·d_model, batch 64)"}
# what each sweep varies of the `small` preset (benchmarks/configs.py: sweep_points)
SWEPT = {"batch": "batch", "seq": "sequence length", "d_model": "d_model and d_ff"}
DPI = 110


def _figure(figsize):
    from matplotlib.figure import Figure
    return Figure(figsize=figsize, layout="constrained")


def _save(fig, path):
    from numpy_transformer.data.fileio import atomic_write
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))
    return os.path.basename(path)


def _plain_log_axis(axis, values):
    """Log axis with plain labels (20, 50, 100, …) instead of 10^k and 2×10^2, at least three in
    view: 1, 2, 5 per decade over more than two decades (the overview), 1, 2, 3, 5 down to a
    factor of 3 (a sweep), every 1…9 down to a factor of 1.5, evenly spaced ones below."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    ratio = max(finite) / min(finite) if finite else 1000.0
    if ratio <= 1.5:
        axis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    else:
        subs = (1.0, 2.0, 5.0) if ratio > 100 else (1.0, 2.0, 3.0, 5.0) if ratio > 3 else tuple(range(1, 10))
        axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def machine_line(meta):
    """One line naming the machine, the threads and the libraries of a run (its `meta`)."""
    if not meta:
        return ""
    mi = meta.get("machine", {})
    gpus = mi.get("gpus") or mi.get("cuda_gpu")
    parts = [f"{mi.get('cpu_model', '?')}, {mi.get('cores_available', '?')} cores, {meta.get('threads', '?')} threads",
             f"NumPy {mi.get('numpy', '?')}"
             + (f", TensorFlow {mi['tensorflow']}" if mi.get("tensorflow") else "")
             + (f", GPU {gpus}" if gpus else ""),
             f"{str(mi.get('date', ''))[:10]}, git {mi.get('git_head', '?')}"
             + (" (quick run)" if meta.get("quick") else "")]
    return "; ".join(parts)


def _config_line(rows):
    """Each config's model and batch as the rows record them, e.g. 'book: d_model 512, 6+6 layers,
    batch 64 × 7/12 tokens'."""
    seen = {}
    for r in rows:
        seen.setdefault(r["config"], r)
    return "; ".join(f"{c}: d_model {r.get('d_model', '?')}, {r.get('num_layers', '?')}+{r.get('num_layers', '?')} "
                     f"layers, batch {r.get('batch', '?')} × {r.get('src_len', '?')}/{r.get('tgt_len', '?')} tokens"
                     for c, r in seen.items())


def _small_preset():
    from .configs import PRESETS
    cfg = PRESETS["small"].cfg
    return (f"small config: d_model {cfg.d_model}, {cfg.num_heads} heads, d_ff {cfg.d_ff}, "
            f"{cfg.num_layers}+{cfg.num_layers} layers, {cfg.dtype}")


def _title(fig, first, meta, more=""):
    """The figure's title: `first`, then `more` and the machine, each broken only after a "; "
    (no-break spaces inside the items) to fit the figure's width."""
    chars = int(fig.get_figwidth() * 72 / (10 * 0.6))       # 10-pt glyphs are ~0.6 em wide
    keep = lambda x: "; ".join(item.replace(" ", "\u00a0") for item in x.split("; "))  # noqa: E731
    lines = [first] + [textwrap.fill(keep(x), chars) for x in (more, machine_line(meta)) if x]
    fig.suptitle("\n".join(lines), fontsize=10)


def sweep_plot(rows, sweep, path, meta=None):
    """Median time (IQR error bars) of each implementation at each point of one sweep, a panel per
    workload; `meta` (results.json's) names the machine in the title. The PNG's name, or None
    when the rows hold no such sweep."""
    from matplotlib.ticker import NullLocator
    rows = [r for r in rows if r.get("sweep") == sweep and r["status"] == "ok"]
    if not rows:
        return None
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    fig = _figure((7.5 * len(workloads) + 2.2, 5.4))
    axes = fig.subplots(1, len(workloads), squeeze=False)
    for ax, w in zip(axes[0], workloads):
        for impl in dict.fromkeys(r["impl"] for r in rows if r["workload"] == w):
            pts = sorted((r["x"], r) for r in rows if (r["workload"], r["impl"]) == (w, impl))
            xs = [x for x, _ in pts]
            med = [r["median_s"] * 1e3 for _, r in pts]
            err = [[(r["median_s"] - r["q1_s"]) * 1e3 for _, r in pts],
                   [(r["q3_s"] - r["median_s"]) * 1e3 for _, r in pts]]
            color, marker = STYLE.get(impl, (None, "."))
            ax.errorbar(xs, med, yerr=err, label=impl, color=color, marker=marker, ms=5, capsize=3, lw=1.4)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        xs_all = sorted({r["x"] for r in rows if r["workload"] == w})
        ax.set_xticks(xs_all, [str(x) for x in xs_all])      # exactly the measured points
        ax.xaxis.set_minor_locator(NullLocator())
        _plain_log_axis(ax.yaxis, [r[k] * 1e3 for r in rows if r["workload"] == w for k in ("q1_s", "q3_s")])
        ax.set_xlabel(LABEL.get(sweep, sweep))
        ax.set_ylabel(f"{w} time per call, ms (median, IQR bars; log scale)")
        ax.set_title(f"{w}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0, -1].legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title="implementation")
    _title(fig, f"time vs {SWEPT.get(sweep, sweep)} (lower is better)", meta, _small_preset())
    return _save(fig, path)


def overview_plot(rows, path, meta=None):
    """Median time of every (config, workload) per implementation, log scale; `meta` names the
    machine in the title."""
    rows = [r for r in rows if "sweep" not in r and r["status"] == "ok"]
    if not rows:
        return None
    groups = list(dict.fromkeys((r["config"], r["workload"]) for r in rows))
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    width = 0.8 / len(impls)
    fig = _figure((max(9.5, 0.8 * len(groups) + 3.0), 5.6))
    ax = fig.subplots()
    for j, impl in enumerate(impls):
        xs, ys = [], []
        for i, g in enumerate(groups):
            r = next((r for r in rows if (r["config"], r["workload"], r["impl"]) == (*g, impl)), None)
            if r:
                xs.append(i + (j - (len(impls) - 1) / 2) * width)
                ys.append(r["median_s"] * 1e3)
        ax.bar(xs, ys, width, label=impl, color=STYLE.get(impl, (None,))[0])
    ax.set_xticks(range(len(groups)), [f"{c}\n{w}" for c, w in groups], fontsize=9)
    for i in range(1, len(groups)):              # a faint line between configs
        if groups[i][0] != groups[i - 1][0]:
            ax.axvline(i - 0.5, color="grey", lw=0.8, alpha=0.6)
    ax.set_yscale("log")
    _plain_log_axis(ax.yaxis, [r["median_s"] * 1e3 for r in rows])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylabel("median time per call, ms (log scale)")
    ax.set_xlabel("config and workload")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    # legend outside the axes, on the right: it never covers a bar, however many implementations
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="implementation")
    _title(fig, "median time per config and workload (lower is better)", meta, _config_line(rows))
    return _save(fig, path)


def replot(results_path, sweeps=None):
    """Draw overview.png and sweep_<name>.png again from a stored results.json, beside it;
    the names of the PNGs written."""
    with open(results_path) as f:
        result = json.load(f)
    out = os.path.dirname(os.path.abspath(results_path))
    rows, meta = result["rows"], result.get("meta")
    sweeps = sweeps or list(dict.fromkeys(r["sweep"] for r in rows if "sweep" in r))
    written = [overview_plot(rows, os.path.join(out, "overview.png"), meta)]
    written += [sweep_plot(rows, s, os.path.join(out, f"sweep_{s}.png"), meta) for s in sweeps]
    return [w for w in written if w]
