"""The paper's warm-up learning-rate schedule and ViT's warm-up + cosine decay as Keras
LearningRateSchedules."""
from __future__ import annotations

import math

import keras
from keras import ops

from numpy_transformer.config import check_warmup

from .backend import widest_float


@keras.saving.register_keras_serializable(package="keras_transformer")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr = d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5) (paper, eq. 3), with
    step = iterations + 1: Keras optimizers call the schedule with their 0-based `iterations`
    counter *before* incrementing it, so the first update uses step 1. (Erratum: the book
    used `iterations` directly, which makes the first learning rate 0.) Computed in float64 (on
    32-bit JAX in float32, all it holds),
    the optimizer casts it to each variable's dtype, so float64 training matches the NumPy
    reference (numpy_transformer.ops.optim.WarmupSchedule) bit for bit.

    Use it as in the paper: keras.optimizers.Adam(WarmupSchedule(d_model), beta_1=0.9,
    beta_2=0.98, epsilon=1e-9). Keras 3's Adam adds epsilon to sqrt(v) of the *uncorrected*
    second moment and folds the bias corrections into the step size,
        alpha_t = lr_t · sqrt(1 − β2^t) / (1 − β1^t),  θ ← θ − alpha_t · m / (sqrt(v) + ε),
    which is the form numpy_transformer.ops.optim.Adam implements (the paper's Algorithm 1 adds ε
    to sqrt(v̂) instead; the two agree up to ε·(1 − sqrt(1 − β2^t)) in the denominator)."""

    def __init__(self, d_model, warmup_steps=4000):
        self.d_model, self.warmup_steps = check_warmup(d_model, warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, widest_float()) + 1.0
        arg1 = ops.power(step, -0.5)
        arg2 = step * (self.warmup_steps ** -1.5)
        return (self.d_model ** -0.5) * ops.minimum(arg1, arg2)

    def get_config(self):
        return {"d_model": self.d_model, "warmup_steps": self.warmup_steps}


@keras.saving.register_keras_serializable(package="keras_transformer")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """numpy_transformer.ops.optim.WarmupCosine in keras.ops, float64, step = iterations + 1:
    peak · step / warmup during the warm-up, then peak · ½(1 + cos(π · progress)) down to 0."""

    def __init__(self, peak, warmup_steps, total_steps):
        if not peak > 0 or warmup_steps < 0 or total_steps <= warmup_steps:
            raise ValueError(f"WarmupCosine needs peak > 0 and 0 <= warmup_steps < total_steps, got "
                             f"{peak}, {warmup_steps}, {total_steps}")
        self.peak, self.warmup_steps, self.total_steps = float(peak), int(warmup_steps), int(total_steps)

    def __call__(self, step):
        step = ops.cast(step, widest_float()) + 1.0
        warm = self.peak * step / max(self.warmup_steps, 1)
        progress = ops.minimum(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        cosine = self.peak * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step <= self.warmup_steps, warm, cosine)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}
