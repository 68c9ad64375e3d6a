"""Autoregressive decoding: greedy and beam search, with a key/value cache.

The book re-runs the whole decoder on the growing prefix for every new token, O(T²) layer
work per token. Causal masking means earlier positions never change, so each layer's self-
attention keys/values for positions < t can be kept: a step then embeds one token, projects
it, attends over the cache and costs O(t). Cross-attention keys/values come from the fixed
encoder output and are computed once per sentence.
"""
from __future__ import annotations

import math

import numpy as np

from .attention import _fused, padding_mask, sdpa_forward
from .basic import linear_forward, relu_forward
from .layernorm import layernorm_forward
from .layers import sub


class KVCache:
    """Per decoder layer: self-attention K/V buffers (B, H, max_len, d_k) filled one position
    per step, and the cross-attention K/V of the encoder output (B, H, S, d_k), computed once
    with one GEMM over [W_k | W_v]. It also keeps each layer's parameters with the self-
    attention projections fused as [W_q | W_k | W_v] (one GEMM per step instead of three):
    the weights are read when the cache is made, so make a new cache after changing them."""

    def __init__(self, model, memory, src_mask, max_len):
        cfg = model.cfg
        B, S, _ = memory.shape
        H, dk = cfg.num_heads, cfg.d_k
        self.src_mask, self.t = src_mask, 0
        self.self_k = [np.zeros((B, H, max_len, dk), model.dtype) for _ in range(cfg.num_layers)]
        self.self_v = [np.zeros((B, H, max_len, dk), model.dtype) for _ in range(cfg.num_layers)]
        self.cross_k, self.cross_v, self.layers = [], [], []
        for i in range(cfg.num_layers):
            p = sub(model.params, f"decoder.layers.{i}")
            p["self_attn.wqkv.weight"], p["self_attn.wqkv.bias"] = _fused(sub(p, "self_attn"), ("wq", "wk", "wv"))
            self.layers.append(p)
            w, b = _fused(sub(p, "cross_attn"), ("wk", "wv"))
            kv = linear_forward(memory, w, b)[0].reshape(B, S, 2, H, dk).transpose(2, 0, 3, 1, 4)
            self.cross_k.append(np.ascontiguousarray(kv[0]))
            self.cross_v.append(np.ascontiguousarray(kv[1]))

    def reorder(self, index):
        """Keep rows `index` of the batch (beam search re-ranks hypotheses each step)."""
        for lists in (self.self_k, self.self_v, self.cross_k, self.cross_v):
            for i, a in enumerate(lists):
                lists[i] = a[index]
        self.src_mask = self.src_mask[index]


def _attend(q, p, name, k_all, v_all, mask):
    """One query position (B, H, 1, d_k) against given keys/values, then W_o: (B, d_model)."""
    B = q.shape[0]
    o = sdpa_forward(q, k_all, v_all, mask)[0]
    return linear_forward(o.reshape(B, -1), p[f"{name}.wo.weight"], p[f"{name}.wo.bias"])[0]


def decode_step(model, token_ids, cache):
    """Logits (B, tgt_vocab) for position cache.t given that position's input tokens (B,),
    with dropout off. Appends this position's self-attention K/V to the cache. The same
    maths as Transformer.decode restricted to the newest position (tested to 1e-12)."""
    cfg, P = model.cfg, model.params
    B, H, dk, t = token_ids.shape[0], cfg.num_heads, cfg.d_k, cache.t
    if t >= cache.self_k[0].shape[2]:
        raise ValueError(f"decode_step past the cache's max_len={cache.self_k[0].shape[2]}")
    x = P["decoder.embedding.weight"][token_ids] * model.dtype.type(math.sqrt(cfg.d_model))   # (B, d_model)
    x += model.pe[t]
    eps = cfg.layer_norm_eps
    for i, p in enumerate(cache.layers):
        def self_attn(h, i=i, p=p):
            qkv = linear_forward(h, p["self_attn.wqkv.weight"], p["self_attn.wqkv.bias"])[0]
            q, k, v = qkv.reshape(B, 3, H, 1, dk).transpose(1, 0, 2, 3, 4)
            cache.self_k[i][:, :, t:t + 1], cache.self_v[i][:, :, t:t + 1] = k, v
            return _attend(q, p, "self_attn", cache.self_k[i][:, :, : t + 1], cache.self_v[i][:, :, : t + 1], None)

        def cross_attn(h, i=i, p=p):
            q = linear_forward(h, p["cross_attn.wq.weight"], p["cross_attn.wq.bias"])[0].reshape(B, H, 1, dk)
            return _attend(q, p, "cross_attn", cache.cross_k[i], cache.cross_v[i], cache.src_mask)

        def ffn(h, p=p):
            a = relu_forward(linear_forward(h, p["ffn.linear1.weight"], p["ffn.linear1.bias"])[0])[0]
            return linear_forward(a, p["ffn.linear2.weight"], p["ffn.linear2.bias"])[0]

        for f, norm in ((self_attn, "norm1"), (cross_attn, "norm2"), (ffn, "norm3")):
            g, b = p[f"{norm}.gamma"], p[f"{norm}.beta"]   # the residual, as in layers.residual_forward
            if cfg.norm_first:
                x = x + f(layernorm_forward(x, g, b, eps)[0])
            else:
                x = layernorm_forward(x + f(x), g, b, eps)[0]
    if cfg.norm_first:
        x = layernorm_forward(x, P["decoder.final_norm.gamma"], P["decoder.final_norm.beta"], eps)[0]
    cache.t += 1
    return linear_forward(x, P["output.weight"], P["output.bias"])[0]


def _start(model, src_ids, max_len):
    from .model import check_ids
    cfg = model.cfg
    src_ids = check_ids(src_ids, cfg.src_vocab_size, cfg.max_len, "src_ids")
    if not 1 <= max_len <= cfg.max_len:
        raise ValueError(f"max_len must be in [1, {cfg.max_len}] (the model's max_len), got {max_len}")
    memory, _ = model.encode(src_ids)
    return src_ids, memory, padding_mask(src_ids, cfg.pad_id)


def greedy_decode(model, src_ids, start_id, eos_id, max_len, use_cache=True):
    """Pick argmax tokens one at a time until every sequence has emitted `eos_id` or `max_len`
    tokens are out (<pad> and <start> are never chosen). Returns int64 ids (B, L ≤ max_len) without <start>; a sequence that ended
    is padded with pad_id after its <eos>. use_cache=False re-runs the full decoder per token
    (the book's way; kept to show both agree and to measure the cache's gain)."""
    src_ids, memory, src_mask = _start(model, src_ids, max_len)
    B, pad = src_ids.shape[0], model.cfg.pad_id
    out = np.full((B, max_len), pad, dtype=np.int64)
    done = np.zeros(B, bool)
    cache = KVCache(model, memory, src_mask, max_len) if use_cache else None
    prev = np.full(B, start_id, dtype=np.int64)
    for t in range(max_len):
        if use_cache:
            logits = decode_step(model, prev, cache)
        else:
            dec_in = np.concatenate([np.full((B, 1), start_id), out[:, :t]], axis=1)
            h, _ = model.decode(dec_in, memory, src_mask)
            logits = linear_forward(h[:, -1], model.params["output.weight"], model.params["output.bias"])[0]
        logits[:, [pad, start_id]] = -np.inf      # never valid outputs
        prev = np.where(done, pad, logits.argmax(-1))
        out[:, t] = prev
        done |= prev == eos_id
        if done.all():
            return out[:, : t + 1]
    return out


def length_penalty(length, alpha):
    """GNMT's lp(Y) = ((5 + |Y|) / 6)^α (Wu et al., 2016); hypotheses rank by log P / lp.
    α = 0 ranks by raw log-probability, larger α favours longer outputs."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(model, src_ids, start_id, eos_id, max_len, beam_size=4, alpha=0.6):
    """Beam search with the key/value cache. For each source sentence, keep the `beam_size`
    best prefixes by summed log-probability; a prefix that emits `eos_id` is finished and
    scored log P / lp(length). Stops when every sentence has `beam_size` finished hypotheses
    and no live prefix can still beat its best (a live score only falls, and lp(max_len)
    bounds its normalisation), or at `max_len`. Returns a list (one per sentence) of
    (ids ending with <eos> if finished, normalised score), best first."""
    src_ids, memory, src_mask = _start(model, src_ids, max_len)
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    B, k = src_ids.shape[0], beam_size
    rows = np.repeat(np.arange(B), k)                        # beam b·k + j reads sentence b
    cache = KVCache(model, memory[rows], src_mask[rows], max_len)
    scores = np.full((B, k), -np.inf)
    scores[:, 0] = 0.0                                        # one live prefix at first
    seqs = np.zeros((B, k, 0), dtype=np.int64)
    prev = np.full(B * k, start_id, dtype=np.int64)
    finished = [[] for _ in range(B)]
    open_ = np.ones(B, bool)
    for t in range(max_len):
        logits = decode_step(model, prev, cache).astype(np.float64)
        logits[:, [model.cfg.pad_id, start_id]] = -np.inf   # never valid outputs
        logp = logits - logits.max(-1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
        V = logp.shape[-1]
        cand = (scores[..., None] + logp.reshape(B, k, V)).reshape(B, k * V)
        top = np.argsort(-cand, axis=1, kind="stable")[:, : 2 * k]   # enough to refill k live beams
        new_scores = np.full((B, k), -np.inf)
        origin = np.zeros((B, k), dtype=np.int64)
        tokens = np.full((B, k), eos_id, dtype=np.int64)
        for b in np.nonzero(open_)[0]:
            j = 0
            for c in top[b]:
                s, (beam, tok) = cand[b, c], divmod(int(c), V)
                if not np.isfinite(s):
                    break
                if tok == eos_id:
                    finished[b].append((np.append(seqs[b, beam], tok), s / length_penalty(t + 1, alpha)))
                elif j < k:
                    new_scores[b, j], origin[b, j], tokens[b, j] = s, beam, tok
                    j += 1
                if j == k and len(finished[b]) >= k:
                    break
            best_done = max((sc for _, sc in finished[b]), default=-np.inf)
            best_live = new_scores[b].max() / length_penalty(max_len, alpha)
            if len(finished[b]) >= k and best_done >= best_live:
                open_[b] = False
        if not open_.any():
            break
        seqs = np.concatenate([np.take_along_axis(seqs, origin[..., None], axis=1), tokens[..., None]], axis=2)
        scores = new_scores
        if t == max_len - 1:          # out of room: live prefixes end here, without <eos>
            for b in np.nonzero(open_)[0]:
                finished[b] += [(seqs[b, j], scores[b, j] / length_penalty(max_len, alpha))
                                for j in range(k) if np.isfinite(scores[b, j])]
            break
        cache.reorder((np.arange(B)[:, None] * k + origin).reshape(-1))
        prev = tokens.reshape(-1)
    return [sorted(hyps, key=lambda h: -h[1])[:k] for hyps in finished]
