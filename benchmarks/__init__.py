"""Benchmark harness for numpy-transformer: the NumPy reference against Keras 3 (eager, graph,
XLA, JAX, PyTorch, GPU) with analytic FLOP counts, model FLOP utilisation, peak memory, scaling
sweeps, plots and profiles. One entry point, `python -m benchmarks [COMMAND] --help` (cli.py);
`benchmarks.timing.compare(f, g)` times any callable against another. Runs write to
benchmarks/runs/<time>-<command>/ unless --save (the stored benchmarks/results/) or --out."""
