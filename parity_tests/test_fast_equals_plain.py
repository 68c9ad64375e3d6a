"""Every speed mechanism in fast/ against the plain maths it replaces (ops/), in float64:
outputs and gradients agree to 1e-12 relative to their scale (the fast versions reorder sums
and scale Q before Qᵀ K instead of after, so rounding differs at the 1e-16 level; the subnormal
flush only touches values below 1e-292 in float64). Adam's threads and slices are bit-identical
(test_numpy_loss_optim.py)."""
import numpy as np
import pytest

from numpy_transformer import BertConfig, BertEncoder, Transformer, TransformerConfig, fast
from numpy_transformer.config.tree import named, unflatten
from numpy_transformer.ops import attention, feedforward, layernorm, loss
from numpy_transformer.ops.attention import KVCache, causal_mask

RTOL = 1e-12   # float64: a few dozen roundings of 1.1e-16 each, far below this


def close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * max(1.0, float(np.max(np.abs(b)))))


def close_dicts(a, b):
    """Two gradient trees (or flat dicts) of the same names, in the same order, close."""
    a, b = named(a), named(b)
    assert list(a) == list(b)
    for k in b:
        close(a[k], b[k])


@pytest.mark.parametrize("masked,dropout", [(False, 0.0), (True, 0.0), (True, 0.3)])
def test_sdpa(rng, masked, dropout):
    """With dropout on the weights too: the same generator state draws the same mask."""
    q, k, v, dout = (rng.standard_normal((2, 3, 5, 4)) for _ in range(4))
    mask = None
    if masked:
        mask = rng.random((2, 1, 5, 5)) > 0.4
        mask[0, 0, 2] = False                      # a fully masked row: zeros in both
    o1, c1 = attention.sdpa_forward(q, k, v, mask, dropout, np.random.default_rng(5))
    o2, c2 = fast.attention.sdpa_forward(q, k, v, mask, dropout, np.random.default_rng(5))
    close(o2, o1)
    close(c2.weights, c1.weights)
    if dropout:
        assert np.any(c1.drop_mask == 0)
        np.testing.assert_array_equal(c2.drop_mask, c1.drop_mask)
    for g2, g1 in zip(fast.attention.sdpa_backward(dout.copy(), c2), attention.sdpa_backward(dout, c1)):
        close(g2, g1)


def _mha_params(rng, d):
    return unflatten({f"{w}.{n}": rng.standard_normal((d, d) if n == "weight" else d) / np.sqrt(d)
                      for w in ("wq", "wk", "wv", "wo") for n in ("weight", "bias")})


@pytest.mark.parametrize("cross,dropout", [(False, 0.0), (True, 0.0), (False, 0.3)])
def test_multi_head_attention(rng, cross, dropout):
    p = _mha_params(rng, 12)
    xq, dout = rng.standard_normal((3, 5, 12)), rng.standard_normal((3, 5, 12))
    xkv = rng.standard_normal((3, 7, 12)) if cross else None
    mask = (rng.random((3, 1, 1, 7)) > 0.3) if cross else causal_mask(5)
    o1, c1 = attention.mha_forward(xq, xkv, p, 3, mask, None, dropout, np.random.default_rng(5))
    o2, c2 = fast.attention.mha_forward(xq, xkv, p, 3, mask, None, dropout, np.random.default_rng(5))
    close(o2, o1)
    close(c2.weights, c1.weights)
    dxq1, dxkv1, g1 = attention.mha_backward(dout, c1, p)
    dxq2, dxkv2, g2 = fast.attention.mha_backward(dout, c2, p)
    close(dxq2, dxq1)
    close_dicts(g2, g1)
    if cross:
        close(dxkv2, dxkv1)
    else:
        assert dxkv1 is None and dxkv2 is None


@pytest.mark.parametrize("cross", [False, True])
def test_multi_head_attention_with_a_key_value_cache(rng, cross):
    """Step by step through a key/value cache (the fast version's FusedKVCache keeps the fused weights):
    each step equals the plain step and the last row of the full causal forward."""
    p = _mha_params(rng, 8)
    x = rng.standard_normal((2, 6, 8))
    mem = rng.standard_normal((2, 4, 8)) if cross else None
    full, _ = attention.mha_forward(x, mem, p, 2, None if cross else causal_mask(6))
    caches = [cls(2, 2, 6, 4, np.float64, fixed=cross) for cls in (KVCache, fast.attention.FusedKVCache)]
    for t in range(6):
        o1, _ = attention.mha_forward(x[:, t:t + 1], mem, p, 2, None, caches[0])
        o2, _ = fast.attention.mha_forward(x[:, t:t + 1], mem, p, 2, None, caches[1])
        close(o2, o1)
        close(o1, full[:, t:t + 1])
    assert caches[1].fused            # the fused weight was built once and kept


def test_layernorm(rng):
    x, dy = rng.standard_normal((4, 6, 10)) * 3 + 1, rng.standard_normal((4, 6, 10))
    g, b = rng.standard_normal(10), rng.standard_normal(10)
    y1, c1 = layernorm.layernorm_forward(x, g, b, 1e-6)
    y2, c2 = fast.layernorm.layernorm_forward(x, g, b, 1e-6)
    close(y2, y1)
    for a2, a1 in zip(fast.layernorm.layernorm_backward(dy, c2, g), layernorm.layernorm_backward(dy, c1, g)):
        close(a2, a1)


@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh"])
def test_feed_forward(rng, activation):
    """float64: the exact GELU's fast path is the plain ops (fast/gelu.py's polynomial is float32's)."""
    p = unflatten({"linear1.weight": rng.standard_normal((6, 20)), "linear1.bias": rng.standard_normal(20),
                   "linear2.weight": rng.standard_normal((20, 6)), "linear2.bias": rng.standard_normal(6)})
    x, dy = rng.standard_normal((3, 5, 6)), rng.standard_normal((3, 5, 6))
    y1, c1 = feedforward.feed_forward_forward(x, p, activation)
    y2, c2 = fast.feedforward.feed_forward_forward(x, p, activation)
    close(y2, y1)
    dx1, g1 = feedforward.feed_forward_backward(dy, c1, p)
    dx2, g2 = fast.feedforward.feed_forward_backward(dy.copy(), c2, p)
    close(dx2, dx1)
    close_dicts(g2, g1)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy(rng, smoothing):
    logits = rng.standard_normal((3, 4, 9)) * 4
    labels = rng.integers(1, 9, (3, 4))
    labels[1, 2:] = 0
    l1, d1 = loss.masked_cross_entropy(logits, labels, 0, smoothing)
    l2, d2 = fast.loss.masked_cross_entropy(logits, labels, 0, smoothing)
    assert l2 == pytest.approx(l1, rel=RTOL)
    close(d2, d1)


@pytest.mark.parametrize("norm_first", [False, True])
def test_whole_model_fast_and_plain_kernels(rng, norm_first):
    cfg = TransformerConfig(17, 19, d_model=16, num_heads=4, d_ff=24, num_layers=2, dropout=0.1,
                            norm_first=norm_first, dtype="float64")
    plain, quick = Transformer(cfg, seed=3, kernels="plain"), Transformer(cfg, seed=3, kernels="fast")
    src, tgt = rng.integers(1, 17, (4, 6)), rng.integers(1, 19, (4, 5))
    src[0, 4:] = tgt[2, 3:] = 0
    l1 = plain.forward(src, tgt, training=True, rng=np.random.default_rng(9))
    l2 = quick.forward(src, tgt, training=True, rng=np.random.default_rng(9))   # same dropout masks
    close(l2, l1)
    d = rng.standard_normal(l1.shape)
    close_dicts(quick.backward(d), plain.backward(d))
    w1, w2 = plain.attention_weights(), quick.attention_weights()
    close_dicts(w2, w1)


def test_float32_model_kernels_agree_to_float32_rounding(rng):
    cfg = TransformerConfig(17, 19, d_model=32, num_heads=4, d_ff=64, num_layers=2, dropout=0.0)
    plain, quick = Transformer(cfg, seed=1, kernels="plain"), Transformer(cfg, seed=1, kernels="fast")
    src, tgt = rng.integers(1, 17, (4, 6)), rng.integers(1, 19, (4, 5))
    l1, l2 = plain.forward(src, tgt), quick.forward(src, tgt)
    assert l1.dtype == l2.dtype == np.float32
    # float32: eps 6e-8 per rounding, ~100 roundings deep through 2+2 layers: 1e-5 relative
    np.testing.assert_allclose(l2, l1, rtol=1e-5, atol=1e-5 * np.abs(l1).max())


def test_unknown_kernels_name():
    with pytest.raises(ValueError, match="kernels must be one of"):
        Transformer(TransformerConfig(5, 5, d_model=4, num_heads=1, d_ff=4, num_layers=1), kernels="turbo")


@pytest.mark.parametrize("head", ["mlm", "cls"])
def test_whole_bert_fast_and_plain_kernels_with_every_dropout(rng, head):
    """BERT in training: dropout on the embedding, the sublayers, the attention weights and the
    pooled output, the same masks in both (one generator, the same order of draws)."""
    cfg = BertConfig(vocab_size=23, d_model=12, num_heads=3, d_ff=16, num_layers=2, max_len=8, dropout=0.2,
                     attention_probs_dropout_prob=0.3, classifier_dropout=0.3, dtype="float64")
    plain, quick = BertEncoder(cfg, seed=2, kernels="plain"), BertEncoder(cfg, seed=2, kernels="fast")
    ids = rng.integers(1, 23, (3, 7))
    ids[1, 5:] = 0
    l1 = plain.forward(ids, head=head, training=True, rng=np.random.default_rng(9))
    l2 = quick.forward(ids, head=head, training=True, rng=np.random.default_rng(9))
    close(l2, l1)
    d = rng.standard_normal(l1.shape)
    close_dicts(quick.backward(d), plain.backward(d))


def _tiny_models(kernels=None):
    """A Transformer, a ViT and a BERT encoder, built with `kernels` (None: each model's default)."""
    from numpy_transformer import BertConfig, BertEncoder, ViTConfig, VisionTransformer
    kw = {} if kernels is None else {"kernels": kernels}
    return [Transformer(TransformerConfig(5, 5, d_model=4, num_heads=1, d_ff=4, num_layers=1), **kw),
            VisionTransformer(ViTConfig(image_size=4, channels=1, patch_size=2, num_classes=2, d_model=4,
                                        num_heads=1, d_ff=4, num_layers=1), **kw),
            BertEncoder(BertConfig(vocab_size=6, d_model=4, num_heads=1, d_ff=4, num_layers=1), **kw)]


def test_models_run_the_plain_ops_unless_asked_for_fast():
    """The code a reader studies (ops/) is the code a model runs by default; fast/ by name only."""
    from numpy_transformer.models import PLAIN
    for m in _tiny_models():
        assert m.kernels is PLAIN, type(m).__name__
        assert m.kernels.mha_forward is attention.mha_forward
        assert m.kernels.feed_forward_backward is feedforward.feed_forward_backward
        assert m.kernels.layernorm_forward is layernorm.layernorm_forward
    for m in _tiny_models("fast"):
        assert m.kernels.name == "fast", type(m).__name__
        assert m.kernels.mha_forward is fast.attention.mha_forward
        assert m.kernels.feed_forward_backward is fast.feedforward.feed_forward_backward
        assert m.kernels.layernorm_forward is fast.layernorm.layernorm_forward


@pytest.mark.parametrize("kernels,cache_type", [("plain", KVCache), ("fast", fast.attention.FusedKVCache)])
def test_decoding_keeps_the_key_value_cache_its_kernels_use(kernels, cache_type):
    model = _tiny_models(kernels)[0]
    state = model.start_decoding(np.array([[1, 2, 3]]), 4)
    assert {type(c) for kv in state.layers for c in kv} == {cache_type}
    model.decode_step(np.array([1]), state)
    if kernels == "fast":
        assert state.layers[0].self_attn.fused      # the fused weights, built on the first step
