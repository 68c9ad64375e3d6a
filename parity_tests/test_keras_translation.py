"""The translation pipeline across backends: a NumPy checkpoint served by Keras and back, the
Keras training backend, and its optimizer state in the shared checkpoint format."""
import numpy as np
import pytest

from requires import require

require("keras")
require("safetensors")
require("matplotlib")

from numpy_transformer.app.checkpoint import load_checkpoint  # noqa: E402
from numpy_transformer.app.cli import main  # noqa: E402
from numpy_transformer.app.translate import Translator  # noqa: E402

from conftest import TINY  # noqa: E402


def test_numpy_checkpoint_translates_identically_in_keras(tmp_path, small_tsv):
    run = tmp_path / "np"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run), "--epochs", "3", *TINY]) == 0
    sents = ["i have a dog", "we see the cat", "he drinks cold water", "do you have a book"]
    np_out = Translator(run, "numpy").translate(sents)
    keras_tr = Translator(run, "keras")
    assert keras_tr.translate(sents) == np_out
    with pytest.raises(ValueError, match="beam search is implemented in the NumPy backend"):
        keras_tr.translate(sents, beam=3)


def test_keras_training_starts_like_numpy_and_its_checkpoint_loads_in_numpy(tmp_path, small_tsv):
    """Same seed → same initial weights and batches; dropout off so the first steps must agree
    closely (float32, different summation orders: losses within 1e-4 relative)."""
    runs = {}
    for backend in ("numpy", "keras"):
        runs[backend] = tmp_path / backend
        assert main(["train", "--data", str(small_tsv), "--run-dir", str(runs[backend]), "--epochs", "1",
                     "--dropout", "0", "--backend", backend, *TINY]) == 0
    a, b = (load_checkpoint(runs[k]) for k in ("numpy", "keras"))
    assert a["optimizer"]["t"].item() == b["optimizer"]["t"].item() == 8
    import json
    ha, hb = (json.loads((runs[k] / "history.json").read_text())[0] for k in ("numpy", "keras"))
    assert hb["train_loss"] == pytest.approx(ha["train_loss"], rel=1e-4)
    assert hb["val_loss"] == pytest.approx(ha["val_loss"], rel=1e-4)
    # weights after 8 Adam steps: warm-up lr is tiny, so every tensor stays within 1e-4 of NumPy's
    for k in a["weights"]:
        if k.endswith("wk.bias"):
            # its true gradient is 0 (softmax shift invariance); Adam normalises each backend's
            # float32 rounding noise into steps of size ~lr, different in each: only check that
            # both stayed within the summed learning rate of their zero start (8 steps < 1e-3)
            assert np.abs(a["weights"][k]).max() < 1e-3 and np.abs(b["weights"][k]).max() < 1e-3
            continue
        np.testing.assert_allclose(b["weights"][k], a["weights"][k], atol=1e-4, err_msg=k)
    # the Keras checkpoint (weights + Adam moments) resumes in the NumPy backend
    assert main(["train", "--run-dir", str(runs["keras"]), "--resume", "--epochs", "2", "--backend", "numpy"]) == 0
    assert load_checkpoint(runs["keras"])["meta"]["epoch"] == 2
