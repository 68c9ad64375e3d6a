"""The ViT program (`python -m numpy_transformer vit`): data split and checks, augmentation,
the warm-up + cosine schedule in both backends, a short run end to end with its files and last
line, bit-for-bit resume, the Keras backend's start and first steps against NumPy, and the
errors for bad data."""
import json
import re

import numpy as np
import pytest

from requires import require

require("sklearn")

from numpy_transformer.training.checkpoint import load_checkpoint  # noqa: E402
from numpy_transformer.cli.main import main  # noqa: E402
from numpy_transformer.apps.vit.commands import load_split  # noqa: E402
from numpy_transformer.apps.vit.train import ViTArgs, make_backend, random_shift  # noqa: E402
from numpy_transformer.config import ViTConfig  # noqa: E402
from numpy_transformer.ops.optim import WarmupCosine  # noqa: E402

TINY = ["--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1", "--patch-size", "4", "--quiet"]


def test_digits_split_is_stratified_fixed_and_checked():
    s = load_split(data_seed=0)
    assert (len(s.x_train), len(s.x_eval)) == (1437, 360) and s.x_train.shape[1:] == (8, 8, 1)
    assert s.x_train.min() == 0 and s.x_train.max() == 1.0 and s.eval_name == "test"
    assert np.all(np.abs(np.bincount(s.y_eval) - 36) <= 1)       # ~36 of each digit in the test split
    np.testing.assert_array_equal(load_split(data_seed=0).y_eval, s.y_eval)
    v = load_split(data_seed=0, validation=True)                 # carved from the training part only
    assert (len(v.x_train), len(v.x_eval), v.eval_name) == (1149, 288, "validation")
    train_rows = {r.tobytes() for r in s.x_train}
    assert all(r.tobytes() in train_rows for r in v.x_eval)


def test_random_shift_moves_whole_images_and_fills_zeros():
    rng = np.random.default_rng(0)
    img = rng.random((20, 8, 8, 1)) + 1                  # no zero pixels
    out = random_shift(img, np.random.default_rng(1), 1)
    dy, dx = np.random.default_rng(1).integers(0, 3, (2, 20))
    for b in range(20):
        padded = np.pad(img[b], ((1, 1), (1, 1), (0, 0)))
        np.testing.assert_array_equal(out[b], padded[dy[b]:dy[b] + 8, dx[b]:dx[b] + 8])
    assert random_shift(img, rng, 0) is img


def test_warmup_cosine_in_both_backends():
    require("keras")
    from keras import ops
    from keras_transformer import WarmupCosine as KerasWarmupCosine
    s, k = WarmupCosine(2e-3, 10, 100), KerasWarmupCosine(2e-3, 10, 100)
    steps = np.arange(1, 121)
    ours = np.array([s(t) for t in steps])
    theirs = np.array([float(ops.convert_to_numpy(k(t - 1))) for t in steps])   # Keras counts from 0
    np.testing.assert_allclose(theirs, ours, rtol=1e-14, atol=1e-18)
    assert ours[9] == 2e-3 and ours[0] == 2e-4 and ours[99] == 0.0 and ours[-1] == 0.0
    assert np.all(np.diff(ours[10:100]) < 0)
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        WarmupCosine(1e-3, 10, 10)


@pytest.mark.slow
def test_a_short_run_end_to_end_then_resume_bit_for_bit(tmp_path, capsys):
    """2 epochs, then --resume to 3, against 3 epochs uninterrupted: same weights exactly (the
    shuffle, shifts and dropout of each epoch come from (seed, epoch))."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["vit", *TINY, "--epochs", "2", "--run-dir", str(a)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"test accuracy: \d+\.\d\d% \(\d+/360\), ViT numpy", out[-1]), out[-1]
    assert any("logistic regression" in line for line in out) and any("MLP" in line for line in out)
    for f in ("checkpoint.safetensors", "history.json", "curves.png", "confusion.png", "attention.png",
              "result_test.json"):
        assert (a / f).stat().st_size > 0, f
    result = json.loads((a / "result_test.json").read_text())
    assert 0 <= result["accuracy"] <= 1 and set(result["baselines"]) == {"logistic regression",
                                                                         "MLP (256 hidden, ReLU, Adam)"}
    assert main(["vit", "--resume", "--epochs", "3", "--run-dir", str(a), "--quiet", "--no-baselines"]) == 0
    assert main(["vit", *TINY, "--epochs", "3", "--run-dir", str(b), "--no-baselines"]) == 0
    ca, cb = load_checkpoint(a, kinds=("vit",)), load_checkpoint(b, kinds=("vit",))
    assert ca["meta"]["epoch"] == cb["meta"]["epoch"] == 3
    assert len(json.loads((a / "history.json").read_text())) == 3
    for k in cb["weights"]:
        np.testing.assert_array_equal(ca["weights"][k], cb["weights"][k], err_msg=k)
    with pytest.raises(ValueError, match="holds a Vision Transformer checkpoint .`vit`., not a translation Transformer"):
        load_checkpoint(a, kinds=("transformer",))  # the translation loader refuses a ViT run, by name
    capsys.readouterr()
    assert main(["vit", *TINY, "--epochs", "1", "--run-dir", str(a)]) == 2    # as train: exit 2, `error:`
    assert capsys.readouterr().err == (f"error: {a} already holds a checkpoint: pass --resume to continue it, "
                                       f"--overwrite to start over, or another --run-dir\n")


@pytest.mark.slow
def test_keras_backend_starts_from_the_numpy_weights_and_takes_the_same_steps():
    """Same initial weights exactly; after three Adam steps on the same batches (dropout and
    shifts off) the weights agree to float32 rounding: 1e-4 relative per tensor, the suite's
    float32 tolerance (Keras' Adam and ours are the same formula, float32 arithmetic in a
    different order)."""
    require("keras")
    cfg = ViTConfig(8, 1, 4, 10, d_model=16, num_heads=2, d_ff=32, num_layers=1, dropout=0.0)
    args = ViTArgs(epochs=2, lr=2e-3, warmup_epochs=1, seed=3)
    npb, kb = make_backend("numpy", cfg, args, 5), make_backend("keras", cfg, args, 5)
    for k, v in npb.get_weights().items():
        np.testing.assert_array_equal(kb.get_weights()[k], v, err_msg=k)
    s = load_split()
    for i in range(3):
        x, y = s.x_train[32 * i: 32 * (i + 1)], s.y_train[32 * i: 32 * (i + 1)]
        l_np, _ = npb.train_step(x.astype(np.float32), y, None)
        l_k, _ = kb.train_step(x, y)
        assert abs(l_np - l_k) < 1e-5 * abs(l_np)
    kw, nw = kb.get_weights(), npb.get_weights()
    for k in nw:
        if k.endswith("wk.bias"):
            # its gradient is exactly 0 (softmax shift invariance), so each backend's is rounding
            # noise, which Adam scales to steps of up to ~lr: bounded, not comparable
            assert max(np.abs(kw[k]).max(), np.abs(nw[k]).max()) <= 3 * 2e-3 * 1.01, k
        else:
            assert np.linalg.norm(kw[k] - nw[k]) <= 1e-4 * np.linalg.norm(nw[k]), k
    assert int(kb.get_optimizer_state()["t"]) == npb.opt.t == 3


def test_bad_data_and_arguments_get_clear_errors(tmp_path, capsys):
    def run_with(images, labels, *extra):
        f = tmp_path / "d.npz"
        np.savez(f, images=images, labels=labels)
        code = main(["vit", *TINY, "--epochs", "1", "--run-dir", str(tmp_path / "r"), "--data", str(f), *extra])
        return code, capsys.readouterr().err

    ok = np.random.default_rng(0).random((50, 8, 8))
    labels = np.arange(50) % 5
    nan = ok.copy()
    nan[3, 1, 1] = np.nan
    assert run_with(nan, labels) == (2, "error: training images contain NaN or inf pixels (1 of 50 images)\n")
    code, err = run_with(ok, np.where(labels == 4, -1, labels))
    assert code == 2 and "class -1 outside" in err
    code, err = run_with(ok[:, :, :6], labels)
    assert code == 2 and "must be square" in err
    code, err = run_with(ok, labels, "--patch-size", "3")
    assert code == 2 and "patch_size=3 does not divide image_size=8" in err
    code, err = run_with(ok, labels[:40])
    assert code == 2 and "labels must have shape (50,)" in err
    np.savez(tmp_path / "bad.npz", pixels=ok)
    assert main(["vit", "--data", str(tmp_path / "bad.npz"), "--run-dir", str(tmp_path / "q")]) == 2
    assert "expected arrays 'images' and 'labels'" in capsys.readouterr().err
    # not an archive, or one with pickled arrays: refused with the reason, never the advice to unpickle
    (tmp_path / "tsv.npz").write_text("Hi.\tHallo.\n")
    np.savez(tmp_path / "obj.npz", images=np.array([None] * 50, dtype=object), labels=labels)
    for name, why in (("tsv.npz", "not a NumPy .npz archive (the zip of arrays numpy.savez writes"),
                      ("obj.npz", "holds object arrays, which are never unpickled")):
        assert main(["vit", "--data", str(tmp_path / name), "--run-dir", str(tmp_path / "q")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {tmp_path / name}: {why}") and err.count("\n") == 1, err
        assert "allow_pickle" not in err and "unsafe" not in err
    with pytest.raises(SystemExit) as e:     # checked by argparse, before any data loads
        main(["vit", *TINY, "--epochs", "0", "--run-dir", str(tmp_path / "z")])
    assert e.value.code == 2
    assert "--epochs: must be a whole number >= 1, not 0" in capsys.readouterr().err


@pytest.mark.slow
def test_a_numpy_checkpoint_is_continued_by_the_keras_backend(tmp_path):
    """Weights and Adam moments are stored under the shared names: --resume --backend keras picks
    up a NumPy run (step count, moments, weights) and carries on."""
    require("keras")
    run = tmp_path / "r"
    assert main(["vit", *TINY, "--epochs", "1", "--run-dir", str(run), "--no-baselines"]) == 0
    first = load_checkpoint(run, kinds=("vit",))
    assert main(["vit", "--resume", "--backend", "keras", "--epochs", "2", "--run-dir", str(run), "--quiet",
                 "--no-baselines"]) == 0
    second = load_checkpoint(run, kinds=("vit",))
    assert second["meta"]["epoch"] == 2 and second["meta"]["backend"] == "keras"
    steps = first["optimizer"]["t"].item()                     # safetensors keeps the scalar as (1,)
    assert second["optimizer"]["t"].item() == 2 * steps         # Adam's step count went on from the NumPy run
    assert not np.array_equal(second["weights"]["head.weight"], first["weights"]["head.weight"])
