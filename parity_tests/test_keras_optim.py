"""Training-step parity: the warm-up schedule, and N steps of keras.optimizers.Adam with
keras_transformer.WarmupSchedule against numpy_transformer.ops.optim.Adam(WarmupSchedule) from
the same weights on the same batches."""
import numpy as np
import pytest

from requires import require

keras = require("keras")

from numpy_transformer import (Adam, Transformer, TransformerConfig, WarmupSchedule,  # noqa: E402
                               masked_cross_entropy)
from parity_report import (cfg_label, check_abs, check_forward, check_grad, make_batch,  # noqa: E402
                           parity_report, perturbed_state)

import keras_transformer as kt  # noqa: E402
from keras_grads import backend_dtype_guard, grad_of_scalar, skip_unless_dtype_supported, to_numpy  # noqa: E402,F401
from keras_transformer.backend import float64_supported  # noqa: E402

pytestmark = pytest.mark.usefixtures("parity_report")
BETA1, BETA2, EPS = 0.9, 0.98, 1e-9
STEPS, WARMUP = 12, 10  # crosses the warm-up peak at step 10


@pytest.mark.per_backend
def test_schedule_matches_numpy_from_the_first_step():
    for d_model, warmup in ((16, 10), (512, 4000)):
        ks, ns = kt.WarmupSchedule(d_model, warmup), WarmupSchedule(d_model, warmup)
        iterations = np.array([0, 1, 2, warmup - 2, warmup - 1, warmup, 3 * warmup, 10 ** 6])
        got = to_numpy(ks(keras.ops.convert_to_tensor(iterations)))
        ref = np.array([ns(int(i) + 1) for i in iterations])  # Keras iterations are 0-based
        assert got[0] > 0  # the book's version gave lr = 0 here
        if float64_supported():   # the schedule computes in float64 where the backend can
            assert got.dtype == np.float64
            check_abs("WarmupSchedule lr", got, ref, 1e-18, "float64", f"d{d_model} warmup{warmup}")
        else:   # float32: a power, a min and two products, each rounded to 6e-8 relative
            check_abs("WarmupSchedule lr", got, ref, 1e-6 * ref.max(), "float32", f"d{d_model} warmup{warmup}")
        assert np.argmax(got) == 4  # the peak is the warmup-th update (iteration warmup - 1)
    cfg = kt.WarmupSchedule(512, 4000).get_config()
    assert kt.WarmupSchedule.from_config(cfg).get_config() == cfg == {"d_model": 512, "warmup_steps": 4000}


def keras_bias_correction_rounding(t):
    """Keras 3 Adam computes alpha = lr·sqrt(1 − β2^t)/(1 − β1^t) with
    β = ops.cast(python_float, variable.dtype); on the TensorFlow backend that first makes a
    float32 tensor, so float64 variables get β1 = 0.8999999762, β2 = 0.9800000191 in the bias
    correction (the moment updates use the exact 1 − β). The ratio of Keras' alpha to the exact
    one, ≈ 1 − 7.4e-7 at t = 1, is applied to the NumPy learning rate below for float64."""
    f32 = lambda b: float(np.float32(b))  # noqa: E731
    keras_alpha = np.sqrt(1 - f32(BETA2) ** t) / (1 - f32(BETA1) ** t)
    return keras_alpha / (np.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t))


def batch(cfg, step):
    src, tgt, lab = make_batch(cfg, seed=step)
    src[1, :2] = src[1, 2]  # a repeated token: its embedding row gets summed gradients
    return src, tgt, lab


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_first", [pytest.param(False, marks=pytest.mark.per_backend), True])
def test_adam_with_warmup_same_weights_after_n_steps(dtype, norm_first):
    cfg = TransformerConfig(src_vocab_size=13, tgt_vocab_size=11, d_model=16, num_heads=4, d_ff=32,
                            num_layers=2, dropout=0.1, max_len=12, norm_first=norm_first, dtype=dtype)
    label = cfg_label(cfg) + f" {STEPS} steps"
    state = perturbed_state(cfg, 5)
    npm = Transformer(cfg)
    npm.load_state_dict(state)
    km = kt.TransformerModel(cfg)
    km.load_state_dict(state)
    vmap = km.variable_map()

    sched = WarmupSchedule(cfg.d_model, WARMUP)
    lr = (lambda t: sched(t) * keras_bias_correction_rounding(t)) if dtype == "float64" else sched
    n_opt = Adam(lr, BETA1, BETA2, EPS)
    k_opt = keras.optimizers.Adam(kt.WarmupSchedule(cfg.d_model, WARMUP), beta_1=BETA1, beta_2=BETA2,
                                  epsilon=EPS)
    for step in range(STEPS):
        src, tgt, lab = batch(cfg, step)
        _, dlogits = masked_cross_entropy(npm.forward(src, tgt), lab, cfg.pad_id, 0.1)
        n_opt.step(npm.params, npm.backward(dlogits))
        _, g = grad_of_scalar(lambda: kt.masked_loss(lab, km([src, tgt], training=False), cfg.pad_id, 0.1), vmap)
        k_opt.apply_gradients([(keras.ops.convert_to_tensor(g[k]), v) for k, v in vmap.items()])
    assert int(to_numpy(k_opt.iterations)) == n_opt.t == STEPS

    # Compare the change of every tensor, theta_N - theta_0 (stricter than theta_N itself).
    got, ours = km.state_dict(), npm.state_dict()
    for k, theta0 in state.items():
        d_keras, d_numpy = got[k] - theta0, ours[k] - theta0
        if k.endswith("wk.bias"):
            # dL/d wk.bias = 0 exactly, so each backend feeds Adam its own rounding noise. In
            # float64 that noise (~1e-17) is far below eps = 1e-9 and the bias barely moves.
            # In float32 the noise (~1e-9) is comparable to eps, Adam normalises it into
            # steps of size ~lr, and the two backends' key biases drift apart: harmless, as
            # a key bias cannot change the output (checked on the final logits below).
            if dtype == "float64":
                check_abs(f"Adam Δ{k} (=0, Keras)", d_keras, 0 * d_keras, 1e-7, dtype, label,
                          group="Adam Δ wk.bias ≈ 0 (Keras)")
                check_abs(f"Adam Δ{k} (=0, NumPy)", d_numpy, 0 * d_numpy, 1e-7, dtype, label,
                          group="Adam Δ wk.bias ≈ 0 (NumPy)")
            continue
        assert np.linalg.norm(d_numpy) > 0 or np.all(d_keras == 0)
        check_grad(f"Adam Δ{k}", d_keras, d_numpy, dtype, label, group="Adam Δweights (every param)")

    src, tgt, _ = batch(cfg, STEPS)
    logits = to_numpy(km([src, tgt]))
    check_forward("logits after Adam steps", logits, npm.forward(src, tgt), dtype, label)
    for k in (k for k in vmap if k.endswith("wk.bias")):
        vmap[k].assign(np.zeros_like(got[k]))
    check_forward("logits with wk.bias zeroed (no effect)", to_numpy(km([src, tgt])), logits, dtype, label)


def test_keras_adam_float64_bias_correction_uses_float32_betas():
    skip_unless_dtype_supported("float64")
    """Pins down the Keras behaviour emulated above: one step from zero with a constant lr, so
    every entry of Δθ is -lr·alpha_ratio·g/(|g| + eps/sqrt(1-β2)) and the Keras/NumPy ratio is
    exactly keras_bias_correction_rounding(1) (if Keras ever fixes the cast, this fails and
    the emulation can go). The lr is a power of two: a constant Keras learning rate lives in a
    float32 variable, so 0.01 would add its own float32 rounding (2e-8)."""
    LR = 2.0 ** -7
    g = np.array([1e-3, -2e-4, 5e-2])
    var = keras.Variable(np.zeros(3), dtype="float64")
    keras.optimizers.Adam(LR, beta_1=BETA1, beta_2=BETA2, epsilon=EPS).apply_gradients([(keras.ops.convert_to_tensor(g), var)])
    params = {"w": np.zeros(3)}
    Adam(LR, BETA1, BETA2, EPS).step(params, {"w": g.copy()})
    ratio = to_numpy(var) / params["w"]
    check_abs("Keras/NumPy Adam step ratio - predicted", ratio, np.full(3, keras_bias_correction_rounding(1)),
              1e-13, "float64", "one step, lr 2^-7")
    assert abs(ratio[0] - 1) > 1e-7  # the effect is real, not rounding


def test_optimizer_with_schedule_serializes():
    opt = keras.optimizers.Adam(kt.WarmupSchedule(64, 100), beta_1=BETA1, beta_2=BETA2, epsilon=EPS)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    sched = keras.optimizers.schedules.deserialize(again.get_config()["learning_rate"])
    assert isinstance(sched, kt.WarmupSchedule) and sched.get_config() == {"d_model": 64, "warmup_steps": 100}
    assert again.epsilon == EPS and again.beta_2 == BETA2
    np.testing.assert_allclose(float(again.learning_rate), WarmupSchedule(64, 100)(1), rtol=1e-7)
