"""Loss, accuracy, position encoding, Adam, the warm-up schedule and clipping, each against an
independent formulation written out here."""
import math

import numpy as np
import pytest
from scipy.special import log_softmax

from numpy_transformer import (Adam, WarmupSchedule, clip_grad_norm, gradcheck, masked_accuracy,
                               positional_encoding)
from numpy_transformer import fast
from numpy_transformer.fast import ThreadedAdam
from numpy_transformer.ops import loss as plain_loss

# the plain cross-entropy (ops/loss.py) and the one-buffer version (fast/loss.py)
CROSS_ENTROPY = pytest.mark.parametrize("masked_cross_entropy", [plain_loss.masked_cross_entropy,
                                                                 fast.loss.masked_cross_entropy],
                                        ids=["plain", "fast"])


@pytest.mark.parametrize("eps", [0.0, 0.1])
@CROSS_ENTROPY
def test_masked_cross_entropy_value_and_gradient(rng, eps, masked_cross_entropy):
    logits = rng.standard_normal((3, 4, 7)) * 3
    labels = rng.integers(1, 7, (3, 4))
    labels[0, 2:] = labels[2, 1:] = 0
    loss, dlogits = masked_cross_entropy(logits, labels, pad_id=0, label_smoothing=eps)
    # reference: explicit smoothed one-hot targets and SciPy's log-softmax, loop over tokens
    lp = log_softmax(logits, axis=-1)
    terms = []
    for b, t in zip(*np.nonzero(labels != 0)):
        q = np.full(7, eps / 7)
        q[labels[b, t]] += 1 - eps
        terms.append(-(q * lp[b, t]).sum())
    assert loss == pytest.approx(np.mean(terms), rel=1e-12)
    assert np.all(dlogits[labels == 0] == 0)
    gradcheck(lambda: masked_cross_entropy(logits, labels, 0, eps)[0], {"z": logits}, {"z": dlogits})


@CROSS_ENTROPY
def test_cross_entropy_is_stable_for_huge_logits_and_rejects_all_padding(masked_cross_entropy):
    logits = np.array([[[1000.0, 0.0, -1000.0]]], dtype=np.float32)
    loss, d = masked_cross_entropy(logits, np.array([[2]]), pad_id=0)
    assert loss == pytest.approx(2000.0) and np.all(np.isfinite(d)) and d.dtype == np.float32
    with pytest.raises(ValueError, match="every label is padding"):
        masked_cross_entropy(logits, np.array([[0]]))
    with pytest.raises(ValueError, match="do not fit"):
        masked_cross_entropy(logits, np.array([[1, 2]]))
    with pytest.raises(ValueError, match="outside"):
        masked_cross_entropy(logits, np.array([[3]]))


def test_masked_accuracy_ignores_padding():
    logits = np.eye(4)[[[1, 2, 3, 0], [2, 2, 0, 0]]]   # argmax = those ids
    labels = np.array([[1, 2, 1, 0], [2, 3, 0, 0]])
    assert masked_accuracy(logits, labels) == pytest.approx(3 / 5)


def test_positional_encoding_matches_the_papers_formula():
    P = positional_encoding(50, 16, n=10000, dtype=np.float64)
    ref = np.zeros((50, 16))
    for k in range(50):                       # the book's loop, written out
        for i in range(8):
            denom = 10000 ** (2 * i / 16)
            ref[k, 2 * i] = math.sin(k / denom)
            ref[k, 2 * i + 1] = math.cos(k / denom)
    np.testing.assert_allclose(P, ref, rtol=0, atol=1e-14)
    assert positional_encoding(3, 5).dtype == np.float32
    assert positional_encoding(3, 5, dtype=np.float64)[1, 4] == pytest.approx(math.sin(1 / 10000 ** 0.8))


def test_warmup_schedule():
    s = WarmupSchedule(512, 4000)
    assert s(4000) == pytest.approx(512 ** -0.5 * 4000 ** -0.5)   # the peak, where both arms meet
    assert s(1) == pytest.approx(512 ** -0.5 * 4000 ** -1.5)      # the book's step 0 gave 0
    assert s(2000) == pytest.approx(s(1) * 2000)                  # linear warm-up
    assert s(16000) == pytest.approx(s(4000) / 2)                 # 1/sqrt decay
    with pytest.raises(ValueError, match="count from 1"):
        s(0)


def _paper_adam(theta, grads, lr, b1, b2, eps, steps):
    """Algorithm 1 of Kingma & Ba with ε on sqrt(v̂). Keras' form equals it with
    ε_t = ε / sqrt(1 − β2^t), which is what this reference uses."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t in range(1, steps + 1):
        g = grads[t - 1]
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        theta = theta - lr(t) * mhat / (np.sqrt(vhat) + eps / math.sqrt(1 - b2 ** t))
    return theta


def test_adam_matches_the_paper_form_with_kerass_epsilon_placement(rng):
    theta0 = rng.standard_normal((5, 3))
    grads = [rng.standard_normal((5, 3)) * 1e-3 for _ in range(12)]
    sched = WarmupSchedule(64, 4)
    opt = Adam(sched, 0.9, 0.98, eps=1e-3)   # a large ε so its placement matters
    params = {"w": theta0.copy()}
    for g in grads:
        opt.step(params, {"w": g.copy()})
    ref = _paper_adam(theta0, grads, sched, 0.9, 0.98, 1e-3, 12)
    np.testing.assert_allclose(params["w"], ref, rtol=1e-12, atol=1e-15)
    wrong = _paper_adam(theta0, grads, sched, 0.9, 0.98, 1e-3 * math.sqrt(1 - 0.98), 12)
    assert not np.allclose(params["w"], wrong, rtol=1e-6, atol=0)   # placement is observable


def test_adam_state_round_trip_continues_identically(rng):
    p1 = {"w": rng.standard_normal(4)}
    p2 = {"w": p1["w"].copy()}
    gs = [rng.standard_normal(4) for _ in range(6)]
    a = Adam(1e-2)
    for g in gs[:3]:
        a.step(p1, {"w": g.copy()})
    b = Adam(1e-2)
    b.load_state_dict(a.state_dict())
    p2["w"] = p1["w"].copy()
    for g in gs[3:]:
        a.step(p1, {"w": g.copy()})
        b.step(p2, {"w": g.copy()})
    assert np.array_equal(p1["w"], p2["w"]) and b.t == 6


def test_clip_grad_norm(rng):
    g = {"a": rng.standard_normal(3), "b": rng.standard_normal((2, 2))}
    total = math.sqrt(sum((x ** 2).sum() for x in g.values()))
    before = {k: v.copy() for k, v in g.items()}
    assert clip_grad_norm(g, total * 2) == pytest.approx(total)
    assert all(np.array_equal(g[k], before[k]) for k in g)        # under the limit: untouched
    clip_grad_norm(g, 0.5)
    assert math.sqrt(sum((x ** 2).sum() for x in g.values())) == pytest.approx(0.5)
    assert np.allclose(g["a"] / before["a"], 0.5 / total)         # direction kept
    with pytest.raises(FloatingPointError, match="NaN"):
        clip_grad_norm({"a": np.array([np.nan])}, 1.0)


def _keras_form_adam(theta, grads, lr, b1, b2, eps):
    """The docstring's update written plainly (whole tensors, no slicing, no threads)."""
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        dt = theta.dtype.type
        alpha = dt(lr) * np.sqrt(dt(1) - dt(b2) ** dt(t)) / (dt(1) - dt(b1) ** dt(t))
        m = m + (g - m) * (dt(1) - dt(b1))
        v = v + (g * g - v) * (dt(1) - dt(b2))
        theta = theta - (m * alpha) / (np.sqrt(v) + dt(eps))
    return theta


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_slices_and_threads_do_not_change_the_update(rng, dtype, monkeypatch):
    """ThreadedAdam runs in place on slices of fast.adam.CHUNK elements across threads; the result
    must be bit-identical to the plain whole-tensor formula whatever the slicing and the
    thread count, also for non-contiguous gradients (split views) and parameters (views)."""
    monkeypatch.setattr(fast.adam, "CHUNK", 7)           # many slices, ragged last slice
    big = rng.standard_normal((6, 10)).astype(dtype)
    shapes = {"a": (5, 9), "b": (13,), "c": (3, 4, 2)}
    theta0 = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    theta0["view"] = big[:, ::2]                      # a non-contiguous parameter
    grads = [{k: rng.standard_normal(v.shape).astype(dtype) for k, v in theta0.items()} for _ in range(5)]
    for g in grads:
        g["a"] = np.split(rng.standard_normal((5, 18)).astype(dtype), 2, axis=1)[1]   # strided view
    results = []
    for threads in (None, 1, 3):   # None: the plain Adam of ops/optim.py
        params = {k: v.copy() for k, v in theta0.items()}
        params["view"] = big.copy()[:, ::2]
        opt = Adam(1e-2, 0.9, 0.98, 1e-7) if threads is None else ThreadedAdam(1e-2, 0.9, 0.98, 1e-7, threads=threads)
        for g in grads:
            opt.step(params, g)
        results.append(params)
    for k in theta0:
        ref = _keras_form_adam(theta0[k], [g[k] for g in grads], 1e-2, 0.9, 0.98, 1e-7)
        assert results[0][k].dtype == dtype
        assert np.array_equal(results[0][k], ref), k
        assert np.array_equal(results[1][k], ref), k
        assert np.array_equal(results[2][k], ref), k


def test_adam_rejects_a_mis_shaped_gradient():
    with pytest.raises(ValueError, match="gradient of w has shape"):
        Adam(1e-2).step({"w": np.zeros((2, 3))}, {"w": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="threads"):
        ThreadedAdam(1e-2, threads=0)


def _subnormal(a):
    return int(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_flushes_decaying_moments_before_they_turn_subnormal(dtype):
    """An entry that stops receiving gradient sees m, v decay geometrically; without the flush
    m would sit in the (slow) subnormal range for ~150 steps. Entries still in use are untouched."""
    optim = fast.adam
    fi = np.finfo(dtype)
    thr = fi.tiny / fi.eps
    params = {"w": np.ones(4, dtype)}
    opt = ThreadedAdam(1e-3, 0.9, 0.98, 1e-7, threads=1)
    opt.step(params, {"w": np.ones(4, dtype)})               # t = 1: every entry has m, v > 0
    opt.m["w"][:2] = dtype(thr) * 4       # two entries about to decay past tiny/eps (m: ×0.9 a step,
    opt.v["w"][:2] = dtype(thr) * 1.2     # v: ×0.98 a step, 0.98^15 ≈ 0.74)
    g = np.array([0, 0, 1e-3, 1e-3], dtype)                   # entries 0, 1 no longer get gradient
    ref_m, ref_v = opt.m["w"].copy(), opt.v["w"].copy()
    for t in range(2, optim.FLUSH_EVERY + 1):
        opt.step(params, {"w": g.copy()})
        ref_m += (g - ref_m) * (dtype(1) - dtype(0.9))
        ref_v += (g * g - ref_v) * (dtype(1) - dtype(0.98))
    assert opt.t == optim.FLUSH_EVERY
    for ref in (ref_m, ref_v):                 # the plain formula: tiny but non-zero
        assert np.all(ref[:2] > 0) and np.all(ref[:2] < thr)
    assert np.all(opt.m["w"][:2] == 0) and np.all(opt.v["w"][:2] == 0)
    assert np.array_equal(opt.m["w"][2:], ref_m[2:]) and np.array_equal(opt.v["w"][2:], ref_v[2:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_confident_softmax_and_cross_entropy_give_no_subnormals(dtype):
    """exp(−95) is subnormal in float32; a subnormal in p or dlogits makes every GEMM it enters
    many times slower. Such entries are zeroed (they are < tiny/eps, below the dtype's precision)."""
    from numpy_transformer.fast.attention import softmax_forward_inplace as softmax_forward
    masked_cross_entropy = fast.loss.masked_cross_entropy
    gap = dtype(95.0) if dtype == np.float32 else dtype(720.0)
    x = np.array([[0.0, -gap, -1.0], [-gap, 0.0, -gap / 2]], dtype)
    p = softmax_forward(x)
    assert _subnormal(p) == 0 and p[0, 1] == 0 and p[1, 0] == 0
    np.testing.assert_allclose(p[0, [0, 2]], np.exp([0, -1]) / (1 + np.exp(-1)), rtol=1e-6)
    logits = np.array([[[0.0, -gap, -1.0], [-gap, 0.0, -1.0]]], dtype) * dtype(1.0)
    _, d = masked_cross_entropy(logits, np.array([[2, 2]]), pad_id=0)
    assert _subnormal(d) == 0 and d[0, 0, 1] == 0
    assert d.dtype == dtype
