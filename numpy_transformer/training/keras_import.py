"""The quiet import of the Keras twin, for `--backend keras` (and the RNN examples, which run
both backends; the benchmarks use it too). Only applications cross the import wall, lazily,
inside a function and under this context manager. Set NT_KERAS_LOG=1 to see every line
TensorFlow writes. And the checks of `--data-parallel` that need no import of Keras."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys

from ..data.errors import UsageError


class _RetracingFilter(logging.Filter):
    """Drops TensorFlow's "N out of the last M calls to <…one_step_on_data> triggered
    tf.function retracing" warning, and only it. Its detector counts the traces of every
    tf.function made from one Python function together (it keys on the code object), and Keras
    makes each model's train and test steps from one `one_step_on_data`: so the train and the
    validation step of one model, or six small models trained one after another (fibonacci), each
    tracing for its first batch shape, for a second one (translation batches are padded to their
    own length; a last, smaller batch) and then never again (Keras traces with
    reduce_retracing: the second trace already takes any shape), add up to the five traces that
    trigger the warning. The retracing it warns of does not happen."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


_FILTER = _RetracingFilter()


@contextlib.contextmanager
def quiet_tensorflow():
    """Silences TensorFlow's start-up log lines (absl, oneDNN, cpu_feature_guard) while Keras and
    its backend are imported. TF 2.16+ writes them from C++ before its logging is set up, so
    TF_CPP_MIN_LOG_LEVEL alone cannot: file descriptor 2 points to /dev/null for the duration of
    the import only (a Python exception still propagates with its message). After it:
    TF_CPP_MIN_LOG_LEVEL=3 (read once, at the import; unless the user set it) keeps TensorFlow's
    C++ diagnostics off the terminal, such as "E0000 … oneDNN supports DT_BOOL only on platforms
    with AVX-512" the first time a Keras GRU transposes its boolean padding mask (an error that
    stops a computation still raises a Python exception with its message); and the one
    misleading retracing warning is filtered (_RetracingFilter)."""
    if os.environ.get("NT_KERAS_LOG"):
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").addFilter(_FILTER)     # a logger holds a filter once
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
    UsageError: the command line prints it as one line and exits with 2). It trains the Keras
    twin (keras_transformer/distribute.py) with keras.distribution, which Keras 3 implements on
    the JAX backend only. The device count, and so the batch size's check, needs JAX itself."""
    if not data_parallel:
        return
    if backend != "keras":
        raise UsageError("--data-parallel trains the Keras twin over several devices: add --backend keras "
                         "(with KERAS_BACKEND=jax)")
    name = keras_backend_name(environ)
    if name != "jax":
        raise UsageError(f"--data-parallel needs Keras' JAX backend (keras.distribution supports no other), "
                         f"and Keras would load {name}: run with KERAS_BACKEND=jax")
