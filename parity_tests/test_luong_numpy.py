"""Luong attention (ops/luong.py), NumPy side: float64 central finite differences of global
attention for every score (with and without a mask, with and without a loss on the weights),
local attention with both alignments (p_t's gradient included), the attentional hidden state,
the definitions themselves, and clear errors for bad input.

Every check is gradcheck (ops/gradcheck.py) of f = Σ y·R for fixed random R, so the upstream
gradient is R: ‖num − ana‖ ≤ noise floor + 1e-7·‖num‖ per tensor, the noise floor being the
finite differences' own rounding for f's scale Σ|y·R| (see test_numpy_grads.py).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import numpy_transformer as nt

from grad_helpers import check_outputs as check, random_mask

SETTINGS = settings(max_examples=8, deadline=None)
SCORES = ["dot", "general", "concat"]


def make_params(rng, score, d_t, d_s, d_a):
    if score == "dot":
        return {}
    if score == "general":
        return {"W_a": rng.standard_normal((d_t, d_s)) / np.sqrt(d_t)}
    return {"W_a": rng.standard_normal((d_t + d_s, d_a)) / np.sqrt(d_t + d_s), "v_a": rng.standard_normal(d_a)}


# ---------------------------------------------------------------------------- global attention
@SETTINGS
@given(score=st.sampled_from(SCORES), b=st.integers(1, 3), t=st.sampled_from([1, 3, 7]), d_t=st.integers(1, 4),
       d_s=st.integers(1, 4), d_a=st.integers(1, 5), use_mask=st.booleans(), with_dweights=st.booleans(),
       seed=st.integers(0, 99))
def test_luong_global_attention(score, b, t, d_t, d_s, d_a, use_mask, with_dweights, seed):
    rng = np.random.default_rng(seed)
    d_t = d_s if score == "dot" else d_t
    h_t, h_s = rng.standard_normal((b, d_t)), rng.standard_normal((b, t, d_s))
    p = make_params(rng, score, d_t, d_s, d_a)
    mask = random_mask(rng, b, t) if use_mask else None
    Rc, Rw = rng.standard_normal((b, d_s)), rng.standard_normal((b, t)) if with_dweights else np.zeros((b, t))
    _, w, cache = nt.luong_attention_forward(h_t, h_s, score, p, mask)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-13)
    if mask is not None:
        assert np.all(w[~mask] == 0)
    g = nt.luong_attention_backward(Rc, cache, Rw if with_dweights else None)
    assert set(g) == {"h_t", "h_s", *p}
    check(lambda: nt.luong_attention_forward(h_t, h_s, score, p, mask)[:2], (Rc, Rw), {"h_t": h_t, "h_s": h_s, **p}, g)


@pytest.mark.parametrize("score", SCORES)
def test_every_score_with_mask_and_dweights(score):
    """The hypothesis draw above is derandomized; this pins the full combination per score."""
    rng = np.random.default_rng(7)
    B, T, d = 3, 6, 4
    h_t, h_s, p = rng.standard_normal((B, d)), rng.standard_normal((B, T, d)), make_params(rng, score, d, d, 5)
    mask = random_mask(rng, B, T)
    Rc, Rw = rng.standard_normal((B, d)), rng.standard_normal((B, T))
    _, _, cache = nt.luong_attention_forward(h_t, h_s, score, p, mask)
    g = nt.luong_attention_backward(Rc, cache, Rw)
    assert np.all(g["h_s"][~mask] == 0)          # a masked position gets no gradient at all
    check(lambda: nt.luong_attention_forward(h_t, h_s, score, p, mask)[:2], (Rc, Rw), {"h_t": h_t, "h_s": h_s, **p}, g)


def test_scores_match_the_paper():
    rng = np.random.default_rng(1)
    B, T, d, d_a = 2, 5, 3, 4
    h_t, h_s = rng.standard_normal((B, d)), rng.standard_normal((B, T, d))
    W, W2, v = rng.standard_normal((d, d)), rng.standard_normal((2 * d, d_a)), rng.standard_normal(d_a)
    for score, p, e in [
            ("dot", {}, lambda b, s: h_t[b] @ h_s[b, s]),
            ("general", {"W_a": W}, lambda b, s: h_t[b] @ W @ h_s[b, s]),
            ("concat", {"W_a": W2, "v_a": v}, lambda b, s: v @ np.tanh(np.concatenate([h_t[b], h_s[b, s]]) @ W2))]:
        c, w, _ = nt.luong_attention_forward(h_t, h_s, score, p)
        for b in range(B):
            ex = np.exp([e(b, s) for s in range(T)])
            np.testing.assert_allclose(w[b], ex / ex.sum(), rtol=1e-12)
            np.testing.assert_allclose(c[b], (ex / ex.sum()) @ h_s[b], rtol=1e-12)


# ---------------------------------------------------------------------------- local attention
def local_inputs(rng, score, B=3, T=9, d=4, d_p=3):
    h_t, h_s = rng.standard_normal((B, d)), rng.standard_normal((B, T, d))
    p = make_params(rng, score, d, d, 5)
    return h_t, h_s, p, {"W_p": rng.standard_normal((d, d_p)), "v_p": rng.standard_normal(d_p)}


def far_from_edges(p_t, D, T):
    """Finite differences of p_t must not cross a window edge (a step in the function)."""
    edges = np.concatenate([np.arange(T) - D, np.arange(T) + D])
    return np.min(np.abs(np.asarray(p_t)[:, None] - edges[None, :])) > 1e-3


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("use_mask,with_dweights", [(False, False), (True, True), (True, False)])
def test_local_monotonic(score, use_mask, with_dweights):
    rng = np.random.default_rng(3)
    h_t, h_s, p, _ = local_inputs(rng, score)
    B, T, D = 3, 9, 2
    p_t = np.array([0.3, 4.6, 8.2])              # the left edge cut, a full window, the right edge cut
    assert far_from_edges(p_t, D, T)
    mask = random_mask(rng, B, T, p=0.2) if use_mask else None
    if mask is not None:
        mask[:, [0, 4, 8]] = True
    Rc, Rw = rng.standard_normal((B, 4)), rng.standard_normal((B, T)) if with_dweights else np.zeros((B, T))
    _, _, cache = nt.luong_local_attention_forward(h_t, h_s, score, p, D, "monotonic", p_t, mask)
    g = nt.luong_local_attention_backward(Rc, cache, Rw if with_dweights else None)
    assert set(g) == {"h_t", "h_s", "p_t", *p}
    assert np.abs(g["p_t"]).min() > 0
    check(lambda: nt.luong_local_attention_forward(h_t, h_s, score, p, D, "monotonic", p_t, mask)[:2], (Rc, Rw),
          {"h_t": h_t, "h_s": h_s, "p_t": p_t, **p}, g)


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("use_mask", [False, True])
def test_local_predictive(score, use_mask):
    rng = np.random.default_rng(4)
    h_t, h_s, p, pp = local_inputs(rng, score)
    B, T, D = 3, 9, 2
    p = {**p, **pp}
    mask = random_mask(rng, B, T, p=0.2) if use_mask else None
    Rc, Rw = rng.standard_normal((B, 4)), rng.standard_normal((B, T))
    _, _, cache = nt.luong_local_attention_forward(h_t, h_s, score, p, D, "predictive", None, mask)
    assert far_from_edges(cache.p_t, D, T) and np.all((cache.p_t > 0) & (cache.p_t < T))
    g = nt.luong_local_attention_backward(Rc, cache, Rw)
    assert set(g) == {"h_t", "h_s", *p} and np.abs(g["v_p"]).sum() > 0
    check(lambda: nt.luong_local_attention_forward(h_t, h_s, score, p, D, "predictive", None, mask)[:2], (Rc, Rw),
          {"h_t": h_t, "h_s": h_s, **p}, g)


def test_local_matches_eq_10_window_and_no_renormalisation():
    rng = np.random.default_rng(5)
    h_t, h_s, p, _ = local_inputs(rng, "general", B=2, T=12)
    D, p_t = 3, np.array([1.0, 6.5])
    c, a, _ = nt.luong_local_attention_forward(h_t, h_s, "general", p, D, "monotonic", p_t)
    for b in range(2):
        s = np.arange(12)
        win = np.abs(s - p_t[b]) <= D              # closed window, cut at the sequence's ends
        e = h_s[b] @ (h_t[b] @ p["W_a"])
        align = np.where(win, np.exp(e - e[win].max()), 0)
        align /= align.sum()
        expect = align * np.exp(-(s - p_t[b]) ** 2 / (2 * (D / 2) ** 2))
        np.testing.assert_allclose(a[b], expect, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(c[b], expect @ h_s[b], rtol=1e-12)
    assert np.count_nonzero(a[0]) == 5 and np.count_nonzero(a[1]) == 6      # [−2, 4] ∩ [0, 11]; [3.5, 9.5]
    assert np.all(a.sum(axis=1) < 1)                                       # not renormalised (paper)


def test_local_predictive_position_is_S_sigmoid():
    rng = np.random.default_rng(6)
    h_t, h_s, _, pp = local_inputs(rng, "dot", T=9)
    _, _, cache = nt.luong_local_attention_forward(h_t, h_s, "dot", pp, 2, "predictive")
    np.testing.assert_allclose(cache.p_t, 9 / (1 + np.exp(-np.tanh(h_t @ pp["W_p"]) @ pp["v_p"])), rtol=1e-13)


# ---------------------------------------------------------------------------- attentional hidden state
@SETTINGS
@given(b=st.integers(1, 3), d_c=st.integers(1, 4), d_t=st.integers(1, 4), d_o=st.integers(1, 5), seed=st.integers(0, 99))
def test_attentional_hidden(b, d_c, d_t, d_o, seed):
    rng = np.random.default_rng(seed)
    c_t, h_t, W_c, R = (rng.standard_normal((b, d_c)), rng.standard_normal((b, d_t)),
                        rng.standard_normal((d_c + d_t, d_o)) / 2, rng.standard_normal((b, d_o)))
    out, cache = nt.attentional_hidden_forward(c_t, h_t, W_c)
    np.testing.assert_allclose(out, np.tanh(np.concatenate([c_t, h_t], 1) @ W_c), rtol=1e-14)
    g = nt.attentional_hidden_backward(R, cache)
    check(lambda: (nt.attentional_hidden_forward(c_t, h_t, W_c)[0],), (R,), {"c_t": c_t, "h_t": h_t, "W_c": W_c}, g)


def test_dtypes_float32_stays_float32():
    rng = np.random.default_rng(0)
    h_t, h_s, p, pp = local_inputs(rng, "concat")
    p32 = {k: v.astype(np.float32) for k, v in {**p, **pp}.items()}
    c, a, cache = nt.luong_local_attention_forward(h_t, h_s, "concat", p32, 2, "predictive")
    g = nt.luong_local_attention_backward(np.ones_like(c), cache, np.ones_like(a))
    assert c.dtype == a.dtype == np.float32 and all(v.dtype == np.float32 for v in g.values()), \
        {k: v.dtype for k, v in g.items()}


# ---------------------------------------------------------------------------- bad input
def test_bad_input_gets_clear_errors():
    rng = np.random.default_rng(0)
    h_t, h_s = rng.standard_normal((2, 3)), rng.standard_normal((2, 5, 3))
    W = rng.standard_normal((3, 3))
    fwd, local = nt.luong_attention_forward, nt.luong_local_attention_forward
    with pytest.raises(ValueError, match="unknown score 'additive'"):
        fwd(h_t, h_s, "additive", {})
    with pytest.raises(ValueError, match=r"needs params \['W_a'\]; missing \['W_a'\]"):
        fwd(h_t, h_s, "general", {})
    with pytest.raises(ValueError, match=r"unexpected \['W_a'\]"):
        fwd(h_t, h_s, "dot", {"W_a": W})
    with pytest.raises(ValueError, match=r"h_t must be \(batch, d_t\) and h_s \(batch, T, d_s\)"):
        fwd(h_t[0], h_s, "dot")
    with pytest.raises(ValueError, match="h_t has batch 1 but h_s has batch 2"):
        fwd(h_t[:1], h_s, "dot")
    with pytest.raises(ValueError, match="dot score needs d_t = d_s"):
        fwd(h_t[:, :2], h_s, "dot")
    with pytest.raises(ValueError, match=r"sizes do not fit.*'W_a': \(3, 4\)"):
        fwd(h_t, h_s, "general", {"W_a": rng.standard_normal((3, 4))})
    with pytest.raises(ValueError, match=r"sizes do not fit.*'W_a': \(5, 2\)"):
        fwd(h_t, h_s, "concat", {"W_a": rng.standard_normal((5, 2)), "v_a": np.ones(2)})
    nan = W.copy()
    nan[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"W_a holds NaN or inf \(1 of 9 entries\)"):
        fwd(h_t, h_s, "general", {"W_a": nan})
    with pytest.raises(TypeError, match="must share one float dtype"):
        fwd(h_t, h_s, "concat", {"W_a": np.ones((6, 2)), "v_a": np.ones(2, np.float32)})
    with pytest.raises(ValueError, match=r"mask row\(s\) \[1\] allow no position"):
        fwd(h_t, h_s, "dot", mask=np.array([[1, 0, 0, 0, 0], [0] * 5], bool))
    with pytest.raises(TypeError, match="mask must be boolean"):
        fwd(h_t, h_s, "dot", mask=np.ones((2, 5)))
    with pytest.raises(ValueError, match="positive integer"):
        local(h_t, h_s, "dot", {}, 0, "monotonic", 1)
    with pytest.raises(ValueError, match="unknown alignment 'fixed'"):
        local(h_t, h_s, "dot", {}, 2, "fixed", 1)
    with pytest.raises(ValueError, match="monotonic alignment needs p_t"):
        local(h_t, h_s, "dot", {}, 2, "monotonic")
    with pytest.raises(ValueError, match=r"missing \['W_p', 'v_p'\]"):
        local(h_t, h_s, "dot", {}, 2, "predictive")
    with pytest.raises(ValueError, match=r"p_t must be a scalar or \(batch,\)"):
        local(h_t, h_s, "dot", {}, 2, "monotonic", np.zeros(3))
    with pytest.raises(ValueError, match=r"row\(s\) \[1\] have no allowed position in the window"):
        local(h_t, h_s, "dot", {}, 2, "monotonic", np.array([1.0, 12.0]))
    with pytest.raises(ValueError, match=r"row\(s\) \[0\] have no allowed position in the window"):
        local(h_t, h_s, "dot", {}, 1, "monotonic", 0, np.array([[0, 0, 1, 1, 1], [1] * 5], bool))
    _, _, cache = fwd(h_t, h_s, "dot")
    with pytest.raises(ValueError, match=r"dcontext must be \(2, 3\)"):
        nt.luong_attention_backward(np.ones((2, 4)), cache)
    with pytest.raises(ValueError, match=r"dweights must be \(2, 5\)"):
        nt.luong_attention_backward(np.ones((2, 3)), cache, np.ones((2, 4)))
    with pytest.raises(ValueError, match="W_c must have d_c \\+ d_t = 3 \\+ 3 = 6 rows"):
        nt.attentional_hidden_forward(h_t, h_t, W)
    with pytest.raises(ValueError, match="c_t has batch 1 but h_t has batch 2"):
        nt.attentional_hidden_forward(h_t[:1], h_t, np.ones((6, 2)))


def test_exported_from_ops_and_the_top_level():
    from numpy_transformer import ops
    for name in ("luong_attention_forward", "luong_attention_backward", "luong_local_attention_forward",
                 "luong_local_attention_backward", "attentional_hidden_forward", "attentional_hidden_backward"):
        assert name in nt.__all__ and getattr(nt, name) is getattr(ops, name), name
