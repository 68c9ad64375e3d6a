"""What goes wrong with what a user hands the program: a data file, a tokenizer file, a sentence
to translate, a file that is not there. These are ValueErrors (a library caller that catches
ValueError still does) of a type of their own, so that the command line reports them in one
line while a ValueError or TypeError from a bug keeps its traceback (cli/main.py)."""


class InputError(ValueError):
    """Input that cannot be used: a malformed data file, a sentence with nothing to translate,
    a checkpoint that cannot be read (training/checkpoint.CheckpointError)."""


class UsageError(InputError):
    """A bad option or combination of options (cli/options.py re-exports it for the applications;
    training/ and keras_transformer, which cannot import the command line, raise it from here)."""


class MissingFileError(InputError, FileNotFoundError):
    """A file the user named (or that a run refers to) is not there."""
