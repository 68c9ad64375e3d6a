"""numpy-transformer: the encoder-decoder Transformer, the Vision Transformer, a BERT-style encoder and
the book's road to attention (RNN, GRU, Bahdanau and Luong attention, an attentional RNN translator)
in pure NumPy, forward and hand-written backward.

Layout (docs/architecture.md): the maths — config/ (configs, the model registry, parameter names,
input checks; shared with keras_transformer), ops/ (each forward beside its backward), models/
(whole models, decoding), fast/ (speed machinery, tested equal to the plain ops), gpu/ (the same
maths on CuPy); around it data/ (sentence pairs, corpus, tokenizers), training/ (the shared
training layer), apps/ (one folder per application) and cli/ (the command line).
"""
from .config import BertConfig, RNNTranslatorConfig, TransformerConfig, ViTConfig, parameter_shapes
from .models import BertEncoder, RNNTranslator, Transformer, VisionTransformer
from .ops import (Adam, WarmupSchedule, attentional_hidden_backward, attentional_hidden_forward,
                  bahdanau_attention_backward, bahdanau_attention_forward, luong_attention_backward,
                  luong_attention_forward, luong_local_attention_backward, luong_local_attention_forward,
                  causal_mask, clip_grad_norm, gradcheck, gru_backward, gru_forward, masked_accuracy, masked_cross_entropy,
                  padding_mask, positional_encoding, scaled_dot_product_attention, simple_rnn_backward,
                  simple_rnn_forward, time_attention_backward, time_attention_forward)

__version__ = "0.1.0"
__all__ = ["TransformerConfig", "Transformer", "ViTConfig", "VisionTransformer", "BertConfig", "BertEncoder", "masked_cross_entropy",
           "masked_accuracy", "positional_encoding", "scaled_dot_product_attention", "padding_mask",
           "causal_mask", "Adam", "WarmupSchedule", "clip_grad_norm", "gradcheck", "parameter_shapes",
           # the road to attention (docs/rnn_attention.md)
           "simple_rnn_forward", "simple_rnn_backward", "bahdanau_attention_forward",
           "bahdanau_attention_backward", "time_attention_forward", "time_attention_backward",
           "luong_attention_forward", "luong_attention_backward", "luong_local_attention_forward",
           "luong_local_attention_backward", "attentional_hidden_forward", "attentional_hidden_backward",
           "gru_forward", "gru_backward", "RNNTranslatorConfig", "RNNTranslator"]
