"""The NumPy multi-head attention (mha_forward / mha_backward) against Keras' own
keras.layers.MultiHeadAttention(num_heads, key_dim=d_k) loaded with the same weights: outputs,
attention weights and gradients, with an attention_mask. Independent of keras_transformer."""
import numpy as np
import pytest

from requires import require

keras = require("keras")

from numpy_transformer.config.tree import flatten, unflatten  # noqa: E402
from numpy_transformer.ops.attention import causal_mask, mha_backward, mha_forward  # noqa: E402
from parity_report import check_abs, check_forward, check_grad, parity_report  # noqa: E402
from keras_grads import backend_dtype_guard, to_numpy, vjp  # noqa: E402,F401

pytestmark = pytest.mark.usefixtures("parity_report")
B, TQ, TK, D, H = 3, 5, 7, 16, 4
DK = D // H
PROJ = {"wq": "_query_dense", "wk": "_key_dense", "wv": "_value_dense", "wo": "_output_dense"}


def numpy_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    p = {}
    for name in PROJ:
        p[f"{name}.weight"] = (rng.standard_normal((D, D)) / np.sqrt(D)).astype(dtype)
        p[f"{name}.bias"] = (0.1 * rng.standard_normal(D)).astype(dtype)
    return p


def stock_variables(layer):
    """Shared names -> the stock layer's variables, with the reshape between the (d_model,
    d_model) NumPy layout and Keras' EinsumDense kernels: query/key/value kernels
    (d_model, H, d_k) and biases (H, d_k) (head h = columns h·d_k..(h+1)·d_k), output kernel
    (H, d_k, d_model) and bias (d_model,)."""
    return {f"{name}.{kind}": getattr(getattr(layer, attr), kind if kind == "bias" else "kernel")
            for name, attr in PROJ.items() for kind in ("weight", "bias")}


def load_stock(layer, p):
    for name, var in stock_variables(layer).items():
        var.assign(p[name].reshape(var.shape))


def masks(kind):
    """(B, 1, Tq, Tk) boolean, True = may attend; every query row keeps at least one key (the
    stock layer gives a fully masked row uniform weights, NumPy gives zeros)."""
    if kind == "self":
        keep = np.ones((B, TQ), bool)
        keep[0, -2:] = keep[2, -1:] = False
        return causal_mask(TQ) & keep[:, None, None, :]
    keep = np.ones((B, TK), bool)
    keep[0, -3:] = keep[1, -1:] = False
    return np.broadcast_to(keep[:, None, None, :], (B, 1, TQ, TK))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["self", "cross"])
@pytest.mark.parametrize("scores", [False, True], ids=["fused-path", "return-scores-path"])
def test_numpy_mha_matches_stock_keras_mha(dtype, kind, scores):
    """`scores=False` lets Keras take its ops.dot_product_attention path, `True` its explicit
    einsum + masked-softmax path; both must match."""
    rng = np.random.default_rng(1)
    p = numpy_params(dtype)
    xq = rng.standard_normal((B, TQ, D)).astype(dtype)
    xkv = xq if kind == "self" else rng.standard_normal((B, TK, D)).astype(dtype)
    dy = rng.standard_normal((B, TQ, D)).astype(dtype)
    mask = masks(kind)

    tree = unflatten(p)                    # the op takes its parameter subtree (wq.weight, ...)
    out, cache = mha_forward(xq, None if kind == "self" else xkv, tree, H, mask)
    dxq, dxkv, grads = mha_backward(dy, cache, tree)
    grads = flatten(grads)                 # compared by the shared dotted names
    if kind == "self":
        dxkv = None

    layer = keras.layers.MultiHeadAttention(num_heads=H, key_dim=DK, dtype=dtype)
    layer(xq, xkv)  # build
    load_stock(layer, p)
    variables = stock_variables(layer)

    def run(tq, tkv):
        kv = tq if kind == "self" else tkv
        res = layer(tq, kv, kv, attention_mask=mask[:, 0], return_attention_scores=scores)
        return res[0] if scores else res
    y, g, kgrads = vjp(run, [xq, xkv], variables, dy)
    if scores:
        res = (None, layer(xq, xq if kind == "self" else xkv, xq if kind == "self" else xkv,
                           attention_mask=mask[:, 0], return_attention_scores=True)[1])
    label = f"B{B}Tq{TQ}Tk{TQ if kind == 'self' else TK}d{D}h{H} {kind} {'scores' if scores else 'fused'}"

    check_forward("stock Keras MHA out", y, out, dtype, label)
    if scores:
        check_forward("stock Keras MHA weights", to_numpy(res[1]), cache.weights, dtype, label)
    if kind == "self":
        # the stock layer receives xq as query, key and value: its input gradient is the sum
        check_grad("stock Keras MHA d x", g[0], dxq, dtype, label)
    else:
        check_grad("stock Keras MHA d query", g[0], dxq, dtype, label)
        check_grad("stock Keras MHA d key/value", g[1], dxkv, dtype, label)
    for name in variables:
        gk = kgrads[name].reshape(grads[name].shape)
        if name == "wk.bias":  # dL/db_k = 0 (softmax is shift-invariant per row): rounding noise
            tol = 100 * np.finfo(dtype).eps * max(float(np.linalg.norm(grads["wq.bias"])), 1.0)
            check_abs("stock Keras MHA dwk.bias (=0, Keras)", gk, 0 * gk, tol, dtype, label)
            check_abs("stock Keras MHA dwk.bias (=0, NumPy)", grads[name], 0 * gk, tol, dtype, label)
            continue
        check_grad(f"stock Keras MHA d{name}", gk, grads[name], dtype, label, group="stock Keras MHA d(every param)")
