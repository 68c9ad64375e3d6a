"""The position-wise feed-forward network (paper, eq. 2), forward beside backward."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .activations import relu_backward, relu_forward
from .linear import linear_backward, linear_forward


class FFNCache(NamedTuple):
    x: np.ndarray    # the input, for dW1
    a: np.ndarray    # ReLU(x W1 + b1), for dW2 and (a > 0) the ReLU's gradient


def feed_forward_forward(x, p):
    """FFN(x) = max(0, x W1 + b1) W2 + b2, applied to each position alone: (…, d_model) →
    (…, d_ff) → (…, d_model). p holds linear1.{weight,bias}, linear2.{weight,bias}."""
    h = linear_forward(x, p["linear1.weight"], p["linear1.bias"])[0]
    a = relu_forward(h)[0]
    y = linear_forward(a, p["linear2.weight"], p["linear2.bias"])[0]
    return y, FFNCache(x, a)


def feed_forward_backward(dy, cache, p):
    """The chain rule through linear2, ReLU and linear1. Returns dx and the grads."""
    x, a = cache
    da, dw2, db2 = linear_backward(dy, a, p["linear2.weight"])
    dh = relu_backward(da, a)
    dx, dw1, db1 = linear_backward(dh, x, p["linear1.weight"])
    return dx, {"linear1.weight": dw1, "linear1.bias": db1, "linear2.weight": dw2, "linear2.bias": db2}
