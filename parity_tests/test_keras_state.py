"""keras_transformer state and plumbing: exact weight round trips with the NumPy model,
`.keras` save/load, strict load_state_dict, input validation, configs, dtypes, the import
wall between the two packages."""

import numpy as np
import pytest

from requires import require

keras = require("keras")

from numpy_transformer import Transformer, TransformerConfig, parameter_shapes  # noqa: E402
from parity_report import make_batch, perturbed_state  # noqa: E402

import keras_transformer as kt  # noqa: E402
from keras_grads import backend_dtype_guard, skip_unless_dtype_supported, to_numpy  # noqa: E402,F401
from keras_transformer.backend import float64_supported  # noqa: E402

DT = "float64" if float64_supported() else "float32"   # for tests about checks, not precision



def cfg_of(dtype="float64", norm_first=True, **kw):
    base = dict(src_vocab_size=13, tgt_vocab_size=11, d_model=16, num_heads=4, d_ff=32, num_layers=2,
                dropout=0.1, max_len=12, norm_first=norm_first, dtype=dtype)
    base.update(kw)
    return TransformerConfig(**base)


@pytest.mark.per_backend
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_numpy_keras_numpy_round_trip_is_exact(dtype, norm_first):
    cfg = cfg_of(dtype, norm_first)
    npm = Transformer(cfg, seed=3)
    state = perturbed_state(cfg, 3)
    km = kt.TransformerModel(cfg)
    assert not km.built
    km.load_state_dict(state)  # builds the model first
    back = km.state_dict()
    assert list(back) == list(parameter_shapes(cfg))  # same names, same order
    for k, v in state.items():
        assert back[k].dtype == np.dtype(dtype) and np.array_equal(back[k], v), k
    npm.load_state_dict(back)
    assert all(np.array_equal(npm.state_dict()[k], state[k]) for k in state)
    # explicit mapping: every shared name is a distinct Keras variable, and they are all of them
    vmap = km.variable_map()
    assert len({id(v) for v in vmap.values()}) == len(vmap) == len(km.trainable_variables)
    assert all(v.dtype == dtype for v in km.weights)


@pytest.mark.per_backend
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside Keras' saver
@pytest.mark.parametrize("dtype,norm_first", [("float64", True), ("float32", False)])
def test_keras_file_round_trip(tmp_path, dtype, norm_first):
    cfg = cfg_of(dtype, norm_first)
    km = kt.TransformerModel(cfg)
    km.load_state_dict(perturbed_state(cfg, 4))
    src, tgt, _ = make_batch(cfg, seed=4)
    before = to_numpy(km([src, tgt]))
    path = tmp_path / "model.keras"
    km.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, kt.TransformerModel) and loaded.cfg == cfg
    assert np.array_equal(to_numpy(loaded([src, tgt])), before)
    sd, sd2 = km.state_dict(), loaded.state_dict()
    assert all(np.array_equal(sd[k], sd2[k]) for k in sd)
    assert loaded.get_config()["cfg"] == cfg.to_dict()


def test_layer_configs_round_trip():
    cfg = cfg_of()
    layers = [kt.EncoderLayer(cfg), kt.DecoderLayer(cfg), kt.Encoder(cfg), kt.Decoder(cfg),
              kt.MultiHeadAttention(4, 16, dtype="float64"), kt.FeedForward(32, 16, dtype="float64"),
              kt.AddNormalization(True, 1e-5, dtype="float64"), kt.PositionEmbedding(13, 12, 16, dtype="float64"),
              kt.DotProductAttention(dtype="float64")]
    for layer in layers:
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config and again.dtype_policy.name == "float64"
    assert kt.EncoderLayer(cfg).get_config()["cfg"] == cfg.to_dict()


@pytest.mark.per_backend
def test_load_state_dict_is_strict_and_atomic():
    """Each bad state dict carries otherwise valid, *different* values (good + 1), so a load
    that assigned before checking would show up as changed weights."""
    cfg = cfg_of(DT)
    km = kt.TransformerModel(cfg)
    good = perturbed_state(cfg, 5)
    km.load_state_dict(good)
    other = {n: v + 1 for n, v in good.items()}
    k = "decoder.layers.1.cross_attn.wv.weight"
    bad_cases = {
        "missing": ({n: v for n, v in other.items() if n != k}, ValueError, "missing keys"),
        "extra": ({**other, "decoder.layers.2.ffn.linear1.bias": other["output.bias"]}, ValueError, "unexpected"),
        "shape": ({**other, k: other[k][:, :8]}, ValueError, "expected shape"),
        "nan": ({**other, k: np.where(np.eye(16, dtype=bool), np.nan, other[k])}, ValueError, "NaN"),
        "inf": ({**other, "output.bias": np.full(11, np.inf)}, ValueError, "inf"),
        "int": ({**other, "output.bias": np.zeros(11, np.int64)}, TypeError, "floating"),
    }
    for name, (state, exc, words) in bad_cases.items():
        with pytest.raises(exc, match=words):
            km.load_state_dict(state)
        after = km.state_dict()
        assert all(np.array_equal(after[n], good[n]) for n in good), f"{name}: partially loaded"
    with pytest.raises(ValueError, match="missing keys"):
        km.load_state_dict(perturbed_state(cfg.replace(norm_first=False), 5))  # no final norms
    km.load_state_dict(other)  # and a good one does load
    assert np.array_equal(km.state_dict()[k], other[k])


def test_bad_inputs_raise_clear_errors():
    cfg = cfg_of(DT)
    km = kt.TransformerModel(cfg)
    src, tgt, _ = make_batch(cfg)
    km([src, tgt])
    cases = [
        ([src.astype(np.float32), tgt], TypeError, "integer"),
        ([src[0], tgt], ValueError, r"ids\[None\]"),
        ([src[:, :, None], tgt], ValueError, "shape"),
        ([np.full((3, 13), 1), tgt], ValueError, "max_len"),
        ([src, np.full((3, 4), cfg.tgt_vocab_size)], ValueError, "outside the vocabulary"),
        ([np.full((3, 4), -1), tgt], ValueError, "outside the vocabulary"),
        ([src[:2], tgt], ValueError, "batch sizes differ"),
        ([src[:, :0], tgt], ValueError, "empty"),
    ]
    for inputs, exc, words in cases:
        with pytest.raises(exc, match=words):
            km(inputs)
    with pytest.raises(ValueError, match="src_ids, tgt_ids"):
        km(src)
    with pytest.raises(ValueError, match="max_len"):
        kt.greedy_decode(km, src, 1, 2, cfg.max_len + 1)
    with pytest.raises(TypeError, match="TransformerConfig"):
        kt.TransformerModel(3)
    with pytest.raises(ValueError, match="cfg.dtype"):
        kt.TransformerModel(cfg, dtype="float32" if cfg.dtype == "float64" else "float64")


def test_dropout_only_in_training_and_dtype_is_per_model():
    skip_unless_dtype_supported("float64")
    cfg = cfg_of("float64", False, dropout=0.3)
    km = kt.TransformerModel(cfg)
    src, tgt, _ = make_batch(cfg)
    a, b = to_numpy(km([src, tgt])), to_numpy(km([src, tgt], training=False))
    assert np.array_equal(a, b) and a.dtype == np.float64
    assert not np.allclose(to_numpy(km([src, tgt], training=True)), a)
    assert keras.config.floatx() == "float32"  # nothing set globally


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside Keras' saver
def test_compile_fit_save_load(tmp_path):
    """The model trains with model.fit (MaskedLoss, masked_accuracy, Adam + WarmupSchedule) and
    a compiled model survives a .keras round trip (every custom object is registered)."""
    cfg = cfg_of("float32", False)
    km = kt.TransformerModel(cfg)
    src, tgt, lab = make_batch(cfg, B=8, seed=6)
    km.compile(optimizer=keras.optimizers.Adam(kt.WarmupSchedule(cfg.d_model, 10), beta_1=0.9, beta_2=0.98,
                                               epsilon=1e-9),
               loss=kt.MaskedLoss(cfg.pad_id, 0.1), metrics=[kt.masked_accuracy])
    hist = km.fit((src, tgt), lab, epochs=8, batch_size=4, verbose=0).history
    assert hist["loss"][-1] < hist["loss"][0]
    path = tmp_path / "compiled.keras"
    km.save(path)
    loaded = keras.models.load_model(path)
    assert np.array_equal(to_numpy(loaded((src, tgt))), to_numpy(km((src, tgt))))
    assert isinstance(loaded.loss, kt.MaskedLoss) and loaded.loss.label_smoothing == 0.1
