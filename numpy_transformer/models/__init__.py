"""Whole models built from the ops: the encoder-decoder Transformer (and its encoder and
decoder layers)."""
from .kernels import FAST, PLAIN, Kernels
from .transformer import DecoderState, Transformer, init_params

__all__ = ["Transformer", "DecoderState", "init_params", "Kernels", "PLAIN", "FAST"]
