"""KerasViTBackend: the Keras ViT behind numpy_transformer.apps.vit.commands's training loop
(`python -m numpy_transformer vit --backend keras`). Keras' own Adam and fit machinery
(compile + train_on_batch), the same warm-up + cosine schedule, the same batches; weights and
Adam moments go in and out under the shared parameter names, so checkpoints are
backend-neutral. keras.* only (no TensorFlow import)."""
from __future__ import annotations

import keras
import numpy as np

from . import distribute
from .schedule import WarmupCosine
from .state import KerasCheckpointState
from .vit import VisionTransformerModel


class KerasViTBackend(KerasCheckpointState):
    name = "keras"

    def __init__(self, cfg, peak_lr, warmup_steps, total_steps, seed, beta1=0.9, beta2=0.999, eps=1e-7,
                 data_parallel=False, batch_size=None):
        # before anything is built: the variables are placed when they are created (distribute.py)
        self.parallel = distribute.data_parallel(batch_size) if data_parallel else None
        self.placement = self.parallel.describe() if self.parallel else distribute.one_device()
        keras.utils.set_random_seed(seed)       # Keras' dropout generator
        self.cfg = cfg
        self.model = VisionTransformerModel(cfg)
        self.model.build()
        self.opt = keras.optimizers.Adam(WarmupCosine(peak_lr, warmup_steps, total_steps), beta_1=beta1,
                                         beta_2=beta2, epsilon=eps)
        # the Loss object computes in cfg.dtype (its default would be float32); data-parallel:
        # label -1 marks the rows that pad a batch for the devices, left out of the mean
        ignore = {"ignore_class": -1} if self.parallel else {}
        self.model.compile(optimizer=self.opt,
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=cfg.dtype,
                                                                           **ignore),
                           metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")])
        self.opt.build(self.model.trainable_variables)

    def train_step(self, images, labels, rng=None):
        """One update on a batch; returns (mean loss, number correct) in training mode."""
        x, rows = (images.astype(self.cfg.dtype),), len(labels)
        if self.parallel is not None:      # padding rows: label -1, never counted as correct
            x, labels, rows = self.parallel.shard(x, np.asarray(labels), ignore=-1)
        logs = self.model.train_on_batch(x[0], labels, return_dict=True)
        return float(logs["loss"]), round(float(logs["acc"]) * rows)

    def logits(self, images):
        x = images.astype(self.cfg.dtype)
        if self.parallel is not None:
            return self.parallel.predict(self.model, x)
        return np.asarray(self.model.predict_on_batch(x))

    def attention(self, images):
        return self.model.attention_weights(images.astype(self.cfg.dtype))

