"""The position-wise feed-forward network with its activation's work in place (ops/feedforward.py
computes the same with more arrays of (B, T, d_ff)): ReLU overwrites the first GEMM's output
and its gradient overwrites da; GELU keeps the pre-activation h (its derivative needs it) and
multiplies its derivative into da in place. The exact GELU also keeps Φ(h): erf is the most
expensive element-wise op of a ViT step (a quarter of a forward+backward at ViT-Tiny size,
measured), and the backward then needs none (results bit-identical: x·Φ(x) is the same product)."""
from __future__ import annotations

import numpy as np

from ..ops.activations import check_activation, gelu_derivative, gelu_forward, normal_cdf, normal_pdf
from ..ops.feedforward import FFNCache
from ..ops.linear import linear_backward, linear_forward


def feed_forward_forward(x, p, activation="relu"):
    """As ops.feedforward.feed_forward_forward."""
    h = linear_forward(x, p["linear1.weight"], p["linear1.bias"])[0]
    cdf = None
    if check_activation(activation) == "relu":
        a, h = np.maximum(h, 0, out=h), None
    elif activation == "gelu":
        cdf = normal_cdf(h)
        a = h * cdf
    else:
        a = gelu_forward(h, approximate=True)[0]
    y = linear_forward(a, p["linear2.weight"], p["linear2.bias"])[0]
    return y, FFNCache(x, a, h, activation, cdf)


def feed_forward_backward(dy, cache, p):
    """As ops.feedforward.feed_forward_backward; the activation's gradient overwrites da."""
    x, a, h, activation, cdf = cache
    da, dw2, db2 = linear_backward(dy, a, p["linear2.weight"])
    if activation == "relu":
        dh = np.multiply(da, a > 0, out=da)
    elif cdf is not None:                      # exact GELU: Φ(h) + h·φ(h), Φ from the forward
        deriv = normal_pdf(h)
        deriv *= h
        deriv += cdf
        dh = np.multiply(da, deriv, out=da)
    else:
        dh = np.multiply(da, gelu_derivative(h, approximate=activation == "gelu_tanh"), out=da)
    dx, dw1, db1 = linear_backward(dh, x, p["linear1.weight"])
    return dx, {"linear1.weight": dw1, "linear1.bias": db1, "linear2.weight": dw2, "linear2.bias": db2}
