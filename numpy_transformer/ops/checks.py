"""Input checks of the recurrent ops and the attention over their states (ops/rnn.py, gru.py,
luong.py; bahdanau.py and time_attention.py use the first three): one clear error naming the
problem, before any computation, kept apart from the equations. A model checks its inputs once
at its entry and then calls the unchecked forms (models/rnn_translator.py)."""
from __future__ import annotations

import numpy as np

SCORES = {"dot": (), "general": ("W_a",), "concat": ("W_a", "v_a")}       # Luong's scores and their params
ALIGNMENTS = {"monotonic": (), "predictive": ("W_p", "v_p")}              # local attention's


def float_dtype(*arrays, names):
    """The one floating dtype that all weights share (float32 or float64), else a clear error."""
    dtypes = {np.asarray(a).dtype for a in arrays}
    if len(dtypes) != 1:
        raise TypeError(f"{', '.join(names)} must share one float dtype, got "
                        f"{', '.join(f'{n}: {np.asarray(a).dtype}' for n, a in zip(names, arrays))}")
    dt = dtypes.pop()
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{', '.join(names)} must be float32 or float64, got {dt}")
    return dt


def check_finite(**arrays):
    """A clear error naming the first array that holds NaN or ±inf (weights that diverged, or
    data with holes): otherwise the NaN would surface steps later as a NaN loss."""
    for name, a in arrays.items():
        if a is not None and not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds NaN or inf ({int(np.size(a) - np.isfinite(a).sum())} "
                             f"of {np.size(a)} entries)")


def check_time_mask(mask, B, T, what, attend=False):
    """mask: boolean (B, T); returned as a bool array. attend=True: a softmax runs over the
    allowed positions of each row, so a row that allows none is an error (the softmax over an
    empty set is undefined)."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{what} mask must be boolean (True = a real step), got dtype {mask.dtype}")
    if mask.shape != (B, T):
        raise ValueError(f"{what} mask must have shape (batch, time) = {(B, T)}, got {mask.shape}")
    empty = np.flatnonzero(~mask.any(axis=1)) if attend else ()
    if len(empty):
        raise ValueError(f"{what}: mask row(s) {empty.tolist()} allow no position: the softmax over an "
                         f"empty set is undefined (drop those rows)")
    return mask


def check_recurrent(layer, x, h0, W_x, W_h, b, mask, gates=1, bias_rows=()):
    """What a recurrent layer's forward checks first (ops/rnn.py: gates=1, b (H,); ops/gru.py:
    gates=3, bias_rows=(2,), b (2, 3H)): x (B, T, D) with T ≥ 1, W_h (H, gates·H),
    W_x (D, gates·H), b (*bias_rows, gates·H), all the weights of one float dtype, h0 (B, H) or
    None, mask (B, T) boolean or None, everything finite. Returns x and h0 (zeros when None) in
    the weights' dtype, and the mask. The names in brackets are Keras' (its layers' weights)."""
    dt = float_dtype(W_x, W_h, b, names=("W_x", "W_h", "b"))
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"{layer}: x must be (batch, time, features), got shape {x.shape}")
    B, T, D = x.shape
    if T < 1:
        raise ValueError(f"{layer}: x has no time steps (T = 0)")
    if W_h.ndim != 2 or W_h.shape[1] != gates * W_h.shape[0]:
        raise ValueError(f"{layer}: W_h (recurrent_kernel) must be (H, {'' if gates == 1 else gates}H), "
                         f"got {W_h.shape}")
    H = W_h.shape[0]
    want_x, want_b = (D, gates * H), (*bias_rows, gates * H)
    if W_x.shape != want_x or b.shape != want_b:
        raise ValueError(f"{layer}: sizes do not fit: x has D = {D} features and W_h is {W_h.shape}, so W_x "
                         f"(kernel) must be {want_x} and b (bias) {want_b}; got W_x {W_x.shape}, b {b.shape}")
    if h0 is not None:
        h0 = np.asarray(h0)
        if h0.shape != (B, H):
            raise ValueError(f"{layer}: h0 must be (batch, H) = {(B, H)}, got {h0.shape}")
    if mask is not None:
        mask = check_time_mask(mask, B, T, layer)
    check_finite(W_x=W_x, W_h=W_h, b=b, x=x, h0=h0)
    x = x.astype(dt, copy=False)
    h0 = np.zeros((B, H), dt) if h0 is None else h0.astype(dt, copy=False)
    return x, h0, mask


# ---------------------------------------------------------------- Luong attention

def check_luong(h_t, h_s, score, params, what, extra=()):
    """The checks of every Luong score: its params (names, shapes, one float dtype), h_t (B, d_t)
    and h_s (B, T, d_s) fitting them and finite. Returns h_t, h_s in the params' dtype and the
    params (`extra`: the names the predictive alignment adds)."""
    if score not in SCORES:
        raise ValueError(f"{what}: unknown score {score!r}; expected one of {', '.join(map(repr, SCORES))}")
    params = {} if params is None else dict(params)
    need = SCORES[score] + tuple(extra)
    missing, unexpected = [k for k in need if k not in params], sorted(set(params) - set(need))
    if missing or unexpected:
        raise ValueError(f"{what}: score {score!r} needs params {list(need)}; missing {missing}, "
                         f"unexpected {unexpected}")
    params = {k: np.asarray(params[k]) for k in need}
    h_t, h_s = np.asarray(h_t), np.asarray(h_s)
    dt = (float_dtype(*params.values(), names=need) if need else float_dtype(h_t, h_s, names=("h_t", "h_s")))
    if h_t.ndim != 2 or h_s.ndim != 3:
        raise ValueError(f"{what}: h_t must be (batch, d_t) and h_s (batch, T, d_s); got h_t {h_t.shape}, "
                         f"h_s {h_s.shape}")
    (B, d_t), (Bs, T, d_s) = h_t.shape, h_s.shape
    if Bs != B:
        raise ValueError(f"{what}: h_t has batch {B} but h_s has batch {Bs}")
    if T < 1:
        raise ValueError(f"{what}: h_s has no positions (T = 0)")
    d_a = params["v_a"].shape[0] if score == "concat" and params["v_a"].ndim == 1 else None
    d_p = params["v_p"].shape[0] if "v_p" in params and params["v_p"].ndim == 1 else None
    want = {"dot": {}, "general": {"W_a": (d_t, d_s)},
            "concat": {"W_a": (d_t + d_s, d_a), "v_a": (d_a,)}}[score]
    if extra:
        want = {**want, "W_p": (d_t, d_p), "v_p": (d_p,)}
    if score == "dot" and d_t != d_s:
        raise ValueError(f"{what}: the dot score needs d_t = d_s; h_t has {d_t}, h_s has {d_s} "
                         f"(use 'general' or 'concat' for different sizes)")
    bad = {k: params[k].shape for k, s in want.items() if params[k].shape != s}
    if bad:
        raise ValueError(f"{what}: sizes do not fit: h_t has d_t = {d_t}, h_s has d_s = {d_s}, so the "
                         f"params must be {want} (None: any size, a vector's length); got {bad}")
    check_finite(**params, h_t=h_t, h_s=h_s)
    return h_t.astype(dt, copy=False), h_s.astype(dt, copy=False), params


def check_luong_attention(h_t, h_s, score, params=None, mask=None):
    """luong_attention_forward's checks: the score and its params (names, shapes, one float
    dtype), h_t (B, d_t) and h_s (B, T, d_s) fitting them and finite, the mask (B, T) boolean
    with an allowed position in every row. Returns h_t, h_s (in the params' dtype), the params
    and the mask, ready for luong_attention_unchecked."""
    what = "luong_attention"
    h_t, h_s, p = check_luong(h_t, h_s, score, params, what)
    if mask is not None:
        mask = check_time_mask(mask, h_s.shape[0], h_s.shape[1], what, attend=True)
    return h_t, h_s, p, mask


def check_luong_local(h_t, h_s, score, params, D, alignment, p_t, mask):
    """luong_local_attention_forward's checks (check_luong's, plus D, the alignment, p_t and the
    mask). Returns h_t, h_s, the params, p_t (B,) (None when predictive) and the mask."""
    what = "luong_local_attention"
    if alignment not in ALIGNMENTS:
        raise ValueError(f"{what}: unknown alignment {alignment!r}; expected 'monotonic' or 'predictive'")
    if isinstance(D, bool) or not isinstance(D, (int, np.integer)) or D < 1:
        raise ValueError(f"{what}: the window half-width D must be a positive integer, got {D!r}")
    h_t, h_s, p = check_luong(h_t, h_s, score, params, what, ALIGNMENTS[alignment])
    B, T, _ = h_s.shape
    if alignment == "monotonic":
        if p_t is None:
            raise ValueError(f"{what}: monotonic alignment needs p_t (the target step t)")
        p_t = np.broadcast_to(np.asarray(p_t, h_s.dtype), (B,)) if np.ndim(p_t) == 0 else np.asarray(p_t)
        if p_t.shape != (B,):
            raise ValueError(f"{what}: p_t must be a scalar or (batch,) = {(B,)}, got {p_t.shape}")
        check_finite(p_t=p_t)
        p_t = p_t.astype(h_s.dtype)
    elif p_t is not None:
        raise ValueError(f"{what}: predictive alignment computes p_t itself; pass p_t=None")
    if mask is not None:
        mask = check_time_mask(mask, B, T, what)
    return h_t, h_s, p, p_t, mask


def check_window(allowed, p_t, D):
    """Every row's window must hold an allowed position (the softmax runs over them)."""
    empty = np.flatnonzero(~allowed.any(axis=1))
    if len(empty):
        raise ValueError(f"luong_local_attention: row(s) {empty.tolist()} have no allowed position in the "
                         f"window [p_t − {D}, p_t + {D}] (p_t = {p_t[empty].tolist()}, T = {allowed.shape[1]}): "
                         f"the softmax over an empty set is undefined")


def check_attentional_hidden(c_t, h_t, W_c):
    """Shapes that fit, finite values; returns c_t and h_t in W_c's dtype."""
    dt = float_dtype(W_c, names=("W_c",))
    c_t, h_t = np.asarray(c_t), np.asarray(h_t)
    if c_t.ndim != 2 or h_t.ndim != 2 or np.ndim(W_c) != 2:
        raise ValueError(f"attentional_hidden: c_t must be (batch, d_c), h_t (batch, d_t), W_c "
                         f"(d_c + d_t, d_out); got {c_t.shape}, {h_t.shape}, {np.shape(W_c)}")
    if c_t.shape[0] != h_t.shape[0]:
        raise ValueError(f"attentional_hidden: c_t has batch {c_t.shape[0]} but h_t has batch {h_t.shape[0]}")
    if W_c.shape[0] != c_t.shape[1] + h_t.shape[1]:
        raise ValueError(f"attentional_hidden: W_c must have d_c + d_t = {c_t.shape[1]} + {h_t.shape[1]} "
                         f"= {c_t.shape[1] + h_t.shape[1]} rows, got {W_c.shape}")
    check_finite(W_c=W_c, c_t=c_t, h_t=h_t)
    return c_t.astype(dt, copy=False), h_t.astype(dt, copy=False)
