"""Masked cross-entropy from logits, with label smoothing, and masked token accuracy
(positions whose label is padding do not count)."""
from __future__ import annotations

import numpy as np


def check_logits_labels(logits, labels):
    """Clear errors for logits (..., V) and integer labels (...) that do not fit."""
    logits = np.asanyarray(logits)
    labels = np.asanyarray(labels)
    if not np.issubdtype(logits.dtype, np.floating):
        raise TypeError(f"logits must be floating point, got dtype {logits.dtype}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integer token ids, got dtype {labels.dtype}")
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {logits.shape} and labels {labels.shape} do not fit: "
                         "expected logits of shape labels.shape + (vocab,)")
    V = logits.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= V):
        raise ValueError(f"labels hold ids outside [0, {V})")
    return logits, labels


def count_tokens(labels, pad_id, what):
    keep = labels != pad_id
    n = int(keep.sum())
    if n == 0:
        raise ValueError(f"{what}: every label is padding, the mean is undefined")
    return keep, n


def masked_cross_entropy(logits, labels, pad_id=0, label_smoothing=0.0):
    """Mean token cross-entropy over the N positions whose label is not `pad_id`:
        L = (1/N) Σ_t −Σ_c q_tc log p_tc,   p = softmax(z) over the V classes,
        q = (1 − ε)·onehot(label) + ε/V     (label smoothing as in Keras: ε spread over all V).
    log p = z − max − log Σ exp(z − max), so no exp overflows.
    Gradient: ∂L/∂z_tc = (p_tc − q_tc) / N on counted positions (because Σ_c q_tc = 1), 0 on
    padding. Returns (loss as a Python float, dlogits in the logits' dtype)."""
    logits, labels = check_logits_labels(logits, labels)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    keep, n = count_tokens(labels, pad_id, "masked_cross_entropy")
    V, dt = logits.shape[-1], logits.dtype.type
    z = logits - logits.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    q = np.full(logits.shape, dt(label_smoothing / V))
    np.put_along_axis(q, labels[..., None], dt(1.0 - label_smoothing + label_smoothing / V), axis=-1)
    per_token = -np.sum(q * log_p, axis=-1)
    loss = float(np.sum(per_token[keep], dtype=np.float64) / n)
    dlogits = (np.exp(log_p) - q) * (keep / dt(n)).astype(logits.dtype)[..., None]
    return loss, dlogits


def masked_accuracy(logits, labels, pad_id=0):
    """Fraction of non-pad positions where argmax(logits) equals the label."""
    logits, labels = check_logits_labels(logits, labels)
    keep, n = count_tokens(labels, pad_id, "masked_accuracy")
    return float(np.sum((logits.argmax(axis=-1) == labels) & keep) / n)
