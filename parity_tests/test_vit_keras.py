"""NumPy VisionTransformer vs keras_transformer.VisionTransformerModel with identical weights,
dropout off: logits, loss, every parameter's gradient, attention weights; the GELU feed-forward
layer alone; state dicts both ways; the same errors for bad input. Tolerances are the suite's
(parity_report.py): forward float64 max |diff| ≤ 1e-10, float32 ≤ 1e-5 of the largest logit;
gradients ‖a − b‖ / max(‖a‖, ‖b‖) ≤ 1e-9 (float64), 1e-4 (float32)."""
import numpy as np
import pytest

from requires import require

keras = require("keras")

from numpy_transformer.config.tree import flatten, unflatten  # noqa: E402
from numpy_transformer import (Transformer, TransformerConfig, ViTConfig, VisionTransformer,  # noqa: E402
                               masked_cross_entropy)
from numpy_transformer.ops.feedforward import feed_forward_backward, feed_forward_forward  # noqa: E402
from parity_report import check_abs, check_forward, check_grad, parity_report  # noqa: E402,F401

import keras_transformer as kt  # noqa: E402
from keras_grads import (backend_dtype_guard, grad_of_scalar, skip_unless_dtype_supported, to_numpy,  # noqa: E402,F401
                         vjp)

pytestmark = pytest.mark.usefixtures("parity_report")


def vit_cfg(dtype, norm_first=True, activation="gelu", **kw):
    base = dict(image_size=8, channels=2, patch_size=4, num_classes=5, d_model=12, num_heads=3, d_ff=20,
                num_layers=2, dropout=0.1)
    base.update(kw)
    return ViTConfig(**base, norm_first=norm_first, activation=activation, dtype=dtype)


CONFIGS = [pytest.param(vit_cfg(dt, nf, act), id=f"{dt}-{'pre' if nf else 'post'}LN-{act}",
                        marks=pytest.mark.per_backend)
           for dt in ("float64", "float32") for nf in (True, False) for act in ("gelu", "gelu_tanh")]
# the digits program's default size (8x8x1 images, 2x2 patches, d_model 64, 4 heads, 4 layers)
CONFIGS += [pytest.param(ViTConfig(image_size=8, channels=1, patch_size=2, num_classes=10, d_model=64,
                                   num_heads=4, d_ff=128, num_layers=4, dtype=dt), id=f"digits-size-{dt}")
            for dt in ("float64", "float32")]


def label(cfg):
    return (f"img{cfg.image_size}x{cfg.channels}p{cfg.patch_size}d{cfg.d_model}h{cfg.num_heads}L{cfg.num_layers}"
            f"-{'preLN' if cfg.norm_first else 'postLN'}-{cfg.activation}")


def pair(cfg, seed=0):
    """Both models with the NumPy init plus noise, so biases, norms and tokens are not 0/1."""
    npm = VisionTransformer(cfg, seed=seed)
    rng = np.random.default_rng(seed + 100)
    state = {k: (v + 0.1 * (float(v.std()) if v.ndim == 2 else 1.0) * rng.standard_normal(v.shape)).astype(cfg.dtype)
             for k, v in npm.state_dict().items()}
    npm.load_state_dict(state)
    km = kt.VisionTransformerModel(cfg)
    km.load_state_dict(state)
    return npm, km


def batch(cfg, B=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((B, cfg.image_size, cfg.image_size, cfg.channels)) * 2 - 1
    return images, rng.integers(0, cfg.num_classes, B)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_logits_loss_and_every_gradient(cfg):
    npm, km = pair(cfg)
    images, labels = batch(cfg)
    dtype, lab = cfg.dtype, label(cfg)

    logits = npm.forward(images)
    loss, dlogits = masked_cross_entropy(logits, labels, pad_id=-1)   # pad_id -1: every label counts
    grads = flatten(npm.backward(dlogits))                 # the gradient tree, by name

    vmap = km.variable_map()
    k_logits = km(images, training=False)
    # the functional loss computes in the logits' dtype (the Loss object's default is float32)
    k_loss, k_grads = grad_of_scalar(lambda: keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
        labels, km(images, training=False), from_logits=True)), vmap)

    assert keras.backend.standardize_dtype(k_logits.dtype) == dtype and all(v.dtype == dtype for v in vmap.values())
    check_forward("ViT logits", to_numpy(k_logits), logits, dtype, lab)
    check_forward("ViT cross-entropy", float(k_loss), loss, dtype, lab)
    assert set(k_grads) == set(grads)
    for k in grads:
        if k.endswith("wk.bias"):
            # dL/db_K = 0 exactly (softmax is shift-invariant per query row): both backends give
            # rounding noise, bounded next to the query bias' gradient (as in test_keras_model)
            tol = 100 * np.finfo(dtype).eps * max(float(np.linalg.norm(grads[k.replace("wk", "wq")])), 1.0)
            check_abs(f"ViT d{k} (=0, Keras)", k_grads[k], 0 * grads[k], tol, dtype, lab, group="ViT d wk.bias = 0")
            check_abs(f"ViT d{k} (=0, NumPy)", grads[k], 0 * grads[k], tol, dtype, lab, group="ViT d wk.bias = 0")
        else:
            check_grad(f"ViT d{k}", k_grads[k], grads[k], dtype, lab, group="ViT d(every param)")


@pytest.mark.per_backend
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_attention_weights_match(dtype):
    cfg = vit_cfg(dtype)
    npm, km = pair(cfg, seed=3)
    images, _ = batch(cfg, seed=1)
    npm.forward(images)
    ours, theirs = npm.attention_weights(), km.attention_weights(images)
    assert set(ours) == set(theirs)
    for k in ours:
        check_forward(f"ViT attention {k}", theirs[k], ours[k], dtype, label(cfg), group="ViT attention weights")


@pytest.mark.per_backend
@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh", "relu"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_feed_forward_layer_with_each_activation(activation, dtype):
    layer = kt.FeedForward(10, 6, activation, dtype=dtype)
    layer.build()
    p = unflatten({k: to_numpy(v) for k, v in layer.variable_map().items()})
    x = (np.random.default_rng(0).standard_normal((3, 4, 6)) * 2).astype(dtype)
    dy = np.random.default_rng(1).standard_normal((3, 4, 6)).astype(dtype)
    out, (k_dx,), k_dp = vjp(layer, [x], layer.variable_map(), dy)
    y, cache = feed_forward_forward(x, p, activation)
    dx, grads = feed_forward_backward(dy, cache, p)
    grads = flatten(grads)
    config = f"FFN d6 f10 {activation}"
    check_forward("FFN output", out, y, dtype, config, group="FFN (GELU/ReLU) output")
    check_grad("FFN dx", k_dx, dx, dtype, config, group="FFN (GELU/ReLU) grads")
    for k, g in k_dp.items():
        check_grad(f"FFN d{k}", g, grads[k], dtype, config, group="FFN (GELU/ReLU) grads")


def test_translation_transformer_float64_with_an_inexact_scale():
    """Regression: 1/sqrt(d_k) and sqrt(d_model) are inexact for d_model=24, d_k=12; the Keras
    model once cast them from Python floats through float32 (6e-8 off in float64 logits)."""
    skip_unless_dtype_supported("float64")
    cfg = TransformerConfig(11, 13, d_model=24, num_heads=2, d_ff=32, num_layers=1, dtype="float64", max_len=8,
                            activation="gelu")
    npm, km = Transformer(cfg), kt.TransformerModel(cfg)
    km.load_state_dict(npm.state_dict())
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(1, 11, (2, 5)), rng.integers(1, 13, (2, 4))
    check_forward("model logits (d_k=12, GELU)", to_numpy(km([src, tgt])), npm.forward(src, tgt), "float64",
                  "d24h2f32L1-postLN-gelu")


@pytest.mark.per_backend
def test_state_dicts_cross_both_ways_and_loads_are_strict():
    cfg = vit_cfg("float32")
    npm, km = pair(cfg)
    images, _ = batch(cfg)
    back = VisionTransformer(cfg, seed=9)
    back.load_state_dict(km.state_dict())
    np.testing.assert_array_equal(back.forward(images), npm.forward(images))
    assert km.num_parameters() == npm.num_parameters()
    sd = km.state_dict()
    with pytest.raises(ValueError, match="missing keys: \\['pos_embed'\\]"):
        km.load_state_dict({k: v for k, v in sd.items() if k != "pos_embed"})
    restored = kt.VisionTransformerModel.from_config(km.get_config())
    assert restored.cfg == cfg


def test_keras_model_gives_the_same_errors_for_bad_images():
    cfg = ViTConfig(image_size=8, channels=1, patch_size=2, num_classes=10)
    km = kt.VisionTransformerModel(cfg)
    with pytest.raises(ValueError, match="are 6x6 pixels, the model expects 8x8"):
        km(np.zeros((2, 6, 6, 1)))
    with pytest.raises(ValueError, match="have 3 channels"):
        km(keras.ops.zeros((2, 8, 8, 3)))
    bad = np.zeros((2, 8, 8, 1))
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf pixels"):
        km(bad)
    with pytest.raises(TypeError, match="must be a ViTConfig"):
        kt.VisionTransformerModel(TransformerConfig(5, 5))


@pytest.mark.per_backend
def test_dropout_in_training_mode_changes_the_output():
    cfg = vit_cfg("float32", dropout=0.3)
    _, km = pair(cfg)
    images, _ = batch(cfg)
    assert not np.allclose(to_numpy(km(images, training=True)), to_numpy(km(images, training=False)))
