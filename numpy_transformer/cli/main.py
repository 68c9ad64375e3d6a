"""Command line: `python -m numpy_transformer COMMAND`.

One registration protocol for every application: its `commands.register(subs)` adds its
subcommands and sets each parser's `run` (a function of the parsed options that returns the exit
status); `main` parses, notes which options were typed (`a.given`, so `--resume` can tell them from
defaults) and calls `run`. Applications import cli/options.py, never this module.

Errors: a bad option is argparse's (one line, exit 2: options.ArgumentParser). What a handler
raises is printed as one `error: …` line with exit status 2 only when it is about the user's
input: a UsageError (options), an InputError (data/errors.py: a data or tokenizer file, a
sentence, a missing file the user named, a checkpoint that is unreadable or of another model).
Anything else, a TypeError or ValueError from a bug included, keeps its traceback."""
from __future__ import annotations

import sys

from ..apps.bert import commands as bert
from ..apps.rnn import commands as rnn
from ..apps.translation import commands as translation
from ..apps.vit import commands as vit
from ..data.errors import InputError
from .options import PROG, ArgumentParser, UsageError, given_options

APPLICATIONS = (translation, vit, rnn, bert)


def build_parser():
    """The parser and {command: its subparser} (`bert pretrain` under "bert pretrain")."""
    ap = ArgumentParser(prog=PROG, description="The Transformer, the ViT, a BERT-style encoder and the book's RNN "
                                               "models in NumPy, each with a Keras twin.")
    subs = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers = {}
    for app in APPLICATIONS:
        parsers.update(app.register(subs))
    return ap, parsers


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ap, parsers = build_parser()
    a, extra = ap.parse_known_args(argv)
    name = " ".join(v for v in (a.command, getattr(a, "bert_command", None)) if v)
    if extra:                   # named by the subcommand they were given to (argparse names the top)
        parsers.get(name, ap).error(f"unrecognized arguments: {' '.join(extra)}")
    a.given = given_options(parsers[name], argv) if name in parsers else set()
    try:
        return a.run(a)
    except (UsageError, InputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
