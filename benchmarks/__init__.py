"""Benchmark harness for numpy-transformer: the NumPy reference against Keras 3 (eager, graph,
XLA) on forward, forward+backward, a full training step and greedy decoding, with analytic
FLOP counts, model FLOP utilisation against a measured GEMM peak, peak memory, scaling sweeps,
plots and a profile of the NumPy training step.

Run `python -m benchmarks --help` (or `--quick`). Results go to benchmarks/results/.
`python -m benchmarks.rnn` times the road-to-attention layers (simple RNN, Bahdanau attention)."""

__all__ = ["main"]


def main(argv=None):
    from .cli import main as _main
    return _main(argv)
