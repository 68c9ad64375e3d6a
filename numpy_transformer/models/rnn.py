"""The book's recurrent models (chapters 6-9): SimpleRNN → [attention] → Dense, in NumPy with
a hand-written backward pass (the ops in ops/rnn.py, ops/time_attention.py, ops/bahdanau.py,
ops/linear.py). keras_transformer/rnn.py is the same model in Keras, under the same parameter
names (numpy_transformer.config.rnn_parameter_shapes).

The parameters are a tree shaped like the model (config/tree.py), one subtree per layer:

    params.rnn.W_x, .W_h, .b                 the SimpleRNN (Keras' kernel, recurrent_kernel, bias)
    params.attention.W, .b                   "time": the book's layer (absent for "none")
    params.attention.W_a, .U_a, .v_a         "bahdanau"
    params.dense.weight, .bias

backward returns a gradient tree of the same shape; flatten(params) gives the dotted names of
state_dict() (`rnn.W_x`, …), which only checkpoints, Adam's state and the parity tests read."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..config import RNNConfig, check_state_dict, rnn_parameter_shapes
from ..config.tree import Tree, flatten, tree_map, unflatten
from ..ops.bahdanau import bahdanau_attention_backward, bahdanau_attention_forward
from ..ops.linear import linear_backward, linear_forward
from ..ops.rnn import simple_rnn_backward, simple_rnn_forward
from ..ops.time_attention import time_attention_backward, time_attention_forward


def mse_loss(pred, target):
    """L = mean((pred − target)²) over every entry (Keras' "mse" for a (B, 1) output);
    dL/dpred = 2 (pred − target) / N. Returns (L, dpred)."""
    pred = np.asarray(pred)
    target = np.asarray(target, pred.dtype).reshape(pred.shape)
    diff = pred - target
    return float(np.mean(diff * diff)), (2.0 / diff.size) * diff


def init_rnn_params(cfg: RNNConfig, seed=0):
    """Keras' default initialisers, so a fresh model of either backend starts alike in
    distribution: Glorot-uniform kernels (SimpleRNN kernel, Dense, Bahdanau's W_a, U_a, v_a),
    an orthogonal recurrent kernel (its singular values are all 1, so the linear part of the
    recurrence neither blows up nor vanishes at the start), zero biases, and N(0, 0.05²) for
    the book's attention weight (Keras' "random_normal"). Both backends are then loaded with
    these same numbers to compare them."""
    rng = np.random.default_rng(seed)

    def glorot(shape, fan_in=None, fan_out=None):
        fan_in, fan_out = fan_in or shape[0], fan_out or shape[-1]
        lim = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-lim, lim, shape)

    H = cfg.hidden
    q, r = np.linalg.qr(rng.standard_normal((H, H)))
    p = Tree(rnn=Tree(W_x=glorot((cfg.input_dim, H)), W_h=q * np.sign(np.diag(r)), b=np.zeros(H)))
    if cfg.attention == "time":
        p.attention = Tree(W=0.05 * rng.standard_normal((H, 1)), b=np.zeros((cfg.time_steps, 1)))
    elif cfg.attention == "bahdanau":
        p.attention = Tree(W_a=glorot((H, cfg.d_a)), U_a=glorot((H, cfg.d_a)), v_a=glorot((cfg.d_a,), cfg.d_a, 1))
    p.dense = Tree(weight=glorot((H, cfg.output_dim)), bias=np.zeros(cfg.output_dim))
    return tree_map(lambda v: v.astype(cfg.dtype), p)


def _own(g, p):
    """The op's gradients {x, h, W, …} cut down to the parameters of its subtree p (the ops name
    their weight gradients as the subtree names its weights), in p's order."""
    return Tree((k, g[k]) for k in p)


class RegressorCache(NamedTuple):
    rnn: object              # SimpleRNNCache
    attention: object        # TimeAttentionCache / BahdanauCache; None without attention
    summary: np.ndarray      # (B, H) the Dense layer's input
    y: np.ndarray            # (B, output_dim) the output


class RNNRegressor:
    """y = act(Dense(summary)) with summary = h_T (attention "none"), the book's time-attention
    context, or the Bahdanau context with the last state h_T as the query.

    forward(x, mask=None) keeps the caches for backward(dy), which returns the gradient tree
    (the shape of `params`)."""

    def __init__(self, cfg: RNNConfig, seed=0):
        self.cfg = cfg
        self.params = init_rnn_params(cfg, seed)
        self._cache = None

    # ------------------------------------------------------------------ forward / backward
    def _check_x(self, x):
        x = np.asarray(x)
        if x.ndim == 2 and self.cfg.input_dim == 1:
            x = x[:, :, None]                    # (B, T) univariate windows
        if x.ndim != 3 or x.shape[2] != self.cfg.input_dim:
            raise ValueError(f"RNNRegressor: x must be (batch, time, {self.cfg.input_dim}), got {x.shape}")
        if self.cfg.attention == "time" and x.shape[1] != self.cfg.time_steps:
            raise ValueError(f"RNNRegressor: the time attention has one bias per step, so x must have "
                             f"time_steps = {self.cfg.time_steps} steps, got {x.shape[1]}")
        return x.astype(self.cfg.dtype, copy=False)

    def forward(self, x, mask=None):
        p, cfg = self.params, self.cfg
        x = self._check_x(x)
        h, rnn_cache = simple_rnn_forward(x, None, p.rnn.W_x, p.rnn.W_h, p.rnn.b, mask)
        att_cache, self.attention_weights = None, None
        if cfg.attention == "none":
            summary = h[:, -1]                   # with a mask: the last real step's state, carried on
        elif cfg.attention == "time":
            summary, self.attention_weights, att_cache = time_attention_forward(
                h, p.attention.W, p.attention.b, mask)
        else:
            summary, self.attention_weights, att_cache = bahdanau_attention_forward(
                h[:, -1], h, p.attention.W_a, p.attention.U_a, p.attention.v_a, mask)
        z, _ = linear_forward(summary, p.dense.weight, p.dense.bias)
        y = np.tanh(z) if cfg.output_activation == "tanh" else z
        self._cache = RegressorCache(rnn_cache, att_cache, summary, y)
        return y

    def backward(self, dy):
        """The gradient tree (the shape of `params`) from dL/dy (B, output_dim)."""
        if self._cache is None:
            raise RuntimeError("RNNRegressor.backward needs a forward() first")
        p, cfg = self.params, self.cfg
        c = self._cache
        y = c.y
        dy = np.asarray(dy, y.dtype)
        if dy.shape != y.shape:
            raise ValueError(f"RNNRegressor.backward: dy must have the output's shape {y.shape}, got {dy.shape}")
        dz = dy * (1 - y * y) if cfg.output_activation == "tanh" else dy
        dsummary, dW, db = linear_backward(dz, c.summary, p.dense.weight)
        dh = np.zeros_like(c.rnn.h)
        attention = {}
        if cfg.attention == "none":
            dh[:, -1] = dsummary
        elif cfg.attention == "time":
            g = time_attention_backward(dsummary, c.attention)
            attention = {"attention": _own(g, p.attention)}
            dh += g["h"]
        else:
            g = bahdanau_attention_backward(dsummary, c.attention)
            attention = {"attention": _own(g, p.attention)}
            dh += g["h"]
            dh[:, -1] += g["s"]                  # the query is h_T itself
        g = simple_rnn_backward(dh, c.rnn)
        return Tree(rnn=_own(g, p.rnn), **attention, dense=Tree(weight=dW, bias=db))

    def predict(self, x, batch_size=1024):
        """Forward in chunks, no cache kept for backward."""
        x = self._check_x(x)
        out = [self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        self._cache = None
        return np.concatenate(out) if out else np.zeros((0, self.cfg.output_dim), self.cfg.dtype)

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """A copy of every parameter under its shared dotted name, in the tree's order."""
        return {k: v.copy() for k, v in flatten(self.params).items()}

    def load_state_dict(self, state, strict=True):
        """strict: exactly the expected keys with the expected shapes, all finite (else a
        ValueError naming them, before anything is assigned); non-strict loads the keys it
        knows (still shape- and NaN-checked). Values are cast to cfg.dtype."""
        flat = flatten(self.params)
        if strict:
            check_state_dict(state, self.cfg)
        else:
            state = {k: v for k, v in state.items() if k in rnn_parameter_shapes(self.cfg)}
            check_state_dict({**flat, **state}, self.cfg)
        flat.update({k: np.array(v, dtype=self.cfg.dtype) for k, v in state.items()})
        self.params = unflatten(flat)

    def num_parameters(self):
        return int(sum(v.size for v in flatten(self.params).values()))
