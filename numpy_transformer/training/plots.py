"""Plots (matplotlib, optional): training curves and cross-attention maps.

Every figure is a bare `matplotlib.figure.Figure` saved to a file: no pyplot, so importing or
drawing never switches the process's backend (a notebook that runs a command keeps its inline
plots) and the figure is garbage-collected like any object (no figure manager to close)."""
from __future__ import annotations

import math
import textwrap

from matplotlib.figure import Figure

from ..data.fileio import atomic_write


def save_png(fig, path, dpi=110, **kwargs):
    """Write `fig` as a PNG at `path` atomically (a reader never sees half a file)."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png", **kwargs))


def epoch_ticks(n):
    """Whole-number epoch ticks for 1…n epochs: every epoch up to 10, else a step of 2, 5, 10,
    20, 50, … that leaves at most 10 ticks (1 is always shown)."""
    if n <= 10:
        return list(range(1, n + 1))
    step = next(s * 10 ** k for k in range(int(math.log10(n)) + 1) for s in (1, 2, 5) if n / (s * 10 ** k) <= 10)
    return [1] + list(range(step, n + 1, step))


def wrap_title(title, width=110):
    """Lines of at most `width` characters, broken only after a comma: each "d_model 64" or
    "lr 0.002" stays whole (no-break spaces inside the items; matplotlib draws them as spaces)."""
    return textwrap.fill(", ".join(item.replace(" ", "\u00a0") for item in title.split(", ")), width)


def best_epoch(hist):
    """(epoch, val_acc) of the highest validation accuracy (the earliest on a tie), or None."""
    scored = [h for h in hist if h.get("val_acc") == h.get("val_acc")]     # NaN (no val split) != itself
    if not scored:
        return None
    h = max(scored, key=lambda h: (h["val_acc"], -h["epoch"]))
    return h["epoch"], h["val_acc"]


def plot_curves(histories, path, labels=None, title=None, log_loss=False, val_name="val", baselines=(),
                loss_label="masked cross-entropy", acc_label="masked token accuracy"):
    """Every model's training curves: loss and accuracy per epoch, train (solid) and held-out
    (dashed, called `val_name`: "val", "test", ...); `histories` is one history list or several
    (e.g. NumPy and Keras runs side by side). A star marks each run's best held-out epoch (highest
    accuracy), named with its score under the `title` (the run and its configuration);
    each of `baselines` (label, accuracy) is a dotted line on the accuracy axis; `log_loss` puts
    the loss on a logarithmic axis. The accuracy axis spans 0…1, so no epoch is cut off."""
    if histories and isinstance(histories[0], dict):
        histories = [histories]
    labels = labels or [h[0].get("backend", f"run {i}") if h else "" for i, h in enumerate(histories)]
    fig = Figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2)
    n_max, bests = 1, []
    for hist, label in zip(histories, labels):
        ep = [h["epoch"] for h in hist]
        n_max = max([n_max] + ep)
        best = best_epoch(hist)
        dots = ("o", "s") if len(ep) <= 30 else ("", "")     # 60 markers would hide the lines
        for ax, key in zip(axes, ("loss", "acc")):
            line, = ax.plot(ep, [h[f"train_{key}"] for h in hist], "-" + dots[0], ms=3, label=f"{label} train")
            ax.plot(ep, [h[f"val_{key}"] for h in hist], "--" + dots[1], ms=3, color=line.get_color(),
                    label=f"{label} {val_name}")
            if best is not None:
                y = next(h[f"val_{key}"] for h in hist if h["epoch"] == best[0])
                ax.plot([best[0]], [y], "*", ms=13, color=line.get_color(), markeredgecolor="black", clip_on=False,
                        markeredgewidth=0.6, zorder=5, label=f"{label} best {val_name} (epoch {best[0]})")
        if best is not None:
            bests.append(f"{label}: best {val_name} acc {best[1]:.3f} at epoch {best[0]}")
    for i, (label, acc) in enumerate(baselines):
        axes[1].axhline(acc, color="grey", ls=(":", "-.", "--")[i % 3], lw=1.2, label=label)
    axes[0].set(xlabel="epoch", ylabel=loss_label + (" (log scale)" if log_loss else ""), title="loss")
    if log_loss:
        log_axis(axes[0], [h[k] for hist in histories for h in hist for k in ("train_loss", "val_loss")])
    axes[1].set(xlabel="epoch", ylabel=acc_label, title="accuracy", ylim=(0, 1))
    ticks = epoch_ticks(n_max)
    for ax in axes:
        ax.set_xticks(ticks, [str(t) for t in ticks])      # whole epochs, also for a 1-epoch run
        ax.set_xlim(0.5, n_max + 0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    lines = [wrap_title(title)] if title else []
    lines.append("; ".join(bests) if bests else f"no {val_name} split")
    fig.suptitle("\n".join(lines), fontsize=10)
    fig.tight_layout()
    save_png(fig, path)


def log_axis(ax, values):
    """A logarithmic y axis labelled 1, 2, 5 per decade; the 3, 4, 6, 8 between are labelled too
    when the data span at most one decade (more would crowd them: a ViT's loss spans three)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    ax.set_yscale("log")
    label = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(label)
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(3.0, 4.0, 6.0, 8.0)))
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    ax.yaxis.set_minor_formatter(label if finite and max(finite) <= 10 * min(finite) else NullFormatter())


def plot_attention(weights, src_words, tgt_words, path, title="", layer=None, num_layers=None, what=None):
    """One heatmap per head: rows = target positions (what is being produced), columns = source
    tokens attended to, as the model saw them (unknown words as <unk>). `weights` (heads, T, S);
    one colour bar (0…1) for all heads; `layer` / `num_layers` name the decoder layer shown, or
    `what` says what the map is (a single map, e.g. the RNN translator's, has no head title)."""
    H, T, S = weights.shape
    cols = min(H, 2 if H <= 4 else 4)            # 4 heads: a 2×2 grid keeps the words large
    rows = (H + cols - 1) // cols
    cell = 0.42                                            # inches per word: labels stay readable
    w = max(2.4, cell * S + 0.9)
    h = max(2.0, cell * T + 0.9)
    fig = Figure(figsize=(w * cols + 1.2, h * rows + 0.9), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    im = None
    for i, ax in enumerate(axes.flat):
        if i >= H:
            ax.axis("off")
            continue
        im = ax.imshow(weights[i], cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(S), src_words, rotation=45, ha="right", rotation_mode="anchor", fontsize=10)
        ax.set_yticks(range(T), tgt_words, fontsize=10)
        if H > 1 or what is None:
            ax.set_title(f"head {i}", fontsize=10)
        if i % cols == 0:
            ax.set_ylabel("target (German)", fontsize=10)
        if i // cols == rows - 1 or i + cols >= H:
            ax.set_xlabel("source (English)", fontsize=10)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.9, label="attention weight")
    which = what or ("cross-attention" + (f" of decoder layer {layer}" if layer is not None else "")
                     + (f" (layers 0\u2013{num_layers - 1})" if num_layers is not None else ""))
    # wrapped to the figure's width: a long sentence in the title would otherwise be cut at the edges
    chars = max(24, int(fig.get_figwidth() * 72 / (11 * 0.6)))      # 11-pt glyphs are ~0.6 em wide
    title = textwrap.fill(title, chars) if title else title
    fig.suptitle(f"{title}\n{which}" if title else which, fontsize=11)
    save_png(fig, path)
