"""The Vision Transformer's NumPy pieces against float64 central finite differences (the pattern
of test_numpy_grads.py: f = Σ y·R, criterion ‖num − ana‖ ≤ noise floor + 1e-7·‖num‖), the whole
model's gradient, GELU's values, patchify's layout, and the bad-input errors."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numpy_transformer import TransformerConfig, ViTConfig, VisionTransformer, fast
from numpy_transformer.config import check_labels, parameter_shapes
from numpy_transformer.ops import feedforward
from numpy_transformer.ops.activations import gelu_backward, gelu_derivative, gelu_forward
from numpy_transformer.ops.patches import (add_position_embedding, add_position_embedding_backward,
                                           class_token_output, class_token_output_backward,
                                           patch_embed_backward, patch_embed_forward, patchify,
                                           prepend_class_token, prepend_class_token_backward, unpatchify)
from numpy_transformer.config.tree import flatten, unflatten
from test_numpy_grads import check

SETTINGS = settings(max_examples=10, deadline=None)
dims = st.integers(1, 4)
FFN = {"plain": (feedforward.feed_forward_forward, feedforward.feed_forward_backward),
       "fast": (fast.feedforward.feed_forward_forward, fast.feedforward.feed_forward_backward)}


def _r(rng, *shape):
    return rng.standard_normal(shape)


# ---------------------------------------------------------------- GELU

def test_gelu_values_match_the_definition_and_the_tanh_form_is_close():
    x = np.linspace(-6, 6, 241)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(gelu_forward(x)[0], exact, rtol=1e-15, atol=1e-15)
    # the tanh form's largest deviation from the exact GELU is ~4.7e-4 (near |x| ≈ 2.2)
    dev = np.max(np.abs(gelu_forward(x, approximate=True)[0] - exact))
    assert 1e-4 < dev < 1e-3
    assert gelu_forward(np.float32([1.0]))[0].dtype == np.float32
    assert gelu_derivative(np.zeros(1))[0] == 0.5     # Φ(0) + 0·φ(0)


@pytest.mark.parametrize("approximate", [False, True])
@SETTINGS
@given(n=st.integers(1, 40), seed=st.integers(0, 99))
def test_gelu(approximate, n, seed):
    rng = np.random.default_rng(seed)
    x, R = _r(rng, n) * 3, _r(rng, n)
    dx = gelu_backward(R, gelu_forward(x, approximate)[1], approximate)
    check(lambda: gelu_forward(x, approximate)[0], R, {"x": x}, {"x": dx})


@pytest.mark.parametrize("impl", ["plain", "fast"])
@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh"])
@SETTINGS
@given(b=dims, t=dims, d=st.integers(1, 4), ff=st.integers(1, 6), seed=st.integers(0, 99))
def test_feed_forward_with_gelu(impl, activation, b, t, d, ff, seed):
    fwd, bwd = FFN[impl]
    rng = np.random.default_rng(seed)
    p = unflatten({"linear1.weight": _r(rng, d, ff), "linear1.bias": _r(rng, ff),
                   "linear2.weight": _r(rng, ff, d), "linear2.bias": _r(rng, d)})
    x, R = _r(rng, b, t, d), _r(rng, b, t, d)
    dx, grads = bwd(R, fwd(x, p, activation)[1], p)
    check(lambda: fwd(x, p, activation)[0], R, {"x": x, **flatten(p)}, {"x": dx, **flatten(grads)})


@pytest.mark.parametrize("dtype,activation", [(np.float32, "relu"), (np.float32, "gelu_tanh"),
                                              (np.float64, "relu"), (np.float64, "gelu"), (np.float64, "gelu_tanh")])
def test_fast_feed_forward_equals_plain(dtype, activation):
    """fast/ changes where results are written, not the arithmetic: bit-identical — except the
    exact GELU in float32, whose erf is fast/gelu.py's approximation (next test)."""
    rng = np.random.default_rng(0)
    p = {"linear1.weight": _r(rng, 8, 16), "linear1.bias": _r(rng, 16),
         "linear2.weight": _r(rng, 16, 8), "linear2.bias": _r(rng, 8)}
    p = unflatten({k: v.astype(dtype) for k, v in p.items()})
    x, dy = _r(rng, 3, 5, 8).astype(dtype), _r(rng, 3, 5, 8).astype(dtype)
    y1, c1 = feedforward.feed_forward_forward(x, p, activation)
    y2, c2 = fast.feedforward.feed_forward_forward(x, p, activation)
    np.testing.assert_array_equal(y1, y2)
    g1, g2 = feedforward.feed_forward_backward(dy, c1, p), fast.feedforward.feed_forward_backward(dy, c2, p)
    np.testing.assert_array_equal(g1[0], g2[0])
    t1, t2 = flatten(g1[1]), flatten(g2[1])
    assert list(t1) == list(t2) == list(flatten(p))
    for k in t1:
        np.testing.assert_array_equal(t1[k], t2[k])


def test_fast_exact_gelu_feed_forward_in_float32_within_the_erf_bound():
    """float32 exact GELU: each hidden activation differs from SciPy's by at most
    3.1e-7·max(1, |h|) (test_fast_gelu.py), so the output y_j = Σ_i a_i W2_ij + b_j differs by at
    most Σ_i 3.1e-7·max(1, |h_i|)·|W2_ij|, plus both sides' float32 rounding of the 16-term sum
    (16·eps·Σ_i |a_i W2_ij|); the gradients, whose GELU' differs by at most 5.5e-7·max(1, |h|),
    within 1e-4 of each tensor's largest entry (|h| ≤ 6 here: ≤ 3.3e-6 per unit, summed over 16)."""
    rng = np.random.default_rng(0)
    p = unflatten({k: v.astype(np.float32) for k, v in {
        "linear1.weight": _r(rng, 8, 16), "linear1.bias": _r(rng, 16),
        "linear2.weight": _r(rng, 16, 8), "linear2.bias": _r(rng, 8)}.items()})
    x, dy = _r(rng, 3, 5, 8).astype(np.float32), _r(rng, 3, 5, 8).astype(np.float32)
    y1, c1 = feedforward.feed_forward_forward(x, p, "gelu")
    y2, c2 = fast.feedforward.feed_forward_forward(x, p, "gelu")
    h = np.abs(c1.h.astype(np.float64))               # |GELU(h)| ≤ |h| bounds the products' scale
    w2 = np.abs(p.linear2.weight.astype(np.float64))
    bound = 3.1e-7 * (np.maximum(1.0, h) @ w2) + 16 * np.finfo(np.float32).eps * (h @ w2 + np.abs(y1))
    assert np.all(np.abs(y2.astype(np.float64) - y1) <= bound)
    assert not np.array_equal(y1, y2)                 # the approximation is really in use
    g1, g2 = feedforward.feed_forward_backward(dy, c1, p), fast.feedforward.feed_forward_backward(dy.copy(), c2, p)
    f1, f2 = flatten(g1[1]), flatten(g2[1])
    for t1, t2 in [(g1[0], g2[0])] + [(f1[k], f2[k]) for k in f1]:
        np.testing.assert_allclose(t2, t1, rtol=0, atol=1e-4 * float(np.max(np.abs(t1))))


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="activation must be one of"):
        feedforward.feed_forward_forward(np.ones((1, 2)), {}, "swish")
    with pytest.raises(ValueError, match="activation must be one of"):
        ViTConfig(8, 1, 2, 10, activation="tanh")


# ---------------------------------------------------------------- patches

def test_patchify_layout_and_inverse():
    """Patch (i, j) of a 4x6 image with P=2 holds pixels [2i:2i+2, 2j:2j+2, :] in (row, col,
    channel) order; unpatchify undoes it exactly."""
    B, H, W, C, P = 2, 4, 6, 3, 2
    img = np.arange(B * H * W * C, dtype=np.float64).reshape(B, H, W, C)
    patches = patchify(img, P)
    assert patches.shape == (B, (H // P) * (W // P), P * P * C)
    for b in range(B):
        for i in range(H // P):
            for j in range(W // P):
                np.testing.assert_array_equal(patches[b, i * (W // P) + j],
                                              img[b, i * P:(i + 1) * P, j * P:(j + 1) * P, :].reshape(-1))
    np.testing.assert_array_equal(unpatchify(patches, img.shape, P), img)
    with pytest.raises(ValueError, match="does not divide"):
        patchify(img, 4)


@SETTINGS
@given(b=dims, grid=st.integers(1, 3), P=st.integers(1, 3), c=st.integers(1, 3), d=dims, seed=st.integers(0, 99))
def test_patch_embedding(b, grid, P, c, d, seed):
    rng = np.random.default_rng(seed)
    img = _r(rng, b, grid * P, grid * P, c)
    W, bias, R = _r(rng, P * P * c, d), _r(rng, d), _r(rng, b, grid * grid, d)
    dimg, dW, db = patch_embed_backward(R, patch_embed_forward(img, W, bias, P)[1], W, P)
    check(lambda: patch_embed_forward(img, W, bias, P)[0], R, {"images": img, "W": W, "b": bias},
          {"images": dimg, "W": dW, "b": db})


@SETTINGS
@given(b=dims, n=dims, d=dims, seed=st.integers(0, 99))
def test_class_token_position_embedding_and_head_input(b, n, d, seed):
    rng = np.random.default_rng(seed)
    x, cls, pos = _r(rng, b, n, d), _r(rng, d), _r(rng, n + 1, d)
    run = lambda: class_token_output(add_position_embedding(prepend_class_token(x, cls), pos)) * 2 + \
        add_position_embedding(prepend_class_token(x, cls), pos).sum(axis=1)
    R = _r(rng, b, d)
    # f = Σ R·(2 z[:, 0] + Σ_t z[:, t]): the head reads row 0, the sum exercises every row
    dz = class_token_output_backward(2 * R, (b, n + 1, d), np.float64) + R[:, None, :]
    dz, dpos = add_position_embedding_backward(dz)
    dx, dcls = prepend_class_token_backward(dz)
    check(run, R, {"x": x, "class_token": cls, "pos_embed": pos}, {"x": dx, "class_token": dcls, "pos_embed": dpos})
    with pytest.raises(ValueError, match="position embedding"):
        add_position_embedding(prepend_class_token(x, cls), pos[:-1])


# ---------------------------------------------------------------- the whole model

def _model(norm_first, activation="gelu", kernels="plain", seed=0, dropout=0.2):
    cfg = ViTConfig(image_size=4, channels=2, patch_size=2, num_classes=3, d_model=6, num_heads=2, d_ff=8,
                    num_layers=2, dropout=dropout, norm_first=norm_first, activation=activation, dtype="float64")
    m = VisionTransformer(cfg, seed=seed, kernels=kernels)
    rng = np.random.default_rng(seed + 5)
    for v in flatten(m.params).values():   # non-trivial biases, norms, tokens
        v += 0.1 * rng.standard_normal(v.shape)
    return m


@pytest.mark.parametrize("kernels", ["plain", "fast"])
@pytest.mark.parametrize("norm_first,activation", [(True, "gelu"), (False, "gelu"), (True, "gelu_tanh"),
                                                   (True, "relu")])
def test_whole_model_gradient_with_dropout(norm_first, activation, kernels):
    """Every parameter of a 2-layer ViT, dropout on (the same masks in each evaluation).
    db_K is exactly zero (softmax shift invariance; test_numpy_grads) and is checked as such."""
    m = _model(norm_first, activation, kernels)
    rng = np.random.default_rng(1)
    img, R = rng.standard_normal((3, 4, 4, 2)), rng.standard_normal((3, 3))
    run = lambda: m.forward(img, training=True, rng=np.random.default_rng(7))
    run()
    grads = flatten(m.backward(R))                           # the gradient tree, by name
    assert list(grads) == list(parameter_shapes(m.cfg))
    params = flatten(m.params)
    inputs = {k: v for k, v in params.items() if not k.endswith("wk.bias")}
    for k in params:
        if k.endswith("wk.bias"):
            assert np.max(np.abs(grads[k])) < 1e-13
    if activation == "relu":   # no FFN pre-activation near the kink, where FD would straddle it
        for c, layer in zip(m._cache.encoder, m.params.encoder.layers):
            w = layer.ffn.linear1
            assert np.min(np.abs(c.ffn.x @ w.weight + w.bias)) > 1e-4
    check(run, R, inputs, {k: grads[k] for k in inputs})


def test_plain_and_fast_kernels_agree():
    a, b = _model(True, kernels="plain"), _model(True, kernels="fast")
    img = np.random.default_rng(2).standard_normal((4, 4, 4, 2))
    np.testing.assert_allclose(a.forward(img), b.forward(img), rtol=1e-12, atol=1e-14)
    dl = np.random.default_rng(3).standard_normal((4, 3))
    ga, gb = flatten(a.backward(dl)), flatten(b.backward(dl))
    assert list(ga) == list(gb)
    for k in ga:
        np.testing.assert_allclose(ga[k], gb[k], rtol=1e-10, atol=1e-13, err_msg=k)


def test_dropout_is_off_at_inference_and_on_in_training():
    m = _model(True, dropout=0.3)
    img = np.random.default_rng(0).standard_normal((2, 4, 4, 2))
    np.testing.assert_array_equal(m.forward(img), m.forward(img))
    assert not np.allclose(m.forward(img, training=True), m.forward(img))


def test_float32_by_default_and_num_parameters():
    cfg = ViTConfig(image_size=8, channels=1, patch_size=2, num_classes=10)
    m = VisionTransformer(cfg)
    logits = m.forward(np.zeros((2, 8, 8, 1), dtype=np.uint8))   # integer pixels are cast
    assert logits.dtype == np.float32 and logits.shape == (2, 10)
    assert all(g.dtype == np.float32 for g in flatten(m.backward(np.ones_like(logits))).values())
    d, f, N = 64, 128, 16
    layer = 4 * (d * d + d) + 2 * 2 * d + d * f + f + f * d + d
    assert m.num_parameters() == (4 * d + d) + d + (N + 1) * d + 2 * layer + 2 * d + d * 10 + 10


def test_attention_weights_rows_sum_to_one():
    m = _model(True)
    m.forward(np.random.default_rng(0).standard_normal((2, 4, 4, 2)))
    w = m.attention_weights()
    assert set(w) == {"encoder.layers.0.self_attn", "encoder.layers.1.self_attn"}
    for a in w.values():
        assert a.shape == (2, 2, 5, 5)
        np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-12)


# ---------------------------------------------------------------- state and errors

def test_state_dict_round_trip_and_strict_load():
    a, b = _model(True, seed=0), _model(True, seed=1)
    img = np.random.default_rng(0).standard_normal((2, 4, 4, 2))
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.forward(img), b.forward(img))
    sd = a.state_dict()
    with pytest.raises(ValueError, match="missing keys: \\['class_token'\\]"):
        b.load_state_dict({k: v for k, v in sd.items() if k != "class_token"})
    with pytest.raises(ValueError, match="unexpected keys"):
        b.load_state_dict({**sd, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match="pos_embed: expected shape"):
        b.load_state_dict({**sd, "pos_embed": np.zeros((4, 6))})
    with pytest.raises(ValueError, match="NaN"):
        b.load_state_dict({**sd, "head.bias": np.full(3, np.nan)})


def test_bad_images_get_clear_errors():
    m = VisionTransformer(ViTConfig(image_size=8, channels=1, patch_size=2, num_classes=10))
    with pytest.raises(ValueError, match="are 7x8 pixels, the model expects 8x8"):
        m.forward(np.zeros((2, 7, 8, 1)))
    with pytest.raises(ValueError, match="have 3 channels, the model expects 1"):
        m.forward(np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match="images\\[..., None\\]"):
        m.forward(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="a single image"):
        m.forward(np.zeros((8, 8, 1)))
    bad = np.zeros((3, 8, 8, 1))
    bad[1, 2, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf pixels \\(1 of 3 images\\)"):
        m.forward(bad)
    with pytest.raises(TypeError, match="real pixel values"):
        m.forward(np.zeros((2, 8, 8, 1), dtype=bool))
    with pytest.raises(ValueError, match="empty batch"):
        m.forward(np.zeros((0, 8, 8, 1)))
    with pytest.raises(ValueError, match="dlogits has shape"):
        m.forward(np.zeros((2, 8, 8, 1)))
        m.backward(np.zeros((2, 9)))


def test_bad_config_and_labels_get_clear_errors():
    with pytest.raises(ValueError, match="patch_size=3 does not divide image_size=8"):
        ViTConfig(image_size=8, channels=1, patch_size=3, num_classes=10)
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        ViTConfig(image_size=8, channels=1, patch_size=2, num_classes=10, d_model=10, num_heads=4)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        ViTConfig(image_size=8, channels=0, patch_size=2, num_classes=10)
    with pytest.raises(TypeError, match="must be a ViTConfig"):
        VisionTransformer(TransformerConfig(5, 5))
    with pytest.raises(ValueError, match="class 10 outside \\[0, 10\\)"):
        check_labels(np.array([1, 10]), 10)
    with pytest.raises(ValueError, match="class -1 outside"):
        check_labels(np.array([-1, 3]), 10)
    with pytest.raises(TypeError, match="integer class ids"):
        check_labels(np.array([1.0]), 10)


def test_configs_round_trip_and_old_translation_configs_load_as_relu():
    cfg = ViTConfig(image_size=8, channels=1, patch_size=4, num_classes=10, activation="gelu_tanh")
    assert ViTConfig.from_json(cfg.to_json()) == cfg
    old = TransformerConfig(7, 9).to_dict()
    del old["activation"]                       # a checkpoint written before the field existed
    assert TransformerConfig.from_json(json.dumps(old)).activation == "relu"
    with pytest.raises(ValueError, match="unknown ViTConfig keys"):
        ViTConfig.from_dict({**cfg.to_dict(), "vocab": 3})
