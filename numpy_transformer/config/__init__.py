"""The configs (one description of a model, shared by every backend), their parameter names
and shapes, and the input checks both backends share. Pure metadata: NumPy is imported only
inside the functions that check arrays, and keras_transformer may import this package."""
from .bert import BertConfig, bert_parameter_shapes, check_bert_inputs
from .checks import check_ids, check_images, check_labels, check_warmup
from .models import ACTIVATIONS, TransformerConfig, ViTConfig, config_from_dict
from .rnn import RNN_ACTIVATIONS, RNN_ATTENTION, RNNConfig, rnn_parameter_shapes
from .rnn_translator import LUONG_SCORES, RNNTranslatorConfig, rnn_translator_parameter_shapes, schedule_width
from .shapes import check_state_dict, parameter_shapes, vit_parameter_shapes

__all__ = ["TransformerConfig", "ViTConfig", "BertConfig", "bert_parameter_shapes", "check_bert_inputs", "RNNConfig", "config_from_dict", "parameter_shapes",
           "vit_parameter_shapes", "rnn_parameter_shapes", "check_state_dict", "check_ids", "check_images",
           "check_labels", "check_warmup", "RNNTranslatorConfig", "rnn_translator_parameter_shapes",
           "LUONG_SCORES", "schedule_width", "ACTIVATIONS", "RNN_ACTIVATIONS", "RNN_ATTENTION"]
