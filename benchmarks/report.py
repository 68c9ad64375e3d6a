"""Targets (measured, with pass/fail against stated thresholds) and the markdown reports."""
from __future__ import annotations

import numpy as np

from .timing import paired_ratio

TARGET_CONFIG = "book"
# (key, description, comparison, threshold, unit); the thresholds are the project's targets
# (issue "Benchmarks"), measured here and reported as pass/fail, never asserted in tests
TARGETS = (
    ("train_vs_keras_graph", "NumPy training step time / Keras graph (tf.function) training step time",
     "<=", 1.0, "x"),
    ("train_vs_fastest_keras", "NumPy training step time / the fastest Keras CPU mode's (graph, XLA, JAX, PyTorch)",
     "<=", 1.0, "x"),
    ("numpy_train_mfu", "NumPy training step model FLOP utilisation vs the measured float32 GEMM peak",
     ">=", 0.60, "%"),
    ("kv_cache_speedup", "NumPy greedy decoding (12 tokens): no-cache time / KV-cache time", ">=", 5.0, "x"),
    ("kv_cache_vs_keras", "Keras graph greedy decoding time (no cache, the book's way) / NumPy KV-cache decoding "
     "time", ">=", 1.0, "x"),
    ("cached_decode_vs_keras", "like with like: Keras graph KV-cache decoding time / NumPy KV-cache decoding time",
     ">=", 1.0, "x"),
    ("decode_vs_fastest_keras", "NumPy KV-cache decoding time / the fastest Keras CPU KV-cache decoding's "
     "(graph with cache, JAX, PyTorch)", "<=", 1.0, "x"),
    ("train_memory_vs_keras", "NumPy / Keras graph training-step peak memory (model_peak_mb)", "<=", 1.0, "x"),
)


# ratio targets: numerator (workload, impl) / denominator (workload, impl)
PAIRED = {"train_vs_keras_graph": (("train_step", "numpy"), ("train_step", "keras-graph")),
          "kv_cache_speedup": (("decode", "numpy-nocache"), ("decode", "numpy")),
          "kv_cache_vs_keras": (("decode", "keras-graph"), ("decode", "numpy")),
          "cached_decode_vs_keras": (("decode", "keras-graph-cache"), ("decode", "numpy"))}
# NumPy against whichever of these ran fastest (CPU modes; eager is never the fastest)
FASTEST = {"train_vs_fastest_keras": ("train_step", ("keras-graph", "keras-xla", "keras-jax", "keras-torch")),
           "decode_vs_fastest_keras": ("decode", ("keras-graph-cache", "keras-jax", "keras-torch"))}


def versus_fastest(numpy, candidates):
    """The fastest of `candidates` (Keras rows, by median) and NumPy's time over it as a
    paired_ratio detail. A Keras backend that ran in a subprocess (JAX, PyTorch) is compared with
    the NumPy timed beside it there: repetition by repetition when its times were kept
    (numpy_same_process_times_s), else by medians (numpy_same_process_median_s; no quartiles)."""
    best = min(candidates, key=lambda r: r["median_s"])
    if best.get("numpy_same_process_times_s"):
        numpy = {"times_s": best["numpy_same_process_times_s"], "median_s": best["numpy_same_process_median_s"]}
    elif best.get("numpy_same_process_median_s"):
        return best, {"median": best["numpy_same_process_median_s"] / best["median_s"], "fastest": best["impl"],
                      "fastest_median_s": best["median_s"], "numpy_median_s": best["numpy_same_process_median_s"],
                      "numpy_timed": "in the same subprocess"}
    detail = paired_ratio(numpy, best)
    detail.update(fastest=best["impl"], fastest_median_s=best["median_s"], numpy_median_s=numpy["median_s"])
    return best, detail


def target_entry(config, workload, numpy, candidates, threshold=1.0):
    """One row of a workload harness's targets (benchmarks/vit.py, bert.py): NumPy ÷ the fastest
    Keras, <= threshold."""
    _, d = versus_fastest(numpy, candidates)
    return {"config": config, "workload": workload, "fastest": d["fastest"], "value": d["median"], "q1": d.get("q1"),
            "q3": d.get("q3"), "n": d.get("n"), "threshold": threshold, "passed": d["median"] <= threshold,
            "numpy_median_s": d["numpy_median_s"], "fastest_median_s": d["fastest_median_s"]}


def fastest_keras_ratio(rows, config, workload, impls):
    """NumPy's time over the fastest of `impls` (versus_fastest), or (None, None)."""
    ok = [r for r in (_find(rows, config, workload, i) for i in impls) if r is not None and r["status"] == "ok"]
    numpy = _find(rows, config, workload, "numpy")
    if not ok or numpy is None or numpy["status"] != "ok":
        return None, None
    _, detail = versus_fastest(numpy, ok)
    return detail["median"], detail


def _find(rows, config, workload, impl):
    for r in rows:
        if (r["config"], r["workload"], r["impl"]) == (config, workload, impl) and "sweep" not in r:
            return r
    return None


def compute_targets(rows, config=TARGET_CONFIG, quick=False):
    ok = lambda r: r is not None and r["status"] == "ok"  # noqa: E731
    get = lambda w, i: _find(rows, config, w, i)  # noqa: E731
    out = []
    for key, desc, op, thr, unit in TARGETS:
        value, detail = None, None
        if key in FASTEST:
            value, detail = fastest_keras_ratio(rows, config, *FASTEST[key])
        elif key in PAIRED:   # a time ratio of two implementations measured in the same rounds
            a, b = (get(*w_i) for w_i in PAIRED[key])
            if ok(a) and ok(b):
                detail = paired_ratio(a, b)
                value = detail["median"]
        elif key == "numpy_train_mfu":
            a = get("train_step", "numpy")
            if ok(a):
                value = a.get("mfu")
                detail = {"gflops_per_s": a.get("gflops_per_s")}
        elif key == "train_memory_vs_keras":
            a, b = get("train_step", "numpy"), get("train_step", "keras-graph")
            ma, mb = (r.get("memory", {}) if r else {} for r in (a, b))
            if ma.get("status") == "ok" and mb.get("status") == "ok":
                value = ma["model_peak_mb"] / mb["model_peak_mb"]
                detail = {"numpy_mb": ma["model_peak_mb"], "keras_graph_mb": mb["model_peak_mb"],
                          "numpy_process_mb": ma["peak_rss_mb"], "keras_graph_process_mb": mb["peak_rss_mb"]}
        passed = None if value is None else (value <= thr if op == "<=" else value >= thr)
        out.append({"key": key, "description": desc, "op": op, "threshold": thr, "unit": unit,
                    "value": value, "detail": detail, "passed": passed, "config": config,
                    "why_not_measured": None if value is not None else why_not_measured(rows, key, config, quick)})
    return out


def target_lines(targets):
    """The targets in the closing lines: each one's value and pass/fail, or why it was not
    measured (once, when that is the same for all)."""
    why = {t["why_not_measured"] for t in targets}
    if len(why) == 1 and None not in why:
        return [f"  target {', '.join(t['key'] for t in targets)}: not measured: {why.pop()}"]
    return [target_line(t) for t in targets]


def target_line(t):
    if t["value"] is None:
        return f"  target {t['key']}: not measured: {t['why_not_measured']}"
    return f"  target {t['key']}: {_fmt_val(t['value'], t['unit'])} ({'pass' if t['passed'] else 'fail'}: " \
           f"{t['op']} {_fmt_val(t['threshold'], t['unit'])})"


def why_not_measured(rows, key, config, quick=False):
    """Why a target has no value: which config, implementation, workload or measurement was not run."""
    if not any(r["config"] == config and "sweep" not in r for r in rows):
        return (f"the {config} config was not run ({'--quick runs tiny,small only' if quick else '--configs'}): "
                f"run e.g. python -m benchmarks --configs {config}")
    if key in FASTEST:
        w, impls = FASTEST[key]
        r = _find(rows, config, w, "numpy")
        if r is None or r["status"] != "ok":
            return f"numpy {w} on {config}: " + ("not run" if r is None else r["status"])
        return f"none of {', '.join(impls)} ran {w} on {config} (--backends / --decode-backends)"
    needed = {"numpy_train_mfu": [("train_step", "numpy")],
              "train_memory_vs_keras": [("train_step", "numpy"), ("train_step", "keras-graph")]}.get(key) or PAIRED[key]
    for w, i in needed:
        r = _find(rows, config, w, i)
        if r is None:
            return f"{i} {w} was not run on {config} (--backends / --workloads / --decode-backends)"
        if r["status"] != "ok":
            return f"{i} {w} on {config}: {r['status']}"
        if key == "train_memory_vs_keras" and (r.get("memory") or {}).get("status") != "ok":
            m = (r.get("memory") or {}).get("status")
            return (f"peak memory of {i} {w} on {config} " + (f"failed: {m}" if m else "was not measured")
                    + " (--memory-configs / --memory-backends / --memory-workloads)")
    return "not computable from the rows"


def _fmt_val(v, unit):
    if v is None:
        return "n/a"
    return f"{100 * v:.1f} %" if unit == "%" else f"{v:.2f}×"


def targets_markdown(targets):
    lines = ["| target | measured | threshold | result |", "|---|---|---|---|"]
    for t in targets:
        thr = f"{t['op']} {_fmt_val(t['threshold'], t['unit'])}"
        meas = _fmt_val(t["value"], t["unit"])
        d = t["detail"] or {}
        if "fastest" in d:
            meas += f" vs {d['fastest']} ({_ms(d['numpy_median_s'])} vs {_ms(d['fastest_median_s'])} ms"
            meas += (f", paired IQR {d['q1']:.2f}–{d['q3']:.2f}, n={d['n']})" if "q1" in d
                     else f", NumPy {d['numpy_timed']})")
        elif "q1" in d:
            meas += f" (paired IQR {d['q1']:.2f}–{d['q3']:.2f}, n={d['n']})"
        elif "numpy_mb" in d:
            meas += f" ({d['numpy_mb']:.0f} MB vs {d['keras_graph_mb']:.0f} MB)"
        elif d.get("gflops_per_s"):
            meas += f" ({d['gflops_per_s']:.1f} GFLOP/s)"
        res = f"— not measured: {t['why_not_measured']}" if t["passed"] is None else ("✅ pass" if t["passed"] else "❌ fail")
        lines.append(f"| {t['description']} | {meas} | {thr} | {res} |")
    return lines


def _ms(s):
    return "" if s is None else (f"{s * 1e3:.1f}" if s < 10 else f"{s * 1e3:.0f}")


def _load(r):
    o = r.get("other_processes_cores")
    return "" if o is None else f"{o:.2f}"


def contention(rows):
    """Mean and max number of cores other processes kept busy during the comparisons."""
    o = [r["other_processes_cores"] for r in rows if r.get("other_processes_cores") is not None]
    return (float(np.mean(o)), float(np.max(o))) if o else (None, None)


def results_table(rows):
    lines = ["| config | workload | impl | median ms | IQR ms | min–max ms | first call s | GFLOP | GFLOP/s | MFU "
             "| vs numpy | mem MB (model / process) | other load |", "|" + "---|" * 13]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['config']} | {r['workload']} | {r['impl']} | {r['status']} |" + " |" * 9)
            continue
        ref = next((x for x in rows if x["status"] == "ok" and x["impl"] == "numpy"
                    and (x["config"], x["workload"]) == (r["config"], r["workload"])), None)
        rel = f"{r['median_s'] / ref['median_s']:.2f}×" if ref else ""
        m = r.get("memory") or {}
        mem = f"{m['model_peak_mb']:.0f} / {m['peak_rss_mb']:.0f}" if m.get("status") == "ok" else m.get("status", "")
        lines.append(f"| {r['config']} | {r['workload']} | {r['impl']} | {_ms(r['median_s'])} | {_ms(r['iqr_s'])} | "
                     f"{_ms(r['min_s'])}–{_ms(r['max_s'])} | {r['first_call_s']:.2f} | {r['flops'] / 1e9:.3g} | "
                     f"{r['gflops_per_s']:.1f} | {100 * r['mfu']:.1f} % | {rel} | {mem} | {_load(r)} |")
    return lines


def sweep_table(rows, sweep):
    rows = [r for r in rows if r.get("sweep") == sweep]
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    xs = list(dict.fromkeys(r["x"] for r in rows))
    wl = list(dict.fromkeys(r["workload"] for r in rows))
    lines = []
    for w in wl:
        lines += [f"{w}, median ms (GFLOP/s):", "", "| " + sweep + " | " + " | ".join(impls) + " |",
                  "|" + "---|" * (len(impls) + 1)]
        for x in xs:
            cells = []
            for i in impls:
                r = next((r for r in rows if (r["x"], r["impl"], r["workload"]) == (x, i, w)), None)
                cells.append(f"{_ms(r['median_s'])} ({r['gflops_per_s']:.0f})" if r and r["status"] == "ok"
                             else (r["status"] if r else ""))
            lines.append(f"| {x} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _contention_lines(rows, cores):
    mean, mx = contention(rows)
    if mean is None:
        return []
    line = (f"- other processes kept {mean:.2f} cores busy on average (max {mx:.2f}) during the timed comparisons "
            "(from /proc/stat minus this process; column 'other load' per row)")
    if mean > 0.2 * cores:
        line += (f". **The machine was shared**: absolute times and the GEMM peak are lower than on an idle "
                 "machine, and multi-threaded OpenBLAS suffers more from oversubscription than TensorFlow")
    return [line]


def markdown(result):
    meta, gemm = result["meta"], result["gemm_peak"]
    mi = meta["machine"]
    blas = "; ".join(f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads, "
                     f"{p.get('architecture')})" for p in meta["numpy_threadpools"])
    tf = meta.get("tf_threads") or {}
    L = [f"# numpy-transformer benchmarks ({'quick' if meta['quick'] else 'full'} run)", "", header(meta), "",
         "## Machine", "",
         f"- CPU: {mi['cpu_model']}, {mi['cores_available']} cores available ({mi['logical_cpus']} logical), "
         f"{mi['mem_total_gb']} GiB",
         f"- threads: {meta['threads']} (NumPy BLAS via threadpoolctl: {blas}; TensorFlow intra_op "
         f"{tf.get('intra_op')}, inter_op {tf.get('inter_op')})",
         f"- Python {mi['python']}, NumPy {mi['numpy']}, TensorFlow {mi.get('tensorflow')}, Keras {mi.get('keras')}, "
         f"CuPy {mi.get('cupy')}; GPUs: {mi.get('gpus') or mi.get('cuda_gpu') or 'none'}; "
         f"GPU matmul precision: {mi.get('gpu_matmul_precision', 'float32 (strict)')}",
         f"- float32 GEMM peak ({gemm['method']}): NumPy {gemm['numpy_gflops']:.1f} GFLOP/s"
         + (f", TensorFlow {gemm['tf_gflops']:.1f} GFLOP/s" if "tf_gflops" in gemm else "")
         + f"; MFU below is against {gemm['peak_gflops']:.1f} GFLOP/s",
         "- other processes may share this machine: compare ratios within one table, not absolute times across"
         " runs", *_contention_lines(result["rows"], mi["cores_available"]), "",
         f"## Targets ({TARGET_CONFIG} config, float32, {meta['threads']} threads)", "",
         *targets_markdown(result["targets"]), "",
         "Ratios of times are medians of per-repetition ratios (interleaved repetitions are paired).", "",
         "## Results", "", *results_table([r for r in result["rows"] if "sweep" not in r]), ""]
    sweeps = list(dict.fromkeys(r["sweep"] for r in result["rows"] if "sweep" in r))
    if sweeps:
        L += ["## Scaling sweeps (base: small config)", ""]
        for s in sweeps:
            L += [f"### {s}", "", *sweep_table(result["rows"], s), f"![{s}](sweep_{s}.png)", ""]
    if result.get("profile"):
        p = result["profile"]
        L += ["## Profile of the NumPy training step", "",
              f"{p['config']} config, {p['steps']} steps, {p['tool']}; full output in `{p['file']}`.", "",
              *table(("function", "tottime s", "cumtime s", "calls"), ([f"`{h['function']}`", f"{h['tottime_s']:.3f}",
                     f"{h['cumtime_s']:.3f}", h["calls"]] for h in p["top"][:10])), ""]
    return "\n".join(L + ["## Method", "", "How each number is made: docs/benchmarks.md, section Method.", ""])


def header(meta):
    """The line under a report's title: the command, when, how long, at which commit, on what."""
    mi = meta.get("machine", {})
    return (f"`{meta['command']}` — {mi.get('date')}, {meta.get('duration_s', 0):.0f} s, git {mi.get('git_head')}"
            + (" (numpy_transformer had uncommitted changes)" if mi.get("numpy_transformer_dirty") else "")
            + f"; {meta['threads']} thread(s), {mi.get('cpu_model')}, load average at start / end "
              f"{_round(mi.get('loadavg_at_start'))} / {_round(meta.get('loadavg_at_end'))}.")


def _round(load):
    return [round(x, 2) for x in load] if load else load


def table(head, lines):
    """A markdown table: `head` the column names, `lines` lists of cells."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(map(str, c)) + " |"
                                                                         for c in lines)]


def app_targets_markdown(ts, what):
    """The targets of the ViT and BERT harnesses (target_entry rows): NumPy over the fastest `what`."""
    if not ts:
        return []
    cells = [[t["config"], t["workload"], f"{t['numpy_median_s'] * 1e3:.1f}", t["fastest"],
              f"{t['fastest_median_s'] * 1e3:.1f}", f"{t['value']:.2f}× ({t['q1']:.2f}–{t['q3']:.2f}, n={t['n']})",
              f"<= {t['threshold']:.2f}×", "✅ met" if t["passed"] else "❌ not met"] for t in ts]
    return ["## Targets", "", f"NumPy's training step over the fastest {what}'s, same run, same machine.", "",
            *table(("config", "workload", "NumPy ms", "fastest Keras", "its ms", "NumPy ÷ fastest (paired IQR)",
                    "target", "result"), cells), ""]
