"""Layer-by-layer parity, NumPy reference vs keras_transformer, identical weights, dropout off,
padding in the batch: forward outputs, attention weights per head, and the gradients of every
parameter and of the layer inputs (Keras via its backend's autodiff with the same upstream
gradient the NumPy backward receives; keras_grads.vjp)."""
import numpy as np
import pytest

from requires import require

keras = require("keras")

from numpy_transformer import TransformerConfig  # noqa: E402
from numpy_transformer.config.tree import named, unflatten  # noqa: E402
from numpy_transformer.ops.attention import (causal_mask, mha_backward, mha_forward, padding_mask,  # noqa: E402
                                         sdpa_backward, sdpa_forward)
from numpy_transformer.ops.layernorm import layernorm_forward  # noqa: E402
from numpy_transformer.models import PLAIN  # noqa: E402
from numpy_transformer.models.layers import (decoder_layer_backward, decoder_layer_forward,  # noqa: E402
                                             encoder_layer_backward, encoder_layer_forward, layer_norm,
                                             layer_norm_backward)
from numpy_transformer.ops.feedforward import feed_forward_backward, feed_forward_forward  # noqa: E402
from numpy_transformer.models import Transformer  # noqa: E402
from parity_report import (cfg_label, check_abs, check_forward, check_grad, make_batch,  # noqa: E402
                           parity_report, perturbed_state)

import keras_transformer as kt  # noqa: E402
from keras_grads import backend_dtype_guard, to_numpy, vjp  # noqa: E402,F401

pytestmark = pytest.mark.usefixtures("parity_report")
DTYPES = ["float64", "float32"]
B, S, T = 3, 7, 6


def small_cfg(dtype, norm_first=False, num_layers=1):
    return TransformerConfig(src_vocab_size=13, tgt_vocab_size=11, d_model=16, num_heads=4, d_ff=32,
                             num_layers=num_layers, dropout=0.1, max_len=12, norm_first=norm_first,
                             dtype=dtype)


def setup(dtype, norm_first=False, num_layers=1, seed=0):
    """cfg, perturbed NumPy params (the parameter tree), inputs x (B,T,d), memory (B,S,d),
    upstream grads, masks."""
    cfg = small_cfg(dtype, norm_first, num_layers)
    params = unflatten(perturbed_state(cfg, seed))
    rng = np.random.default_rng(seed + 7)
    src, tgt, _ = make_batch(cfg, B, S, T, seed)
    arr = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    masks = {"src": padding_mask(src, cfg.pad_id),                               # (B,1,1,S)
             "self": causal_mask(T) & padding_mask(tgt, cfg.pad_id)}             # (B,1,T,T)
    return cfg, params, arr(B, T, cfg.d_model), arr(B, S, cfg.d_model), arr(B, T, cfg.d_model), masks


def load(layer, params):
    """Assign NumPy params (a layer's tree, read under its local dotted names) through the layer's
    explicit variable_map."""
    params = named(params)
    vmap = layer.variable_map()
    assert set(vmap) == set(params), sorted(set(vmap) ^ set(params))
    for k, var in vmap.items():
        assert tuple(var.shape) == params[k].shape
        var.assign(params[k])
    return vmap


def tape_grads(fn, inputs, variables, dy):
    """fn(*inputs) -> y; returns y and d<y, dy>/d(inputs), d/d(variables) as NumPy arrays
    (autodiff of the Keras backend in use: keras_grads.vjp)."""
    return vjp(fn, inputs, variables, dy)


def check_param_grads(layer_name, kgrads, ngrads, dtype, label):
    """Every parameter's gradient (ngrads: the NumPy gradient tree); the summary table shows
    the worst tensor of each layer."""
    ngrads = named(ngrads)
    assert set(kgrads) == set(ngrads)
    for k in sorted(ngrads):
        if k.endswith("wk.bias"):
            check_wk_bias(f"{layer_name} d{k}", kgrads[k], ngrads[k], ngrads[k.replace("wk.bias", "wq.bias")],
                          dtype, label)
        else:
            check_grad(f"{layer_name} d{k}", kgrads[k], ngrads[k], dtype, label,
                       group=f"{layer_name} d(every param)")


def check_wk_bias(quantity, kg, ng, ref, dtype, label):
    """The key bias adds the same q·b_k to every score of a row, and softmax is shift-invariant
    per row, so dL/db_k = 0 exactly; both backends return rounding noise, for which a relative
    error means nothing. Both must be ~0 next to the query-bias gradient (same shape, same
    path): |g| <= 100·eps·max(||dL/db_q||, 1)."""
    eps = np.finfo(dtype).eps
    tol = 100 * eps * max(float(np.linalg.norm(ref)), 1.0)
    check_abs(f"{quantity} (=0, Keras)", kg, np.zeros_like(kg), tol, dtype, label, group="d wk.bias = 0 (Keras)")
    check_abs(f"{quantity} (=0, NumPy)", ng, np.zeros_like(ng), tol, dtype, label, group="d wk.bias = 0 (NumPy)")


# ---------------------------------------------------------------- attention
@pytest.mark.parametrize("dtype", DTYPES)
def test_dot_product_attention(dtype):
    cfg, _, _, _, _, masks = setup(dtype)
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((B, cfg.num_heads, T, cfg.d_k)).astype(dtype) for _ in range(3))
    dy = rng.standard_normal((B, cfg.num_heads, T, cfg.d_k)).astype(dtype)
    layer = kt.DotProductAttention(dtype=dtype)
    mask = masks["self"]
    out, cache = sdpa_forward(q, k, v, mask)
    dq, dk, dv = sdpa_backward(dy, cache)
    y, (gq, gk, gv), _ = tape_grads(lambda a, b, c: layer(a, b, c, mask), [q, k, v], {}, dy)
    _, w = layer(q, k, v, mask, return_attention_scores=True)
    label = "B3H4T6dk4 causal+pad"
    check_forward("DotProductAttention out", y, out, dtype, label)
    check_forward("DotProductAttention weights", to_numpy(w), cache[3], dtype, label)
    for name, a, b in (("dq", gq, dq), ("dk", gk, dk), ("dv", gv, dv)):
        check_grad(f"DotProductAttention {name}", a, b, dtype, label)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["self", "cross"])
def test_multi_head_attention(dtype, kind):
    cfg, params, x, memory, dy, masks = setup(dtype)
    p = params.decoder.layers[0][f"{kind}_attn"]
    layer = kt.MultiHeadAttention(cfg.num_heads, cfg.d_model, dtype=dtype)
    layer.build()
    vmap = load(layer, p)
    if kind == "self":
        mask = masks["self"]
        out, cache = mha_forward(x, None, p, cfg.num_heads, mask)
        dx, _, ngrads = mha_backward(dy, cache, p)
        y, (gx,), kgrads = tape_grads(lambda a: layer(a, a, a, mask), [x], vmap, dy)
        _, w = layer(x, x, x, mask, return_attention_scores=True)
    else:
        mask = masks["src"]
        out, cache = mha_forward(x, memory, p, cfg.num_heads, mask)
        dx, dmem, ngrads = mha_backward(dy, cache, p)
        y, (gx, gmem), kgrads = tape_grads(lambda a, m: layer(a, m, m, mask), [x, memory], vmap, dy)
        _, w = layer(x, memory, memory, mask, return_attention_scores=True)
        check_grad("MHA(cross) d memory", gmem, dmem, dtype, cfg_label(cfg))
    label = cfg_label(cfg) + f" {kind}"
    check_forward(f"MHA({kind}) out", y, out, dtype, label)
    w = to_numpy(w)
    for h in range(cfg.num_heads):  # attention weights, head by head
        check_forward(f"MHA({kind}) weights head {h}", w[:, h], cache[3][3][:, h], dtype, label,
                      group="attention weights per head")
    check_grad(f"MHA({kind}) d x", gx, dx, dtype, label)
    check_param_grads(f"MHA({kind})", kgrads, ngrads, dtype, label)


# ---------------------------------------------------------------- feed-forward, add & norm
@pytest.mark.parametrize("dtype", DTYPES)
def test_feed_forward(dtype):
    cfg, params, x, _, dy, _ = setup(dtype)
    p = params.encoder.layers[0].ffn
    layer = kt.FeedForward(cfg.d_ff, cfg.d_model, dtype=dtype)
    layer.build()
    vmap = load(layer, p)
    out, cache = feed_forward_forward(x, p)
    dx, ngrads = feed_forward_backward(dy, cache, p)
    y, (gx,), kgrads = tape_grads(layer, [x], vmap, dy)
    label = cfg_label(cfg)
    assert np.mean(cache[1] == 0) > 0.2  # the ReLU does cut: the test covers its gradient
    check_forward("FeedForward out", y, out, dtype, label)
    check_grad("FeedForward d x", gx, dx, dtype, label)
    check_param_grads("FeedForward", kgrads, ngrads, dtype, label)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
def test_add_normalization(dtype, norm_first):
    """The residual connection around a fixed sublayer f(h) = tanh(h) A (no parameters):
    post-LN LN(x + f(x)), pre-LN x + f(LN(x)); gradients w.r.t. x, gamma and beta."""
    cfg, params, x, _, dy, _ = setup(dtype, norm_first)
    p = params.encoder.layers[0].norm1                               # gamma, beta
    A = np.random.default_rng(3).standard_normal((cfg.d_model, cfg.d_model)).astype(dtype)
    layer = kt.AddNormalization(norm_first, cfg.layer_norm_eps, dtype=dtype)
    layer.build((None, None, cfg.d_model))
    vmap = load(layer, p)

    # the residual connection as models/layers.py writes it, and its backward line by line
    if norm_first:                       # out = x + f(LN(x))
        h, ln = layer_norm(x, p, cfg, PLAIN)
        t = np.tanh(h)
        out = x + t @ A
        dh, g = layer_norm_backward((dy @ A.T) * (1 - t * t), ln, p, PLAIN)
        dx = dy + dh
    else:                                # out = LN(x + f(x))
        t = np.tanh(x)
        out, ln = layer_norm(x + t @ A, p, cfg, PLAIN)
        dz, g = layer_norm_backward(dy, ln, p, PLAIN)
        dx = dz + (dz @ A.T) * (1 - t * t)
    dgamma, dbeta = g.gamma, g.beta

    def keras_fwd(a):
        return layer(a, keras.ops.matmul(keras.ops.tanh(layer.normalize_input(a)), A))

    y, (gx,), kgrads = tape_grads(keras_fwd, [x], vmap, dy)
    label = cfg_label(cfg)
    check_forward("AddNormalization out", y, out, dtype, label)
    check_grad("AddNormalization d x", gx, dx, dtype, label)
    check_param_grads("AddNormalization", kgrads, {"gamma": dgamma, "beta": dbeta}, dtype, label)


# ---------------------------------------------------------------- encoder / decoder layers
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer(dtype, norm_first):
    cfg, params, _, x, _, masks = setup(dtype, norm_first)
    dy = np.random.default_rng(4).standard_normal(x.shape).astype(dtype)
    p = params.encoder.layers[0]
    layer = kt.EncoderLayer(cfg)
    layer.build()
    vmap = load(layer, p)
    out, cache = encoder_layer_forward(x, p, cfg, masks["src"])
    dx, ngrads = encoder_layer_backward(dy, cache, p, cfg)
    y, (gx,), kgrads = tape_grads(lambda a: layer(a, masks["src"], training=False), [x], vmap, dy)
    label = cfg_label(cfg)
    check_forward("EncoderLayer out", y, out, dtype, label)
    check_grad("EncoderLayer d x", gx, dx, dtype, label)
    check_param_grads("EncoderLayer", kgrads, ngrads, dtype, label)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer(dtype, norm_first):
    cfg, params, y_in, memory, dy, masks = setup(dtype, norm_first)
    p = params.decoder.layers[0]
    layer = kt.DecoderLayer(cfg)
    layer.build()
    vmap = load(layer, p)
    out, cache = decoder_layer_forward(y_in, memory, p, cfg, masks["self"], masks["src"])
    dx, dmem, ngrads = decoder_layer_backward(dy, cache, p, cfg)
    y, (gx, gmem), kgrads = tape_grads(
        lambda a, m: layer(a, m, masks["self"], masks["src"], training=False), [y_in, memory], vmap, dy)
    label = cfg_label(cfg)
    check_forward("DecoderLayer out", y, out, dtype, label)
    check_grad("DecoderLayer d x", gx, dx, dtype, label)
    check_grad("DecoderLayer d memory", gmem, dmem, dtype, label)
    check_param_grads("DecoderLayer", kgrads, ngrads, dtype, label)


# ---------------------------------------------------------------- stacks
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_encoder_and_decoder_stacks(dtype, norm_first, num_layers):
    """Encoder and Decoder forward against Transformer.encode/decode, each layer's output along
    the way, and the pre-LN final norm."""
    cfg = small_cfg(dtype, norm_first, num_layers)
    state = perturbed_state(cfg, 1)
    npm = Transformer(cfg)
    npm.load_state_dict(state)
    km = kt.TransformerModel(cfg)
    km.load_state_dict(state)
    src, tgt, _ = make_batch(cfg, B, S, T, 1)
    src_mask = padding_mask(src, cfg.pad_id)
    self_mask = causal_mask(T) & padding_mask(tgt, cfg.pad_id)
    label = cfg_label(cfg)

    memory = npm.encode(src)
    k_memory = to_numpy(km.encoder(src, src_mask, training=False))
    check_forward("Encoder out", k_memory, memory, dtype, label)
    h = npm.decode(tgt, memory, src_mask)
    check_forward("Decoder out", to_numpy(km.decoder(tgt, memory, self_mask, src_mask, training=False)), h,
                  dtype, label)

    # layer by layer, feeding each Keras layer the NumPy input of that layer
    x = to_numpy(km.encoder.embedding(src))
    x_np = npm.pe[:S] + state["encoder.embedding.weight"][src] * np.sqrt(cfg.d_model).astype(dtype)
    check_forward("embedding (src)", x, x_np, dtype, label)
    for i, layer in enumerate(km.encoder.layers):
        ref, _ = encoder_layer_forward(x_np, npm.params.encoder.layers[i], cfg, src_mask)
        check_forward(f"Encoder.layers[{i}] out", to_numpy(layer(x_np, src_mask)), ref, dtype, label,
                      group="Encoder.layers[i] out")
        x_np = ref
    if norm_first:
        ref = layernorm_forward(x_np, state["encoder.final_norm.gamma"], state["encoder.final_norm.beta"],
                                cfg.layer_norm_eps)[0]
        check_forward("Encoder final_norm", to_numpy(km.encoder.final_norm(x_np)), ref, dtype, label)
    assert len(km.decoder.layers) == num_layers == len(npm.params.decoder.layers) == len(npm.params.encoder.layers)
