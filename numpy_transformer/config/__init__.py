"""The configs (one description of a model, shared by every backend), the model registry (kind →
config → parameter shapes → NumPy and Keras model), and the input checks both backends share.
Pure metadata: NumPy is imported only inside the functions that check arrays, and
keras_transformer may import this package."""
from .base import ACTIVATIONS
from .bert import BertConfig, bert_parameter_shapes, check_bert_inputs
from .checks import check_ids, check_images, check_labels, check_warmup
from .models import TransformerConfig, ViTConfig
from .registry import (KINDS, ModelKind, check_state_dict, config_from_dict, kind_of, kind_of_dict,
                       parameter_shapes)
from .rnn import RNN_ACTIVATIONS, RNN_ATTENTION, RNNConfig, rnn_parameter_shapes
from .rnn_translator import LUONG_SCORES, RNNTranslatorConfig, rnn_translator_parameter_shapes, schedule_width
from .shapes import transformer_parameter_shapes, vit_parameter_shapes

__all__ = ["TransformerConfig", "ViTConfig", "BertConfig", "bert_parameter_shapes", "check_bert_inputs", "RNNConfig",
           "config_from_dict", "parameter_shapes", "transformer_parameter_shapes", "vit_parameter_shapes",
           "rnn_parameter_shapes", "check_state_dict", "check_ids", "check_images", "check_labels", "check_warmup",
           "RNNTranslatorConfig", "rnn_translator_parameter_shapes", "LUONG_SCORES", "schedule_width", "ACTIVATIONS",
           "RNN_ACTIVATIONS", "RNN_ATTENTION", "KINDS", "ModelKind", "kind_of", "kind_of_dict"]
