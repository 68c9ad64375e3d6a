"""Greedy decoding for TransformerModel and RNNTranslatorModel, two ways: with a key/value cache
(the Transformer's default; one decoder position per step, TransformerModel.decode_step, as the
NumPy reference decodes) or the book's way, the whole decoder re-run on the growing prefix for
every new token (`use_cache=False`; the RNN translator's Keras twin decodes this way). The
encoder runs once per batch; each step is one compiled call (keras_transformer/backend.py:
tf.function, jax.jit or eager PyTorch) reused for every position."""
from __future__ import annotations

import warnings

import numpy as np
from keras import ops

from .backend import compile_inference
from .model import check_ids


def _encode(model, src):
    return model.encode(src, training=False)


def _next_token(model, prefix, memory, src, banned):
    logits = model.decode(prefix, memory, src, training=False)[:, -1]
    logits = ops.where(banned, ops.cast(-np.inf, logits.dtype), logits)
    return ops.argmax(logits, axis=-1)


def _start(model, src, max_len):
    return model.start_decoding(src, max_len)


def _cached_next_token(model, token, t, src, banned, *state):
    logits, state = model.decode_step(token, t, src, list(state))
    logits = ops.where(banned, ops.cast(-np.inf, logits.dtype), logits)
    return ops.argmax(logits, axis=-1), state


def _compiled_cached(model, max_len):
    """(start, step) compiled once per max_len (the cache's length is part of its shape)."""
    fns = model.__dict__.setdefault("_cached_greedy_fns", {})
    if max_len not in fns:
        cfg = model.cfg
        ids = ((None, None), "int32")
        d_k = cfg.d_model // cfg.num_heads
        kv = [((None, cfg.num_heads, None, d_k), cfg.dtype)] * (4 * cfg.num_layers)
        fns[max_len] = (compile_inference(model, lambda m, s: _start(m, s, max_len), [ids]),
                        compile_inference(model, _cached_next_token,
                                          [((None,), "int32"), ((), "int32"), ids, ((None,), "bool"), *kv]))
    return fns[max_len]


def _compiled(model):
    fns = getattr(model, "_greedy_fns", None)
    if fns is None:
        ids = ((None, None), "int32")
        # the encoder output's width: d_model, or the RNN translator's hidden size
        width = model.memory_width if hasattr(model, "memory_width") else model.cfg.d_model
        memory = ((None, None, width), model.cfg.dtype)
        fns = model._greedy_fns = (compile_inference(model, _encode, [ids]),
                                   compile_inference(model, _next_token, [ids, memory, ids, ((None,), "bool")]))
    return fns


def greedy_decode(model, src_ids, start_id, eos_id, max_len, use_cache=None):
    """Pick argmax tokens one at a time until every sequence has emitted `eos_id` or `max_len`
    tokens are out; <pad> and <start> are never chosen. Returns int64 ids (B, L <= max_len)
    without <start>; a sequence that ended is padded with pad_id after its <eos> (and the pad
    is fed back for it). Same rules as numpy_transformer.models.decoding.greedy_decode. With
    `use_cache` each step runs one position through the decoder (key/value cache), without it
    the decoder re-runs the whole prefix (the book's way); None: the cache when the model has
    one (TransformerModel.decode_step)."""
    cfg = model.cfg
    has_cache = hasattr(model, "decode_step")
    if use_cache is None:
        use_cache = has_cache
    elif use_cache and not has_cache:
        raise ValueError(f"{type(model).__name__} has no cached decoder (decode_step): use use_cache=False")
    src_ids = check_ids(np.asarray(src_ids), cfg.src_vocab_size, cfg.max_len, "src_ids")
    if not 1 <= max_len <= cfg.max_len:
        raise ValueError(f"max_len must be in [1, {cfg.max_len}] (the model's max_len), got {max_len}")
    for name, tok in (("start_id", start_id), ("eos_id", eos_id)):
        if not 0 <= tok < cfg.tgt_vocab_size:
            raise ValueError(f"{name}={tok} is outside the target vocabulary [0, {cfg.tgt_vocab_size})")
    if not model.built:
        model.build()
    src = src_ids.astype(np.int32)
    banned = np.zeros(cfg.tgt_vocab_size, bool)
    banned[[cfg.pad_id, start_id]] = True
    B, pad = src_ids.shape[0], cfg.pad_id
    out = np.full((B, max_len), pad, dtype=np.int64)
    done = np.zeros(B, bool)
    if use_cache:
        start, step = _compiled_cached(model, max_len)
        state = start(src)
        token = np.full(B, start_id, np.int32)
    else:
        encode, next_token = _compiled(model)
        memory = encode(src)
    for t in range(max_len):
        with warnings.catch_warnings():   # step 0 attends over one key: Keras warns of a size-1 softmax
            warnings.filterwarnings("ignore", message="You are using a softmax over axis")
            if use_cache:
                tok, state = step(token, np.int32(t), src, banned, *state)
            else:
                prefix = np.concatenate([np.full((B, 1), start_id, np.int32), out[:, :t].astype(np.int32)], axis=1)
                tok = next_token(prefix, memory, src, banned)
        tok = np.where(done, pad, ops.convert_to_numpy(tok).astype(np.int64))
        out[:, t] = tok
        done |= tok == eos_id
        if done.all():
            return out[:, : t + 1]
        if use_cache:
            token = tok.astype(np.int32)
    return out
