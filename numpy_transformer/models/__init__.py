"""Whole models built from the ops: the encoder-decoder Transformer (and its encoder and
decoder layers) and the Vision Transformer, which reuses the encoder layers."""
from .kernels import FAST, PLAIN, Kernels
from .transformer import DecoderState, Transformer, init_params
from .vit import VisionTransformer, init_vit_params

__all__ = ["Transformer", "DecoderState", "init_params", "VisionTransformer", "init_vit_params", "Kernels",
           "PLAIN", "FAST"]
