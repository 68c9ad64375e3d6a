"""The position-wise feed-forward network with its activation's work in place (ops/feedforward.py
computes the same with more arrays of (B, T, d_ff)): ReLU overwrites the first GEMM's output
and its gradient overwrites da; GELU keeps the pre-activation h (its derivative needs it) and
multiplies its derivative into da in place. The exact GELU runs fast/gelu.py (float32: Eigen's
rational erf on cache-sized blocks; float64: the plain ops, bit for bit) and keeps Φ(h), so the
backward needs no erf."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..config.tree import Tree
from ..ops.activations import check_activation, gelu_derivative, gelu_forward
from ..ops.linear import linear_backward, linear_forward
from . import gelu as fast_gelu


class FastFFNCache(NamedTuple):
    """ops.feedforward.FFNCache plus Φ(h) of the exact GELU."""
    x: np.ndarray          # the input, for dW1
    a: np.ndarray          # act(x W1 + b1), for dW2 (for ReLU, a > 0 is the gradient's mask)
    h: object              # x W1 + b1 (GELU); None for ReLU, whose in-place output overwrote it
    activation: str
    cdf: object            # Φ(h) of the exact GELU, so the backward needs no erf; else None


def feed_forward_forward(x, p, activation="relu"):
    """As ops.feedforward.feed_forward_forward."""
    h = linear_forward(x, p.linear1.weight, p.linear1.bias)[0]
    cdf = None
    if check_activation(activation) == "relu":
        a, h = np.maximum(h, 0, out=h), None
    elif activation == "gelu":
        a, cdf = fast_gelu.gelu_forward(h)
    else:
        a = gelu_forward(h, approximate=True)[0]
    y = linear_forward(a, p.linear2.weight, p.linear2.bias)[0]
    return y, FastFFNCache(x, a, h, activation, cdf)


def feed_forward_backward(dy, cache, p):
    """As ops.feedforward.feed_forward_backward; the activation's gradient overwrites da."""
    h = cache.h
    da, dw2, db2 = linear_backward(dy, cache.a, p.linear2.weight)
    if cache.activation == "relu":
        dh = np.multiply(da, cache.a > 0, out=da)
    elif cache.cdf is not None:                # exact GELU: Φ(h) + h·φ(h), Φ from the forward
        dh = fast_gelu.gelu_backward_inplace(da, h, cache.cdf)
    else:
        dh = np.multiply(da, gelu_derivative(h, approximate=cache.activation == "gelu_tanh"), out=da)
    dx, dw1, db1 = linear_backward(dh, cache.x, p.linear1.weight)
    return dx, Tree(linear1=Tree(weight=dw1, bias=db1), linear2=Tree(weight=dw2, bias=db2))
