"""keras_transformer: the encoder-decoder Transformer (and the Vision Transformer, the book's
RNN models and the attentional RNN translator) in Keras 3 on the TensorFlow, JAX or PyTorch backend (keras.ops throughout,
backend-specific code only in backend.py), built
from the same TransformerConfig as the NumPy reference and exchanging weights with it through
state dicts (same names, shapes and (in, out) layout). Mirrors the classes of "Building
Transformer Models with Attention", with the book's errata fixed.

Only numpy_transformer.config is imported from the NumPy package: the Keras math is written
independently, which is what keeps the parity tests meaningful."""
from .attention import (DotProductAttention, MultiHeadAttention, decoder_self_mask, lookahead_mask,
                        padding_mask)
from .bert import BertModel
from .blocks import Decoder, DecoderLayer, Encoder, EncoderLayer
from .decoding import greedy_decode
from .layers import AddNormalization, FeedForward, PositionEmbedding, positional_encoding
from .losses import MaskedLoss, masked_accuracy, masked_loss
from .model import TransformerModel, check_ids
from .rnn_translator import RNNTranslatorModel
from .schedule import WarmupCosine, WarmupSchedule
from .vit import VisionTransformerModel

__all__ = ["TransformerModel", "Encoder", "Decoder", "EncoderLayer", "DecoderLayer", "MultiHeadAttention",
           "DotProductAttention", "AddNormalization", "FeedForward", "PositionEmbedding",
           "positional_encoding", "padding_mask", "lookahead_mask", "decoder_self_mask", "masked_loss",
           "masked_accuracy", "MaskedLoss", "WarmupSchedule", "greedy_decode", "check_ids", "VisionTransformerModel",
           "WarmupCosine", "RNNTranslatorModel", "BertModel"]
