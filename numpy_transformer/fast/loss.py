"""Masked cross-entropy with one logits-sized buffer and no subnormals in dlogits (the same
maths as ops/loss.py, tested equal)."""
from __future__ import annotations

import numpy as np

from ..ops.loss import check_logits_labels, count_tokens
from .subnormal import flush_tiny


def masked_cross_entropy(logits, labels, pad_id=0, label_smoothing=0.0):
    """ops.loss.masked_cross_entropy (same arguments and results) in one buffer of the logits'
    size, where the plain version makes about five, with p's entries below tiny/eps zeroed."""
    logits, labels = check_logits_labels(logits, labels)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    keep, n = count_tokens(labels, pad_id, "masked_cross_entropy")
    loss_sum, dlogits = cross_entropy_sum(logits, labels, keep, n, label_smoothing)
    return float(loss_sum) / n, dlogits


def cross_entropy_sum(logits, labels, keep, n, label_smoothing=0.0):
    """The unchecked core: (Σ of the per-token loss over the kept positions as a float64 0-d
    array, dlogits of that sum divided by n). `n` may be an array (the GPU step keeps the token
    count on the device; nothing here reads a value back to the host).
    The loss per token is written without q: −(1−ε)·log p_label − (ε/V)·Σ_c log p_c, and
    Σ_c log p_c = Σ_c z_c − V·logsumexp."""
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
    # where(keep, ·, 0), not per_token[keep]: a boolean index has a data-dependent size, which
    # makes a GPU wait for the host
    loss_sum = np.sum(np.where(keep, per_token, 0), dtype=np.float64)
    # p, entries below tiny/eps zeroed (no subnormals into the output layer's GEMMs; after the
    # 1/N below the rest stay normal for N < 8e6 tokens in float32)
    dlogits = flush_tiny(np.divide(e, s, out=e))
    if eps:
        dlogits -= logits.dtype.type(eps / V)
    np.put_along_axis(dlogits, labels[..., None],
                      np.take_along_axis(dlogits, labels[..., None], axis=-1) - logits.dtype.type(1.0 - eps),
                      axis=-1)
    dlogits *= (keep / n).astype(logits.dtype)[..., None]
    return loss_sum, dlogits
