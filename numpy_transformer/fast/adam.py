"""Adam spread over threads, on cache-sized slices, with a periodic flush of tiny m and v
(ops/optim.py's Adam, bit-identical between flushes; tested).

The update reads g, m, v, θ and writes m, v, θ once per element: it is bound by memory
bandwidth. Here it runs in place on
slices of CHUNK elements that stay in the L2 cache, spread over a thread pool: NumPy releases
the GIL inside ufunc loops, so threads on disjoint slices run truly in parallel. Every element
sees the same operations in the same order whatever the slicing, so the result does not depend
on the number of threads.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..ops.optim import Adam
from .subnormal import flush_tiny_signed

# elements per work item: the six slices in use (θ, g, m, v, two scratch) are 3 MB in float32,
# about one core's L2 (the measurements behind the choice: docs/performance.md)
CHUNK = 1 << 17
FLUSH_EVERY = 16   # steps between flushes of m, v entries below tiny/eps
_pool, _pool_size = None, 0


def _executor(threads):
    """One process-wide pool, grown when more threads are asked for."""
    global _pool, _pool_size
    if _pool is None or _pool_size < threads:
        _pool, _pool_size = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="adam"), threads
    return _pool


def default_threads():
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def adam_update_inplace(theta, g, m, v, alpha, one_minus_b1, one_minus_b2, eps, scratch):
    """ops.optim.adam_update with its temporaries written into `scratch` (two buffers of θ's
    shape): the same operations in the same order, so the same bits."""
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


class ThreadedAdam(Adam):
    """ops.optim.Adam, in place on CHUNK-sized slices over `threads` threads (default: the
    available cores, at most 8). Every FLUSH_EVERY-th step it also zeroes m, v entries below
    tiny/eps (1e-31 in float32): where a parameter stops receiving gradient (the embedding
    row of a word absent from recent batches) m and v decay geometrically into the subnormal
    range, where every operation on them is much slower (TensorFlow flushes subnormals in
    hardware). Below 1e-31 they no longer move θ at float32 precision; m needs ~150 steps at
    β1 = 0.9 to fall from 1e-31 to the subnormals, so every 16 steps catches them."""

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7, clipnorm=None, threads=None):
        super().__init__(lr, beta1, beta2, eps, clipnorm)
        self.threads = default_threads() if threads is None else int(threads)
        if self.threads < 1:
            raise ValueError(f"Adam threads must be >= 1, got {threads}")

    def step(self, params, grads):
        lr, work = self.begin_step(params, grads)
        items = []   # (θ, g, m, v, scalars) as flat slices of at most CHUNK elements
        for theta, g, m, v, scalars in work:
            if not theta.flags.c_contiguous:   # a view: update it whole (reshape would copy)
                items.append((theta, g, m, v, scalars))
                continue
            flat = [a.reshape(-1) for a in (theta, np.ascontiguousarray(g), m, v)]
            for s in range(0, theta.size, CHUNK):
                items.append(tuple(a[s:s + CHUNK] for a in flat) + (scalars,))
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
            if theta.dtype not in scratch:
                scratch[theta.dtype] = (np.empty(size, theta.dtype), np.empty(size, theta.dtype))
            buf = tuple(b[:theta.size].reshape(theta.shape) for b in scratch[theta.dtype])
            adam_update_inplace(theta, g, m, v, *scalars, buf)
            if flush:
                for state in (m, v):
                    flush_tiny_signed(state, buf[0])
