"""The road-to-attention examples: the book's general attention (chapter 8) against SciPy and
the book's printed numbers, the data of the RNN chapters, training parity of the two backends,
and the command-line subcommands (short runs) with their errors."""
import json

import numpy as np
import pytest

from requires import require

from numpy_transformer.cli.main import main
from numpy_transformer.apps.rnn.general_attention import BOOK_ATTENTION, general_attention
from numpy_transformer.data.series import (SHIPPED_SERIES, fibonacci_data, fibonacci_like_data, load_series,
                                          make_windows, seasonal_series, split_series)
from numpy_transformer.config import RNNConfig
from numpy_transformer.models import RNNRegressor
from numpy_transformer.ops.gradcheck import rel_error


# ---------------------------------------------------------------------------- chapter 8
def test_general_attention_reproduces_the_book_with_the_projects_attention_and_scipys():
    r = general_attention(quiet=True)
    np.testing.assert_array_equal(r["scores"], [[8, 2, 10, 2], [4, 0, 4, 0], [12, 2, 14, 2], [10, 4, 14, 3]])
    # the same arithmetic up to the order of the exp/sum: a few ulps of values ~1
    assert r["max_diff"] <= 1e-12, r["max_diff"]
    # the book prints 8 decimals, so its numbers are within 5e-9 of the exact ones
    assert r["max_diff_book"] <= 5e-9 + 1e-15, r["max_diff_book"]
    np.testing.assert_allclose(r["weights"].sum(axis=1), 1.0, rtol=1e-15)
    assert BOOK_ATTENTION.shape == r["project"].shape


def test_general_attention_leaves_the_global_generator_alone_and_the_cli_prints_both(capsys):
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    assert main(["general-attention"]) == 0
    assert np.random.rand() == expected
    out = capsys.readouterr().out
    assert "scaled_dot_product_attention" in out and "SciPy" in out and "0.98522025" in out


# ---------------------------------------------------------------------------- data
def test_the_shipped_series_is_the_generator_output():
    """The CSV in the package is seasonal_series(seed=0) written by write_series_csv (should a
    NumPy release ever change the Generator's streams, this fails: regenerate the file)."""
    np.testing.assert_array_equal(load_series(SHIPPED_SERIES), seasonal_series())
    s = seasonal_series()
    assert len(s) == 2820 and s.min() >= 0
    # an ~11-year cycle: the autocorrelation peaks between 9.5 and 12.5 years
    c = s - s.mean()
    ac = np.array([np.dot(c[:-k], c[k:]) for k in range(60, 200)])
    assert 114 <= 60 + int(np.argmax(ac)) <= 150


def test_windows_and_split():
    X, y = make_windows(np.arange(10.0), 3, 1)
    np.testing.assert_array_equal(X[:, :, 0], [[i, i + 1, i + 2] for i in range(7)])
    np.testing.assert_array_equal(y[:, 0], np.arange(3, 10))
    X, y = make_windows(np.arange(10.0), 3, 3)                 # the book's non-overlapping windows
    np.testing.assert_array_equal(y[:, 0], [3, 6, 9])
    s = np.arange(100.0)
    Xtr, ytr, Xte, yte, scaler, n = split_series(s, 0.8, 5)
    assert n == 80 and scaler.lo == 0 and scaler.hi == 79       # fitted on the training part only
    assert scaler.inverse(yte[0, 0]) == 80 and scaler.inverse(ytr[-1, 0]) == 79
    with pytest.raises(ValueError, match="no window of 20 steps"):
        make_windows(np.arange(10.0), 20)
    with pytest.raises(ValueError, match="train_fraction"):
        split_series(s, 1.5, 5)


def test_fibonacci_data():
    Xtr, ytr, Xte, yte, te = fibonacci_data(60, 5)
    X = np.concatenate([Xtr, Xte])[:, :, 0]
    y = np.concatenate([ytr, yte])[:, 0]
    assert len(X) == 55 and len(Xte) == 55 - int(0.7 * 55) and len(set(te)) == len(te)
    assert X.min() == 0 and y.max() == 1.0                      # min-max scaled
    # x' = (x − lo)/R turns x_{t+1} = x_t + x_{t-1} into x'_{t+1} = x'_t + x'_{t-1} + lo/R: a constant
    gap = y - X[:, -1] - X[:, -2]
    np.testing.assert_allclose(gap, gap[0], atol=1e-15)
    np.testing.assert_allclose(X[:, 2:], X[:, 1:-1] + X[:, :-2] + gap[0], atol=1e-15)
    Xtr, ytr, Xte, yte, _ = fibonacci_like_data(50, 6)
    np.testing.assert_allclose(ytr[:, 0], Xtr[:, -1, 0] + Xtr[:, -2, 0], rtol=1e-14)
    np.testing.assert_allclose(Xtr[:, 2:, 0], Xtr[:, 1:-1, 0] + Xtr[:, :-2, 0], rtol=1e-14)
    assert 0 < ytr.min() and ytr.max() <= 1.0 and len(Xte) == 15
    with pytest.raises(ValueError, match="overflows float64"):
        fibonacci_data(1500, 20)


def test_series_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="series file not found"):
        load_series(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("Month,Sunspots\n1749-01,58.0\n1749-02,n/a\n1749-03,3\n")
    with pytest.raises(ValueError, match=r"line 3: last column 'n/a' is not a number"):
        load_series(bad)
    nan = tmp_path / "nan.csv"
    nan.write_text("1\n2\nnan\n4\n")
    with pytest.raises(ValueError, match="NaN/inf"):
        load_series(nan)
    binary = tmp_path / "binary.bin"                   # a file that is not text: line 2 holds byte 0xff
    binary.write_bytes(b"Month,Sunspots\n1749-01,\xff\xfe58.0\n")
    with pytest.raises(ValueError, match=r"binary.bin: line 2 is not valid UTF-8 \(invalid start byte at byte 8\)"):
        load_series(binary)


# ---------------------------------------------------------------------------- both backends
def keras_bias_correction_rounding(t, beta1=0.9, beta2=0.999):
    """Keras 3's Adam casts β1, β2 to float32 in its float64 bias correction (see
    test_keras_optim.py): the ratio of its step size to the exact one at step t."""
    f32 = lambda b: float(np.float32(b))  # noqa: E731
    return (np.sqrt(1 - f32(beta2) ** t) / (1 - f32(beta1) ** t)) / (np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t))


@pytest.mark.parametrize("attention", ["none", "time", "bahdanau"])
def test_training_both_backends_from_the_same_weights_stays_together(attention):
    """Six Adam steps (float64) on the same batches from the same weights: every weight of the
    Keras model equals the NumPy model's, ‖a − b‖ / max(‖a‖, ‖b‖) ≤ 1e-8 per tensor. Keras'
    float32 β rounding is applied to the NumPy step size as in test_keras_optim.py, and
    lr = 2⁻⁷ is exact in the float32 Keras keeps it in; after one step the weights then agree
    to 1e-14, after six to ≤ 3e-10 (a drift that starts at Keras' second Adam step; its source
    is not pinned down: not XLA, not ε's float32 rounding). 1e-8 keeps a margin of 30 over
    that and is 10⁴ below the float32 tolerance."""
    require("keras")
    from keras_grads import skip_unless_dtype_supported
    skip_unless_dtype_supported("float64")
    from numpy_transformer.apps.rnn.train import KerasRNN, NumpyRNN, fit_rnn
    lr = 2.0 ** -7
    cfg = RNNConfig(hidden=4, time_steps=6, attention=attention, d_a=3, dtype="float64")
    state = RNNRegressor(cfg, seed=1).state_dict()
    X, y = make_windows(np.sin(np.arange(60) / 3.0) * 0.5 + 0.5, 6)
    backends = [NumpyRNN(cfg, state, lambda t: lr * keras_bias_correction_rounding(t)), KerasRNN(cfg, state, lr)]
    hist = [fit_rnn(b, X[:48], y[:48], 1, 8, seed=3, quiet=True)[0] for b in backends]
    # the loss Keras reports comes from its loss tracker, a float32 Mean metric: float32 rounding
    np.testing.assert_allclose(hist[0], hist[1], rtol=1e-6)
    w_np, w_k = backends[0].model.state_dict(), backends[1].model.state_dict()
    for k in w_np:
        assert not np.array_equal(w_np[k], state[k]), f"{k} did not train"
        assert rel_error(w_k[k], w_np[k]) <= 1e-8, (k, rel_error(w_k[k], w_np[k]))


# ---------------------------------------------------------------------------- command line
def test_sunspots_cli_both_backends(tmp_path, capsys):
    require("keras")
    out = tmp_path / "ss"
    assert main(["sunspots", "--epochs", "2", "--hidden", "2", "--stride", "3", "--quiet",
                 "--out-dir", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    rn, rk = r["results"]["numpy"], r["results"]["keras"]
    # float32 runs of ~240 Adam steps on identical batches: rounding-level drift only
    assert abs(rn["test_rmse"] - rk["test_rmse"]) <= 1e-3 * rn["test_rmse"]
    assert rn["test_rmse"] < 0.5 and (out / "sunspots.png").stat().st_size > 10_000
    assert "test RMSE" in capsys.readouterr().out


def test_sunspots_cli_reads_a_csv_and_reports_errors(tmp_path, capsys):
    csv = tmp_path / "monthly-sunspots.csv"
    t = np.arange(400)
    csv.write_text('"Month","Sunspots"\n' + "".join(f'"{1749 + i // 12}-{i % 12 + 1:02d}",{v:.1f}\n'
                   for i, v in enumerate(60 + 50 * np.sin(2 * np.pi * t / 132))))
    assert main(["sunspots", "--data", str(csv), "--epochs", "1", "--backends", "numpy", "--quiet",
                 "--out-dir", str(tmp_path / "o")]) == 0
    assert "monthly-sunspots.csv: 400 values" in capsys.readouterr().out
    assert main(["sunspots", "--data", str(tmp_path / "missing.csv"), "--out-dir", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"error: --data {tmp_path / 'missing.csv'}: no such file\n"
    with pytest.raises(SystemExit) as e:          # an option's value: argparse's one-line error
        main(["sunspots", "--backends", "torch", "--out-dir", str(tmp_path / "o")])
    assert e.value.code == 2
    assert "argument --backends: must be one or more of numpy, keras" in capsys.readouterr().err
    binary = tmp_path / "binary.bin"                   # not UTF-8: one line, as train and bert say it
    binary.write_bytes(bytes(range(256)) * 4)          # byte 10 ends line 1; 0x80 is byte 117 of line 2
    assert main(["sunspots", "--data", str(binary), "--out-dir", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == (f"error: {binary}: line 2 is not valid UTF-8 (invalid start byte at "
                                       f"byte 117)\n")


@pytest.mark.parametrize("command", ["sunspots", "fibonacci"])
def test_out_dir_needs_an_existing_parent(command, tmp_path, capsys, monkeypatch):
    """A typo in --out-dir does not quietly make a new tree (as translate's --plot-attention):
    refused in one line before any data is read; the directory itself may be new, and the
    default runs/<command> is made with runs/ in a fresh clone."""
    import numpy_transformer.apps.rnn.examples as examples
    monkeypatch.setattr(examples, f"run_{command}", lambda **k: pytest.fail("started before refusing"))
    missing = tmp_path / "nonexistent" / "deep" / "dir"
    assert main([command, "--out-dir", str(missing), "--backends", "numpy"]) == 2
    assert capsys.readouterr().err == (f"error: --out-dir {missing}: the directory {missing.parent} does not exist "
                                       f"(it is not created: name a directory whose parent exists)\n")
    assert not (tmp_path / "nonexistent").exists()
    a_file = tmp_path / "taken"
    a_file.write_text("")
    assert main([command, "--out-dir", str(a_file), "--backends", "numpy"]) == 2
    assert capsys.readouterr().err == f"error: --out-dir {a_file} is a file, not a directory\n"
    assert main([command, "--out-dir", str(a_file / "sub"), "--backends", "numpy"]) == 2
    assert capsys.readouterr().err == f"error: --out-dir {a_file / 'sub'}: {a_file} is a file, not a directory\n"
    started = []
    monkeypatch.setattr(examples, f"run_{command}", lambda **k: started.append(k["out_dir"]) or 0)
    fresh = tmp_path / "fresh-clone"                   # no runs/ yet: the default is made, runs/ with it
    fresh.mkdir()
    monkeypatch.chdir(fresh)
    assert main([command, "--backends", "numpy"]) == 0
    assert main([command, "--backends", "numpy", "--out-dir", f"runs/{command}"]) == 0
    assert main([command, "--backends", "numpy", "--out-dir", str(tmp_path / "new")]) == 0   # a new leaf is fine
    assert started == [f"runs/{command}", f"runs/{command}", str(tmp_path / "new")]


@pytest.mark.slow
def test_fibonacci_cli_every_model_both_backends(tmp_path, capsys):
    require("keras")
    out = tmp_path / "fib"
    assert main(["fibonacci", "--data", "random", "--n", "120", "--time-steps", "8", "--epochs", "2",
                 "--quiet", "--out-dir", str(out)]) == 0
    r = json.loads((out / "results-random.json").read_text())
    assert {(x["attention"], x["backend"]) for x in r["results"]} == {
        (a, b) for a in ("none", "time", "bahdanau") for b in ("numpy", "keras")}
    by = {(x["attention"], x["backend"]): x["test_mse"] for x in r["results"]}
    for a in ("none", "time", "bahdanau"):           # same weights, same batches, float32 rounding only
        assert abs(by[a, "numpy"] - by[a, "keras"]) <= 1e-3 * by[a, "numpy"], a
    assert set(r["mean_attention"]) == {"+ book attention", "+ Bahdanau"}
    for w in r["mean_attention"].values():
        assert len(w) == 8 and abs(sum(w) - 1) < 1e-5
    assert (out / "fibonacci-random.png").exists()
    with pytest.raises(SystemExit) as e:
        main(["fibonacci", "--models", "luong", "--out-dir", str(out)])
    assert e.value.code == 2
    assert "argument --models: must be one or more of none, time, bahdanau" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["sunspots", "--epochs", "0"], ["fibonacci", "--hidden", "-1"],
                                  ["sunspots", "--train-fraction", "1.5"]])
def test_example_options_are_checked_before_anything_runs(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and "must be" in capsys.readouterr().err
