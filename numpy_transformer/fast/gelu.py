"""The exact GELU, y = x·Φ(x), and its derivative Φ(x) + x·φ(x), fast in float32.

ops/activations.py computes Φ(x) = ½(1 + erf(x/√2)) with SciPy's erf, a scalar loop: at
ViT-Tiny size it was the most expensive element-wise op of the step (22 ms for one layer's
3.2 M elements, where np.exp takes 2 ms). Here, in float32:

* erf is the rational approximation TensorFlow and XLA use for float32 (Eigen's
  `generic_fast_erf_float`): erf(z) ≈ z·P(z²)/Q(z²) for |z| ≤ 4, P of degree 6 and Q of degree 4
  in z², with z clamped to ±4 (erf(4) rounds to 1 in float32). With z = x/√2 the ½, the 1/√2
  and the powers of ½ in z² = x²/2 are folded into the coefficients, so
      Φ(x) ≈ ½ + x·P'(x²)/Q'(x²),  x clamped to ±4√2,
  then Φ is held in [0, 1] (the rational function overshoots by 6e-8 at the clamp). About 27
  ufunc passes, all SIMD; |Φ − Φ_exact| ≤ 2.5e-7 measured, against float32's 6e-8 spacing at 1
  (`parity_tests/test_fast_gelu.py` bounds it on a dense grid and random activations).
* the passes run on CHUNK-element blocks that stay in the L2 cache, so the passes read
  and write cache, not memory.

float64 (the gradient checks' dtype) takes the plain ops unchanged, bit for bit: an
approximation at float32 precision has no place there.
"""
from __future__ import annotations

import math

import numpy as np

from ..ops.activations import normal_cdf, normal_pdf

CHUNK = 1 << 16          # elements per block: x, Φ and two scratch blocks are 1 MB in float32

# Eigen's float32 erf: numerator z·Σ α_k z^(2k), denominator Σ β_k z^(2k), highest power first.
_ALPHA = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
          -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)
_BETA = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
         -1.42647390514189e-02)


def _folded(coeffs, scale):
    """Coefficients in u = x² of Σ c_k (u/2)^k · scale, highest power first, as float32."""
    top = len(coeffs) - 1
    return tuple(np.float32(c * scale / 2.0 ** (top - i)) for i, c in enumerate(coeffs))


_P = _folded(_ALPHA, 0.5 / math.sqrt(2.0))     # ½ · (x/√2) · P(x²/2) = x · P'(x²)
_Q = _folded(_BETA, 1.0)
_CLAMP = np.float32(4.0 * math.sqrt(2.0))
_HALF = np.float32(0.5)
_LOG_INV_SQRT_2PI = np.float32(-0.5 * math.log(2.0 * math.pi))


def _horner(coeffs, u, out):
    """out = Σ coeffs[i] · u^(n−i) by Horner's rule, in place."""
    np.multiply(u, coeffs[0], out=out)
    out += coeffs[1]
    for c in coeffs[2:]:
        out *= u
        out += c
    return out


def _cdf_block(x, cdf, s, t):
    """cdf = Φ(x) for one block; s, t are scratch blocks of x's size."""
    np.minimum(x, _CLAMP, out=t)
    np.maximum(t, -_CLAMP, out=t)          # t = x clamped to ±4√2 (NaN stays NaN)
    np.multiply(t, t, out=s)               # s = u = x²
    _horner(_P, s, cdf)
    cdf *= t                               # x·P'(u)
    _horner(_Q, s, t)                      # Q'(u): t's clamped x is no longer needed
    cdf /= t
    cdf += _HALF
    np.maximum(cdf, 0, out=cdf)            # at −4√2 the rational function gives −6e-8: a CDF
    np.minimum(cdf, 1, out=cdf)            # stays in [0, 1], or GELU(−3e38) would be +1.8e31


def gelu_forward(x):
    """(y, Φ(x)) of the exact GELU y = x·Φ(x), as ops.activations.gelu_forward's y with the
    Φ(x) that fast/feedforward.py keeps for the backward."""
    if x.dtype != np.float32:
        cdf = normal_cdf(x)
        return x * cdf, cdf
    xf = x.reshape(-1)
    cdf = np.empty_like(xf)
    y = np.empty_like(xf)
    s, t = np.empty(min(CHUNK, xf.size), np.float32), np.empty(min(CHUNK, xf.size), np.float32)
    for i in range(0, xf.size, CHUNK):
        j = min(i + CHUNK, xf.size)
        n = j - i
        _cdf_block(xf[i:j], cdf[i:j], s[:n], t[:n])
        np.multiply(xf[i:j], cdf[i:j], out=y[i:j])
    return y.reshape(x.shape), cdf.reshape(x.shape)


def gelu_backward_inplace(dy, x, cdf):
    """dy ← dy · (Φ(x) + x·φ(x)), φ(x) = exp(−x²/2)/√(2π) = exp(−x²/2 − ln√(2π)); returns dy.
    float64 takes ops.activations' normal_pdf and the same order of operations as before."""
    if x.dtype != np.float32:
        deriv = normal_pdf(x)
        deriv *= x
        deriv += cdf
        return np.multiply(dy, deriv, out=dy)
    d, xf, cf = dy.reshape(-1), x.reshape(-1), cdf.reshape(-1)
    if not np.shares_memory(d, dy):       # dy was not contiguous: work on a copy, return it
        d = d.copy()
    s = np.empty(min(CHUNK, xf.size), np.float32)
    for i in range(0, xf.size, CHUNK):
        j = min(i + CHUNK, xf.size)
        b = s[:j - i]
        np.multiply(xf[i:j], xf[i:j], out=b)
        b *= -_HALF
        b += _LOG_INV_SQRT_2PI
        np.exp(b, out=b)                  # φ(x)
        b *= xf[i:j]
        b += cf[i:j]                      # Φ(x) + x·φ(x)
        d[i:j] *= b
    return d.reshape(dy.shape)
