"""The book's pickled ``english-german-both.pkl``, read safely: a restricted unpickler that
accepts a NumPy string array and nothing else (a plain ``pickle.load`` of a downloaded file can
run any code)."""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np


class BookPickleError(pickle.UnpicklingError):
    """The pickle asks for something a string array does not need (refused), or is not one."""


def _numpy_attr(modules, name):
    import importlib
    for m in modules:
        try:
            return getattr(importlib.import_module(m), name)
        except (ImportError, AttributeError):
            continue
    raise BookPickleError(f"this NumPy has no {name} in {modules}")


_CORE = ("numpy._core.multiarray", "numpy.core.multiarray")
_NUMERIC = ("numpy._core.numeric", "numpy.core.numeric")
_STRING_KINDS = "USO"


def _check_dtype(dtype):
    dt = np.dtype(dtype)
    if dt.kind not in _STRING_KINDS:
        raise BookPickleError(f"refusing an array of dtype {dt}: only str/bytes/object arrays")
    return dt


def _safe_reconstruct(subtype, *args):
    if subtype is not np.ndarray:
        raise BookPickleError(f"refusing to rebuild an array of type {subtype!r}")
    return _numpy_attr(_CORE, "_reconstruct")(subtype, *args)


def _safe_scalar(dtype, *args):
    _check_dtype(dtype)
    return _numpy_attr(_CORE, "scalar")(dtype, *args)


def _safe_frombuffer(buf, dtype, shape, order):
    _check_dtype(dtype)
    return _numpy_attr(_NUMERIC, "_frombuffer")(buf, dtype, shape, order)


def _safe_codecs_encode(obj, encoding="utf-8", errors="strict"):
    # Protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1').
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise BookPickleError("refusing _codecs.encode other than str -> latin1 bytes")
    return obj.encode("latin1")


_ALLOWED = {
    **{(m, "_reconstruct"): _safe_reconstruct for m in _CORE},
    **{(m, "scalar"): _safe_scalar for m in _CORE},
    **{(m, "_frombuffer"): _safe_frombuffer for m in _NUMERIC},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _safe_codecs_encode,
}


class _StringArrayUnpickler(pickle.Unpickler):
    """Admits only what NumPy needs to rebuild a str/bytes/object ndarray."""

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise BookPickleError(
                f"refusing to load {module}.{name}: this pickle is not a plain NumPy string array "
                f"(only numpy _reconstruct/_frombuffer/scalar, ndarray and dtype are allowed)"
            ) from None

    def persistent_load(self, pid):
        raise BookPickleError("refusing a pickle with persistent ids")


def load_book_pickle(path, n: int | None = None) -> list[tuple[str, str]]:
    """(en, de) pairs from the book's ``english-german-both.pkl`` (a 2-D NumPy array of strings,
    columns English, German and possibly attribution), read with a restricted unpickler that
    refuses anything but a NumPy string/object array. Returns the first ``n`` rows (all if None).
    The book's file is already cleaned (its own way: ASCII German, no apostrophes)."""
    data = Path(path).read_bytes()
    if not data:
        raise ValueError(f"{path}: empty file")
    try:
        arr = _StringArrayUnpickler(io.BytesIO(data)).load()
    except BookPickleError:
        raise
    except Exception as e:  # truncated / corrupt pickle
        raise BookPickleError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from e
    if not isinstance(arr, np.ndarray) or type(arr) is not np.ndarray:
        raise BookPickleError(f"{path}: expected a NumPy array, got {type(arr).__name__}")
    if arr.dtype.kind not in _STRING_KINDS or arr.ndim != 2 or arr.shape[1] < 2:
        raise BookPickleError(f"{path}: expected a 2-D array of strings with >= 2 columns, got "
                              f"shape {arr.shape} dtype {arr.dtype}")
    rows = arr if n is None else arr[:n]
    out = []
    for i, row in enumerate(rows):
        en, de = row[0], row[1]
        if isinstance(en, bytes):
            en = en.decode("utf-8")
        if isinstance(de, bytes):
            de = de.decode("utf-8")
        if not isinstance(en, str) or not isinstance(de, str):
            raise BookPickleError(f"{path}: row {i} holds {type(en).__name__}/"
                                  f"{type(de).__name__}, not strings")
        out.append((str(en), str(de)))
    return out
