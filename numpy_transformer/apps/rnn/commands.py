"""Subcommands of the road to attention (the book's chapters 6-9): general-attention, sunspots,
fibonacci. `register` adds them to the command line (cli/main.py); each parser's `run` is its handler."""
from __future__ import annotations

from pathlib import Path

from ...cli.options import (THREADS_HELP, HelpFormatter, check_input_file, check_keras_combination,
                            check_output_dir, choice_list, nonneg_int, open_fraction, parse_threads, positive_float,
                            positive_int)
from ...config import KINDS, RNNConfig
from ...data.fileio import check_writable
from ...training.threads import ThreadPolicy

BACKENDS = choice_list("numpy", "keras")
MODELS = choice_list("none", "time", "bahdanau")
OUT_DIRS = {"sunspots": "runs/sunspots", "fibonacci": "runs/fibonacci"}    # the defaults of --out-dir


def _check(a):
    """What can be refused before the data is read and Keras imported. An --out-dir other than
    the default needs an existing parent; the default runs/<command> is made, runs/ included (a
    fresh clone has no runs/); either way it must take files (data/fileio.check_writable)."""
    if "keras" in a.backends:
        check_keras_combination("keras", a.dtype)
    if Path(a.out_dir) != Path(OUT_DIRS[a.command]):
        check_output_dir("--out-dir", a.out_dir)
    check_writable(a.out_dir, "--out-dir")


def _trained(run):
    """Runs `run()`; a diverged loss or Ctrl-C (training/loop.py) becomes its message and exit status."""
    from ...training.loop import Interrupted, TrainingDiverged, report
    try:
        run()
    except (TrainingDiverged, Interrupted) as e:
        return report(e, None)
    return 0


def _general_attention(a):
    from .general_attention import general_attention
    with ThreadPolicy(a.threads, 4 * 3 * 3).start():       # four words, 3x3 projections
        r = general_attention()
    # the project's attention and SciPy's must agree to rounding (a few ulps of values ~1)
    return 0 if r["max_diff"] <= 1e-12 and r["max_diff_book"] <= 5e-8 else 1


def _sunspots(a):
    if a.data:
        check_input_file("--data", a.data, what="CSV file")
    _check(a)
    from .examples import run_sunspots
    work = KINDS["rnn"].largest_gemm(RNNConfig(hidden=a.hidden, time_steps=a.time_steps), a.batch_size)
    with ThreadPolicy(a.threads, work).start() as policy:
        return _trained(lambda: run_sunspots(
            data=a.data, time_steps=a.time_steps, hidden=a.hidden, epochs=a.epochs, batch_size=a.batch_size,
            lr=a.lr, stride=a.stride, train_fraction=a.train_fraction, backends=a.backends,
            dtype=a.dtype, seed=a.seed, out_dir=a.out_dir, quiet=a.quiet, threads=policy))


def _fibonacci(a):
    _check(a)
    from .examples import run_fibonacci
    with ThreadPolicy(a.threads, a.batch_size * (a.hidden + 1) * max(a.hidden, a.d_a)).start() as policy:
        return _trained(lambda: run_fibonacci(
            data=a.data, total=a.n, time_steps=a.time_steps, hidden=a.hidden, d_a=a.d_a, epochs=a.epochs,
            batch_size=a.batch_size, lr=a.lr, models=a.models, backends=a.backends,
            dtype=a.dtype, seed=a.seed, out_dir=a.out_dir, quiet=a.quiet, threads=policy))


def _common(p, epochs, batch_size, out_dir):
    p.add_argument("--epochs", type=positive_int, default=epochs, help="passes over the training windows")
    p.add_argument("--batch-size", type=positive_int, default=batch_size, help="windows per Adam step")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate (Keras' default)")
    p.add_argument("--backends", type=BACKENDS, default="numpy,keras", help="numpy, keras or both (comma list)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="float64 needs the "
                   "TensorFlow Keras backend for --backends keras")
    p.add_argument("--seed", type=nonneg_int, default=0, help="initial weights (shared by the backends) and batch order")
    p.add_argument("--out-dir", default=out_dir, help="plot and results.json go here")
    p.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N", help=THREADS_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(subs):
    g = subs.add_parser("general-attention", formatter_class=HelpFormatter, help="the book's chapter-8 general attention on four word "
                        "vectors: the project's attention vs SciPy's softmax")
    g.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N", help=THREADS_HELP)
    g.set_defaults(run=_general_attention)

    s = subs.add_parser("sunspots", formatter_class=HelpFormatter, help="SimpleRNN + Dense one-step forecast of a monthly series "
                        "(chapters 6-7), NumPy and Keras from the same weights")
    s.add_argument("--data", help="CSV whose last column is the series (e.g. the real monthly-sunspots.csv); "
                   "default: the generated sunspot-like series shipped in the package")
    s.add_argument("--time-steps", type=positive_int, default=12, help="months per input window (the book: 12)")
    s.add_argument("--hidden", type=positive_int, default=3, help="SimpleRNN units (the book: 3)")
    s.add_argument("--stride", type=positive_int, default=1, help="months between training windows (the book: 12)")
    s.add_argument("--train-fraction", type=open_fraction, default=0.8, help="leading share of the series "
                   "used for training; the rest is the test split")
    _common(s, 20, 16, OUT_DIRS["sunspots"])
    s.set_defaults(run=_sunspots)

    f = subs.add_parser("fibonacci", formatter_class=HelpFormatter, help="next number of Fibonacci sequences with a SimpleRNN, with the "
                        "book's attention layer and with Bahdanau attention (chapter 9)")
    f.add_argument("--data", choices=["book", "random"], default="book",
                   help="book: windows of one min-max-scaled Fibonacci sequence (the book's data); random: "
                   "many Fibonacci-like sequences with random starts")
    f.add_argument("--n", type=positive_int, default=1200, help="Fibonacci numbers (book) or sequences (random)")
    f.add_argument("--time-steps", type=positive_int, default=20, help="numbers per input window")
    f.add_argument("--hidden", type=positive_int, default=2, help="SimpleRNN units (the book: 2)")
    f.add_argument("--d-a", type=positive_int, default=4, help="Bahdanau attention size")
    f.add_argument("--models", type=MODELS, default="none,time,bahdanau", help="none (SimpleRNN alone), time (the book's "
                   "attention), bahdanau")
    _common(f, 30, 16, OUT_DIRS["fibonacci"])
    f.set_defaults(run=_fibonacci)
    return {"general-attention": g, "sunspots": s, "fibonacci": f}
