"""Interleaved timing of several implementations of one workload, and summary statistics.

All implementations of a comparison are measured in the same process and the same time
window: after their warm-up calls, repetition r runs every implementation once, in an order
rotated by r (round-robin), so slow drifts of the machine (other processes, thermal state)
hit all of them alike and their ratios stay meaningful on a noisy machine."""
from __future__ import annotations

import gc
import time

import numpy as np


class Skip(Exception):
    """An implementation that cannot run here (no GPU, package missing); the message says why."""


def summarize(times):
    """median, quartiles (IQR), min/max, mean of a list of seconds."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        return {}
    q1, med, q3 = np.percentile(t, [25, 50, 75])
    return {"n": int(t.size), "median_s": float(med), "q1_s": float(q1), "q3_s": float(q3),
            "iqr_s": float(q3 - q1), "min_s": float(t.min()), "max_s": float(t.max()),
            "mean_s": float(t.mean()), "rel_iqr": float((q3 - q1) / med) if med > 0 else None}


def run_interleaved(fns, reps, warmup=1, cooldown=0.0, clock=time.perf_counter, log=None):
    """fns: {name: zero-argument callable}. Each callable runs `warmup` times (the first call's
    time, which includes tracing/compilation, is kept as first_call_s), then `reps` timed calls
    interleaved round-robin across names. A callable that raises during warm-up is dropped
    with status 'failed: ...' (or 'skipped: ...' for Skip). `cooldown` seconds of sleep
    before each timed call let other runtimes' spinning worker threads go idle.

    Returns {name: {"status", "times_s", "first_call_s", "output", "order"...}} where output is
    the return value of the last warm-up call."""
    res = {name: {"status": "ok", "times_s": [], "first_call_s": None, "output": None} for name in fns}
    live = []
    for name, fn in fns.items():
        try:
            for i in range(max(1, warmup)):
                t0 = clock()
                out = fn()
                if i == 0:
                    res[name]["first_call_s"] = clock() - t0
            res[name]["output"] = out
            live.append(name)
        except Skip as e:
            res[name]["status"] = f"skipped: {e}"
        except Exception as e:  # noqa: BLE001 - a broken backend must not stop the run
            res[name]["status"] = f"failed: {type(e).__name__}: {e}"
            if log:
                log(f"    {name} failed: {type(e).__name__}: {e}")
    order_log = []
    for r in range(reps):
        k = r % len(live) if live else 0
        order = live[k:] + live[:k]
        order_log.append(order)
        for name in order:
            gc.collect()
            if cooldown:
                time.sleep(cooldown)
            try:
                t0 = clock()
                fns[name]()
                res[name]["times_s"].append(clock() - t0)
            except Exception as e:  # noqa: BLE001
                res[name]["status"] = f"failed: {type(e).__name__}: {e}"
                live.remove(name)
    for name in fns:
        res[name].update(summarize(res[name]["times_s"]))
    res["_order"] = order_log
    return res


def small_run(command, threads, run_rows, out, markdown, targets=None):
    """A workload harness's main (benchmarks/vit.py, bert.py): the machine and load around
    `run_rows()`, then results.json (with `targets(rows)` where given) and results.md
    (`markdown(rows, meta)`) in `out`."""
    import json
    import os
    import sys

    from . import machine
    info = machine.machine_info(with_tf=False)
    meta = {"command": command, "threads": threads, "cpu": info.get("cpu_model"), "git": info.get("git_head"),
            "numpy_transformer_dirty": info.get("numpy_transformer_dirty"),
            "load_before": [round(x, 2) for x in machine.loadavg()]}
    rows = run_rows()
    meta["load_after"] = [round(x, 2) for x in machine.loadavg()]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows, **({"targets": targets(rows)} if targets else {})},
                  f, indent=1, default=str)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(markdown(rows, meta))
    print(f"wrote {out}/results.json and results.md", file=sys.stderr)
    return 0
