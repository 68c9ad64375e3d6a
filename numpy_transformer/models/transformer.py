"""The encoder-decoder Transformer: parameters, forward, hand-written backward, step-by-step
decoding with a key/value cache, state dicts.

forward reads like the paper's Figure 1, the encoder stack then the decoder stack, each a loop
over its layers (models/layers.py); from it to a matmul is four calls:
    Transformer.forward → encoder_layer_forward → mha_forward → linear_forward → np.matmul
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..config import TransformerConfig, check_ids, parameter_shapes
from ..config.tree import Tree, unflatten
from ..ops.attention import causal_mask, padding_mask
from ..ops.dropout import dropout_backward, dropout_forward
from ..ops.embedding import embed_backward, embed_forward, positional_encoding
from ..ops.linear import linear_backward, linear_forward
from .layers import (LayerKV, decoder_layer_backward, decoder_layer_forward, encoder_layer_backward,
                     encoder_layer_forward, final_norm, final_norm_backward)
from .params import ParameterModel, init_parameters


def init_params(cfg: TransformerConfig, seed=0):
    """The parameter tree: Glorot-uniform weights (Keras' Dense default), zero biases, LayerNorm
    gamma=1/beta=0, embeddings N(0, d_model^-1/2) so that after the sqrt(d_model) scale they
    have unit variance; drawn in the order of config.parameter_shapes."""
    return unflatten(init_parameters(parameter_shapes(cfg), cfg.dtype, seed,
                                     lambda name: cfg.d_model ** -0.5 if name.endswith("embedding.weight") else None))


class ForwardCache(NamedTuple):
    src_ids: np.ndarray      # the source embedding's cache
    enc_drop: object         # dropout's mask on the embedded source
    encoder: list            # one EncoderLayerCache per layer
    enc_norm: object         # pre-LN: the encoder's final norm; None in post-LN
    tgt_ids: np.ndarray
    dec_drop: object
    decoder: list            # one DecoderLayerCache per layer
    dec_norm: object
    h: np.ndarray            # the decoder's output, input of the output layer
    logits_shape: tuple


class DecoderState:
    """What step-by-step decoding keeps: the encoder output, the source mask, one LayerKV per
    decoder layer and the number of positions decoded so far."""

    def __init__(self, model, memory, src_mask, max_len):
        self.memory, self.src_mask, self.t = memory, src_mask, 0
        self.layers = [LayerKV.empty(memory.shape[0], model.cfg, max_len, model.dtype, model.kernels)
                       for _ in range(model.cfg.num_layers)]

    def reorder(self, index):
        """Keep batch rows `index` (beam search re-ranks hypotheses each step)."""
        self.memory, self.src_mask = self.memory[index], self.src_mask[index]
        for kv in self.layers:
            kv.reorder(index)


class Transformer(ParameterModel):
    """Encoder-decoder Transformer. `params` is the parameter tree (params.encoder.layers[0]
    .self_attn.wq.weight, weights (in, out)); state_dict() gives it under the shared dotted names.

    forward(src_ids, tgt_ids) → logits (B, T_tgt, tgt_vocab); tgt_ids is the decoder input
    (`<start>`-prefixed). backward(dlogits) → the gradient tree, shaped like params.
    `kernels="plain"` (default: ops/ as written) or `"fast"` (what training and the benchmarks
    run): which implementation of attention, feed-forward and layer norm (models/kernels.py);
    the results agree to rounding.
    """

    def __init__(self, cfg: TransformerConfig, seed=0, kernels="plain"):
        self._setup(cfg, TransformerConfig, init_params, seed, kernels)
        self.pe = positional_encoding(cfg.max_len, cfg.d_model, dtype=self.dtype)

    # ------------------------------------------------------------------ forward
    def forward(self, src_ids, tgt_ids, training=False, rng=None, check=True):
        """Logits (B, T_tgt, tgt_vocab). With training=True dropout is on, drawing its masks
        from `rng` (default: the model's own generator); pass a fresh, identically seeded
        Generator to reproduce the masks exactly. check=False skips the ids' checks: the GPU
        step (numpy_transformer/gpu/) checks each batch on the host before upload, since
        reading min/max back from the device would stall it on every step."""
        cfg, p, k = self.cfg, self.params, self.kernels
        if check:
            src_ids, tgt_ids = self._check_ids(src_ids, tgt_ids)
        if training and rng is None:
            rng = self.rng
        src_mask = padding_mask(src_ids, cfg.pad_id)
        tgt_mask = causal_mask(tgt_ids.shape[1]) & padding_mask(tgt_ids, cfg.pad_id)

        # the encoder: embedding, dropout, N layers (and LayerNorm in pre-LN)
        x, _ = embed_forward(src_ids, p.encoder.embedding.weight, self.pe)
        x, enc_drop = dropout_forward(x, cfg.dropout, rng, training)
        encoder = []
        for layer in p.encoder.layers:
            x, c = encoder_layer_forward(x, layer, cfg, src_mask, rng, training, k)
            encoder.append(c)
        memory, enc_norm = final_norm(x, p.encoder, cfg, k)

        # the decoder over the target prefix, each layer attending to the encoder output
        y, _ = embed_forward(tgt_ids, p.decoder.embedding.weight, self.pe)
        y, dec_drop = dropout_forward(y, cfg.dropout, rng, training)
        decoder = []
        for layer in p.decoder.layers:
            y, c = decoder_layer_forward(y, memory, layer, cfg, tgt_mask, src_mask, rng, training, k)
            decoder.append(c)
        h, dec_norm = final_norm(y, p.decoder, cfg, k)

        logits = linear_forward(h, p.output.weight, p.output.bias)[0]
        self._cache = ForwardCache(src_ids, enc_drop, encoder, enc_norm, tgt_ids, dec_drop, decoder, dec_norm,
                                   h, logits.shape)
        return logits

    __call__ = forward

    def _check_ids(self, src_ids, tgt_ids):
        cfg = self.cfg
        src_ids = check_ids(src_ids, cfg.src_vocab_size, cfg.max_len, "src_ids")
        tgt_ids = check_ids(tgt_ids, cfg.tgt_vocab_size, cfg.max_len, "tgt_ids")
        if src_ids.shape[0] != tgt_ids.shape[0]:
            raise ValueError(f"batch sizes differ: src_ids {src_ids.shape}, tgt_ids {tgt_ids.shape}")
        return src_ids, tgt_ids

    # ------------------------------------------------------------------ decoding
    def encode(self, src_ids):
        """The encoder output (B, S, d_model) of checked ids, dropout off: forward's encoder
        lines, for decoding."""
        cfg, p, k = self.cfg, self.params, self.kernels
        mask = padding_mask(src_ids, cfg.pad_id)
        x, _ = embed_forward(src_ids, p.encoder.embedding.weight, self.pe)
        for layer in p.encoder.layers:
            x, _ = encoder_layer_forward(x, layer, cfg, mask, kernels=k)
        return final_norm(x, p.encoder, cfg, k)[0]

    def decode(self, tgt_ids, memory, src_mask, state=None):
        """The decoder's hidden states (B, T, d_model) over the target prefix tgt_ids, dropout
        off. With a DecoderState, tgt_ids are the next positions only, attending over the cached
        ones (every cached position is earlier than the new ones, so allowed: no mask)."""
        cfg, p, k = self.cfg, self.params, self.kernels
        y, _ = embed_forward(tgt_ids, p.decoder.embedding.weight, self.pe, 0 if state is None else state.t)
        self_mask = None if state is not None else causal_mask(tgt_ids.shape[1]) & padding_mask(tgt_ids, cfg.pad_id)
        for i, layer in enumerate(p.decoder.layers):
            kv = None if state is None else state.layers[i]
            y, _ = decoder_layer_forward(y, memory, layer, cfg, self_mask, src_mask, kernels=k, kv=kv)
        return final_norm(y, p.decoder, cfg, k)[0]

    def start_decoding(self, src_ids, max_len):
        """Encode the source once and return a DecoderState for up to `max_len` steps."""
        cfg = self.cfg
        src_ids = check_ids(src_ids, cfg.src_vocab_size, cfg.max_len, "src_ids")
        if not 1 <= max_len <= cfg.max_len:
            raise ValueError(f"max_len must be in [1, {cfg.max_len}] (the model's max_len), got {max_len}")
        return DecoderState(self, self.encode(src_ids), padding_mask(src_ids, cfg.pad_id), max_len)

    def decode_step(self, token_ids, state):
        """Logits (B, tgt_vocab) for position state.t given that position's input tokens (B,),
        dropout off: the decoder layers' own code with key/value caches (tested equal to the
        full forward)."""
        if state.t >= state.layers[0].self_attn.k.shape[2]:
            raise ValueError(f"decode_step past the state's max_len={state.layers[0].self_attn.k.shape[2]}")
        h = self.decode(np.asarray(token_ids)[:, None], state.memory, state.src_mask, state)
        state.t += 1
        return linear_forward(h[:, 0], self.params.output.weight, self.params.output.bias)[0]

    def attention_weights(self):
        """Softmax weights of every attention block in the last forward, (B, H, Tq, Tk) each,
        under names like `encoder.layers.0.self_attn` and `decoder.layers.1.cross_attn`."""
        if self._cache is None:
            raise RuntimeError("attention_weights() needs a forward() first")
        out = {}
        for i, c in enumerate(self._cache.encoder):
            out[f"encoder.layers.{i}.self_attn"] = c.self_attn.weights
        for i, c in enumerate(self._cache.decoder):
            out[f"decoder.layers.{i}.self_attn"] = c.self_attn.weights
            out[f"decoder.layers.{i}.cross_attn"] = c.cross_attn.weights
        return out

    # ------------------------------------------------------------------ backward
    def backward(self, dlogits):
        """Gradients of a scalar loss w.r.t. every parameter, given dloss/dlogits of the last
        forward: forward's lines in reverse. The output layer, the decoder (whose every layer's
        cross-attention read the encoder output, so dmemory sums their contributions), the
        target embedding, the encoder, the source embedding. Returns the gradient tree, shaped
        like params (flatten it for the state_dict's names and order)."""
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() first")
        c, cfg, p, k = self._cache, self.cfg, self.params, self.kernels
        dlogits = np.asanyarray(dlogits)   # asanyarray: array subclasses pass through
        if dlogits.shape != c.logits_shape:
            raise ValueError(f"dlogits has shape {dlogits.shape}, the last logits had {c.logits_shape}")
        n = cfg.num_layers
        dh, dw_out, db_out = linear_backward(dlogits, c.h, p.output.weight)

        dy, dec_norm = final_norm_backward(dh, c.dec_norm, p.decoder, k)
        decoder, dmemory = [None] * n, None
        for i in reversed(range(n)):
            dy, dmem, decoder[i] = decoder_layer_backward(dy, c.decoder[i], p.decoder.layers[i], cfg, k)
            dmemory = dmem if dmemory is None else dmemory + dmem
        dy = dropout_backward(dy, c.dec_drop)
        dtgt_embedding = embed_backward(dy, c.tgt_ids, cfg.tgt_vocab_size)

        dx, enc_norm = final_norm_backward(dmemory, c.enc_norm, p.encoder, k)
        encoder = [None] * n
        for i in reversed(range(n)):
            dx, encoder[i] = encoder_layer_backward(dx, c.encoder[i], p.encoder.layers[i], cfg, k)
        dx = dropout_backward(dx, c.enc_drop)
        dsrc_embedding = embed_backward(dx, c.src_ids, cfg.src_vocab_size)

        return Tree(encoder=Tree(embedding=Tree(weight=dsrc_embedding), layers=encoder, **enc_norm),
                    decoder=Tree(embedding=Tree(weight=dtgt_embedding), layers=decoder, **dec_norm),
                    output=Tree(weight=dw_out, bias=db_out))
