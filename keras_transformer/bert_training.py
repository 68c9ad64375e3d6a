"""KerasBertBackend: the Keras BERT behind numpy_transformer.apps.bert.train's loop
(`python -m numpy_transformer bert pretrain|finetune --backend keras`). Keras' own Adam and
compiled steps (compile + train_on_batch / test_on_batch), the same warm-up + cosine schedule,
the same batches; weights and Adam moments go in and out under the shared parameter names.

MLM: the Keras model computes the logits at every position and the masked loss counts the
positions whose label is not [PAD], i.e. the chosen tokens: the same loss as the NumPy
backend's, which computes the head at the chosen positions only (tested equal)."""
from __future__ import annotations

import warnings

import keras
import numpy as np

from . import distribute
from .bert import BertModel
from .losses import MaskedLoss, masked_accuracy
from .schedule import WarmupCosine
from .state import KerasCheckpointState


class KerasBertBackend(KerasCheckpointState):
    name = "keras"

    def __init__(self, cfg, task, peak_lr, warmup_steps, total_steps, seed, beta1=0.9, beta2=0.999, eps=1e-7,
                 data_parallel=False, batch_size=None):
        # before anything is built: the variables are placed when they are created (distribute.py)
        self.parallel = distribute.data_parallel(batch_size) if data_parallel else None
        self.placement = self.parallel.describe() if self.parallel else distribute.one_device()
        keras.utils.set_random_seed(seed)       # Keras' dropout generator
        self.cfg, self.task = cfg, task
        self.model = BertModel(cfg, head=task)
        self.model.build()
        self.opt = keras.optimizers.Adam(WarmupCosine(peak_lr, warmup_steps, total_steps), beta_1=beta1,
                                         beta_2=beta2, epsilon=eps)
        if task == "mlm":
            loss = MaskedLoss(cfg.pad_id)
            acc = keras.metrics.MeanMetricWrapper(masked_accuracy, name="acc", pad_id=cfg.pad_id)
        else:   # the Loss object computes in cfg.dtype (its default would be float32); data-parallel:
            # label -1 marks the rows that pad a batch for the devices, left out of the mean
            ignore = {"ignore_class": -1} if self.parallel else {}
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=cfg.dtype, **ignore)
            acc = keras.metrics.SparseCategoricalAccuracy(name="acc")
        self.model.compile(optimizer=self.opt, loss=loss, metrics=[acc])
        self.opt.build(self.model.trainable_variables)

    def _run(self, fn, batch):
        n = int((batch.labels != self.cfg.pad_id).sum()) if self.task == "mlm" else len(batch.labels)
        if n == 0:
            return 0.0, 0, 0        # nothing chosen: the masked mean is undefined, no update
        # padded to a multiple of 8 positions (at most max_len): a handful of shapes for the
        # compiled step to trace, not one per sentence length; [PAD] is masked and not counted
        T = batch.ids.shape[1]
        extra = ((0, 0), (0, min(-(-T // 8) * 8, max(self.cfg.max_len, T)) - T))
        labels = np.pad(batch.labels, extra) if self.task == "mlm" else batch.labels
        x, y = (np.pad(batch.ids, extra).astype(np.int32), np.pad(batch.segments, extra).astype(np.int32)), \
            labels.astype(np.int32)
        counted = n                         # the rows or tokens the accuracy is a fraction of
        if self.parallel is not None:       # rows padded for the devices: [PAD] or -1 labels, not counted
            x, y, rows = self.parallel.shard(x, y, ignore=self.cfg.pad_id if self.task == "mlm" else -1)
            counted = n if self.task == "mlm" else rows
        r = fn(x, y, return_dict=True)
        return float(r["loss"]), round(float(r["acc"]) * counted), n

    def train_step(self, batch, rng=None):
        with warnings.catch_warnings():
            # the other task's head gets no gradient by design (the NumPy backend gives it zeros);
            # Keras would warn about it on the first step
            warnings.filterwarnings("ignore", message="Gradients do not exist for variables", category=UserWarning)
            return self._run(self.model.train_on_batch, batch)

    def eval_step(self, batch):
        loss, correct, n = self._run(self.model.test_on_batch, batch)
        return loss * n, correct, n
