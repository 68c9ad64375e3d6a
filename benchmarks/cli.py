"""python -m benchmarks: NumPy vs Keras (eager / graph / XLA) timing, FLOPs, MFU, memory,
scaling sweeps, plots and a profile of the NumPy training step."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from types import SimpleNamespace

from . import configs, machine, plots, report, runner

HERE = os.path.dirname(os.path.abspath(__file__))
ALIASES = {"keras": runner.CPU_KERAS, "portable": runner.PORTABLE_KERAS, "gpu": ("keras-gpu", "numpy-cupy"),
           "all": runner.ALL_BACKENDS,
           "cpu": ("numpy",) + runner.CPU_KERAS}
METHOD = [
    "Every implementation of one (config, workload) is timed in the same process: warm-up calls first (the "
    "first call's time, with tracing/XLA compilation, is reported as 'first call'), then the timed "
    "repetitions interleaved round-robin with a rotating order; median, IQR (q1–q3) and min–max are reported.",
    "Workloads: forward = inference forward (dropout off); fwd_bwd = training-mode forward + backward from a "
    "fixed dlogits (Keras: GradientTape of sum(logits·dlogits)); train_step = forward + masked cross-entropy + "
    "backward + Adam (β=0.9/0.98, ε=1e-9, warm-up schedule) update; decode = greedy decoding of the batch for "
    "target-length tokens (<eos> is suppressed so every implementation runs all steps).",
    "Implementations: numpy (NumPy reference; decode with KV cache), numpy-nocache (decoder re-run on the "
    "whole prefix per token), keras-eager, keras-graph (tf.function; decode = keras_transformer.greedy_decode "
    "use_cache=False, the book's way; keras-graph-cache = its key/value-cached default; keras-jax/torch decode cached), "
    "keras-xla (tf.function(jit_compile=True); decode uses a fixed-length pad-filled prefix so one compiled "
    "program serves every step), keras-gpu / numpy-cupy (GPU only; skipped otherwise).",
    "FLOPs: analytic matmul FLOPs (2·m·n·k) from the model shape, backward = 2× forward; decode FLOPs are "
    "those each implementation actually performs (cache / full prefix / padded prefix). GFLOP/s = FLOPs / "
    "median time; MFU = GFLOP/s / measured float32 GEMM peak.",
    "Memory: one fresh subprocess per row; model_peak = VmHWM during 2 steady-state calls (high-water mark "
    "reset after 1 warm-up call) minus VmRSS after importing the libraries; process = the whole VmHWM. "
    "See benchmarks/memory.py.",
    "Threads: NumPy's BLAS pools limited with threadpoolctl, TensorFlow intra_op = inter_op = the same "
    "number, set before TF's first op.",
]


def _csv(s, allowed=None, aliases=None):
    items = []
    for x in (s.split(",") if s else []):
        x = x.strip()
        if not x or x == "none":
            continue
        items += list((aliases or {}).get(x, (x,)))
    if allowed is not None:
        bad = [x for x in items if x not in allowed]
        if bad:
            raise SystemExit(f"unknown value(s) {bad}; choose from {list(allowed)}")
    return list(dict.fromkeys(items))


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny+small only, 3 reps, short sweeps (about 1.5 min on 2 idle cores; "
                   "several times longer when other processes keep the cores busy)")
    p.add_argument("--gpu", action="store_true", help="what a GPU owner wants (under 10 minutes): the book and "
                   "gpu presets, NumPy on CPU and on CuPy, Keras on the GPU (TensorFlow) and on JAX and PyTorch, "
                   "no sweeps or memory rows; rows whose device is missing are skipped with the reason")
    p.add_argument("--tf32", action="store_true", help="let GPU float32 matmuls use TF32 tensor cores on "
                   "every side (CUPY_TF32=1, torch allow_tf32, JAX's default precision); without it all are "
                   "strict float32 (JAX_DEFAULT_MATMUL_PRECISION=highest). Results name the mode")
    p.add_argument("--configs", help="comma list of tiny,small,book,gpu (default: tiny,small,book; quick: tiny,small)")
    p.add_argument("--workloads", help="forward,fwd_bwd,train_step,decode (default: all; quick: no fwd_bwd)")
    p.add_argument("--backends", default="all",
                   help="numpy,keras-eager,keras-graph,keras-xla,keras-gpu,numpy-cupy; aliases keras, gpu, cpu, all")
    p.add_argument("--decode-backends", help="backends timed on decode (default: numpy, keras-graph and the "
                   "GPU ones; quick: also keras-xla). Keras eager/XLA decoding re-run the decoder per token: slow at book size")
    p.add_argument("--reps", type=int, help="timed repetitions per implementation (default 10; quick 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls before timing, the first one "
                   "includes tracing/compilation (default 1)")
    p.add_argument("--threads", type=int, default=machine.available_cores(), help="threads for BLAS and TF")
    p.add_argument("--sweeps", default="batch,seq,d_model", help="batch,seq,d_model or none")
    p.add_argument("--sweep-workloads", help="workloads timed in the sweeps (default train_step; quick: forward)")
    p.add_argument("--sweep-backends", help="backends in the sweeps (default: numpy,keras-graph,keras-xla,gpu; "
                   "quick: numpy,keras-graph)")
    p.add_argument("--memory-workloads", help="workloads whose peak memory is measured (a subprocess "
                   "each), or none (default train_step,decode; quick: train_step)")
    p.add_argument("--memory-configs", help="configs whose memory is measured (default: all run; quick: small)")
    p.add_argument("--memory-backends", help="backends whose memory is measured (default: the CPU "
                   "backends; quick: numpy,keras-graph)")
    p.add_argument("--profile", default="book", help="preset whose NumPy training step is profiled, or none")
    p.add_argument("--cooldown", type=float, default=0.02, help="seconds of idle before each timed call")
    p.add_argument("--out", help="results folder (default benchmarks/results; quick: benchmarks/results/quick)")
    a = p.parse_args(argv)
    if a.gpu:
        a.configs = a.configs or "book,gpu"
        a.backends = "numpy,numpy-cupy,keras-gpu,portable" if a.backends == "all" else a.backends
        a.decode_backends = a.decode_backends or a.backends
        a.sweeps, a.memory_workloads, a.profile = "none", a.memory_workloads or "none", "none"
        a.reps = a.reps or 5
    wl = runner.WORKLOADS
    opts = SimpleNamespace(
        tf32=a.tf32,
        quick=a.quick, threads=a.threads, cooldown=a.cooldown,
        configs=_csv(a.configs or ("tiny,small" if a.quick else "tiny,small,book"), configs.PRESETS),
        workloads=_csv(a.workloads or ("forward,train_step,decode" if a.quick else ",".join(wl)), wl),
        backends=[b for b in _csv(a.backends, runner.ALL_BACKENDS, ALIASES)   # --quick: no subprocess
                  if not (a.quick and a.backends == "all" and b in runner.PORTABLE_KERAS)],  # backends unless named
        reps=a.reps or (3 if a.quick else 10), warmup=max(1, a.warmup),
        sweeps=_csv(a.sweeps, configs.SWEEPS), sweep_workloads=_csv(a.sweep_workloads or ("forward" if a.quick else "train_step"), wl),
        memory_workloads=_csv(a.memory_workloads or ("train_step" if a.quick else "train_step,decode"), wl),
        memory_configs=_csv(a.memory_configs or ("small" if a.quick else ",".join(configs.DEFAULT_PRESETS)),
                            configs.PRESETS),
        memory_backends=_csv(a.memory_backends or "numpy,keras-graph",
                             runner.ALL_BACKENDS, ALIASES),
        profile=None if a.profile == "none" else a.profile,
        out=a.out or os.path.join(HERE, "results", "quick" if a.quick else ""))
    sb = _csv(a.sweep_backends or ("numpy,keras-graph" if a.quick else "numpy,keras-graph,keras-xla,gpu"),
              runner.ALL_BACKENDS, ALIASES)
    db = _csv(a.decode_backends or ("numpy,keras-graph,keras-xla,gpu" if a.quick else "numpy,keras-graph,portable,gpu"),
              runner.ALL_BACKENDS, ALIASES)
    # defaults are limited to --backends; explicit lists are taken as given
    opts.sweep_backends = sb if a.sweep_backends else [b for b in sb if b in opts.backends]
    opts.decode_backends = db if a.decode_backends else [b for b in db if b in opts.backends]
    if opts.profile and opts.profile not in configs.PRESETS:
        raise SystemExit(f"--profile must be one of {list(configs.PRESETS)} or none")
    if opts.quick and a.profile == "book":
        opts.profile = "small"
    return opts


def set_gpu_precision(tf32):
    """Before CuPy or a Keras backend is imported (they read these at import; the keras-jax and
    keras-torch children inherit them): TF32 everywhere, or strict float32 everywhere."""
    os.environ["CUPY_TF32"] = "1" if tf32 else "0"
    os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "default" if tf32 else "highest"
    os.environ["NT_BENCH_TF32"] = "1" if tf32 else "0"     # read by the keras-torch child


def main(argv=None):
    opts = parse_args(argv)
    set_gpu_precision(opts.tf32)
    t_start = time.time()
    os.makedirs(opts.out, exist_ok=True)
    pools = machine.pin_numpy_threads(opts.threads)
    uses_keras = any(b.startswith("keras") for b in opts.backends + opts.sweep_backends + opts.decode_backends)
    tf_threads = None
    if uses_keras and not runner.keras_missing():
        tf_threads = machine.pin_tf_threads(opts.threads)
    info = machine.machine_info(with_tf=uses_keras)
    runner.log(f"benchmarks: {info['cpu_model']}, {opts.threads} threads, configs {opts.configs}, "
               f"backends {opts.backends}, {opts.reps} reps")
    gemm = machine.gemm_peak(repeats=5 if opts.quick else 10, with_tf=tf_threads is not None)
    runner.log(f"GEMM peak: {gemm['peak_gflops']:.1f} GFLOP/s ({gemm})")
    rows = runner.run_main(opts, gemm["peak_gflops"])
    if opts.memory_workloads:
        runner.log("peak memory (one subprocess per implementation)")
        runner.add_memory(rows, opts)
    rows += runner.run_sweeps(opts, gemm["peak_gflops"])
    prof = None
    if opts.profile:
        runner.log(f"profiling the NumPy training step ({opts.profile})")
        prof = __import__("benchmarks.profiling", fromlist=["x"]).profile_train_step(
            opts.profile, steps=2 if opts.quick else 3,
            path=os.path.join(opts.out, f"profile_numpy_{opts.profile}_train_step.txt"))
    result = {
        "meta": {"command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
                 "quick": opts.quick, "options": {k: v for k, v in vars(opts).items()}, "threads": opts.threads,
                 "numpy_threadpools": pools, "tf_threads": tf_threads, "machine": info,
                 "loadavg_at_end": machine.loadavg()},
        "gemm_peak": gemm, "rows": rows, "targets": report.compute_targets(rows), "profile": prof, "method": METHOD,
    }
    result["meta"]["duration_s"] = time.time() - t_start
    meta = result["meta"]          # names the machine in the plots' titles
    result["plots"] = [f for f in [plots.overview_plot(rows, os.path.join(opts.out, "overview.png"), meta)]
                       + [plots.sweep_plot(rows, s, os.path.join(opts.out, f"sweep_{s}.png"), meta) for s in opts.sweeps]
                       if f]
    with open(os.path.join(opts.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1, default=str)
    with open(os.path.join(opts.out, "results.md"), "w") as f:
        f.write(report.markdown(result))
    runner.log(f"wrote {opts.out}/results.json, results.md, {', '.join(result['plots'])} "
               f"in {result['meta']['duration_s']:.0f} s")
    for t in result["targets"]:
        if t["value"] is None:
            runner.log(f"  target {t['key']}: not measured: {t['why_not_measured']}")
        else:
            shown = f"{100 * t['value']:.1f} %" if t["unit"] == "%" else f"{t['value']:.2f}×"
            thr = f"{100 * t['threshold']:.0f} %" if t["unit"] == "%" else f"{t['threshold']:g}×"
            runner.log(f"  target {t['key']}: {shown} ({'pass' if t['passed'] else 'fail'}: {t['op']} {thr})")
    return 0
