"""python -m benchmarks.freed_memory: an experiment on the NumPy steps' page faults.

A NumPy step allocates its activations afresh every step and frees them at its end; glibc hands
large blocks back to the system (munmap, heap trimming), so the next step's arrays are fresh
pages that the kernel zeroes on first touch: at ViT-Tiny size ~18 000 page faults and ~70 ms of
system time per step (benchmarks/breakdown.py counts them). TensorFlow and JAX keep their own
memory pools. The experiment keeps freed memory in the process with two glibc settings
(mallopt: M_MMAP_THRESHOLD = 32 MiB, glibc's largest, so blocks below it come from the heap,
which reuses them; M_TRIM_THRESHOLD = 1 GiB, so the heap's free top is not given back) and
times each model's step with and without them.

The settings are process-wide and cannot be undone, so each measurement is a fresh subprocess,
glibc's defaults and kept alternating (which goes first alternates too), --rounds times per
model. Each subprocess times --reps steps after two warm-up steps (the steps of
benchmarks/breakdown.py) and counts the page faults and the system time they took. Results:
benchmarks/results/freed_memory/results.json and results.md; what they showed, and why the
package does not set this: docs/performance.md."""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

from . import machine
from .timing import small_run

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ("vit-cifar-tiny", "bert-finetune", "translation-book")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # glibc's mallopt parameter numbers (malloc.h)


def glibc():
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def keep_freed_memory():
    """The two mallopt calls; True when glibc took both."""
    libc = ctypes.CDLL("libc.so.6")
    return libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1


def child(model, mode, reps, threads):
    from .breakdown import step_for
    state = keep_freed_memory() if mode == "kept" else "glibc's defaults"
    if state is False:
        raise SystemExit("mallopt refused the thresholds")
    machine.pin_numpy_threads(threads)
    step, _, _ = step_for(model)
    for _ in range(2):
        step()
    r0, times = resource.getrusage(resource.RUSAGE_SELF), []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"state": "kept" if state is True else state, "median_s": float(np.median(times)), "times_s": times,
                      "page_faults_per_step": (r1.ru_minflt - r0.ru_minflt) / reps,
                      "system_s_per_step": (r1.ru_stime - r0.ru_stime) / reps}))


def run(models, rounds, reps, threads, log=print):
    rows = []
    for model in models:
        runs = {"default": [], "kept": []}
        for r in range(rounds):
            for mode in (("default", "kept") if r % 2 == 0 else ("kept", "default")):
                env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
                p = subprocess.run([sys.executable, "-m", "benchmarks.freed_memory", "--child", f"{model}:{mode}",
                                    "--reps", str(reps), "--threads", str(threads)], capture_output=True, text=True,
                                   env=env, cwd=os.path.dirname(HERE))
                res = json.loads(p.stdout.strip().splitlines()[-1])
                runs[mode].append(res)
                log(f"  {model:<18} {mode:<8} {res['median_s'] * 1e3:8.1f} ms  "
                    f"{res['page_faults_per_step']:7.0f} faults/step  {res['system_s_per_step'] * 1e3:5.1f} ms system")
        row = {"model": model, "runs": runs}
        for mode, rs in runs.items():
            row[mode] = {k: float(np.median([x[k] for x in rs]))
                         for k in ("median_s", "page_faults_per_step", "system_s_per_step")}
        row["speedup"] = row["default"]["median_s"] / row["kept"]["median_s"]
        rows.append(row)
    return rows


def markdown(rows, meta):
    lines = ["# Keeping freed memory in the process (an experiment: benchmarks/freed_memory.py)", "",
             f"`{meta['command']}` — git {meta.get('git')}, {meta['threads']} thread(s), {meta['cpu']}, load average "
             f"before/after {meta['load_before']} / {meta['load_after']}. Medians over the rounds (each round: one "
             "fresh process per setting, alternating which goes first) of each process's median step.", "",
             "| model | step, glibc defaults (ms) | step, kept (ms) | default ÷ kept | page faults per step (default → kept) "
             "| system time per step, ms (default → kept) |", "|---|---|---|---|---|---|"]
    for r in rows:
        d, k = r["default"], r["kept"]
        lines.append(f"| {r['model']} | {d['median_s'] * 1e3:.0f} | {k['median_s'] * 1e3:.0f} | {r['speedup']:.2f}× | "
                     f"{d['page_faults_per_step']:.0f} → {k['page_faults_per_step']:.0f} | "
                     f"{d['system_s_per_step'] * 1e3:.0f} → {k['system_s_per_step'] * 1e3:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.freed_memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma list of {','.join(MODELS)}")
    p.add_argument("--rounds", type=int, default=4, help="processes per setting and model")
    p.add_argument("--reps", type=int, default=8, help="timed steps per process")
    p.add_argument("--threads", type=int, default=machine.available_cores())
    p.add_argument("--out", default=os.path.join(HERE, "results", "freed_memory"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        model, mode = a.child.split(":")
        return child(model, mode, a.reps, a.threads)
    if not glibc():
        p.error("the experiment sets glibc's malloc thresholds: it needs Linux with glibc")
    models = a.models.split(",")
    bad = [m for m in models if m not in MODELS]
    if bad:
        p.error(f"unknown model(s) {bad}; choose from {list(MODELS)}")
    command = "python -m benchmarks.freed_memory " + " ".join(sys.argv[1:] if argv is None else argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    return small_run(command, a.threads, lambda: run(models, a.rounds, a.reps, a.threads, log=log), a.out, markdown)


if __name__ == "__main__":
    sys.exit(main())
