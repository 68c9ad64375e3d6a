"""The attentional RNN encoder–decoder of Luong, Pham & Manning (2015), with GRUs: the book's
road to attention, end to end, with the Transformer's contract (forward / backward /
state_dict / load_state_dict(strict) / start_decoding / decode_step), so the training loop,
greedy decoding and beam search (models/decoding.py) run it unchanged.

    encoder   h̄_s = GRU_enc(E_src[x_s])                            s = 1 … S (padding masked)
    decoder   h_0 = h̄_S (the last unpadded state),  h̃_0 = 0
              h_t = GRU_dec([E_tgt[y_{t−1}]; h̃_{t−1}], h_{t−1})     input feeding (eq. in §3.3)
              c_t, α_t = LuongAttention_score(h_t, h̄)              ops/luong.py (global)
              h̃_t = tanh([c_t; h_t] W_c)                           the attentional state (eq. 5)
              logits_t = h̃_t W_out + b_out                          (eq. 6, before the softmax)

Input feeding makes the decoder sequential (step t needs h̃_{t−1}), so it loops over the target
positions, every step batched; what does not depend on the recurrence is batched over all
steps: the embeddings' share of the decoder GRU's input projection (one GEMM before the loop),
the output layer and its backward (one GEMM each), the GRU weights' gradients (one GEMM each
after the backward loop). Dropout (cfg.dropout) acts on both embeddings and on h̃_t before the
output layer (the fed-back h̃_t is not dropped).

The parameters are a tree shaped like the model (config/tree.py):

    params.encoder.embedding.weight                       E_src
    params.encoder.gru.kernel, .recurrent_kernel, .bias   Keras' GRU layout (ops/gru.py)
    params.decoder.embedding.weight                       E_tgt
    params.decoder.gru.kernel, .recurrent_kernel, .bias   kernel (E + H, 3H): rows [emb; h̃]
    params.decoder.attention.W_a [, .v_a]                 the score's weights (absent for "dot")
    params.decoder.attentional.W_c                        eq. 5
    params.output.weight, .bias                           eq. 6

backward returns a gradient tree of the same shape; flatten(params) gives state_dict()'s dotted
names (`decoder.gru.kernel`, …), which only checkpoints, Adam's state and the tests read.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..config import RNNTranslatorConfig, check_ids, parameter_shapes
from ..config.tree import Tree, tree_map, unflatten
from ..ops.dropout import dropout_backward, dropout_forward
from ..ops.embedding import embedding_backward
from ..ops.gru import gru_backward, gru_forward, gru_step, gru_step_backward
from ..ops.linear import linear_backward, linear_forward, matmul2d
from ..ops.checks import check_attentional_hidden, check_luong_attention
from ..ops.luong import (attentional_hidden_backward, attentional_hidden_unchecked, luong_attention_backward,
                         luong_attention_unchecked)
from .params import ParameterModel


def init_rnn_translator_params(cfg: RNNTranslatorConfig, seed=0):
    """Keras' defaults: Embedding U(−0.05, 0.05), Glorot-uniform kernels and attention
    weights, orthogonal recurrent kernels (per gate, as Keras' Orthogonal on an (H, 3H) matrix
    gives orthonormal rows), zero biases. One generator, in parameter_shapes order (the tree
    of shapes is walked in that order)."""
    rng = np.random.default_rng(seed)
    shape = unflatten(parameter_shapes(cfg))

    def glorot(shape):
        fan_in, fan_out = (shape[0], shape[1]) if len(shape) == 2 else (shape[0], 1)
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)

    def orthogonal(shape):
        q, r = np.linalg.qr(rng.standard_normal((shape[1], shape[0])))
        return (q * np.sign(np.diag(r))).T                  # (H, 3H), orthonormal rows

    def embedding_gru(s):
        return Tree(embedding=Tree(weight=rng.uniform(-0.05, 0.05, s.embedding.weight)),
                    gru=Tree(kernel=glorot(s.gru.kernel), recurrent_kernel=orthogonal(s.gru.recurrent_kernel),
                             bias=np.zeros(s.gru.bias)))

    p = Tree(encoder=embedding_gru(shape.encoder))
    p.decoder = embedding_gru(shape.decoder)
    if "attention" in shape.decoder:                        # the general and concat scores
        p.decoder.attention = Tree((k, glorot(v)) for k, v in shape.decoder.attention.items())
    p.decoder.attentional = Tree(W_c=glorot(shape.decoder.attentional.W_c))
    p.output = Tree(weight=glorot(shape.output.weight), bias=np.zeros(shape.output.bias))
    return tree_map(lambda w: w.astype(cfg.dtype), p)


class StepCache(NamedTuple):
    gru: object              # GRUStepCache
    attention: object        # LuongCache
    hidden: object           # AttentionalHiddenCache


class ForwardCache(NamedTuple):
    src_ids: np.ndarray
    tgt_ids: np.ndarray
    enc_drop: object         # dropout mask of the source embeddings
    encoder: object          # GRUCache
    dec_emb: np.ndarray      # (B, T, E) the decoder's embeddings after dropout
    dec_drop: object
    steps: list              # one StepCache per target position
    h_tilde: np.ndarray      # (B, T, H) h̃_t
    out_drop: object         # dropout mask of h̃ before the output layer
    out_in: np.ndarray       # (B, T, H) the output layer's input
    logits_shape: tuple


class RNNDecoderState:
    """Step-by-step decoding: the encoder states (memory), the source mask, the decoder state h,
    the last attentional state h̃, the position t, and each step's attention weights."""

    def __init__(self, memory, src_mask, h, h_tilde, max_len):
        self.memory, self.src_mask, self.h, self.h_tilde = memory, src_mask, h, h_tilde
        self.t, self.max_len, self.weights = 0, max_len, []

    def reorder(self, index):
        """Keep batch rows `index` (beam search re-ranks hypotheses each step)."""
        self.memory, self.src_mask = self.memory[index], self.src_mask[index]
        self.h, self.h_tilde = self.h[index], self.h_tilde[index]
        self.weights = [w[index] for w in self.weights]


class RNNTranslator(ParameterModel):
    """GRU encoder, GRU decoder with Luong attention and input feeding (see the module
    docstring). forward(src_ids, tgt_ids) → logits (B, T, tgt_vocab), tgt_ids the decoder input
    (<start>-prefixed); backward(dlogits) → the gradient tree (the shape of `params`)."""

    def __init__(self, cfg: RNNTranslatorConfig, seed=0):
        self._setup(cfg, RNNTranslatorConfig, init_rnn_translator_params, seed)

    def _attn_params(self):
        """The score's weights ({} for "dot", which has none)."""
        return self.params.decoder.get("attention", Tree())

    # ------------------------------------------------------------------ forward
    def encode(self, src_ids, rng=None, training=False):
        """Encoder states (B, S, H), the source mask (True = a real token), dropout mask, GRU cache."""
        p = self.params.encoder
        src_mask = src_ids != self.cfg.pad_id
        x, drop = dropout_forward(p.embedding.weight[src_ids], self.cfg.dropout, rng, training)
        h, cache = gru_forward(x, None, p.gru.kernel, p.gru.recurrent_kernel, p.gru.bias, src_mask)
        return h, src_mask, drop, cache

    def _check_attention(self, memory, src_mask):
        """The attention's and the attentional state's inputs, checked once per batch (weights'
        shapes, one dtype, finite values; encoder states finite; every row with a real token):
        the steps then run the unchecked forms (h_t, c_t and h̃_t are the model's own, bounded
        by tanh and convex sums)."""
        h_0 = memory[:, -1]
        check_luong_attention(h_0, memory, self.cfg.score, self._attn_params(), src_mask)
        check_attentional_hidden(h_0, h_0, self.params.decoder.attentional.W_c)   # c_t is (B, H) too

    def _step(self, xe_t, state_h, h_tilde, memory, src_mask, attn):
        """One decoder step from the embeddings' share of the input projection xe_t (B, 3H), the
        attention's params `attn`: returns h_t, h̃_t, α_t and the step's caches."""
        p, E = self.params.decoder, self.cfg.embed_dim
        xw = xe_t + h_tilde @ p.gru.kernel[E:]                      # input feeding: [emb; h̃_{t−1}] W
        h, gc = gru_step(xw, state_h, p.gru.recurrent_kernel, p.gru.bias[1])
        c, alpha, ac = luong_attention_unchecked(h, memory, self.cfg.score, attn, src_mask)
        h_tilde, hc = attentional_hidden_unchecked(c, h, p.attentional.W_c)
        return h, h_tilde, alpha, StepCache(gc, ac, hc)

    def _check_src(self, src_ids):
        cfg = self.cfg
        src_ids = check_ids(src_ids, cfg.src_vocab_size, cfg.max_len, "src_ids")
        empty = np.flatnonzero(~(src_ids != cfg.pad_id).any(axis=1))
        if len(empty):
            raise ValueError(f"src_ids row(s) {empty.tolist()} hold padding only: nothing to attend to")
        return src_ids

    def _check(self, src_ids, tgt_ids):
        src_ids = self._check_src(src_ids)
        tgt_ids = check_ids(tgt_ids, self.cfg.tgt_vocab_size, self.cfg.max_len, "tgt_ids")
        if src_ids.shape[0] != tgt_ids.shape[0]:
            raise ValueError(f"batch sizes differ: src_ids {src_ids.shape}, tgt_ids {tgt_ids.shape}")
        return src_ids, tgt_ids

    def forward(self, src_ids, tgt_ids, training=False, rng=None):
        """Logits (B, T, tgt_vocab), teacher forcing. training=True: dropout on, masks from `rng`
        (default: the model's own generator)."""
        src_ids, tgt_ids = self._check(src_ids, tgt_ids)
        cfg, p, pd, E = self.cfg, self.params, self.params.decoder, self.cfg.embed_dim
        if training and rng is None:
            rng = self.rng
        memory, src_mask, enc_drop, enc_cache = self.encode(src_ids, rng, training)
        self._check_attention(memory, src_mask)
        attn = self._attn_params()
        emb, dec_drop = dropout_forward(pd.embedding.weight[tgt_ids], cfg.dropout, rng, training)
        xe = matmul2d(emb, pd.gru.kernel[:E])                       # every step's embedding share, one GEMM
        xe += pd.gru.bias[0]
        B, T = tgt_ids.shape
        h, h_tilde = memory[:, -1], np.zeros((B, cfg.hidden), self.dtype)
        H_tilde, steps, alphas = np.empty((B, T, cfg.hidden), self.dtype), [], np.empty((B, T, memory.shape[1]), self.dtype)
        for t in range(T):
            h, h_tilde, alphas[:, t], c = self._step(xe[:, t], h, h_tilde, memory, src_mask, attn)
            H_tilde[:, t] = h_tilde
            steps.append(c)
        out_in, out_drop = dropout_forward(H_tilde, cfg.dropout, rng, training)
        logits = linear_forward(out_in, p.output.weight, p.output.bias)[0]
        self._cache = ForwardCache(src_ids, tgt_ids, enc_drop, enc_cache, emb, dec_drop, steps, H_tilde,
                                   out_drop, out_in, logits.shape)
        self._alphas = alphas
        return logits

    __call__ = forward

    def attention_weights(self):
        """The decoder's attention weights α of the last forward, (B, 1, T_tgt, S) under
        `decoder.attention` (one 'head', the Transformer's layout, for the same plots)."""
        if self._cache is None:
            raise RuntimeError("attention_weights() needs a forward() first")
        return {"decoder.attention": self._alphas[:, None]}

    # ------------------------------------------------------------------ backward
    def backward(self, dlogits):
        """The gradient tree (the shape of `params`) of a scalar loss, given dloss/dlogits of
        the last forward. The decoder's steps run backwards: the gradient of h̃_t is the
        output layer's plus what step t+1's input feeding sends back
        (dxw_{t+1} W_fᵀ); that of h_t is the attentional state's, the attention query's and the
        recurrence's (gru_step_backward); the attention's gradient w.r.t. the encoder states is
        summed over steps, plus the decoder's initial state at the last position."""
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() first")
        c = self._cache
        dlogits = np.asarray(dlogits)
        if dlogits.shape != c.logits_shape:
            raise ValueError(f"dlogits has shape {dlogits.shape}, the last logits had {c.logits_shape}")
        cfg, p, pd, E, dt = self.cfg, self.params, self.params.decoder, self.cfg.embed_dim, self.dtype
        dlogits = dlogits.astype(dt, copy=False)
        dout, dW_out, db_out = linear_backward(dlogits, c.out_in, p.output.weight)
        dH_tilde = dropout_backward(dout, c.out_drop)
        B, T, H = c.h_tilde.shape
        dmemory = np.zeros_like(c.encoder.h)
        W_f, W_hT = pd.gru.kernel[E:], np.ascontiguousarray(pd.gru.recurrent_kernel.T)
        dxw, du = np.empty((B, T, 3 * H), dt), np.empty((B, T, 3 * H), dt)
        dW_c = np.zeros_like(pd.attentional.W_c)
        attn = tree_map(np.zeros_like, self._attn_params())
        g_h, g_tilde = np.zeros((B, H), dt), np.zeros((B, H), dt)
        for t in range(T - 1, -1, -1):
            s = c.steps[t]
            hb = attentional_hidden_backward(dH_tilde[:, t] + g_tilde, s.hidden)
            dW_c += hb["W_c"]
            ab = luong_attention_backward(hb["c_t"], s.attention)
            dmemory += ab["h_s"]
            dh = g_h + hb["h_t"] + ab["h_t"]
            for k in attn:
                attn[k] += ab[k]
            dxw[:, t], du[:, t], g_h = gru_step_backward(dh, s.gru, W_hT)
            g_tilde = dxw[:, t] @ W_f.T
        # the shared weights: one GEMM each over all B·T rows
        tilde_prev = np.concatenate([np.zeros((B, 1, H), dt), c.h_tilde[:, :-1]], axis=1)
        h_prev = np.stack([s.gru.h_prev for s in c.steps], axis=1)
        dxw2, du2 = dxw.reshape(B * T, 3 * H), du.reshape(B * T, 3 * H)
        dec_gru = Tree(kernel=np.concatenate([c.dec_emb.reshape(B * T, E).T @ dxw2,
                                              tilde_prev.reshape(B * T, H).T @ dxw2]),
                       recurrent_kernel=h_prev.reshape(B * T, H).T @ du2,
                       bias=np.stack([dxw2.sum(axis=0), du2.sum(axis=0)]))
        demb = dropout_backward(matmul2d(dxw, pd.gru.kernel[:E].T), c.dec_drop)
        decoder = Tree(embedding=Tree(weight=embedding_backward(demb, c.tgt_ids, cfg.tgt_vocab_size)), gru=dec_gru)
        if attn:
            decoder.attention = attn
        decoder.attentional = Tree(W_c=dW_c)
        dmemory[:, -1] += g_h                                  # h_0 = h̄ at the last position
        ge = gru_backward(dmemory, c.encoder)
        encoder = Tree(embedding=Tree(weight=embedding_backward(dropout_backward(ge["x"], c.enc_drop), c.src_ids,
                                                                cfg.src_vocab_size)),
                       gru=Tree(kernel=ge["W_x"], recurrent_kernel=ge["W_h"], bias=ge["b"]))
        return Tree(encoder=encoder, decoder=decoder, output=Tree(weight=dW_out, bias=db_out))

    # ------------------------------------------------------------------ decoding
    def start_decoding(self, src_ids, max_len):
        """Encode the source once; an RNNDecoderState for up to `max_len` steps."""
        src_ids = self._check_src(src_ids)
        if not 1 <= max_len <= self.cfg.max_len:
            raise ValueError(f"max_len must be in [1, {self.cfg.max_len}] (the model's max_len), got {max_len}")
        memory, src_mask, _, _ = self.encode(src_ids)
        self._check_attention(memory, src_mask)        # once: decode_step runs the unchecked step
        return RNNDecoderState(memory, src_mask, memory[:, -1], np.zeros_like(memory[:, -1]), max_len)

    def decode_step(self, token_ids, state):
        """Logits (B, tgt_vocab) for position state.t given that position's input tokens (B,):
        the forward's own step (tested equal to the teacher-forced forward), dropout off."""
        if state.t >= state.max_len:
            raise ValueError(f"decode_step past the state's max_len={state.max_len}")
        token_ids = check_ids(np.asarray(token_ids)[:, None], self.cfg.tgt_vocab_size, 1, "token_ids")[:, 0]
        p, E = self.params, self.cfg.embed_dim
        xe = p.decoder.embedding.weight[token_ids] @ p.decoder.gru.kernel[:E] + p.decoder.gru.bias[0]
        state.h, state.h_tilde, alpha, _ = self._step(xe, state.h, state.h_tilde, state.memory, state.src_mask,
                                                      self._attn_params())
        state.weights.append(alpha)
        state.t += 1
        return linear_forward(state.h_tilde, p.output.weight, p.output.bias)[0]
