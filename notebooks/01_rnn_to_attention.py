# %% [markdown]
# # 1 · From RNNs to attention (the book's chapters 4–9)
#
# A simple recurrent layer and its backpropagation through time, checked live against finite
# differences; how far back a gradient reaches; then the attention mechanisms that came before
# the Transformer — Bahdanau's additive attention and Luong's global and local attention —
# trained side by side on a task that needs alignment (reversing a sequence), and the
# alignments they learn, drawn.
#
# Everything here calls the package's ops; the notebook only wires them together.
# **Read next:** `numpy_transformer/ops/rnn.py` (SimpleRNN, BPTT), `ops/bahdanau.py`,
# `ops/luong.py` (global, local, the attentional state), `ops/gradcheck.py`,
# `models/rnn_translator.py` (the full GRU + Luong translator) and `docs/rnn_attention.md`.

# %%
import numpy as np
import matplotlib.pyplot as plt
from threadpoolctl import threadpool_limits

from numpy_transformer import gradcheck, simple_rnn_forward, simple_rnn_backward
from numpy_transformer.ops import (Adam, attentional_hidden_backward, attentional_hidden_forward,
                                   bahdanau_attention_backward, bahdanau_attention_forward, embedding_backward,
                                   linear_backward, linear_forward, luong_attention_backward,
                                   luong_attention_forward, luong_local_attention_backward,
                                   luong_local_attention_forward, masked_cross_entropy)

# These matrices are tiny (tens of rows): several BLAS threads only add synchronisation, and on
# a busy machine they wait for each other (measured 15x slower here with 2 threads).
threadpool_limits(1)
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## The simple RNN and backpropagation through time
#
# With inputs $x_t \in \mathbb{R}^D$, state $h_t \in \mathbb{R}^H$ and Keras' `SimpleRNN` layout
# ($W_x$ its `kernel`, $W_h$ its `recurrent_kernel`):
#
# $$a_t = x_t W_x + h_{t-1} W_h + b, \qquad h_t = \tanh(a_t), \qquad t = 1 \dots T.$$
#
# A loss $L$ reads the states; write $dh_t = \partial L / \partial h_t$ for its direct
# gradient. The state $h_t$ reaches the loss directly *and* through $h_{t+1}$, so going
# backwards from $t = T$ with $g_{T+1} = 0$:
#
# $$\hat g_t = dh_t + g_{t+1}, \qquad da_t = \hat g_t \odot (1 - h_t^2), \qquad g_t = da_t\, W_h^\top,$$
#
# ($\tanh' = 1 - \tanh^2$). The weights are shared by all steps, so their gradients sum over
# time — one matrix product each once the $da_t$ are known:
#
# $$dW_x = \sum_t x_t^\top da_t, \quad dW_h = \sum_t h_{t-1}^\top da_t, \quad db = \sum_t da_t,
# \quad dx_t = da_t W_x^\top, \quad dh_0 = g_1.$$
#
# `simple_rnn_backward` is exactly this. Check it: central finite differences of
# $L = \sum_t \langle h_t, R_t \rangle$ (a random $R$ makes every state count) in float64,
# against the hand-written gradient, for every input and weight. `gradcheck` raises if any
# tensor is off by more than the finite differences' own noise.

# %%
rng = np.random.default_rng(0)
B, T, D, H = 2, 6, 3, 4
x, h0 = rng.standard_normal((B, T, D)), rng.standard_normal((B, H))
W_x, W_h, b = rng.standard_normal((D, H)) * 0.5, rng.standard_normal((H, H)) * 0.5, rng.standard_normal(H) * 0.1
R = rng.standard_normal((B, T, H))

h, cache = simple_rnn_forward(x, h0, W_x, W_h, b)
analytic = simple_rnn_backward(R, cache)          # dL/dh_t = R_t
inputs = {"x": x, "h0": h0, "W_x": W_x, "W_h": W_h, "b": b}
report = gradcheck(lambda: float(np.sum(simple_rnn_forward(x, h0, W_x, W_h, b)[0] * R)), inputs, analytic)
for name, (rel, max_abs) in report.items():
    print(f"d{name:<4} relative error {rel:.1e}   max |numerical − analytic| {max_abs:.1e}")

# %% [markdown]
# ## How far back does a gradient reach?
#
# Put the loss on the last state only ($dh_t = 0$ for $t < T$) and look at
# $\lVert \partial L / \partial x_t \rVert$. Each step back multiplies by
# $\operatorname{diag}(1 - h_t^2)\, W_h^\top$: with a recurrent matrix of spectral radius below one
# the signal from early inputs fades geometrically (the *vanishing gradient* that motivated
# LSTMs, GRUs — and attention, which gives every step a direct path).

# %%
T_long, H_long = 40, 16
x = rng.standard_normal((1, T_long, 4))
W_x = rng.standard_normal((4, H_long)) * 0.5
Q, _ = np.linalg.qr(rng.standard_normal((H_long, H_long)))     # orthogonal: every singular value 1
fig, ax = plt.subplots(figsize=(6, 3))
for radius in (0.5, 0.9, 1.2):
    _, cache = simple_rnn_forward(x, None, W_x, radius * Q, np.zeros(H_long))
    dh = np.zeros((1, T_long, H_long))
    dh[:, -1] = 1.0                                           # L = sum of the last state
    dx = simple_rnn_backward(dh, cache)["x"][0]
    ax.semilogy(np.arange(T_long), np.linalg.norm(dx, axis=1), label=f"$W_h$ = {radius} · orthogonal")
ax.set_xlabel("input step t"); ax.set_ylabel(r"$\|\partial L/\partial x_t\|$")
ax.set_title("the loss reads $h_T$ only: what reaches each input"); ax.legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# ## Attention on a task that needs alignment: reversing a sequence
#
# The source is $S = 10$ random tokens, the target the same tokens reversed, so target step $t$
# must read source position $S - 1 - t$. The model, built from the package's ops:
#
# * **encoder** — the simple RNN above over $[E[x_s];\ \mathrm{onehot}(s)]$ (a word embedding
#   and the position), giving states $\bar h_s$;
# * **decoder**, reduced to what attention needs: a learned query $q_t$ per target step (no
#   recurrence, so the alignment is the only thing that can solve the task);
# * **attention** — one of the four below — gives weights $a_t(s)$ and the context
#   $c_t = \sum_s a_t(s)\, \bar h_s$;
# * Luong's **attentional state** $\tilde h_t = \tanh([c_t; q_t]\, W_c)$ and the logits
#   $\tilde h_t W_o + b_o$, trained with cross-entropy and Adam (`ops.optim.Adam`).
#
# | attention | score of source position $s$ for target step $t$ | weights |
# |---|---|---|
# | Bahdanau (2015) | $e_{ts} = v_a^\top \tanh(q_t W_a + \bar h_s U_a)$ | $\alpha_t = \mathrm{softmax}(e_t)$ |
# | Luong global, *general* | $e_{ts} = q_t^\top W_a \bar h_s$ | $\alpha_t = \mathrm{softmax}(e_t)$ |
# | Luong local-m | the same score, inside the window $\lvert s - p_t\rvert \le D$, $p_t = t$ | $a_t(s) = \alpha_t(s)\, \exp\!\big(-\tfrac{(s - p_t)^2}{2\sigma^2}\big)$, $\sigma = D/2$ |
# | Luong local-p | as local-m with a predicted centre $p_t = S \cdot \mathrm{sigmoid}(v_p^\top \tanh(q_t W_p))$ | as local-m |
#
# Local-m assumes monotonic alignment ($p_t = t$), which reversal breaks on purpose. Local-p
# has to *learn* $p_t$, and its only gradient comes through the Gaussian:
# $\partial a_t(s)/\partial p_t = a_t(s)\,(s - p_t)/\sigma^2$ (window membership is a step
# function). The hand-written backward of each is in its op; here we only route gradients
# between the ops (the attention sees the $B \cdot S$ (sequence, target step) pairs as one batch,
# so the gradient of the encoder states is summed over the target steps).

# %%
V, S, E, HID, D_WIN = 16, 10, 16, 32, 3          # vocabulary (ids 4..15 are tokens), length, sizes, window
ATTN_PARAMS = {"bahdanau": ("W_a", "U_a", "v_a"), "luong": ("W_a",), "local-m": ("W_a",),
               "local-p": ("W_a", "W_p", "v_p")}


def reversal_batch(rng, n):
    src = rng.integers(4, V, (n, S))
    return src, src[:, ::-1].copy()


def init(kind, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    glorot = lambda *shape: rng.normal(0, 1 / np.sqrt(shape[0]), shape)    # noqa: E731
    p = {"E": rng.uniform(-0.05, 0.05, (V, E)), "W_x": glorot(E + S, HID),
         "W_h": np.linalg.qr(rng.standard_normal((HID, HID)))[0], "b": np.zeros(HID),
         "Q": glorot(S, HID), "W_c": glorot(2 * HID, HID), "W_o": glorot(HID, V), "b_o": np.zeros(V),
         "W_a": glorot(HID, HID), "U_a": glorot(HID, HID), "v_a": glorot(HID), "W_p": glorot(HID, HID),
         "v_p": glorot(HID)}
    keep = ("E", "W_x", "W_h", "b", "Q", "W_c", "W_o", "b_o") + ATTN_PARAMS[kind]
    return {k: p[k].astype(dtype) for k in keep}


def forward(p, kind, src):
    n, dt = src.shape[0], p["E"].dtype
    u = np.concatenate([p["E"][src], np.broadcast_to(np.eye(S, dtype=dt), (n, S, S))], axis=-1)
    h, rnn_cache = simple_rnn_forward(u, None, p["W_x"], p["W_h"], p["b"])
    q = np.tile(p["Q"], (n, 1))                    # (n·S, HID): row n_i·S + t is target step t
    hs = np.repeat(h, S, axis=0)                   # (n·S, S, HID): every target step sees its sequence
    ap = {k: p[k] for k in ATTN_PARAMS[kind]}
    if kind == "bahdanau":
        c, a, attn_cache = bahdanau_attention_forward(q, hs, **ap)
    elif kind == "luong":
        c, a, attn_cache = luong_attention_forward(q, hs, "general", ap)
    elif kind == "local-m":
        p_t = np.tile(np.arange(S, dtype=dt), n)
        c, a, attn_cache = luong_local_attention_forward(q, hs, "general", ap, D_WIN, "monotonic", p_t)
    else:
        c, a, attn_cache = luong_local_attention_forward(q, hs, "general", ap, D_WIN, "predictive")
    h_tilde, hid_cache = attentional_hidden_forward(c, q, p["W_c"])
    logits, _ = linear_forward(h_tilde, p["W_o"], p["b_o"])
    caches = (src, rnn_cache, attn_cache, hid_cache, h_tilde)
    return logits.reshape(n, S, V), a.reshape(n, S, S), caches


def backward(p, kind, dlogits, caches):
    src, rnn_cache, attn_cache, hid_cache, h_tilde = caches
    n, g = src.shape[0], {}
    dh_tilde, g["W_o"], g["b_o"] = linear_backward(dlogits.reshape(n * S, V), h_tilde, p["W_o"])
    hid = attentional_hidden_backward(dh_tilde, hid_cache)
    g["W_c"] = hid["W_c"]
    if kind == "bahdanau":
        att = bahdanau_attention_backward(hid["c_t"], attn_cache)
        dq, dhs = att["s"], att["h"]
    else:
        back = luong_attention_backward if kind == "luong" else luong_local_attention_backward
        att = back(hid["c_t"], attn_cache)
        dq, dhs = att["h_t"], att["h_s"]
    g.update({k: att[k] for k in ATTN_PARAMS[kind]})
    g["Q"] = (hid["h_t"] + dq).reshape(n, S, HID).sum(axis=0)          # q_t was used by every sequence
    rnn = simple_rnn_backward(dhs.reshape(n, S, S, HID).sum(axis=1), rnn_cache)   # summed over target steps
    g.update(W_x=rnn["W_x"], W_h=rnn["W_h"], b=rnn["b"])
    g["E"] = embedding_backward(rnn["x"][..., :E], src, V)            # the one-hot part is not learned
    return {k: g[k] for k in p}


# %% [markdown]
# Before training, the wiring itself is checked: the whole model's gradient (every parameter,
# a sample of 25 entries per tensor) against finite differences, in float64, for each attention.

# %%
src, tgt = reversal_batch(np.random.default_rng(1), 2)
for kind in ATTN_PARAMS:
    p = init(kind, dtype=np.float64)
    loss_of = lambda: masked_cross_entropy(forward(p, kind, src)[0], tgt, pad_id=0)[0]   # noqa: E731
    logits, _, caches = forward(p, kind, src)
    grads = backward(p, kind, masked_cross_entropy(logits, tgt, pad_id=0)[1], caches)
    report = gradcheck(loss_of, p, grads, max_elements=25)        # raises if any tensor disagrees
    worst = max(max_abs for _, max_abs in report.values())
    print(f"{kind:<9} all {len(report)} parameters pass; largest |numerical − analytic| {worst:.1e}")

# %% [markdown]
# Now train each variant for 800 Adam steps of 32 sequences (float32, a few seconds each).

# %%
results = {}
for kind in ATTN_PARAMS:
    p, opt, rng = init(kind), Adam(1e-2, clipnorm=1.0), np.random.default_rng(1)
    losses = []
    for step in range(800):
        src, tgt = reversal_batch(rng, 32)
        logits, _, caches = forward(p, kind, src)
        loss, dlogits = masked_cross_entropy(logits, tgt, pad_id=0)
        opt.step(p, backward(p, kind, dlogits, caches))
        losses.append(loss)
    src, tgt = reversal_batch(np.random.default_rng(99), 256)         # held-out sequences
    logits, weights, caches = forward(p, kind, src)
    acc = float((logits.argmax(-1) == tgt).mean())
    on_target = float((weights.argmax(-1) == np.arange(S)[::-1]).mean())
    results[kind] = dict(losses=losses, acc=acc, weights=weights.mean(axis=0), on_target=on_target,
                         p_t=getattr(caches[2], "p_t", None))
    print(f"{kind:<9} token accuracy {acc:6.1%}   attention peak on the reversed position {on_target:6.1%}")

# %% [markdown]
# The alignments, averaged over 256 held-out sequences (row = target step, column = source
# position; reversal is the anti-diagonal):

# %%
fig, axes = plt.subplots(1, 5, figsize=(16, 3.3), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.3]})
for ax, (kind, r) in zip(axes, results.items()):
    ax.imshow(r["weights"], cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"{kind}: accuracy {r['acc']:.0%}", fontsize=10)
    ax.set_xlabel("source position s"); ax.set_xticks(range(0, S, 3)); ax.set_yticks(range(0, S, 3))
axes[0].set_ylabel("target step t")
for kind, r in results.items():
    axes[4].plot(np.convolve(r["losses"], np.ones(20) / 20, mode="valid"), label=kind)
axes[4].set_yscale("log"); axes[4].set_xlabel("Adam step"); axes[4].set_title("training loss (20-step mean)", fontsize=10)
axes[4].legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# What the predictive local attention learned for its window centres, against the ideal
# $p_t = S - 1 - t$ (the dots: $p_t$ of every held-out sequence; they coincide, since $p_t$ here
# depends on the target step only):

# %%
p_t = results["local-p"]["p_t"].reshape(-1, S)
fig, ax = plt.subplots(figsize=(4.5, 3))
ax.plot(np.arange(S), S - 1 - np.arange(S), "k--", label="ideal $S-1-t$")
ax.plot(np.arange(S), np.arange(S), ":", color="gray", label="local-m's $p_t = t$")
ax.plot(np.tile(np.arange(S), (p_t.shape[0], 1)).ravel(), p_t.ravel(), "o", label="learned $p_t$")
ax.fill_between(np.arange(S), S - 1 - np.arange(S) - D_WIN, S - 1 - np.arange(S) + D_WIN, alpha=0.1,
                label=f"window ±D = ±{D_WIN} around the ideal")
ax.set_xlabel("target step t"); ax.set_ylabel("window centre $p_t$"); ax.legend(fontsize=7)
plt.tight_layout(); plt.show()

# %% [markdown]
# **What to take away.** Global attention (Bahdanau's or Luong's) learns the reversal's
# alignment outright: every target step looks at one source state. Local-m cannot — its window
# follows $p_t = t$, so only the steps near the middle, where $t \approx S - 1 - t$, can see the
# token they need. Local-p has to find its window centre through the Gaussian's gradient alone,
# which is weak and only flows from positions already inside the window. Most centres find
# their place; a dot off the dashed line is one that did not — typically pushed to an end of
# the sequence, where the sigmoid saturates and the gradient dies. The paper uses local-p for
# translation, whose alignment is roughly monotone, not for reversal.
#
# The package's full model on this road is `RNNTranslator` (`models/rnn_translator.py`): a GRU
# encoder, a GRU decoder with Luong global attention and input feeding, trainable on the
# translation corpus with `python -m numpy_transformer train --model rnn-attention`;
# `parity_tests/test_rnn_translator_numpy.py::test_attention_learns_the_alignment_a_task_needs`
# trains it on this same reversal task. Notebook 2 takes attention without recurrence: the
# Transformer's ops.
