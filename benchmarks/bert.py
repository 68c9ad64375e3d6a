"""python -m benchmarks bert: BERT's training steps, the ones `python -m numpy_transformer
bert pretrain|finetune` runs (pretrain_step: masked-LM; finetune_step: the [CLS] pair head), the
application's NumPy backend against its Keras one on every installed Keras backend. Keras fixes
its backend at import: each runs in a subprocess of its own, the NumPy step interleaved beside it
there. Presets: `default` (the default model, batch 128 × 32 tokens), `tiny` (tests). docs/bert.md."""
from __future__ import annotations

import importlib.util

import numpy as np

from numpy_transformer.config import BertConfig

from . import flops, machine
from .cli import csv
from .report import app_markdown, target_entry
from .timing import in_subprocess, jsonable, row, run_interleaved

STORED, REPS = "bert", 10
WORKLOADS = {"pretrain_step": "mlm", "finetune_step": "cls"}
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
PRESETS = {
    "tiny": (BertConfig(vocab_size=64, d_model=16, num_heads=2, d_ff=32, num_layers=1, max_len=16), 8, 12),
    "default": (BertConfig(vocab_size=8000, d_model=128, num_heads=4, d_ff=512, num_layers=4, max_len=48), 128, 32),
}


def forward_flops(cfg, B, T, task, chosen):
    """Matmul FLOPs (2·m·n·k) of one forward: per layer the Q/K/V/output projections, scores and
    weighted values, the feed-forward; the MLM head (dense + the tied vocabulary projection) at
    the `chosen` positions, or the pooler and the classifier on [CLS]."""
    d = cfg.d_model
    layer = flops.mha(B, T, T, d) + flops.ffn(B, T, d, cfg.d_ff)
    head = 2 * chosen * d * (d + cfg.vocab_size) if task == "mlm" else 2 * B * d * (d + cfg.num_classes)
    return cfg.num_layers * layer + head


def step_flops(cfg, batch, task):
    """A training step's: 3 × the forward (each product's backward needs two of its size)."""
    B, T = batch.ids.shape
    return 3 * forward_flops(cfg, B, T, task, int(np.sum(batch.labels != cfg.pad_id)) if task == "mlm" else B)


def make_batch(cfg, B, T, task, seed=0):
    from numpy_transformer.apps.bert.data import Batch, mask_tokens
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, cfg.vocab_size, (B, T))           # past the five specials
    ids[:, 0] = 2                                            # [CLS]
    segments = np.zeros((B, T), dtype=np.int64)
    segments[:, T // 2:] = 1
    if task == "mlm":
        inputs, labels = mask_tokens(ids, rng, cfg.vocab_size)
        return Batch(inputs, segments, labels)
    return Batch(ids, segments, rng.integers(0, cfg.num_classes, B))


def worker(spec):
    """In a subprocess whose KERAS_BACKEND is set: NumPy and Keras steps interleaved; prints
    {impl: timing} as JSON on the last line."""
    from numpy_transformer.apps.bert.train import BertArgs, make_backend
    from numpy_transformer.models import BertEncoder
    machine.pin_subprocess(spec["threads"], spec["backend"])
    cfg, B, T = PRESETS[spec["preset"]]
    task = WORKLOADS[spec["workload"]]
    args = BertArgs(epochs=1, batch_size=B, warmup_steps=10)
    weights = BertEncoder(cfg, seed=0).state_dict()
    batch = make_batch(cfg, B, T, task)
    backends = {"numpy": make_backend("numpy", cfg, task, args, 1000, weights=weights),
                f"keras-{spec['backend']}": make_backend("keras", cfg, task, args, 1000, weights=weights)}
    rng = np.random.default_rng(0)
    return jsonable(run_interleaved({k: (lambda b=b: b.train_step(batch, rng)) for k, b in backends.items()},
                                    spec["reps"], warmup=2, cooldown=0.02))


def run(a, log, meta):
    meta["machine"] = machine.machine_info(with_tf=False)
    rows = []
    for name in a.configs:
        cfg, B, T = PRESETS[name]
        for workload in a.workloads:
            fl = step_flops(cfg, make_batch(cfg, B, T, WORKLOADS[workload]), WORKLOADS[workload])
            for kb in a.keras_backends:
                spec = {"backend": kb, "preset": name, "workload": workload, "reps": a.reps, "threads": a.threads}
                res = in_subprocess("bert.worker", spec, {"KERAS_BACKEND": kb})
                rows += [row(r, log, config=name, workload=workload, impl=impl, keras_backend=kb, batch=B, tokens=T,
                             flops=fl) for impl, r in (res.items() if "status" not in res else [(f"keras-{kb}", res)])]
    return {"rows": rows, "targets": targets(rows)}


def targets(rows):
    """Per preset and workload: NumPy's step over the fastest Keras backend's, from the subprocess
    where that backend ran (NumPy was timed beside it there, interleaved: the median of
    per-repetition ratios); the issue's target is <= 1.0."""
    out = []
    for key in dict.fromkeys((r["config"], r["workload"]) for r in rows):
        ok = [r for r in rows if (r["config"], r["workload"]) == key and r["status"] == "ok"]
        keras = [r for r in ok if r["impl"] != "numpy"]
        if not keras:
            continue
        best = min(keras, key=lambda r: r["median_s"])
        numpy = next((r for r in ok if r["impl"] == "numpy" and r["keras_backend"] == best["keras_backend"]), None)
        if numpy is not None:
            out.append(target_entry(*key, numpy, [best]))
    return out


def markdown(result):
    by = {}
    for r in result["rows"]:
        side = "numpy" if r["impl"] == "numpy" else "keras"
        by.setdefault((r["config"], r["workload"], r["keras_backend"]), {})[side] = r
    cell = lambda r: (f"{r['median_s'] * 1e3:.1f} ({r['iqr_s'] * 1e3:.1f})" if r.get("status") == "ok"  # noqa: E731
                      else r.get("status", "—"))
    ok = lambda n, k: n.get("status") == "ok" and k.get("status") == "ok"  # noqa: E731
    cells = [[*key, cell(p.get("numpy", {})), cell(p.get("keras", {})),
              f"{p['numpy']['median_s'] / p['keras']['median_s']:.2f}×" if ok(p.get("numpy", {}), p.get("keras", {}))
              else ""] for key, p in by.items()]
    return app_markdown("BERT benchmark: NumPy vs Keras, training steps", result, targets(result["rows"]),
                        "Keras backend (compiled `train_on_batch`, NumPy timed beside it in that backend's subprocess)",
                        ("config", "workload", "Keras backend", "NumPy median ms (IQR)", "Keras median ms (IQR)",
                         "NumPy ÷ Keras"), cells, "NumPy ÷ Keras below 1: NumPy is faster. Each row's two times come "
                        "from the same subprocess, interleaved.")


def options(p):
    installed = ",".join(b for b in KERAS_BACKENDS if importlib.util.find_spec(b) is not None)
    p.add_argument("--configs", type=csv(tuple(PRESETS)), default="default", help=f"comma list of {','.join(PRESETS)}")
    p.add_argument("--workloads", type=csv(tuple(WORKLOADS)), default=",".join(WORKLOADS),
                   help=f"comma list of {','.join(WORKLOADS)}")
    p.add_argument("--keras-backends", type=csv(KERAS_BACKENDS), default=installed,
                   help=f"comma list of tensorflow,jax,torch (default: those installed, {installed})")
