"""python -m benchmarks vit: the Vision Transformer's forward, fwd_bwd and train_step, NumPy
against Keras eager / graph / XLA in this process, and the training step of Keras on JAX and
PyTorch (the application's backends, a subprocess each, NumPy timed beside it there). Presets:
`digits` (what `python -m numpy_transformer vit` trains), `digits-p2` (2×2 patches), `cifar-tiny`
(ViT-Tiny's width on 32×32×3 images), `tiny` (tests). docs/vit.md#benchmarks-python--m-benchmarks-vit."""
from __future__ import annotations

import importlib.util

import numpy as np

from numpy_transformer.config import ViTConfig

from . import flops, machine
from .cli import csv
from .report import app_markdown, target_entry
from .timing import in_subprocess, jsonable, row, run_interleaved

STORED, REPS = "vit", 10
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
    T, d = cfg.seq_len, cfg.d_model
    layer = flops.mha(B, T, T, d) + flops.ffn(B, T, d, cfg.d_ff)
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
    from .np_backend import steps
    images, labels, dlogits = data
    m = VisionTransformer(cfg, kernels="fast")
    m.load_state_dict(state)
    return {"numpy": steps(m, workload, [images], dlogits if workload == "fwd_bwd" else labels,
                           lambda logits, y: masked_cross_entropy(logits, y, pad_id=-1), lambda: Adam(1e-3))}


def keras_workloads(cfg, state, workload, data, modes):
    from .keras_backend import _tf, tf_workloads
    _, keras, kt = _tf()
    images, labels, dlogits = data
    km = kt.VisionTransformerModel(cfg)
    km.build()
    km.load_state_dict(state)
    loss = lambda y, logits: keras.ops.mean(keras.losses.sparse_categorical_crossentropy(  # noqa: E731
        y, logits, from_logits=True))
    return tf_workloads(km, workload, [images], dlogits if workload == "fwd_bwd" else labels, modes, loss,
                        lambda: keras.optimizers.Adam(1e-3))


def worker(spec):
    """In a subprocess whose KERAS_BACKEND is set: the application's NumPy and Keras training steps
    interleaved on the preset's batch; prints {impl: timing} as JSON on the last line."""
    from numpy_transformer.apps.vit.train import ViTArgs, make_backend
    machine.pin_subprocess(spec["threads"], spec["backend"])
    cfg, B = PRESETS[spec["preset"]]
    images, labels, _ = make_data(cfg, B)
    args = ViTArgs(epochs=1, batch_size=B, warmup_epochs=0)
    backends = {"numpy": make_backend("numpy", cfg, args, 1000),
                f"keras-{spec['backend']}": make_backend("keras", cfg, args, 1000)}
    rng = np.random.default_rng(0)
    return jsonable(run_interleaved({k: (lambda b=b: b.train_step(images, labels, rng)) for k, b in backends.items()},
                                    spec["reps"], warmup=2, cooldown=0.02))


def run(a, log, meta):
    from numpy_transformer import VisionTransformer
    if any(b in KERAS_MODES for b in a.backends):
        meta["tf_threads"] = machine.pin_tf_threads(a.threads)
    meta["machine"] = machine.machine_info(with_tf=False)
    rows = []
    for name in a.configs:
        cfg, B = PRESETS[name]
        state = VisionTransformer(cfg).state_dict()
        data = make_data(cfg, B)
        for workload in a.workloads:
            fns = numpy_workloads(cfg, state, workload, data) if "numpy" in a.backends else {}
            modes = [b for b in KERAS_MODES if b in a.backends]
            if modes:
                fns.update(keras_workloads(cfg, state, workload, data, modes))
            res = run_interleaved(fns, a.reps, 1, cooldown=0.02)
            same = dict(config=name, workload=workload, batch=B, tokens=cfg.seq_len, d_model=cfg.d_model,
                        num_layers=cfg.num_layers, flops=workload_flops(workload, cfg, B))
            rows += [row(res[impl], log, impl=impl, **same) for impl in fns]
            for impl in (b for b in OTHER_BACKENDS if b in a.backends and workload == "train_step"):
                # in a subprocess per Keras backend, with the NumPy step timed beside it there
                res = in_subprocess("vit.worker", {"backend": OTHER_BACKENDS[impl], "preset": name, "reps": a.reps,
                                                   "threads": a.threads}, {"KERAS_BACKEND": OTHER_BACKENDS[impl]})
                rows.append(row(res.get(impl, res), log, impl=impl, **same))
                if rows[-1]["status"] == "ok" and res["numpy"].get("status") == "ok":
                    rows[-1].update(numpy_same_process_median_s=res["numpy"]["median_s"],
                                    numpy_same_process_times_s=res["numpy"]["times_s"])
    return {"rows": rows, "targets": targets(rows)}


def targets(rows):
    """Per preset: NumPy's training step over the fastest Keras mode's (graph or XLA; eager is
    never the fastest), the median of per-repetition ratios (the modes ran interleaved); the
    issue's target is <= 1.0."""
    out = []
    for name in dict.fromkeys(r["config"] for r in rows):
        get = {r["impl"]: r for r in rows if (r["config"], r["workload"], r["status"]) == (name, "train_step", "ok")}
        keras = [get[m] for m in ("keras-graph", "keras-xla", *OTHER_BACKENDS) if m in get]
        if "numpy" in get and keras:
            out.append(target_entry(name, "train_step", get["numpy"], keras))
    return out


def markdown(result):
    rows = result["rows"]
    ref = {(r["config"], r["workload"]): r.get("median_s") for r in rows if r["impl"] == "numpy"}
    cells = [[r["config"], r["workload"], r["impl"], r["status"], "", "", ""] if r["status"] != "ok" else
             [r["config"], r["workload"], r["impl"], f"{r['median_s'] * 1e3:.2f}", f"{r['iqr_s'] * 1e3:.2f}",
              f"{r['gflops_per_s']:.2f}", f"{r['median_s'] / ref[r['config'], r['workload']]:.2f}×"
              if ref.get((r["config"], r["workload"])) else ""] for r in rows]
    return app_markdown("ViT benchmark: NumPy vs Keras", result, targets(rows), "Keras mode (TensorFlow graph or XLA "
                        "here; Keras on JAX or PyTorch in a subprocess, NumPy timed beside it there)",
                        ("config", "workload", "impl", "median ms", "IQR ms", "GFLOP/s", "vs numpy"), cells,
                        "vs numpy: the implementation's median time over NumPy's (below 1: faster than NumPy).")


def options(p):
    installed = [b for b, m in OTHER_BACKENDS.items() if importlib.util.find_spec(m) is not None]
    p.add_argument("--configs", type=csv(tuple(PRESETS)), default="digits,digits-p2,cifar-tiny",
                   help=f"comma list of {','.join(PRESETS)}")
    p.add_argument("--workloads", type=csv(WORKLOADS), default=",".join(WORKLOADS))
    p.add_argument("--backends", type=csv(("numpy",) + KERAS_MODES + tuple(OTHER_BACKENDS)),
                   default=",".join(["numpy", *KERAS_MODES, *installed]),
                   help=f"comma list of numpy, {', '.join(KERAS_MODES)} (TensorFlow, in this process) and "
                        f"{', '.join(OTHER_BACKENDS)} (training steps, in a subprocess each; default: those installed)")
