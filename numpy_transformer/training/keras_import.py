"""The quiet import of the Keras twin, for `--backend keras` (and the RNN examples, which run
both backends). Only applications cross the import wall, lazily, inside a function and under
this context manager. And the checks of `--data-parallel` that need no import of Keras."""
from __future__ import annotations

import contextlib
import json
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


def keras_backend_name(environ=None):
    """The backend a later `import keras` will load, found as Keras 3 finds it but without
    importing anything: KERAS_BACKEND, else the "backend" of keras.json in $KERAS_HOME (default
    ~/.keras, or /tmp/.keras when the home directory is not writable), else TensorFlow."""
    env = os.environ if environ is None else environ
    if env.get("KERAS_BACKEND"):
        return env["KERAS_BACKEND"]
    base = os.path.expanduser("~")
    home = env.get("KERAS_HOME") or os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def check_data_parallel(backend, data_parallel, environ=None):
    """`--data-parallel`'s refusals that need no framework, so they come before its import (a
    ValueError: the command line prints it as one line and exits with 2). It trains the Keras
    twin (keras_transformer/distribute.py) with keras.distribution, which Keras 3 implements on
    the JAX backend only. The device count, and so the batch size's check, needs JAX itself."""
    if not data_parallel:
        return
    if backend != "keras":
        raise ValueError("--data-parallel trains the Keras twin over several devices: add --backend keras "
                         "(with KERAS_BACKEND=jax)")
    name = keras_backend_name(environ)
    if name != "jax":
        raise ValueError(f"--data-parallel needs Keras' JAX backend (keras.distribution supports no other), "
                         f"and Keras would load {name}: run with KERAS_BACKEND=jax")
