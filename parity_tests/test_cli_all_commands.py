"""Every subcommand answers a bad command line as `train` does: one line on stderr that starts
with `error:`, exit status 2, before any data, model or framework is loaded. The table runs in
one fresh Python process (so that `sys.modules` can tell whether TensorFlow, Keras, scikit-learn
or matplotlib were imported), with every data loader replaced by one that fails the case.

Also here: the command line reports only the user's errors in one line (a bug keeps its
traceback), output files are checked before work starts, and the framework stays quiet."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from requires import require

require("safetensors", "checkpoints need the [train] extra (safetensors)")

from numpy_transformer.cli.main import main  # noqa: E402
from numpy_transformer.cli.options import PROG  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras", "keras_transformer", "jax", "torch", "sklearn", "matplotlib", "sacrebleu",
         "tokenizers")

# Runs the cases in one process: each one's exit status, stderr and the heavy modules it imported.
DRIVER = r'''
import contextlib, io, json, os, sys
import numpy_transformer.data.corpus as corpus, numpy_transformer.data.pairs as pairs
import numpy_transformer.data.series as series
import numpy_transformer.apps.vit.commands as vit
import numpy_transformer.apps.bert.data as bert_data
from numpy_transformer.cli.main import main

def forbidden(*a, **k):
    raise AssertionError("data was loaded before the bad option was reported")
for module, name in ((corpus, "default_corpus"), (pairs, "load_pairs"), (series, "load_series"),
                     (vit, "load_split"), (bert_data, "load_splits")):
    setattr(module, name, forbidden)
HEAVY = %r
out = []
for argv, env in json.load(sys.stdin):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    before = {m.split(".")[0] for m in sys.modules}
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
        except BaseException as e:
            rc = f"{type(e).__name__}: {e}"
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k)
        else:
            os.environ[k] = v
    new = sorted({m.split(".")[0] for m in sys.modules} - before & set(HEAVY))
    out.append({"rc": rc, "err": err.getvalue(), "imported": new})
print(json.dumps(out))
''' % (HEAVY,)

JAX = {"KERAS_BACKEND": "jax"}

# (argv, what the one line must say, environment); {tr}, {vit}, {tmp}, {tsv}: set up below
CASES = [
    ([], "error: python -m numpy_transformer needs one of: train, translate, evaluate, demo, vit, ", {}),
    (["trian"], "error: argument COMMAND: invalid choice: 'trian'", {}),
    # train
    (["train", "--epochs", "0"], "error: train: argument --epochs: must be a whole number >= 1, not 0 "
                                 f"(see {PROG} train --help)", {}),
    (["train", "--dropout", "1.5"], "error: train: argument --dropout: must be in [0, 1), not 1.5", {}),
    (["train", "--seed", "-1"], "error: train: argument --seed: must be a whole number >= 0, not -1", {}),
    (["train", "--clipnorm", "abc"], "error: train: argument --clipnorm: must be a number > 0, not 'abc'", {}),
    (["train", "--d-model", "10", "--heads", "4", "--run-dir", "{tmp}/t"], "error: d_model=10", {}),
    (["train", "--backend", "keras", "--dtype", "float64", "--run-dir", "{tmp}/t"],
     "error: --dtype float64 --backend keras: Keras computes float64 models in float32 on the jax backend", JAX),
    (["train", "--resume", "--run-dir", "{vit}"],
     "holds a Vision Transformer checkpoint (`vit`), not a translation Transformer (`train`) or ", {}),
    # translate, evaluate, demo
    (["translate", "x", "--alpha", "-5"], "error: translate: argument --alpha: must be >= 0, not -5", {}),
    (["translate", "x", "--plot-attention", "/nonexistent/dir/x.png"],
     "error: translate: argument --plot-attention: /nonexistent/dir/x.png: the directory /nonexistent/dir "
     "does not exist", {}),
    (["translate", "x", "--plot-attention", "{tmp}/att.txt"],
     "error: translate: argument --plot-attention: '{tmp}/att.txt': the file is written as .png; give it that "
     "extension", {}),
    (["translate", "x", "--plot-attention", "{tmp}"], "is a directory; name a file inside it", {}),
    (["translate", "x", "--attention-layer", "-1"], "argument --attention-layer: must be a whole number >= 0", {}),
    (["translate", "x", "--backend", "keras", "--beam", "4", "--checkpoint", "{tmp}/none"],
     "error: --beam 4: beam search is implemented in the NumPy backend", {}),
    (["translate", "we have a cat", "--checkpoint", "{vit}"],
     "holds a Vision Transformer checkpoint (`vit`), not a translation Transformer (`train`) or ", {}),
    (["translate", "x", "--checkpoint", "{tmp}/none"], "error: no checkpoint at {tmp}/none\n", {}),
    (["evaluate", "--alpha", "-1"], "error: evaluate: argument --alpha: must be >= 0, not -1", {}),
    (["evaluate", "--backend", "keras", "--beam", "2", "--checkpoint", "{tmp}/none"], "error: --beam 2: beam", {}),
    (["evaluate", "--checkpoint", "{bert}"],
     "holds a BERT encoder checkpoint (`bert pretrain`), not a translation Transformer (`train`) or ", {}),
    (["demo", "--d-model", "10"], "error: --d-model 10: the demo model has 4 heads", {}),
    (["demo", "--seed", "x"], "error: demo: argument --seed: must be a whole number >= 0, not 'x'", {}),
    # vit
    (["vit", "--data", "{tsv}", "--run-dir", "{tmp}/v"],
     "error: --data {tsv}: expected a NumPy .npz archive (.npz)", {}),
    (["vit", "--data", "{tmp}/none.npz", "--run-dir", "{tmp}/v"], "error: --data {tmp}/none.npz: no such file", {}),
    (["vit", "--run-dir", "{vit}"], "error: {vit} already holds a checkpoint: pass --resume to continue it", {}),
    (["vit", "--resume", "--run-dir", "{tr}"],
     "holds a translation Transformer checkpoint (`train`), not a Vision Transformer (`vit`) one", {}),
    (["vit", "--resume", "--run-dir", "{tmp}/v"], "error: --resume: no checkpoint in {tmp}/v to continue", {}),
    (["vit", "--resume", "--overwrite", "--run-dir", "{vit}"], "error: --resume and --overwrite contradict", {}),
    (["vit", "--resume", "--run-dir", "{vit}", "--d-model", "32", "--lr", "0.1"],
     "error: --resume continues {vit} with its own settings, so --d-model, --lr would be ignored", {}),
    (["vit", "--patch-size", "3", "--run-dir", "{tmp}/v"], "patch_size=3 does not divide image_size=8", {}),
    (["vit", "--lr", "0"], "error: vit: argument --lr: must be > 0, not 0", {}),
    (["vit", "--backend", "keras", "--dtype", "float64", "--run-dir", "{tmp}/v"],
     "error: --dtype float64 --backend keras", JAX),
    # bert, fill-mask
    (["bert"], f"error: bert needs one of: pretrain, finetune (see {PROG} bert --help)", {}),
    (["bert", "pretrain", "--vocab-size", "3"], "argument --vocab-size: must be a whole number >= 6, not 3", {}),
    (["bert", "pretrain", "--d-model", "10", "--heads", "4", "--run-dir", "{tmp}/b"], "error: d_model=10", {}),
    (["bert", "pretrain", "--resume", "--run-dir", "{tmp}/b"], "error: --resume: no checkpoint in {tmp}/b", {}),
    (["bert", "pretrain", "--resume", "--run-dir", "{bert}", "--d-model", "32"],
     "so --d-model would be ignored", {}),
    (["bert", "finetune", "--init", "{vit}", "--run-dir", "{tmp}/b"],
     "holds a Vision Transformer checkpoint (`vit`), not a BERT encoder (`bert pretrain`) one", {}),
    (["bert", "pretrain", "--data", "{tmp}/none.tsv", "--run-dir", "{tmp}/b"], "error: no data at", {}),
    (["fill-mask", "hello"], "error: no [MASK] in 'hello'", {}),
    (["fill-mask", "a [MASK]", "--top-k", "0"], "argument --top-k: must be a whole number >= 1, not 0", {}),
    # the RNN examples
    (["sunspots", "--epochs", "0"], "error: sunspots: argument --epochs: must be a whole number >= 1", {}),
    (["sunspots", "--backends", "torch"], "argument --backends: must be one or more of numpy, keras", {}),
    (["sunspots", "--lr", "-1"], "error: sunspots: argument --lr: must be > 0, not -1", {}),
    (["sunspots", "--data", "{tmp}/none.csv"], "error: --data {tmp}/none.csv: no such file", {}),
    (["sunspots", "--dtype", "float64"], "error: --dtype float64 --backend keras", JAX),
    (["fibonacci", "--models", "luong"], "argument --models: must be one or more of none, time, bahdanau", {}),
    (["general-attention", "--x"], "error: general-attention: unrecognized arguments: --x", {}),
    # last: loading a BERT run's tokenizer imports `tokenizers`
    (["fill-mask", "a [MASK]", "--top-k", "100000", "--checkpoint", "{bert}"],
     "error: --top-k 100000: this model's vocabulary has ", {}),
]
NEEDS_TOKENIZERS = {len(CASES) - 1}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A checkpoint of each model kind the cases name (untrained: only what they hold matters)."""
    require("tokenizers")
    from numpy_transformer import Transformer, TransformerConfig
    from numpy_transformer.config import BertConfig, ViTConfig
    from numpy_transformer.data.tokenizer import Tokenizer
    from numpy_transformer.data.wordpiece import WordPieceTokenizer
    from numpy_transformer.models import BertEncoder, VisionTransformer
    from numpy_transformer.training.checkpoint import save_checkpoint
    d = tmp_path_factory.mktemp("runs")
    cfg = TransformerConfig(7, 9, d_model=8, num_heads=2, d_ff=8, num_layers=1)
    tok = Tokenizer(["a", "b", "c"])
    save_checkpoint(d / "tr", cfg, Transformer(cfg).state_dict(), meta={"epoch": 1},
                    src_tok=tok, tgt_tok=Tokenizer(["x", "y", "z", "w", "v"]))
    vcfg = ViTConfig(8, 1, 4, 10, d_model=8, num_heads=2, d_ff=8, num_layers=1)
    save_checkpoint(d / "vit", vcfg, VisionTransformer(vcfg).state_dict(),
                    meta={"epoch": 1, "vit_args": {}, "data": None, "data_seed": 0, "validation": False})
    wp = WordPieceTokenizer.train(["the cat is big", "das haus ist groß"], 40, min_frequency=1)
    bcfg = BertConfig(vocab_size=wp.vocab_size, d_model=8, num_heads=2, d_ff=8, num_layers=1, max_len=16)
    save_checkpoint(d / "bert", bcfg, BertEncoder(bcfg).state_dict(), meta={"epoch": 1, "task": "mlm"})
    wp.save(d / "bert" / "tokenizer.json")
    (d / "pairs.tsv").write_text("Hi.\tHallo.\n")
    return {"tr": d / "tr", "vit": d / "vit", "bert": d / "bert", "tmp": d, "tsv": d / "pairs.tsv"}


def _fill(text, runs):
    return text.format(**{k: str(v) for k, v in runs.items()})


@pytest.fixture(scope="module")
def answers(runs):
    cases = [([_fill(x, runs) for x in argv], env) for argv, _, env in CASES]
    p = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(cases), capture_output=True, text=True,
                       cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[" ".join(c[0])[:60] or "(none)" for c in CASES])
def test_every_bad_command_line_is_refused_in_one_line_before_anything_loads(i, answers, runs):
    argv, expected, _ = CASES[i]
    got = answers[i]
    assert got["rc"] == 2, got
    err = got["err"]
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert _fill(expected, runs) in err, err
    allowed = {"tokenizers"} if i in NEEDS_TOKENIZERS else set()
    assert set(got["imported"]) <= allowed, f"{argv} imported {got['imported']} before refusing"


# -- a bug is not a usage error -------------------------------------------------------------------

@pytest.mark.parametrize("error", [TypeError, ValueError, FileNotFoundError])
def test_an_internal_error_keeps_its_traceback(monkeypatch, capsys, error):
    """cli/main.py prints only the user's errors (UsageError, InputError) in one line: a
    TypeError, ValueError or FileNotFoundError raised by a bug inside a handler propagates."""
    import numpy_transformer.apps.translation.demo as demo

    def bug(**kwargs):
        raise error("an internal mistake")
    monkeypatch.setattr(demo, "run_demo", bug)
    with pytest.raises(error, match="an internal mistake"):
        main(["demo", "--steps", "1", "--threads", "1"])
    assert "error:" not in capsys.readouterr().err


def test_the_users_input_errors_are_one_line(monkeypatch, capsys):
    from numpy_transformer.data.errors import InputError
    import numpy_transformer.apps.translation.demo as demo

    def bad_input(**kwargs):
        raise InputError("this file is not what it should be")
    monkeypatch.setattr(demo, "run_demo", bad_input)
    assert main(["demo", "--steps", "1", "--threads", "1"]) == 2
    assert capsys.readouterr().err == "error: this file is not what it should be\n"


# -- output files -------------------------------------------------------------------------------

def test_output_files_are_checked_by_one_shared_type(tmp_path):
    import argparse
    from numpy_transformer.cli.options import output_file
    png = output_file(".png")
    assert png(str(tmp_path / "a.png")) == str(tmp_path / "a.png")
    assert png(str(tmp_path / "A.PNG"))                               # the extension, in any case
    for bad, why in ((tmp_path / "a.txt", "written as .png"), (tmp_path / "no" / "a.png", "does not exist"),
                     (tmp_path, "is a directory")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            png(str(bad))
    assert not (tmp_path / "no").exists()                              # nothing created


def test_no_output_file_option_is_left_unchecked():
    """Every option whose name says it writes a file uses output_file (run directories are
    created by design and are not files)."""
    from numpy_transformer.cli.main import build_parser
    _, parsers = build_parser()
    writers = []
    for name, p in parsers.items():
        for action in p._actions:
            flags = " ".join(action.option_strings)
            if any(w in flags for w in ("plot", "save", "output", "--out ")) or action.metavar in ("PNG", "JSON"):
                if "--tokenizer" in flags:          # read, not written
                    continue
                writers.append(flags)
                assert getattr(action.type, "__name__", "") == "output_file", f"{name} {flags}"
    assert "--plot-attention" in writers


# -- quiet frameworks ---------------------------------------------------------------------------

def test_sunspots_prints_no_tensorflow_line(tmp_path):
    require("keras")
    p = subprocess.run([sys.executable, "-m", "numpy_transformer", "sunspots", "--epochs", "1", "--hidden", "2",
                        "--stride", "24", "--quiet", "--out-dir", str(tmp_path)], capture_output=True, text=True,
                       cwd=ROOT, timeout=600, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    assert "keras  train RMSE" in p.stdout
    assert p.stderr == "", p.stderr
