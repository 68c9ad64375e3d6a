"""Analytic matmul FLOP counts of the encoder-decoder Transformer (2·m·n·k per GEMM).

Only matrix products are counted (projections, attention scores Q·Kᵀ and weights·V, the
feed-forward GEMMs, the output layer): the usual "model FLOPs" convention. Softmax,
LayerNorm, embeddings, the loss and the Adam update are left out (together well under 2% of
the total at the book config). The backward of every product A·B needs dA and dB, two
products of the same size, so forward+backward = 3 × forward.
"""
from __future__ import annotations


def mha(B, Tq, Tk, d):
    """Multi-head attention, Tq queries over Tk keys: Q, K, V and output projections plus
    scores and weighted values (summed over heads, H·d_k = d)."""
    proj = 2 * B * Tq * d * d * 2 + 2 * B * Tk * d * d * 2    # Q and W_o on the queries, K and V on the keys
    attn = 2 * B * Tq * Tk * d * 2                             # Q·Kᵀ and P·V
    return proj + attn


def ffn(B, T, d, f):
    return 2 * B * T * d * f * 2


def encoder(cfg, B, S):
    return cfg.num_layers * (mha(B, S, S, cfg.d_model) + ffn(B, S, cfg.d_model, cfg.d_ff))


def decoder(cfg, B, T, S, out_positions=None):
    """Decoder stack over T positions plus the output layer on `out_positions` positions per
    sequence (default all T)."""
    d = cfg.d_model
    layers = cfg.num_layers * (mha(B, T, T, d) + mha(B, T, S, d) + ffn(B, T, d, cfg.d_ff))
    P = T if out_positions is None else out_positions
    return layers + 2 * B * P * d * cfg.tgt_vocab_size


def forward(cfg, shape):
    return encoder(cfg, shape.batch, shape.src_len) + decoder(cfg, shape.batch, shape.tgt_len, shape.src_len)


def forward_backward(cfg, shape):
    return 3 * forward(cfg, shape)


def decode_step_cached(cfg, B, S, t, keys=None):
    """One KV-cached step at position t (0-based; the query sees t+1 keys, or `keys` when the
    cache has fixed-size slots and the empty ones are masked): projections of one token,
    attention over the cache and the memory, feed-forward, output layer. The memory's
    cross-attention K/V are computed once per sentence (see `decode`)."""
    d, f = cfg.d_model, cfg.d_ff
    self_attn = 2 * B * d * d * 4 + 2 * B * (t + 1 if keys is None else keys) * d * 2
    cross = 2 * B * d * d * 2 + 2 * B * S * d * 2
    return cfg.num_layers * (self_attn + cross + ffn(B, 1, d, f)) + 2 * B * d * cfg.tgt_vocab_size


def decode(cfg, B, S, L, mode="cache"):
    """Greedy decoding of L tokens for B sentences of S source tokens, as each implementation
    does it:
      cache        encoder once, memory K/V once per layer, then one cached step per token
                   (numpy_transformer greedy_decode use_cache=True);
      cache_slots  as cache, with attention over all L slots of a fixed-size cache at every step
                   (keras_transformer greedy_decode use_cache=True: one shape for every step);
      nocache      the whole decoder re-run on the prefix (1..L positions) per token, output
                   layer on the last position only (use_cache=False);
      nocache_all  as nocache, but logits for every prefix position (keras_transformer
                   greedy_decode: model.decode(...)[:, -1]);
      padded       every step runs the decoder on a fixed L-position, pad-filled prefix with
                   logits at every position (the fixed-shape XLA variant in this harness)."""
    d = cfg.d_model
    total = encoder(cfg, B, S)
    if mode in ("cache", "cache_slots"):
        total += cfg.num_layers * 2 * B * S * d * d * 2
        keys = L if mode == "cache_slots" else None
        return total + sum(decode_step_cached(cfg, B, S, t, keys) for t in range(L))
    if mode == "nocache":
        return total + sum(decoder(cfg, B, t, S, out_positions=1) for t in range(1, L + 1))
    if mode == "nocache_all":
        return total + sum(decoder(cfg, B, t, S) for t in range(1, L + 1))
    if mode == "padded":
        return total + L * decoder(cfg, B, L, S)
    raise ValueError(f"unknown decode mode {mode!r}")


def workload_flops(workload, cfg, shape, decode_mode="cache"):
    """Matmul FLOPs of one call of a workload (forward / fwd_bwd / train_step / decode)."""
    if workload == "forward":
        return forward(cfg, shape)
    if workload in ("fwd_bwd", "train_step"):
        return forward_backward(cfg, shape)
    if workload == "decode":
        return decode(cfg, shape.batch, shape.src_len, shape.tgt_len, decode_mode)
    raise ValueError(f"unknown workload {workload!r}")

