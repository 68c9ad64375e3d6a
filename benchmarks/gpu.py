"""GPU implementations, each skipping cleanly where it cannot run:

keras-gpu   the Keras model in graph mode (tf.function) on /GPU:0;
numpy-cupy  the unmodified NumPy reference with CuPy as its array module: while a call runs,
            the `np` name inside every numpy_transformer module is bound to a shim that
            resolves attributes on cupy first and numpy second (dtype helpers such as
            np.issubdtype), the parameters, position table, dropout generator and inputs
            live on the GPU. No numpy_transformer file is edited. Untested where it was
            written (no GPU, no CuPy): any failure is recorded as 'failed: ...'."""
from __future__ import annotations

import contextlib
import sys
import types

import numpy as np

from .timing import Skip


def tf_gpus():
    try:
        import tensorflow as tf
    except ImportError:
        return []
    return tf.config.list_physical_devices("GPU")


def cupy_status():
    """None when CuPy can run here, else the reason it cannot."""
    try:
        import cupy
    except ImportError:
        return "cupy not installed"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no GPU"
    except Exception as e:  # noqa: BLE001 - no driver / no device
        return f"no GPU ({type(e).__name__})"
    return None


def _skipper(reason):
    def run():
        raise Skip(reason)
    return run


def keras_gpu(cfg, state, workload, shape, data):
    if not tf_gpus():
        return {"keras-gpu": _skipper("no GPU")}
    from . import keras_backend
    km = keras_backend.make_model(cfg, state, device="/GPU:0")
    fns = keras_backend.workloads(km, workload, shape, data, modes=("keras-graph",), device="/GPU:0")
    return {"keras-gpu": fns["keras-graph"]}


class _CupyFirst(types.ModuleType):
    def __init__(self, cupy):
        super().__init__("numpy_on_cupy")
        self._cupy = cupy

    def __getattr__(self, name):
        try:
            return getattr(self._cupy, name)
        except AttributeError:
            return getattr(np, name)


@contextlib.contextmanager
def _numpy_is_cupy(shim):
    mods = [m for name, m in list(sys.modules.items())
            if name.startswith("numpy_transformer") and getattr(m, "np", None) is np]
    for m in mods:
        m.np = shim
    try:
        yield
    finally:
        for m in mods:
            m.np = np


def numpy_cupy(cfg, state, workload, shape, data):
    reason = cupy_status()
    if reason:
        return {"numpy-cupy": _skipper(reason)}
    import cupy

    from . import np_backend
    model = np_backend.make_model(cfg, state)
    model.params = {k: cupy.asarray(v) for k, v in model.params.items()}
    model.pe = cupy.asarray(model.pe)
    model.rng = cupy.random.default_rng(1)
    gdata = tuple(cupy.asarray(a) for a in data)
    shim = _CupyFirst(cupy)
    with _numpy_is_cupy(shim):
        fns = np_backend.workloads(model, workload, shape, gdata)

    def wrap(fn):
        def run():
            with _numpy_is_cupy(shim):
                out = fn()
                cupy.cuda.Stream.null.synchronize()
            return out
        return run
    return {f"{k}-cupy" if k != "numpy" else "numpy-cupy": wrap(f) for k, f in fns.items()}
