"""`train --model rnn-attention` end to end: the run directory, bit-for-bit --resume, translate
(greedy, beam, --plot-attention), evaluate, the Keras backend, --time-budget, and the errors for
options that do not apply to the chosen model, given before any data is read."""
import json

import numpy as np
import pytest

from tool_scripts import load_tool
from requires import require

require("safetensors")
require("matplotlib")

from numpy_transformer.training.checkpoint import load_checkpoint  # noqa: E402
from numpy_transformer.cli.main import main  # noqa: E402
from numpy_transformer.training.loop import over_budget  # noqa: E402
from numpy_transformer.config import RNNTranslatorConfig  # noqa: E402

PROG = "python -m numpy_transformer"
RNN = ["--model", "rnn-attention", "--embed-dim", "8", "--hidden", "12", "--batch-size", "32", "--threads", "1"]


@pytest.fixture(scope="module")
def rnn_run(tmp_path_factory, small_tsv):
    run = tmp_path_factory.mktemp("rnn") / "a"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run), "--epochs", "2", *RNN]) == 0
    return run


def test_run_directory_and_checkpoint_of_the_rnn_translator(rnn_run):
    for name in ("checkpoint.safetensors", "src_tokenizer.json", "history.json", "curves.png", "eval_test.json"):
        assert (rnn_run / name).exists(), name
    ck = load_checkpoint(rnn_run)
    assert isinstance(ck["cfg"], RNNTranslatorConfig) and ck["cfg"].hidden == 12 and ck["cfg"].score == "general"
    assert ck["optimizer"]["t"].item() == 2 * 8       # 240 training pairs / 32 = 8 steps per epoch
    assert "decoder.gru.recurrent_kernel" in ck["weights"]
    hist = json.loads((rnn_run / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2] and hist[1]["train_loss"] < hist[0]["train_loss"]


def test_resume_of_the_rnn_translator_is_bit_for_bit(tmp_path, small_tsv, rnn_run):
    run = tmp_path / "b"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run), "--epochs", "1", *RNN]) == 0
    assert main(["train", "--run-dir", str(run), "--resume", "--epochs", "2", "--threads", "1"]) == 0
    a, b = load_checkpoint(rnn_run), load_checkpoint(run)
    for k in a["weights"]:
        assert np.array_equal(a["weights"][k], b["weights"][k]), k
    for k in a["optimizer"]:
        assert np.array_equal(a["optimizer"][k], b["optimizer"][k]), k


def test_translate_greedy_beam_plot_and_evaluate(rnn_run, tmp_path, capsys):
    png = tmp_path / "att.png"
    assert main(["translate", "we have a dog", "the cat", "--checkpoint", str(rnn_run), "--beam", "3",
                 "--plot-attention", str(png), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count(" -> ") == 2 and png.stat().st_size > 0
    assert main(["translate", "we have a dog", "--checkpoint", str(rnn_run), "--attention-layer", "1"]) == 2
    assert "this model's decoder has layers 0 to 0" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(rnn_run), "--beam", "2", "--limit", "10", "--threads", "1"]) == 0
    r = json.loads((rnn_run / "eval_test_numpy_beam2.json").read_text())
    assert r["sentences"] + r["skipped"] == 10 and 0 <= r["bleu"] <= 100
    capsys.readouterr()
    # the closing line counts the examples the file holds (at most 10; here --limit 5 leaves fewer)
    assert main(["evaluate", "--checkpoint", str(rnn_run), "--limit", "5", "--threads", "1"]) == 0
    out = rnn_run / "eval_test_numpy_beam1.json"
    r = json.loads(out.read_text())
    n = len(r["examples"])
    assert n == r["sentences"] <= 5
    assert capsys.readouterr().out.splitlines()[-1] == (f"(all scores and {n} example{'s' if n != 1 else ''} "
                                                        f"in {out})")


@pytest.mark.slow
def test_keras_backend_trains_and_serves_the_rnn_translator(tmp_path, small_tsv, rnn_run, capsys):
    require("keras")
    run = tmp_path / "k"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run), "--epochs", "1", "--backend", "keras",
                 "--init-from", str(rnn_run), *RNN]) == 0
    ck = load_checkpoint(run)
    assert ck["meta"]["backend"] == "keras" and ck["optimizer"]["t"].item() == 8
    capsys.readouterr()
    # the NumPy run's checkpoint decodes the same with either backend
    outs = []
    for backend in ("numpy", "keras"):
        assert main(["translate", "we have a dog", "the cat", "--checkpoint", str(rnn_run), "--backend", backend]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]


def test_time_budget_stops_before_an_epoch_that_would_not_fit(tmp_path, small_tsv, capsys):
    hist = [{"seconds": 50.0, "val_seconds": 10.0}]
    assert not over_budget(hist, 2.0)          # 60 s spent + 60 s ≤ 120 s
    assert over_budget(hist, 1.9)
    assert not over_budget(hist, None)
    run = tmp_path / "t"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run), "--epochs", "5",
                 "--time-budget", "0.00001", *RNN]) == 0
    assert len(json.loads((run / "history.json").read_text())) == 1
    assert "--time-budget 1e-05 min: stopping after epoch 1" in capsys.readouterr().out



@pytest.mark.parametrize("argv,msg", [
    (["--hidden", "32"], "error: --hidden applies to --model rnn-attention, not to --model transformer: leave it out"),
    (["--model", "rnn-attention", "--heads", "2", "--d-ff", "8"],
     "error: --heads, --d-ff apply to --model transformer, not to --model rnn-attention: leave them out"),
    (["--model", "rnn-attention", "--attention-units", "8"],
     "error: --attention-units is the concat score's attention size; --score general has none "
     "(use --score concat or leave --attention-units out)"),
])
def test_options_of_another_model_are_errors_before_any_data(capsys, no_data, tmp_path, argv, msg):
    assert main(["train", "--run-dir", str(tmp_path / "x"), *argv]) == 2
    assert capsys.readouterr().err.strip() == msg


def test_unknown_score_is_an_argparse_error(capsys, no_data):
    with pytest.raises(SystemExit) as e:
        main(["train", "--model", "rnn-attention", "--score", "cosine"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        f"error: train: argument --score: invalid choice: 'cosine' (choose from 'general', 'dot', 'concat') "
        f"(see {PROG} train --help)\n")


def test_resume_and_init_from_refuse_the_other_model(rnn_run, tmp_path, capsys, no_data):
    assert main(["train", "--run-dir", str(rnn_run), "--resume", "--d-model", "64", "--epochs", "3"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --d-model applies to --model transformer, not to {rnn_run}, a run of --model rnn-attention: leave it out")
    assert main(["train", "--run-dir", str(rnn_run), "--resume", "--model", "transformer", "--epochs", "3"]) == 2
    assert capsys.readouterr().err.strip() == f"error: --resume: {rnn_run} holds a run of --model rnn-attention, not --model transformer"
    assert main(["train", "--run-dir", str(tmp_path / "y"), "--init-from", str(rnn_run)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --init-from {rnn_run} is a checkpoint of --model rnn-attention; this run trains --model transformer")
    assert main(["train", "--run-dir", str(tmp_path / "y"), "--init-from", str(rnn_run), *RNN[:4], "--hidden", "8"]) == 2
    assert f"error: --init-from {rnn_run} is another model (--hidden 12 (this run: 8))" in capsys.readouterr().err


def _translators():
    return load_tool("translators")


@pytest.mark.parametrize("argv,message", [(["--minutes", "0"], "argument --minutes: must be > 0, not 0"),
                                          (["--data", __file__, "--save", "--out", "x"], "--save and --out exclude"),
                                          (["--data", "/nonexistent.tsv"], "no data at /nonexistent.tsv")])
def test_the_comparison_script_rejects_bad_options_in_one_line(tmp_path, monkeypatch, capsys, argv, message):
    from benchmarks import cli
    monkeypatch.setattr(cli, "HERE", str(tmp_path))       # a run folder would land here: none must
    with pytest.raises(SystemExit) as e:
        _translators().main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_comparison_script_runs_end_to_end(tmp_path, small_tsv):
    """tools/translators.py on 300 pairs and a budget of one epoch: both rows, every column."""
    t = _translators()
    SENTENCES, compare = t.SENTENCES, t.main
    assert compare(["--minutes", "0.0001", "--data", str(small_tsv), "--n", "300", "--threads", "1",
                    "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs"), "--decode-reps", "1", "--tiny"]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["model"] for r in res["results"]] == ["transformer", "rnn-attention"]
    for r in res["results"]:
        assert r["epochs"] == 1 and r["parameters"] > 0 and r["greedy_sentences_per_second"] > 0
        assert set(r["examples"]) == set(SENTENCES) and r["load_average_during_training"]["samples"] >= 2
        assert (tmp_path / "out" / r["attention_png"]).stat().st_size > 0
    assert (tmp_path / "out" / "curves.png").stat().st_size > 0
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| best val acc (epoch) |" in md and "| test BLEU / chrF (greedy) |" in md
