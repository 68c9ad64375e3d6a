"""Whole-model parity, NumPy Transformer vs keras_transformer.TransformerModel with identical
weights, dropout off, padding in source and target: logits, loss, accuracy, the gradient of
every parameter, every attention block's weights, masks, and greedy decoding."""
import numpy as np
import pytest

from requires import require

keras = require("keras")

from numpy_transformer.config.tree import flatten  # noqa: E402
from numpy_transformer import (Transformer, TransformerConfig, masked_accuracy,  # noqa: E402
                               masked_cross_entropy)
from numpy_transformer.ops.attention import causal_mask, padding_mask, sdpa_forward  # noqa: E402
from parity_report import (cfg_label, check_abs, check_forward, check_grad, make_batch,  # noqa: E402
                           parity_report, perturbed_state)

import keras_transformer as kt  # noqa: E402
from keras_grads import backend_dtype_guard, grad_of_scalar, to_numpy, vjp  # noqa: E402,F401
from keras_transformer.backend import float64_supported  # noqa: E402

pytestmark = pytest.mark.usefixtures("parity_report")
SMOOTHING = 0.1


def small_cfg(dtype, norm_first, num_layers):
    return TransformerConfig(src_vocab_size=13, tgt_vocab_size=11, d_model=16, num_heads=4, d_ff=32,
                             num_layers=num_layers, dropout=0.1, max_len=12, norm_first=norm_first,
                             dtype=dtype)


def book_cfg(norm_first=False):
    """The paper's / book's base size, small vocabularies to keep it quick."""
    return TransformerConfig(src_vocab_size=40, tgt_vocab_size=37, d_model=512, num_heads=8, d_ff=2048,
                             num_layers=6, dropout=0.1, max_len=16, norm_first=norm_first, dtype="float32")


CONFIGS = [pytest.param(small_cfg(dt, nf, nl), id=f"{dt}-L{nl}-{'pre' if nf else 'post'}LN",
                        marks=pytest.mark.per_backend)
           for dt in ("float64", "float32") for nf in (False, True) for nl in (1, 2)]
CONFIGS += [pytest.param(book_cfg(nf), id=f"book-512-8-2048-6-float32-{'pre' if nf else 'post'}LN",
                         marks=pytest.mark.slow)
            for nf in (False, True)]


def pair(cfg, seed=0):
    state = perturbed_state(cfg, seed)
    npm = Transformer(cfg, seed=seed)
    npm.load_state_dict(state)
    km = kt.TransformerModel(cfg)
    km.load_state_dict(state)
    return npm, km


def relu_margin(npm):
    """min |z| / std(z) over every FFN pre-activation z = x W1 + b1 of the last forward (read
    from the NumPy model's caches). A pre-activation within rounding of 0 can take the other
    side of the ReLU kink in the other backend; that unit's gradient then differs by O(1) and
    the comparison would measure luck, not parity (it happened at book size, pre-LN, batch
    seed 0: one z = -3e-7 out of 57,344)."""
    margin = np.inf
    p = npm.params
    for caches, layers in ((npm._cache.encoder, p.encoder.layers), (npm._cache.decoder, p.decoder.layers)):
        for layer_cache, layer in zip(caches, layers):
            x = layer_cache.ffn.x.astype(np.float64)   # the FFN's input
            z = x @ layer.ffn.linear1.weight.astype(np.float64) + layer.ffn.linear1.bias
            margin = min(margin, float(np.abs(z).min() / z.std()))
    return margin


def well_posed_batch(npm, cfg, B):
    """The first batch (seeds 0, 1, ...) whose ReLU pre-activations all stay >= 5e-6·std away
    from the kink: about 10x the float32 rounding of z at d_model=512 (relative error of the
    layer input ~5e-7). Deterministic; float64 needs no margin."""
    for seed in range(20):
        src, tgt, lab = make_batch(cfg, B=B, S=7, T=6, seed=seed)
        npm.forward(src, tgt)
        if cfg.dtype == "float64" or relu_margin(npm) >= 5e-6:
            return src, tgt, lab
    raise AssertionError("no batch keeps the ReLU pre-activations away from 0")


@pytest.mark.parametrize("cfg", CONFIGS)
def test_forward_loss_and_every_gradient(cfg):
    npm, km = pair(cfg)
    src, tgt, lab = well_posed_batch(npm, cfg, B=3 if cfg.d_model < 512 else 2)
    dtype, label = cfg.dtype, cfg_label(cfg)

    logits = npm.forward(src, tgt)
    loss, dlogits = masked_cross_entropy(logits, lab, cfg.pad_id, SMOOTHING)
    grads = flatten(npm.backward(dlogits))                 # the gradient tree, by name

    vmap = km.variable_map()
    k_logits = km([src, tgt], training=False)
    k_loss, k_grads = grad_of_scalar(lambda: kt.masked_loss(lab, km([src, tgt], training=False), cfg.pad_id,
                                                            SMOOTHING), vmap)

    assert keras.backend.standardize_dtype(k_logits.dtype) == dtype and all(v.dtype == dtype for v in vmap.values())
    check_forward("model logits", to_numpy(k_logits), logits, dtype, label)
    check_forward("masked loss (label smoothing 0.1)", float(k_loss), loss, dtype, label)
    book_tol = 2e-4 if cfg.d_model >= 512 else None  # see the float64 reference below
    n = np.sum(lab != cfg.pad_id)  # same number of hits (the Keras metric is float32)
    assert round(float(kt.masked_accuracy(lab, k_logits, cfg.pad_id)) * n) == round(
        masked_accuracy(logits, lab, cfg.pad_id) * n)
    assert set(k_grads) == set(grads)
    for k in grads:
        if k.endswith("wk.bias"):
            # dL/db_k = 0 exactly (softmax is shift-invariant per row, see test_keras_layers):
            # both backends give rounding noise; bound it next to the query-bias gradient.
            tol = 100 * np.finfo(dtype).eps * max(float(np.linalg.norm(grads[k.replace("wk", "wq")])), 1.0)
            check_abs(f"model d{k} (=0, Keras)", k_grads[k], 0 * grads[k], tol, dtype, label,
                      group="d wk.bias = 0 (Keras)")
            check_abs(f"model d{k} (=0, NumPy)", grads[k], 0 * grads[k], tol, dtype, label,
                      group="d wk.bias = 0 (NumPy)")
        else:
            check_grad(f"model d{k}", k_grads[k], grads[k], dtype, label, tol=book_tol,
                       group="model d(every param)" + (", book size" if book_tol else ""))
    if cfg.d_model >= 512:
        # Why 2e-4 above at book size: the worst-conditioned tensors (post-LN, the last decoder
        # layer's self-attention wq/wk) come out of *each* float32 backend ~4-5e-5 away from the
        # exact (float64) gradient, so the two float32 results can be up to the sum apart
        # (8e-5 observed). What matters is that Keras is as close to the exact answer as the
        # NumPy float32 model is; that is checked here at the brief's 1e-4, against the NumPy
        # model run in float64 on the same weights.
        truth = Transformer(cfg.replace(dtype="float64"))
        truth.load_state_dict(npm.state_dict())
        _, d64 = masked_cross_entropy(truth.forward(src, tgt), lab, cfg.pad_id, SMOOTHING)
        g64 = flatten(truth.backward(d64))
        for k in (k for k in grads if not k.endswith("wk.bias")):
            check_grad(f"model d{k} Keras f32 vs NumPy f64", k_grads[k], g64[k], dtype, label,
                       group="model d(every param), book size, Keras f32 vs NumPy f64")
            check_grad(f"model d{k} NumPy f32 vs NumPy f64", grads[k], g64[k], dtype, label,
                       group="model d(every param), book size, NumPy f32 vs NumPy f64")


@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c.values[0].d_model < 512])
def test_attention_weights_of_every_block(cfg):
    npm, km = pair(cfg, seed=2)
    src, tgt, _ = make_batch(cfg, seed=2)
    npm.forward(src, tgt)
    ref = npm.attention_weights()
    got = km.attention_weights(src, tgt)
    assert got.keys() == ref.keys()
    for name, w in ref.items():
        assert got[name].shape == w.shape == (src.shape[0], cfg.num_heads, w.shape[2], w.shape[3])
        for h in range(cfg.num_heads):
            check_forward(f"{name} weights head {h}", got[name][:, h], w[:, h], cfg.dtype, cfg_label(cfg),
                          group="model attention weights per head")
        # padding and the future get exactly zero weight in both backends
        if "self_attn" in name and name.startswith("decoder"):
            allowed = causal_mask(tgt.shape[1]) & padding_mask(tgt, cfg.pad_id)
        else:
            allowed = padding_mask(src, cfg.pad_id)
        allowed = np.broadcast_to(allowed, w.shape)
        assert np.all(got[name][~allowed] == 0) and np.all(w[~allowed] == 0)


@pytest.mark.per_backend
def test_masks_are_identical():
    cfg = small_cfg("float64", False, 1)
    src, tgt, _ = make_batch(cfg)
    np.testing.assert_array_equal(to_numpy(kt.padding_mask(src, cfg.pad_id)), padding_mask(src, cfg.pad_id))
    for n in (1, 2, 6):
        np.testing.assert_array_equal(to_numpy(kt.lookahead_mask(n)), causal_mask(n))
    np.testing.assert_array_equal(to_numpy(kt.decoder_self_mask(tgt, cfg.pad_id)),
                                  causal_mask(tgt.shape[1]) & padding_mask(tgt, cfg.pad_id))
    assert keras.backend.standardize_dtype(kt.padding_mask(src).dtype) == "bool"
    assert tuple(kt.padding_mask(src).shape) == (3, 1, 1, 7)


@pytest.mark.per_backend
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fully_masked_rows_give_zero_weights_in_both(dtype):
    """A query row with no allowed key: NumPy returns all-zero weights (and output); the Keras
    DotProductAttention must do the same rather than a uniform row."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 2, 3, 4)).astype(dtype) for _ in range(3))
    mask = np.ones((2, 1, 3, 3), bool)
    mask[0, 0, 1, :] = False        # row 1 of batch 0 sees nothing
    mask[1, 0, :, 2] = False        # key 2 of batch 1 is padding
    out, cache = sdpa_forward(q, k, v, mask)
    w = cache.weights
    k_out, k_w = kt.DotProductAttention(dtype=dtype)(q, k, v, mask, return_attention_scores=True)
    assert np.all(w[0, :, 1] == 0) and np.all(to_numpy(k_w)[0, :, 1] == 0)
    check_forward("attention, fully masked row: out", to_numpy(k_out), out, dtype, "B2H2T3dk4")
    check_forward("attention, fully masked row: weights", to_numpy(k_w), w, dtype, "B2H2T3dk4")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_padding_is_invisible(dtype):
    """Appending padding columns to the source (and extra pad positions to the target) changes
    no logit at the real positions, in either backend, and the two still agree."""
    cfg = small_cfg(dtype, False, 2)
    npm, km = pair(cfg, seed=3)
    src, tgt, _ = make_batch(cfg, seed=3)
    src_long = np.concatenate([src, np.full((3, 3), cfg.pad_id)], axis=1)
    tgt_long = np.concatenate([tgt, np.full((3, 2), cfg.pad_id)], axis=1)
    ref = npm.forward(src, tgt)
    T = tgt.shape[1]
    for name, logits in (("NumPy", npm.forward(src_long, tgt_long)), ("Keras", to_numpy(km([src_long, tgt_long])))):
        check_forward(f"logits with extra padding ({name})", logits[:, :T], ref, dtype, cfg_label(cfg))


@pytest.mark.slow
@pytest.mark.parametrize("norm_first", [pytest.param(False, marks=pytest.mark.per_backend), True])
def test_greedy_decode_matches_numpy(norm_first):
    """keras_transformer.greedy_decode against numpy_transformer.models.decoding.greedy_decode, both
    the book's re-run-the-decoder way and the key/value-cached one (float64 where the backend
    computes it, so no argmax can flip on a rounding tie; float32 elsewhere, where these seeds
    leave every argmax far from a tie)."""
    from numpy_transformer.models.decoding import greedy_decode as numpy_greedy
    cfg = small_cfg("float64" if float64_supported() else "float32", norm_first, 2)
    npm, km = pair(cfg, seed=4)
    src, _, _ = make_batch(cfg, seed=4)
    start, eos, max_len = 1, 7, 8  # eos 7: a token these weights do emit, at different steps per row
    got = kt.greedy_decode(km, src, start, eos, max_len)
    assert np.any(got == eos)  # the early-stop / pad-after-<eos> path is exercised
    assert got.dtype == np.int64 and got.shape[0] == src.shape[0] and got.shape[1] <= max_len
    np.testing.assert_array_equal(got, kt.greedy_decode(km, src, start, eos, max_len, use_cache=False))
    for use_cache in (False, True):
        np.testing.assert_array_equal(got, numpy_greedy(npm, src, start, eos, max_len, use_cache=use_cache))
    assert len(set(got.ravel().tolist())) > 1  # not a degenerate constant output
    assert not np.any(got[:, 0] == cfg.pad_id) and not np.any(got == start)


@pytest.mark.parametrize("norm_first", [False, pytest.param(True, marks=pytest.mark.per_backend)])
def test_cached_decode_step_equals_the_full_decoder_and_numpy(norm_first):
    """TransformerModel.decode_step (key/value cache) at every position t: its logits equal the
    full decoder's at position t on the same prefix, and the NumPy reference's decode_step, to
    the forward tolerance (float64 where the backend computes it, else float32). The cache holds
    more slots than used (max_len > steps), so the masking of empty slots is exercised."""
    cfg = small_cfg("float64" if float64_supported() else "float32", norm_first, 2)
    npm, km = pair(cfg, seed=2)
    src, tgt, _ = make_batch(cfg, seed=2)
    # no padding in the prefix: decoding feeds real tokens (the full decoder would mask a pad key,
    # a step never does, in either backend)
    tgt = np.where(tgt[:, :5] == cfg.pad_id, 3, tgt[:, :5])
    state_np = npm.start_decoding(src, cfg.max_len)
    state = km.start_decoding(src.astype(np.int32), cfg.max_len)
    full = to_numpy(km.decode(tgt.astype(np.int32), km.encode(src.astype(np.int32)), src.astype(np.int32)))
    for t in range(tgt.shape[1]):
        logits, state = km.decode_step(tgt[:, t].astype(np.int32), np.int32(t), src.astype(np.int32), state)
        ref = npm.decode_step(tgt[:, t], state_np)
        check_forward(f"cached decode_step logits, t={t}", to_numpy(logits), ref, cfg.dtype, cfg_label(cfg))
        check_forward(f"cached decode_step vs full decoder, t={t}", to_numpy(logits), full[:, t], cfg.dtype,
                      cfg_label(cfg))


def test_decoder_uses_three_distinct_norms():
    """Errata 2: the cross-attention sublayer has its own norm (add_norm2)."""
    cfg = small_cfg("float64", False, 1)
    layer = kt.DecoderLayer(cfg)
    layer.build()
    norms = [layer.add_norm1, layer.add_norm2, layer.add_norm3]
    assert len({id(n.layer_norm.gamma) for n in norms}) == 3
