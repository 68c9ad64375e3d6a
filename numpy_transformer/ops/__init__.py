"""The maths: every op's forward beside its hand-written backward, the derivation in the
docstring, NumPy only. Read these to follow the paper; fast/ holds faster versions of some,
tested equal to these."""
from .activations import gelu_backward, gelu_forward, relu_backward, relu_forward
from .bahdanau import BahdanauCache, bahdanau_attention_backward, bahdanau_attention_forward
from .attention import (KVCache, causal_mask, mha_backward, mha_forward, padding_mask,
                        scaled_dot_product_attention, sdpa_backward, sdpa_forward)
from .dropout import dropout_backward, dropout_forward
from .embedding import (embed_backward, embed_forward, embedding_backward, embedding_forward,
                        positional_encoding)
from .feedforward import feed_forward_backward, feed_forward_forward
from .gradcheck import gradcheck, numerical_gradient, rel_error
from .layernorm import layernorm_backward, layernorm_forward
from .linear import linear_backward, linear_forward
from .luong import (AttentionalHiddenCache, LuongCache, LuongLocalCache, attentional_hidden_backward,
                    attentional_hidden_forward, luong_attention_backward, luong_attention_forward,
                    luong_local_attention_backward, luong_local_attention_forward)
from .loss import masked_accuracy, masked_cross_entropy
from .patches import patchify, unpatchify
from .optim import Adam, WarmupSchedule, adam_update, clip_grad_norm
from .gru import GRUCache, GRUStepCache, gru_backward, gru_forward, gru_step, gru_step_backward
from .rnn import SimpleRNNCache, simple_rnn_backward, simple_rnn_forward
from .softmax import softmax_backward, softmax_forward
from .time_attention import TimeAttentionCache, time_attention_backward, time_attention_forward
