"""Greedy decoding for TransformerModel (and RNNTranslatorModel), the book's way: the whole decoder is re-run on the
growing prefix for every new token (no key/value cache). The encoder runs once per batch;
each step is one compiled call (keras_transformer/backend.py: tf.function, jax.jit or eager
PyTorch) reused for every length and batch size."""
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


def greedy_decode(model, src_ids, start_id, eos_id, max_len):
    """Pick argmax tokens one at a time until every sequence has emitted `eos_id` or `max_len`
    tokens are out; <pad> and <start> are never chosen. Returns int64 ids (B, L <= max_len)
    without <start>; a sequence that ended is padded with pad_id after its <eos> (and the pad
    is fed back for it). Same rules as numpy_transformer.app.decoding.greedy_decode."""
    cfg = model.cfg
    src_ids = check_ids(np.asarray(src_ids), cfg.src_vocab_size, cfg.max_len, "src_ids")
    if not 1 <= max_len <= cfg.max_len:
        raise ValueError(f"max_len must be in [1, {cfg.max_len}] (the model's max_len), got {max_len}")
    for name, tok in (("start_id", start_id), ("eos_id", eos_id)):
        if not 0 <= tok < cfg.tgt_vocab_size:
            raise ValueError(f"{name}={tok} is outside the target vocabulary [0, {cfg.tgt_vocab_size})")
    if not model.built:
        model.build()
    encode, next_token = _compiled(model)
    src = src_ids.astype(np.int32)
    memory = encode(src)
    banned = np.zeros(cfg.tgt_vocab_size, bool)
    banned[[cfg.pad_id, start_id]] = True
    B, pad = src_ids.shape[0], cfg.pad_id
    out = np.full((B, max_len), pad, dtype=np.int64)
    done = np.zeros(B, bool)
    for t in range(max_len):
        prefix = np.concatenate([np.full((B, 1), start_id, np.int32), out[:, :t].astype(np.int32)], axis=1)
        with warnings.catch_warnings():   # step 0 attends over one key: Keras warns of a size-1 softmax
            warnings.filterwarnings("ignore", message="You are using a softmax over axis")
            tok = ops.convert_to_numpy(next_token(prefix, memory, src, banned)).astype(np.int64)
        tok = np.where(done, pad, tok)
        out[:, t] = tok
        done |= tok == eos_id
        if done.all():
            return out[:, : t + 1]
    return out
