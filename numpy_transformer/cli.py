"""Command line: `python -m numpy_transformer {demo,...}`."""
from __future__ import annotations

import argparse


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m numpy_transformer",
                                 description="The NumPy Transformer (with a Keras twin).")
    subs = ap.add_subparsers(dest="command", required=True)
    d = subs.add_parser("demo", help="train a small model to reverse sequences (synthetic, no data needed)")
    d.add_argument("--steps", type=int, default=1500)
    d.add_argument("--batch-size", type=int, default=32)
    d.add_argument("--d-model", type=int, default=64)
    d.add_argument("--layers", type=int, default=2)
    d.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo
        run_demo(steps=args.steps, batch_size=args.batch_size, d_model=args.d_model,
                 num_layers=args.layers, seed=args.seed)
    return 0
