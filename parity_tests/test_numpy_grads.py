"""Every NumPy backward against central finite differences in float64.

Each op is checked through the scalar f = Σ y·R for a fixed random R, so dy = R. Shapes come
from hypothesis (deterministic: see conftest.py). The criterion (ops/gradcheck.py) is
‖num − ana‖ ≤ atol + 1e-7·‖num‖ per tensor, atol the finite differences' own noise floor for
f's scale Σ|y·R|: it holds for every draw, small gradients included, without skipping any.
Ops with a fast version (fast/) are checked in both forms.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numpy_transformer import fast
from numpy_transformer.config import TransformerConfig
from numpy_transformer.config.tree import flatten, unflatten
from numpy_transformer.models import FAST, PLAIN, init_params
from numpy_transformer.models.layers import (decoder_layer_backward, decoder_layer_forward,
                                             encoder_layer_backward, encoder_layer_forward)
from numpy_transformer.ops import attention, feedforward, layernorm
from numpy_transformer.ops.activations import relu_backward, relu_forward
from numpy_transformer.ops.attention import causal_mask
from numpy_transformer.ops.dropout import dropout_backward, dropout_forward
from numpy_transformer.ops.embedding import (embed_backward, embed_forward, embedding_backward,
                                             embedding_forward, positional_encoding)
from numpy_transformer.ops.gradcheck import gradcheck, noise_floor
from numpy_transformer.ops.linear import linear_backward, linear_forward
from numpy_transformer.ops.softmax import softmax_backward, softmax_forward

TOL = 1e-7
SETTINGS = settings(max_examples=12, deadline=None)
dims = st.integers(1, 5)
impls = pytest.mark.parametrize("impl", ["plain", "fast"])
OPS = {"plain": {"sdpa": (attention.sdpa_forward, attention.sdpa_backward),
                 "mha": (attention.mha_forward, attention.mha_backward),
                 "ffn": (feedforward.feed_forward_forward, feedforward.feed_forward_backward),
                 "ln": (layernorm.layernorm_forward, layernorm.layernorm_backward)},
       "fast": {"sdpa": (fast.attention.sdpa_forward, fast.attention.sdpa_backward),
                "mha": (fast.attention.mha_forward, fast.attention.mha_backward),
                "ffn": (fast.feedforward.feed_forward_forward, fast.feedforward.feed_forward_backward),
                "ln": (fast.layernorm.layernorm_forward, fast.layernorm.layernorm_backward)}}
KERNELS = {"plain": PLAIN, "fast": FAST}


def _r(rng, *shape):
    return rng.standard_normal(shape)


def check(run, R, inputs, analytic):
    """gradcheck of f = Σ run()·R, with f's scale Σ|run()·R| for the noise floor."""
    f = lambda: float(np.sum(run() * R))
    gradcheck(f, inputs, analytic, tol=TOL, f_scale=float(np.sum(np.abs(run() * R))))


def test_the_criterion_catches_small_errors_and_passes_exact_gradients():
    """f = Σ sin(x)·R: the exact gradient passes, one off by 1e-6 (relative) fails, and so does
    a gradient of norm ~1e-6 that is wrong by 10 %: the noise floor is far below both."""
    rng = np.random.default_rng(0)
    x, R = _r(rng, 30), _r(rng, 30)
    run = lambda: np.sin(x)
    check(run, R, {"x": x}, {"x": np.cos(x) * R})
    with pytest.raises(AssertionError, match="gradient check failed"):
        check(run, R, {"x": x}, {"x": np.cos(x) * R * (1 + 1e-6)})
    small = R * 1e-6
    check(run, small, {"x": x}, {"x": np.cos(x) * small})
    with pytest.raises(AssertionError):
        check(run, small, {"x": x}, {"x": np.cos(x) * small * 1.1})
    assert noise_floor(30, 1.0) < 1e-6 * np.linalg.norm(np.cos(x) * R)


@SETTINGS
@given(b=dims, t=dims, din=dims, dout=dims, seed=st.integers(0, 99))
def test_linear(b, t, din, dout, seed):
    rng = np.random.default_rng(seed)
    x, W, bias, R = _r(rng, b, t, din), _r(rng, din, dout), _r(rng, dout), _r(rng, b, t, dout)
    dx, dW, db = linear_backward(R, linear_forward(x, W, bias)[1], W)
    check(lambda: linear_forward(x, W, bias)[0], R, {"x": x, "W": W, "b": bias}, {"x": dx, "W": dW, "b": db})


@SETTINGS
@given(n=st.integers(1, 30), seed=st.integers(0, 99))
def test_relu(n, seed):
    rng = np.random.default_rng(seed)
    x = _r(rng, n)
    x += np.sign(x) * 1e-3  # keep every input ≥ 1e-3 from the kink, where FD would straddle it
    R = _r(rng, n)
    dx = relu_backward(R, relu_forward(x)[1])
    check(lambda: relu_forward(x)[0], R, {"x": x}, {"x": dx})


@SETTINGS
@given(b=dims, t=dims, p=st.sampled_from([0.0, 0.1, 0.5]), seed=st.integers(0, 99))
def test_dropout_fixed_mask(b, t, p, seed):
    rng = np.random.default_rng(seed)
    x, R = _r(rng, b, t, 4), _r(rng, b, t, 4)
    run = lambda: dropout_forward(x, p, np.random.default_rng(seed), True)
    dx = dropout_backward(R, run()[1])
    check(lambda: run()[0], R, {"x": x}, {"x": dx})


def test_dropout_statistics_and_eval_identity():
    x = np.ones((200, 500), dtype=np.float32)
    y, mask = dropout_forward(x, 0.1, np.random.default_rng(0), True)
    assert y.dtype == np.float32 and mask.dtype == np.float32
    kept = (mask > 0).mean()
    assert abs(kept - 0.9) < 0.005             # 1e5 Bernoulli draws: std of the mean ≈ 0.001
    assert np.allclose(y[mask > 0], 1 / 0.9)   # inverted scaling keeps E[y] = x
    y_eval, m_eval = dropout_forward(x, 0.1, None, False)
    assert y_eval is x and m_eval is None


@impls
@SETTINGS
@given(b=dims, t=dims, n=st.integers(2, 8), seed=st.integers(0, 99))
def test_layernorm(impl, b, t, n, seed):
    fwd, bwd = OPS[impl]["ln"]
    rng = np.random.default_rng(seed)
    x, g, be, R = _r(rng, b, t, n) * 3 + 1, _r(rng, n), _r(rng, n), _r(rng, b, t, n)
    dx, dg, db = bwd(R, fwd(x, g, be, 1e-6)[1], g)
    check(lambda: fwd(x, g, be, 1e-6)[0], R, {"x": x, "gamma": g, "beta": be}, {"x": dx, "gamma": dg, "beta": db})


@SETTINGS
@given(b=dims, t=dims, v=st.integers(1, 6), seed=st.integers(0, 99))
def test_softmax_masked(b, t, v, seed):
    rng = np.random.default_rng(seed)
    x, R = _r(rng, b, t, v), _r(rng, b, t, v)
    mask = rng.random((b, t, v)) > 0.3
    mask[0, 0] = False  # one fully masked row: must give zeros, not NaN
    p = softmax_forward(x, mask)
    assert np.all(np.isfinite(p)) and np.all(p[~mask] == 0)
    assert np.allclose(p.sum(-1)[mask.any(-1)], 1.0)
    dx = softmax_backward(R, p)
    np.testing.assert_allclose(dx.sum(-1), 0, atol=1e-14)   # shift invariance: rows sum to 0
    check(lambda: softmax_forward(x, mask), R, {"x": x}, {"x": dx})


@impls
@SETTINGS
@given(b=dims, tq=dims, tk=dims, dk=dims, dv=dims, masked=st.booleans(), seed=st.integers(0, 99))
def test_scaled_dot_product_attention(impl, b, tq, tk, dk, dv, masked, seed):
    fwd, bwd = OPS[impl]["sdpa"]
    rng = np.random.default_rng(seed)
    q, k, v, R = _r(rng, b, tq, dk), _r(rng, b, tk, dk), _r(rng, b, tk, dv), _r(rng, b, tq, dv)
    mask = None
    if masked:
        mask = rng.random((b, 1, tk)) > 0.4
        mask[..., 0] = True  # at least one key per row
    dq, dk_, dv_ = bwd(R, fwd(q, k, v, mask)[1])
    check(lambda: fwd(q, k, v, mask)[0], R, {"q": q, "k": k, "v": v}, {"q": dq, "k": dk_, "v": dv_})


@impls
@SETTINGS
@given(b=dims, tq=dims, tk=dims, d=dims, heads=st.sampled_from([1, 2]), seed=st.integers(0, 99))
def test_attention_with_dropout_on_the_weights_fixed_mask(impl, b, tq, tk, d, heads, seed):
    """P̃ = Dropout(softmax(S)), O = P̃ V: the same mask in every evaluation (a fresh generator
    of one seed, as for the other dropouts), the backward through the mask against finite
    differences, for the attention alone and inside multi-head attention."""
    fwd, bwd = OPS[impl]["sdpa"]
    rng = np.random.default_rng(seed)
    q, k, v, R = _r(rng, b, heads, tq, d), _r(rng, b, heads, tk, d), _r(rng, b, heads, tk, d), _r(rng, b, heads, tq, d)
    mask = rng.random((b, 1, 1, tk)) > 0.3
    mask[..., 0] = True
    run = lambda: fwd(q, k, v, mask, 0.4, np.random.default_rng(seed))
    out, cache = run()
    np.testing.assert_allclose(out, np.matmul(cache.weights * cache.drop_mask, v), rtol=1e-13, atol=1e-13)
    dq, dk_, dv_ = bwd(R.copy(), cache)
    check(lambda: run()[0], R, {"q": q, "k": k, "v": v}, {"q": dq, "k": dk_, "v": dv_})

    fwd, bwd = OPS[impl]["mha"]
    p, x, R = _mha_params(rng, heads * d), _r(rng, b, tq, heads * d), _r(rng, b, tq, heads * d)
    run = lambda: fwd(x, None, p, heads, causal_mask(tq), None, 0.4, np.random.default_rng(seed))
    dx, _, grads = bwd(R, run()[1], p)
    inputs, analytic = {"x": x, **flatten(p)}, {"x": dx, **flatten(grads)}
    inputs.pop("wk.bias")   # still exactly zero: the rows of dS = softmax_backward(dP, P) sum to 0 whatever dP
    assert np.max(np.abs(grads.wk.bias)) < 1e-13 * max(1.0, float(np.sum(np.abs(run()[0] * R))))
    check(lambda: run()[0], R, inputs, analytic)


def _mha_params(rng, d):
    """The block's parameter tree (p.wq.weight, …), drawn in the order of the shared names."""
    return unflatten({f"{w}.{n}": _r(rng, d, d) / np.sqrt(d) if n == "weight" else _r(rng, d) * 0.1
                      for w in ("wq", "wk", "wv", "wo") for n in ("weight", "bias")})


@impls
@SETTINGS
@given(b=dims, tq=dims, tk=dims, heads=st.sampled_from([1, 2, 3]), dk=st.integers(1, 3),
       cross=st.booleans(), seed=st.integers(0, 99))
def test_multi_head_attention(impl, b, tq, tk, heads, dk, cross, seed):
    """Every projection's gradient (dW_Q, dW_K, dW_V per head, side by side) and both inputs.
    db_K is exactly zero (softmax ignores a per-query constant; ops/attention.py), so it is
    checked against zero, not by finite differences of a function that does not depend on it."""
    fwd, bwd = OPS[impl]["mha"]
    rng = np.random.default_rng(seed)
    d = heads * dk
    p = _mha_params(rng, d)
    xq, xkv = _r(rng, b, tq, d), (_r(rng, b, tk, d) if cross else None)
    T = tk if cross else tq
    mask = rng.random((b, 1, 1, T)) > 0.3
    mask[..., 0] = True
    if not cross:
        mask = mask & causal_mask(tq)
    R = _r(rng, b, tq, d)
    dxq, dxkv, grads = bwd(R, fwd(xq, xkv, p, heads, mask)[1], p)
    assert list(flatten(grads)) == list(flatten(p))          # a gradient tree shaped like p
    inputs, analytic = {"xq": xq, **flatten(p)}, {"xq": dxq, **flatten(grads)}
    if cross:
        inputs["xkv"], analytic["xkv"] = xkv, dxkv
    inputs.pop("wk.bias")
    scale = np.sum(np.abs(fwd(xq, xkv, p, heads, mask)[0] * R))
    assert np.max(np.abs(grads.wk.bias)) < 1e-13 * max(1.0, scale)   # rounding only
    check(lambda: fwd(xq, xkv, p, heads, mask)[0], R, inputs, analytic)


def test_key_bias_does_not_change_the_output_and_gets_zero_gradient():
    """The reason db_K = 0: shifting b_K changes every score of a query row by the same amount."""
    rng = np.random.default_rng(3)
    p, x = _mha_params(rng, 6), _r(rng, 2, 5, 6)
    out, cache = attention.mha_forward(x, None, p, 2, causal_mask(5))
    p2 = unflatten(dict(flatten(p), **{"wk.bias": p.wk.bias + 10 * _r(rng, 6)}))
    np.testing.assert_allclose(attention.mha_forward(x, None, p2, 2, causal_mask(5))[0], out, rtol=1e-12, atol=1e-12)
    _, _, grads = attention.mha_backward(_r(rng, 2, 5, 6), cache, p)
    assert np.max(np.abs(grads.wk.bias)) < 1e-13 and np.max(np.abs(grads.wq.bias)) > 1e-3


@impls
@SETTINGS
@given(b=dims, t=dims, d=st.integers(1, 4), ff=st.integers(1, 6), seed=st.integers(0, 99))
def test_feed_forward(impl, b, t, d, ff, seed):
    fwd, bwd = OPS[impl]["ffn"]
    rng = np.random.default_rng(seed)
    p = unflatten({"linear1.weight": _r(rng, d, ff), "linear1.bias": _r(rng, ff),
                   "linear2.weight": _r(rng, ff, d), "linear2.bias": _r(rng, d)})
    x, R = _r(rng, b, t, d), _r(rng, b, t, d)
    h = x.reshape(-1, d) @ p.linear1.weight + p.linear1.bias
    if np.min(np.abs(h)) < 1e-4:   # a pre-activation at the ReLU's kink: FD would straddle it
        x += 1e-3
    dx, grads = bwd(R, fwd(x, p)[1], p)
    assert list(flatten(grads)) == list(flatten(p))
    check(lambda: fwd(x, p)[0], R, {"x": x, **flatten(p)}, {"x": dx, **flatten(grads)})


@SETTINGS
@given(b=dims, t=dims, v=st.integers(2, 7), seed=st.integers(0, 99))
def test_embedding_gather_scatter(b, t, v, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, v, (b, t))
    W, R = _r(rng, v, 6), _r(rng, b, t, 6)
    pe = positional_encoding(t + 2, 6, dtype=np.float64)
    dW = embedding_backward(R, embedding_forward(ids, W)[1], v)
    check(lambda: embedding_forward(ids, W)[0], R, {"W": W}, {"W": dW})
    for offset in (0, 2):
        dW = embed_backward(R, embed_forward(ids, W, pe, offset)[1], v)
        check(lambda: embed_forward(ids, W, pe, offset)[0], R, {"W": W}, {"W": dW})


def _layer_setup(norm_first, seed, stack):
    """Layer 0 of `stack` ("encoder" or "decoder"): its own parameter tree."""
    cfg = TransformerConfig(src_vocab_size=5, tgt_vocab_size=5, d_model=6, num_heads=2, d_ff=10,
                            num_layers=1, dropout=0.2, norm_first=norm_first, dtype="float64")
    p = init_params(cfg, seed)[stack].layers[0]
    for v in flatten(p).values():  # non-trivial norms and biases so their gradients are exercised
        v += np.random.default_rng(seed).standard_normal(v.shape) * 0.1
    return cfg, p


@impls
@pytest.mark.parametrize("norm_first,attention_dropout", [(False, 0.0), (True, 0.0), (False, 0.3), (True, 0.3)])
def test_encoder_layer_with_masks_and_dropout(norm_first, attention_dropout, impl):
    """Dropout on both sublayers' outputs, and with attention_dropout (BERT's) on the attention
    weights too."""
    cfg, p = _layer_setup(norm_first, 0, "encoder")
    rng = np.random.default_rng(1)
    x, R = rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 5, 6))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)[:, None, None, :]
    run = lambda: encoder_layer_forward(x, p, cfg, mask, np.random.default_rng(7), True, KERNELS[impl],
                                        attention_dropout)
    assert (run()[1].self_attn.sdpa.drop_mask is None) == (attention_dropout == 0.0)
    dx, grads = encoder_layer_backward(R, run()[1], p, cfg, KERNELS[impl])
    assert list(flatten(grads)) == list(flatten(p))          # the layer's tree, in its order
    inputs, analytic = {"x": x, **flatten(p)}, {"x": dx, **flatten(grads)}
    inputs.pop("self_attn.wk.bias")
    check(lambda: run()[0], R, inputs, analytic)


@impls
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_with_masks_and_dropout(norm_first, impl):
    cfg, p = _layer_setup(norm_first, 3, "decoder")
    rng = np.random.default_rng(2)
    y, mem, R = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 4, 6))
    self_mask = causal_mask(4) & np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)[:, None, None, :]
    cross_mask = np.array([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]], bool)[:, None, None, :]
    k = KERNELS[impl]
    run = lambda: decoder_layer_forward(y, mem, p, cfg, self_mask, cross_mask, np.random.default_rng(9), True, k)
    dy, dmem, grads = decoder_layer_backward(R, run()[1], p, cfg, k)
    assert list(flatten(grads)) == list(flatten(p))
    inputs, analytic = {"y": y, "memory": mem, **flatten(p)}, {"y": dy, "memory": dmem, **flatten(grads)}
    for name in ("self_attn.wk.bias", "cross_attn.wk.bias"):
        inputs.pop(name)
    check(lambda: run()[0], R, inputs, analytic)


def test_attention_on_plain_2d_arrays_matches_the_formula():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    from numpy_transformer import scaled_dot_product_attention
    out, w = scaled_dot_product_attention(q, k, v, causal_mask(5)[:3])
    s = q @ k.T / 2.0                          # sqrt(d_k) = 2
    s[np.triu(np.ones((3, 5), bool), 1)] = -np.inf
    ref_w = np.exp(s - s.max(1, keepdims=True))
    ref_w /= ref_w.sum(1, keepdims=True)
    np.testing.assert_allclose(w, ref_w, rtol=1e-14)
    np.testing.assert_allclose(out, ref_w @ v, rtol=1e-13)
