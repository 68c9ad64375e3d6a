"""`python -m numpy_transformer vit`: a Vision Transformer on scikit-learn's 8×8 handwritten digits
(1,797 images shipped with scikit-learn, so it runs offline), NumPy or Keras, from the same
initial weights; scikit-learn's logistic regression and MLP on the same split beside it.

Data (data.py): an 80/20 stratified split with a fixed seed (`--data-seed`); `--validation` carves a
validation split out of the training part instead (20 % of it) and reports on that, so that
settings can be tuned without ever looking at the test split. `--data FILE.npz` (arrays
`images` (N, H, W[, C]) and `labels` (N,)) trains on another image set.
Training: Adam (Keras' form and defaults), linear warm-up + cosine decay, dropout, optional
random shifts (`--shift 1`); the defaults were chosen on --validation runs (docs/vit.md).
After each epoch: evaluation, an atomic checkpoint (weights and Adam moments under the shared
names, either backend resumes it), history.json and curves.png. At the end: confusion matrix, the class token's attention over the
patches, the baselines, and the test accuracy on the last line.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from ...config import ViTConfig, check_images
from ...data.errors import InputError
from ...training import run
from ...training.checkpoint import load_checkpoint, write_json
from ...training.loop import Interrupted, TrainingDiverged, report
from ...cli.options import (HelpFormatter, UsageError, add_run_options, check_input_file, check_keras_combination,
                            nonneg_int, positive_float, positive_int, rate)
from .data import baselines, load_split
from .train import ViTArgs, evaluate, fit, make_backend, run_title

DEFAULT_RUN = "runs/vit-digits"
# what --resume takes from the command line; the model, data and training settings are the run's
RESUME_OPTIONS = {"backend", "epochs", "threads", "time_budget", "quiet", "no_baselines", "data_parallel"}


def model_config(a, image_size, channels, num_classes):
    """The ViTConfig the options describe for images of this size; a combination that makes
    no model (a patch size that does not divide the image, heads that do not divide d_model) is
    a UsageError."""
    try:
        return ViTConfig(image_size=image_size, channels=channels, patch_size=a.patch_size,
                         num_classes=num_classes, d_model=a.d_model, num_heads=a.heads, d_ff=a.d_ff,
                         num_layers=a.layers, dropout=a.dropout, norm_first=not a.post_ln,
                         activation=a.activation, dtype=a.dtype)
    except ValueError as e:
        raise UsageError(str(e)) from None


def check_options(a):
    """Everything that needs no data, before any is read: the run's options (training/run.py),
    --data's file, the model the options describe (for the digits, whose size is known), the
    --backend keras combinations; then the run directory."""
    run.check_run_options(a, RESUME_OPTIONS)
    if not a.resume:
        check_keras_combination(a.backend, a.dtype)
        if a.data:
            check_input_file("--data", a.data, (".npz",), "NumPy .npz archive")
        else:
            model_config(a, 8, 1, 10)           # the digits: 8x8, one channel, ten classes
    return run.check_run_dir(a)


# ---------------------------------------------------------------------- the command
# how each ViTArgs field is read (the training hyper-parameters; defaults come from ViTArgs)
_ARG_TYPES = {"batch_size": positive_int, "lr": positive_float,
              "warmup_epochs": nonneg_int, "shift": nonneg_int, "seed": nonneg_int}
_ARG_HELP = {"batch_size": "images per Adam step",
             "lr": "peak learning rate of the warm-up + cosine schedule",
             "warmup_epochs": "epochs of linear warm-up", "shift": "random translation by up to this many pixels",
             "seed": "initial weights, shuffling, dropout and shifts"}


def register(subs):
    v = subs.add_parser("vit", formatter_class=HelpFormatter,
                        help="train a Vision Transformer on scikit-learn's 8x8 digits (offline)")
    add_run_options(v, DEFAULT_RUN, ViTArgs.epochs, threads=1,
                    threads_help=" (default 1: this model's GEMMs are small; 2 threads on a busy 2-core machine "
                                 "measured 10x slower per step)")
    v.add_argument("--data", help="an .npz with 'images' (N, H, W[, C]) and 'labels' (N,); default: digits")
    v.add_argument("--validation", action="store_true",
                   help="report on a validation split carved from the training split (for tuning), not the test split")
    v.add_argument("--patch-size", type=positive_int, default=4, help="default 4: 4 patches of 4x4 (docs/vit.md)")
    v.add_argument("--d-model", type=positive_int, default=64, help="width of the patch embeddings")
    v.add_argument("--heads", type=positive_int, default=4, help="attention heads (must divide --d-model)")
    v.add_argument("--d-ff", type=positive_int, default=128, help="hidden width of the MLP blocks")
    v.add_argument("--layers", type=positive_int, default=4, help="encoder layers")
    v.add_argument("--dropout", type=rate, default=0.1, help="dropout rate")
    v.add_argument("--activation", choices=["gelu", "gelu_tanh", "relu"], default="gelu",
                   help="the MLP's activation (exact GELU, its tanh approximation, or ReLU)")
    v.add_argument("--post-ln", action="store_true", help="post-LN layers (default: pre-LN, as in ViT)")
    v.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 with --backend keras needs the TensorFlow Keras backend")
    for f in dataclasses.fields(ViTArgs):
        if f.name in _ARG_TYPES:
            v.add_argument(f"--{f.name.replace('_', '-')}", type=_ARG_TYPES[f.name], default=None,
                           help=f"{_ARG_HELP[f.name]} (default {f.default})")
    v.add_argument("--data-seed", type=nonneg_int, default=0, help="the split's seed")
    v.add_argument("--no-baselines", action="store_true", help="skip the scikit-learn baselines")
    v.add_argument("--quiet", action="store_true", help="no progress bars")
    v.set_defaults(run=run_vit)
    return {"vit": v}


def run_vit(a):
    """The command: every check, then the run's data, config and backend (training/run.py); the
    BLAS thread policy, once started, is undone on every way out."""
    run_dir = check_options(a)
    with contextlib.ExitStack() as stack:
        if a.resume:
            ck = load_checkpoint(run_dir, kinds=("vit",))
            cfg, meta, weights, optimizer = ck["cfg"], dict(ck["meta"]), ck["weights"], ck["optimizer"]
            check_keras_combination(a.backend, cfg.dtype)
            args, history = run.resume_args(a, ck, ViTArgs, "vit_args")
            split = load_split(meta["data"], meta["data_seed"], meta["validation"])
        else:
            args = ViTArgs(**{f: getattr(a, f) for f in ("epochs", *_ARG_TYPES) if getattr(a, f) is not None},
                           time_budget=a.time_budget)
            meta = {"data": str(Path(a.data).resolve()) if a.data else None, "data_seed": a.data_seed,
                    "validation": a.validation}
            split = load_split(a.data, a.data_seed, a.validation)      # data checked before the model is built
            cfg = model_config(a, split.x_train.shape[1], split.x_train.shape[3], split.num_classes)
            history, weights, optimizer = [], None, None
        try:
            check_images(split.x_train[:1], cfg, "the data's images")  # a resumed run's data must fit its model
        except ValueError as e:
            raise InputError(str(e)) from None
        policy = run.thread_policy(stack, a.threads, cfg, args.batch_size)
        backend = make_backend(a.backend, cfg, args, math.ceil(len(split.x_train) / args.batch_size),
                               on_import=policy.tensorflow_threads, data_parallel=a.data_parallel, weights=weights,
                               optimizer=optimizer)
        meta["threads"] = policy.describe()             # with TensorFlow's pools, once its import set them
        return _train(a, split, cfg, args, meta, history, backend, policy, run_dir)


def _train(a, split, cfg, args, meta, history, backend, policy, run_dir):
    """Train, evaluate, plot and report: the run's results and its last line."""
    print(f"data: {'digits (scikit-learn)' if meta['data'] is None else meta['data']}: {len(split.x_train)} train / "
          f"{len(split.x_eval)} {split.eval_name} images of {cfg.image_size}x{cfg.image_size}x{cfg.channels}, "
          f"{cfg.num_classes} classes")
    print(run.model_line(backend, cfg, policy))
    if args.epochs < 1 or args.batch_size < 1 or args.shift < 0 or args.warmup_epochs < 0 or not args.lr > 0:
        raise ValueError(f"need epochs >= 1, batch size >= 1, shift >= 0, warmup epochs >= 0 and lr > 0: {args}")
    start = meta.get("epoch", 0)
    base = {} if a.no_baselines else baselines(split, args.seed)      # drawn on the curves while training
    t0 = time.perf_counter()
    try:
        history = fit(backend, split, args, run_dir, start, history, meta, quiet=a.quiet, threads=policy,
                      baselines=[(f"{name} (scikit-learn) {acc:.1%}", acc) for name, (acc, _) in base.items()])
    except (TrainingDiverged, Interrupted) as e:      # the message and exit status: training/loop.py
        return report(e, run_dir)
    train_seconds = time.perf_counter() - t0
    loss, acc, pred = evaluate(backend, split.x_eval, split.y_eval)
    from .plots import plot_class_token_attention, plot_confusion     # matplotlib: only once there is a result
    plot_confusion(split.y_eval, pred, cfg.num_classes, run_dir / "confusion.png",
                   f"{run_title(run_dir, cfg, args, backend.name)}; {split.eval_name} accuracy {acc:.1%}")
    shown = [int(np.flatnonzero(split.y_eval == c)[0]) for c in range(min(cfg.num_classes, 10))]
    weights = backend.attention(split.x_eval[shown])
    plot_class_token_attention(split.x_eval[shown], split.y_eval[shown], pred[shown], weights, cfg,
                               run_dir / "attention.png", run_title(run_dir, cfg, args, backend.name))
    result = {"backend": backend.name, "eval_split": split.eval_name, "accuracy": acc, "loss": loss,
              "train_seconds": train_seconds, "epochs": args.epochs, "config": cfg.to_dict(),
              "baselines": {k: v[0] for k, v in base.items()}}
    write_json(run_dir / f"result_{split.eval_name}.json", result)
    print(f"\n{split.eval_name} split, {len(split.y_eval)} images:")
    for name, (b_acc, sec) in base.items():
        print(f"  {name:<34} {b_acc:7.2%}   ({sec:.1f}s to fit)")
    print(f"  {'ViT (' + backend.name + ')':<34} {acc:7.2%}   ({train_seconds:.0f}s, {len(history)} epochs)")
    best = max(base.items(), key=lambda kv: kv[1][0], default=(None, (0.0, 0.0)))
    if best[1][0] > acc:
        print(f"  the {best[0]} beats the ViT here by {best[1][0] - acc:.2%}")
    print(f"plots: {run_dir}/curves.png, confusion.png, attention.png; checkpoint {run_dir}/checkpoint.safetensors")
    print(f"{split.eval_name} accuracy: {acc:.2%} ({int(round(acc * len(split.y_eval)))}/{len(split.y_eval)}), "
          f"ViT {backend.name}")
    return 0
