"""python tools/rnn_layers.py: the road-to-attention layers, NumPy (ops/rnn.py, ops/bahdanau.py)
against Keras (SimpleRNN, keras_transformer.rnn.BahdanauAttention) eager and as a graph on the
CPU: forward, and forward + backward from a fixed upstream gradient; B=64, T=50, H=128.

A finished comparison (its conclusion: docs/rnn_attention.md), moved out of the benchmark package;
it still runs through the harness's entry point (benchmarks.cli.run_module) and --save replaces
the stored benchmarks/results/rnn/."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run as a script from anywhere

import numpy as np  # noqa: E402

from benchmarks import machine  # noqa: E402
from benchmarks.cli import csv, run_module  # noqa: E402
from benchmarks.report import header, table  # noqa: E402
from benchmarks.timing import run_interleaved  # noqa: E402
from numpy_transformer.cli.options import nonneg_float, positive_int  # noqa: E402
from numpy_transformer.training.keras_import import quiet_tensorflow  # noqa: E402

STORED, REPS = "rnn", 10
BACKENDS = ("numpy", "keras-eager", "keras-graph")


def _data(B, T, H, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = lambda *s, scale=1.0: (scale * rng.standard_normal(s)).astype(dtype)  # noqa: E731
    return {"x": a(B, T, H), "dh": a(B, T, H), "W_x": a(H, H, scale=H ** -0.5), "W_h": a(H, H, scale=H ** -0.5),
            "b": a(H, scale=0.1), "s": a(B, H), "h": a(B, T, H), "dc": a(B, H),
            "W_a": a(H, H, scale=H ** -0.5), "U_a": a(H, H, scale=H ** -0.5), "v_a": a(H, scale=H ** -0.5)}


def numpy_fns(d):
    from numpy_transformer.ops.bahdanau import bahdanau_attention_backward, bahdanau_attention_forward
    from numpy_transformer.ops.rnn import simple_rnn_backward, simple_rnn_forward

    def rnn_fwd():
        return simple_rnn_forward(d["x"], None, d["W_x"], d["W_h"], d["b"])[0]

    def rnn_fwd_bwd():
        _, cache = simple_rnn_forward(d["x"], None, d["W_x"], d["W_h"], d["b"])
        return simple_rnn_backward(d["dh"], cache)

    def bah_fwd():
        return bahdanau_attention_forward(d["s"], d["h"], d["W_a"], d["U_a"], d["v_a"])[0]

    def bah_fwd_bwd():
        _, _, cache = bahdanau_attention_forward(d["s"], d["h"], d["W_a"], d["U_a"], d["v_a"])
        return bahdanau_attention_backward(d["dc"], cache)

    return {("rnn", "forward"): rnn_fwd, ("rnn", "fwd_bwd"): rnn_fwd_bwd,
            ("bahdanau", "forward"): bah_fwd, ("bahdanau", "fwd_bwd"): bah_fwd_bwd}


def keras_fns(d, mode):
    """mode: keras-eager or keras-graph (tf.function)."""
    with quiet_tensorflow():
        import keras
        import tensorflow as tf

        from keras_transformer.rnn import BahdanauAttention
    B, T, H = d["x"].shape
    dtype = d["x"].dtype.name
    with tf.device("/CPU:0"):
        rnn = keras.layers.SimpleRNN(H, return_sequences=True, dtype=dtype)
        rnn.build((B, T, H))
        for var, k in zip((rnn.cell.kernel, rnn.cell.recurrent_kernel, rnn.cell.bias), ("W_x", "W_h", "b")):
            var.assign(d[k])
        bah = BahdanauAttention(H, dtype=dtype)
        bah.build((B, H), (B, T, H))
        for k in ("W_a", "U_a", "v_a"):
            getattr(bah, k).assign(d[k])
    x, dh, s, h, dc = (tf.constant(d[k]) for k in ("x", "dh", "s", "h", "dc"))

    def rnn_fwd():
        return rnn(x)

    def rnn_fwd_bwd():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = rnn(x)
        return tape.gradient(y, [x] + rnn.trainable_variables, output_gradients=dh)

    def bah_fwd():
        return bah(s, h)[0]

    def bah_fwd_bwd():
        with tf.GradientTape() as tape:
            tape.watch([s, h])
            c = bah(s, h)[0]
        return tape.gradient(c, [s, h] + bah.trainable_variables, output_gradients=dc)

    fns = {("rnn", "forward"): rnn_fwd, ("rnn", "fwd_bwd"): rnn_fwd_bwd,
           ("bahdanau", "forward"): bah_fwd, ("bahdanau", "fwd_bwd"): bah_fwd_bwd}
    if mode == "keras-graph":
        fns = {k: tf.function(f) for k, f in fns.items()}

    def on_cpu(f):
        def run():
            with tf.device("/CPU:0"):
                out = f()
            return [np.asarray(t) for t in tf.nest.flatten(out)][:1]   # force the result to the host
        return run

    return {k: on_cpu(f) for k, f in fns.items()}


def run(a, log, meta):
    if any(b.startswith("keras") for b in a.backends):
        meta["tf_threads"] = machine.pin_tf_threads(a.threads)
    meta["machine"] = machine.machine_info(with_tf=any(b.startswith("keras") for b in a.backends))
    d = _data(a.batch, a.steps, a.hidden, a.dtype)
    impls = {"numpy": numpy_fns(d)} if "numpy" in a.backends else {}
    impls.update({mode: keras_fns(d, mode) for mode in BACKENDS[1:] if mode in a.backends})
    rows = []
    for layer in ("rnn", "bahdanau"):
        for workload in ("forward", "fwd_bwd"):
            res = run_interleaved({name: fns[(layer, workload)] for name, fns in impls.items()}, a.reps, a.warmup,
                                  cooldown=a.cooldown)
            res.pop("_order")
            for name, r in res.items():
                rows.append({"layer": layer, "workload": workload, "impl": name, "status": r["status"],
                             "median_ms": 1e3 * r.get("median_s", float("nan")),
                             "q1_ms": 1e3 * r.get("q1_s", float("nan")), "q3_ms": 1e3 * r.get("q3_s", float("nan")),
                             "first_call_ms": 1e3 * (r["first_call_s"] or float("nan"))})
            log(f"  {layer:9s} {workload:8s} " + "  ".join(f"{r['impl']} {r['median_ms']:.2f} ms" for r in rows
                                                          if (r["layer"], r["workload"]) == (layer, workload)))
    return {"shape": {"B": a.batch, "T": a.steps, "H": a.hidden}, "dtype": a.dtype, "reps": a.reps, "rows": rows}


def markdown(result):
    s, meta = result["shape"], result["meta"]
    impls = list(dict.fromkeys(r["impl"] for r in result["rows"]))
    cell = lambda r: (f"{r['median_ms']:.2f} ms ({r['q1_ms']:.2f}–{r['q3_ms']:.2f})"  # noqa: E731
                      if r["status"] == "ok" else r["status"])
    cells = [[layer, wl, *(cell(next(r for r in result["rows"] if (r["layer"], r["workload"], r["impl"]) ==
                                     (layer, wl, impl))) for impl in impls)]
             for layer in ("rnn", "bahdanau") for wl in ("forward", "fwd_bwd")]
    return "\n".join([f"# Road-to-attention layers: NumPy vs Keras (CPU, {meta['threads']} threads, {result['dtype']})",
                      "", header(meta), "", f"B={s['B']}, T={s['T']}, H={s['H']} (Bahdanau: d_s = d_h = d_a = H); "
                      f"median of {result['reps']} interleaved repetitions (q1–q3).", "",
                      *table(("layer", "workload", *impls), cells)]) + "\n"


def options(p):
    p.add_argument("--batch", type=positive_int, default=64)
    p.add_argument("--steps", type=positive_int, default=50, help="T")
    p.add_argument("--hidden", type=positive_int, default=128, help="H")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--warmup", type=positive_int, default=2)
    p.add_argument("--cooldown", type=nonneg_float, default=0.02, help="seconds of idle before each timed call (lets "
                   "the other runtime's spinning threads go idle)")
    p.add_argument("--backends", type=csv(BACKENDS), default=",".join(BACKENDS))


def main(argv=None):
    return run_module(sys.modules[__name__], "rnn", sys.argv[1:] if argv is None else argv,
                      prog="python tools/rnn_layers.py")


if __name__ == "__main__":
    raise SystemExit(main())
