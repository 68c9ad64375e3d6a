"""The BERT-style encoder's NumPy pieces against float64 central finite differences (f = Σ y·R,
criterion ‖num − ana‖ ≤ noise floor + 1e-7·‖num‖, as in test_numpy_grads.py): the embedding,
the MLM head with its tied output, the [CLS] head, the whole model with dropout on both heads;
the tied embedding's two gradients explicitly; padding; state dicts and bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numpy_transformer import BertConfig, BertEncoder, TransformerConfig, parameter_shapes
from numpy_transformer.config import config_from_dict
from numpy_transformer.ops.bert import (bert_embedding_backward, bert_embedding_forward, classifier_head_backward,
                                        classifier_head_forward, gather_positions, gather_positions_backward,
                                        mlm_head_backward, mlm_head_forward)
from numpy_transformer.ops.gradcheck import gradcheck
from numpy_transformer.config.tree import flatten, unflatten
from test_numpy_grads import check

SETTINGS = settings(max_examples=8, deadline=None)
dims = st.integers(1, 4)


def _r(rng, *shape):
    return rng.standard_normal(shape)


# ---------------------------------------------------------------- ops

@SETTINGS
@given(b=dims, t=dims, d=dims, v=st.integers(2, 6), seed=st.integers(0, 99))
def test_embedding_sum(b, t, d, v, seed):
    """Repeated ids and segments included (scatter-adds must accumulate); a position table
    longer than T (its unused rows get 0)."""
    rng = np.random.default_rng(seed)
    ids, seg = rng.integers(0, v, (b, t)), rng.integers(0, 2, (b, t))
    tok, pos, sg, R = _r(rng, v, d), _r(rng, t + 2, d), _r(rng, 2, d), _r(rng, b, t, d)
    run = lambda: bert_embedding_forward(ids, seg, tok, pos, sg)[0]
    dtok, dpos, dseg = bert_embedding_backward(R, bert_embedding_forward(ids, seg, tok, pos, sg)[1], v, t + 2, 2)
    assert np.all(dpos[t:] == 0)
    check(run, R, {"token": tok, "position": pos, "segment": sg}, {"token": dtok, "position": dpos, "segment": dseg})
    with pytest.raises(ValueError, match="exceeds the position table"):
        bert_embedding_forward(ids, seg, tok, pos[: t - 1] if t > 1 else pos[:0], sg)


def _mlm_params(rng, d, v):
    """The MLM head's parameter tree (p.dense.weight, p.norm.gamma, p.bias)."""
    return unflatten({"dense.weight": _r(rng, d, d), "dense.bias": _r(rng, d), "norm.gamma": 1 + 0.3 * _r(rng, d),
                      "norm.beta": _r(rng, d), "bias": _r(rng, v)})


@pytest.mark.parametrize("approximate", [False, True])
@SETTINGS
@given(n=dims, d=st.integers(2, 5), v=st.integers(2, 7), seed=st.integers(0, 99))
def test_mlm_head_with_tied_output(approximate, n, d, v, seed):
    rng = np.random.default_rng(seed)
    h, p, tok, R = _r(rng, n, 2, d), _mlm_params(rng, d, v), _r(rng, v, d), _r(rng, n, 2, v)
    run = lambda: mlm_head_forward(h, p, tok, 1e-12, approximate)[0]
    dh, grads, dtok = mlm_head_backward(R, mlm_head_forward(h, p, tok, 1e-12, approximate)[1], p, tok)
    assert list(flatten(grads)) == list(flatten(p))
    check(run, R, {"h": h, **flatten(p), "token": tok}, {"h": dh, **flatten(grads), "token": dtok})


@SETTINGS
@given(b=dims, t=dims, d=dims, c=st.integers(2, 4), dropout=st.sampled_from([0.0, 0.4]), seed=st.integers(0, 99))
def test_classifier_head(b, t, d, c, dropout, seed):
    """With dropout on the pooled output, the same mask in every evaluation (a fresh generator
    of one seed), as for the other dropouts."""
    rng = np.random.default_rng(seed)
    h, R = _r(rng, b, t, d), _r(rng, b, c)
    p = unflatten({"pooler.dense.weight": _r(rng, d, d), "pooler.dense.bias": _r(rng, d),
                   "classifier.weight": _r(rng, d, c), "classifier.bias": _r(rng, c)})
    run = lambda: classifier_head_forward(h, p, dropout, np.random.default_rng(seed))
    cache = run()[1]
    assert (cache.drop_mask is None) == (dropout == 0.0)
    if dropout:   # Dropout(c) is what the classifier reads
        np.testing.assert_array_equal(cache.dropped, cache.pooled * cache.drop_mask)
    dh, grads = classifier_head_backward(R, cache, p)
    assert np.all(dh[:, 1:] == 0)          # only [CLS] reaches the head
    assert list(flatten(grads)) == list(flatten(p))
    check(lambda: run()[0], R, {"h": h, **flatten(p)}, {"h": dh, **flatten(grads)})


def test_gather_positions_round_trip():
    rng = np.random.default_rng(0)
    h, pos = _r(rng, 3, 4, 2), rng.random((3, 4)) < 0.4
    pos[0, 0] = True
    R = _r(rng, int(pos.sum()), 2)
    dh = gather_positions_backward(R, pos, h.shape)
    check(lambda: gather_positions(h, pos), R, {"h": h}, {"h": dh})
    assert np.all(dh[~pos] == 0)


def test_tied_embedding_gradient_is_the_sum_of_both_uses():
    """x = LN-free embedding E[ids] → MLM head with output E: the gradient of the one shared
    matrix equals the input use's plus the output use's. Each part alone is checked against
    finite differences through an untied copy, and each is far from the sum (so dropping either
    one would fail)."""
    rng = np.random.default_rng(3)
    v, d = 7, 4
    ids, seg = rng.integers(0, v, (2, 5)), np.zeros((2, 5), dtype=int)
    E, pos, sg, p = _r(rng, v, d), _r(rng, 5, d), _r(rng, 1, d), _mlm_params(rng, d, v)
    R = _r(rng, 2, 5, v)

    def run(E_in, E_out):
        x, cache = bert_embedding_forward(ids, seg, E_in, pos, sg)
        logits, hc = mlm_head_forward(x, p, E_out, 1e-12)
        return logits, cache, hc

    logits, cache, hc = run(E, E)
    dx, _, d_out = mlm_head_backward(R, hc, p, E)
    d_in = bert_embedding_backward(dx, cache, v, 5, 1)[0]
    E_in, E_out = E.copy(), E.copy()
    check(lambda: run(E, E)[0], R, {"E (both uses)": E}, {"E (both uses)": d_in + d_out})
    check(lambda: run(E_in, E)[0], R, {"E (input use)": E_in}, {"E (input use)": d_in})
    check(lambda: run(E, E_out)[0], R, {"E (output use)": E_out}, {"E (output use)": d_out})
    total = np.linalg.norm(d_in + d_out)
    assert np.linalg.norm(d_in) > 0.1 * total and np.linalg.norm(d_out) > 0.1 * total


# ---------------------------------------------------------------- the whole model

def _model(norm_first, activation="gelu", kernels="plain", dropout=0.2, seed=0, dtype="float64"):
    """`dropout` is the rate at all three of BERT's places (hidden, attention weights, pooled)."""
    cfg = BertConfig(vocab_size=11, d_model=6, num_heads=2, d_ff=8, num_layers=2, max_len=7, num_classes=3,
                     dropout=dropout, attention_probs_dropout_prob=dropout, classifier_dropout=dropout,
                     norm_first=norm_first, activation=activation, dtype=dtype)
    m = BertEncoder(cfg, seed=seed, kernels=kernels)
    rng = np.random.default_rng(seed + 5)
    for v in flatten(m.params).values():   # non-trivial biases and norms
        v += 0.1 * rng.standard_normal(v.shape)
    return m


def _batch(seed=1):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 11, (3, 6))
    ids[1, 4:] = 0                      # padding
    seg = np.zeros_like(ids)
    seg[:, 3:] = 1
    pos = (rng.random(ids.shape) < 0.4) & (ids != 0)
    pos[0, 1] = True
    return ids, seg, pos


@pytest.mark.parametrize("kernels", ["plain", "fast"])
@pytest.mark.parametrize("norm_first,activation,head", [(False, "gelu", "mlm"), (True, "gelu_tanh", "mlm"),
                                                        (False, "gelu", "cls"), (True, "gelu", "cls")])
def test_whole_model_gradient_with_dropout(norm_first, activation, head, kernels):
    """Every parameter, dropout on at BERT's three places (the same masks in each evaluation:
    embedding and sublayer outputs, attention weights, the pooled output); db_K is exactly
    zero (softmax shift invariance) and checked as such; the unused head's gradients are 0."""
    m = _model(norm_first, activation, kernels)
    ids, seg, pos = _batch()
    kw = {"positions": pos} if head == "mlm" else {}
    run = lambda: m.forward(ids, seg, head=head, training=True, rng=np.random.default_rng(7), **kw)
    R = np.random.default_rng(2).standard_normal(run().shape)
    run()
    for c in m._cache.encoder:   # the attention weights were dropped out, some of them
        assert np.any(c.self_attn.sdpa.drop_mask == 0) and np.any(c.self_attn.sdpa.drop_mask > 0)
    assert head == "mlm" or np.any(m._cache.head_cache.drop_mask == 0)
    grads = flatten(m.backward(R))                           # the gradient tree, by name
    assert list(grads) == list(parameter_shapes(m.cfg))
    unused = ("pooler.", "classifier.") if head == "mlm" else ("mlm.",)
    for k in grads:
        if k.endswith("wk.bias"):
            assert np.max(np.abs(grads[k])) < 1e-13
        if k.startswith(unused):
            assert np.all(grads[k] == 0), k
    inputs = {k: v for k, v in flatten(m.params).items() if not k.endswith("wk.bias") and not k.startswith(unused)}
    check(run, R, inputs, {k: grads[k] for k in inputs})


def test_mlm_at_chosen_positions_equals_every_position_then_picked():
    m = _model(False, dropout=0.0)
    ids, seg, pos = _batch()
    full = m.forward(ids, seg)
    R = np.random.default_rng(4).standard_normal(full.shape) * pos[..., None]   # loss on chosen tokens only
    g_full = flatten(m.backward(R))
    picked = m.forward(ids, seg, positions=pos)
    np.testing.assert_allclose(picked, full[pos], rtol=1e-13, atol=1e-13)
    g_picked = flatten(m.backward(R[pos]))
    for k in g_full:
        np.testing.assert_allclose(g_picked[k], g_full[k], rtol=1e-11, atol=1e-13, err_msg=k)


def test_padding_does_not_change_the_real_tokens_outputs():
    """Attention never reads [PAD] keys, so extra padding leaves every real position's logits
    (and the [CLS] logits) unchanged. The learned positions are absolute, so this holds for
    padding appended at the end."""
    m = _model(False, dropout=0.0)
    ids, seg = np.array([[2, 5, 7, 3]]), np.array([[0, 0, 1, 1]])
    padded, seg_p = np.pad(ids, ((0, 0), (0, 3))), np.pad(seg, ((0, 0), (0, 3)))
    np.testing.assert_allclose(m.forward(padded, seg_p)[:, :4], m.forward(ids, seg), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.forward(padded, seg_p, head="cls"), m.forward(ids, seg, head="cls"), rtol=1e-12)
    # and the segment ids matter
    assert not np.allclose(m.forward(ids, np.zeros_like(seg)), m.forward(ids, seg))


def test_float32_by_default_float64_end_to_end_and_num_parameters():
    cfg = BertConfig(vocab_size=100)
    m = BertEncoder(cfg)
    ids = np.array([[2, 10, 11, 3]])
    logits = m.forward(ids)
    assert logits.dtype == np.float32 and logits.shape == (1, 4, 100)
    assert all(g.dtype == np.float32 for g in flatten(m.backward(np.ones_like(logits))).values())
    m64 = BertEncoder(cfg.replace(dtype="float64"))
    l64 = m64.forward(ids, head="cls")
    assert l64.dtype == np.float64 and all(g.dtype == np.float64 for g in flatten(m64.backward(np.ones_like(l64))).values())
    d, f, V = 128, 512, 100
    layer = 4 * (d * d + d) + 2 * 2 * d + d * f + f + f * d + d
    assert m.num_parameters() == (V + 64 + 2) * d + 2 * d + 2 * layer + (d * d + d + 2 * d + V) + (d * d + d + 2 * d + 2)


def test_state_dict_round_trip_and_strict_load():
    a, b = _model(False, seed=0), _model(False, seed=1)
    ids, seg, _ = _batch()
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.forward(ids, seg), b.forward(ids, seg))
    sd = a.state_dict()
    with pytest.raises(ValueError, match="missing keys: \\['mlm.bias'\\]"):
        b.load_state_dict({k: v for k, v in sd.items() if k != "mlm.bias"})
    with pytest.raises(ValueError, match="unexpected keys: \\['mlm.output.weight'\\]"):   # no untied matrix
        b.load_state_dict({**sd, "mlm.output.weight": np.zeros((6, 11))})
    with pytest.raises(ValueError, match="embeddings.position.weight: expected shape"):
        b.load_state_dict({**sd, "embeddings.position.weight": np.zeros((8, 6))})


def test_bad_input_gets_clear_errors():
    m = _model(False)
    ids, seg, pos = _batch()
    with pytest.raises(ValueError, match="id 11 outside the vocabulary \\[0, 11\\)"):
        m.forward(np.array([[2, 11]]))
    with pytest.raises(ValueError, match="length 8 > max_len=7"):
        m.forward(np.ones((1, 8), dtype=int))
    with pytest.raises(ValueError, match="segments contain id 2 outside \\[0, 2\\)"):
        m.forward(ids, seg + 1)
    with pytest.raises(ValueError, match="segments have shape"):
        m.forward(ids, seg[:, :2])
    with pytest.raises(TypeError, match="integer segment ids"):
        m.forward(ids, seg.astype(float))
    with pytest.raises(ValueError, match="selects no token"):
        m.forward(ids, seg, positions=np.zeros(ids.shape, bool))
    with pytest.raises(ValueError, match="boolean mask"):
        m.forward(ids, seg, positions=pos.astype(int))
    with pytest.raises(ValueError, match="head must be one of"):
        m.forward(ids, head="nsp")
    with pytest.raises(ValueError, match="\\[CLS\\] head reads position 0"):
        m.forward(ids, head="cls", positions=pos)
    m.forward(ids, head="cls")
    with pytest.raises(ValueError, match="dlogits has shape"):
        m.backward(np.zeros((3, 11)))
    with pytest.raises(TypeError, match="must be a BertConfig"):
        BertEncoder(TransformerConfig(5, 5))


def test_bad_config_gets_clear_errors_and_round_trips():
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        BertConfig(100, d_model=10, num_heads=4)
    with pytest.raises(ValueError, match="pad_id=100 is outside"):
        BertConfig(100, pad_id=100)
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        BertConfig(100, num_classes=1)
    with pytest.raises(TypeError, match="BertConfig.max_len must be an int"):
        BertConfig(100, max_len=3.5)
    cfg = BertConfig(100, norm_first=True, activation="gelu_tanh")
    assert BertConfig.from_json(cfg.to_json()) == cfg and config_from_dict(cfg.to_dict()) == cfg
    for name in ("dropout", "attention_probs_dropout_prob", "classifier_dropout"):
        with pytest.raises(ValueError, match=f"{name} must be in \\[0, 1\\)"):
            BertConfig(100, **{name: 1.0})


def test_configs_saved_before_the_attention_and_pooler_dropouts_load_with_berts_rates():
    old = {k: v for k, v in BertConfig(100).to_dict().items()
           if k not in ("attention_probs_dropout_prob", "classifier_dropout")}
    cfg = config_from_dict(old)
    assert cfg.attention_probs_dropout_prob == cfg.classifier_dropout == 0.1


def test_each_dropout_is_off_at_inference_and_on_in_training():
    """Each of BERT's three dropouts alone changes the training output; none acts at inference."""
    ids, seg, _ = _batch()
    for name, head in (("dropout", "mlm"), ("attention_probs_dropout_prob", "mlm"), ("classifier_dropout", "cls")):
        rates = {"dropout": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.0, name: 0.3}
        m = BertEncoder(_model(False).cfg.replace(**rates), seed=0)
        np.testing.assert_array_equal(m.forward(ids, seg, head=head), m.forward(ids, seg, head=head))
        assert not np.allclose(m.forward(ids, seg, head=head, training=True), m.forward(ids, seg, head=head)), name
