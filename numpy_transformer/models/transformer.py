"""The encoder-decoder Transformer: parameters, forward, hand-written backward, step-by-step
decoding with a key/value cache, state dicts."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..config import TransformerConfig, check_ids, parameter_shapes
from ..ops.attention import causal_mask, padding_mask
from ..ops.embedding import embed_backward, embed_forward, positional_encoding
from ..ops.linear import linear_backward, linear_forward
from .params import ParameterModel, init_parameters
from .layers import LayerKV, add_prefixed, sub
from .stack import (StackCache, decoder_stack_backward, decoder_stack_forward, encoder_stack_backward,
                    encoder_stack_forward)


def init_params(cfg: TransformerConfig, seed=0):
    """Glorot-uniform weights (Keras' Dense default), zero biases, LayerNorm gamma=1/beta=0,
    embeddings N(0, d_model^-1/2) so that after the sqrt(d_model) scale they have unit variance."""
    return init_parameters(parameter_shapes(cfg), cfg.dtype, seed,
                           lambda name: cfg.d_model ** -0.5 if name.endswith("embedding.weight") else None)


class ForwardCache(NamedTuple):
    src_ids: np.ndarray      # the source embedding's cache
    encoder: StackCache
    tgt_ids: np.ndarray      # the target embedding's cache
    decoder: StackCache
    h: np.ndarray            # the decoder's output, input of the output layer
    logits_shape: tuple


class DecoderState:
    """What step-by-step decoding keeps: the encoder output, the source mask, one LayerKV per
    decoder layer and the number of positions decoded so far."""

    def __init__(self, model, memory, src_mask, max_len):
        self.memory, self.src_mask, self.t = memory, src_mask, 0
        self.layers = [LayerKV.empty(memory.shape[0], model.cfg, max_len, model.dtype, model.kernels)
                       for _ in range(model.cfg.num_layers)]
        # the decoder's parameters, picked out once per decode instead of once per step
        self.params = sub(model.params, "decoder")
        self.layer_params = [sub(self.params, f"layers.{i}") for i in range(model.cfg.num_layers)]

    def reorder(self, index):
        """Keep batch rows `index` (beam search re-ranks hypotheses each step)."""
        self.memory, self.src_mask = self.memory[index], self.src_mask[index]
        for kv in self.layers:
            kv.reorder(index)


class Transformer(ParameterModel):
    """Encoder-decoder Transformer. `params` maps the shared names to arrays (weights (in, out)).

    forward(src_ids, tgt_ids) → logits (B, T_tgt, tgt_vocab); tgt_ids is the decoder input
    (`<start>`-prefixed). backward(dlogits) → grads with the keys and shapes of state_dict().
    `kernels="plain"` (default: ops/ as written) or `"fast"` (what training and the benchmarks
    run): which implementation of attention, feed-forward and layer norm (models/kernels.py);
    the results agree to rounding.
    """

    def __init__(self, cfg: TransformerConfig, seed=0, kernels="plain"):
        self._setup(cfg, TransformerConfig, init_params, seed, kernels)
        self.pe = positional_encoding(cfg.max_len, cfg.d_model, dtype=self.dtype)

    # ------------------------------------------------------------------ forward
    def encode(self, src_ids, rng=None, training=False):
        """Embedding, then the encoder stack (models/stack.py): memory (B, S, d_model) and the
        stack's cache."""
        p = self.params
        x, _ = embed_forward(src_ids, p["encoder.embedding.weight"], self.pe)
        return encoder_stack_forward(x, sub(p, "encoder"), self.cfg, padding_mask(src_ids, self.cfg.pad_id),
                                     rng, training, self.kernels)

    def decode(self, tgt_ids, memory, src_mask, rng=None, training=False, state=None):
        """Embedding, then the decoder stack over the target prefix: hidden states (B, T, d_model)
        and the stack's cache. With a DecoderState, tgt_ids are the next positions only,
        attending over the cached ones."""
        cfg = self.cfg
        if state is None:
            p = sub(self.params, "decoder")
            y, _ = embed_forward(tgt_ids, p["embedding.weight"], self.pe)
            self_mask = causal_mask(tgt_ids.shape[1]) & padding_mask(tgt_ids, cfg.pad_id)
            return decoder_stack_forward(y, memory, p, cfg, self_mask, src_mask, rng, training, self.kernels)
        # every cached position is earlier than the new ones, so allowed: no self-attention mask
        y, _ = embed_forward(tgt_ids, state.params["embedding.weight"], self.pe, state.t)
        return decoder_stack_forward(y, memory, state.params, cfg, None, src_mask, rng, training, self.kernels,
                                     state.layers, state.layer_params)

    def forward(self, src_ids, tgt_ids, training=False, rng=None):
        """Logits (B, T_tgt, tgt_vocab). With training=True dropout is on, drawing its masks
        from `rng` (default: the model's own generator); pass a fresh, identically seeded
        Generator to reproduce the masks exactly."""
        cfg = self.cfg
        src_ids = check_ids(src_ids, cfg.src_vocab_size, cfg.max_len, "src_ids")
        tgt_ids = check_ids(tgt_ids, cfg.tgt_vocab_size, cfg.max_len, "tgt_ids")
        if src_ids.shape[0] != tgt_ids.shape[0]:
            raise ValueError(f"batch sizes differ: src_ids {src_ids.shape}, tgt_ids {tgt_ids.shape}")
        return self.forward_checked(src_ids, tgt_ids, training, rng)

    def forward_checked(self, src_ids, tgt_ids, training=False, rng=None):
        """forward() for ids that were validated already: the GPU step (numpy_transformer/gpu/)
        checks each batch on the host before upload, since reading min/max back from the device
        would stall it on every step."""
        cfg = self.cfg
        if training and rng is None:
            rng = self.rng
        memory, enc_cache = self.encode(src_ids, rng, training)
        h, dec_cache = self.decode(tgt_ids, memory, padding_mask(src_ids, cfg.pad_id), rng, training)
        logits = linear_forward(h, self.params["output.weight"], self.params["output.bias"])[0]
        self._cache = ForwardCache(src_ids, enc_cache, tgt_ids, dec_cache, h, logits.shape)
        return logits

    __call__ = forward

    # ------------------------------------------------------------------ decoding
    def start_decoding(self, src_ids, max_len):
        """Encode the source once and return a DecoderState for up to `max_len` steps."""
        cfg = self.cfg
        src_ids = check_ids(src_ids, cfg.src_vocab_size, cfg.max_len, "src_ids")
        if not 1 <= max_len <= cfg.max_len:
            raise ValueError(f"max_len must be in [1, {cfg.max_len}] (the model's max_len), got {max_len}")
        memory, _ = self.encode(src_ids)
        return DecoderState(self, memory, padding_mask(src_ids, cfg.pad_id), max_len)

    def decode_step(self, token_ids, state):
        """Logits (B, tgt_vocab) for position state.t given that position's input tokens (B,),
        dropout off: the decoder layers' own code with key/value caches (tested equal to the
        full forward)."""
        if state.t >= state.layers[0].self_attn.k.shape[2]:
            raise ValueError(f"decode_step past the state's max_len={state.layers[0].self_attn.k.shape[2]}")
        h, _ = self.decode(np.asarray(token_ids)[:, None], state.memory, state.src_mask, state=state)
        state.t += 1
        return linear_forward(h[:, 0], self.params["output.weight"], self.params["output.bias"])[0]

    def attention_weights(self):
        """Softmax weights of every attention block in the last forward, (B, H, Tq, Tk) each,
        under names like `encoder.layers.0.self_attn` and `decoder.layers.1.cross_attn`."""
        if self._cache is None:
            raise RuntimeError("attention_weights() needs a forward() first")
        out = {}
        for i, c in enumerate(self._cache.encoder.layers):
            out[f"encoder.layers.{i}.self_attn"] = c.self_attn.weights
        for i, c in enumerate(self._cache.decoder.layers):
            out[f"decoder.layers.{i}.self_attn"] = c.self_attn.weights
            out[f"decoder.layers.{i}.cross_attn"] = c.cross_attn.weights
        return out

    # ------------------------------------------------------------------ backward
    def backward(self, dlogits):
        """Gradients of a scalar loss w.r.t. every parameter, given dloss/dlogits of the last
        forward: the output layer, the decoder stack (which also gives dmemory, the gradient
        of the encoder output), the target embedding, the encoder stack, the source embedding.
        Returns a dict with the keys and shapes of state_dict()."""
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() first")
        c, cfg, p, k = self._cache, self.cfg, self.params, self.kernels
        dlogits = np.asanyarray(dlogits)   # asanyarray: array subclasses pass through
        if dlogits.shape != c.logits_shape:
            raise ValueError(f"dlogits has shape {dlogits.shape}, the last logits had {c.logits_shape}")
        grads = {}
        dh, grads["output.weight"], grads["output.bias"] = linear_backward(dlogits, c.h, p["output.weight"])
        dy, dmemory, g = decoder_stack_backward(dh, c.decoder, sub(p, "decoder"), cfg, k)
        add_prefixed(grads, "decoder", g)
        grads["decoder.embedding.weight"] = embed_backward(dy, c.tgt_ids, cfg.tgt_vocab_size)
        dx, g = encoder_stack_backward(dmemory, c.encoder, sub(p, "encoder"), cfg, k)
        add_prefixed(grads, "encoder", g)
        grads["encoder.embedding.weight"] = embed_backward(dx, c.src_ids, cfg.src_vocab_size)
        return {name: grads[name] for name in self.params}  # the state_dict's order
