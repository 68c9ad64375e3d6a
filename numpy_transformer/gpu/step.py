"""A Transformer training step that never waits for the host, and its CUDA-graph replay.

apps/translation/train.py's NumpyBackend.train_step returns the loss, the correct and the counted tokens as
Python numbers, which is free on a CPU and a full stop on a GPU: each read waits for every
kernel queued before it. DeviceTrainer.step does the same maths (forward, masked cross-entropy,
backward, Adam) and keeps those numbers on the device, summed; read() fetches them once.
"""
from __future__ import annotations

import numpy as np

from ..config import check_ids
from ..fast.loss import cross_entropy_sum
from ..ops import WarmupSchedule
from ..ops.loss import count_tokens
from .adam import DeviceAdam


class DeviceTrainer:
    """Teacher-forced training of `model` (a Transformer whose arrays live on the device, see
    arrays.to_device) with the paper's schedule, Adam(β1, β2, ε), optional clipping by global
    norm and label smoothing: apps/translation/train.py's step without host reads. Construct it and call
    upload/step inside `numpy_is(xp)`."""

    def __init__(self, model, warmup=4000, beta1=0.9, beta2=0.98, eps=1e-9, clipnorm=None,
                 label_smoothing=0.0, fused=False):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.model, self.label_smoothing = model, label_smoothing
        self.opt = DeviceAdam(model.params, WarmupSchedule(model.cfg.d_model, warmup), beta1, beta2, eps,
                              clipnorm=clipnorm, fused=fused)
        self._reset()

    def _reset(self):
        # zeroed in place after the first time: a CUDA graph replays the addresses it recorded
        if getattr(self, "totals", None) is None:
            self.totals = {"loss_sum": np.zeros((), np.float64), "correct": np.zeros((), np.int64),
                           "tokens": np.zeros((), np.int64), "skipped": np.zeros((), np.int64)}
        for a in self.totals.values():
            a[...] = 0

    def upload(self, src, tgt_in, tgt_out):
        """Check a batch of host (NumPy) ids, as model.forward and the loss would, then copy it
        to the device: every error is raised here, before anything is queued."""
        import numpy as host                          # the real NumPy, even inside numpy_is
        cfg = self.model.cfg
        src = check_ids(host.asarray(src), cfg.src_vocab_size, cfg.max_len, "src_ids")
        tgt_in = check_ids(host.asarray(tgt_in), cfg.tgt_vocab_size, cfg.max_len, "tgt_ids")
        tgt_out = check_ids(host.asarray(tgt_out), cfg.tgt_vocab_size, cfg.max_len, "tgt_out")
        if not src.shape[0] == tgt_in.shape[0] == tgt_out.shape[0] or tgt_in.shape != tgt_out.shape:
            raise ValueError(f"batch shapes do not fit: src {src.shape}, tgt_in {tgt_in.shape}, "
                             f"tgt_out {tgt_out.shape}")
        count_tokens(tgt_out, cfg.pad_id, "the batch's loss")
        return tuple(np.asarray(a) for a in (src, tgt_in, tgt_out))

    def step(self, src, tgt_in, tgt_out):
        """One update from a batch returned by upload(). Returns nothing: the numbers are summed
        on the device (read() them)."""
        m, pad = self.model, self.model.cfg.pad_id
        logits = m.forward(src, tgt_in, training=True, rng=m.rng, check=False)   # upload() checked them
        keep = tgt_out != pad
        n = keep.sum()
        loss_sum, dlogits = cross_entropy_sum(logits, tgt_out, keep, n, self.label_smoothing)
        correct = ((logits.argmax(axis=-1) == tgt_out) & keep).sum()
        ok = self.opt.step(m.params, m.backward(dlogits), np.isfinite(loss_sum))
        t = self.totals
        t["loss_sum"] += np.where(ok, loss_sum, 0.0)
        t["correct"] += np.where(ok, correct, 0)
        t["tokens"] += np.where(ok, n, 0)
        t["skipped"] += ~ok

    def read(self):
        """The sums since the last read, as Python numbers (the one host read), then zeroed:
        loss (mean over the counted tokens of the applied steps), correct, tokens, skipped."""
        from .arrays import to_host
        v = {k: to_host(a).item() for k, a in self.totals.items()}
        self._reset()
        v["loss"] = v["loss_sum"] / v["tokens"] if v["tokens"] else float("nan")
        return v


class GraphedStep:
    """DeviceTrainer.step recorded once per batch shape as a CUDA graph (CuPy stream capture)
    and replayed: one launch per step instead of thousands. Each call copies its batch into the
    graph's fixed input buffers first. The first call for a shape runs the step eagerly (it
    compiles the kernels and fills CuPy's memory pool, so the capture allocates from the pool
    and never calls cudaMalloc); the second captures and replays. Every call is one real step.
    If capture fails (an operation a graph cannot hold), `error` says why and steps run eagerly."""

    def __init__(self, trainer):
        import cupy
        self.cupy, self.trainer = cupy, trainer
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.graphs, self.buffers, self.error = {}, {}, None

    def __call__(self, src, tgt_in, tgt_out):
        key = (src.shape, tgt_in.shape)
        with self.stream:
            if key not in self.buffers:               # first sight of this shape: eager warm-up
                self.buffers[key] = tuple(a.copy() for a in (src, tgt_in, tgt_out))
                self.trainer.step(*self.buffers[key])
                self.stream.synchronize()
                return
            bufs = self.buffers[key]
            for buf, a in zip(bufs, (src, tgt_in, tgt_out)):
                buf[...] = a
            if self.error is not None:
                self.trainer.step(*bufs)
                return
            if key not in self.graphs:
                try:
                    self.stream.begin_capture()
                    try:
                        self.trainer.step(*bufs)
                    finally:
                        graph = self.stream.end_capture()
                    self.graphs[key] = graph
                except Exception as e:  # noqa: BLE001 - record why, run eagerly from now on
                    self.error = f"{type(e).__name__}: {e}"
                    self.trainer.step(*bufs)
                    return
            self.graphs[key].launch(self.stream)
