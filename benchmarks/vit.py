"""python -m benchmarks.vit: the Vision Transformer's workloads, NumPy vs Keras (eager, graph,
XLA): forward (inference), fwd_bwd (training-mode forward + backward from fixed dlogits) and
train_step (forward + cross-entropy + backward + Adam), timed interleaved in one process with
the harness' timing (benchmarks/timing.py), analytic FLOPs and GFLOP/s; and the training step of
Keras on JAX / PyTorch where installed (`keras-jax`, `keras-torch`: the application's two
backends in a subprocess per Keras backend, NumPy timed beside it there). The targets: NumPy's
training step over the fastest Keras's, per preset. Results:
benchmarks/results/vit/results.json and results.md.

Presets: `digits` is the model `python -m numpy_transformer vit` trains by default (8×8×1
images, 4×4 patches → 5 tokens, d_model 64, 4 heads, d_ff 128, 4 layers, batch 64), `digits-p2`
the same with 2×2 patches (17 tokens); `cifar-tiny` a ViT-Tiny-like
model on CIFAR-sized input (32×32×3, 4×4 patches → 64 tokens, d_model 192, 3 heads, d_ff 768,
6 layers, batch 64); `tiny` is for tests."""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np

from numpy_transformer.config import ViTConfig
from numpy_transformer.training.keras_import import quiet_tensorflow

from . import machine
from .timing import run_interleaved, small_run

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ("forward", "fwd_bwd", "train_step")
KERAS_MODES = ("keras-eager", "keras-graph", "keras-xla")
# Keras on another backend runs in a subprocess of its own (Keras fixes its backend at import), training
# steps only: the application's two backends (apps/vit/train.py), NumPy's timed beside Keras's there
OTHER_BACKENDS = {"keras-jax": "jax", "keras-torch": "torch"}
PRESETS = {
    "tiny": (ViTConfig(8, 1, 4, 10, d_model=16, num_heads=2, d_ff=32, num_layers=1), 8),
    "digits": (ViTConfig(8, 1, 4, 10, d_model=64, num_heads=4, d_ff=128, num_layers=4), 64),
    "digits-p2": (ViTConfig(8, 1, 2, 10, d_model=64, num_heads=4, d_ff=128, num_layers=4), 64),
    "cifar-tiny": (ViTConfig(32, 3, 4, 10, d_model=192, num_heads=3, d_ff=768, num_layers=6), 64),
}


def forward_flops(cfg, B):
    """Matmul FLOPs (2·m·n·k) of one forward: patch embedding, per layer Q/K/V/output projections,
    scores and weighted values over T = N + 1 tokens and the MLP, the head on the class token."""
    T, d, f = cfg.seq_len, cfg.d_model, cfg.d_ff
    layer = 2 * B * T * d * d * 4 + 2 * B * T * T * d * 2 + 2 * B * T * d * f * 2
    return 2 * B * cfg.num_patches * cfg.patch_dim * d + cfg.num_layers * layer + 2 * B * d * cfg.num_classes


def workload_flops(workload, cfg, B):
    """fwd_bwd and train_step: 3 × forward (each product's backward needs two of its size)."""
    return forward_flops(cfg, B) * (1 if workload == "forward" else 3)


def make_data(cfg, B, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((B, cfg.image_size, cfg.image_size, cfg.channels)).astype(cfg.dtype)
    labels = rng.integers(0, cfg.num_classes, B)
    dlogits = (rng.standard_normal((B, cfg.num_classes)) / B).astype(cfg.dtype)
    return images, labels, dlogits


def numpy_workloads(cfg, state, workload, data):
    from numpy_transformer import Adam, VisionTransformer
    from numpy_transformer.ops.loss import masked_cross_entropy
    images, labels, dlogits = data
    m = VisionTransformer(cfg, kernels="fast")
    m.load_state_dict(state)
    if workload == "forward":
        return {"numpy": lambda: m.forward(images)}
    if workload == "fwd_bwd":
        return {"numpy": lambda: (m.forward(images, training=True), m.backward(dlogits))}
    opt = Adam(1e-3)

    def train_step():
        loss, d = masked_cross_entropy(m.forward(images, training=True), labels, pad_id=-1)
        opt.step(m.params, m.backward(d))
        return loss
    return {"numpy": train_step}


def keras_workloads(cfg, state, workload, data, modes):
    with quiet_tensorflow():
        import keras
        import tensorflow as tf   # the harness measures TF's graph and XLA modes explicitly
        import keras_transformer as kt
    images, labels, dlogits = data
    km = kt.VisionTransformerModel(cfg)
    km.build()
    km.load_state_dict(state)
    x, y, dl = tf.constant(images), tf.constant(labels), tf.constant(dlogits)
    variables = km.trainable_variables
    out = {}
    for mode in modes:
        wrap = (lambda f: f) if mode == "keras-eager" else (lambda f: tf.function(f, jit_compile=mode == "keras-xla"))
        if workload == "forward":
            f = wrap(lambda a: km(a, training=False))
            out[mode] = lambda f=f: f(x).numpy()
        elif workload == "fwd_bwd":
            def fb(a, d):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(km(a, training=True) * d)
                return tape.gradient(loss, variables)
            f = wrap(fb)
            out[mode] = lambda f=f: [g.numpy() for g in f(x, dl)][0]
        else:
            opt = keras.optimizers.Adam(1e-3)
            opt.build(variables)

            def ts(a, b, opt=opt):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                        b, km(a, training=True), from_logits=True))
                opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
                return loss
            f = wrap(ts)
            out[mode] = lambda f=f: float(f(x, y))
    return out


def worker(spec):
    """In a subprocess whose KERAS_BACKEND is set: the application's NumPy and Keras training steps
    interleaved on the preset's batch; prints {impl: timing} as JSON on the last line."""
    from numpy_transformer.apps.vit.train import ViTArgs, make_backend
    machine.pin_numpy_threads(spec["threads"])
    if spec["backend"] == "torch":
        import torch
        torch.set_num_threads(spec["threads"])
    cfg, B = PRESETS[spec["preset"]]
    images, labels, _ = make_data(cfg, B)
    args = ViTArgs(epochs=1, batch_size=B, warmup_epochs=0)
    backends = {"numpy": make_backend("numpy", cfg, args, 1000),
                f"keras-{spec['backend']}": make_backend("keras", cfg, args, 1000)}
    rng = np.random.default_rng(0)
    res = run_interleaved({k: (lambda b=b: b.train_step(images, labels, rng)) for k, b in backends.items()},
                          spec["reps"], warmup=2, cooldown=0.02)
    res.pop("_order", None)
    for r in res.values():
        r.pop("output", None)
    print(json.dumps(res))


def other_backend_rows(name, cfg, B, impl, reps, threads, log):
    """keras-jax / keras-torch train_step rows from a subprocess, each with the NumPy time measured
    beside it there (numpy_same_process_median_s, numpy_same_process_times_s)."""
    kb = OTHER_BACKENDS[impl]
    spec = {"backend": kb, "preset": name, "reps": reps, "threads": threads}
    env = {**os.environ, "KERAS_BACKEND": kb, "TF_CPP_MIN_LOG_LEVEL": "3"}
    p = subprocess.run([sys.executable, "-m", "benchmarks.vit", "--worker", json.dumps(spec)], capture_output=True,
                       text=True, env=env, cwd=os.path.dirname(HERE))
    try:
        res = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        res = {impl: {"status": f"failed: {p.stderr.strip().splitlines()[-1:]}"}, "numpy": {}}
    r, n = res.get(impl, {}), res.get("numpy", {})
    row = {"config": name, "workload": "train_step", "impl": impl, "batch": B, "tokens": cfg.seq_len,
           "d_model": cfg.d_model, "num_layers": cfg.num_layers, "status": r.get("status", "failed"),
           "flops": workload_flops("train_step", cfg, B), "first_call_s": r.get("first_call_s"),
           "times_s": r.get("times_s", []), **{k: r[k] for k in ("median_s", "iqr_s", "min_s") if k in r}}
    if row["status"] == "ok" and n.get("status") == "ok":
        row["gflops_per_s"] = row["flops"] / r["median_s"] / 1e9
        row["numpy_same_process_median_s"], row["numpy_same_process_times_s"] = n["median_s"], n["times_s"]
        log(f"  {name:>10} train_step {impl:<12} median {r['median_s'] * 1e3:8.2f} ms  IQR {r['iqr_s'] * 1e3:6.2f} ms  "
            f"(NumPy beside it: {n['median_s'] * 1e3:.2f} ms)")
    return row


def run(presets, workloads, backends, reps, warmup=1, threads=None, log=print):
    from numpy_transformer import VisionTransformer
    rows = []
    for name in presets:
        cfg, B = PRESETS[name]
        state = VisionTransformer(cfg).state_dict()
        data = make_data(cfg, B)
        for workload in workloads:
            fns = {}
            if "numpy" in backends:
                fns.update(numpy_workloads(cfg, state, workload, data))
            modes = [b for b in KERAS_MODES if b in backends]
            if modes:
                fns.update(keras_workloads(cfg, state, workload, data, modes))
            res = run_interleaved(fns, reps, warmup, cooldown=0.02)
            fl = workload_flops(workload, cfg, B)
            for impl in fns:
                r = res[impl]
                row = {"config": name, "workload": workload, "impl": impl, "batch": B, "tokens": cfg.seq_len,
                       "d_model": cfg.d_model, "num_layers": cfg.num_layers, "status": r["status"],
                       "flops": fl, "first_call_s": r["first_call_s"], "times_s": r["times_s"],
                       **{k: r[k] for k in ("median_s", "iqr_s", "min_s") if k in r}}
                if r["status"] == "ok":
                    row["gflops_per_s"] = fl / r["median_s"] / 1e9
                    log(f"  {name:>10} {workload:<10} {impl:<12} median {r['median_s'] * 1e3:8.2f} ms  "
                        f"IQR {r['iqr_s'] * 1e3:6.2f} ms  {row['gflops_per_s']:6.2f} GFLOP/s")
                rows.append(row)
            if workload == "train_step":
                for impl in (b for b in OTHER_BACKENDS if b in backends):
                    rows.append(other_backend_rows(name, cfg, B, impl, reps, threads, log))
    return rows


def targets(rows):
    """Per preset: NumPy's training step over the fastest Keras mode's (graph or XLA; eager is
    never the fastest), the median of per-repetition ratios (the modes ran interleaved); the
    issue's target is <= 1.0."""
    from .report import target_entry
    out = []
    for name in dict.fromkeys(r["config"] for r in rows):
        get = {r["impl"]: r for r in rows if r["config"] == name and r["workload"] == "train_step" and r["status"] == "ok"}
        keras = [get[m] for m in ("keras-graph", "keras-xla", *OTHER_BACKENDS) if m in get]
        if "numpy" in get and keras:
            out.append(target_entry(name, "train_step", get["numpy"], keras))
    return out


def targets_markdown(ts, what):
    lines = ["| config | workload | NumPy ms | fastest Keras | its ms | NumPy ÷ fastest (paired IQR) | target | result |",
             "|---|---|---|---|---|---|---|---|"]
    for t in ts:
        lines.append(f"| {t['config']} | {t['workload']} | {t['numpy_median_s'] * 1e3:.1f} | {t['fastest']} | "
                     f"{t['fastest_median_s'] * 1e3:.1f} | {t['value']:.2f}× ({t['q1']:.2f}–{t['q3']:.2f}, n={t['n']}) | "
                     f"<= {t['threshold']:.2f}× | {'✅ met' if t['passed'] else '❌ not met'} |")
    return ["## Targets", "", f"NumPy's training step over the fastest {what}'s, same run, same machine.", ""] + lines + [""]


def markdown(rows, meta):
    lines = ["# ViT benchmark: NumPy vs Keras", "", f"`{meta['command']}` — git {meta.get('git')}, {meta['threads']} thread(s), "
             f"{meta['cpu']}, load average before/after {meta['load_before']} / {meta['load_after']}.", ""]
    ts = targets(rows)
    if ts:
        lines += targets_markdown(ts, "Keras mode (TensorFlow graph or XLA here; Keras on JAX or PyTorch in a "
                                      "subprocess, NumPy timed beside it there)")
    lines += ["## Results", "",
             "| config | workload | impl | median ms | IQR ms | GFLOP/s | vs numpy |", "|---|---|---|---|---|---|---|"]
    ref = {(r["config"], r["workload"]): r.get("median_s") for r in rows if r["impl"] == "numpy"}
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['config']} | {r['workload']} | {r['impl']} | {r['status']} | | | |")
            continue
        base = ref.get((r["config"], r["workload"]))
        ratio = f"{r['median_s'] / base:.2f}×" if base else ""
        lines.append(f"| {r['config']} | {r['workload']} | {r['impl']} | {r['median_s'] * 1e3:.2f} | "
                     f"{r['iqr_s'] * 1e3:.2f} | {r['gflops_per_s']:.2f} | {ratio} |")
    lines += ["", "vs numpy: the implementation's median time over NumPy's (below 1: faster than NumPy)."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.vit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="digits,digits-p2,cifar-tiny", help=f"comma list of {','.join(PRESETS)}")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    installed = [b for b, m in OTHER_BACKENDS.items() if importlib.util.find_spec(m) is not None]
    p.add_argument("--backends", default=",".join(["numpy", *KERAS_MODES, *installed]),
                   help=f"comma list of numpy, {', '.join(KERAS_MODES)} (TensorFlow, in this process) and "
                        f"{', '.join(OTHER_BACKENDS)} (training steps, in a subprocess each)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--threads", type=int, default=machine.available_cores())
    p.add_argument("--out", default=os.path.join(HERE, "results", "vit"))
    a = p.parse_args(argv)
    if a.worker:
        return worker(json.loads(a.worker))
    presets, workloads, backends = (a.configs.split(","), a.workloads.split(","), a.backends.split(","))
    for items, allowed, what in ((presets, PRESETS, "config"), (workloads, WORKLOADS, "workload"),
                                 (backends, ("numpy",) + KERAS_MODES + tuple(OTHER_BACKENDS), "backend")):
        bad = [x for x in items if x not in allowed]
        if bad:
            raise SystemExit(f"unknown {what}(s) {bad}; choose from {list(allowed)}")
    machine.pin_numpy_threads(a.threads)
    if any(b.startswith("keras") for b in backends):
        machine.pin_tf_threads(a.threads)
    command = "python -m benchmarks.vit " + " ".join(sys.argv[1:] if argv is None else argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    return small_run(command, a.threads, lambda: run(presets, workloads, backends, a.reps, threads=a.threads, log=log),
                     a.out, markdown, targets)


if __name__ == "__main__":
    sys.exit(main())
