"""Targets (measured, with pass/fail against stated thresholds) and the markdown reports."""
from __future__ import annotations

import numpy as np

from .timing import paired_ratio

TARGET_CONFIG = "book"
NUMPY_TRAIN, KERAS_TRAIN = ("train_step", "numpy"), ("train_step", "keras-graph")
# (key, description, comparison, threshold, unit, what it is computed from); the thresholds are the
# project's targets (issue "Benchmarks"), measured here and reported as pass/fail, never asserted in tests.
# Computed from: ("paired", numerator, denominator): the time ratio of two (workload, impl) rows timed in
# the same rounds; ("fastest", workload, impls): NumPy over the fastest of impls (versus_fastest; eager is
# never the fastest); ("mfu", row): that row's MFU; ("memory", a, b): the rows' peak memory ratio.
TARGETS = (
    ("train_vs_keras_graph", "NumPy training step time / Keras graph (tf.function) training step time",
     "<=", 1.0, "x", ("paired", NUMPY_TRAIN, KERAS_TRAIN)),
    ("train_vs_fastest_keras", "NumPy training step time / the fastest Keras CPU mode's (graph, XLA, JAX, PyTorch)",
     "<=", 1.0, "x", ("fastest", "train_step", ("keras-graph", "keras-xla", "keras-jax", "keras-torch"))),
    ("numpy_train_mfu", "NumPy training step model FLOP utilisation vs the measured float32 GEMM peak",
     ">=", 0.60, "%", ("mfu", NUMPY_TRAIN)),
    ("kv_cache_speedup", "NumPy greedy decoding (12 tokens): no-cache time / KV-cache time", ">=", 5.0, "x",
     ("paired", ("decode", "numpy-nocache"), ("decode", "numpy"))),
    ("kv_cache_vs_keras", "Keras graph greedy decoding time (no cache, the book's way) / NumPy KV-cache decoding "
     "time", ">=", 1.0, "x", ("paired", ("decode", "keras-graph"), ("decode", "numpy"))),
    ("cached_decode_vs_keras", "like with like: Keras graph KV-cache decoding time / NumPy KV-cache decoding time",
     ">=", 1.0, "x", ("paired", ("decode", "keras-graph-cache"), ("decode", "numpy"))),
    ("decode_vs_fastest_keras", "NumPy KV-cache decoding time / the fastest Keras CPU KV-cache decoding's "
     "(graph with cache, JAX, PyTorch)", "<=", 1.0, "x", ("fastest", "decode", ("keras-graph-cache", "keras-jax",
                                                                                 "keras-torch"))),
    ("train_memory_vs_keras", "NumPy / Keras graph training-step peak memory (model_peak_mb)", "<=", 1.0, "x",
     ("memory", NUMPY_TRAIN, KERAS_TRAIN)),
)


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


def _find(rows, config, workload, impl):
    return next((r for r in rows if (r["config"], r["workload"], r["impl"]) == (config, workload, impl)
                 and "sweep" not in r), None)


def _measure(rows, config, kind, args):
    """(value, detail) of one target from the rows, or (None, None) when they lack it."""
    ok = lambda r: r is not None and r["status"] == "ok"  # noqa: E731
    if kind == "fastest":
        w, impls = args
        numpy, found = _find(rows, config, w, "numpy"), [_find(rows, config, w, i) for i in impls]
        if not ok(numpy) or not any(map(ok, found)):
            return None, None
        _, detail = versus_fastest(numpy, [r for r in found if ok(r)])
        return detail["median"], detail
    found = [_find(rows, config, *w_i) for w_i in args]
    if not all(map(ok, found)):
        return None, None
    if kind == "paired":
        detail = paired_ratio(*found)
        return detail["median"], detail
    if kind == "mfu":
        return found[0].get("mfu"), {"gflops_per_s": found[0].get("gflops_per_s")}
    ma, mb = (r.get("memory") or {} for r in found)
    if ma.get("status") != "ok" or mb.get("status") != "ok":
        return None, None
    return ma["model_peak_mb"] / mb["model_peak_mb"], {
        "numpy_mb": ma["model_peak_mb"], "keras_graph_mb": mb["model_peak_mb"],
        "numpy_process_mb": ma["peak_rss_mb"], "keras_graph_process_mb": mb["peak_rss_mb"]}


def compute_targets(rows, config=TARGET_CONFIG, quick=False):
    out = []
    for key, desc, op, thr, unit, (kind, *args) in TARGETS:
        value, detail = _measure(rows, config, kind, args)
        passed = None if value is None else (value <= thr if op == "<=" else value >= thr)
        out.append({"key": key, "description": desc, "op": op, "threshold": thr, "unit": unit,
                    "value": value, "detail": detail, "passed": passed, "config": config,
                    "why_not_measured": None if value is not None else why_not_measured(rows, config, quick, kind,
                                                                                        args)})
    return out


def why_not_measured(rows, config, quick, kind, args):
    """Why a target has no value: which config, implementation, workload or measurement was not run."""
    if not any(r["config"] == config and "sweep" not in r for r in rows):
        return (f"the {config} config was not run ({'--quick runs tiny,small only' if quick else '--configs'}): "
                f"run e.g. python -m benchmarks --configs {config}")
    if kind == "fastest":
        w, impls = args
        r = _find(rows, config, w, "numpy")
        if r is None or r["status"] != "ok":
            return f"numpy {w} on {config}: " + ("not run" if r is None else r["status"])
        return f"none of {', '.join(impls)} ran {w} on {config} (--backends / --decode-backends)"
    for w, i in args:
        r = _find(rows, config, w, i)
        if r is None:
            return f"{i} {w} was not run on {config} (--backends / --workloads / --decode-backends)"
        if r["status"] != "ok":
            return f"{i} {w} on {config}: {r['status']}"
        m = (r.get("memory") or {}).get("status")
        if kind == "memory" and m != "ok":
            return (f"peak memory of {i} {w} on {config} " + (f"failed: {m}" if m else "was not measured")
                    + " (--memory-configs / --memory-backends / --memory-workloads)")
    return "not computable from the rows"


def target_lines(targets):
    """The targets in the closing lines: each one's value and pass/fail, or why it was not
    measured (once, when that is the same for all)."""
    why = {t["why_not_measured"] for t in targets}
    if len(why) == 1 and None not in why:
        return [f"  target {', '.join(t['key'] for t in targets)}: not measured: {why.pop()}"]
    return [f"  target {t['key']}: not measured: {t['why_not_measured']}" if t["value"] is None else
            f"  target {t['key']}: {_fmt_val(t['value'], t['unit'])} ({'pass' if t['passed'] else 'fail'}: "
            f"{t['op']} {_fmt_val(t['threshold'], t['unit'])})" for t in targets]


def _fmt_val(v, unit):
    return "n/a" if v is None else f"{100 * v:.1f} %" if unit == "%" else f"{v:.2f}×"


def _ms(s):
    return "" if s is None else (f"{s * 1e3:.1f}" if s < 10 else f"{s * 1e3:.0f}")


def table(head, lines):
    """A markdown table: `head` the column names, `lines` lists of cells."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(map(str, c)) + " |"
                                                                         for c in lines)]


def targets_markdown(targets):
    cells = []
    for t in targets:
        meas, d = _fmt_val(t["value"], t["unit"]), t["detail"] or {}
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
        res = (f"— not measured: {t['why_not_measured']}" if t["passed"] is None
               else "✅ pass" if t["passed"] else "❌ fail")
        cells.append([t["description"], meas, f"{t['op']} {_fmt_val(t['threshold'], t['unit'])}", res])
    return table(("target", "measured", "threshold", "result"), cells)


def results_table(rows):
    cells = []
    for r in rows:
        if r["status"] != "ok":
            cells.append([r["config"], r["workload"], r["impl"], r["status"], *[""] * 9])
            continue
        ref = _find(rows, r["config"], r["workload"], "numpy")
        rel = f"{r['median_s'] / ref['median_s']:.2f}×" if ref and ref["status"] == "ok" else ""
        m, o = r.get("memory") or {}, r.get("other_processes_cores")
        cells.append([r["config"], r["workload"], r["impl"], _ms(r["median_s"]), _ms(r["iqr_s"]),
                      f"{_ms(r['min_s'])}–{_ms(r['max_s'])}", f"{r['first_call_s']:.2f}", f"{r['flops'] / 1e9:.3g}",
                      f"{r['gflops_per_s']:.1f}", f"{100 * r['mfu']:.1f} %", rel,
                      f"{m['model_peak_mb']:.0f} / {m['peak_rss_mb']:.0f}" if m.get("status") == "ok"
                      else m.get("status", ""), "" if o is None else f"{o:.2f}"])
    return table(("config", "workload", "impl", "median ms", "IQR ms", "min–max ms", "first call s", "GFLOP",
                  "GFLOP/s", "MFU", "vs numpy", "mem MB (model / process)", "other load"), cells)


def sweep_table(rows, sweep):
    rows = [r for r in rows if r.get("sweep") == sweep]
    impls, lines = list(dict.fromkeys(r["impl"] for r in rows)), []
    for w in dict.fromkeys(r["workload"] for r in rows):
        at = {(r["x"], r["impl"]): r for r in rows if r["workload"] == w}
        cell = lambda r: (f"{_ms(r['median_s'])} ({r['gflops_per_s']:.0f})" if r["status"] == "ok"  # noqa: E731
                          else r["status"]) if r else ""
        lines += [f"{w}, median ms (GFLOP/s):", "", *table((sweep, *impls), (
            [x, *(cell(at.get((x, i))) for i in impls)] for x in dict.fromkeys(r["x"] for r in rows))), ""]
    return lines


def _contention_lines(rows, cores):
    """Mean and max number of cores other processes kept busy during the comparisons."""
    o = [r["other_processes_cores"] for r in rows if r.get("other_processes_cores") is not None]
    if not o:
        return []
    line = (f"- other processes kept {np.mean(o):.2f} cores busy on average (max {np.max(o):.2f}) during the timed "
            "comparisons (from /proc/stat minus this process; column 'other load' per row)")
    if np.mean(o) > 0.2 * cores:
        line += (". **The machine was shared**: absolute times and the GEMM peak are lower than on an idle "
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
    mi, load = meta.get("machine", {}), lambda x: [round(v, 2) for v in x] if x else x  # noqa: E731
    return (f"`{meta['command']}` — {mi.get('date')}, {meta.get('duration_s', 0):.0f} s, git {mi.get('git_head')}"
            + (" (numpy_transformer had uncommitted changes)" if mi.get("numpy_transformer_dirty") else "")
            + f"; {meta['threads']} thread(s), {mi.get('cpu_model')}, load average at start / end "
              f"{load(mi.get('loadavg_at_start'))} / {load(meta.get('loadavg_at_end'))}.")


def app_markdown(title, result, targets, what, head, cells, note):
    """The report of the ViT and BERT harnesses: title, header, the targets (target_entry rows:
    NumPy over the fastest `what`), the results table and a note on reading it."""
    lines = [f"# {title}", "", header(result["meta"]), ""]
    if targets:
        lines += ["## Targets", "", f"NumPy's training step over the fastest {what}'s, same run, same machine.", "",
                  *table(("config", "workload", "NumPy ms", "fastest Keras", "its ms", "NumPy ÷ fastest (paired IQR)",
                          "target", "result"), ([t["config"], t["workload"], f"{t['numpy_median_s'] * 1e3:.1f}",
                                                 t["fastest"], f"{t['fastest_median_s'] * 1e3:.1f}",
                                                 f"{t['value']:.2f}× ({t['q1']:.2f}–{t['q3']:.2f}, n={t['n']})",
                                                 f"<= {t['threshold']:.2f}×", "✅ met" if t["passed"] else "❌ not met"]
                                                for t in targets)), ""]
    return "\n".join(lines + ["## Results", "", *table(head, cells), "", note]) + "\n"
