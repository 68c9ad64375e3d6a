"""The command line: `python -m numpy_transformer COMMAND` (main.py) and what every
subcommand's options share (options.py)."""
