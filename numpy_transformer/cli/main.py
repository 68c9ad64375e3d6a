"""Command line: `python -m numpy_transformer COMMAND`.

One registration protocol for every application: its `commands.register(subs)` adds its
subcommands and sets each parser's `run` (a function of the parsed options that returns the exit
status); `main` parses, notes which options were typed (`a.given`, so `--resume` can tell them from
defaults) and calls `run`. Applications import cli/options.py, never this module."""
from __future__ import annotations

import argparse
import sys

from ..apps.bert import commands as bert
from ..apps.rnn import commands as rnn
from ..apps.translation import commands as translation
from ..apps.vit import commands as vit
from .options import UsageError, given_options

APPLICATIONS = (translation, vit, rnn, bert)


def build_parser():
    """The parser and {command: its subparser} (`bert pretrain` under "bert pretrain")."""
    ap = argparse.ArgumentParser(prog="python -m numpy_transformer",
                                 description="The Transformer, the ViT, a BERT-style encoder and the book's RNN "
                                             "models in NumPy, each with a Keras twin.")
    subs = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers = {}
    for app in APPLICATIONS:
        parsers.update(app.register(subs))
    return ap, parsers


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ap, parsers = build_parser()
    a = ap.parse_args(argv)
    name = " ".join(v for v in (a.command, getattr(a, "bert_command", None)) if v)
    a.given = given_options(parsers[name], argv) if name in parsers else set()
    try:
        return a.run(a)
    except (UsageError, ValueError, FileNotFoundError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
