"""What every subcommand's options share: the one-line usage error, argparse types, the help
formatter that appends defaults, --threads, and which options the user typed. Applications
import this module; the command line (cli/main.py) imports the applications, never the reverse."""
from __future__ import annotations

import argparse

THREADS_HELP = ("BLAS threads: 'auto' picks by the model's size and the machine's load and adapts while "
                "training (see training/threads.py), or a fixed number")
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


class UsageError(ValueError):
    """A bad combination of options; the CLI prints it as `error: …` and exits with status 2."""


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


def positive_float(text):
    """argparse type: a number > 0."""
    x = float(text)
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return x


def rate(text):
    """argparse type: a number in [0, 1) (dropout, label smoothing)."""
    x = float(text)
    if not 0.0 <= x < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return x


def open_fraction(text):
    """argparse type: a number strictly between 0 and 1 (a split's share)."""
    x = float(text)
    if not 0.0 < x < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return x


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
