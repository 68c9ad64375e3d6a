"""Parity report: every NumPy-vs-Keras comparison records (quantity, dtype, config, metric,
tolerance, observed error). At the end of the pytest session one line gives the count; the
table goes where the environment variable PARITY_REPORT says: a file path (or a directory to
hold parity_report.md) gets it as markdown, `PARITY_REPORT=-` prints the worst case per
quantity on the terminal.

Use from a test: the `parity_report` fixture (session-scoped), or the module-level helpers
`check_abs` / `check_rel` / `check_max_rel`, which record and assert in one call. The
terminal summary hook is registered on first use of the fixture; a conftest may also import
`pytest_terminal_summary` from here (it prints once either way).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pytest


@dataclass
class Row:
    group: str
    quantity: str
    dtype: str
    config: str
    metric: str
    tolerance: float
    observed: float
    passed: bool


@dataclass
class ParityReport:
    rows: list = field(default_factory=list)
    printed: bool = False

    def record(self, quantity, dtype, config, metric, tolerance, observed, group=None):
        row = Row(str(group or quantity), str(quantity), str(dtype), str(config), metric, float(tolerance),
                  float(observed), bool(observed <= tolerance))
        self.rows.append(row)
        return row

    def summary(self):
        """One line per (group, dtype, metric): the worst observed error (relative to its
        tolerance) over all configs and all quantities of the group."""
        worst = {}
        for r in self.rows:
            key = (r.group, r.dtype, r.metric)
            n, w = worst.get(key, (0, None))
            if w is None or r.observed / r.tolerance > w.observed / w.tolerance:
                w = r
            worst[key] = (n + 1, w)
        return [(n, w) for n, w in worst.values()]

    def markdown(self):
        lines = ["# NumPy vs Keras parity report", "",
                 f"{len(self.rows)} comparisons, {sum(not r.passed for r in self.rows)} over tolerance.", "",
                 "## Worst case per quantity", "",
                 "| quantity | dtype | metric | tolerance | worst observed | worst case | n |",
                 "|---|---|---|---|---|---|---|"]
        for n, r in sorted(self.summary(), key=lambda t: (t[1].dtype, t[1].group)):
            where = r.config if r.group == r.quantity else f"{r.quantity}, {r.config}"
            lines.append(f"| {r.group} | {r.dtype} | {r.metric} | {r.tolerance:.0e} | {r.observed:.2e} "
                         f"| {where} | {n} |")
        lines += ["", "## Every comparison", "",
                  "| quantity | dtype | config | metric | tolerance | observed | ok |", "|---|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(f"| {r.quantity} | {r.dtype} | {r.config} | {r.metric} | {r.tolerance:.0e} "
                         f"| {r.observed:.2e} | {'yes' if r.passed else 'NO'} |")
        return "\n".join(lines) + "\n"


REPORT = ParityReport()

# metric names: abs = max |a - b|; rel = ||a - b|| / max(||a||, ||b||) (Frobenius);
# max_rel = max |a - b| / max |b| (elementwise error against the largest reference entry);
# within = max |a - b| / bound, a bound per entry (check_within)


def abs_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    denom = max(np.linalg.norm(a), np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else 0.0


def max_rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = float(np.max(np.abs(b))) if b.size else 0.0
    return abs_err(a, b) / denom if denom > 0 else abs_err(a, b)


_METRICS = {"abs": abs_err, "rel": rel_err, "max_rel": max_rel_err}


def _numpy(x):
    """NumPy view of an array or a backend tensor (a PyTorch tensor may still require grad)."""
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)


def check(metric, quantity, a, b, tol, dtype, config, group=None):
    """Record metric(a, b) and assert it is <= tol. Returns the observed error. `group` names
    the line of the summary table this comparison counts towards (default: the quantity)."""
    a_np, b_np = _numpy(a), _numpy(b)
    assert np.all(np.isfinite(a_np)) and np.all(np.isfinite(b_np)), f"{quantity}: non-finite values"
    err = _METRICS[metric](a_np, b_np)
    REPORT.record(quantity, dtype, config, metric, tol, err, group)
    assert err <= tol, f"{quantity} [{dtype}, {config}]: {metric} error {err:.3e} > {tol:.0e}"
    return err


def check_abs(quantity, a, b, tol, dtype, config, group=None):
    return check("abs", quantity, a, b, tol, dtype, config, group)


def check_rel(quantity, a, b, tol, dtype, config, group=None):
    return check("rel", quantity, a, b, tol, dtype, config, group)


def check_max_rel(quantity, a, b, tol, dtype, config, group=None):
    return check("max_rel", quantity, a, b, tol, dtype, config, group)


def check_within(quantity, a, b, bound, dtype, config, group=None):
    """Record max |a - b| / bound (a bound per element, the same shape) and assert it is <= 1:
    for comparisons whose tolerance differs entry by entry (e.g. test_keras_translation's)."""
    a_np, b_np = np.asarray(_numpy(a), np.float64), np.asarray(_numpy(b), np.float64)
    assert a_np.shape == b_np.shape == np.shape(bound), f"{quantity}: shapes differ"
    assert np.all(np.isfinite(a_np)) and np.all(np.isfinite(b_np)), f"{quantity}: non-finite values"
    ratio = np.abs(a_np - b_np) / bound
    err = float(ratio.max()) if ratio.size else 0.0
    REPORT.record(quantity, dtype, config, "within", 1.0, err, group)
    worst = np.unravel_index(int(np.argmax(ratio)), ratio.shape) if ratio.size else ()
    assert err <= 1.0, (f"{quantity} [{dtype}, {config}]: |a - b| is {err:.3g}x its bound at {worst} "
                        f"({a_np[worst]:.6g} vs {b_np[worst]:.6g}, bound {np.asarray(bound)[worst]:.3g})")
    return err


# ---------------------------------------------------------------------- pytest glue
def _emit(terminalreporter):
    if REPORT.printed or not REPORT.rows:
        return
    REPORT.printed = True
    tr, target = terminalreporter, os.environ.get("PARITY_REPORT", "")
    over = sum(not r.passed for r in REPORT.rows)
    count = f"NumPy vs Keras parity: {len(REPORT.rows)} comparisons, {over or 'none'} over tolerance"
    if target == "-":
        tr.section("NumPy vs Keras parity (worst case per quantity)")
        tr.write_line(f"{'quantity':46} {'dtype':8} {'metric':8} {'tol':>7} {'worst':>9} {'n':>4}  worst case")
        for n, r in sorted(REPORT.summary(), key=lambda t: (t[1].dtype, t[1].group)):
            flag = "" if r.passed else "  <-- OVER"
            where = r.config if r.group == r.quantity else f"{r.quantity}, {r.config}"
            tr.write_line(f"{r.group[:46]:46} {r.dtype:8} {r.metric:8} {r.tolerance:7.0e} {r.observed:9.2e} "
                          f"{n:4d}  {where}{flag}")
        tr.write_line(count)
    elif target:
        if os.path.isdir(target):
            target = os.path.join(target, "parity_report.md")
        with open(target, "w", encoding="utf-8") as f:
            f.write(REPORT.markdown())
        tr.write_line(f"{count}; the table is in {target}")
    else:
        tr.write_line(f"{count} (PARITY_REPORT=parity.md writes the table, PARITY_REPORT=- prints it)")


def pytest_terminal_summary(terminalreporter, exitstatus=None, config=None):
    _emit(terminalreporter)


class _Plugin:
    def pytest_terminal_summary(self, terminalreporter):
        _emit(terminalreporter)


@pytest.fixture(scope="session")
def parity_report(request):
    """The session's ParityReport; makes sure the summary is printed at the end."""
    pm = request.config.pluginmanager
    if not pm.has_plugin("parity_report_summary"):
        pm.register(_Plugin(), "parity_report_summary")
    return REPORT


# ---------------------------------------------------------------------- shared test setup
# Tolerances (see the brief): forward float64 max |diff| <= 1e-10, float32 max |diff| relative
# to the largest reference entry <= 1e-5; gradients ||a-b|| / max(||a||, ||b||) per tensor,
# float64 <= 1e-9, float32 <= 1e-4.
FORWARD_TOL = {"float64": ("abs", 1e-10), "float32": ("max_rel", 1e-5)}
GRAD_TOL = {"float64": 1e-9, "float32": 1e-4}


def check_forward(quantity, keras_value, numpy_value, dtype, config, tol=None, group=None):
    metric, default = FORWARD_TOL[dtype]
    return check(metric, quantity, keras_value, numpy_value, default if tol is None else tol, dtype, config,
                 group)


def check_grad(quantity, keras_value, numpy_value, dtype, config, tol=None, group=None):
    return check_rel(quantity, keras_value, numpy_value, GRAD_TOL[dtype] if tol is None else tol, dtype,
                     config, group)


def cfg_label(cfg):
    return (f"d{cfg.d_model}h{cfg.num_heads}f{cfg.d_ff}L{cfg.num_layers}"
            f"{'-preLN' if cfg.norm_first else '-postLN'}")


def perturbed_state(cfg, seed=0, scale=0.1):
    """A NumPy Transformer's initial parameters plus noise, so biases, gammas and betas are not
    0/1 (which would hide layout mistakes): 1-D tensors get N(0, scale²), matrices
    N(0, (scale·std(W))²), which keeps the initial scale (at d_model=512 absolute noise of 0.1
    would saturate every softmax and leave attention gradients as pure rounding noise)."""
    from numpy_transformer import Transformer
    rng = np.random.default_rng(seed + 100)
    state = Transformer(cfg, seed=seed).state_dict()
    out = {}
    for k, v in state.items():
        s = scale * (float(v.std()) if v.ndim == 2 else 1.0)
        out[k] = (v + s * rng.standard_normal(v.shape)).astype(cfg.dtype)
    return out


def make_batch(cfg, B=3, S=7, T=6, seed=0):
    """src (B, S), tgt (B, T), labels (B, T) int64 with padding: source row 0 ends in 2 pads,
    row 2 in 1; target/labels row 1 end in 2 pads."""
    rng = np.random.default_rng(seed)
    src = rng.integers(1, cfg.src_vocab_size, (B, S))
    tgt = rng.integers(1, cfg.tgt_vocab_size, (B, T))
    lab = rng.integers(1, cfg.tgt_vocab_size, (B, T))
    src[0, S - 2:] = cfg.pad_id
    if B > 2:
        src[2, S - 1:] = cfg.pad_id
    if B > 1:
        tgt[1, T - 2:] = lab[1, T - 2:] = cfg.pad_id
    return src, tgt, lab
