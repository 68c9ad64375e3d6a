"""python -m benchmarks.bert: the BERT-style encoder's training steps, NumPy vs Keras on every
installed Keras backend (TensorFlow, JAX, PyTorch).

Workloads: `pretrain_step` (masked-language model: forward with the MLM head at the chosen
positions, masked cross-entropy, backward, Adam with warm-up + cosine) and `finetune_step` (the
[CLS] head on the pair task). Each is the step `python -m numpy_transformer bert pretrain|finetune`
runs: the application's own backends (apps/bert/train.py's NumPy backend with the fast kernels,
keras_transformer/bert_training.py's compiled `train_on_batch`), from the same weights, on the
same synthetic batch (15 % of the tokens chosen, BERT's 80/10/10). Keras fixes its backend at
import, so each Keras backend runs in a subprocess of its own, where its steps are interleaved
with the NumPy backend's (benchmarks/timing.py): every row has a NumPy time measured beside it.
Results: benchmarks/results/bert/results.json and results.md.

Presets: `default` is the model `bert pretrain` trains by default (vocabulary 8,000, d_model 128,
4 heads, d_ff 512, 4 layers), batch 128 of 32 tokens; `tiny` is for tests."""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np

from numpy_transformer.config import BertConfig

from . import machine
from .timing import run_interleaved, small_run

HERE = os.path.dirname(os.path.abspath(__file__))
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
    d, f = cfg.d_model, cfg.d_ff
    layer = 2 * B * T * d * d * 4 + 2 * B * T * T * d * 2 + 2 * B * T * d * f * 2
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
    machine.pin_numpy_threads(spec["threads"])
    if spec["backend"] == "tensorflow":
        machine.pin_tf_threads(spec["threads"])
    elif spec["backend"] == "torch":
        import torch
        torch.set_num_threads(spec["threads"])
    cfg, B, T = PRESETS[spec["preset"]]
    task = WORKLOADS[spec["workload"]]
    args = BertArgs(epochs=1, batch_size=B, warmup_steps=10)
    weights = BertEncoder(cfg, seed=0).state_dict()
    batch = make_batch(cfg, B, T, task)
    backends = {"numpy": make_backend("numpy", cfg, task, args, 1000, weights=weights),
                f"keras-{spec['backend']}": make_backend("keras", cfg, task, args, 1000, weights=weights)}
    rng = np.random.default_rng(0)
    res = run_interleaved({k: (lambda b=b: b.train_step(batch, rng)) for k, b in backends.items()},
                          spec["reps"], warmup=2, cooldown=0.02)
    res.pop("_order", None)
    for r in res.values():
        r.pop("output", None)
    print(json.dumps(res))


def run(presets, workloads, keras_backends, reps, threads, log=print):
    rows = []
    for name in presets:
        cfg, B, T = PRESETS[name]
        for workload in workloads:
            fl = step_flops(cfg, make_batch(cfg, B, T, WORKLOADS[workload]), WORKLOADS[workload])
            for kb in keras_backends:
                spec = {"backend": kb, "preset": name, "workload": workload, "reps": reps, "threads": threads}
                env = {**os.environ, "KERAS_BACKEND": kb, "TF_CPP_MIN_LOG_LEVEL": "3"}
                p = subprocess.run([sys.executable, "-m", "benchmarks.bert", "--worker", json.dumps(spec)],
                                   capture_output=True, text=True, env=env, cwd=os.path.dirname(HERE))
                try:
                    res = json.loads(p.stdout.strip().splitlines()[-1])
                except (IndexError, json.JSONDecodeError):
                    res = {f"keras-{kb}": {"status": f"failed: {p.stderr.strip().splitlines()[-1:]}"}}
                for impl, r in res.items():
                    row = {"config": name, "workload": workload, "impl": impl, "keras_backend": kb, "batch": B,
                           "tokens": T, "flops": fl, "status": r.get("status", "failed"),
                           **{k: r[k] for k in ("median_s", "iqr_s", "min_s", "times_s", "first_call_s") if k in r}}
                    if row["status"] == "ok":
                        row["gflops_per_s"] = fl / r["median_s"] / 1e9
                        log(f"  {name:>8} {workload:<14} {impl:<17} (beside keras-{kb:<10}) median "
                            f"{r['median_s'] * 1e3:8.2f} ms  IQR {r['iqr_s'] * 1e3:6.2f} ms  "
                            f"{row['gflops_per_s']:6.2f} GFLOP/s")
                    rows.append(row)
    return rows


def targets(rows):
    """Per preset and workload: NumPy's step over the fastest Keras backend's, from the subprocess
    where that backend ran (NumPy was timed beside it there, interleaved: the median of
    per-repetition ratios); the issue's target is <= 1.0."""
    from .report import target_entry
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


def markdown(rows, meta):
    from .vit import targets_markdown
    lines = ["# BERT benchmark: NumPy vs Keras, training steps", "",
             f"`{meta['command']}` — git {meta.get('git')}, {meta['threads']} thread(s), {meta['cpu']}, load average "
             f"before/after {meta['load_before']} / {meta['load_after']}.", ""]
    ts = targets(rows)
    if ts:
        lines += targets_markdown(ts, "Keras backend (compiled `train_on_batch`, NumPy timed beside it in that "
                                      "backend's subprocess)")
    lines += ["## Results", "",
             "| config | workload | Keras backend | NumPy median ms (IQR) | Keras median ms (IQR) | NumPy ÷ Keras |",
             "|---|---|---|---|---|---|"]
    by = {}
    for r in rows:
        by.setdefault((r["config"], r["workload"], r["keras_backend"]), {})[
            "numpy" if r["impl"] == "numpy" else "keras"] = r
    for (cfg, wl, kb), pair in by.items():
        n, k = pair.get("numpy", {}), pair.get("keras", {})

        def cell(r):
            return (f"{r['median_s'] * 1e3:.1f} ({r['iqr_s'] * 1e3:.1f})" if r.get("status") == "ok"
                    else r.get("status", "—"))
        ratio = (f"{n['median_s'] / k['median_s']:.2f}×" if n.get("status") == "ok" and k.get("status") == "ok"
                 else "")
        lines.append(f"| {cfg} | {wl} | {kb} | {cell(n)} | {cell(k)} | {ratio} |")
    lines += ["", "NumPy ÷ Keras below 1: NumPy is faster. Each row's two times come from the same subprocess, "
              "interleaved."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.bert", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="default", help=f"comma list of {','.join(PRESETS)}")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma list of {','.join(WORKLOADS)}")
    p.add_argument("--keras-backends", default="installed",
                   help="comma list of tensorflow,jax,torch, or 'installed' (every one that imports)")
    p.add_argument("--reps", type=int, default=10, help="timed steps per implementation")
    p.add_argument("--threads", type=int, default=machine.available_cores(), help="BLAS / framework threads")
    p.add_argument("--out", default=os.path.join(HERE, "results", "bert"), help="where results.json/.md go")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return worker(json.loads(a.worker))
    presets, workloads = a.configs.split(","), a.workloads.split(",")
    kbs = ([b for b in KERAS_BACKENDS if importlib.util.find_spec(b) is not None]
           if a.keras_backends == "installed" else a.keras_backends.split(","))
    for items, allowed, what in ((presets, PRESETS, "config"), (workloads, WORKLOADS, "workload"),
                                 (kbs, KERAS_BACKENDS, "Keras backend")):
        bad = [x for x in items if x not in allowed]
        if bad:
            p.error(f"unknown {what}(s) {bad}; choose from {list(allowed)}")
    command = "python -m benchmarks.bert " + " ".join(sys.argv[1:] if argv is None else argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    return small_run(command, a.threads, lambda: run(presets, workloads, kbs, a.reps, a.threads, log=log), a.out,
                     markdown, targets)


if __name__ == "__main__":
    sys.exit(main())
