"""Central finite differences, to check hand-written gradients."""
from __future__ import annotations

import math

import numpy as np

EPS_MACH = float(np.finfo(np.float64).eps)


def numerical_gradient(f, x, eps=1e-6, indices=None):
    """∂f/∂x by central differences, (f(x + h e_i) − f(x − h e_i)) / 2h, perturbing `x` in place
    (and restoring it). `indices` (flat) limits the check to a subset."""
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


def noise_floor(n, f_scale, eps=1e-6):
    """The part of ‖numerical − exact‖₂ that finite differences cannot avoid, for n entries.
    Each central difference divides a rounding error of f, about ε_mach·F with F the magnitude
    of the terms f adds up, by 2h: ≈ ε_mach·F/h per entry, ‖·‖ ≈ sqrt(n)·ε_mach·F/h over n
    entries (h = 1e-6, F = 1: 2.2e-10 each). The truncation error h²/6·f''' ≈ 1e-13 is smaller.
    Returned with a factor 100 of margin (f's rounding grows with the depth of its
    computation): below this, a difference between two gradients is not evidence of a bug."""
    return 100.0 * math.sqrt(max(n, 1)) * EPS_MACH * f_scale / eps


def gradcheck(f, inputs, analytic, eps=1e-6, tol=1e-7, f_scale=None, max_elements=None, seed=0,
              raise_on_fail=True):
    """Compare analytic gradients with central differences of the scalar function f().

    inputs: {name: float64 array that f reads}; analytic: {name: its claimed gradient}.
    A tensor passes when ‖num − ana‖₂ ≤ atol + tol·‖num‖₂ with atol = noise_floor(n, F): a
    relative criterion alone fails on any draw whose gradient is small (|dK| ~ 1e-5 happens),
    since the finite differences' absolute noise does not shrink with the gradient. F is
    `f_scale`, the magnitude of the terms f sums (for f = Σ y·R pass Σ|y·R|), default
    max(1, |f|). `max_elements` samples that many entries per tensor. Returns
    {name: (relative error, max abs error)}; raises AssertionError naming the failing tensors
    unless raise_on_fail=False."""
    rng = np.random.default_rng(seed)
    F = max(1.0, abs(float(f()))) if f_scale is None else max(float(f_scale), 1e-300)
    report, bad = {}, []
    for name, x in inputs.items():
        ana = np.asarray(analytic[name])
        if ana.shape != x.shape:
            raise ValueError(f"{name}: analytic gradient shape {ana.shape} != input shape {x.shape}")
        idx = None
        if max_elements is not None and x.size > max_elements:
            idx = rng.choice(x.size, size=max_elements, replace=False)
        num = numerical_gradient(f, x, eps, idx).ravel()
        ana_sel = (ana.reshape(-1)[idx] if idx is not None else ana.ravel()).astype(np.float64)
        diff = float(np.linalg.norm(num - ana_sel))
        atol = noise_floor(num.size, F, eps)
        report[name] = (rel_error(num, ana_sel), float(np.max(np.abs(num - ana_sel))) if num.size else 0.0)
        if diff > atol + tol * float(np.linalg.norm(num)):
            bad.append(f"{name}: ‖num − ana‖ = {diff:.3e} > {atol:.1e} + {tol:.0e}·‖num‖ "
                       f"(relative error {report[name][0]:.3e})")
    if bad and raise_on_fail:
        raise AssertionError("gradient check failed: " + "; ".join(bad))
    return report
