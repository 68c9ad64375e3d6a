"""Which implementation of the hot ops a model calls: the plain ones in ops/ (the paper's
equations, written to be read; every model's default) or the fast ones in fast/ (fused
projections, in-place buffers, no subnormals; tested equal to the plain ones), which the
applications and benchmarks ask for by name. Every other op is the same in both.

fast/ is imported on the first request for it, so a model on the plain kernels never loads
the speed machinery."""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

from ..ops import attention, feedforward, layernorm


@dataclasses.dataclass(frozen=True)
class Kernels:
    name: str
    mha_forward: Callable
    mha_backward: Callable
    feed_forward_forward: Callable
    feed_forward_backward: Callable
    layernorm_forward: Callable
    layernorm_backward: Callable
    kv_cache: type           # the key/value cache mha_forward decodes with


PLAIN = Kernels("plain", attention.mha_forward, attention.mha_backward,
                feedforward.feed_forward_forward, feedforward.feed_forward_backward,
                layernorm.layernorm_forward, layernorm.layernorm_backward, attention.KVCache)


@functools.cache
def fast_kernels():
    """The fast/ implementations, built (and fast/ imported) on the first call."""
    from ..fast import attention as fa, feedforward as ff, layernorm as fl
    return Kernels("fast", fa.mha_forward, fa.mha_backward, ff.feed_forward_forward,
                   ff.feed_forward_backward, fl.layernorm_forward, fl.layernorm_backward, fa.FusedKVCache)


KERNELS = {"plain": lambda: PLAIN, "fast": fast_kernels}


def get_kernels(name):
    if isinstance(name, Kernels):
        return name
    if name not in KERNELS:
        raise ValueError(f"kernels must be one of {sorted(KERNELS)}, got {name!r}")
    return KERNELS[name]()


def __getattr__(name):
    if name == "FAST":   # models.kernels.FAST still works; it loads fast/ when first read
        return fast_kernels()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
