"""Whole models built from the ops: the encoder-decoder Transformer (and its encoder and
decoder layers), the Vision Transformer and the BERT-style encoder, which reuse the encoder layers, and the book's
recurrent models on the road to attention (rnn.py)."""
from .bert import BertEncoder, init_bert_params
from .kernels import FAST, PLAIN, Kernels
from .rnn import RNNRegressor, mse_loss
from .transformer import DecoderState, Transformer, init_params
from .vit import VisionTransformer, init_vit_params

__all__ = ["Transformer", "DecoderState", "init_params", "VisionTransformer", "init_vit_params", "Kernels",
           "PLAIN", "FAST", "RNNRegressor", "mse_loss", "BertEncoder",
           "init_bert_params"]
