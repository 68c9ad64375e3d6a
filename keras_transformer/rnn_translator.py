"""RNNTranslatorModel: the attentional GRU encoder–decoder (Luong et al., 2015) in Keras 3, the
twin of numpy_transformer/models/rnn_translator.py (same RNNTranslatorConfig, same parameter
names, state_dict() / load_state_dict()), keras.ops and stock layers only, on any backend.

* encoder: the source embedding, then stock `keras.layers.GRU(hidden, return_sequences=True)`
  with the padding mask (it carries the state over padded steps, so the last output is the
  last real state);
* decoder: stock `keras.layers.GRUCell` stepped by `keras.ops.scan` (tf.while_loop, lax.scan or
  a loop on PyTorch), because input feeding makes each step's input [emb(y_{t−1}); h̃_{t−1}]
  depend on the step before; each step runs LuongAttention and AttentionalHidden
  (keras_transformer/luong.py) and carries (h_t, h̃_t);
* the output layer, a Dense over h̃_t; dropout on both embeddings and on h̃_t before it.

model([src_ids, tgt_ids]) → logits (B, T, tgt_vocab), like TransformerModel, so the training
backend (training.py) and greedy decoding (decoding.py, whose `memory` is the encoder states)
run it unchanged."""
from __future__ import annotations

import keras
from keras import ops

from numpy_transformer.config import RNNTranslatorConfig

from .backend import check_backend_dtype, take_rows
from .luong import AttentionalHidden, LuongAttention
from .model import check_pair
from .state import ConfigModel, checked_variable_map


@keras.saving.register_keras_serializable(package="keras_transformer")
class RNNTranslatorModel(ConfigModel):
    """GRU encoder, GRU decoder with Luong global attention and input feeding (cfg.score)."""

    def __init__(self, cfg, **kwargs):
        if isinstance(cfg, dict):
            cfg = RNNTranslatorConfig.from_dict(cfg)
        if not isinstance(cfg, RNNTranslatorConfig):
            raise TypeError(f"cfg must be an RNNTranslatorConfig, got {type(cfg).__name__}")
        check_backend_dtype(cfg.dtype)
        kwargs.setdefault("dtype", cfg.dtype)
        super().__init__(**kwargs)
        self.cfg = cfg
        H, dt = cfg.hidden, cfg.dtype
        self.encoder_gru = keras.layers.GRU(H, return_sequences=True, dtype=dt, name="encoder_gru")
        self.decoder_cell = keras.layers.GRUCell(H, dtype=dt, name="decoder_gru")
        self.attention = LuongAttention(cfg.score, cfg.d_a if cfg.score == "concat" else None, dtype=dt,
                                        name="attention")
        self.attentional = AttentionalHidden(H, dtype=dt, name="attentional")
        self.output_layer = keras.layers.Dense(cfg.tgt_vocab_size, dtype=dt, name="output")
        self.dropout = keras.layers.Dropout(cfg.dropout, dtype=dt)

    @property
    def memory_width(self):
        """The width of the encoder states that decoding passes around (decoding.py)."""
        return self.cfg.hidden

    def build(self, input_shape=None):
        cfg, E, H = self.cfg, self.cfg.embed_dim, self.cfg.hidden
        uniform = keras.initializers.RandomUniform(-0.05, 0.05)
        self.src_embedding = self.add_weight(name="src_embedding", shape=(cfg.src_vocab_size, E), initializer=uniform)
        self.tgt_embedding = self.add_weight(name="tgt_embedding", shape=(cfg.tgt_vocab_size, E), initializer=uniform)
        self.encoder_gru.build((None, None, E))
        self.decoder_cell.build((None, E + H))
        self.attention.build((None, H), (None, None, H))
        self.attentional.build((None, H), (None, H))
        self.output_layer.build((None, None, H))
        self.built = True

    # ------------------------------------------------------------------ forward
    def encode(self, src_ids, training=None):
        """The encoder states (B, S, H); padded positions repeat the last real state."""
        if not self.built:
            self.build()
        x = self.dropout(take_rows(self.src_embedding, src_ids), training=training)
        return self.encoder_gru(x, mask=ops.not_equal(src_ids, self.cfg.pad_id), training=training)

    def decode(self, tgt_ids, memory, src_ids, training=None, return_attention_scores=False):
        """Logits (B, T, tgt_vocab) for the decoder input tgt_ids, teacher-forced, starting from
        the encoder's last state memory[:, −1] and h̃_0 = 0 [and the weights α (B, T, S)]."""
        src_mask = ops.not_equal(src_ids, self.cfg.pad_id)
        emb = self.dropout(take_rows(self.tgt_embedding, tgt_ids), training=training)

        def step(carry, e_t):
            h, h_tilde, _ = carry
            h, _ = self.decoder_cell(ops.concatenate([e_t, h_tilde], axis=-1), [h], training=training)
            c, alpha = self.attention(h, memory, attention_mask=src_mask)
            h_tilde = self.attentional(c, h)
            # the step's outputs are its carry: TensorFlow's ops.scan needs them shaped alike
            return (h, h_tilde, alpha), (h, h_tilde, alpha)

        h0 = memory[:, -1]
        init = (h0, ops.zeros_like(h0), ops.zeros_like(memory[:, :, 0]))
        _, (_, h_tilde, alpha) = ops.scan(step, init, ops.transpose(emb, (1, 0, 2)))
        logits = self.output_layer(self.dropout(ops.transpose(h_tilde, (1, 0, 2)), training=training))
        if return_attention_scores:
            return logits, ops.transpose(alpha, (1, 0, 2))
        return logits

    def check_inputs(self, src_ids, tgt_ids):
        return check_pair(self.cfg, src_ids, tgt_ids)

    def call(self, inputs, training=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("RNNTranslatorModel expects inputs [src_ids, tgt_ids]")
        src_ids, tgt_ids = self.check_inputs(*inputs)
        return self.decode(tgt_ids, self.encode(src_ids, training=training), src_ids, training=training)

    def attention_weights(self, src_ids, tgt_ids):
        """{"decoder.attention": α (B, 1, T, S)} as NumPy, inference mode (the NumPy model's layout)."""
        src_ids, tgt_ids = self.check_inputs(src_ids, tgt_ids)
        _, alpha = self.decode(tgt_ids, self.encode(src_ids, training=False), src_ids, training=False,
                               return_attention_scores=True)
        return {"decoder.attention": ops.convert_to_numpy(alpha)[:, None]}

    # ------------------------------------------------------------------ state
    def variable_map(self):
        """{shared parameter name: Keras variable}, in parameter_shapes order (checked)."""
        if not self.built:
            self.build()
        enc, dec = self.encoder_gru.cell, self.decoder_cell
        return checked_variable_map(self.cfg, {
            "encoder.embedding.weight": self.src_embedding, "decoder.embedding.weight": self.tgt_embedding,
            "encoder.gru.kernel": enc.kernel, "encoder.gru.recurrent_kernel": enc.recurrent_kernel,
            "encoder.gru.bias": enc.bias,
            "decoder.gru.kernel": dec.kernel, "decoder.gru.recurrent_kernel": dec.recurrent_kernel,
            "decoder.gru.bias": dec.bias,
            **{f"decoder.attention.{k}": v for k, v in self.attention.variable_map().items()},
            "decoder.attentional.W_c": self.attentional.W_c,
            "output.weight": self.output_layer.kernel, "output.bias": self.output_layer.bias})
