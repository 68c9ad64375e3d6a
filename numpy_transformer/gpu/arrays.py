"""CuPy as the array module of the unchanged NumPy code, and moving a model there and back.

The maths modules call `np.<name>`. CuPy implements NumPy's API, so rebinding that one name
(in every loaded numpy_transformer module, for the duration of a `with numpy_is(xp):` block)
runs the same source on the GPU. Names CuPy lacks (dtype helpers such as `np.issubdtype`,
`np.finfo`) fall through to NumPy. The rebinding is process-wide: one array module at a time.
"""
from __future__ import annotations

import contextlib
import sys
import types

import numpy

from ..config.tree import tree_map


def cupy_status():
    """None when CuPy can run here, else the reason it cannot (for skips and benchmark rows)."""
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install cupy-cuda12x, or the wheel for your CUDA)"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA GPU"
    except Exception as e:  # noqa: BLE001 - no driver / no device
        return f"no CUDA GPU ({type(e).__name__}: {e})"
    return None


class ArrayModule(types.ModuleType):
    """`first`'s attributes, then NumPy's."""

    def __init__(self, first):
        super().__init__(f"{first.__name__}_then_numpy")
        self._first = first

    def __getattr__(self, name):
        try:
            return getattr(self._first, name)
        except AttributeError:
            return getattr(numpy, name)


def cupy_module():
    """CuPy first, NumPy second (raises ImportError without CuPy)."""
    import cupy
    return ArrayModule(cupy)


@contextlib.contextmanager
def numpy_is(xp):
    """Within the block, `np` in every loaded numpy_transformer module is `xp`."""
    mods = [m for name, m in list(sys.modules.items())
            if name.startswith("numpy_transformer") and getattr(m, "np", None) is numpy]
    for m in mods:
        m.np = xp
    try:
        yield xp
    finally:
        for m in mods:
            m.np = numpy


def to_device(model, xp, seed=None):
    """Move a model's parameters and position table to `xp`'s arrays in place and give it a
    dropout generator there, seeded with `seed` (default 0; a device generator draws other
    numbers than NumPy's, so masks match across devices only in distribution). Returns the model."""
    model.params = tree_map(xp.asarray, model.params)
    if getattr(model, "pe", None) is not None:
        model.pe = xp.asarray(model.pe)
    model.rng = xp.random.default_rng(0 if seed is None else seed)
    return model


def to_host(a):
    """A NumPy copy of a device array (CuPy's .get()), or the array itself when it is NumPy's."""
    return a.get() if hasattr(a, "get") and not isinstance(a, numpy.ndarray) else numpy.asarray(a)
