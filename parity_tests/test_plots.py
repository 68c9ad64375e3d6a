"""The plot modules (training/plots.py, apps/vit/plots.py, apps/rnn/plots.py, benchmarks/plots.py):
drawing never touches the process's matplotlib backend (a notebook that runs a command keeps
its inline plots), and the figures keep the standard the translation plots set: a colour bar
on every heat map, legends off the data, a readable size."""
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from requires import require

require("matplotlib")

ROOT = Path(__file__).resolve().parents[1]

# synthetic inputs for one figure of every kind; shared by the subprocess and the in-process tests
INPUTS = textwrap.dedent('''
    import numpy as np
    from types import SimpleNamespace
    rng = np.random.default_rng(0)
    hist = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.2 * e, "val_loss": 1.1 / e, "val_acc": 0.15 * e}
            for e in (1, 2, 3)]
    cross = rng.dirichlet(np.ones(4), size=(2, 3))                          # (heads, T, S)
    vit_cfg = SimpleNamespace(num_layers=2, image_size=8, patch_size=4)      # 2x2 patches + [CLS]
    vit_weights = {f"encoder.layers.{i}.self_attn": rng.dirichlet(np.ones(5), size=(3, 2, 5)) for i in range(2)}
    images = rng.random((3, 8, 8, 1))
    series = np.sin(np.arange(120) / 6.0) * 50 + 60
    study = [{"model": m, "backend": b, "test_mse": v} for m, v in (("SimpleRNN", 1e-3), ("+ Bahdanau", 4e-4))
             for b in ("numpy", "keras")]
    bench = [{"config": c, "workload": w, "impl": i, "status": "ok", "median_s": m, "d_model": 32, "num_layers": 1,
              "batch": 8, "src_len": 7, "tgt_len": 12} for c in ("tiny", "small") for w in ("forward", "decode")
             for i, m in (("numpy", 0.002), ("keras-graph", 0.004))]
    sweep = [{"sweep": "batch", "x": x, "impl": i, "workload": "train_step", "status": "ok", "median_s": m * x,
              "q1_s": 0.9 * m * x, "q3_s": 1.1 * m * x} for x in (4, 16, 64) for i, m in (("numpy", 0.01), ("keras-graph", 0.02))]
    meta = {"threads": 2, "quick": True, "machine": {"cpu_model": "test CPU", "cores_available": 2, "numpy": "2",
                                                     "date": "2026-01-01T00:00", "git_head": "abc"}}
''')

DRAW_ALL = INPUTS + textwrap.dedent('''
    import os, sys
    out = sys.argv[1]
    from numpy_transformer.training.plots import plot_attention, plot_curves
    from numpy_transformer.apps.vit.plots import plot_class_token_attention, plot_confusion
    from numpy_transformer.apps.rnn.plots import plot_attention_study, plot_series_forecast
    from benchmarks.plots import overview_plot, sweep_plot
    plot_curves(hist, os.path.join(out, "curves.png"), title="run")
    plot_attention(cross, ["a", "b", "c", "d"], ["x", "y", "z"], os.path.join(out, "cross.png"), title="t")
    plot_confusion(np.array([0, 1, 1]), np.array([0, 1, 0]), 2, os.path.join(out, "confusion.png"), "run")
    plot_class_token_attention(images, [1, 2, 3], [1, 2, 4], vit_weights, vit_cfg, os.path.join(out, "att.png"), "run")
    plot_series_forecast(series, {"numpy": series[12:90]}, {"numpy": series[90:]}, 90, os.path.join(out, "s.png"), "run")
    plot_attention_study(study, {"+ Bahdanau": np.full(20, 0.05)},
                         {"actual": np.arange(5.0), "+ Bahdanau": np.arange(5.0)}, os.path.join(out, "f.png"), "run")
    overview_plot(bench, os.path.join(out, "overview.png"), meta)
    sweep_plot(sweep, "batch", os.path.join(out, "sweep.png"), meta)
''')


def test_plotting_leaves_the_matplotlib_backend_alone(tmp_path):
    """A process on another backend (svg here, inline in a notebook) draws every kind of figure
    and keeps its backend; pyplot, which owns the backend and its figure managers, is never
    imported."""
    code = ("import sys, matplotlib\nmatplotlib.use('svg')\n" + DRAW_ALL
            + "\nprint(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)\n")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=240,
                       cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.split() == ["svg", "False"]
    names = {"curves", "cross", "confusion", "att", "s", "f", "overview", "sweep"}
    assert {f.stem for f in tmp_path.glob("*.png")} == names
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in tmp_path.glob("*.png"))


@pytest.fixture
def figures(monkeypatch):
    """Every figure the plot modules save, kept (and not written) for inspection."""
    from benchmarks import plots as bench_plots
    from numpy_transformer.apps.rnn import plots as rnn_plots
    from numpy_transformer.apps.vit import plots as vit_plots
    kept = []

    def keep(fig, path, **_):
        fig.canvas.draw()                      # lays it out as savefig would
        kept.append(fig)
        return Path(path).name
    for mod in (vit_plots, rnn_plots):
        monkeypatch.setattr(mod, "save_png", keep)
    monkeypatch.setattr(bench_plots, "_save", keep)
    return kept


def _inputs():
    ns = {}
    exec(INPUTS, ns)
    return SimpleNamespace(**ns)


def test_every_heat_map_has_a_labelled_colour_bar(figures):
    from numpy_transformer.apps.vit.plots import plot_class_token_attention, plot_confusion
    x = _inputs()
    plot_class_token_attention(x.images, [1, 2, 3], [1, 2, 4], x.vit_weights, x.vit_cfg, "att.png", "run")
    plot_confusion(np.array([0, 1, 1]), np.array([0, 1, 0]), 2, "confusion.png", "run")
    att, conf = figures
    bars = [ax for ax in att.axes if ax.get_label() == "<colorbar>"]
    # three rows of three panels: the pixels and the two attention rows, one bar (one scale) each
    assert len(att.axes) == 9 + 3 and len(bars) == 3
    assert [b.get_ylabel() for b in bars] == ["pixel value", "attention weight", "rollout weight"]
    assert "run" in att.get_suptitle()
    bar, = [ax for ax in conf.axes if ax.get_label() == "<colorbar>"]
    assert bar.get_ylabel() == "images (count)"
    assert all(float(t).is_integer() for t in bar.get_yticks())


def test_sunspots_legend_sits_below_the_panels(figures):
    from numpy_transformer.apps.rnn.plots import plot_series_forecast
    x = _inputs()
    plot_series_forecast(x.series, {"numpy": x.series[12:90]}, {"numpy": x.series[90:]}, 90, "s.png", "run")
    fig, = figures
    assert all(ax.get_legend() is None for ax in fig.axes)        # none inside an axes
    legend, = fig.legends
    lowest = min(ax.get_tightbbox().y0 for ax in fig.axes)
    assert legend.get_window_extent().y1 <= lowest                  # wholly below the panels


def test_benchmark_plots_are_readable_and_name_the_machine(figures):
    from benchmarks.plots import DPI, overview_plot, sweep_plot
    x = _inputs()
    assert overview_plot(x.bench, "overview.png", x.meta) == "overview.png"
    assert sweep_plot(x.sweep, "batch", "sweep.png", x.meta) == "sweep.png"
    for fig in figures:
        assert fig.get_figwidth() * DPI >= 1000                   # ~1000 px wide or more
        assert "test CPU, 2 cores, 2 threads" in fig.get_suptitle().replace("\u00a0", " ")
        ax = fig.axes[0]
        legend = [a.get_legend() for a in fig.axes if a.get_legend()][0]
        assert legend.get_window_extent().x0 >= ax.get_window_extent().x1      # right of the data
        ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
        assert len(ticks) >= 3                                     # not a two-tick axis
        assert all(lbl.get_text() and "^" not in lbl.get_text() for lbl in ax.get_yticklabels()
                   if ax.get_ylim()[0] <= lbl.get_position()[1] <= ax.get_ylim()[1])  # plain labels, no 10^k
