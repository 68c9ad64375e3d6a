"""NumPy BertEncoder vs keras_transformer.BertModel with identical weights, dropout off: MLM and
[CLS] logits, the losses (MLM on the chosen tokens only), every parameter's gradient with the
tied token embedding among them, state dicts both ways, the same errors for bad input; and in
training mode, dropout on, with the NumPy model's masks in both: logits and every gradient.
Tolerances are the suite's (parity_report.py): forward float64 max |diff| ≤ 1e-10, float32 ≤ 1e-5
of the largest value; gradients ‖a − b‖ / max(‖a‖, ‖b‖) ≤ 1e-9 (float64), 1e-4 (float32)."""
import numpy as np
import pytest

from requires import require

keras = require("keras")

from numpy_transformer.config.tree import flatten  # noqa: E402
from numpy_transformer import BertConfig, BertEncoder, TransformerConfig, masked_cross_entropy  # noqa: E402
from parity_report import check_abs, check_forward, check_grad, parity_report  # noqa: E402,F401

import keras_transformer as kt  # noqa: E402
from keras_grads import backend_dtype_guard, grad_of_scalar, to_numpy, vjp  # noqa: E402,F401

pytestmark = pytest.mark.usefixtures("parity_report")


def bert_cfg(dtype, norm_first=False, activation="gelu", **kw):
    base = dict(vocab_size=37, d_model=12, num_heads=3, d_ff=20, num_layers=2, max_len=9, num_classes=2,
                dropout=0.1)
    base.update(kw)
    return BertConfig(**base, norm_first=norm_first, activation=activation, dtype=dtype)


CONFIGS = [pytest.param(bert_cfg(dt, nf, act), id=f"{dt}-{'pre' if nf else 'post'}LN-{act}",
                        marks=pytest.mark.per_backend)
           for dt in ("float64", "float32") for nf, act in ((False, "gelu"), (True, "gelu_tanh"))]
# the pretrain command's layer size (d_model 128, 4 heads, d_ff 512), a small vocabulary. Not on JAX:
# its eager gradients compile every op for every new shape (≈ 10 s for this config alone), and
# the small configs run the same code there
CLI_SIZE = pytest.mark.skipif(keras.backend.backend() == "jax", reason="compile time on JAX; the small configs "
                              "cover the same code on this backend")
CONFIGS += [pytest.param(BertConfig(vocab_size=300, max_len=16, dtype=dt), id=f"cli-size-{dt}", marks=CLI_SIZE)
            for dt in ("float64", "float32")]


def label(cfg):
    return (f"V{cfg.vocab_size}d{cfg.d_model}h{cfg.num_heads}L{cfg.num_layers}"
            f"-{'preLN' if cfg.norm_first else 'postLN'}-{cfg.activation}")


def pair(cfg, seed=0, head="mlm"):
    """Both models with the NumPy init plus noise, so biases and norms are not 0/1."""
    npm = BertEncoder(cfg, seed=seed)
    rng = np.random.default_rng(seed + 100)
    state = {k: (v + 0.1 * (float(v.std()) if v.ndim == 2 else 1.0) * rng.standard_normal(v.shape)).astype(cfg.dtype)
             for k, v in npm.state_dict().items()}
    npm.load_state_dict(state)
    km = kt.BertModel(cfg, head=head)
    km.load_state_dict(state)
    return npm, km


def batch(cfg, B=3, T=7, seed=0):
    """[CLS]=2 … [SEP]=3 with padding (0) and two segments; MLM labels at ~30 % of the real
    tokens, 0 elsewhere (the loss counts the chosen tokens only)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, cfg.vocab_size, (B, T))
    ids[:, 0] = 2
    ids[0, 5:] = 0
    seg = np.zeros_like(ids)
    seg[:, T // 2:] = 1
    seg[ids == 0] = 0
    chosen = (rng.random(ids.shape) < 0.3) & (ids > 4)
    chosen[1, 3] = True
    labels = np.where(chosen, rng.integers(5, cfg.vocab_size, ids.shape), 0)
    return ids, seg, chosen, labels


@pytest.mark.parametrize("cfg", CONFIGS)
def test_mlm_logits_loss_and_every_gradient(cfg):
    npm, km = pair(cfg)
    ids, seg, chosen, labels = batch(cfg)
    dtype, lab = cfg.dtype, label(cfg)

    full = npm.forward(ids, seg)                          # every position, for the forward check
    logits = npm.forward(ids, seg, positions=chosen)      # what pre-training computes
    loss, dlogits = masked_cross_entropy(logits, labels[chosen], pad_id=-1)
    grads = flatten(npm.backward(dlogits))             # the gradient tree, by name

    vmap = km.variable_map()
    k_logits = km([ids, seg], training=False)
    k_loss, k_grads = grad_of_scalar(lambda: kt.masked_loss(labels, km([ids, seg], training=False), pad_id=0), vmap)

    assert keras.backend.standardize_dtype(k_logits.dtype) == dtype and all(v.dtype == dtype for v in vmap.values())
    check_forward("BERT MLM logits", to_numpy(k_logits), full, dtype, lab)
    check_forward("BERT MLM loss (chosen tokens)", float(k_loss), loss, dtype, lab)
    _check_grads(grads, k_grads, dtype, lab, "BERT MLM")
    # the tied matrix: both uses reach it (input rows of the batch's ids, output rows of all)
    assert np.all(grads["embeddings.token.weight"][1] != 0)      # id 1 never appears: output use only


@pytest.mark.parametrize("cfg", CONFIGS)
def test_cls_logits_loss_and_every_gradient(cfg):
    npm, km = pair(cfg, seed=1, head="cls")
    ids, seg, _, _ = batch(cfg, seed=1)
    y = np.array([0, 1, 1])
    dtype, lab = cfg.dtype, label(cfg)
    logits = npm.forward(ids, seg, head="cls")
    loss, dlogits = masked_cross_entropy(logits, y, pad_id=-1)
    grads = flatten(npm.backward(dlogits))             # the gradient tree, by name
    vmap = km.variable_map()
    k_logits = km([ids, seg], training=False)
    k_loss, k_grads = grad_of_scalar(lambda: keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
        y, km([ids, seg], training=False), from_logits=True)), vmap)
    check_forward("BERT [CLS] logits", to_numpy(k_logits), logits, dtype, lab)
    check_forward("BERT [CLS] loss", float(k_loss), loss, dtype, lab)
    _check_grads(grads, k_grads, dtype, lab, "BERT [CLS]")


def _check_grads(grads, k_grads, dtype, lab, what):
    assert set(k_grads) == set(grads)
    for k in grads:
        if k.endswith("wk.bias") or np.all(grads[k] == 0):
            # dL/db_K = 0 exactly (softmax is shift-invariant per query row), and the unused
            # head's gradients are 0: both backends may give rounding noise, bounded as in test_vit_keras
            tol = 100 * np.finfo(dtype).eps * max(float(np.linalg.norm(grads["embeddings.norm.gamma"])), 1.0)
            check_abs(f"{what} d{k} (=0)", k_grads[k], 0 * grads[k], tol, dtype, lab, group=f"{what} d(zero grads)")
            check_abs(f"{what} d{k} (=0, NumPy)", grads[k], 0 * grads[k], tol, dtype, lab, group=f"{what} d(zero grads)")
        else:
            check_grad(f"{what} d{k}", k_grads[k], grads[k], dtype, lab, group=f"{what} d(every param)")


def use_numpy_masks(km, npm):
    """Every Dropout layer of the Keras model multiplies by the scaled mask the NumPy model drew
    in its last forward (its caches hold them): the embedding's, each layer's two sublayer
    outputs' and attention weights', and after a [CLS] forward the pooled output's. Keras
    draws its own masks otherwise; with the same masks both compute the same function."""
    def fix(layer, mask):
        assert mask is not None and np.any(mask == 0)        # a dropout that dropped something
        layer.call = lambda inputs, training=None: inputs * keras.ops.convert_to_tensor(mask, inputs.dtype)
    fix(km.embed_dropout, npm._cache.drop)
    for layer, c in zip(km.encoder_layers, npm._cache.encoder):
        fix(layer.dropout1, c.drop1)
        fix(layer.dropout2, c.drop2)
        fix(layer.multihead_attention.attention.dropout, c.self_attn.sdpa.drop_mask)
    if npm._cache.head == "cls":
        fix(km.pooler_dropout, npm._cache.head_cache.drop_mask)


DROPOUT_CONFIGS = [pytest.param(bert_cfg(dt, nf, act, dropout=0.2, attention_probs_dropout_prob=0.3,
                                         classifier_dropout=0.3), id=f"{dt}-{'pre' if nf else 'post'}LN-{act}")
                   for dt in ("float64", "float32") for nf, act in ((False, "gelu"), (True, "gelu_tanh"))]


@pytest.mark.per_backend
@pytest.mark.parametrize("head", ["mlm", "cls"])
@pytest.mark.parametrize("cfg", DROPOUT_CONFIGS)
def test_training_mode_with_the_same_dropout_masks(cfg, head):
    """Dropout at BERT's three places (hidden, attention probabilities, pooled output), the
    NumPy model's masks in both: logits and every parameter's gradient agree as with dropout
    off, so the Keras twin drops the same quantities (attention weights after the softmax and
    before V, the pooled output before the classifier) and the hand-written backward through
    each mask agrees with autodiff."""
    npm, km = pair(cfg, seed=2, head=head)
    ids, seg, _, _ = batch(cfg, seed=2)
    logits = npm.forward(ids, seg, head=head, training=True, rng=np.random.default_rng(11))
    R = np.random.default_rng(12).standard_normal(logits.shape).astype(cfg.dtype)
    grads = flatten(npm.backward(R))
    use_numpy_masks(km, npm)
    k_logits, _, k_grads = vjp(lambda: km([ids, seg], training=True), [], km.variable_map(), R)
    lab = label(cfg) + "-dropout"
    check_forward(f"BERT {head} logits, dropout masks shared", k_logits, logits, cfg.dtype, lab)
    _check_grads(grads, k_grads, cfg.dtype, lab, f"BERT {head}, dropout masks shared")


@pytest.mark.per_backend
def test_state_dicts_cross_both_ways_and_loads_are_strict():
    cfg = bert_cfg("float32")
    npm, km = pair(cfg)
    ids, seg, _, _ = batch(cfg)
    back = BertEncoder(cfg, seed=9)
    back.load_state_dict(km.state_dict())
    np.testing.assert_array_equal(back.forward(ids, seg), npm.forward(ids, seg))
    assert km.num_parameters() == npm.num_parameters()
    with pytest.raises(ValueError, match="missing keys: \\['mlm.bias'\\]"):
        km.load_state_dict({k: v for k, v in km.state_dict().items() if k != "mlm.bias"})
    restored = kt.BertModel.from_config(km.get_config())
    assert restored.cfg == cfg and restored.head == "mlm"
    assert restored.encoder_layers[0].multihead_attention.attention.rate == cfg.attention_probs_dropout_prob
    layer = kt.EncoderLayer.from_config(km.encoder_layers[0].get_config())
    assert layer.attention_dropout == cfg.attention_probs_dropout_prob


def test_keras_model_gives_the_same_errors_for_bad_input():
    cfg = bert_cfg("float32")
    km = kt.BertModel(cfg)
    ids, seg, _, _ = batch(cfg)
    with pytest.raises(ValueError, match="id 37 outside the vocabulary"):
        km([np.array([[2, 37]]), np.zeros((1, 2), int)])
    with pytest.raises(ValueError, match="length 10 > max_len=9"):
        km([np.ones((1, 10), int), np.zeros((1, 10), int)])
    with pytest.raises(ValueError, match="segments contain id 2"):
        km([ids, seg + 1])
    with pytest.raises(ValueError, match="head must be one of"):
        kt.BertModel(cfg, head="nsp")
    with pytest.raises(TypeError, match="must be a BertConfig"):
        kt.BertModel(TransformerConfig(5, 5))


@pytest.mark.per_backend
@pytest.mark.parametrize("name,head", [("dropout", "mlm"), ("attention_probs_dropout_prob", "mlm"),
                                       ("classifier_dropout", "cls")])
def test_each_dropout_in_training_mode_changes_the_output(name, head):
    rates = {"dropout": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.0, name: 0.3}
    cfg = bert_cfg("float32", **rates)
    _, km = pair(cfg, head=head)
    ids, seg, _, _ = batch(cfg)
    assert not np.allclose(to_numpy(km([ids, seg], training=True)), to_numpy(km([ids, seg], training=False)))
