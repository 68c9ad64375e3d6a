"""Masked cross-entropy from logits and masked token accuracy (padding does not count)."""
from __future__ import annotations

import numpy as np

from .basic import flush_tiny


def _check(logits, labels):
    logits = np.asarray(logits)
    labels = np.asarray(labels)
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


def masked_cross_entropy(logits, labels, pad_id=0, label_smoothing=0.0):
    """Mean token cross-entropy over the N positions whose label is not `pad_id`:
    L = (1/N) Σ_t −Σ_c q_tc log p_tc, p = softmax(z) over the vocabulary (computed as
    z − max − log Σ exp(z − max), so no exp overflows), q = (1−ε)·onehot(label) + ε/V
    (label smoothing as in Keras' CategoricalCrossentropy: ε spread over all V classes).
    Gradient: ∂L/∂z_tc = (p_tc − q_tc)/N on counted positions, 0 on padding (Σ_c q_c = 1).
    Returns (loss as a Python float, dlogits with the logits' dtype)."""
    logits, labels = _check(logits, labels)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    keep = labels != pad_id
    n = int(keep.sum())
    if n == 0:
        raise ValueError("masked_cross_entropy: every label is padding, the mean is undefined")
    V = logits.shape[-1]
    # one array of the logits' size: z = logits − max, then exp(z) in place, then p = softmax
    e = logits - logits.max(axis=-1, keepdims=True)
    z_label = np.take_along_axis(e, labels[..., None], axis=-1)[..., 0]
    z_sum = e.sum(axis=-1) if label_smoothing else None
    np.exp(e, out=e)
    s = e.sum(axis=-1, keepdims=True)
    logsumexp = np.log(s)[..., 0]
    eps = float(label_smoothing)
    per_token = -(1.0 - eps) * (z_label - logsumexp)            # −(1−ε)·log p_label
    if eps:                                                     # Σ_c log p_c = Σ_c z_c − V·logsumexp
        per_token -= (eps / V) * (z_sum - V * logsumexp)
    loss = float(np.sum(per_token[keep], dtype=np.float64) / n)
    # p, entries below tiny/eps zeroed (no subnormals into the output layer's GEMMs; after the
    # 1/N below the rest stay normal for N < 8e6 tokens in float32)
    dlogits = flush_tiny(np.divide(e, s, out=e))
    if eps:
        dlogits -= logits.dtype.type(eps / V)
    np.put_along_axis(dlogits, labels[..., None],
                      np.take_along_axis(dlogits, labels[..., None], axis=-1) - logits.dtype.type(1.0 - eps),
                      axis=-1)
    dlogits *= (keep / logits.dtype.type(n)).astype(logits.dtype)[..., None]
    return loss, dlogits


def masked_accuracy(logits, labels, pad_id=0):
    """Fraction of non-pad positions where argmax(logits) equals the label."""
    logits, labels = _check(logits, labels)
    keep = labels != pad_id
    n = int(keep.sum())
    if n == 0:
        raise ValueError("masked_accuracy: every label is padding")
    return float(np.sum((logits.argmax(axis=-1) == labels) & keep) / n)
