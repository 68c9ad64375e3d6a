"""Whole models built from the ops: the encoder-decoder Transformer (and its encoder and
decoder layers), the Vision Transformer and the BERT-style encoder, which reuse the encoder
layers, the book's recurrent models on the road to attention (rnn.py) and the attentional RNN
translator (rnn_translator.py: GRU encoder-decoder with Luong attention, the Transformer's contract)."""
from .bert import BertEncoder, init_bert_params
from . import kernels
from .kernels import PLAIN, Kernels, get_kernels
from .rnn import RNNRegressor, mse_loss
from .rnn_translator import RNNDecoderState, RNNTranslator, init_rnn_translator_params
from .transformer import DecoderState, Transformer, init_params
from .vit import VisionTransformer, init_vit_params

__all__ = ["Transformer", "DecoderState", "init_params", "VisionTransformer", "init_vit_params", "Kernels",
           "PLAIN", "FAST", "get_kernels", "RNNRegressor", "mse_loss",
           "RNNTranslator", "RNNDecoderState", "init_rnn_translator_params", "BertEncoder", "init_bert_params"]


def __getattr__(name):
    if name == "FAST":   # built on first use: importing the models does not load fast/
        return kernels.fast_kernels()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
