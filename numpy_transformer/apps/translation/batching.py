"""Encoding and batching of sentence pairs: the same functions in training and at inference.

The encoder input never has <start> and always ends with <eos> (errata 4: the book dropped
<START> in training but prepended it at inference); the decoder input is <start> + target and
the labels are target + <eos>. Standard library and NumPy only (the Keras side uses it too).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np


class EncodedPair(NamedTuple):
    encoder_input: list[int]    # source ids + <eos>          (never <start>)
    decoder_input: list[int]    # <start> + target ids
    labels: list[int]           # target ids + <eos>


def _ids(tokens_or_sentence, tokenizer) -> list[int]:
    if isinstance(tokens_or_sentence, str):
        return list(tokenizer.encode(tokens_or_sentence))
    return [int(t) for t in tokens_or_sentence]


def encode_source(sentence, tokenizer, max_len: int | None = None) -> list[int]:
    """Encoder input for a (cleaned) source sentence or a list of its token ids: ids + <eos>,
    no <start>. With ``max_len`` the ids are cut so the result has at most ``max_len`` ids
    (still ending in <eos>). Use this both when training and when translating."""
    ids = _ids(sentence, tokenizer)
    if max_len is not None:
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        ids = ids[:max_len - 1]
    return ids + [tokenizer.eos_id]


def encode_target(sentence, tokenizer, max_len: int | None = None) -> list[int]:
    """Full target sequence <start> + ids + <eos>; decoder input is ``seq[:-1]`` and labels are
    ``seq[1:]`` (both of length len(ids) + 1, at most ``max_len``)."""
    ids = _ids(sentence, tokenizer)
    if max_len is not None:
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        ids = ids[:max_len - 1]
    return [tokenizer.start_id] + ids + [tokenizer.eos_id]


def encode_pair(src, tgt, src_tokenizer, tgt_tokenizer, max_len: int | None = None) -> EncodedPair:
    """Encoder input (src + <eos>), decoder input (<start> + tgt) and labels (tgt + <eos>)."""
    seq = encode_target(tgt, tgt_tokenizer, max_len)
    return EncodedPair(encode_source(src, src_tokenizer, max_len), seq[:-1], seq[1:])


# --------------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------------


class Batch(NamedTuple):
    src: np.ndarray        # (B, S) int64 encoder input, padded with pad_id
    tgt_in: np.ndarray     # (B, T) int64 decoder input (<start> ...), padded
    tgt_out: np.ndarray    # (B, T) int64 labels (... <eos>), padded
    indices: np.ndarray    # (B,) positions of these examples in the input lists


def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int, length: int | None = None) -> np.ndarray:
    """(len(seqs), length or longest) int64 array, right-padded with ``pad_id``."""
    longest = max((len(s) for s in seqs), default=0)
    length = longest if length is None else length
    if length < longest:
        raise ValueError(f"pad_sequences: length {length} is shorter than the longest sequence "
                         f"({longest})")
    out = np.full((len(seqs), length), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out


def make_batches(src_ids_list: Sequence[Sequence[int]], tgt_ids_list: Sequence[Sequence[int]],
                 batch_size: int, pad_id: int = 0, shuffle: bool = False,
                 rng: np.random.Generator | int | None = None) -> list[Batch]:
    """Cut encoded examples into padded batches.

    ``src_ids_list[i]`` is an encoder input (:func:`encode_source`), ``tgt_ids_list[i]`` a full
    target sequence <start> ... <eos> (:func:`encode_target`); each batch has decoder input
    ``tgt[:-1]`` and labels ``tgt[1:]``. Every batch is padded to its own longest sequence (S for
    the source, T for the target side). The last batch may be smaller. With ``shuffle`` the
    example order is ``rng.permutation`` (``rng``: a numpy Generator or an int seed; required,
    so that shuffling is never silently unseeded).
    """
    if len(src_ids_list) != len(tgt_ids_list):
        raise ValueError(f"make_batches: {len(src_ids_list)} sources but {len(tgt_ids_list)} "
                         f"targets")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"make_batches: batch_size must be a positive integer, got {batch_size!r}")
    for i, (s, t) in enumerate(zip(src_ids_list, tgt_ids_list)):
        if len(s) < 1:
            raise ValueError(f"make_batches: source {i} is empty (it should end with <eos>)")
        if len(t) < 2:
            raise ValueError(f"make_batches: target {i} has {len(t)} id(s); a target sequence "
                             f"is <start> ... <eos>, at least 2 ids")
    n = len(src_ids_list)
    if shuffle:
        if rng is None:
            raise ValueError("make_batches: shuffle=True needs rng (a numpy Generator or a seed)")
        if not isinstance(rng, np.random.Generator):
            rng = np.random.default_rng(rng)
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    batches = []
    for start in range(0, n, int(batch_size)):
        idx = order[start:start + int(batch_size)]
        src = pad_sequences([src_ids_list[i] for i in idx], pad_id)
        tgt_in = pad_sequences([tgt_ids_list[i][:-1] for i in idx], pad_id)
        tgt_out = pad_sequences([tgt_ids_list[i][1:] for i in idx], pad_id)
        batches.append(Batch(src, tgt_in, tgt_out, np.asarray(idx, dtype=np.int64)))
    return batches
