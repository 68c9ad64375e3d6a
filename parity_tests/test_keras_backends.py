"""The Keras parity tests on every other installed Keras backend. The backend is fixed when Keras
is first imported, so each other backend runs in its own subprocess (this process runs every
Keras test on the default one, TensorFlow unless KERAS_BACKEND says otherwise).

There only the tests marked `per_backend` run: those whose code differs per backend. Each model's
forward and every gradient (Transformer, ViT, BERT, the RNN regressor, GRU, Luong global and local,
the RNN translator), masks and fully masked rows, greedy and key/value-cached decoding, Keras' Adam
and the warm-up schedule, the weight exchange (state_dict / load_state_dict, .keras files), dropout,
and Keras training against NumPy's. Not re-run: input validation, configs and serialization (the
same Python on every backend), the layer-by-layer checks (each model's every-gradient check covers
its layers), NumPy against stock Keras MHA (Keras' layer, not this project's), the book-size and
digits-size models and model.fit (minutes of compilation on JAX for code the small models run).
float64 cases skip there with the reason: Keras 3 maps float64 to float32 on JAX and PyTorch
(keras_transformer/backend.py)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inner_pytest import failure_report
from requires import ALL, missing, require

keras = require("keras")

HERE = Path(__file__).resolve().parent
MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


@pytest.mark.slow
@pytest.mark.parametrize("backend", sorted(MODULES))
def test_keras_parity_suite_on_backend(backend):
    if backend == keras.backend.backend():
        pytest.skip(f"{backend} is this process's backend: the Keras test files run here directly")
    if importlib.util.find_spec(MODULES[backend]) is None:
        # TensorFlow and JAX come with .[all] (missing, they fail under NT_REQUIRE_ALL); PyTorch does not
        (missing if MODULES[backend] in ALL else pytest.skip)(
            f"the {backend} backend is not installed (pip install {MODULES[backend]})")
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("PARITY_REPORT", None)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "per_backend",
                        str(HERE)],
                       cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=1500)
    tail = "\n".join(r.stdout.strip().splitlines()[-15:])
    assert r.returncode == 0, f"Keras parity suite failed on {backend}:\n{failure_report(r.stdout, r.stderr)}"
    assert " passed" in tail and " failed" not in tail, tail
    print(f"[{backend}] {tail.splitlines()[-1]}")
