"""The Keras model's workloads as zero-argument callables: eager, graph (tf.function) and XLA
(tf.function(jit_compile=True)); with a GPU also graph mode on the GPU."""
from __future__ import annotations

import functools
import warnings

import numpy as np

from numpy_transformer.training.keras_import import quiet_tensorflow

from .configs import EOS_ID, START_ID

MODES = ("keras-eager", "keras-graph", "keras-xla")


def _tf():
    # decoding a 1-token prefix makes Keras warn about a softmax over an axis of size 1
    warnings.filterwarnings("ignore", message="You are using a softmax over axis")
    with quiet_tensorflow():          # no TensorFlow start-up lines (NT_KERAS_LOG=1 shows them)
        import keras
        import tensorflow as tf

        import keras_transformer as kt
    return tf, keras, kt


def make_model(cfg, state, device=None):
    tf, _, kt = _tf()
    with tf.device(device or "/CPU:0"):
        km = kt.TransformerModel(cfg)
        km.build()
        km.load_state_dict(state)
    return km


def _compile(fn, mode):
    tf, _, _ = _tf()
    if mode == "keras-eager":
        return fn
    return tf.function(fn, jit_compile=(mode == "keras-xla"))


def _banned(cfg):
    tf, _, _ = _tf()
    b = np.zeros(cfg.tgt_vocab_size, bool)
    b[[cfg.pad_id, START_ID]] = True   # the decoders never emit <pad>/<start>
    return tf.constant(b)


def _greedy_loop(next_token, B, L, pad):
    """The host-side loop shared by the eager and XLA decoders (same rules as the library's
    greedy_decode; <eos> never wins here, see configs.shared_state)."""
    out = np.full((B, L), pad, np.int64)
    done = np.zeros(B, bool)
    for t in range(L):
        tok = np.where(done, pad, next_token(out, t))
        out[:, t] = tok
        done |= tok == EOS_ID
        if done.all():
            return out[:, : t + 1]
    return out


def _decoders(km, src, L, mode):
    tf, _, kt = _tf()
    cfg, B, pad = km.cfg, src.shape[0], km.cfg.pad_id
    s = tf.constant(src, tf.int32)
    banned = _banned(cfg)
    start = np.full((B, 1), START_ID, np.int64)
    if mode == "keras-graph":   # the library's decoder, the book's way: a tf.function with dynamic shapes
        return lambda: kt.greedy_decode(km, src, START_ID, EOS_ID, L, use_cache=False)
    if mode == "keras-graph-cache":   # the library's default: one position per step, key/value cache
        return lambda: kt.greedy_decode(km, src, START_ID, EOS_ID, L, use_cache=True)
    if mode == "keras-eager":
        def eager():
            memory = km.encode(s, training=False)

            def next_token(out, t):
                prefix = tf.constant(np.concatenate([start, out[:, :t]], axis=1), tf.int32)
                logits = km.decode(prefix, memory, s, training=False)[:, -1]
                logits = tf.where(banned, tf.cast(-np.inf, logits.dtype), logits)
                return tf.argmax(logits, axis=-1).numpy()
            return _greedy_loop(next_token, B, L, pad)
        return eager

    # XLA needs static shapes: the prefix is always L long, pad-filled after position t (the
    # causal and padding masks hide those keys), and the logits are read at position t
    encode = tf.function(lambda x: km.encode(x, training=False), jit_compile=True)

    @tf.function(jit_compile=True)
    def step(prefix, t, memory):
        logits = tf.gather(km.decode(prefix, memory, s, training=False), t, axis=1)
        logits = tf.where(banned, tf.cast(-np.inf, logits.dtype), logits)
        return tf.argmax(logits, axis=-1)

    def xla():
        memory = encode(s)

        def next_token(out, t):
            prefix = tf.constant(np.concatenate([start, out[:, : L - 1]], axis=1), tf.int32)
            return step(prefix, tf.constant(t, tf.int32), memory).numpy()
        return _greedy_loop(next_token, B, L, pad)
    return xla


def tf_workloads(km, workload, inputs, target, modes, loss=None, optimizer=None):
    """{mode: callable} of one workload of a Keras model on TensorFlow (this harness's and the ViT
    one's), each mode eager, a tf.function graph or XLA-compiled. `inputs`: the model's input
    arrays (a list of them, or one); forward: inference; fwd_bwd: training-mode forward and the
    gradients of Σ logits·target (target = a fixed dlogits, so dloss/dlogits = it); train_step:
    `loss(target, logits)` (target = labels), backward, the update of a fresh `optimizer()`."""
    tf, _, _ = _tf()
    xs, y, variables = [tf.constant(a) for a in inputs], tf.constant(target), km.trainable_variables
    model = lambda a, training: km(list(a) if len(a) > 1 else a[0], training=training)  # noqa: E731

    def fwd_bwd(d, *a):
        with tf.GradientTape() as tape:
            out = tf.reduce_sum(model(a, True) * d)
        return tape.gradient(out, variables)

    def train_step(c, *a, opt=None):
        with tf.GradientTape() as tape:
            out = loss(c, model(a, True))
        opt.apply_gradients(zip(tape.gradient(out, variables), variables))
        return out
    fns = {}
    for mode in modes:
        if workload == "forward":
            f = _compile(lambda *a: model(a, False), mode)
            fns[mode] = lambda f=f: f(*xs)
        elif workload == "fwd_bwd":
            f = _compile(fwd_bwd, mode)
            fns[mode] = lambda f=f: f(y, *xs)
        elif workload == "train_step":
            opt = optimizer()
            opt.build(variables)
            f = _compile(functools.partial(train_step, opt=opt), mode)
            fns[mode] = lambda f=f: float(f(y, *xs))       # the loss, to the host
        else:
            raise ValueError(f"unknown workload {workload!r}")
    return fns


def workloads(km, workload, shape, data, modes=MODES, device=None):
    """{mode: callable} for one workload of the translation model; each callable returns once the
    result is computed (TF on CPU executes synchronously; loss/tokens are fetched to the host)."""
    tf, keras, kt = _tf()
    src, tgt, lab, dlogits = data
    with tf.device(device or "/CPU:0"):
        if workload != "decode":
            out = tf_workloads(km, workload, [src.astype(np.int32), tgt.astype(np.int32)],
                               dlogits if workload == "fwd_bwd" else lab.astype(np.int32), modes,
                               lambda y, logits: kt.masked_loss(y, logits, km.cfg.pad_id),
                               lambda: keras.optimizers.Adam(kt.WarmupSchedule(km.cfg.d_model, 4000), beta_1=0.9,
                                                             beta_2=0.98, epsilon=1e-9))
        else:
            out = {mode: _decoders(km, src, shape.tgt_len, mode) for mode in modes}
            if "keras-graph" in modes:   # like with like for NumPy's cached decoder (as numpy-nocache is for Keras')
                out["keras-graph-cache"] = _decoders(km, src, shape.tgt_len, "keras-graph-cache")
    return {m: _on_device(f, device) if device else f for m, f in out.items()}


def _on_device(call, device):
    tf, _, _ = _tf()

    def run():
        with tf.device(device):
            return call()
    return run
