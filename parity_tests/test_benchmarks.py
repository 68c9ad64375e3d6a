"""Tests of the benchmark harness (benchmarks/): the analytic FLOP counter against a hand
count and against the matmuls the NumPy model actually performs, the statistics, the
interleaving and timing.compare, the targets, the one entry point's options, errors and output
folders, and end-to-end runs on the tiny config writing JSON/markdown."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from requires import require
from tool_scripts import load_tool

for _mod in ("matplotlib", "threadpoolctl", "psutil"):
    require(_mod)

from benchmarks import cli, configs, flops, gpu, plots, report  # noqa: E402
from benchmarks.timing import Skip, compare, run_interleaved, summarize  # noqa: E402
from numpy_transformer import Transformer, TransformerConfig  # noqa: E402
from numpy_transformer.models.decoding import greedy_decode  # noqa: E402


def tiny_cfg(**kw):
    base = dict(src_vocab_size=5, tgt_vocab_size=6, d_model=4, num_heads=2, d_ff=8, num_layers=1, max_len=8,
                dropout=0.0)
    return TransformerConfig(**{**base, **kw})


def test_forward_flops_hand_count():
    # d=4, d_ff=8, 1+1 layers, V_tgt=6, B=1, S=2, T=3; every GEMM 2·m·n·k:
    # encoder: Q,K,V 3·(2·2·4·4)=192, QKᵀ 2·2·2·4=32, PV 32, W_o 2·2·4·4=64, FFN 2·(2·2·4·8)=256 -> 576
    # decoder self: QKV 3·(2·3·4·4)=288, QKᵀ 2·3·3·4=72, PV 72, W_o 96 -> 528
    # decoder cross: Q 96, K,V 2·(2·2·4·4)=128, QKᵀ 2·3·2·4=48, PV 48, W_o 96 -> 416; FFN 2·(2·3·4·8)=384
    # output layer 2·3·4·6 = 144;  total 576 + 528 + 416 + 384 + 144 = 2048
    shape = configs.Shape(1, 2, 3)
    assert flops.forward(tiny_cfg(), shape) == 2048
    assert flops.workload_flops("train_step", tiny_cfg(), shape) == 3 * 2048
    # two layers double everything but the output layer
    assert flops.forward(tiny_cfg(num_layers=2), shape) == 2 * (2048 - 144) + 144


class MatmulCounter:
    """Wraps np.matmul and adds 2·m·n·k (times the broadcast batch) for every call."""

    def __init__(self, monkeypatch):
        self.total, self.calls, orig = 0, 0, np.matmul

        def counting(a, b, *args, **kw):
            a_, b_ = np.asarray(a), np.asarray(b)
            A = a_.shape if a_.ndim > 1 else (1,) + a_.shape
            Bs = b_.shape if b_.ndim > 1 else b_.shape + (1,)
            batch = np.broadcast_shapes(A[:-2], Bs[:-2])
            assert A[-1] == Bs[-2]
            self.total += 2 * int(np.prod(batch, dtype=np.int64)) * A[-2] * Bs[-1] * A[-1]
            self.calls += 1
            return orig(a, b, *args, **kw)
        monkeypatch.setattr(np, "matmul", counting)

    def take(self):
        t, self.total = self.total, 0
        return t


@pytest.mark.parametrize("kernels", ["plain", "fast"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_flops_equal_the_matmuls_the_numpy_model_performs(monkeypatch, norm_first, kernels):
    cfg = TransformerConfig(src_vocab_size=11, tgt_vocab_size=13, d_model=8, num_heads=2, d_ff=12, num_layers=2,
                            max_len=10, norm_first=norm_first)
    shape = configs.Shape(3, 5, 4)
    src, tgt, _, dlogits = configs.make_batch(cfg, shape)
    model = Transformer(cfg, kernels=kernels)
    model.load_state_dict(configs.shared_state(cfg))
    counter = MatmulCounter(monkeypatch)
    model.forward(src, tgt, training=True)
    assert counter.calls > 0, "the model no longer calls np.matmul: update this test's counter"
    fwd = counter.take()
    assert fwd == flops.forward(cfg, shape)
    model.backward(dlogits)
    assert fwd + counter.take() == flops.forward_backward(cfg, shape)
    L = 6
    assert greedy_decode(model, src, configs.START_ID, configs.EOS_ID, L, use_cache=True).shape[1] == L
    assert counter.take() == flops.decode(cfg, 3, 5, L, "cache")
    greedy_decode(model, src, configs.START_ID, configs.EOS_ID, L, use_cache=False)
    assert counter.take() == flops.decode(cfg, 3, 5, L, "nocache")


def test_decode_flop_modes_order():
    cfg, S, L = configs.PRESETS["book"].cfg, 7, 12
    c, n, a, p = (flops.decode(cfg, 64, S, L, m) for m in ("cache", "nocache", "nocache_all", "padded"))
    assert c < n < a < p
    with pytest.raises(ValueError):
        flops.decode(cfg, 64, S, L, "beam")


def test_summarize_matches_percentiles():
    s = summarize([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (s["median_s"], s["q1_s"], s["q3_s"], s["min_s"], s["max_s"], s["n"]) == (3.0, 2.0, 4.0, 1.0, 5.0, 5)
    assert s["iqr_s"] == 2.0 and s["rel_iqr"] == pytest.approx(2 / 3)


def test_interleaving_is_round_robin_and_isolates_failures():
    calls = []

    def make(name):
        return lambda: calls.append(name) or name

    def broken():
        raise RuntimeError("boom")

    def skipped():
        raise Skip("no GPU")
    fns = {"a": make("a"), "b": make("b"), "c": make("c"), "bad": broken, "gpu": skipped}
    res = run_interleaved(fns, reps=3, warmup=2)
    assert calls[:6] == ["a", "a", "b", "b", "c", "c"]          # warm-up first, per implementation
    assert calls[6:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # rotated round-robin
    assert res["_order"] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    assert res["a"]["status"] == "ok" and len(res["a"]["times_s"]) == 3 and res["a"]["output"] == "a"
    assert res["bad"]["status"].startswith("failed: RuntimeError") and res["bad"]["times_s"] == []
    assert res["gpu"]["status"] == "skipped: no GPU"


def test_compare_times_two_callables_interleaved():
    now, calls = [0.0], []

    def costs(name, seconds):          # a fake clock: each call "takes" its seconds, exactly
        return lambda: calls.append(name) or now.__setitem__(0, now[0] + seconds)
    r = compare(costs("f", 3.0), costs("g", 1.0), reps=4, warmup=1, clock=lambda: now[0])
    assert (r["f"]["median_s"], r["g"]["median_s"], r["ratio"], r["n"]) == (3.0, 1.0, 3.0, 4)
    assert r["ratio_q1"] == r["ratio_q3"] == 3.0 and r["f"]["times_s"] == [3.0] * 4
    assert calls == ["f", "g", "f", "g", "g", "f", "f", "g", "g", "f"]   # warm-up, then alternating order
    # on the real clock: summing 200 000 numbers takes longer than summing 2 000
    big, small = list(range(200_000)), list(range(2_000))
    assert compare(lambda: sum(big), lambda: sum(small), reps=5)["ratio"] > 5
    with pytest.raises(ValueError, match="reps must be a whole number >= 1, not 0"):
        compare(lambda: None, lambda: None, reps=0)
    with pytest.raises(RuntimeError, match="g: failed: ZeroDivisionError"):
        compare(lambda: None, lambda: 1 / 0, reps=2)


def _row(impl, workload, times, **kw):
    return {"config": "book", "workload": workload, "impl": impl, "status": "ok", "times_s": times,
            "median_s": float(np.median(times)), **kw}


def test_targets_ratios_and_pass_fail():
    rows = [_row("numpy", "train_step", [2.0, 2.2, 1.8], mfu=0.65, gflops_per_s=80.0,
                 memory={"status": "ok", "model_peak_mb": 600.0, "peak_rss_mb": 650.0}),
            _row("keras-graph", "train_step", [1.0, 1.0, 1.0],
                 memory={"status": "ok", "model_peak_mb": 800.0, "peak_rss_mb": 1400.0}),
            _row("numpy", "decode", [1.0, 1.0, 1.0]), _row("numpy-nocache", "decode", [5.0, 4.0, 6.0]),
            _row("keras-graph", "decode", [0.5, 0.5, 0.5]), _row("keras-graph-cache", "decode", [1.5, 2.0, 1.0])]
    t = {x["key"]: x for x in report.compute_targets(rows)}
    assert t["train_vs_keras_graph"]["value"] == pytest.approx(2.0) and t["train_vs_keras_graph"]["passed"] is False
    assert t["numpy_train_mfu"]["value"] == 0.65 and t["numpy_train_mfu"]["passed"] is True
    assert t["kv_cache_speedup"]["value"] == 5.0 and t["kv_cache_speedup"]["passed"] is True
    assert t["kv_cache_vs_keras"]["value"] == 0.5 and t["kv_cache_vs_keras"]["passed"] is False
    assert t["cached_decode_vs_keras"]["value"] == 1.5 and t["cached_decode_vs_keras"]["passed"] is True
    assert t["train_memory_vs_keras"]["value"] == 0.75 and t["train_memory_vs_keras"]["passed"] is True
    # the fastest Keras: keras-graph for training (paired), keras-graph-cache for decoding
    assert t["train_vs_fastest_keras"]["value"] == pytest.approx(2.0)
    assert t["train_vs_fastest_keras"]["detail"]["fastest"] == "keras-graph"
    assert t["decode_vs_fastest_keras"]["value"] == pytest.approx(2 / 3)      # median of 1/1.5, 1/2, 1/1
    assert t["decode_vs_fastest_keras"]["passed"] is True
    md = "\n".join(report.targets_markdown(list(t.values())))
    assert md.count("✅ pass") == 5 and md.count("❌ fail") == 3
    assert "vs keras-graph-cache" in md
    assert all(x["value"] is None for x in report.compute_targets(rows[:1], config="small"))
    # a target without a value says why
    assert all(x["why_not_measured"].startswith("the small config was not run")
               for x in report.compute_targets(rows[:1], config="small"))
    why = {x["key"]: x["why_not_measured"] for x in report.compute_targets(rows[:1])}
    assert why["numpy_train_mfu"] is None
    assert why["train_vs_keras_graph"].startswith("keras-graph train_step was not run on book")
    assert why["kv_cache_speedup"].startswith("numpy-nocache decode was not run on book")
    assert why["train_memory_vs_keras"].startswith("keras-graph train_step was not run on book")
    # --quick is named only where it was given
    assert "--quick" not in report.compute_targets(rows[:1], config="small")[0]["why_not_measured"]
    assert "--quick runs tiny,small only" in report.compute_targets(rows[:1], config="small", quick=True)[0][
        "why_not_measured"]


def test_fastest_keras_may_be_a_subprocess_backend():
    """A JAX row that ran in its own process is compared with the NumPy time measured beside it
    there; eager is never taken as the fastest; a decode without a cache is not a candidate."""
    rows = [_row("numpy", "train_step", [2.0, 2.0, 2.0]), _row("keras-graph", "train_step", [1.5, 1.5, 1.5]),
            _row("keras-eager", "train_step", [0.1, 0.1, 0.1]),
            _row("keras-jax", "train_step", [1.0, 1.0, 1.0], numpy_same_process_median_s=2.5),
            _row("numpy", "decode", [1.0, 1.0, 1.0]), _row("keras-graph", "decode", [0.2, 0.2, 0.2])]
    t = {x["key"]: x for x in report.compute_targets(rows)}
    assert t["train_vs_fastest_keras"]["value"] == pytest.approx(2.5)
    assert t["train_vs_fastest_keras"]["detail"]["fastest"] == "keras-jax"
    assert t["decode_vs_fastest_keras"]["value"] is None
    assert t["decode_vs_fastest_keras"]["why_not_measured"].startswith("none of keras-graph-cache, keras-jax")


def test_sweep_plot_writes_a_png(tmp_path):
    rows = [{"sweep": "batch", "x": x, "impl": i, "workload": "train_step", "status": "ok", "median_s": m,
             "q1_s": 0.9 * m, "q3_s": 1.1 * m} for x in (4, 16) for i, m in (("numpy", 0.01 * x), ("keras-graph", 0.02 * x))]
    name = plots.sweep_plot(rows, "batch", str(tmp_path / "sweep_batch.png"))
    data = (tmp_path / name).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 200_000
    assert plots.sweep_plot(rows, "seq", str(tmp_path / "none.png")) is None


def parse(*argv):
    p = cli.translation_parser()
    return cli.translation_options(p, p.parse_args(list(argv)))


def test_quick_defaults():
    o = parse("--quick")
    assert o.configs == ["tiny", "small"] and o.reps == 3 and o.sweep_backends == ["numpy", "keras-graph"]
    assert o.profile == "small" and o.memory_configs == ["small"]
    o = parse("--backends", "numpy,keras", "--reps", "12")
    assert o.backends == ["numpy", "keras-eager", "keras-graph", "keras-xla"] and o.reps == 12
    assert o.decode_backends == ["numpy", "keras-graph"] and o.configs == ["tiny", "small", "book"]


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """The entry point's folders moved to tmp_path: runs/ (a run of its own) and stored/ (--save)."""
    monkeypatch.setattr(cli, "HERE", str(tmp_path))
    monkeypatch.setattr(cli, "RESULTS", str(tmp_path / "stored"))
    return tmp_path


BAD = [(["--reps", "0"], "argument --reps: must be a whole number >= 1, not 0"),
       (["--reps", "-3"], "argument --reps: must be a whole number >= 1, not -3"),
       (["--configs", "huge"], "argument --configs: unknown value(s) huge; choose from tiny, small, book, gpu"),
       (["--backends", "torch"], "argument --backends: unknown value(s) torch; choose from numpy, keras-eager"),
       (["--save", "--out", "x"], "--save and --out exclude each other"),
       (["--cooldown", "-1"], "argument --cooldown: must be >= 0"),
       (["vit", "--reps", "0"], "argument --reps: must be a whole number >= 1, not 0"),
       (["vit", "--configs", "huge"], "unknown value(s) huge; choose from tiny, digits, digits-p2, cifar-tiny"),
       (["bert", "--configs", "huge"], "unknown value(s) huge; choose from tiny, default"),
       (["bert", "--keras-backends", "mxnet"], "unknown value(s) mxnet; choose from tensorflow, jax, torch"),
       (["rnn", "--reps", "1"], "`python -m benchmarks rnn` is now `python tools/rnn_layers.py`"),
       (["kernels", "--reps", "1"], "`python -m benchmarks kernels` is now `python tools/kernels.py`"),
       (["breakdown"], "`python -m benchmarks breakdown` is now `python tools/breakdown.py`"),
       (["translators", "--minutes", "8"], "`python -m benchmarks translators` is now `python tools/translators.py`")]


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a[:3]) for a, _ in BAD])
def test_a_bad_option_is_one_error_line_before_any_work(folders, capsys, argv, message):
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (folders / "runs").exists() and not (folders / "stored").exists()     # nothing was written


TOOL_BAD = [("rnn_layers", ["--reps", "0"], "argument --reps: must be a whole number >= 1, not 0"),
            ("rnn_layers", ["--backends", "keras-xla"], "unknown value(s) keras-xla; choose from numpy, keras-eager"),
            ("kernels", ["--reps", "0"], "argument --reps: must be a whole number >= 1, not 0"),
            ("breakdown", ["--models", "gpt"], "unknown value(s) gpt; choose from translation-book"),
            ("breakdown", ["--profiled", "0"], "argument --profiled: must be a whole number >= 1")]


@pytest.mark.parametrize("tool,argv,message", TOOL_BAD, ids=[f"{t} {' '.join(a)}" for t, a, _ in TOOL_BAD])
def test_a_tool_script_s_bad_option_is_one_error_line_before_any_work(folders, capsys, tool, argv, message):
    """The finished experiments in tools/ run through cli.run_module: the same one-line errors."""
    with pytest.raises(SystemExit) as e:
        load_tool(tool).main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert f"(see python tools/{tool}.py --help)" in err
    assert not (folders / "runs").exists() and not (folders / "stored").exists()     # nothing was written

@pytest.mark.parametrize("module,command", [("vit", "python -m benchmarks vit"), ("plots", "python -m benchmarks plot"),
                                            ("runner", "python -m benchmarks --help"),
                                            ("translators", "python tools/translators.py"),
                                            ("rnn", "python tools/rnn_layers.py"), ("kernels", "python tools/kernels.py"),
                                            ("breakdown", "python tools/breakdown.py")])
def test_an_old_module_entry_point_names_the_command_and_exits_2(module, command):
    """`python -m benchmarks.vit` used to be the command; run now, it must not exit 0 having done nothing."""
    root = Path(__file__).resolve().parents[1]
    p = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", "--reps", "1"], cwd=root, capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == f"error: `python -m benchmarks.{module}` is not a command; run `{command}`\n"


def _quick_run(*args):
    return cli.main(["--configs", "tiny", "--workloads", "forward", "--backends", "numpy", "--reps", "1",
                     "--sweeps", "none", "--memory-workloads", "none", "--profile", "none", *args])


def test_a_run_writes_a_folder_of_its_own_and_replaces_the_stored_results_only_with_save(folders, capsys):
    assert _quick_run() == 0
    [run] = (folders / "runs").iterdir()
    assert run.name.endswith("-translation") and (run / "results.json").is_file() and (run / "results.md").is_file()
    err = capsys.readouterr().err
    assert f"results in {run}/ (a run of its own: the stored results in {folders}/stored/ are unchanged" in err
    assert "--save replaces them" in err and not (folders / "stored").exists()
    assert "--quick" not in err                                    # it was not given
    assert _quick_run("--save") == 0
    assert (folders / "stored" / "results.json").is_file() and len(list((folders / "runs").iterdir())) == 1
    assert "replaced the stored results in" in capsys.readouterr().err
    (folders / "stored" / "overview.png").unlink()
    assert cli.main(["plot", str(folders / "stored" / "results.json")]) == 0      # redrawn from the JSON alone
    assert (folders / "stored" / "overview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _run(tmp_path, *args):
    assert cli.main(["--configs", "tiny", "--reps", "2", "--warmup", "1", "--sweeps", "none",
                     "--out", str(tmp_path), *args]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    md = (tmp_path / "results.md").read_text()
    return result, md


@pytest.mark.slow
def test_end_to_end_tiny_numpy(tmp_path):
    result, md = _run(tmp_path, "--backends", "numpy", "--memory-workloads", "train_step", "--profile", "tiny")
    rows = {(r["workload"], r["impl"]): r for r in result["rows"]}
    assert set(rows) == {("forward", "numpy"), ("fwd_bwd", "numpy"), ("train_step", "numpy"),
                         ("decode", "numpy"), ("decode", "numpy-nocache")}
    p = configs.PRESETS["tiny"]
    for (w, impl), r in rows.items():
        assert r["status"] == "ok" and len(r["times_s"]) == 2 and r["median_s"] > 0
        assert r["flops"] == flops.workload_flops(w, p.cfg, p.shape, "nocache" if "nocache" in impl else "cache")
        assert r["gflops_per_s"] == pytest.approx(r["flops"] / r["median_s"] / 1e9)
    assert rows[("decode", "numpy-nocache")]["tokens_agree_with_numpy"] == 1.0
    assert rows[("decode", "numpy")]["decoded_len"] == p.shape.tgt_len
    mem = rows[("train_step", "numpy")]["memory"]
    assert mem["status"] == "ok" and mem["model_peak_mb"] > 0 and mem["peak_rss_mb"] > mem["model_peak_mb"]
    assert result["gemm_peak"]["peak_gflops"] > 0 and result["meta"]["threads"] >= 1
    assert result["meta"]["machine"]["numpy"] == np.__version__
    assert "## Targets" in md and "| tiny | train_step | numpy |" in md
    # no row failed to run; the targets need the book config, and say so
    assert "not run" not in md.split("## Results")[1] and "not measured: the book config was not run" in md
    prof = (tmp_path / result["profile"]["file"]).read_text()
    assert "matmul" in prof and len(result["profile"]["top"]) >= 10


@pytest.mark.slow
def test_end_to_end_tiny_keras(tmp_path):
    require("tensorflow")
    require("keras")
    result, md = _run(tmp_path, "--backends", "numpy,keras-eager,keras-graph,keras-gpu,numpy-cupy",
                      "--workloads", "train_step,decode", "--memory-workloads", "none", "--profile", "none",
                      "--decode-backends", "numpy,keras-eager,keras-graph,keras-xla,gpu")
    rows = {(r["workload"], r["impl"]): r for r in result["rows"]}
    assert ("train_step", "keras-xla") not in rows
    assert rows[("decode", "keras-xla")]["status"] == "ok"
    assert rows[("decode", "keras-xla")]["tokens_agree_with_numpy"] >= 0.9
    assert rows[("decode", "keras-eager")]["tokens_agree_with_numpy"] >= 0.9
    for w in ("train_step", "decode"):
        for impl in ("keras-eager", "keras-graph"):
            assert rows[(w, impl)]["status"] == "ok", rows[(w, impl)]["status"]
        assert rows[(w, "keras-gpu")]["status"].startswith("skipped") or result["meta"]["machine"]["gpus"]
        assert rows[(w, "numpy-cupy")]["status"] == ("ok" if gpu.cupy_status() is None
                                                      else f"skipped: {gpu.cupy_status()}")
    assert rows[("decode", "keras-graph")]["tokens_agree_with_numpy"] >= 0.9
    assert rows[("decode", "keras-graph")]["flops"] == flops.decode(configs.PRESETS["tiny"].cfg, 8, 7, 12, "nocache_all")
    assert "| tiny | decode | keras-graph |" in md
    cached = rows[("decode", "keras-graph-cache")]   # Keras' key/value-cached decoder beside the book's way
    assert cached["status"] == "ok" and cached["tokens_agree_with_numpy"] >= 0.9
    assert cached["flops"] == flops.decode(configs.PRESETS["tiny"].cfg, 8, 7, 12, "cache_slots")
    assert rows[("train_step", "numpy-cupy-graph")]["status"] == ("ok" if gpu.cupy_status() is None
                                                                   else f"skipped: {gpu.cupy_status()}")


@pytest.mark.slow
def test_keras_on_jax_rows_run_in_their_own_process(tmp_path):
    """keras-jax: the Keras model on the JAX backend, timed in a subprocess beside NumPy; its
    decoded tokens must agree with the NumPy decoder's, and the row carries the NumPy time
    measured in that same process."""
    require("keras")
    require("jax")
    result, _ = _run(tmp_path, "--backends", "numpy,keras-jax", "--workloads", "forward,decode",
                     "--decode-backends", "numpy,keras-jax", "--memory-workloads", "none", "--profile", "none")
    rows = {(r["workload"], r["impl"]): r for r in result["rows"]}
    for w in ("forward", "decode"):
        r = rows[(w, "keras-jax")]
        assert r["status"] == "ok", r["status"]
        assert r["median_s"] > 0 and r["numpy_same_process_median_s"] > 0
    assert rows[("decode", "keras-jax")]["tokens_agree_with_numpy"] >= 0.9


def test_gpu_flag_selects_the_gpu_presets_and_backends():
    opts = parse("--gpu")
    assert opts.configs == ["book", "gpu"] and opts.sweeps == [] and opts.memory_workloads == []
    assert {"numpy", "numpy-cupy", "keras-gpu", "keras-jax", "keras-torch"} <= set(opts.backends)
    gpu_preset = configs.PRESETS["gpu"]
    assert (gpu_preset.shape.batch, gpu_preset.shape.src_len, gpu_preset.shape.tgt_len) == (256, 64, 64)
    assert gpu_preset.cfg.max_len >= 64 and gpu_preset.cfg.d_model == 512
    assert opts.reps == 5 and opts.profile is None and opts.decode_backends == opts.backends
    assert "keras-jax" not in parse("--quick").backends   # no subprocess rows unless named


def test_the_docs_example_of_compare_runs(capsys):
    """docs/benchmarks.md's example of timing.compare, as printed there."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md").read_text()
    [code] = [b.split("\n", 1)[1] for b in text.split("```python")[1:] if "compare(" in b.split("```")[0]]
    exec(code.split("```")[0], {})
    out = capsys.readouterr().out
    assert " ms vs " in out and "n=30)" in out
