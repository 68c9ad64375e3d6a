"""The quiet import of the Keras twin, for `--backend keras` (and the RNN examples, which run
both backends). Only applications cross the import wall, lazily, inside a function and under
this context manager."""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_tensorflow():
    """Silences TensorFlow's start-up log lines (absl, oneDNN, cpu_feature_guard) while Keras and
    its backend are imported. TF 2.16+ writes them from C++ before its logging is set up, so
    TF_CPP_MIN_LOG_LEVEL alone cannot: file descriptor 2 points to /dev/null for the duration of
    the import only (a Python exception still propagates with its message). Set
    NT_KERAS_LOG=1 to see them."""
    if os.environ.get("NT_KERAS_LOG"):
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # this process's later INFO/WARNING lines
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
