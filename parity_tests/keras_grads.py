"""Gradients of Keras computations on whichever Keras backend runs the tests (TensorFlow,
JAX or PyTorch; KERAS_BACKEND): the parity tests compare them with the NumPy backward."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.backend import float64_supported


def skip_unless_dtype_supported(dtype):
    if dtype == "float64" and not float64_supported():
        pytest.skip(f"Keras {keras.__version__} computes float64 models partly in float32 on the "
                    f"{keras.backend.backend()} backend (keras-team/keras#23704): float64 parity runs on TensorFlow")


def to_numpy(x):
    if hasattr(x, "values") and hasattr(x, "indices") and hasattr(x, "dense_shape"):   # tf.IndexedSlices
        import tensorflow as tf
        x = tf.convert_to_tensor(x)
    return np.asarray(ops.convert_to_numpy(x))


def vjp(fn, inputs, variables, dy):
    """y = fn(*inputs); returns y and the gradients of <y, dy> w.r.t. the inputs (list) and
    the Keras variables (dict, same keys), all as NumPy arrays. If fn returns a tuple of
    outputs, dy is a matching list and the gradients are those of Σ_i <y_i, dy_i>; an input or
    variable that no output depends on gets a zero gradient."""
    names, var_list = list(variables), list(variables.values())
    backend = keras.backend.backend()
    multi = isinstance(dy, (list, tuple))
    dys = list(dy) if multi else [dy]
    if backend == "tensorflow":
        import tensorflow as tf
        xs = [tf.constant(x) for x in inputs]
        with tf.GradientTape() as tape:
            for x in xs:
                tape.watch(x)
            y = fn(*xs)
        ys = list(y) if multi else [y]
        g = tape.gradient(ys, xs + var_list,
                          output_gradients=[tf.constant(d, dtype=t.dtype) for t, d in zip(ys, dys)])
    elif backend == "jax":
        import jax

        def pure(xs, values):
            with keras.StatelessScope(state_mapping=list(zip(var_list, values))):
                out = fn(*xs)
            return tuple(out) if multi else out
        y, pullback = jax.vjp(pure, [jax.numpy.asarray(x) for x in inputs], [v.value for v in var_list])
        ys = list(y) if multi else [y]
        cot = tuple(jax.numpy.asarray(d, dtype=t.dtype) for t, d in zip(ys, dys))
        gx, gv = pullback(cot if multi else cot[0])
        g = list(gx) + list(gv)
    elif backend == "torch":
        import torch
        xs = [torch.tensor(np.asarray(x), requires_grad=True) for x in inputs]
        for v in var_list:
            v.value.grad = None
        y = fn(*xs)
        ys = list(y) if multi else [y]
        torch.autograd.backward(ys, [torch.as_tensor(np.asarray(d), dtype=t.dtype) for t, d in zip(ys, dys)])
        g = [x.grad for x in xs] + [v.value.grad for v in var_list]
        ys = [t.detach() for t in ys]
    else:
        raise RuntimeError(f"no gradient helper for the {backend} backend")
    ys = [to_numpy(t) for t in ys]
    shapes = [np.shape(x) for x in inputs] + [tuple(v.shape) for v in var_list]
    g = [np.zeros(shape, ys[0].dtype) if t is None else to_numpy(t)   # nothing depends on it: zero
         for t, shape in zip(g, shapes)]
    return (ys if multi else ys[0]), g[:len(inputs)], dict(zip(names, g[len(inputs):]))


def grad_of_scalar(fn, variables):
    """loss = fn() (a scalar); returns the loss and d loss / d variables as NumPy arrays, and
    the raw backend gradients in variable order (for optimizer.apply_gradients)."""
    y, _, g = vjp(lambda: fn(), [], variables, np.array(1.0))
    return y, g


@pytest.fixture(autouse=True)
def backend_dtype_guard(request):
    """Import into a test module: its float64 cases (a `dtype` parameter, or a `cfg` parameter
    with cfg.dtype) skip, with the reason, on backends that cannot compute float64."""
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    dtype = params.get("dtype") or getattr(params.get("cfg"), "dtype", None)
    if dtype is not None:
        skip_unless_dtype_supported(str(np.dtype(dtype)))
