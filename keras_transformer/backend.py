"""The one place where keras_transformer depends on which Keras backend runs it (TensorFlow,
JAX or PyTorch; chosen by KERAS_BACKEND before Keras is imported). Everything else is written
in keras.ops / keras.layers.

* take_rows: the embedding gather, with a dense gradient on every backend (see below);
* check_backend_dtype: float64 needs 64-bit JAX, a clear error instead of silent float32;
* is_concrete: whether a tensor's values can be read now (not a symbolic/traced value);
* compile_inference: a compiled inference function (tf.function, jax.jit over the model's
  stateless call, or eager PyTorch without autograd);
* processes, multi_host_started: a multi-host JAX run's processes (for distribute.py).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops


def name():
    return keras.backend.backend()


def float64_supported():
    """Whether this Keras backend computes float64 models in float64. Keras 3 (3.15 at least)
    maps float64 to float32 in its type promotion (keras.backend.result_type) on every backend
    but TensorFlow, so on JAX and PyTorch a float64 model silently runs its layer norms (JAX)
    or its matmuls and additions (PyTorch) in float32 (keras-team/keras#23704). Checked, not
    assumed, so a Keras that fixes it is used in full."""
    if keras.backend.result_type("float64", "float64") != "float64":
        return False
    if name() == "jax":
        import jax
        return bool(jax.config.jax_enable_x64)
    return True


def widest_float():
    """float64 where the backend holds it (TensorFlow, PyTorch, 64-bit JAX), else float32: JAX
    without x64 would truncate a float64 cast to float32 anyway, with a warning on every call."""
    if name() == "jax":
        import jax
        return "float64" if jax.config.jax_enable_x64 else "float32"
    return "float64"


def check_backend_dtype(dtype):
    """A clear error instead of a float64 model that silently computes in float32."""
    if dtype != "float64" or float64_supported():
        return
    if name() == "jax" and keras.backend.result_type("float64", "float64") == "float64":
        raise ValueError("cfg.dtype='float64' on the JAX backend needs 64-bit JAX: set "
                         "JAX_ENABLE_X64=1 (or jax.config.update('jax_enable_x64', True)) before "
                         "Keras is imported; without it JAX computes in float32")
    raise ValueError(f"cfg.dtype='float64' is not computed in float64 by Keras {keras.__version__} on "
                     f"the {name()} backend: its type promotion maps float64 to float32 on every backend "
                     "but TensorFlow (keras-team/keras#23704), so parts of the model would silently run "
                     "in float32. Use float32 here, or KERAS_BACKEND=tensorflow for float64.")


def take_rows(table, ids):
    """table[ids], a gather of embedding rows, whose gradient w.r.t. the table is dense:
    dW[v] = Σ_{(b,t): ids=v} dy[b,t]. JAX and PyTorch differentiate a gather into a dense
    scatter-add already. TensorFlow gives tf.IndexedSlices with one slice per occurrence, and
    Keras 3's optimizers apply their element-wise ops to the slices *before* duplicates are
    summed, so Adam's second moment of a token seen k times in a batch would get Σ g_i²
    instead of (Σ g_i)²; there the gradient is made dense explicitly."""
    if name() == "tensorflow":
        return _tf_take_rows(table, ids)
    return ops.take(table, ops.cast(ids, "int32"), axis=0)


def _tf_take_rows(table, ids):
    import tensorflow as tf

    @tf.custom_gradient
    def gather(t, i):
        def grad(dy):
            d = tf.shape(t)[1]
            flat = tf.reshape(tf.cast(i, tf.int32), (-1,))
            return tf.math.unsorted_segment_sum(tf.reshape(dy, (-1, d)), flat, tf.shape(t)[0]), None
        return tf.gather(t, i), grad

    return gather(tf.identity(table), ids)   # a read of the variable, outside the custom gradient


def is_concrete(x):
    """True for NumPy/lists and for eager tensors; False for a symbolic tensor inside
    tf.function or a tracer inside jax.jit (their values are not known yet)."""
    if isinstance(x, (list, tuple, np.ndarray, np.generic)):
        return True
    if name() == "tensorflow":
        import tensorflow as tf
        return tf.executing_eagerly() and hasattr(x, "numpy")
    if name() == "jax":
        import jax
        return not isinstance(x, jax.core.Tracer)
    return True   # PyTorch runs eagerly


def compile_inference(model, fn, specs):
    """fn(model, *arrays) -> tensor(s), compiled for this backend; call it with NumPy arrays
    matching `specs`, one (shape with None for free dims, dtype) per argument.
    TensorFlow: tf.function with that input signature (traced once, any batch or length).
    JAX: jax.jit of fn under model.stateless_call semantics: the variables are arguments, not
    constants baked into the trace, so later weight updates are seen (retraced per shape).
    PyTorch: eager, under torch.no_grad()."""
    if name() == "tensorflow":
        import tensorflow as tf
        compiled = tf.function(lambda *a: fn(model, *a),
                               input_signature=[tf.TensorSpec(shape, dtype) for shape, dtype in specs])
        return lambda *a: compiled(*a)
    if name() == "jax":
        import jax

        def pure(trainable, non_trainable, *args):
            with keras.StatelessScope(state_mapping=list(zip(model.trainable_variables, trainable))
                                      + list(zip(model.non_trainable_variables, non_trainable))):
                return fn(model, *args)
        jitted = jax.jit(pure)
        return lambda *a: jitted([v.value for v in model.trainable_variables],
                                 [v.value for v in model.non_trainable_variables], *a)
    import torch

    def eager(*a):
        with torch.no_grad():
            return fn(model, *(ops.convert_to_tensor(x) for x in a))
    return eager


def processes():
    """(number of processes, this process's index): (N, i) in a multi-host JAX run started by
    jax.distributed.initialize, (1, 0) in a run on one host or on another backend."""
    if name() != "jax":
        return 1, 0
    import jax
    return jax.process_count(), jax.process_index()


def multi_host_started():
    """Whether jax.distributed.initialize has run in this process (it may run only once)."""
    if name() != "jax":
        return False
    import jax
    return jax.distributed.is_initialized()
