"""Central finite differences, to check hand-written gradients."""
from __future__ import annotations

import numpy as np


def numerical_gradient(f, x, eps=1e-6, indices=None):
    """∂f/∂x by central differences, (f(x + h e_i) − f(x − h e_i)) / 2h, perturbing `x` in place
    (and restoring it). Truncation error is O(h²·f'''), rounding O(ε_mach·|f| / h); h = 1e-6 in
    float64 balances them near 1e-10 relative. `indices` (flat) limits the check to a subset."""
    if x.dtype != np.float64:
        raise TypeError(f"finite differences need float64 arrays, got {x.dtype}")
    flat = x.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    idx = range(flat.size) if indices is None else indices
    grad = np.zeros(len(idx) if indices is not None else flat.size)
    for n, i in enumerate(idx):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        grad[n] = (fp - fm) / (2 * eps)
    return grad if indices is not None else grad.reshape(x.shape)


def rel_error(a, b):
    """‖a − b‖₂ / max(‖a‖₂, ‖b‖₂): one number per tensor; 0 when both are exactly zero."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    denom = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def gradcheck(f, inputs, analytic, eps=1e-6, tol=1e-7, max_elements=None, seed=0, raise_on_fail=True):
    """Compare analytic gradients with central differences of the scalar function f().

    inputs: {name: float64 array that f reads}; analytic: {name: its claimed gradient}.
    `max_elements` samples that many entries per tensor (all when None). Returns
    {name: (relative error, max abs error)}; raises AssertionError naming the tensors
    whose relative error exceeds `tol` unless raise_on_fail=False."""
    rng = np.random.default_rng(seed)
    report, bad = {}, []
    for name, x in inputs.items():
        ana = np.asarray(analytic[name])
        if ana.shape != x.shape:
            raise ValueError(f"{name}: analytic gradient shape {ana.shape} != input shape {x.shape}")
        idx = None
        if max_elements is not None and x.size > max_elements:
            idx = rng.choice(x.size, size=max_elements, replace=False)
        num = numerical_gradient(f, x, eps, idx)
        ana_sel = ana.reshape(-1)[idx] if idx is not None else ana
        err = rel_error(num, ana_sel)
        report[name] = (err, float(np.max(np.abs(num - ana_sel))) if num.size else 0.0)
        if err > tol:
            bad.append(f"{name}: relative error {err:.3e} > {tol:.1e}")
    if bad and raise_on_fail:
        raise AssertionError("gradient check failed: " + "; ".join(bad))
    return report
