"""KerasBackend: the Keras model (TransformerModel or RNNTranslatorModel) behind the training loop of numpy_transformer.apps.translation.train
(`python -m numpy_transformer train --backend keras`). Same batches, same loss, same Adam
(Keras' own), same warm-up schedule; checkpoints hold weights and Adam moments under the
shared parameter names, so a run can be continued or served by either backend.

Dropout masks come from Keras' own generator (seeded from the run's seed), so a Keras run
resumes from its checkpoint exactly in weights and optimizer state but not bit-for-bit in
its later dropout draws; the NumPy backend resumes bit-for-bit.
"""
from __future__ import annotations

import keras
import numpy as np

from numpy_transformer.config import kind_of, schedule_width

from . import distribute
from .decoding import greedy_decode
from .losses import MaskedLoss, masked_accuracy
from .schedule import WarmupSchedule
from .state import KerasCheckpointState


class KerasBackend(KerasCheckpointState):
    """The Keras model behind the training loop, on any Keras backend: Keras' own compiled
    train/test steps (model.compile + train_on_batch / test_on_batch: tf.function, jax.jit or
    eager PyTorch, chosen by Keras for the backend in use)."""
    name = "keras"

    def __init__(self, cfg, args, data_parallel=False):
        self.cfg, self.args = cfg, args
        # before anything is built: the variables are placed when they are created (distribute.py)
        self.parallel = distribute.data_parallel(args.batch_size) if data_parallel else None
        self.placement = self.parallel.describe() if self.parallel else distribute.one_device()
        keras.utils.set_random_seed(args.seed)
        self.model = kind_of(cfg).keras_class()(cfg)     # TransformerModel or RNNTranslatorModel (the registry)
        self.model.build()
        self.opt = keras.optimizers.Adam(WarmupSchedule(schedule_width(cfg), args.warmup), beta_1=args.beta1,
                                         beta_2=args.beta2, epsilon=args.eps, global_clipnorm=args.clipnorm)
        self.opt.build(self.model.trainable_variables)
        accuracy = keras.metrics.MeanMetricWrapper(masked_accuracy, name="accuracy", pad_id=cfg.pad_id)
        self.model.compile(optimizer=self.opt, loss=MaskedLoss(cfg.pad_id, args.label_smoothing),
                           metrics=[accuracy])

    def _run(self, fn, batch):
        n = int((batch.tgt_out != self.cfg.pad_id).sum())
        x, y = (batch.src.astype(np.int32), batch.tgt_in.astype(np.int32)), batch.tgt_out.astype(np.int32)
        if self.parallel is not None:      # rows padded for the devices, labelled [pad]: not counted
            x, y, _ = self.parallel.shard(x, y, ignore=self.cfg.pad_id)
        r = fn(x, y, return_dict=True)
        return float(r["loss"]), round(float(r["accuracy"]) * n), n

    def train_step(self, batch, rng=None):
        return self._run(self.model.train_on_batch, batch)

    def eval_step(self, batch):
        loss, correct, n = self._run(self.model.test_on_batch, batch)
        return loss * n, correct, n

    def decode(self, src_ids, start_id, eos_id, max_len, beam=1, alpha=0.6):
        if beam != 1:
            raise ValueError("beam search is implemented in the NumPy backend: use --backend numpy "
                             "(the checkpoint loads there unchanged) or --beam 1")
        out = greedy_decode(self.model, src_ids, start_id, eos_id, max_len)
        return [list(row[: list(row).index(eos_id) + 1] if eos_id in row else row) for row in out]
