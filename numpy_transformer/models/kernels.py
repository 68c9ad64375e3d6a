"""Which implementation of the hot ops a model calls: the plain ones in ops/ (the paper's
equations, written to be read) or the fast ones in fast/ (fused projections, in-place
buffers, no subnormals; tested equal to the plain ones). Every other op is the same in both."""
from __future__ import annotations

import dataclasses
from typing import Callable

from .. import fast
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


PLAIN = Kernels("plain", attention.mha_forward, attention.mha_backward,
                feedforward.feed_forward_forward, feedforward.feed_forward_backward,
                layernorm.layernorm_forward, layernorm.layernorm_backward)

FAST = Kernels("fast", fast.attention.mha_forward, fast.attention.mha_backward,
               fast.feedforward.feed_forward_forward, fast.feedforward.feed_forward_backward,
               fast.layernorm.layernorm_forward, fast.layernorm.layernorm_backward)

KERNELS = {"plain": PLAIN, "fast": FAST}


def get_kernels(name):
    if isinstance(name, Kernels):
        return name
    if name not in KERNELS:
        raise ValueError(f"kernels must be one of {sorted(KERNELS)}, got {name!r}")
    return KERNELS[name]
