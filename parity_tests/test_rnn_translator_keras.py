"""The attentional RNN translator, NumPy (models/rnn_translator.py) vs Keras
(keras_transformer/rnn_translator.py: stock GRU / GRUCell stepped by keras.ops.scan) with
identical weights: logits, attention weights and every parameter's gradient (Keras by its
backend's autodiff with the NumPy backward's upstream gradient), every score, padded sources
and targets, float64 and float32, on every installed backend (test_keras_backends.py).
Tolerances are the project's (parity_report.py): forward float64 max |diff| ≤ 1e-10, float32
max |diff| / max |ref| ≤ 1e-5; gradients ‖a − b‖ / max(‖a‖, ‖b‖) float64 ≤ 1e-9, float32 ≤ 1e-4."""
import numpy as np
import pytest

from requires import require

keras = require("keras")

from numpy_transformer.models.decoding import greedy_decode as np_greedy  # noqa: E402
from numpy_transformer.config import RNNTranslatorConfig  # noqa: E402
from numpy_transformer.config.tree import flatten  # noqa: E402
from numpy_transformer.models import RNNTranslator  # noqa: E402
from parity_report import check_forward, check_grad, parity_report  # noqa: E402,F401
from keras_grads import backend_dtype_guard, vjp  # noqa: E402,F401

from keras_transformer.decoding import greedy_decode as keras_greedy  # noqa: E402
from keras_transformer.rnn_translator import RNNTranslatorModel  # noqa: E402

pytestmark = pytest.mark.usefixtures("parity_report")


def pair(score, dtype, seed=0):
    cfg = RNNTranslatorConfig(11, 13, embed_dim=5, hidden=6, score=score,
                              attention_units=7 if score == "concat" else None, dropout=0.1, max_len=8, dtype=dtype)
    rng = np.random.default_rng(seed)
    ref = RNNTranslator(cfg, seed=seed)
    # perturbed weights: non-zero biases, so a mis-ordered gate or bias row cannot hide
    ref.load_state_dict({k: v + 0.3 * rng.standard_normal(v.shape) for k, v in ref.state_dict().items()})
    model = RNNTranslatorModel(cfg)
    model.load_state_dict(ref.state_dict())
    return cfg, ref, model, rng


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("score", [pytest.param("general", marks=pytest.mark.per_backend), "dot", "concat"])
def test_rnn_translator_logits_attention_and_every_gradient(dtype, score):
    cfg, ref, model, rng = pair(score, dtype)
    src = rng.integers(1, cfg.src_vocab_size, (3, 7))      # S, T and hidden all differ
    tgt = rng.integers(1, cfg.tgt_vocab_size, (3, 5))
    src[0, 4:] = 0
    src[2, 2:] = 0
    tgt[1, 3:] = 0
    logits = ref.forward(src, tgt)
    R = rng.standard_normal(logits.shape).astype(dtype)
    grads = flatten(ref.backward(R))
    label = f"{score} B3S7T5E5H6"
    y, _, g = vjp(lambda: model([src.astype("int32"), tgt.astype("int32")], training=False), [],
                  model.variable_map(), R)
    check_forward("RNN translator logits", y, logits, dtype, label)
    np.testing.assert_array_equal(model.state_dict()["decoder.gru.bias"], ref.params.decoder.gru.bias)
    check_forward("RNN translator attention", model.attention_weights(src, tgt)["decoder.attention"],
                  ref.attention_weights()["decoder.attention"], dtype, label)
    assert set(g) == set(grads)
    for k in grads:
        check_grad(f"RNN translator d{k}", g[k], grads[k], dtype, label, group="RNN translator every gradient")


@pytest.mark.per_backend
def test_keras_greedy_decoding_equals_numpy():
    cfg, ref, model, rng = pair("general", "float32", seed=3)
    ref.load_state_dict({k: 3 * v for k, v in ref.state_dict().items()})    # confident, so argmax ties are unlikely
    model.load_state_dict(ref.state_dict())
    src = rng.integers(1, cfg.src_vocab_size, (4, 6))
    src[1, 3:] = 0
    np.testing.assert_array_equal(keras_greedy(model, src, 2, 3, 7), np_greedy(ref, src, 2, 3, 7))


@pytest.mark.per_backend
def test_keras_model_errors_and_state_dict():
    cfg, ref, model, _ = pair("dot", "float32")
    with pytest.raises(ValueError, match="src_ids contains id 11 outside the vocabulary"):
        model([np.full((1, 3), 11, "int32"), np.ones((1, 2), "int32")])
    with pytest.raises(ValueError, match="batch sizes differ"):
        model([np.ones((2, 3), "int32"), np.ones((1, 2), "int32")])
    with pytest.raises(ValueError, match="missing keys"):
        model.load_state_dict({k: v for k, v in ref.state_dict().items() if k != "output.weight"})
    with pytest.raises(TypeError, match="RNNTranslatorConfig"):
        RNNTranslatorModel(object())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, ref.state_dict()[k])
