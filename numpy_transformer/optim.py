"""Adam (Keras 3's update, epsilon placement included), the paper's warm-up schedule, and
gradient clipping by global norm."""
from __future__ import annotations

import math
import os

import numpy as np


class WarmupSchedule:
    """lr(step) = d_model^-0.5 · min(step^-0.5, step · warmup^-1.5) (paper, eq. 3): linear
    warm-up for `warmup_steps`, then decay ∝ 1/sqrt(step). `step` counts updates from 1
    (the book called it with Keras' 0-based iteration counter, so its first update had lr 0)."""

    def __init__(self, d_model, warmup_steps=4000):
        if d_model < 1 or warmup_steps < 1:
            raise ValueError(f"WarmupSchedule needs d_model >= 1 and warmup_steps >= 1, got {d_model}, {warmup_steps}")
        self.d_model, self.warmup_steps = int(d_model), int(warmup_steps)

    def __call__(self, step):
        if step < 1:
            raise ValueError(f"WarmupSchedule steps count from 1, got {step}")
        return self.d_model ** -0.5 * min(step ** -0.5, step * self.warmup_steps ** -1.5)


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


# elements per work item: the six slices in use (θ, g, m, v, two scratch) are 3 MB in float32,
# about one core's L2; measured fastest at the book's size on 2 cores (2^15: 112 ms, 2^16: 87 ms,
# 2^17: 76 ms, 2^18: 112 ms, whole tensors: 110 ms; smaller slices lose to per-call overhead)
_CHUNK = 1 << 17
FLUSH_EVERY = 16   # steps between flushes of m, v entries below tiny/eps (see adam_update)
_pool, _pool_size = None, 0


def _executor(threads):
    """A process-wide thread pool for Adam. NumPy releases the GIL inside ufunc loops, so
    threads working on disjoint slices run truly in parallel (the update is memory-bound;
    a single thread leaves the other cores idle)."""
    global _pool, _pool_size
    if _pool is None or _pool_size < threads:
        from concurrent.futures import ThreadPoolExecutor
        _pool, _pool_size = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="adam"), threads
    return _pool


def _default_threads():
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def adam_update(theta, g, m, v, alpha, one_minus_b1, one_minus_b2, eps, scratch, flush=False):
    """One Adam update, in place, in Keras' order of operations:
        m += (g − m)(1 − β1);  v += (g² − v)(1 − β2);  θ −= (α·m) / (sqrt(v) + ε).
    `scratch` is two buffers of θ's shape; nothing else is allocated.
    flush=True then zeroes entries of m and v below tiny/eps (float32: 1e-31). Where a parameter
    stops receiving gradient (the embedding row of a word absent from recent batches) m and v
    decay geometrically into the subnormal range, where every operation on them is ~10× slower
    (TensorFlow flushes subnormals in hardware). Below 1e-31 they no longer move θ at float32
    precision; flushing every FLUSH_EVERY steps catches them before they get there (m needs
    ~150 steps at β1 = 0.9 to fall from 1e-31 to the subnormals)."""
    a, c = scratch
    np.subtract(g, m, out=a)
    a *= one_minus_b1
    m += a
    np.multiply(g, g, out=a)
    a -= v
    a *= one_minus_b2
    v += a
    np.sqrt(v, out=a)
    a += eps
    np.multiply(m, alpha, out=c)
    np.divide(c, a, out=c)
    theta -= c
    if flush:
        fi = np.finfo(theta.dtype)
        for state in (m, v):
            np.putmask(state, np.abs(state, out=a) < fi.tiny / fi.eps, 0)


class Adam:
    """Adam (Kingma & Ba) in exactly the form Keras 3 computes it, for step t = 1, 2, ...:
        m ← m + (g − m)(1 − β1),  v ← v + (g² − v)(1 − β2)
        α = lr_t · sqrt(1 − β2^t) / (1 − β1^t)
        θ ← θ − α · m / (sqrt(v) + ε)
    Note where ε sits: added to sqrt(v) of the *uncorrected* v, with the bias correction
    folded into α. The paper's Algorithm 1 adds ε to sqrt(v̂) = sqrt(v / (1 − β2^t)); the two
    agree when ε → 0 and differ by ε·(1 − sqrt(1 − β2^t)) in the denominator otherwise.
    `lr` is a float or a callable of t (e.g. WarmupSchedule). β1, β2, ε and lr_t are taken
    in the parameters' dtype, which is what Keras does for float32.

    Speed: the update reads g, m, v, θ and writes m, v, θ once per element, so it is bound by
    memory bandwidth (49M parameters at the book's size: ~1.4 GB per step). It runs in place
    (no temporaries the size of a tensor) on slices of `_CHUNK` elements that stay in the L2
    cache, spread over `threads` threads (default: the available cores, at most 8). Every
    element sees the same operations in the same order whatever the slicing, so the result
    does not depend on `threads`. Every FLUSH_EVERY-th step also zeroes m, v entries below
    tiny/eps (1e-31 in float32) before they decay into the slow subnormal range, where
    TensorFlow's flush-to-zero would put them too (see adam_update). (For float64 variables
    Keras on TensorFlow still rounds β1, β2 to float32 in the bias correction, a relative
    difference of ~7e-7 per step; this class keeps the exact float64 values, and the parity
    suite accounts for Keras' rounding explicitly.) `clipnorm` clips by global norm first."""

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7, clipnorm=None, threads=None):
        for name, val in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= val < 1.0:
                raise ValueError(f"Adam {name} must be in [0, 1), got {val}")
        if eps <= 0:
            raise ValueError(f"Adam eps must be > 0, got {eps}")
        self.lr, self.beta1, self.beta2, self.eps, self.clipnorm = lr, beta1, beta2, eps, clipnorm
        self.threads = _default_threads() if threads is None else int(threads)
        if self.threads < 1:
            raise ValueError(f"Adam threads must be >= 1, got {threads}")
        self.t = 0
        self.m, self.v = {}, {}

    def current_lr(self, t=None):
        t = self.t + 1 if t is None else t
        return float(self.lr(t)) if callable(self.lr) else float(self.lr)

    def step(self, params, grads):
        """Update `params` in place from `grads` (same keys). Returns the learning rate used."""
        if set(grads) != set(params):
            raise ValueError(f"grads and params have different keys: "
                             f"{sorted(set(grads) ^ set(params))[:5]}")
        if self.clipnorm is not None:
            clip_grad_norm(grads, self.clipnorm)
        self.t += 1
        lr = self.current_lr(self.t)
        items = []   # (θ, g, m, v, scalars) as flat slices of at most _CHUNK elements
        for k, theta in params.items():
            g = np.asarray(grads[k])
            if g.shape != theta.shape:
                raise ValueError(f"gradient of {k} has shape {g.shape}, the parameter has {theta.shape}")
            if k not in self.m:
                self.m[k], self.v[k] = np.zeros_like(theta), np.zeros_like(theta)
            dt = theta.dtype.type
            b1, b2 = dt(self.beta1), dt(self.beta2)
            alpha = dt(lr) * np.sqrt(dt(1) - b2 ** dt(self.t)) / (dt(1) - b1 ** dt(self.t))
            scalars = (alpha, dt(1) - b1, dt(1) - b2, dt(self.eps))
            if not theta.flags.c_contiguous:   # a view: update it whole (reshape would copy)
                items.append((theta, g.astype(theta.dtype, copy=False), self.m[k], self.v[k], scalars))
                continue
            flat = [a.reshape(-1) for a in (theta, np.ascontiguousarray(g, dtype=theta.dtype),
                                            self.m[k], self.v[k])]
            for s in range(0, theta.size, _CHUNK):
                items.append(tuple(a[s:s + _CHUNK] for a in flat) + (scalars,))
        flush = self.t % FLUSH_EVERY == 0
        nthreads = min(self.threads, len(items))
        if nthreads <= 1:
            self._run(items, flush)
        else:   # interleaved shares: every thread gets a mix of large and small tensors
            list(_executor(nthreads).map(self._run, [items[i::nthreads] for i in range(nthreads)],
                                         [flush] * nthreads))
        return lr

    @staticmethod
    def _run(items, flush=False):
        size = max((it[0].size for it in items), default=0)
        scratch = {}
        for theta, g, m, v, scalars in items:
            dtype = theta.dtype
            if dtype not in scratch:
                scratch[dtype] = (np.empty(size, dtype), np.empty(size, dtype))
            buf = tuple(b[:theta.size].reshape(theta.shape) for b in scratch[dtype])
            adam_update(theta, g, m, v, *scalars, buf, flush=flush)

    def state_dict(self):
        """Optimizer state under `m.<param>` / `v.<param>` plus the step count `t`."""
        sd = {"t": np.array(self.t, dtype=np.int64)}
        sd.update({f"m.{k}": a.copy() for k, a in self.m.items()})
        sd.update({f"v.{k}": a.copy() for k, a in self.v.items()})
        return sd

    def load_state_dict(self, sd):
        self.t = int(np.asarray(sd["t"]).reshape(()))   # safetensors stores scalars as (1,)
        self.m = {k[2:]: np.array(a) for k, a in sd.items() if k.startswith("m.")}
        self.v = {k[2:]: np.array(a) for k, a in sd.items() if k.startswith("v.")}
        if set(self.m) != set(self.v):
            raise ValueError("optimizer state has mismatched m./v. keys")
