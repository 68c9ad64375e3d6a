"""Autoregressive decoding of a Transformer: greedy and beam search.

The book re-runs the whole decoder on the growing prefix for every new token, O(T²) layer
work per token. Causal masking means earlier positions never change, so each layer's self-
attention keys/values for positions < t can be kept: a step then embeds one token, projects
it, attends over the cache and costs O(t) (Transformer.start_decoding / decode_step, which
run the decoder layers' own code with a key/value cache; use_cache=False re-runs the prefix).
"""
from __future__ import annotations

import numpy as np

from ..ops.linear import linear_forward


def greedy_decode(model, src_ids, start_id, eos_id, max_len, use_cache=True):
    """Pick argmax tokens one at a time until every sequence has emitted `eos_id` or `max_len`
    tokens are out (<pad> and <start> are never chosen). Returns int64 ids (B, L ≤ max_len) without <start>; a sequence that ended
    is padded with pad_id after its <eos>. use_cache=False re-runs the full decoder per token
    (the book's way; kept to show both agree and to measure the cache's gain)."""
    state = model.start_decoding(src_ids, max_len)
    B, pad = state.memory.shape[0], model.cfg.pad_id
    out = np.full((B, max_len), pad, dtype=np.int64)
    done = np.zeros(B, bool)
    prev = np.full(B, start_id, dtype=np.int64)
    for t in range(max_len):
        if use_cache:
            logits = model.decode_step(prev, state)
        else:
            dec_in = np.concatenate([np.full((B, 1), start_id), out[:, :t]], axis=1)
            h = model.decode(dec_in, state.memory, state.src_mask)
            logits = linear_forward(h[:, -1], model.params.output.weight, model.params.output.bias)[0]
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
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    state = model.start_decoding(src_ids, max_len)
    B, k = state.memory.shape[0], beam_size
    state.reorder(np.repeat(np.arange(B), k))               # beam b·k + j reads sentence b
    scores = np.full((B, k), -np.inf)
    scores[:, 0] = 0.0                                        # one live prefix at first
    seqs = np.zeros((B, k, 0), dtype=np.int64)
    prev = np.full(B * k, start_id, dtype=np.int64)
    finished = [[] for _ in range(B)]
    open_ = np.ones(B, bool)
    for t in range(max_len):
        logits = model.decode_step(prev, state).astype(np.float64)
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
        state.reorder((np.arange(B)[:, None] * k + origin).reshape(-1))
        prev = tokens.reshape(-1)
    return [sorted(hyps, key=lambda h: -h[1])[:k] for hyps in finished]
