"""numpy-transformer: the encoder-decoder Transformer in pure NumPy, forward and hand-written backward."""
from .attention import causal_mask, padding_mask, scaled_dot_product_attention
from .config import TransformerConfig, parameter_shapes
from .embedding import positional_encoding
from .gradcheck import gradcheck
from .loss import masked_accuracy, masked_cross_entropy
from .model import Transformer
from .optim import Adam, WarmupSchedule, clip_grad_norm

__version__ = "0.1.0"
__all__ = ["TransformerConfig", "Transformer", "masked_cross_entropy", "masked_accuracy",
           "positional_encoding", "scaled_dot_product_attention", "padding_mask", "causal_mask",
           "Adam", "WarmupSchedule", "clip_grad_norm", "gradcheck", "parameter_shapes"]
