"""The position-wise feed-forward network (paper, eq. 2), forward beside backward, with the
activation as a parameter: ReLU in the translation Transformer, GELU in the ViT's MLP."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..config.tree import Tree
from .activations import activation_backward, activation_forward, check_activation
from .linear import linear_backward, linear_forward


class FFNCache(NamedTuple):
    x: np.ndarray          # the input, for dW1
    a: np.ndarray          # act(x W1 + b1), for dW2 (and, for ReLU, a > 0 is the gradient's mask)
    h: object              # x W1 + b1, which GELU's derivative needs; None for ReLU
    activation: str


def feed_forward_forward(x, p, activation="relu"):
    """FFN(x) = act(x W1 + b1) W2 + b2, applied to each position alone: (…, d_model) →
    (…, d_ff) → (…, d_model); act = max(0, ·) in the paper, GELU in ViT (ops/activations.py).
    p is its parameter tree: p.linear1 and p.linear2, each with .weight and .bias."""
    check_activation(activation)
    h = linear_forward(x, p.linear1.weight, p.linear1.bias)[0]
    a, act_cache = activation_forward(activation, h)
    y = linear_forward(a, p.linear2.weight, p.linear2.bias)[0]
    return y, FFNCache(x, a, None if activation == "relu" else act_cache, activation)


def feed_forward_backward(dy, cache, p):
    """The chain rule through linear2, the activation and linear1. Returns dx and the gradient
    tree, shaped like p."""
    da, dw2, db2 = linear_backward(dy, cache.a, p.linear2.weight)
    relu = cache.activation == "relu"          # ReLU's derivative reads its output, GELU's its input
    dh = activation_backward(cache.activation, da, cache.a if relu else cache.h)
    dx, dw1, db1 = linear_backward(dh, cache.x, p.linear1.weight)
    return dx, Tree(linear1=Tree(weight=dw1, bias=db1), linear2=Tree(weight=dw2, bias=db2))
