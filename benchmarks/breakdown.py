"""python -m benchmarks breakdown: where each model's NumPy training step spends its time: the
step the harnesses time (fast kernels, float32), timed without a profiler, then cProfile's self
time of each function put in one of CATEGORIES, beside the step's GEMM floor (its matmul FLOPs at
the GEMM peak NumPy's BLAS reaches here). Also the translation harness's `--profile` listing."""
from __future__ import annotations

import cProfile
import io
import os
import pstats
import resource
import time

import numpy as np

from numpy_transformer.cli.options import positive_int

from . import machine
from .cli import csv
from .report import header

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


def _tail(path):
    parts = path.replace(os.sep, "/").split("/")
    return "/".join(parts[-2:])


def translation_step(preset_name):
    """The translation harness's NumPy training step (np_backend.py) at a preset, its FLOPs, a description."""
    from . import configs, flops, np_backend
    preset = configs.PRESETS[preset_name]
    m = np_backend.make_model(preset.cfg, configs.shared_state(preset.cfg))
    step = np_backend.workloads(m, "train_step", preset.shape, configs.make_batch(preset.cfg, preset.shape))["numpy"]
    return step, flops.workload_flops("train_step", preset.cfg, preset.shape), \
        f"translation, {preset_name} config, batch {preset.shape.batch}"


def step_for(model):
    """(zero-argument step, matmul FLOPs of one step, description) as the harnesses build them."""
    if model == "translation-book":
        return translation_step("book")
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


def _profile(step, steps, warmup=1):
    for _ in range(warmup):
        step()                                   # Adam's moments, buffers
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    return pstats.Stats(prof)


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
    for (path, _line, fn), v in _profile(step, profiled, warmup=0).stats.items():
        cats[next(name for name, pred in CATEGORIES if pred(_tail(path), fn))] += v[2] / profiled
    total = sum(cats.values())
    return {"model": model, "what": what, "median_s": float(np.median(times)), "times_s": times, "flops": flops,
            "gemm_floor_s": flops / (peak_gflops * 1e9), "profiled_total_s": total,
            "page_faults_per_step": (r1.ru_minflt - r0.ru_minflt) / reps,
            "system_s_per_step": (r1.ru_stime - r0.ru_stime) / reps,
            "categories_s": cats, "categories_share": {k: v / total for k, v in cats.items()}}


def profile_train_step(preset_name="book", steps=3, path=None, top=25):
    """cProfile of the translation harness's NumPy training step at a preset: the hot functions
    by self time per step, and the whole listing in the text file `path`."""
    from .configs import PRESETS
    preset = PRESETS[preset_name]
    stats = _profile(translation_step(preset_name)[0], steps)
    total = stats.total_tt
    label = lambda p, line, fn: fn if p == "~" else f"{_tail(p)}:{line}({fn})"  # noqa: E731  "~": builtins, C
    by_self_time = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
    hot = [{"function": label(*k), "tottime_s": v[2] / steps, "cumtime_s": v[3] / steps, "calls": v[1] // steps,
            "share": v[2] / total if total else None} for k, v in by_self_time]
    text = io.StringIO()
    text.write(f"NumPy training step at the {preset_name} config ({preset.cfg.to_dict()}, shape "
               f"{preset.shape.to_dict()}), {steps} profiled steps after 1 warm-up, cProfile; times per step.\n\n"
               f"total per step (under cProfile): {total / steps:.3f} s\n\nTop functions by self time (tottime):\n"
               f"{'tottime s':>10} {'share':>7} {'cumtime s':>10} {'calls':>7}  function\n")
    for h in hot:
        text.write(f"{h['tottime_s']:10.4f} {100 * h['share']:6.1f}% {h['cumtime_s']:10.4f} {h['calls']:7d}  "
                   f"{h['function']}\n")
    stats.stream = text
    text.write("\nBy cumulative time (cProfile, totals over all profiled steps):\n")
    stats.sort_stats("cumulative").print_stats(30)
    if path:
        with open(path, "w") as f:
            f.write(text.getvalue())
    return {"config": preset_name, "steps": steps, "tool": "cProfile", "total_s_per_step": total / steps, "top": hot,
            "file": os.path.basename(path) if path else None}


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
