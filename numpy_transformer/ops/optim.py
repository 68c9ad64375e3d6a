"""Adam in Keras 3's exact form, the paper's warm-up schedule, ViT's warm-up + cosine schedule, and
clipping by global norm."""
from __future__ import annotations

import math

import numpy as np

from ..config import check_warmup
from ..config.tree import named


class WarmupSchedule:
    """lr(step) = d_model^-0.5 · min(step^-0.5, step · warmup^-1.5) (paper, eq. 3): linear
    warm-up for `warmup_steps`, then decay ∝ 1/sqrt(step). `step` counts updates from 1
    (the book called it with Keras' 0-based iteration counter, so its first update had lr 0)."""

    def __init__(self, d_model, warmup_steps=4000):
        self.d_model, self.warmup_steps = check_warmup(d_model, warmup_steps)

    def __call__(self, step):
        """`step` a number, or an array of steps (numpy.minimum, not min: the GPU step keeps its
        step count on the device, numpy_transformer/gpu/adam.py)."""
        if isinstance(step, (int, float, np.number)) and step < 1:   # host numbers; a device array is not read
            raise ValueError(f"WarmupSchedule steps count from 1, got {step}")
        return self.d_model ** -0.5 * np.minimum(step ** -0.5, step * self.warmup_steps ** -1.5)


class WarmupCosine:
    """lr(step) = peak · step / warmup for step ≤ warmup, then peak · ½(1 + cos(π·(step − warmup)
    / (total − warmup))) down to 0 at step = total (and 0 after): the ViT paper's schedule
    (linear warm-up, cosine decay). `step` counts updates from 1, as in WarmupSchedule."""

    def __init__(self, peak, warmup_steps, total_steps):
        if not peak > 0 or warmup_steps < 0 or total_steps <= warmup_steps:
            raise ValueError(f"WarmupCosine needs peak > 0 and 0 <= warmup_steps < total_steps, got "
                             f"{peak}, {warmup_steps}, {total_steps}")
        self.peak, self.warmup_steps, self.total_steps = float(peak), int(warmup_steps), int(total_steps)

    def __call__(self, step):
        if step < 1:
            raise ValueError(f"WarmupCosine steps count from 1, got {step}")
        if step <= self.warmup_steps:
            return self.peak * step / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def clip_grad_norm(grads, max_norm):
    """Scale all gradients by max_norm / max(‖g‖, max_norm), ‖g‖ the global L2 norm over every
    tensor (tf.clip_by_global_norm's rule), in place. Returns ‖g‖ before clipping."""
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if not math.isfinite(total):
        raise FloatingPointError(f"gradient norm is {total}: the loss or the weights hold NaN/inf")
    if total > max_norm:
        scale = max_norm / total
        for g in grads.values():
            g *= g.dtype.type(scale)
    return total


def adam_update(theta, g, m, v, alpha, one_minus_b1, one_minus_b2, eps):
    """One Adam update of θ, m, v in place, in Keras' order of operations (so float32 results
    match Keras bit for bit where the arithmetic is the same):
        m ← m + (g − m)(1 − β1),   v ← v + (g² − v)(1 − β2),   θ ← θ − (α·m) / (sqrt(v) + ε)."""
    m += (g - m) * one_minus_b1
    v += (g * g - v) * one_minus_b2
    theta -= (alpha * m) / (np.sqrt(v) + eps)


class Adam:
    """Adam (Kingma & Ba) in exactly the form Keras 3 computes it, for step t = 1, 2, ...:
        m ← m + (g − m)(1 − β1),  v ← v + (g² − v)(1 − β2)
        α = lr_t · sqrt(1 − β2^t) / (1 − β1^t)
        θ ← θ − α · m / (sqrt(v) + ε)
    Note where ε sits: added to sqrt(v) of the *uncorrected* v, with the bias correction
    folded into α. The paper's Algorithm 1 adds ε to sqrt(v̂) = sqrt(v / (1 − β2^t)); the two
    agree when ε → 0 and differ by ε·(1 − sqrt(1 − β2^t)) in the denominator otherwise.
    `lr` is a float or a callable of t (e.g. WarmupSchedule). β1, β2, ε and lr_t are taken
    in the parameters' dtype, which is what Keras does for float32. (For float64 variables
    Keras on TensorFlow still rounds β1, β2 to float32 in the bias correction, a relative
    difference of ~7e-7 per step; this class keeps the exact float64 values, and the parity
    suite accounts for Keras' rounding explicitly.) `clipnorm` clips by global norm first.
    params and grads are parameter trees of the same shape (or flat {name: array} dicts); the
    state m, v is kept under the shared dotted names (config/tree.py's flatten), which is how
    checkpoints store it. fast/adam.py has the same update spread over threads (bit-identical)."""

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7, clipnorm=None):
        for name, val in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= val < 1.0:
                raise ValueError(f"Adam {name} must be in [0, 1), got {val}")
        if eps <= 0:
            raise ValueError(f"Adam eps must be > 0, got {eps}")
        self.lr, self.beta1, self.beta2, self.eps, self.clipnorm = lr, beta1, beta2, eps, clipnorm
        self.t = 0
        self.m, self.v = {}, {}

    def current_lr(self, t=None):
        t = self.t + 1 if t is None else t
        return float(self.lr(t)) if callable(self.lr) else float(self.lr)

    def begin_step(self, params, grads):
        """Checks, clipping, t ← t + 1 and the step's scalars. Returns lr and, per parameter,
        (θ, g, m, v, (α, 1 − β1, 1 − β2, ε)) with the scalars in θ's dtype. The trees are read
        through their dotted names, the gradients in the parameters' order (so the global norm
        sums in the order of state_dict())."""
        params, grads = named(params), named(grads)
        if set(grads) != set(params):
            raise ValueError(f"grads and params have different keys: "
                             f"{sorted(set(grads) ^ set(params))[:5]}")
        grads = {k: grads[k] for k in params}
        if self.clipnorm is not None:
            clip_grad_norm(grads, self.clipnorm)
        self.t += 1
        lr = self.current_lr(self.t)
        work = []
        for k, theta in params.items():
            g = np.asarray(grads[k])
            if g.shape != theta.shape:
                raise ValueError(f"gradient of {k} has shape {g.shape}, the parameter has {theta.shape}")
            if k not in self.m:
                self.m[k], self.v[k] = np.zeros_like(theta), np.zeros_like(theta)
            dt = theta.dtype.type
            b1, b2 = dt(self.beta1), dt(self.beta2)
            alpha = dt(lr) * np.sqrt(dt(1) - b2 ** dt(self.t)) / (dt(1) - b1 ** dt(self.t))
            work.append((theta, g.astype(theta.dtype, copy=False), self.m[k], self.v[k],
                         (alpha, dt(1) - b1, dt(1) - b2, dt(self.eps))))
        return lr, work

    def step(self, params, grads):
        """Update `params` in place from `grads` (a tree of the same shape). Returns the learning
        rate used."""
        lr, work = self.begin_step(params, grads)
        for theta, g, m, v, scalars in work:
            adam_update(theta, g, m, v, *scalars)
        return lr

    def state_dict(self):
        """Optimizer state under `m.<param>` / `v.<param>` plus the step count `t`."""
        sd = {"t": np.array(self.t, dtype=np.int64)}
        sd.update({f"m.{k}": a.copy() for k, a in self.m.items()})
        sd.update({f"v.{k}": a.copy() for k, a in self.v.items()})
        return sd

    def load_state_dict(self, sd):
        """The inverse of state_dict(), after check_adam_state (a ValueError naming the tensor)."""
        check_adam_state(sd)
        self.t = int(np.asarray(sd["t"]).reshape(()))   # safetensors stores scalars as (1,)
        self.m = {k[2:]: np.array(a) for k, a in sd.items() if k.startswith("m.")}
        self.v = {k[2:]: np.array(a) for k, a in sd.items() if k.startswith("v.")}


# more updates than any run takes (a year at 30,000 updates a second): a larger step count is a
# corrupt one, e.g. a flipped high byte of the int64
MAX_STEPS = 2 ** 40


def check_adam_state(sd, shapes=None, prefix=""):
    """Refuse optimizer state that no Adam run can produce, with a ValueError naming the tensor
    (under `prefix` + its state_dict() name, e.g. "optim." for a checkpoint's): a step count `t`
    that is not one non-negative integer up to MAX_STEPS; m./v. keys that do not pair up (or,
    with `shapes` {param: shape}, do not cover exactly those parameters in their shapes, where
    there are any: Adam.state_dict() before the first step has none); moments that are not
    finite floats; a negative second moment (v is a running mean of squared gradients: a
    negative entry is corruption, and its square root the NaN that the next step's loss would
    otherwise report as a learning rate too high)."""
    if "t" not in sd:
        raise ValueError(f"{prefix}t (the step count) is missing from the optimizer state")
    t = np.asarray(sd["t"])
    if t.size != 1 or not np.issubdtype(t.dtype, np.integer) or not 0 <= int(t.reshape(())) <= MAX_STEPS:
        shown = t.reshape(-1)[:3].tolist() if t.size else "empty"
        raise ValueError(f"{prefix}t: the step count must be one integer in [0, 2**40], got {shown} "
                         f"({t.dtype}, shape {t.shape}): the optimizer state is corrupt")
    moments = {p: {k[2:] for k in sd if k.startswith(p + ".")} for p in "mv"}
    extra = [prefix + k for k in sd if k != "t" and k[:2] not in ("m.", "v.")]
    unpaired = [f"{prefix}{q}.{k}" for p, q in ("mv", "vm") for k in sorted(moments[p] - moments[q])]
    if shapes is not None and (moments["m"] or moments["v"]):   # none yet: Adam starts them at zero
        unpaired += [f"{prefix}{p}.{k}" for p in "mv" for k in shapes if k not in moments[p]]
        extra += [f"{prefix}{p}.{k}" for p in "mv" for k in sorted(moments[p]) if k not in shapes]
    if extra or unpaired:
        what = "; ".join(s for s in (f"unexpected {extra[:3]}" if extra else "",
                                     f"missing {unpaired[:3]}" if unpaired else "") if s)
        raise ValueError(f"optimizer state does not match the parameters: {what}"
                         + (" (and more)" if len(extra) > 3 or len(unpaired) > 3 else ""))
    for k in sd:
        if k == "t":
            continue
        a, name = np.asarray(sd[k]), prefix + k
        if shapes is not None and a.shape != tuple(shapes[k[2:]]):
            raise ValueError(f"{name}: shape {a.shape}, but the parameter has {tuple(shapes[k[2:]])}")
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"{name}: expected a floating-point array, got dtype {a.dtype}")
        bad = a.size - int(np.count_nonzero(np.isfinite(a)))
        if bad:
            raise ValueError(f"{name}: {bad} of its {a.size} entries NaN or inf: the optimizer state is corrupt")
        if k.startswith("v.") and a.size and a.min() < 0:
            raise ValueError(f"{name}: {int(np.count_nonzero(a < 0))} of its {a.size} entries negative (as low "
                             f"as {float(a.min()):.3g}), but Adam's second moment is a running mean of squared "
                             f"gradients: the optimizer state is corrupt")
