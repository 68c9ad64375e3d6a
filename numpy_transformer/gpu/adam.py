"""Adam for a device: ops/optim.py's update over whole arrays, with nothing read back to the host.

Per step the CPU Adam reads three things on the host: the loss (skip the step when it is not
finite), the global gradient norm (clipping) and its step count t (learning rate and bias
correction). On a GPU each read waits for all queued work. Here all three stay on the device:

    ok    = loss is finite (and ‖g‖ is, when clipping)        a 0-d bool array
    t     ← t + ok                                           skipped steps do not count
    lr    = schedule(t)                                      WarmupSchedule accepts arrays
    α     = lr · sqrt(1 − β2^t) / (1 − β1^t)                  as in ops/optim.Adam, in θ's dtype
    scale = min(1, clipnorm / ‖g‖)                           tf.clip_by_global_norm's rule
and the update of ops/optim.adam_update runs with its coefficients multiplied by ok, on
g' = where(ok, g·scale, 0), so a non-finite step changes no θ, m or v. The CPU's one difference
is *when* it notices: it skips the step at once, DeviceTrainer counts skipped steps for the
caller to read. Everything is the plain update's operations in the same order, so on NumPy the
result is bit-identical to ops/optim.Adam (tested). No subnormal flush (fast/adam.py needs it
because subnormals are slow on CPUs; GPUs compute them at full speed).

`fused=True` (CuPy only) does each parameter's update in one elementwise kernel instead of ~10
array operations: one read of g, θ, m, v and one write of θ, m, v.
"""
from __future__ import annotations

import numpy as np

from ..config.tree import named

_FUSED = None


def _fused_kernel():
    global _FUSED
    if _FUSED is None:
        import cupy
        _FUSED = cupy.ElementwiseKernel(
            "T g, T scale, T c1, T c2, T alpha, T eps, bool ok", "T theta, T m, T v",
            """
            T gs = ok ? g * scale : (T)0;
            m += (gs - m) * c1;
            v += (gs * gs - v) * c2;
            theta -= (alpha * m) / (sqrt(v) + eps);
            """, "numpy_transformer_adam")
    return _FUSED


class DeviceAdam:
    """ops.optim.Adam (Keras 3's form) for parameters on a device; see the module docstring.
    Create it, and call step(), inside `numpy_is(xp)` so its arrays live where the model's do."""

    def __init__(self, params, lr, beta1=0.9, beta2=0.999, eps=1e-7, clipnorm=None, fused=False):
        for name, val in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= val < 1.0:
                raise ValueError(f"Adam {name} must be in [0, 1), got {val}")
        if eps <= 0:
            raise ValueError(f"Adam eps must be > 0, got {eps}")
        if clipnorm is not None and not clipnorm > 0:
            raise ValueError(f"clipnorm must be > 0, got {clipnorm}")
        self.lr, self.beta1, self.beta2, self.eps, self.clipnorm = lr, beta1, beta2, eps, clipnorm
        self.fused = fused
        params = named(params)                       # the state under the shared dotted names
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = np.zeros((), dtype=np.int64)        # applied updates, on the device
        # 1, β1, β2, ε, 0 as 0-d arrays of each parameter dtype, made once here: a host-to-device
        # copy inside the step would be a host synchronisation, and is not allowed in a CUDA graph
        self._const = {p.dtype: tuple(np.asarray(c, dtype=p.dtype) for c in (1.0, beta1, beta2, eps, 0.0))
                       for p in params.values()}

    def step(self, params, grads, finite):
        """Update `params` in place from `grads` unless `finite` (a 0-d bool array: the loss is
        finite) is False. `params`, `grads`: trees of the same shape (or flat dicts). Returns ok,
        the 0-d bool array saying whether the update was applied."""
        params, grads = named(params), named(grads)
        grads = {k: grads[k] for k in params}        # the norm sums in the parameters' order
        ok = finite
        scale = None
        if self.clipnorm is not None:
            total = np.sqrt(sum(np.vdot(g, g).astype(np.float64) for g in grads.values()))
            ok = ok & np.isfinite(total)
            scale = np.where(total > self.clipnorm, self.clipnorm / total, 1.0)
        self.t += ok                                 # in place: a CUDA graph replays fixed addresses
        t = np.maximum(self.t, 1)                    # t = 0 only while every step so far was skipped
        lr = self.lr(t) if callable(self.lr) else np.full((), self.lr)   # a device array either way
        coeffs = {}
        for k, theta in params.items():
            dt = theta.dtype
            if dt not in coeffs:
                coeffs[dt] = self._coefficients(dt, lr, t, ok, scale)
            g = grads[k]
            if self.fused:
                _fused_kernel()(g, *coeffs[dt], ok, theta, self.m[k], self.v[k])
                continue
            sc, c1, c2, alpha, eps = coeffs[dt]
            g = np.where(ok, g if scale is None else g * sc, 0).astype(dt, copy=False)
            m, v = self.m[k], self.v[k]
            m += (g - m) * c1                        # ops.optim.adam_update, coefficients × ok
            v += (g * g - v) * c2
            theta -= (alpha * m) / (np.sqrt(v) + eps)
        return ok

    def _coefficients(self, dt, lr, t, ok, scale):
        """scale, (1 − β1)·ok, (1 − β2)·ok, α·ok and ε in θ's dtype, as 0-d device arrays (a 0-d
        float64 array would promote a float32 update to float64; a Python float would not)."""
        one, b1, b2, eps, zero = self._const[dt]
        tt = t.astype(dt)
        alpha = lr.astype(dt) * np.sqrt(one - b2 ** tt) / (one - b1 ** tt)
        return (one if scale is None else scale.astype(dt), np.where(ok, one - b1, zero),
                np.where(ok, one - b2, zero), np.where(ok, alpha, zero), eps)
