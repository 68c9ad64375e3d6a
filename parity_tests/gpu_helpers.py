"""Shared by test_gpu_step.py (the GPU step on the CPU) and test_gpu_cupy.py (on CuPy): a small
config, batches with padding, the CPU training step to compare with, and an array class that
refuses to be read back to the host."""
import numpy as np

from numpy_transformer import Transformer, TransformerConfig
from numpy_transformer.config.tree import tree_map
from numpy_transformer.fast import masked_cross_entropy
from numpy_transformer.gpu import DeviceTrainer
from numpy_transformer.ops import Adam, WarmupSchedule, masked_accuracy


class HostRead(AssertionError):
    """A value was read back to the host."""


class NoHostReads(np.ndarray):
    """An ndarray that fails where a CuPy array would make the host wait for the GPU: Python
    scalars (float, int, bool, item, tolist) and boolean-mask indexing (its result's size is
    data-dependent). NumPy's ufuncs, reductions and indexing return this class again, so it
    follows the computation from the parameters and ids onwards."""

    def _refuse(self, *a, **k):
        raise HostRead("value read back to the host")

    __float__ = __int__ = __bool__ = __index__ = item = tolist = _refuse

    def __getitem__(self, key):
        if _boolean(key):
            raise HostRead("boolean-mask indexing (data-dependent size)")
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        if _boolean(key):
            raise HostRead("boolean-mask assignment")
        return super().__setitem__(key, value)


def _boolean(key):
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, np.ndarray) and k.dtype == bool for k in keys)


def no_reads(a):
    return np.asarray(a).view(NoHostReads)


def config(dtype="float64", dropout=0.1, **kw):
    return TransformerConfig(src_vocab_size=23, tgt_vocab_size=19, d_model=16, num_heads=2, d_ff=24,
                             num_layers=2, max_len=9, dropout=dropout, dtype=dtype, **kw)


def batches(cfg, n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        src = rng.integers(1, cfg.src_vocab_size, (4, 7))
        tgt = rng.integers(1, cfg.tgt_vocab_size, (4, 6))
        src[0, 5:] = 0                                      # padding in both
        tgt[1, 4:] = 0
        out.append((src, tgt[:, :-1], tgt[:, 1:]))
    return out


def cpu_steps(cfg, data, warmup=3, clipnorm=None, label_smoothing=0.0):
    """apps/translation/train.py's NumpyBackend.train_step (fast kernels) with the plain ops.optim.Adam."""
    model = Transformer(cfg, seed=0, kernels="fast")   # what the GPU benchmark runs
    opt = Adam(WarmupSchedule(cfg.d_model, warmup), 0.9, 0.98, 1e-9, clipnorm=clipnorm)
    losses, correct, tokens = [], 0, 0
    for src, tgt_in, tgt_out in data:
        logits = model.forward(src, tgt_in, training=True)
        loss, d = masked_cross_entropy(logits, tgt_out, cfg.pad_id, label_smoothing)
        n = int((tgt_out != cfg.pad_id).sum())
        correct += round(masked_accuracy(logits, tgt_out, cfg.pad_id) * n)
        tokens += n
        losses.append(loss * n)
        opt.step(model.params, model.backward(d))
    return model, opt, sum(losses) / tokens, correct, tokens


def device_steps(cfg, data, wrap=np.asarray, warmup=3, **kw):
    model = Transformer(cfg, seed=0, kernels="fast")   # what the GPU benchmark runs
    model.params = tree_map(wrap, model.params)
    trainer = DeviceTrainer(model, warmup=warmup, **kw)
    for batch in data:
        trainer.step(*(wrap(a) for a in trainer.upload(*batch)))
    return model, trainer
