# %% [markdown]
# # 2 · The Transformer's ops by hand (the book's chapters 10–11, 13–15)
#
# The pieces of *Attention Is All You Need*, one at a time: the masked softmax, layer
# normalization, scaled dot-product attention, multi-head attention and the sinusoidal position
# encoding. For each: the forward equation, the derivation of its backward (the same as the
# op's docstring), the package's gradient checked against central finite differences in
# float64 and — where Keras is installed — against the Keras twin's autodiff with identical
# weights. Along the way: why the key projection's bias never receives a gradient, and the
# masks, drawn.
#
# **Read next:** `numpy_transformer/ops/softmax.py`, `ops/layernorm.py`, `ops/attention.py`
# (`sdpa_*`, `mha_*`, masks, `KVCache`), `ops/embedding.py`, `ops/gradcheck.py`, and their
# Keras twins in `keras_transformer/attention.py` and `keras_transformer/layers.py`; the
# parity tests that run all of this for every layer are `parity_tests/test_numpy_grads.py` and
# `parity_tests/test_keras_layers.py`.

# %%
import os

import numpy as np
import matplotlib.pyplot as plt
from threadpoolctl import threadpool_limits

from numpy_transformer import causal_mask, gradcheck, padding_mask, positional_encoding
from numpy_transformer.config.tree import flatten, unflatten
from numpy_transformer.ops import (layernorm_backward, layernorm_forward, mha_backward, mha_forward,
                                   sdpa_backward, sdpa_forward, softmax_backward, softmax_forward)
from numpy_transformer.ops.gradcheck import numerical_gradient, rel_error

threadpool_limits(1)                     # tiny matrices: BLAS threads would only wait for each other
rng = np.random.default_rng(0)


def show(report, zero=()):
    """One line per checked tensor (gradcheck has raised already if any disagreed). `zero`: tensors
    whose exact gradient is 0, where a relative error compares two rounding noises and means nothing."""
    for name, (rel, max_abs) in report.items():
        rel_text = "exact gradient 0   " if name in zero else f"relative error {rel:.1e}"
        print(f"  d{name:<10} {rel_text}   max |numerical − analytic| {max_abs:.1e}")


# %% [markdown]
# **The Keras twin.** If Keras 3 is installed (the `[keras]` extra), the same computation runs
# through `keras_transformer` and its gradient comes from TensorFlow's autodiff
# (`GradientTape`) with the same upstream gradient. The comparisons below need the TensorFlow
# backend (float64 runs in float64 only there); with another backend, or without Keras, they
# are skipped and the finite-difference checks still run. The parity suite covers JAX and
# PyTorch too.

# %%
from numpy_transformer.training.keras_import import quiet_tensorflow   # hides TensorFlow's start-up log

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
try:
    with quiet_tensorflow():
        import keras
        HAVE_KERAS = keras.backend.backend() == "tensorflow"
        if HAVE_KERAS:
            import tensorflow as tf
            import keras_transformer as kt
except ImportError:
    HAVE_KERAS = False
if HAVE_KERAS:

    def keras_vjp(fn, inputs, dy, variables=()):
        """y = fn(*inputs) and the gradients of <y, dy> w.r.t. the inputs and the variables."""
        xs = [tf.constant(a) for a in inputs]
        with tf.GradientTape() as tape:
            tape.watch(xs)
            y = fn(*xs)
        grads = tape.gradient(y, xs + list(variables), output_gradients=tf.constant(dy))
        return y.numpy(), [g.numpy() for g in grads]
print("Keras comparisons:", f"on (Keras {keras.__version__}, TensorFlow {tf.__version__})" if HAVE_KERAS
      else "skipped (no Keras with the TensorFlow backend)")

# %% [markdown]
# ## Masks, drawn
#
# Masks are boolean, **True = may attend** (Keras' convention; the book adds $-10^9$ where its
# inverse mask is 1). `padding_mask(ids)` is $(B, 1, 1, T)$ over the keys; `causal_mask(T)` is
# lower-triangular (query $t$ sees keys $0 \dots t$); the decoder's self-attention uses their
# conjunction. Here a batch of two target sequences, the second with two padding tokens:

# %%
tgt_ids = np.array([[5, 7, 3, 9, 4, 2], [6, 8, 4, 2, 0, 0]])          # 0 = <pad>
masks = {"padding_mask(ids)[1]": np.broadcast_to(padding_mask(tgt_ids)[1, 0], (6, 6)),
         "causal_mask(6)": causal_mask(6),
         "decoder self-attention, sequence 2": (causal_mask(6) & padding_mask(tgt_ids))[1, 0]}
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
for ax, (title, m) in zip(axes, masks.items()):
    ax.imshow(m, cmap="Greys_r", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9); ax.set_xlabel("key position"); ax.set_xticks(range(6)); ax.set_yticks(range(6))
axes[0].set_ylabel("query position")
plt.suptitle("white = may attend", fontsize=9); plt.tight_layout(); plt.show()

# %% [markdown]
# ## Softmax
#
# Over the last axis, masked entries set to $-\infty$ (so their probability is exactly 0):
#
# $$p_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \qquad m = \max_j x_j$$
#
# (subtracting the row maximum keeps $e^x$ finite and cancels in the ratio). The Jacobian is
# $\partial p_i / \partial x_j = p_i(\delta_{ij} - p_j)$, so for an upstream gradient $dp$
#
# $$dx_j = \sum_i dp_i\, p_i(\delta_{ij} - p_j) = p_j\Big(dp_j - \sum_i dp_i\, p_i\Big).$$
#
# Masked entries have $p_j = 0$ and get no gradient; and $\sum_j dx_j = 0$, because adding a
# constant to a whole row does not change the softmax. Check it with $L = \sum p \odot R$ on a
# masked batch:

# %%
x = rng.standard_normal((3, 2, 5))
mask = rng.random((3, 2, 5)) > 0.3
mask[..., 0] = True                                  # every row keeps at least one entry
R = rng.standard_normal(x.shape)
p = softmax_forward(x, mask)
dx = softmax_backward(R, p)
show(gradcheck(lambda: float(np.sum(softmax_forward(x, mask) * R)), {"x": x}, {"x": dx}))
print(f"masked entries: max |p| = {np.abs(p[~mask]).max()}, max |dx| = {np.abs(dx[~mask]).max()};  "
      f"largest |row sum of dx| = {np.abs(dx.sum(-1)).max():.1e}")
if HAVE_KERAS:                                        # keras.ops.softmax has no mask: compare unmasked
    y, (gx,) = keras_vjp(lambda a: keras.ops.softmax(a, axis=-1), [x], R)
    print(f"Keras: p relative error {rel_error(y, softmax_forward(x)):.1e}, "
          f"dx relative error {rel_error(gx, softmax_backward(R, softmax_forward(x))):.1e}")

# %% [markdown]
# ## Layer normalization
#
# Over the $N$ features of each position (biased variance, as in Keras and PyTorch):
#
# $$\mu = \tfrac1N \textstyle\sum_i x_i,\quad \sigma^2 = \tfrac1N \sum_i (x_i - \mu)^2,\quad
# r = (\sigma^2 + \epsilon)^{-1/2},\quad \hat x = (x - \mu)\, r,\quad y = \gamma \odot \hat x + \beta.$$
#
# $d\beta = \sum dy$ and $d\gamma = \sum dy \odot \hat x$ (sums over every position). For the
# input, write $g = dy \odot \gamma$. Each $\hat x_j$ depends on every $x_i$ of its row through
# $\mu$ and $\sigma^2$: with $\partial\mu/\partial x_i = 1/N$ and
# $\partial r/\partial x_i = -r^2 \hat x_i / N$,
#
# $$\frac{\partial \hat x_j}{\partial x_i} = r\Big(\delta_{ij} - \frac1N - \frac{\hat x_i \hat x_j}{N}\Big)
# \quad\Longrightarrow\quad
# dx = \frac{r}{N}\Big(N g - \sum_j g_j - \hat x \sum_j g_j \hat x_j\Big).$$

# %%
N_FEAT, EPS = 8, 1e-6
x = rng.standard_normal((2, 3, N_FEAT)) * 2 + 1
gamma, beta = 1 + 0.3 * rng.standard_normal(N_FEAT), 0.3 * rng.standard_normal(N_FEAT)
R = rng.standard_normal(x.shape)
y, cache = layernorm_forward(x, gamma, beta, EPS)
dx, dgamma, dbeta = layernorm_backward(R, cache, gamma)
f = lambda: float(np.sum(layernorm_forward(x, gamma, beta, EPS)[0] * R))      # noqa: E731
show(gradcheck(f, {"x": x, "gamma": gamma, "beta": beta}, {"x": dx, "gamma": dgamma, "beta": dbeta}))
if HAVE_KERAS:
    ln = keras.layers.LayerNormalization(epsilon=EPS, dtype="float64")
    ln.build(x.shape)
    ln.gamma.assign(gamma); ln.beta.assign(beta)
    ky, (kx, kg, kb) = keras_vjp(ln, [x], R, [ln.gamma, ln.beta])
    print("Keras LayerNormalization, same γ, β: relative errors "
          f"y {rel_error(ky, y):.1e}, dx {rel_error(kx, dx):.1e}, dγ {rel_error(kg, dgamma):.1e}, "
          f"dβ {rel_error(kb, dbeta):.1e}")

# %% [markdown]
# ## Scaled dot-product attention
#
# $$S = \frac{Q K^\top}{\sqrt{d_k}} \ (\text{masked}),\qquad P = \mathrm{softmax}(S),\qquad O = P V.$$
#
# The $1/\sqrt{d_k}$ keeps the scores' variance near one when $q$ and $k$ have unit-variance
# entries (a dot product of $d_k$ terms has variance $d_k$), so the softmax does not saturate.
# Every step is a matrix product, whose gradient is the upstream gradient times the other
# factor transposed, plus the softmax's backward:
#
# $$dV = P^\top dO,\quad dP = dO\, V^\top,\quad dS = \mathrm{softmax\_backward}(dP, P),\quad
# dQ = \frac{dS\, K}{\sqrt{d_k}},\quad dK = \frac{dS^\top Q}{\sqrt{d_k}}.$$
#
# Checked with the decoder's causal mask, two heads, batch two:

# %%
B, H_HEADS, T, D_K = 2, 2, 5, 4
q, k, v = (rng.standard_normal((B, H_HEADS, T, D_K)) for _ in range(3))
dO = rng.standard_normal((B, H_HEADS, T, D_K))
mask = causal_mask(T)
O, cache = sdpa_forward(q, k, v, mask)
dq, dk, dv = sdpa_backward(dO, cache)
f = lambda: float(np.sum(sdpa_forward(q, k, v, mask)[0] * dO))               # noqa: E731
show(gradcheck(f, {"q": q, "k": k, "v": v}, {"q": dq, "k": dk, "v": dv}))
if HAVE_KERAS:
    layer = kt.DotProductAttention(dtype="float64")
    ky, (kq, kk, kv) = keras_vjp(lambda a, b, c: layer(a, b, c, mask), [q, k, v], dO)
    print(f"Keras DotProductAttention: relative errors O {rel_error(ky, O):.1e}, dQ {rel_error(kq, dq):.1e}, "
          f"dK {rel_error(kk, dk):.1e}, dV {rel_error(kv, dv):.1e}")

fig, axes = plt.subplots(1, 2, figsize=(6, 2.8))
for h_, ax in enumerate(axes):
    ax.imshow(cache.weights[0, h_], cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"P, head {h_} (causal)", fontsize=9); ax.set_xlabel("key"); ax.set_ylabel("query")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## Multi-head attention
#
# $$\mathrm{MultiHead}(x_q, x_{kv}) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\, W_O + b_O,\qquad
# \mathrm{head}_i = \mathrm{Attention}(x_q W_Q^i + b_Q^i,\ x_{kv} W_K^i + b_K^i,\ x_{kv} W_V^i + b_V^i).$$
#
# The $h$ heads' $(d_{model}, d_k)$ matrices $W_Q^i$ sit side by side in one
# $(d_{model}, h\,d_k)$ matrix $W_Q$, so splitting into heads is a reshape, and so is its
# gradient. Head $i$'s query gradient $dQ_i$ gives $dW_Q^i = x_q^\top dQ_i$ and
# $db_Q^i = \sum_{\text{rows}} dQ_i$; putting the heads' columns back side by side,
#
# $$dW_Q = x_q^\top \mathrm{Concat}(dQ_1, \dots, dQ_h),\quad dW_K = x_{kv}^\top \mathrm{Concat}(dK_i),\quad
# dW_V = x_{kv}^\top \mathrm{Concat}(dV_i),$$
#
# and in self-attention ($x_{kv} = x_q = x$) the input collects all three paths:
# $dx = dQ\, W_Q^\top + dK\, W_K^\top + dV\, W_V^\top$. Checked on every weight, bias and the
# input of a self-attention block with $d_{model} = 8$, two heads and a causal mask:

# %%
D_MODEL, HEADS = 8, 2
params = unflatten({f"{w}.{kind}": rng.standard_normal((D_MODEL, D_MODEL) if kind == "weight" else D_MODEL) * 0.5
                    for w in ("wq", "wk", "wv", "wo") for kind in ("weight", "bias")})   # params.wq.weight, …
x = rng.standard_normal((B, T, D_MODEL))
R = rng.standard_normal((B, T, D_MODEL))
out, cache = mha_forward(x, None, params, HEADS, mask)
dx, _, grads = mha_backward(R, cache, params)         # a gradient tree shaped like params
f = lambda: float(np.sum(mha_forward(x, None, params, HEADS, mask)[0] * R))   # noqa: E731
show(gradcheck(f, {"x": x, **flatten(params)}, {"x": dx, **flatten(grads)}), zero=("wk.bias",))
if HAVE_KERAS:
    layer = kt.MultiHeadAttention(HEADS, D_MODEL, dtype="float64")
    layer.build()
    variables = layer.variable_map()                  # the shared names -> Keras variables
    for name, var in variables.items():
        var.assign(flatten(params)[name])
    ky, (kx, *kg) = keras_vjp(lambda a: layer(a, a, a, mask), [x], R, list(variables.values()))
    worst = max(rel_error(g, flatten(grads)[n]) for n, g in zip(variables, kg) if n != "wk.bias")
    print(f"Keras MultiHeadAttention, same weights: relative errors out {rel_error(ky, out):.1e}, "
          f"dx {rel_error(kx, dx):.1e}, worst parameter {worst:.1e} (d wk.bias: see below)")

# %% [markdown]
# ### Why the key bias gets a zero gradient
#
# Adding $b_K$ to every key changes query $t$'s score with key $j$ by
# $q_t \cdot b_K / \sqrt{d_k}$ — the same amount for every $j$. Softmax is invariant to a
# per-row constant, so the output does not depend on $b_K$ at all. In the formulas:
#
# $$db_K^i = \sum_j dK_{ij} = \frac{1}{\sqrt{d_k}} \sum_j \sum_t dS_{tj}\, q_t
# = \frac{1}{\sqrt{d_k}} \sum_t q_t \Big(\sum_j dS_{tj}\Big) = 0,$$
#
# because every row of $dS$ sums to zero (the softmax property above). Numerically: the
# analytic gradient, the finite differences, Keras' autodiff, and what moving $b_K$ by a large
# amount does to the output:

# %%
print(f"|db_Q| (for scale)              {np.abs(grads.wq.bias).max():.2e}")
print(f"|db_K| analytic                 {np.abs(grads.wk.bias).max():.2e}   (rounding only)")
print(f"|db_K| finite differences       {np.abs(numerical_gradient(f, params.wk.bias)).max():.2e}"
      "   (the finite differences' noise floor)")
if HAVE_KERAS:
    print(f"|db_K| Keras autodiff           {np.abs(kg[list(variables).index('wk.bias')]).max():.2e}")
moved = unflatten(dict(flatten(params), **{"wk.bias": params.wk.bias + 10.0}))
print(f"output change after b_K += 10   {np.abs(mha_forward(x, None, moved, HEADS, mask)[0] - out).max():.2e}")

# %% [markdown]
# (The book's Keras layers and PyTorch keep $b_K$ anyway; so do we, for identical parameter
# names across backends — it simply never moves.)
#
# ## Positional encoding
#
# Attention is blind to order, so position $k$ gets a fixed vector added to its embedding
# (the paper, section 3.5):
#
# $$PE_{k, 2i} = \sin\!\big(k / 10000^{2i/d}\big), \qquad PE_{k, 2i+1} = \cos\!\big(k / 10000^{2i/d}\big).$$
#
# Each pair of columns is a sinusoid of its own wavelength ($2\pi$ to $10000 \cdot 2\pi$), so
# $PE_{k+\phi}$ is a rotation of $PE_k$ pair by pair — a linear function of it — and the dot
# product $PE_k \cdot PE_{k'}$ depends only on $k - k'$. It has no parameters, so no backward of
# its own: `embed_backward` sends the gradient to the word embedding alone
# ($x = E[\mathrm{ids}]\sqrt{d_{model}} + PE$).

# %%
pe = positional_encoding(64, 128, dtype=np.float64)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1.7, 1]})
im = axes[0].imshow(pe, aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
axes[0].set_xlabel("dimension"); axes[0].set_ylabel("position k"); axes[0].set_title("PE (64 positions, d = 128)", fontsize=9)
plt.colorbar(im, ax=axes[0])
im = axes[1].imshow(pe @ pe.T, cmap="viridis")
axes[1].set_xlabel("position k'"); axes[1].set_ylabel("position k"); axes[1].set_title(r"$PE_k \cdot PE_{k'}$: a function of $k - k'$", fontsize=9)
plt.colorbar(im, ax=axes[1]); plt.tight_layout(); plt.show()
if HAVE_KERAS:
    print("Keras' table equals NumPy's bit for bit:",
          np.array_equal(kt.positional_encoding(64, 128, dtype="float64"), pe))

# %% [markdown]
# Every op of the encoder and decoder layers is checked this way in the test suite, in float64
# and float32, and the whole model's gradient too (`parity_tests/test_numpy_grads.py`,
# `test_keras_layers.py`, `test_keras_model.py`). Notebook 3 trains the model these ops make.
