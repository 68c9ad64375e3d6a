"""numpy_transformer/gpu/ — the GPU training step — checked on the CPU, with NumPy as the array
module: it computes exactly what the CPU step computes (forward, fast masked cross-entropy,
backward, ops.optim.Adam with the paper's schedule), skips non-finite steps without touching
any state, and never reads a value back to the host (arrays that refuse to be read prove it).
The CuPy-only parts are in test_gpu_cupy.py (skipped without a GPU)."""
import numpy as np
import pytest

from gpu_helpers import HostRead, NoHostReads, batches, config, cpu_steps, device_steps, no_reads
from numpy_transformer import Transformer
from numpy_transformer.config.tree import flatten, tree_map
from numpy_transformer.fast import masked_cross_entropy
from numpy_transformer.gpu import DeviceAdam, DeviceTrainer


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("clipnorm,label_smoothing", [(None, 0.0), (0.5, 0.1)])
def test_device_step_computes_what_the_cpu_step_computes(dtype, clipnorm, label_smoothing):
    cfg = config(dtype)
    data = batches(cfg, 3)
    ref, opt, loss, correct, tokens = cpu_steps(cfg, data, clipnorm=clipnorm, label_smoothing=label_smoothing)
    model, trainer = device_steps(cfg, data, clipnorm=clipnorm, label_smoothing=label_smoothing)
    got, want = flatten(model.params), flatten(ref.params)
    for k in want:   # the same operations in the same order: the same bits
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
        np.testing.assert_array_equal(trainer.opt.m[k], opt.m[k], err_msg=k)
        np.testing.assert_array_equal(trainer.opt.v[k], opt.v[k], err_msg=k)
    got = trainer.read()
    assert (got["correct"], got["tokens"], got["skipped"], int(trainer.opt.t)) == (correct, tokens, 0, 3)
    # the loss is summed in another order (one float64 sum over the run instead of per step)
    assert got["loss"] == pytest.approx(loss, rel=1e-12)
    assert trainer.read()["tokens"] == 0                   # read() zeroes the sums


def test_a_non_finite_step_changes_nothing_and_is_counted():
    cfg = config(dropout=0.0)
    data = batches(cfg, 2)
    model, trainer = device_steps(cfg, data[:1])
    before = model.state_dict()
    m_before = {k: v.copy() for k, v in trainer.opt.m.items()}
    model.params.output.bias[3] = np.nan                   # the loss becomes NaN
    before["output.bias"][3] = np.nan
    trainer.step(*trainer.upload(*data[1]))
    after = flatten(model.params)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)
        np.testing.assert_array_equal(trainer.opt.m[k], m_before[k], err_msg=k)
    assert int(trainer.opt.t) == 1
    got = trainer.read()
    assert got["skipped"] == 1 and got["tokens"] == int((data[0][2] != 0).sum())


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")   # inf·0 in the skipped update
def test_non_finite_gradient_norm_skips_when_clipping():
    cfg = config(dropout=0.0)
    model = Transformer(cfg, seed=0)
    opt = DeviceAdam(model.params, 1e-3, clipnorm=1.0)
    grads = tree_map(np.ones_like, model.params)
    grads.output.bias[0] = np.inf
    before = model.state_dict()
    ok = opt.step(model.params, grads, np.asarray(True))
    assert not ok and int(opt.t) == 0
    for k, v in flatten(model.params).items():
        np.testing.assert_array_equal(v, before[k])


def test_the_device_step_reads_nothing_back_to_the_host():
    cfg = config(dtype="float32")
    data = batches(cfg, 2)
    model, trainer = device_steps(cfg, data, wrap=no_reads, clipnorm=1.0, label_smoothing=0.1)
    assert isinstance(model.params.output.weight, NoHostReads)   # the class followed the update
    assert trainer.read()["tokens"] > 0                   # the one read, through to_host


def test_the_host_read_detector_catches_what_the_cpu_step_does():
    """The detector is not vacuous: the CPU step (checks, float loss, skip test) trips it."""
    cfg = config(dtype="float32")
    src, tgt_in, tgt_out = (no_reads(a) for a in batches(cfg, 1)[0])
    model = Transformer(cfg, seed=0, kernels="fast")
    with pytest.raises(HostRead):
        model.forward(src, tgt_in, training=True)         # check_ids compares min/max on the host
    logits = model.forward(src, tgt_in, training=True, check=False)
    with pytest.raises(HostRead):
        masked_cross_entropy(logits, tgt_out, cfg.pad_id)  # counts tokens and returns a float
    with pytest.raises(HostRead):
        float(no_reads(np.ones(())))
    with pytest.raises(HostRead):
        no_reads(np.ones(3))[np.array([True, False, True])]


def test_upload_rejects_bad_batches_before_anything_runs():
    cfg = config()
    model = Transformer(cfg, seed=0)
    trainer = DeviceTrainer(model, warmup=3)
    src, tgt_in, tgt_out = batches(cfg, 1)[0]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        trainer.upload(src + cfg.src_vocab_size, tgt_in, tgt_out)
    with pytest.raises(ValueError, match="do not fit"):
        trainer.upload(src, tgt_in, tgt_out[:, :-1])
    with pytest.raises(ValueError, match="every label is padding"):
        trainer.upload(src, tgt_in, np.zeros_like(tgt_out))
    with pytest.raises(ValueError, match="label_smoothing"):
        DeviceTrainer(model, label_smoothing=1.0)
