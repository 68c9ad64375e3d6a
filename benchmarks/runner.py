"""The translation harness (`python -m benchmarks`): every selected implementation of one
(config, workload) interleaved in one process, then per-implementation memory in subprocesses,
the scaling sweeps and a profile of the NumPy training step; the targets and plots of the run."""
from __future__ import annotations

import functools
import gc
import sys
import time

import numpy as np

from numpy_transformer.training.keras_import import quiet_tensorflow

from . import configs, flops, gpu, machine, memory
from .timing import row as timing_row, run_interleaved, skipper

CPU_KERAS = ("keras-eager", "keras-graph", "keras-xla")
PORTABLE_KERAS = ("keras-jax", "keras-torch")   # other Keras backends: a subprocess each (keras_portable.py)
ALL_BACKENDS = ("numpy",) + CPU_KERAS + PORTABLE_KERAS + ("keras-gpu", "numpy-cupy")
WORKLOADS = ("forward", "fwd_bwd", "train_step", "decode")
DECODE_MODE = {"numpy": "cache", "numpy-cupy": "cache", "numpy-nocache": "nocache",
               "numpy-nocache-cupy": "nocache", "keras-eager": "nocache_all", "keras-graph": "nocache_all",
               "keras-gpu": "nocache_all", "keras-xla": "padded", "keras-jax": "cache_slots",
               "keras-torch": "cache_slots", "keras-graph-cache": "cache_slots"}


def log(msg):           # run() replaces it with the entry point's timestamped log
    print(msg, file=sys.stderr, flush=True)


def keras_missing():
    try:
        with quiet_tensorflow():
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
            import keras_transformer  # noqa: F401
    except ImportError as e:
        return f"keras not available ({e})"
    return None


class Models:
    """One NumPy and one Keras model per preset, built from the same shared state when first asked for."""

    def __init__(self, preset):
        self.preset, self.state = preset, configs.shared_state(preset.cfg)

    @functools.cached_property
    def numpy(self):
        from . import np_backend
        return np_backend.make_model(self.preset.cfg, self.state)

    @functools.cached_property
    def keras(self):
        from . import keras_backend
        return keras_backend.make_model(self.preset.cfg, self.state)


def implementations(models, workload, backends, data):
    """{impl name: callable} for the selected backends (decode's numpy gives two)."""
    preset, fns = models.preset, {}
    if "numpy" in backends:
        from . import np_backend
        fns.update(np_backend.workloads(models.numpy, workload, preset.shape, data))
    modes = [b for b in CPU_KERAS if b in backends]
    if modes and keras_missing():
        fns.update({m: skipper(keras_missing()) for m in modes})
    elif modes:
        from . import keras_backend
        fns.update(keras_backend.workloads(models.keras, workload, preset.shape, data, modes=modes))
    if "keras-gpu" in backends:
        fns.update(gpu.keras_gpu(preset.cfg, models.state, workload, preset.shape, data))
    if "numpy-cupy" in backends:
        fns.update(gpu.numpy_cupy(preset.cfg, models.state, workload, preset.shape, data))
    return fns


def _host(tokens):
    return np.asarray(tokens.get() if hasattr(tokens, "get") else tokens)      # CuPy's to the host


def compare(models, workload, backends, opts, peak_gflops, extra=None):
    """Time every implementation of one workload, interleaved. Returns result rows."""
    preset = models.preset
    cfg, shape = preset.cfg, preset.shape
    data = configs.make_batch(cfg, shape)
    fns = implementations(models, workload, backends, data)
    load_before, cpu0, t0 = machine.loadavg(), machine.cpu_sample(), time.time()
    res = run_interleaved(fns, opts.reps, opts.warmup, opts.cooldown, log=log)
    paired_numpy = {}
    for impl in (b for b in PORTABLE_KERAS if b in backends):
        from . import keras_portable
        sub = keras_portable.run(impl, preset, workload, opts)
        res[impl] = {"output": None, **sub[impl]}
        if sub.get("numpy", {}).get("median_s"):
            paired_numpy[impl] = sub["numpy"]["median_s"]   # NumPy timed beside it, in that process
        fns[impl] = None
    other = machine.foreign_cpu(cpu0, machine.cpu_sample(), time.time() - t0)
    ref = res.get("numpy", {}).get("output") if workload == "decode" else None
    ref = None if ref is None else _host(ref)
    rows = []
    for impl in fns:
        r = res[impl]
        row = timing_row(r, log, config=preset.name, workload=workload, impl=impl, **shape.to_dict(),
                         d_model=cfg.d_model, num_layers=cfg.num_layers, loadavg_before=load_before,
                         loadavg_after=machine.loadavg(), other_processes_cores=other, **(extra or {}),
                         flops=flops.workload_flops(workload, cfg, shape, DECODE_MODE.get(impl, "cache")))
        if "gflops_per_s" in row:
            row["mfu"] = row["gflops_per_s"] / peak_gflops
        if impl in paired_numpy:
            row["numpy_same_process_median_s"] = paired_numpy[impl]
        if workload == "decode" and r["output"] is not None:
            tokens = _host(r["output"])
            row["decoded_len"] = int(tokens.shape[1])
            if ref is not None and impl != "numpy":     # the share of tokens equal to NumPy's KV-cache decoder's
                row["tokens_agree_with_numpy"] = float(np.mean(tokens == ref)) if tokens.shape == ref.shape else 0.0
        rows.append(row)
    if other is not None and other > 0.25:
        log(f"  note: other processes used {other:.2f} cores on average during this comparison")
    del fns, res
    gc.collect()
    return rows


def _release():
    gc.collect()
    if not keras_missing():
        import keras
        keras.backend.clear_session()
        gc.collect()


def run_all(opts, peak_gflops):
    """Every config's workloads, then the sweeps' points (presets of their own), a preset at a time."""
    plan = [(configs.PRESETS[name], opts.workloads, None) for name in opts.configs]
    plan += [(preset, opts.sweep_workloads, {"sweep": sweep, "x": x})
             for sweep in opts.sweeps for x, preset in configs.sweep_points(sweep, opts.quick)]
    rows = []
    for preset, workloads, extra in plan:
        models = Models(preset)
        for workload in workloads:
            backends = opts.sweep_backends if extra else opts.decode_backends if workload == "decode" else opts.backends
            rows += compare(models, workload, backends, opts, peak_gflops, extra)
        del models
        _release()
    return rows


def add_memory(rows, opts):
    """Peak memory (subprocess per row) for the rows of the selected workloads that ran."""
    for row in rows:
        if (row["status"] != "ok" or row["workload"] not in opts.memory_workloads
                or row["config"] not in opts.memory_configs
                or row["impl"].replace("-nocache", "") not in opts.memory_backends
                or row["impl"] in ("keras-gpu",) + PORTABLE_KERAS or row["impl"].endswith("cupy")):
            continue
        preset = configs.PRESETS[row["config"]]
        row["memory"] = memory.measure(preset.cfg, preset.shape, row["workload"], row["impl"], opts.threads)
        m = row["memory"]
        log(f"  memory {row['config']:>6} {row['workload']:<10} {row['impl']:<14} "
            + (f"model+step peak {m['model_peak_mb']:8.1f} MB (process {m['peak_rss_mb']:.0f} MB)"
               if m["status"] == "ok" else m["status"]))
    return rows


def run(a, logger, meta):
    """The whole run: its rows, targets, GEMM peak, profile and plots (cli.py writes them)."""
    global log
    log = logger
    from . import plots, report
    uses_keras = any(b.startswith("keras") for b in a.backends + a.sweep_backends + a.decode_backends)
    meta["tf_threads"] = machine.pin_tf_threads(a.threads) if uses_keras and not keras_missing() else None
    meta["machine"] = info = machine.machine_info(with_tf=uses_keras)
    log(f"benchmarks: {info['cpu_model']}, {a.threads} threads, configs {a.configs}, backends {a.backends}, "
        f"{a.reps} reps")
    gemm = machine.gemm_peak(repeats=5 if a.quick else 10, with_tf=meta["tf_threads"] is not None)
    log(f"GEMM peak: {gemm['peak_gflops']:.1f} GFLOP/s ({gemm})")
    rows = run_all(a, gemm["peak_gflops"])
    if a.memory_workloads:
        log("peak memory (one subprocess per implementation)")
        add_memory(rows, a)
    prof = None
    if a.profile:
        log(f"profiling the NumPy training step ({a.profile})")
        from .profile import profile_train_step
        prof = profile_train_step(a.profile, 2 if a.quick else 3, f"{a.out}/profile_numpy_{a.profile}_train_step.txt")
    targets = report.compute_targets(rows, quick=a.quick)
    pngs = [plots.overview_plot(rows, f"{a.out}/overview.png", meta)]
    pngs += [plots.sweep_plot(rows, s, f"{a.out}/sweep_{s}.png", meta) for s in a.sweeps]
    return {"gemm_peak": gemm, "rows": rows, "targets": targets, "profile": prof, "files": [f for f in pngs if f],
            "closing": report.target_lines(targets)}
