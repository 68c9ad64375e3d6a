"""What every subcommand's options share: the parser whose errors take one line, the usage error,
argparse types (numbers with their bounds, output files), the help formatter that appends
defaults, --threads, the checks of input files and of the --backend keras combinations that can be
refused before Keras is imported, and which options the user typed. Applications import this
module; the command line (cli/main.py) imports the applications, never the reverse. It imports
nothing of the package."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..data.errors import UsageError   # a bad option: `error: …`, exit status 2 (cli/main.py)
from ..data.fileio import check_writable

PROG = "python -m numpy_transformer"

THREADS_HELP = ("BLAS threads: 'auto' picks by the model's size and the machine's load and adapts while "
                "training (see training/threads.py), or a fixed number")
TIME_BUDGET_HELP = ("stop before an epoch that would end past this many minutes of training and validation "
                    "(the whole run's, --resume included), to compare models at equal wall-clock time; "
                    "default: no limit")
DATA_PARALLEL_HELP = ("train the Keras twin data-parallel over every device (needs --backend keras and "
                      "KERAS_BACKEND=jax; the batch size must be a multiple of the device count; several "
                      "hosts: docs/keras.md, 'Past one device')")


class HelpFormatter(argparse.HelpFormatter):
    """Appends each option's default to its help, unless the help already states it."""

    def _get_help_string(self, action):
        h = action.help or ""
        if "default" in h or action.default is argparse.SUPPRESS or not action.option_strings:
            return h
        if isinstance(action, argparse._StoreTrueAction):
            return f"{h} (default: off)"
        if action.default is None:
            return h
        return f"{h} (default: %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors, as the README promises: `error: train: argument --epochs:
    must be a whole number >= 1, not 0 (see python -m numpy_transformer train --help)` on stderr,
    exit status 2. (argparse's own prints the whole usage first, 10-15 lines.) Subcommands
    inherit the class (add_subparsers uses the parent's). A missing subcommand names the choices
    instead of the parser's internal dest (`bert needs one of: pretrain, finetune`)."""

    def error(self, message):
        command = self.prog[len(PROG):].strip() if self.prog.startswith(PROG) else self.prog
        required = "the following arguments are required: "
        for action in self._actions:
            if (isinstance(action, argparse._SubParsersAction) and message.startswith(required)
                    and argparse._get_action_name(action) in message[len(required):].split(", ")):
                message = f"{command or PROG} needs one of: {', '.join(action.choices)}"
                command = ""
        where = f"{command}: " if command else ""
        self.exit(2, f"error: {where}{message} (see {self.prog} --help)\n")


def whole_number(text, least=1):
    """argparse type: a whole number >= `least`."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= {least}, not {text!r}") from None
    if n < least:
        raise argparse.ArgumentTypeError(f"must be a whole number >= {least}, not {n}")
    return n


def positive_int(text):
    """argparse type: a whole number >= 1."""
    return whole_number(text, 1)


def nonneg_int(text):
    """argparse type: a whole number >= 0."""
    return whole_number(text, 0)


def _number(text, bound):
    """float(text), or the argparse error that states the bound (not argparse's "invalid
    positive_float value"); NaN fails every bound."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number {bound}, not {text!r}") from None


def positive_float(text):
    """argparse type: a number > 0."""
    x = _number(text, "> 0")
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return x


def nonneg_float(text):
    """argparse type: a number >= 0 (a length penalty's exponent)."""
    x = _number(text, ">= 0")
    if not 0 <= x < float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return x


def rate(text):
    """argparse type: a number in [0, 1) (dropout, label smoothing)."""
    x = _number(text, "in [0, 1)")
    if not 0.0 <= x < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return x


def open_fraction(text):
    """argparse type: a number strictly between 0 and 1 (a split's share)."""
    x = _number(text, "between 0 and 1 (exclusive)")
    if not 0.0 < x < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return x


def choice_list(*choices):
    """argparse type: a comma list of some of `choices` ("numpy,keras"), as a tuple."""
    def parse(text):
        items = tuple(x.strip() for x in text.split(",") if x.strip())
        bad = [x for x in items if x not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"must be one or more of {', '.join(choices)} (comma-separated), "
                                             f"not {text!r}")
        return items
    parse.__name__ = "choice_list"
    return parse


def output_file(*suffixes):
    """argparse type of an option that names a file to write (`--plot-attention att.png`):
    checked before any work starts, so a long run does not fail at its end or write a PNG into
    a .txt. The name must end in one of `suffixes` (the format the file is written in), name no
    directory, and its directory must exist and be writable (it is not created: a typo in it
    should not quietly make a new tree)."""
    def parse(text):
        path = Path(text)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a directory; name a file inside it")
        if path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text!r}: the file is written as {'/'.join(suffixes)}; "
                                             f"give it that extension")
        folder = path.parent
        if not folder.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: the directory {folder} does not exist")
        try:
            check_writable(folder, f"{text}: the directory")      # the one probe every writing command makes
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return text
    parse.__name__ = "output_file"
    return parse


def check_input_file(flag, text, suffixes=(), what="file"):
    """A file the user named for reading: there, a file, with one of `suffixes` (when given).
    Raises the UsageError that names the flag, before anything is loaded."""
    path = Path(text)
    if path.is_dir():
        raise UsageError(f"{flag} {text} is a directory; pass the {what} inside it")
    if not path.exists():
        raise UsageError(f"{flag} {text}: no such file")
    if suffixes and path.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {text}: expected a {what} ({'/'.join(suffixes)})")
    return path


def check_output_dir(flag, text):
    """A directory the user named for a command's output: it may be new, but its parent must
    exist (it is not created, as output_file's directory: a typo should not quietly make a new
    tree) and neither may be a file. Raises the UsageError that names the flag, before any work."""
    path = Path(text)
    if path.is_file():
        raise UsageError(f"{flag} {text} is a file, not a directory")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UsageError(f"{flag} {text}: {parent} is a file, not a directory")
    if not path.exists() and not path.parent.is_dir():
        raise UsageError(f"{flag} {text}: the directory {path.parent} does not exist (it is not created: name a "
                         f"directory whose parent exists)")
    return path


def add_run_options(p, run_dir, epochs, writes="checkpoint, history and plots", threads="auto", threads_help=""):
    """The options every training command shares (train, vit, bert pretrain|finetune), which the
    run handler reads (training/run.py). `epochs`: the default number, as help text."""
    p.add_argument("--run-dir", default=run_dir, help=f"where the {writes} go")
    p.add_argument("--backend", choices=["numpy", "keras"], default="numpy",
                   help="numpy, or keras (the Keras twin from the same initial weights)")
    p.add_argument("--data-parallel", action="store_true", help=DATA_PARALLEL_HELP)
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start a new run in a --run-dir that holds one")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"passes over the training split (default: {epochs}; with --resume: the run's own)")
    p.add_argument("--time-budget", type=positive_float, default=None, metavar="MINUTES", help=TIME_BUDGET_HELP)
    p.add_argument("--threads", type=parse_threads, default=threads, metavar="auto|N", help=THREADS_HELP + threads_help)


def add_decoding_options(p, default_checkpoint):
    """The options of the commands that decode with a checkpoint (translate, evaluate)."""
    p.add_argument("--checkpoint", default=default_checkpoint, help="run directory or .safetensors file")
    p.add_argument("--backend", choices=["numpy", "keras"], default="numpy", help="which implementation decodes")
    p.add_argument("--beam", type=positive_int, default=1, help="beam width (1 = greedy)")
    p.add_argument("--alpha", type=nonneg_float, default=0.6,
                   help="beam length penalty exponent, >= 0 (0: no length normalisation)")
    p.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N", help=THREADS_HELP)


def keras_backend_name():
    """The Keras backend a later `import keras` will pick, read without importing it: the
    KERAS_BACKEND variable, else the "backend" of $KERAS_HOME/keras.json (~/.keras/keras.json),
    else TensorFlow, Keras' default."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    try:
        return json.loads((home / "keras.json").read_text()).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def check_keras_combination(backend, dtype=None, beam=1):
    """The --backend keras combinations that cannot work, refused before the seconds-long import
    of Keras: beam search (the NumPy backend's alone) and float64 on a Keras backend other than
    TensorFlow (Keras 3 computes float64 models in float32 there: keras_transformer/backend.py,
    which checks again after the import)."""
    if backend != "keras":
        return
    if beam != 1:
        raise UsageError(f"--beam {beam}: beam search is implemented in the NumPy backend: use --backend numpy "
                         f"(the checkpoint loads there unchanged) or --beam 1")
    if dtype == "float64" and keras_backend_name() != "tensorflow":
        raise UsageError(f"--dtype float64 --backend keras: Keras computes float64 models in float32 on the "
                         f"{keras_backend_name()} backend (keras-team/keras#23704); use --dtype float32, or "
                         f"KERAS_BACKEND=tensorflow")


def given_options(parser, argv):
    """dests of the options that appear on the command line (abbreviations and --opt=value
    included), so `--resume` can tell a flag the user typed from a default."""
    given = set()
    for tok in argv:
        if not tok.startswith("--"):
            continue
        name = tok.split("=", 1)[0]
        hits = {a.dest for opt, a in parser._option_string_actions.items() if opt == name}
        if not hits:   # argparse accepts unique prefixes
            hits = {a.dest for opt, a in parser._option_string_actions.items() if opt.startswith(name)}
        if len(hits) == 1:
            given |= hits
    return given


def parse_threads(text):
    """argparse type for --threads: 'auto' or a whole number >= 1."""
    if text == "auto":
        return "auto"
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"must be 'auto' or {str(e)[len('must be '):]}") from None
