"""Benchmark harness for numpy-transformer: the NumPy reference against Keras 3 (eager, graph,
XLA, JAX, PyTorch, GPU) with analytic FLOP counts, model FLOP utilisation, peak memory, scaling
sweeps, plots and profiles. One entry point, `python -m benchmarks [COMMAND] --help` (cli.py);
`benchmarks.timing.compare(f, g)` times any callable against another. Runs write to
benchmarks/runs/<time>-<command>/ unless --save (the stored benchmarks/results/) or --out."""
import sys

# `python -m benchmarks.vit` (a module's old entry point) would import the module and exit 0 having
# done nothing. While `-m` locates a module, sys.argv[0] is "-m": name the command instead, exit 2.
_module = sys.orig_argv[sys.orig_argv.index("-m") + 1] if sys.argv[:1] == ["-m"] and "-m" in sys.orig_argv else ""
if _module.startswith("benchmarks."):
    from .cli import COMMANDS, MOVED
    _name = {"plots": "plot"}.get(_module[11:], _module[11:])
    _new = MOVED.get(_name) or f"python -m benchmarks {_name if _name in COMMANDS else '--help'}"
    print(f"error: `python -m {_module}` is not a command; run `{_new}`", file=sys.stderr)
    raise SystemExit(2)
