"""The Keras parity suite on every installed Keras backend. The backend is fixed when Keras is
first imported, so each other backend runs the Keras test files in its own subprocess (this
process runs them on the default one, TensorFlow unless KERAS_BACKEND says otherwise).
float64 cases skip there with the reason: Keras 3 maps float64 to float32 on JAX and PyTorch
(keras_transformer/backend.py)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from requires import ALL, missing, require

keras = require("keras")

HERE = Path(__file__).resolve().parent
FILES = ["test_keras_layers.py", "test_keras_model.py", "test_keras_optim.py", "test_keras_stock_mha.py", "test_rnn_keras.py", "test_luong_keras.py", "test_gru_keras.py", "test_rnn_translator_keras.py",
         "test_vit_keras.py", "test_bert_keras.py",
         "test_keras_state.py", "test_keras_translation.py"]
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
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        *[str(HERE / f) for f in FILES]],
                       cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=1500)
    tail = "\n".join(r.stdout.strip().splitlines()[-15:])
    assert r.returncode == 0, f"Keras parity suite failed on {backend}:\n{tail}\n{r.stderr[-2000:]}"
    assert " passed" in tail and " failed" not in tail, tail
    print(f"[{backend}] {tail.splitlines()[-1]}")
