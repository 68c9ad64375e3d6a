"""The command line's answers to bad input: each case is the exact command line a user typed
and the exact message it must print (one line, no traceback), checked before any data is read
where the data is not needed to know the answer."""
import json
import re

import pytest

from requires import require

require("safetensors")

from numpy_transformer.training.checkpoint import load_checkpoint  # noqa: E402
from numpy_transformer.cli.main import build_parser, main  # noqa: E402
import numpy_transformer.apps.translation.translate  # noqa: E402,F401  (bound to the real loaders before no_data patches them)

from conftest import TINY  # noqa: E402

PROG = "python -m numpy_transformer"



def usage_error(capsys, argv):
    """argparse's own errors: exit status 2 and one line, `error: sub: … (see prog sub --help)`."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err.strip()


def help_hint(command):
    return f" (see {PROG} {command} --help)"


def run(capsys, argv):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, small_tsv):
    """One epoch of the tiny model with --max-len 6, so that some test pairs are too long."""
    run_dir = tmp_path_factory.mktemp("cli") / "short"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run_dir), "--epochs", "1",
                 "--max-len", "6", "--threads", "1", *TINY]) == 0
    return run_dir


# -- the seven crashes of the issue ------------------------------------------------------------------

@pytest.mark.parametrize("n", ["0", "-3"])
def test_train_epochs_must_be_positive(capsys, no_data, n):
    assert usage_error(capsys, ["train", "--epochs", n]) == \
        f"error: train: argument --epochs: must be a whole number >= 1, not {n}" + help_hint("train")


def test_train_max_len_1_is_refused_before_data(capsys, no_data):
    rc, _, err = run(capsys, ["train", "--max-len", "1"])
    assert rc == 2 and err == ("error: --max-len 1 leaves no room for a word: a sentence takes its words plus "
                               "<eos>, so --max-len must be at least 2\n")


def test_train_max_len_2_says_no_pair_fits(capsys, tmp_path, small_tsv):
    # whether any pair fits a length is a fact about the data, so this one is known only after loading it
    rc, out, err = run(capsys, ["train", "--data", str(small_tsv), "--max-len", "2", "--run-dir", str(tmp_path / "r"),
                                *TINY])
    assert rc == 2 and err == "error: --max-len 2 leaves no training pair: all 240 are longer (the shortest needs --max-len 4)\n"
    assert not (tmp_path / "r").exists()
    # the "4" is right: the embedded corpus's shortest pairs have 3 words (+ <eos>)
    from numpy_transformer.data.pairs import load_pairs, prepare_dataset
    from numpy_transformer.data.tokenizer import Tokenizer
    from numpy_transformer.apps.translation.train import encode_split
    train = prepare_dataset(load_pairs(small_tsv, 10000), n=10000, seed=1, clean=True, umlauts="keep").train
    src, tgt = (Tokenizer.fit([p[i] for p in train]) for i in (0, 1))
    assert len(encode_split(train, src, tgt, 3)[0]) == 0 < len(encode_split(train, src, tgt, 4)[0])


def test_evaluate_limit_0(capsys, no_data):
    assert usage_error(capsys, ["evaluate", "--limit", "0"]) == \
        f"error: evaluate: argument --limit: must be a whole number >= 1, not 0" + help_hint("evaluate")


def test_train_data_is_a_directory(capsys, no_data, tmp_path):
    rc, _, err = run(capsys, ["train", "--data", str(tmp_path)])
    assert rc == 2 and err == f"error: --data {tmp_path} is a directory; pass the deu.txt-style file inside it\n"


def test_train_data_missing(capsys, no_data, tmp_path):
    rc, _, err = run(capsys, ["train", "--data", str(tmp_path / "nope.tsv")])
    assert rc == 2 and err == f"error: --data {tmp_path / 'nope.tsv'}: no such file\n"


def test_ctrl_c_before_the_first_checkpoint(capsys, tmp_path, small_tsv, monkeypatch):
    import numpy_transformer.apps.translation.train as train_mod

    def interrupted(self, batch, rng):
        raise KeyboardInterrupt
    monkeypatch.setattr(train_mod.NumpyBackend, "train_step", interrupted)
    run_dir = tmp_path / "c"
    rc, _, err = run(capsys, ["train", "--data", str(small_tsv), "--run-dir", str(run_dir), "--epochs", "2", *TINY])
    assert rc == 130
    assert err == (f"\ninterrupted before the first epoch finished: no checkpoint of this run was written to "
                   f"{run_dir}; run the same command again to start over\n")
    assert not (run_dir / "checkpoint.safetensors").exists()


@pytest.mark.parametrize("n", ["0", "-1"])
def test_demo_steps_must_be_positive(capsys, n):
    assert usage_error(capsys, ["demo", "--steps", n]) == \
        f"error: demo: argument --steps: must be a whole number >= 1, not {n}" + help_hint("demo")


# -- resume, init-from, translate, evaluate ------------------------------------------------------------

def test_resume_refuses_flags_it_would_ignore(capsys, short_run):
    # the run has d_model 16, 2 heads, 1 layer: --layers 1 agrees with it and is not listed
    rc, _, err = run(capsys, ["train", "--resume", "--run-dir", str(short_run), "--d-model", "64", "--heads", "4",
                              "--layers", "1", "--epochs", "2"])
    assert rc == 2 and err == (
        f"error: --resume continues {short_run} with its own settings, so these flags would be ignored: "
        f"--d-model 64 (the run has 16); --heads 4 (the run has 2). Leave them out, or start a new run "
        f"(another --run-dir or --overwrite)\n")


def test_resume_accepts_the_runs_own_flags(capsys, short_run, tmp_path):
    import shutil
    run_dir = tmp_path / "copy"
    shutil.copytree(short_run, run_dir)
    # the same model flags as the run (abbreviated and with =) are not "ignored": it resumes
    rc, out, err = run(capsys, ["train", "--resume", "--run-dir", str(run_dir), "--d-mod=16", "--heads", "2",
                                "--epochs", "2", "--threads", "1"])
    assert rc == 0, err
    assert f"resuming {run_dir} after epoch 1 of 2" in out
    assert load_checkpoint(run_dir)["meta"]["epoch"] == 2


def test_resume_epochs_already_done(capsys, short_run):
    rc, _, err = run(capsys, ["train", "--resume", "--run-dir", str(short_run), "--epochs", "1"])
    assert rc == 2 and err == (f"error: --epochs 1: {short_run} has already completed 1 epochs; "
                               f"ask for more to continue it\n")


def test_resume_without_a_checkpoint(capsys, no_data, tmp_path):
    rc, _, err = run(capsys, ["train", "--resume", "--run-dir", str(tmp_path)])
    assert rc == 2 and err == (f"error: --resume: no checkpoint in {tmp_path} to continue "
                               f"(leave out --resume to start a run)\n")


def test_init_from_another_model_is_summarised(capsys, no_data, short_run, tmp_path):
    rc, _, err = run(capsys, ["train", "--init-from", str(short_run), "--run-dir", str(tmp_path / "i")])
    # the default model (d_model 128, 4 heads, d_ff 512, 2 layers) against the tiny one (16, 2, 32, 1)
    assert rc == 2
    assert err.startswith(f"error: --init-from {short_run} is another model (--d-model 16 (this run: 128), "
                          f"--heads 2 (this run: 4), --d-ff 32 (this run: 512), --layers 1 (this run: 2)): ")
    assert "parameters of shape (16,) where this model has (128,) (e.g. decoder.layers.0.cross_attn.wk.bias)" in err
    assert re.search(r"; \d+ parameters missing \(e\.g\. decoder\.layers\.1\.", err)
    assert err.endswith("Pass the same model flags (numpy_transformer.config.check_state_dict lists every key)\n")
    assert len(err) < 1500, len(err)      # a summary, not every key (the old message was ~6,000 characters)


def test_translate_reports_the_bad_sentence_and_translates_the_others(capsys, short_run):
    rc, out, err = run(capsys, ["translate", "i have a dog", "", "the dog", "--checkpoint", str(short_run)])
    assert rc == 2
    lines = out.strip().splitlines()
    assert [ln.split(" -> ")[0] for ln in lines] == ["i have a dog", "the dog"]
    assert err == "error: sentence 2: nothing to translate in '' (empty after cleaning)\n"


def test_translate_names_unknown_words_as_typed(capsys, short_run):
    # "dög" cleans to the known "dog" (English is folded to ASCII, as in training); "qwértz" is
    # unknown and named as typed, not as "qwertz"; the emoji is reported, not dropped silently
    rc, out, err = run(capsys, ["translate", "I have a dög, qwértz 🙂", "--checkpoint", str(short_run),
                                "--threads", "1"])
    assert rc == 0, err
    assert out.startswith("I have a dög, qwértz 🙂 -> ") and out.endswith("   (unknown words: qwértz; left out: 🙂)\n")


def test_evaluate_prints_a_summary_and_the_skipped_pairs(capsys, short_run):
    rc, out, err = run(capsys, ["evaluate", "--checkpoint", str(short_run), "--threads", "1"])
    assert rc == 0, err
    r = json.loads((short_run / "eval_test_numpy_beam1.json").read_text())
    assert r["skipped"] > 0      # --max-len 6 leaves some test sources too long
    first = out.splitlines()[0]
    assert first == (f"test split ({r['sentences']} sentences, greedy): BLEU {r['bleu']:.1f}, chrF {r['chrf']:.1f}; "
                     f"{r['skipped']} of {r['sentences'] + r['skipped']} pairs skipped "
                     f"(longer than the model's max_len, or no known word)")
    assert out.splitlines()[1].startswith(f"  {r['examples'][0]['en']}")
    assert '"bleu":' in out


# -- interface ------------------------------------------------------------------------------------

def test_every_option_has_help_that_shows_its_default():
    _, parsers = build_parser()
    for name, p in parsers.items():
        fmt = p._get_formatter()
        for action in p._actions:
            if not action.option_strings or action.dest == "help":
                continue
            text = fmt._get_help_string(action)
            assert action.help, f"{name} {action.option_strings[0]} has no help"
            assert "default" in text, f"{name} {action.option_strings[0]}: {text!r}"


def test_progress_writes_one_line_per_bar_off_a_terminal(capsys):
    from numpy_transformer.training.progress import progress
    with progress(500, "epoch 1/1") as bar:
        for _ in range(500):
            bar.set_postfix_str("loss=1.000")
            bar.update(1)
    err = capsys.readouterr().err     # pytest's captured stderr is not a terminal
    assert len(err.splitlines()) == 1 and re.fullmatch(r"epoch 1/1: 500/500 steps in \d+\.\ds, loss=1\.000\n", err)


@pytest.mark.slow
def test_keras_import_prints_no_tensorflow_log_lines():
    require("keras")
    import subprocess
    import sys
    code = ("from numpy_transformer.training.run import import_keras; "
            "import_keras('keras_transformer.training:KerasBackend'); print('ok')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout == "ok\n"
    assert p.stderr == "", p.stderr


# -- plots ----------------------------------------------------------------------------------------

def test_epoch_ticks_are_whole_numbers_for_any_length():
    require("matplotlib")
    from numpy_transformer.training.plots import epoch_ticks
    assert epoch_ticks(1) == [1] and epoch_ticks(7) == list(range(1, 8)) and epoch_ticks(10) == list(range(1, 11))
    assert epoch_ticks(20) == [1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert epoch_ticks(37) == [1, 5, 10, 15, 20, 25, 30, 35]
    assert epoch_ticks(100) == [1] + list(range(10, 101, 10))
    for n in range(1, 300):
        t = epoch_ticks(n)
        assert t[0] == 1 and t[-1] <= n and len(t) <= 11 and all(isinstance(x, int) for x in t)


def test_curves_mark_the_best_validation_epoch(tmp_path):
    require("matplotlib")
    from numpy_transformer.training.plots import best_epoch, plot_curves
    hist = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.1 * e, "val_loss": 1.0, "val_acc": a}
            for e, a in ((1, 0.3), (2, 0.6), (3, 0.6), (4, 0.5))]
    assert best_epoch(hist) == (2, 0.6)                       # the earliest of a tie
    assert best_epoch([{**h, "val_acc": float("nan")} for h in hist]) is None
    for h, log in ((hist, True), (hist[:1], False)):           # one epoch too
        plot_curves(h, tmp_path / "c.png", title="run", log_loss=log)
        assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_attention_plot_shows_unknown_words_as_the_model_saw_them(short_run, tmp_path, capsys):
    require("matplotlib")
    from numpy_transformer.apps.translation.translate import Translator
    tr = Translator(short_run)
    assert tr.source_tokens("i have a qwertz") == ["i", "have", "a", "<unk>", "<eos>"]
    png = tmp_path / "a.png"
    rc, out, err = run(capsys, ["translate", "i have a qwertz", "--checkpoint", str(short_run), "--plot-attention",
                                str(png), "--attention-layer", "0"])
    assert rc == 0, err
    assert f"attention maps (decoder layer 0): {png}" in out and png.read_bytes()[:4] == b"\x89PNG"
    rc, out, err = run(capsys, ["translate", "i have", "--checkpoint", str(short_run), "--plot-attention",
                                str(png), "--attention-layer", "1"])
    assert rc == 2 and err == "error: --attention-layer 1: this model's decoder has layers 0 to 0\n"


def test_training_logs_one_line_per_epoch_off_a_terminal(capsys, tmp_path, small_tsv):
    rc, out, err = run(capsys, ["train", "--data", str(small_tsv), "--run-dir", str(tmp_path / "p"), "--epochs", "2",
                                "--threads", "1", *TINY])
    assert rc == 0 and err == ""                  # no progress bar updates in a log file
    epochs = [ln for ln in out.splitlines() if ln.startswith("epoch ")]
    assert len(epochs) == 2 and epochs[0].startswith("epoch 1: train loss") and epochs[1].startswith("epoch 2: train loss")
