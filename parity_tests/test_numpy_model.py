"""The whole NumPy model: gradients, masks, dtypes, state dicts, learning, bad input."""

import dataclasses

import numpy as np
import pytest

from numpy_transformer import BertConfig, RNNTranslatorConfig, ViTConfig
from numpy_transformer import (Adam, Transformer, TransformerConfig, gradcheck, masked_accuracy,
                               masked_cross_entropy, parameter_shapes)
from numpy_transformer.config.tree import flatten

PAD = 0


def tiny_cfg(**kw):
    base = dict(src_vocab_size=13, tgt_vocab_size=11, d_model=8, num_heads=2, d_ff=16,
                num_layers=2, dropout=0.1, max_len=10, dtype="float64")
    base.update(kw)
    return TransformerConfig(**base)


def batch(rng, cfg, B=2, S=6, T=5):
    src = rng.integers(1, cfg.src_vocab_size, (B, S))
    tgt = rng.integers(1, cfg.tgt_vocab_size, (B, T))
    lab = rng.integers(1, cfg.tgt_vocab_size, (B, T))
    src[0, S - 2:] = PAD            # padding in the batch, in source and target
    tgt[1, T - 2:] = lab[1, T - 2:] = PAD
    return src, tgt, lab


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("num_layers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_whole_model_gradcheck_float64(norm_first, num_layers):
    """Every parameter tensor against central differences, with padding, dropout (a fixed
    mask via a re-seeded Generator) and label smoothing."""
    cfg = tiny_cfg(norm_first=norm_first, num_layers=num_layers)
    model = Transformer(cfg, seed=3)
    src, tgt, lab = batch(np.random.default_rng(0), cfg)

    def loss_and_grad():
        logits = model.forward(src, tgt, training=True, rng=np.random.default_rng(5))
        return masked_cross_entropy(logits, lab, PAD, label_smoothing=0.1)

    _, dlogits = loss_and_grad()
    grads = flatten(model.backward(dlogits))                  # the gradient tree, by name
    params = flatten(model.params)
    assert list(grads) == list(params)
    assert all(grads[k].shape == params[k].shape for k in grads)
    inputs = dict(params)
    # Every wk.bias shifts all scores of a row equally; softmax ignores that, so its gradient
    # is exactly zero. Checked absolutely here (FD noise ≈ 1e-16·|f|/h ≈ 1e-10), relatively below.
    for k in [k for k in inputs if k.endswith("wk.bias")]:
        del inputs[k]
        assert np.max(np.abs(grads[k])) < 1e-12
    gradcheck(lambda: loss_and_grad()[0], inputs, grads, tol=1e-7)


def test_padding_and_future_get_exactly_zero_attention(rng):
    cfg = tiny_cfg(dropout=0.0)
    model = Transformer(cfg, seed=0)
    src, tgt, _ = batch(rng, cfg)
    model.forward(src, tgt)
    weights = model.attention_weights()
    assert len(weights) == 3 * cfg.num_layers
    src_pad = src == PAD
    tgt_pad = tgt == PAD
    future = np.triu(np.ones((tgt.shape[1],) * 2, bool), k=1)
    for name, w in weights.items():
        assert np.allclose(w.sum(-1), 1.0)
        if name.startswith("encoder") or "cross_attn" in name:
            assert np.all(w.transpose(0, 3, 1, 2)[src_pad] == 0), name    # padded keys
        else:
            assert np.all(w[:, :, future] == 0), name                      # future keys
            assert np.all(w.transpose(0, 3, 1, 2)[tgt_pad] == 0), name


def test_changing_padded_or_future_tokens_changes_nothing_it_must_not(rng):
    cfg = tiny_cfg(dropout=0.0)
    model = Transformer(cfg, seed=1)
    src, tgt, _ = batch(rng, cfg)
    ref = model.forward(src, tgt)
    # The pad id is what marks padding, so "changing a padded token" means changing what a
    # padded position carries: its embedding row. No real position's output may move at all.
    model.params.encoder.embedding.weight[PAD] += 3.0
    model.params.decoder.embedding.weight[PAD] += 3.0
    out = model.forward(src, tgt)
    real = tgt != PAD
    assert np.array_equal(out[real], ref[real])
    # a future target token changes no earlier position's logits, and does change its own
    tgt3 = tgt.copy()
    tgt3[0, 3] = (tgt3[0, 3] % (cfg.tgt_vocab_size - 1)) + 1
    out3 = model.forward(src, tgt3)
    assert np.array_equal(out3[0, :3], out[0, :3])
    assert not np.allclose(out3[0, 3:], out[0, 3:])
    assert np.array_equal(out3[1], out[1])      # the other sequence in the batch is untouched
    # a real source token does change the outputs (the check above can fail)
    src4 = src.copy()
    src4[0, 0] = (src4[0, 0] % (cfg.src_vocab_size - 1)) + 1
    assert not np.allclose(model.forward(src4, tgt)[0], out[0])


def test_batch_padding_equals_unpadded_run(rng):
    """A sequence padded inside a batch gives the same logits as the same sequence alone."""
    cfg = tiny_cfg(dropout=0.0)
    model = Transformer(cfg, seed=2)
    src, tgt, _ = batch(rng, cfg)
    full = model.forward(src, tgt)
    alone = model.forward(src[:1, :-2], tgt[:1])
    np.testing.assert_allclose(full[:1], alone, rtol=0, atol=1e-12)


@pytest.mark.parametrize("norm_first", [False, True])
def test_float32_is_float32_throughout_and_matches_float64(rng, norm_first):
    cfg64 = tiny_cfg(dropout=0.0, norm_first=norm_first)
    m64 = Transformer(cfg64, seed=0)
    m32 = Transformer(cfg64.replace(dtype="float32"), seed=0)
    m32.load_state_dict(m64.state_dict())
    src, tgt, lab = batch(rng, cfg64)
    l32, l64 = m32.forward(src, tgt), m64.forward(src, tgt)
    assert l32.dtype == np.float32
    # float32 has 2^-24 ≈ 6e-8 relative precision; 2 layers × a handful of ops stays near 1e-6
    np.testing.assert_allclose(l32, l64, rtol=1e-5, atol=1e-5)
    g32 = flatten(m32.backward(masked_cross_entropy(l32, lab)[1]))
    g64 = flatten(m64.backward(masked_cross_entropy(l64, lab)[1]))
    for k in g32:
        assert g32[k].dtype == np.float32, k
        scale = np.abs(g64[k]).max() + 1e-30
        assert np.abs(g32[k] - g64[k]).max() <= 1e-4 * max(scale, 1e-3), k


def test_state_dict_names_shapes_and_strict_loading():
    cfg = tiny_cfg(norm_first=True)
    model = Transformer(cfg)
    sd = model.state_dict()
    assert list(sd) == list(parameter_shapes(cfg))
    assert "encoder.final_norm.gamma" in sd and "decoder.layers.1.norm3.beta" in sd
    sd["output.bias"][0] = 42.0
    assert model.params.output.bias[0] != 42.0      # state_dict returns copies
    other = Transformer(cfg, seed=9)
    other.load_state_dict(sd)
    assert all(np.array_equal(v, sd[k]) for k, v in flatten(other.params).items())
    with pytest.raises(ValueError, match="missing keys.*output.weight"):
        other.load_state_dict({k: v for k, v in sd.items() if k != "output.weight"})
    with pytest.raises(ValueError, match="unexpected keys.*extra"):
        other.load_state_dict({**sd, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match="output.bias: expected shape"):
        other.load_state_dict({**sd, "output.bias": np.zeros(3)})
    bad = dict(sd)
    bad["encoder.layers.0.norm1.gamma"] = sd["encoder.layers.0.norm1.gamma"].copy()
    bad["encoder.layers.0.norm1.gamma"][1] = np.nan
    with pytest.raises(ValueError, match="norm1.gamma: contains NaN"):
        other.load_state_dict(bad)
    assert other.params.output.bias[0] == 42.0      # failed loads changed nothing
    post_ln = Transformer(cfg.replace(norm_first=False)).state_dict()
    with pytest.raises(ValueError, match="missing keys.*final_norm"):
        Transformer(cfg).load_state_dict(post_ln)      # a post-LN checkpoint into a pre-LN model


@pytest.mark.parametrize("bad, err, match", [
    (lambda s, t: (s.astype(np.float32), t), TypeError, "src_ids must be an integer array"),
    (lambda s, t: (s[0], t), ValueError, r"src_ids must have shape \(batch, seq_len\).*ids\[None\]"),
    (lambda s, t: (s, t[..., None]), ValueError, "tgt_ids must have shape"),
    (lambda s, t: (s + 13, t), ValueError, "src_ids contains id .* outside the vocabulary"),
    (lambda s, t: (s, t - 20), ValueError, "tgt_ids contains id -.* outside the vocabulary"),
    (lambda s, t: (np.ones((2, 11), int), t), ValueError, "length 11 > max_len=10"),
    (lambda s, t: (s[:, :0], t), ValueError, "src_ids is empty"),
    (lambda s, t: (s[:1], t), ValueError, "batch sizes differ"),
])
def test_bad_input_raises_clear_errors(rng, bad, err, match):
    cfg = tiny_cfg()
    model = Transformer(cfg)
    src, tgt, _ = batch(rng, cfg)
    with pytest.raises(err, match=match):
        model.forward(*bad(src, tgt))


def test_bad_config_and_backward_misuse():
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        tiny_cfg(d_model=10, num_heads=3)
    with pytest.raises(ValueError, match="dtype must be one of"):
        tiny_cfg(dtype="float16")
    with pytest.raises(TypeError, match="num_layers must be an int"):
        tiny_cfg(num_layers=2.0)
    model = Transformer(tiny_cfg())
    with pytest.raises(RuntimeError, match="needs a forward"):
        model.backward(np.zeros((2, 5, 11)))
    src, tgt, _ = batch(np.random.default_rng(0), model.cfg)
    model.forward(src, tgt)
    with pytest.raises(ValueError, match="dlogits has shape"):
        model.backward(np.zeros((2, 4, 11)))


def test_tiny_model_overfits_a_fixed_batch_to_full_accuracy():
    """Copy task on one fixed batch: Adam must drive masked token accuracy to 100%."""
    cfg = TransformerConfig(src_vocab_size=12, tgt_vocab_size=12, d_model=32, num_heads=4, d_ff=64,
                            num_layers=2, dropout=0.0, max_len=12)
    model = Transformer(cfg, seed=0)
    rng = np.random.default_rng(0)
    src = rng.integers(3, 12, (8, 7))
    src[::2, 5:] = PAD
    lab = np.concatenate([src, np.zeros((8, 1), int)], axis=1)
    lab[np.arange(8), (src != PAD).sum(1)] = 2          # <eos>=2 right after the last token
    tgt = np.concatenate([np.ones((8, 1), int), lab[:, :-1]], axis=1)   # <start>=1, shifted
    tgt[tgt == 2] = PAD
    opt = Adam(lr=3e-3, beta1=0.9, beta2=0.98, eps=1e-9)
    for step in range(300):
        logits = model.forward(src, tgt, training=True)
        loss, dlogits = masked_cross_entropy(logits, lab)
        opt.step(model.params, model.backward(dlogits))
        if masked_accuracy(logits, lab) == 1.0 and loss < 0.05:
            break
    logits = model.forward(src, tgt)
    assert masked_accuracy(logits, lab) == 1.0, (step, loss)


@pytest.mark.parametrize("make, field", [
    (lambda **kw: TransformerConfig(src_vocab_size=9, tgt_vocab_size=9, **kw), "d_model"),
    (lambda **kw: ViTConfig(image_size=8, channels=1, patch_size=4, num_classes=3, **kw), "d_model"),
    (lambda **kw: BertConfig(vocab_size=9, **kw), "num_layers"),
    (lambda **kw: RNNTranslatorConfig(src_vocab_size=9, tgt_vocab_size=9, **kw), "hidden"),
])
def test_every_config_names_a_bad_integer_field(make, field):
    """The configs share one integer check (config/models._check_ints): a bool, a float and a
    value below 1 are refused with the config's and the field's name; pad_id may be 0, not -1."""
    name = type(make()).__name__
    with pytest.raises(TypeError, match=rf"{name}\.{field} must be an int, got True"):
        make(**{field: True})
    with pytest.raises(TypeError, match=rf"{name}\.{field} must be an int, got 2\.0"):
        make(**{field: 2.0})
    with pytest.raises(ValueError, match=rf"{name}\.{field} must be >= 1, got 0"):
        make(**{field: 0})
    assert isinstance(getattr(make(**{field: np.int64(8)}), field), int)
    if "pad_id" in {f.name for f in dataclasses.fields(type(make()))}:
        with pytest.raises(ValueError, match=rf"{name}\.pad_id must be >= 0, got -1"):
            make(pad_id=-1)
