"""python -m benchmarks.breakdown: where each model's NumPy training step spends its time.

For the translation model at the book config, ViT `cifar-tiny` and BERT `default` (pre-training
and fine-tuning), the step the harnesses time (benchmarks/np_backend.py, benchmarks/vit.py,
benchmarks/bert.py: fast kernels, float32) is timed without a profiler (median of --reps), then
profiled with cProfile, and each function's self time is put in one category (CATEGORIES).
Beside it: the step's matmul FLOPs at the GEMM peak NumPy's BLAS measures here (best of 10
2048×2048 products), i.e. the least time any implementation with these GEMMs could take on
this machine; what the step takes above that is what is left to win.

Results: benchmarks/results/breakdown/results.json and results.md."""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import time

import numpy as np

from . import machine

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ("translation-book", "vit-cifar-tiny", "bert-pretrain", "bert-finetune")

# (category, predicate on (file tail "dir/file.py", function name)); the first that matches wins
CATEGORIES = (
    ("2-D GEMMs (projections, FFN, output layer; dW, db)",
     lambda f, fn: f == "ops/linear.py" or fn in ("<built-in method numpy.matmul>",)),
    ("attention core (batched QKᵀ and PV, softmax, masks, head split/merge)",
     lambda f, fn: f == "fast/attention.py" or f == "fast/subnormal.py"),
    ("GELU", lambda f, fn: f == "fast/gelu.py"),
    ("layer norm", lambda f, fn: f == "fast/layernorm.py"),
    ("dropout masks", lambda f, fn: f == "ops/dropout.py"),
    ("loss (softmax cross-entropy over the vocabulary)", lambda f, fn: f in ("fast/loss.py", "ops/loss.py")),
    ("optimizer (Adam, its threads, clipping)",
     lambda f, fn: f in ("fast/adam.py", "ops/optim.py") or "acquire" in fn or f.startswith("futures/") or f.endswith("/threading.py")),
    ("embeddings and their scatter-add",
     lambda f, fn: f in ("ops/embedding.py", "ops/bert.py", "ops/patches.py") or "'at'" in fn),
    ("reductions (np.sum / mean / max called above)", lambda f, fn: "reduce" in fn),
    ("residuals, reshapes, copies and Python glue", lambda f, fn: True),
)


def _tail(path):
    parts = path.replace(os.sep, "/").split("/")
    return "/".join(parts[-2:])


def step_for(model):
    """(zero-argument step, matmul FLOPs of one step, description) as the harnesses build them."""
    if model == "translation-book":
        from . import configs, flops, np_backend
        preset = configs.PRESETS["book"]
        m = np_backend.make_model(preset.cfg, configs.shared_state(preset.cfg))
        data = configs.make_batch(preset.cfg, preset.shape)
        step = np_backend.workloads(m, "train_step", preset.shape, data)["numpy"]
        return step, flops.workload_flops("train_step", preset.cfg, preset.shape), \
            f"translation, book config, batch {preset.shape.batch}"
    if model == "vit-cifar-tiny":
        from numpy_transformer import VisionTransformer
        from . import vit
        cfg, B = vit.PRESETS["cifar-tiny"]
        state = VisionTransformer(cfg).state_dict()
        step = vit.numpy_workloads(cfg, state, "train_step", vit.make_data(cfg, B))["numpy"]
        return step, vit.workload_flops("train_step", cfg, B), f"ViT cifar-tiny, batch {B}"
    from numpy_transformer.apps.bert.train import BertArgs, make_backend
    from numpy_transformer.models import BertEncoder
    from . import bert
    workload = "pretrain_step" if model == "bert-pretrain" else "finetune_step"
    cfg, B, T = bert.PRESETS["default"]
    task = bert.WORKLOADS[workload]
    backend = make_backend("numpy", cfg, task, BertArgs(epochs=1, batch_size=B, warmup_steps=10), 1000,
                           weights=BertEncoder(cfg, seed=0).state_dict())
    batch, rng = bert.make_batch(cfg, B, T, task), np.random.default_rng(0)
    return (lambda: backend.train_step(batch, rng)), bert.step_flops(cfg, batch, task), \
        f"BERT default, {workload}, batch {B}×{T}"


def breakdown(model, reps, profiled, peak_gflops):
    step, flops, what = step_for(model)
    for _ in range(2):
        step()                                   # warm-up: Adam's moments, buffers
    times = []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(profiled):
        step()
    prof.disable()
    stats = pstats.Stats(prof)
    cats = {name: 0.0 for name, _ in CATEGORIES}
    for (path, _line, fn), v in stats.stats.items():
        tail = _tail(path)
        for name, pred in CATEGORIES:
            if pred(tail, fn):
                cats[name] += v[2] / profiled
                break
    total = sum(cats.values())
    median = float(np.median(times))
    gemm_floor = flops / (peak_gflops * 1e9)
    return {"model": model, "what": what, "median_s": median, "times_s": times, "flops": flops,
            "gemm_floor_s": gemm_floor, "profiled_total_s": total,
            "page_faults_per_step": (r1.ru_minflt - r0.ru_minflt) / reps,
            "system_s_per_step": (r1.ru_stime - r0.ru_stime) / reps,
            "categories_s": {k: v for k, v in cats.items()},
            "categories_share": {k: v / total for k, v in cats.items()}}


def markdown(rows, meta):
    lines = ["# Where the NumPy training step's time goes", "",
             f"`{meta['command']}` — git {meta['git']}, {meta['threads']} thread(s), {meta['cpu']}, NumPy GEMM peak "
             f"{meta['peak_gflops']:.1f} GFLOP/s (best of 10 2048² float32 products), load average before/after "
             f"{meta['load_before']} / {meta['load_after']}.", "",
             "Step: median without a profiler. GEMM floor: the step's matmul FLOPs at that peak. Page faults "
             "and system time: per unprofiled step (getrusage). The categories are cProfile self times per step, "
             "scaled to the unprofiled median (cProfile adds its own overhead to every Python call).", ""]
    names = [name for name, _ in CATEGORIES]
    lines += ["| | " + " | ".join(r["model"] for r in rows) + " |", "|---|" + "---|" * len(rows)]
    lines.append("| step (median ms) | " + " | ".join(f"{r['median_s'] * 1e3:.0f}" for r in rows) + " |")
    lines.append("| GEMM floor at the peak (ms) | " + " | ".join(f"{r['gemm_floor_s'] * 1e3:.0f}" for r in rows) + " |")
    lines.append("| page faults per step | " + " | ".join(f"{r['page_faults_per_step']:.0f}" for r in rows) + " |")
    lines.append("| system (kernel) time per step (ms) | " + " | ".join(
        f"{r['system_s_per_step'] * 1e3:.0f}" for r in rows) + " |")
    for n in names:
        lines.append(f"| {n} | " + " | ".join(
            f"{r['categories_share'][n] * r['median_s'] * 1e3:.0f} ({100 * r['categories_share'][n]:.0f} %)"
            for r in rows) + " |")
    lines += ["", "; ".join(f"{r['model']}: {r['what']}" for r in rows) + "."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.breakdown", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma list of {','.join(MODELS)}")
    p.add_argument("--reps", type=int, default=10, help="unprofiled steps timed per model")
    p.add_argument("--profiled", type=int, default=3, help="steps under cProfile per model")
    p.add_argument("--threads", type=int, default=machine.available_cores())
    p.add_argument("--out", default=os.path.join(HERE, "results", "breakdown"))
    a = p.parse_args(argv)
    models = a.models.split(",")
    bad = [m for m in models if m not in MODELS]
    if bad:
        p.error(f"unknown model(s) {bad}; choose from {list(MODELS)}")
    import json
    machine.pin_numpy_threads(a.threads)
    peak = machine.gemm_peak(with_tf=False)["numpy_gflops"]
    meta = {"command": "python -m benchmarks.breakdown " + " ".join(sys.argv[1:] if argv is None else argv),
            "git": machine.machine_info(with_tf=False)["git_head"], "threads": a.threads,
            "cpu": machine.machine_info(with_tf=False)["cpu_model"], "peak_gflops": peak,
            "load_before": [round(x, 2) for x in machine.loadavg()]}
    rows = []
    for m in models:
        rows.append(breakdown(m, a.reps, a.profiled, peak))
        r = rows[-1]
        print(f"  {m:<18} step {r['median_s'] * 1e3:7.1f} ms, GEMM floor {r['gemm_floor_s'] * 1e3:6.1f} ms",
              file=sys.stderr, flush=True)
    meta["load_after"] = [round(x, 2) for x in machine.loadavg()]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(markdown(rows, meta))
    print(f"wrote {a.out}/results.json and results.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
