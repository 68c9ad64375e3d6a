"""The NumPy reference's workloads as zero-argument callables (CPU, and CuPy when present)."""
from __future__ import annotations

from numpy_transformer import Transformer, WarmupSchedule
from numpy_transformer.fast import ThreadedAdam, masked_cross_entropy
from numpy_transformer.models.decoding import greedy_decode

from .configs import EOS_ID, START_ID

ADAM = dict(beta1=0.9, beta2=0.98, eps=1e-9)   # the paper's Adam, as in the Keras workloads


def make_model(cfg, state):
    m = Transformer(cfg, kernels="fast")
    m.load_state_dict(state)
    return m


def steps(model, workload, inputs, target, loss=None, optimizer=None):
    """One workload of a NumPy model (this harness's and the ViT one's) as a callable, the mirror
    of keras_backend.tf_workloads: forward (inference), fwd_bwd (training-mode forward and the
    backward of a fixed dlogits = target), train_step (`loss(logits, target)` -> (loss, dlogits),
    backward, a step of `optimizer()`)."""
    forward = lambda training: model.forward(*inputs, training=training)  # noqa: E731
    if workload == "forward":
        return lambda: forward(False)
    if workload == "fwd_bwd":
        return lambda: (forward(True), model.backward(target))[1]
    if workload != "train_step":
        raise ValueError(f"unknown workload {workload!r}")
    opt = optimizer()

    def train_step():
        value, d = loss(forward(True), target)
        opt.step(model.params, model.backward(d))
        return value
    return train_step


def workloads(model, workload, shape, data):
    """{impl name: callable} for one workload. decode gives two implementations: `numpy`
    (key/value cache) and `numpy-nocache` (the whole decoder re-run on the prefix per token)."""
    src, tgt, lab, dlogits = data
    if workload == "decode":
        L = shape.tgt_len
        return {"numpy": lambda: greedy_decode(model, src, START_ID, EOS_ID, L, use_cache=True),
                "numpy-nocache": lambda: greedy_decode(model, src, START_ID, EOS_ID, L, use_cache=False)}
    from .machine import numpy_threads   # Adam's thread pool follows the pinned BLAS threads
    adam = lambda: ThreadedAdam(WarmupSchedule(model.cfg.d_model, 4000), **ADAM, threads=numpy_threads())  # noqa: E731
    return {"numpy": steps(model, workload, (src, tgt), dlogits if workload == "fwd_bwd" else lab,
                           lambda logits, y: masked_cross_entropy(logits, y, model.cfg.pad_id), adam)}
