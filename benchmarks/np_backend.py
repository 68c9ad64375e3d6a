"""The NumPy reference's workloads as zero-argument callables (CPU, and CuPy when present)."""
from __future__ import annotations

import numpy as np

from numpy_transformer import Transformer, WarmupSchedule
from numpy_transformer.fast import ThreadedAdam, masked_cross_entropy
from numpy_transformer.models.decoding import greedy_decode

from .configs import EOS_ID, START_ID

ADAM = dict(beta1=0.9, beta2=0.98, eps=1e-9)   # the paper's Adam, as in the Keras workloads


def make_model(cfg, state):
    m = Transformer(cfg, kernels="fast")
    m.load_state_dict(state)
    return m


def workloads(model, workload, shape, data):
    """{impl name: callable} for one workload. decode gives two implementations: `numpy`
    (key/value cache) and `numpy-nocache` (the whole decoder re-run on the prefix per token)."""
    src, tgt, lab, dlogits = data
    cfg = model.cfg
    if workload == "forward":
        return {"numpy": lambda: model.forward(src, tgt, training=False)}
    if workload == "fwd_bwd":
        def fwd_bwd():
            model.forward(src, tgt, training=True)
            return model.backward(dlogits)
        return {"numpy": fwd_bwd}
    if workload == "train_step":
        from .machine import numpy_threads   # Adam's thread pool follows the pinned BLAS threads
        opt = ThreadedAdam(WarmupSchedule(cfg.d_model, 4000), **ADAM, threads=numpy_threads())

        def train_step():
            loss, d = masked_cross_entropy(model.forward(src, tgt, training=True), lab, cfg.pad_id)
            opt.step(model.params, model.backward(d))
            return loss
        return {"numpy": train_step}
    if workload == "decode":
        L = shape.tgt_len
        return {"numpy": lambda: greedy_decode(model, src, START_ID, EOS_ID, L, use_cache=True),
                "numpy-nocache": lambda: greedy_decode(model, src, START_ID, EOS_ID, L, use_cache=False)}
    raise ValueError(f"unknown workload {workload!r}")
