"""python tools/breakdown.py: where each model's NumPy training step spends its time: the step
the harnesses time (fast kernels, float32), timed without a profiler, then cProfile's self time of
each function put in one of CATEGORIES, beside the step's GEMM floor (its matmul FLOPs at the GEMM
peak NumPy's BLAS reaches here).

A finished experiment (its conclusion: docs/performance.md), moved out of the benchmark package;
it runs through the harness's entry point (benchmarks.cli.run_module) and --save replaces the
stored benchmarks/results/breakdown/. The translation harness's `--profile` is benchmarks/profile.py."""
from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run as a script from anywhere

import numpy as np  # noqa: E402

from benchmarks import machine  # noqa: E402
from benchmarks.cli import csv, run_module  # noqa: E402
from benchmarks.profile import cprofile, file_tail, translation_step  # noqa: E402
from benchmarks.report import header  # noqa: E402
from numpy_transformer.cli.options import positive_int  # noqa: E402

STORED, REPS = "breakdown", 10
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
     lambda f, fn: f in ("fast/adam.py", "ops/optim.py") or "acquire" in fn or f.startswith("futures/")
     or f.endswith("/threading.py")),
    ("embeddings and their scatter-add",
     lambda f, fn: f in ("ops/embedding.py", "ops/bert.py", "ops/patches.py") or "'at'" in fn),
    ("reductions (np.sum / mean / max called above)", lambda f, fn: "reduce" in fn),
    ("residuals, reshapes, copies and Python glue", lambda f, fn: True),
)


def step_for(model):
    """(zero-argument step, matmul FLOPs of one step, description) as the harnesses build them."""
    if model == "translation-book":
        return translation_step("book")
    if model == "vit-cifar-tiny":
        from numpy_transformer import VisionTransformer
        from benchmarks import vit
        cfg, B = vit.PRESETS["cifar-tiny"]
        state = VisionTransformer(cfg).state_dict()
        step = vit.numpy_workloads(cfg, state, "train_step", vit.make_data(cfg, B))["numpy"]
        return step, vit.workload_flops("train_step", cfg, B), f"ViT cifar-tiny, batch {B}"
    from numpy_transformer.apps.bert.train import BertArgs, make_backend
    from numpy_transformer.models import BertEncoder
    from benchmarks import bert
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
    r0, times = resource.getrusage(resource.RUSAGE_SELF), []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cats = dict.fromkeys((name for name, _ in CATEGORIES), 0.0)
    for (path, _line, fn), v in cprofile(step, profiled, warmup=0).stats.items():
        cats[next(name for name, pred in CATEGORIES if pred(file_tail(path), fn))] += v[2] / profiled
    total = sum(cats.values())
    return {"model": model, "what": what, "median_s": float(np.median(times)), "times_s": times, "flops": flops,
            "gemm_floor_s": flops / (peak_gflops * 1e9), "profiled_total_s": total,
            "page_faults_per_step": (r1.ru_minflt - r0.ru_minflt) / reps,
            "system_s_per_step": (r1.ru_stime - r0.ru_stime) / reps,
            "categories_s": cats, "categories_share": {k: v / total for k, v in cats.items()}}


def run(a, log, meta):
    meta["machine"] = machine.machine_info(with_tf=False)
    meta["peak_gflops"] = peak = machine.gemm_peak(with_tf=False)["numpy_gflops"]
    rows = []
    for m in a.models:
        rows.append(breakdown(m, a.reps, a.profiled, peak))
        log(f"  {m:<18} step {rows[-1]['median_s'] * 1e3:7.1f} ms, GEMM floor {rows[-1]['gemm_floor_s'] * 1e3:6.1f} ms")
    return {"rows": rows}


def markdown(result):
    rows, meta = result["rows"], result["meta"]
    lines = ["# Where the NumPy training step's time goes", "", header(meta), "",
             f"NumPy GEMM peak {meta['peak_gflops']:.1f} GFLOP/s (best of 10 2048² float32 products). "
             "Step: median without a profiler. GEMM floor: the step's matmul FLOPs at that peak. Page faults "
             "and system time: per unprofiled step (getrusage). The categories are cProfile self times per step, "
             "scaled to the unprofiled median (cProfile adds its own overhead to every Python call).", ""]
    col = lambda f: " | ".join(f(r) for r in rows) + " |"  # noqa: E731
    lines += ["| | " + col(lambda r: r["model"]), "|---|" + "---|" * len(rows),
              "| step (median ms) | " + col(lambda r: f"{r['median_s'] * 1e3:.0f}"),
              "| GEMM floor at the peak (ms) | " + col(lambda r: f"{r['gemm_floor_s'] * 1e3:.0f}"),
              "| page faults per step | " + col(lambda r: f"{r['page_faults_per_step']:.0f}"),
              "| system (kernel) time per step (ms) | " + col(lambda r: f"{r['system_s_per_step'] * 1e3:.0f}")]
    lines += [f"| {n} | " + col(lambda r: f"{r['categories_share'][n] * r['median_s'] * 1e3:.0f} "
                                           f"({100 * r['categories_share'][n]:.0f} %)") for n, _ in CATEGORIES]
    return "\n".join(lines + ["", "; ".join(f"{r['model']}: {r['what']}" for r in rows) + "."]) + "\n"


def options(p):
    p.add_argument("--models", type=csv(MODELS), default=",".join(MODELS), help=f"comma list of {','.join(MODELS)}")
    p.add_argument("--profiled", type=positive_int, default=3, help="steps under cProfile per model")


def main(argv=None):
    return run_module(sys.modules[__name__], "breakdown", sys.argv[1:] if argv is None else argv,
                      prog="python tools/breakdown.py")


if __name__ == "__main__":
    raise SystemExit(main())
