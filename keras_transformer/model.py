"""TransformerModel: the whole encoder-decoder as a keras.Model (the book's chapter 17 class,
corrected), plus input validation."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from numpy_transformer.config import check_ids as check_ids_np

from .state import ConfigModel, checked_variable_map
from .backend import check_backend_dtype, is_concrete
from .attention import KVCache, decoder_self_mask, padding_mask
from .blocks import Decoder, Encoder, resolve_config


def check_ids(ids, vocab_size, max_len, name="ids"):
    """Validate a (batch, seq_len) tensor/array of token ids. Concrete values (NumPy, eager
    tensors) get numpy_transformer.config.check_ids (dtype, rank, empty, length, ids in the
    vocabulary); a symbolic tensor inside a graph gets the static checks only."""
    if is_concrete(ids):
        check_ids_np(np.asarray(ops.convert_to_numpy(ids)), vocab_size, max_len, name)
        return ids
    dtype = keras.backend.standardize_dtype(ids.dtype)
    if not dtype.startswith(("int", "uint")):
        raise TypeError(f"{name} must be an integer tensor of token ids, got dtype {dtype}")
    shape = tuple(ids.shape)
    if len(shape) != 2:
        raise ValueError(f"{name} must have shape (batch, seq_len), got {shape}")
    if shape[1] is not None and shape[1] > max_len:
        raise ValueError(f"{name} has length {shape[1]} > max_len={max_len}")
    return ids


def check_pair(cfg, src_ids, tgt_ids):
    """A translation model's inputs: source and target ids against their vocabularies and
    max_len, and the same batch size (TransformerModel and RNNTranslatorModel)."""
    src_ids = check_ids(src_ids, cfg.src_vocab_size, cfg.max_len, "src_ids")
    tgt_ids = check_ids(tgt_ids, cfg.tgt_vocab_size, cfg.max_len, "tgt_ids")
    bs, bt = src_ids.shape[0], tgt_ids.shape[0]
    if bs is not None and bt is not None and bs != bt:
        raise ValueError(f"batch sizes differ: src_ids {tuple(src_ids.shape)}, tgt_ids {tuple(tgt_ids.shape)}")
    return src_ids, tgt_ids


@keras.saving.register_keras_serializable(package="keras_transformer")
class TransformerModel(ConfigModel):
    """Encoder-decoder Transformer built from a TransformerConfig, dtype cfg.dtype throughout.

    model([src_ids, tgt_ids], training=False) -> logits (B, T_tgt, tgt_vocab); tgt_ids is the
    decoder input (<start>-prefixed). Parameters are exchanged with the NumPy reference through
    state_dict()/load_state_dict() (same names, shapes and (in, out) weight layout).
    Sub-layers: model.encoder.layers[i], model.decoder.layers[i], model.output_layer."""

    def __init__(self, cfg, **kwargs):
        cfg = resolve_config(cfg, kwargs)
        check_backend_dtype(cfg.dtype)
        super().__init__(**kwargs)
        self.cfg = cfg
        self.encoder = Encoder(cfg, name="encoder")
        self.decoder = Decoder(cfg, name="decoder")
        self.output_layer = keras.layers.Dense(cfg.tgt_vocab_size, dtype=self.dtype_policy, name="output")

    def build(self, input_shape=None):
        """Creates every variable; shapes depend on the config only."""
        self.encoder.build()
        self.decoder.build()
        self.output_layer.build((None, None, self.cfg.d_model))

    # ------------------------------------------------------------------ forward
    def check_inputs(self, src_ids, tgt_ids):
        return check_pair(self.cfg, src_ids, tgt_ids)

    def encode(self, src_ids, training=None, return_attention_scores=False):
        """Encoder output (B, S, d_model) [and the per-layer attention weights]."""
        return self.encoder(src_ids, padding_mask(src_ids, self.cfg.pad_id), training=training,
                            return_attention_scores=return_attention_scores)

    def decode(self, tgt_ids, memory, src_ids, training=None, return_attention_scores=False):
        """Logits (B, T, tgt_vocab) for decoder input tgt_ids given the encoder output."""
        pad = self.cfg.pad_id
        out = self.decoder(tgt_ids, memory, decoder_self_mask(tgt_ids, pad), padding_mask(src_ids, pad),
                           training=training, return_attention_scores=return_attention_scores)
        if return_attention_scores:
            return self.output_layer(out[0]), out[1]
        return self.output_layer(out)

    # ------------------------------------------------------------------ step-by-step decoding
    def start_decoding(self, src_ids, max_len):
        """Encode the source once. Returns the decoding state, a flat list of tensors, four per
        decoder layer: the self-attention's key and value slots (B, H, max_len, d_k), zeros, and
        the cross-attention's projected encoder output, keys and values (B, H, S, d_k)."""
        memory = self.encode(src_ids, training=False)
        B = ops.shape(src_ids)[0]
        state = []
        for layer in self.decoder.layers:
            mha = layer.multihead_attention2
            empty = ops.zeros((B, mha.num_heads, max_len, mha.d_k), self.compute_dtype)
            state += [empty, empty, *mha.project_kv(memory, memory)]
        return state

    def decode_step(self, token_ids, t, src_ids, state):
        """Logits (B, tgt_vocab) for position t (a scalar int tensor) given that position's input
        tokens (B,), and the next state: the decoder layers' own code with KVCaches (tested equal
        to re-running the decoder on the prefix, and to the NumPy reference's decode_step)."""
        caches = [(KVCache(state[4 * i], state[4 * i + 1], t), KVCache(state[4 * i + 2], state[4 * i + 3]))
                  for i in range(self.cfg.num_layers)]
        h = self.decoder(token_ids[:, None], None, None, padding_mask(src_ids, self.cfg.pad_id), training=False,
                         caches=caches, offset=t)
        state = [x for self_c, cross_c in caches for x in (self_c.k, self_c.v, cross_c.k, cross_c.v)]
        return self.output_layer(h[:, 0]), state

    def call(self, inputs, training=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("TransformerModel expects inputs [src_ids, tgt_ids]")
        src_ids, tgt_ids = self.check_inputs(*inputs)
        memory = self.encode(src_ids, training=training)
        return self.decode(tgt_ids, memory, src_ids, training=training)

    def attention_weights(self, src_ids, tgt_ids):
        """Softmax weights (B, H, Tq, Tk) of every attention block (inference mode), as NumPy
        arrays under the reference's names: encoder.layers.{i}.self_attn,
        decoder.layers.{i}.self_attn and decoder.layers.{i}.cross_attn."""
        src_ids, tgt_ids = self.check_inputs(src_ids, tgt_ids)
        memory, enc_w = self.encode(src_ids, training=False, return_attention_scores=True)
        _, dec_w = self.decode(tgt_ids, memory, src_ids, training=False, return_attention_scores=True)
        out = {f"encoder.layers.{i}.self_attn": ops.convert_to_numpy(w) for i, w in enumerate(enc_w)}
        for i, (w_self, w_cross) in enumerate(dec_w):
            out[f"decoder.layers.{i}.self_attn"] = ops.convert_to_numpy(w_self)
            out[f"decoder.layers.{i}.cross_attn"] = ops.convert_to_numpy(w_cross)
        return out

    # ------------------------------------------------------------------ state
    def variable_map(self):
        """{shared parameter name: Keras variable}, in parameter_shapes order (checked)."""
        if not self.built:
            self.build()
        return checked_variable_map(self.cfg, {
            **{f"encoder.{k}": v for k, v in self.encoder.variable_map().items()},
            **{f"decoder.{k}": v for k, v in self.decoder.variable_map().items()},
            "output.weight": self.output_layer.kernel, "output.bias": self.output_layer.bias})
