"""KerasViTBackend: the Keras ViT behind numpy_transformer.app.vit's training loop
(`python -m numpy_transformer vit --backend keras`). Keras' own Adam and fit machinery
(compile + train_on_batch), the same warm-up + cosine schedule, the same batches; weights and
Adam moments go in and out under the shared parameter names, so checkpoints are
backend-neutral. keras.* only (no TensorFlow import)."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .schedule import WarmupCosine
from .vit import VisionTransformerModel


class KerasViTBackend:
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

    def get_weights(self):
        return self.model.state_dict()

    def set_weights(self, sd):
        self.model.load_state_dict(sd)

    def _slots(self):
        """{shared name: (m, v)} through Keras' own variable index (as keras_transformer.training)."""
        return {k: (self.opt._momentums[self.opt._get_variable_index(v)],
                    self.opt._velocities[self.opt._get_variable_index(v)])
                for k, v in self.model.variable_map().items()}

    def get_optimizer_state(self):
        sd = {"t": np.array(int(ops.convert_to_numpy(self.opt.iterations)), dtype=np.int64)}
        for k, (m, v) in self._slots().items():
            sd[f"m.{k}"], sd[f"v.{k}"] = np.array(ops.convert_to_numpy(m)), np.array(ops.convert_to_numpy(v))
        return sd

    def set_optimizer_state(self, sd):
        slots = self._slots()
        missing = [k for k in slots if f"m.{k}" not in sd or f"v.{k}" not in sd]
        if missing:
            raise ValueError(f"optimizer state lacks moments for {missing[:3]}{'...' if len(missing) > 3 else ''}")
        for k, (m, v) in slots.items():
            m.assign(np.asarray(sd[f"m.{k}"], m.dtype))
            v.assign(np.asarray(sd[f"v.{k}"], v.dtype))
        self.opt.iterations.assign(int(np.asarray(sd["t"]).reshape(())))
