"""Speed machinery, apart from the maths: faster versions of some ops, each tested equal to its
plain form in ops/ (bit-identical where it says so, else float64 within 1e-12). Nothing in
ops/ depends on this package. See docs/performance.md for what each buys.

* attention.py   — fused Q/K/V projections, scale on Q, softmax in place, no subnormals
* feedforward.py — ReLU in place (GELU: its derivative multiplied into da in place)
* layernorm.py   — two allocations instead of six
* loss.py        — cross-entropy in one logits-sized buffer, no subnormals
* adam.py        — Adam over threads on cache-sized slices, periodic flush of tiny m, v
* subnormal.py   — why and how subnormals are kept out
"""
from . import adam, attention, feedforward, layernorm, loss, subnormal
from .adam import ThreadedAdam
from .loss import masked_cross_entropy

__all__ = ["ThreadedAdam", "masked_cross_entropy", "adam", "attention", "feedforward", "layernorm",
           "loss", "subnormal"]
