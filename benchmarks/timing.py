"""Interleaved timing: several implementations of one workload in the same process and time
window. After their warm-ups, repetition r runs each once, in an order rotated by r, so slow
drifts of the machine hit all alike and their ratios stay meaningful on a noisy machine.
`compare(f, g)` times any callable against another (docs/benchmarks.md); `in_subprocess` runs a
function of this package in a fresh interpreter (a Keras backend of its own, fresh malloc state)."""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Skip(Exception):
    """An implementation that cannot run here (no GPU, package missing); the message says why."""


def skipper(reason):
    """A callable that skips with `reason` (a row that says why it has no time)."""
    def run():
        raise Skip(reason)
    return run


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

    Returns {name: {"status", "times_s", "first_call_s", "output", summary...}, "_order": [...]}
    where output is the return value of the last warm-up call."""
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


def paired_ratio(num, den):
    """Median and quartiles of per-repetition time ratios num/den. Repetition r of both ran in
    the same round of the interleaved loop, so the pairs share the machine's state."""
    a, b = np.asarray(num["times_s"]), np.asarray(den["times_s"])
    n = min(a.size, b.size)
    if n == 0:
        return None
    q1, med, q3 = np.percentile(a[:n] / b[:n], [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "n": int(n)}


def compare(f, g, reps=20, warmup=2, names=("f", "g"), clock=time.perf_counter):
    """Time zero-argument callables `f` and `g` against each other: `warmup` untimed calls of
    each, then `reps` rounds that call both, in alternating order, so a busy machine slows both
    alike. Returns {names[0]: {"median_s", "times_s", ...}, names[1]: {...}, "ratio": the median
    of the per-round ratios f/g (below 1: f is faster), "ratio_q1", "ratio_q3", "n"}. Raises what
    either callable raised."""
    if not (isinstance(reps, int) and reps >= 1):
        raise ValueError(f"reps must be a whole number >= 1, not {reps!r}")
    res = run_interleaved(dict(zip(names, (f, g))), reps, warmup, clock=clock)
    for name in names:
        if res[name]["status"] != "ok":
            raise RuntimeError(f"{name}: {res[name]['status']}")
    d = paired_ratio(res[names[0]], res[names[1]])
    out = {name: {k: v for k, v in res[name].items() if k != "output"} for name in names}
    return {**out, "ratio": d["median"], "ratio_q1": d["q1"], "ratio_q3": d["q3"], "n": d["n"]}


def jsonable(res):
    """A run_interleaved result without the outputs and the order: what a subprocess prints."""
    return {k: {f: v for f, v in r.items() if f != "output"} for k, r in res.items() if k != "_order"}


def row(r, log=None, **fields):
    """A result row: `fields` (config, workload, impl, flops, ...) and the timing of run_interleaved's
    `r`, with GFLOP/s where the fields give its FLOPs; `log` (if given) gets a line about it."""
    keep = ("status", "first_call_s", "times_s", "n", "median_s", "q1_s", "q3_s", "iqr_s", "min_s", "max_s")
    out = {**fields, **{k: r[k] for k in keep if k in r}, "status": r.get("status", "failed: no result")}
    if out["status"] == "ok" and out.get("flops"):
        out["gflops_per_s"] = out["flops"] / r["median_s"] / 1e9
    if log:
        log(f"  {out['config']:>12} {out['workload']:<14} {out['impl']:<18} " + (
            f"median {r['median_s'] * 1e3:9.2f} ms  IQR {r['iqr_s'] * 1e3:7.2f} ms  first {r['first_call_s']:.2f} s  "
            f"{out.get('gflops_per_s', 0):.1f} GFLOP/s" if out["status"] == "ok" else out["status"]))
    return out


def in_subprocess(target, spec, env=None, timeout=3600):
    """benchmarks.<module>.<function>(spec) ("vit.worker") in a fresh interpreter, through
    `python -m benchmarks _child`; its JSON result, or {"status": "failed: ..."}."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {}),
           "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
    try:
        p = subprocess.run([sys.executable, "-m", "benchmarks", "_child", target, json.dumps(spec)], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"failed: timeout after {timeout} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"status": f"failed: exit {p.returncode}: {(p.stderr.strip().splitlines() or ['?'])[-1][:200]}"}
    return json.loads(lines[-1])
