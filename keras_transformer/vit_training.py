"""KerasViTBackend: the Keras ViT behind numpy_transformer.apps.vit.commands's training loop
(`python -m numpy_transformer vit --backend keras`). Keras' own Adam and fit machinery
(compile + train_on_batch), the same warm-up + cosine schedule, the same batches; weights and
Adam moments go in and out under the shared parameter names, so checkpoints are
backend-neutral. keras.* only (no TensorFlow import)."""
from __future__ import annotations

import keras
import numpy as np

from .schedule import WarmupCosine
from .state import KerasCheckpointState
from .vit import VisionTransformerModel


class KerasViTBackend(KerasCheckpointState):
    name = "keras"

    def __init__(self, cfg, peak_lr, warmup_steps, total_steps, seed, beta1=0.9, beta2=0.999, eps=1e-7):
        keras.utils.set_random_seed(seed)       # Keras' dropout generator
        self.cfg = cfg
        self.model = VisionTransformerModel(cfg)
        self.model.build()
        self.opt = keras.optimizers.Adam(WarmupCosine(peak_lr, warmup_steps, total_steps), beta_1=beta1,
                                         beta_2=beta2, epsilon=eps)
        # the Loss object computes in cfg.dtype (its default would be float32)
        self.model.compile(optimizer=self.opt,
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=cfg.dtype),
                           metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")])
        self.opt.build(self.model.trainable_variables)

    def train_step(self, images, labels, rng=None):
        """One update on a batch; returns (mean loss, number correct) in training mode."""
        logs = self.model.train_on_batch(images.astype(self.cfg.dtype), labels, return_dict=True)
        return float(logs["loss"]), round(float(logs["acc"]) * len(labels))

    def logits(self, images):
        return np.asarray(self.model.predict_on_batch(images.astype(self.cfg.dtype)))

    def attention(self, images):
        return self.model.attention_weights(images.astype(self.cfg.dtype))

