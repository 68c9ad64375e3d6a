"""The translation pipeline across backends: a NumPy checkpoint served by Keras and back, the
Keras training backend, and its optimizer state in the shared checkpoint format."""
import numpy as np
import pytest

from requires import require

require("keras")
require("safetensors")
require("matplotlib")

from numpy_transformer import Transformer  # noqa: E402
from numpy_transformer.training.checkpoint import load_checkpoint  # noqa: E402
from numpy_transformer.cli.main import main  # noqa: E402
from numpy_transformer.apps.translation.translate import Translator  # noqa: E402

from conftest import TINY  # noqa: E402
from parity_report import check_rel, rel_err  # noqa: E402


@pytest.mark.slow
def test_numpy_checkpoint_translates_identically_in_keras(tmp_path, small_tsv):
    run = tmp_path / "np"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run), "--epochs", "3", *TINY]) == 0
    sents = ["i have a dog", "we see the cat", "he drinks cold water", "do you have a book"]
    np_out = Translator(run, "numpy").translate(sents)
    keras_tr = Translator(run, "keras")
    assert keras_tr.translate(sents) == np_out
    with pytest.raises(ValueError, match="beam search is implemented in the NumPy backend"):
        keras_tr.translate(sents, beam=3)


@pytest.mark.per_backend
@pytest.mark.slow
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
    # the weights after 8 Adam steps. The warm-up lr is d_model^-0.5·step·warmup^-1.5 = 3.1e-5·step,
    # so a weight moves at most Σ lr = 1.1e-3 in all (Adam's |m̂/sqrt(v̂)| <= 1 as 1-β1 <= sqrt(1-β2)):
    # a tolerance of 1e-4 on the weights themselves would pass a wrong update. What each backend
    # *changed* (after - start, per tensor) is compared instead, relative to its size:
    # ||Δkeras - Δnumpy|| / max(||Δkeras||, ||Δnumpy||) <= 1e-4. Why 1e-4 (float32): the backends'
    # gradients agree to ~1e-6 relative (the parity suite's float32 gradients), Adam's m̂/sqrt(v̂)
    # carries that relative error into each step, and 8 steps of it were observed at <= 1.3e-5 (a
    # tensor with small gradient entries, whose float32 rounding is relatively larger); a learning
    # rate only 1.5 % off changes every tensor's Δ by 1.5e-2, over 100x the tolerance (checked below).
    start = Transformer(a["cfg"], seed=0).state_dict()   # both runs' first weights (--seed 0)
    moved = {k: a["weights"][k] - start[k] for k in start if not k.endswith("wk.bias")}
    # each tensor moved by about Σ lr: `start` is the runs' start (another start would put O(0.1)
    # here and shrink every relative error below)
    assert all(5e-4 < np.abs(d).max() < 1.2e-3 for d in moved.values())
    tol = 1e-4
    for k, d in moved.items():
        check_rel(f"translation run Δ{k}", b["weights"][k] - start[k], d, tol, "float32", "TINY, 8 Adam steps",
                  group="translation run Δweights after 8 Adam steps, Keras vs NumPy")
    for k in (k for k in start if k.endswith("wk.bias")):
        # its true gradient is 0 (softmax shift invariance); Adam normalises each backend's float32
        # rounding noise into steps of size ~lr, different in each: only check that both stayed
        # within the summed learning rate of their zero start (8 steps < 1e-3)
        assert np.abs(a["weights"][k]).max() < 1e-3 and np.abs(b["weights"][k]).max() < 1e-3
    # the tolerance catches a wrong update: a NumPy run whose learning rate is 1.5 % too small
    # (warm-up 404, not 400: lr x (400/404)^1.5 = 0.985) fails it in every tensor, by far
    wrong = tmp_path / "wrong-lr"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(wrong), "--epochs", "1", "--dropout", "0",
                 "--backend", "numpy", "--warmup", "404", *TINY]) == 0
    w = load_checkpoint(wrong)["weights"]
    assert min(rel_err(w[k] - start[k], d) for k, d in moved.items()) > 10 * tol
    # the Keras checkpoint (weights + Adam moments) resumes in the NumPy backend
    assert main(["train", "--run-dir", str(runs["keras"]), "--resume", "--epochs", "2", "--backend", "numpy"]) == 0
    assert load_checkpoint(runs["keras"])["meta"]["epoch"] == 2
