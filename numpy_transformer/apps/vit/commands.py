"""`python -m numpy_transformer vit`: a Vision Transformer on scikit-learn's 8×8 handwritten digits
(1,797 images shipped with scikit-learn, so it runs offline), NumPy or Keras, from the same
initial weights; scikit-learn's logistic regression and MLP on the same split beside it.

Data: an 80/20 stratified split with a fixed seed (`--data-seed`); `--validation` carves a
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
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ...config import ViTConfig, check_images, check_labels
from ...data.errors import InputError, MissingFileError
from ...training.checkpoint import load_checkpoint, write_json
from ...training.loop import Interrupted, TrainingDiverged, read_history, report
from ...cli.options import (THREADS_HELP, TIME_BUDGET_HELP, HelpFormatter, UsageError, check_input_file,
                            check_keras_combination, nonneg_int, parse_threads, positive_float, positive_int,
                            rate, refuse_ignored_on_resume)
from .train import ViTArgs, evaluate, fit, largest_gemm, make_backend, run_title
from ...cli.options import DATA_PARALLEL_HELP
from ...training.keras_import import check_data_parallel

DEFAULT_RUN = "runs/vit-digits"
# what --resume takes from the command line; the model, data and training settings are the run's
RESUME_OPTIONS = {"backend", "epochs", "threads", "time_budget", "quiet", "no_baselines", "data_parallel"}


class Split(NamedTuple):
    x_train: np.ndarray   # (N, H, W, C) float, pixels in [0, 1]
    y_train: np.ndarray
    x_eval: np.ndarray    # the test split (or the validation split with --validation)
    y_eval: np.ndarray
    eval_name: str
    num_classes: int


def load_split(data=None, data_seed=0, validation=False):
    """Digits (pixels 0..16 scaled to [0, 1], channel axis added) or an .npz file; checked
    (shape, NaN, labels) before anything trains; split 80/20, stratified, seed `data_seed`."""
    from sklearn.model_selection import train_test_split
    if data is None:
        from sklearn.datasets import load_digits
        d = load_digits()
        images, labels, num_classes = d.images / 16.0, d.target, 10
    else:
        images, labels = read_npz(data)
        num_classes = None
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]          # grey-scale: one channel
    if images.ndim != 4 or images.shape[1] != images.shape[2]:
        raise InputError(f"images must be square, (N, H, H) or (N, H, H, C), got {images.shape}")
    try:                                    # the checks the model's entry makes, on the user's data
        labels = check_labels(labels, num_classes or int(np.max(labels)) + 1, images.shape[0])
        num_classes = num_classes or int(labels.max()) + 1
        shape_only = ViTConfig(images.shape[1], images.shape[3], 1, max(num_classes, 2))   # for check_images
        images = check_images(images, shape_only, "training images").astype(np.float64)
    except ValueError as e:
        raise InputError(str(e)) from None
    x_tr, x_te, y_tr, y_te = train_test_split(images, labels, test_size=0.2, random_state=data_seed, stratify=labels)
    if validation:
        x_tr, x_te, y_tr, y_te = train_test_split(x_tr, y_tr, test_size=0.2, random_state=data_seed, stratify=y_tr)
    return Split(x_tr, y_tr, x_te, y_te, "validation" if validation else "test", num_classes)


def read_npz(path):
    """The arrays 'images' and 'labels' of an .npz archive. Never unpickles (allow_pickle=False),
    and never passes on NumPy's advice to load a pickle unsafely: a file that is not an .npz
    archive, or holds object arrays, is refused with the reason."""
    if not Path(path).is_file():                # a resumed run's data file that has gone
        raise MissingFileError(f"{path}: no such file (the images the run was trained on)")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not a NumPy .npz archive (the zip of arrays numpy.savez writes, with "
                         f"'images' (N, H, W[, C]) and 'labels' (N,))")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "images" not in f or "labels" not in f:
                raise InputError(f"{path}: expected arrays 'images' and 'labels', found {sorted(f.files)}")
            return f["images"], f["labels"]
    except InputError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise InputError(f"{path}: holds object arrays, which are never unpickled; save plain numeric "
                             f"arrays (numpy.savez(path, images=…, labels=…))") from None
        raise InputError(f"{path}: unreadable .npz archive ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: unreadable .npz archive ({type(e).__name__}: {e})") from None


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
    """Everything that needs no data, before any is read: --resume against --overwrite, the
    run directory, --data's file, the model the options describe (for the digits, whose size is
    known), the --backend keras combinations."""
    run_dir = Path(a.run_dir)
    if a.resume and a.overwrite:
        raise UsageError("--resume and --overwrite contradict each other: continue the run or start it over")
    if a.resume:
        if not (run_dir / "checkpoint.safetensors").exists():
            raise UsageError(f"--resume: no checkpoint in {run_dir} to continue (leave out --resume to start a run)")
        refuse_ignored_on_resume(getattr(a, "given", ()), RESUME_OPTIONS, run_dir)
        return
    check_keras_combination(a.backend, a.dtype)
    if (run_dir / "checkpoint.safetensors").exists() and not a.overwrite:
        raise UsageError(f"{run_dir} already holds a checkpoint: pass --resume to continue it, "
                         f"--overwrite to start over, or another --run-dir")
    if a.data:
        check_input_file("--data", a.data, (".npz",), "NumPy .npz archive")
    else:
        model_config(a, 8, 1, 10)           # the digits: 8x8, one channel, ten classes


def baselines(split, seed):
    """scikit-learn on the same split, flattened pixels: {name: (accuracy, seconds)}."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    xtr, xte = split.x_train.reshape(len(split.x_train), -1), split.x_eval.reshape(len(split.x_eval), -1)
    out = {}
    for name, clf in (("logistic regression", LogisticRegression(max_iter=5000)),
                      ("MLP (256 hidden, ReLU, Adam)", MLPClassifier((256,), max_iter=1000, random_state=seed))):
        t0 = time.perf_counter()
        clf.fit(xtr, split.y_train)
        out[name] = (float(clf.score(xte, split.y_eval)), time.perf_counter() - t0)
    return out


# ---------------------------------------------------------------------- the command
# how each ViTArgs field is read (the training hyper-parameters; defaults come from ViTArgs)
_ARG_TYPES = {"epochs": positive_int, "batch_size": positive_int, "lr": positive_float,
              "warmup_epochs": nonneg_int, "shift": nonneg_int, "seed": nonneg_int}
_ARG_HELP = {"epochs": "passes over the training split", "batch_size": "images per Adam step",
             "lr": "peak learning rate of the warm-up + cosine schedule",
             "warmup_epochs": "epochs of linear warm-up", "shift": "random translation by up to this many pixels",
             "seed": "initial weights, shuffling, dropout and shifts"}


def register(subs):
    v = subs.add_parser("vit", formatter_class=HelpFormatter,
                        help="train a Vision Transformer on scikit-learn's 8x8 digits (offline)")
    v.add_argument("--backend", choices=["numpy", "keras"], default="numpy",
                   help="numpy, or keras (the Keras twin from the same initial weights)")
    v.add_argument("--data-parallel", action="store_true", help=DATA_PARALLEL_HELP)
    v.add_argument("--run-dir", default=DEFAULT_RUN, help="checkpoint, curves and plots go here")
    v.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    v.add_argument("--overwrite", action="store_true", help="replace a run already in --run-dir")
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
        if f.name not in ("beta1", "beta2", "eps", "time_budget"):
            v.add_argument(f"--{f.name.replace('_', '-')}", type=_ARG_TYPES[f.name], default=None,
                           help=f"{_ARG_HELP[f.name]} (default {f.default})")
    v.add_argument("--data-seed", type=nonneg_int, default=0, help="the split's seed")
    v.add_argument("--time-budget", type=positive_float, default=None, metavar="MINUTES", help=TIME_BUDGET_HELP)
    v.add_argument("--threads", type=parse_threads, default=1, metavar="auto|N",
                   help=THREADS_HELP + " (default 1: this model's GEMMs are small; 2 threads on a busy 2-core "
                        "machine measured 10x slower per step)")
    v.add_argument("--no-baselines", action="store_true", help="skip the scikit-learn baselines")
    v.add_argument("--quiet", action="store_true", help="no progress bars")
    v.set_defaults(run=run_vit)
    return {"vit": v}


def run_vit(a):
    """The command; the BLAS thread policy, once started, is undone on every way out."""
    with contextlib.ExitStack() as stack:
        return _run_vit(a, stack)


def _run_vit(a, stack):
    from ...training.threads import ThreadPolicy
    check_options(a)
    check_data_parallel(a.backend, a.data_parallel)     # before Keras is imported
    run_dir = Path(a.run_dir)
    if a.resume:
        ck = load_checkpoint(run_dir, kinds=("vit",))
        cfg, meta = ck["cfg"], ck["meta"]
        check_keras_combination(a.backend, cfg.dtype)
        args = ViTArgs(**meta["vit_args"])
        if a.epochs is not None:
            args.epochs = a.epochs
        if a.time_budget is not None:
            args.time_budget = a.time_budget
        history = read_history(run_dir, meta["epoch"])
        split = load_split(meta["data"], meta["data_seed"], meta["validation"])
        print(f"resuming {run_dir} after epoch {meta['epoch']} of {args.epochs}")
    else:
        overrides = {f.name: getattr(a, f.name) for f in dataclasses.fields(ViTArgs)
                     if getattr(a, f.name, None) is not None}
        args = ViTArgs(**overrides, time_budget=a.time_budget)
        meta = {"data": str(Path(a.data).resolve()) if a.data else None, "data_seed": a.data_seed,
                "validation": a.validation}
        split = load_split(a.data, a.data_seed, a.validation)      # data checked before the model is built
        _, H, _, C = split.x_train.shape
        cfg = model_config(a, H, C, split.num_classes)
        history = []
    if args.epochs < 1 or args.batch_size < 1 or args.shift < 0 or args.warmup_epochs < 0 or not args.lr > 0:
        raise ValueError(f"need epochs >= 1, batch size >= 1, shift >= 0, warmup epochs >= 0 and lr > 0: {args}")
    try:
        check_images(split.x_train[:1], cfg, "the data's images")  # a resumed run's data must fit its model
    except ValueError as e:
        raise InputError(str(e)) from None
    steps = math.ceil(len(split.x_train) / args.batch_size)
    policy = stack.enter_context(ThreadPolicy(a.threads, largest_gemm(cfg, args.batch_size)).start())
    meta["threads"] = policy.describe()
    backend = make_backend(a.backend, cfg, args, steps, on_import=policy.tensorflow_threads,
                           data_parallel=a.data_parallel)
    if a.resume:
        backend.set_weights(ck["weights"])
        if ck["optimizer"]:
            backend.set_optimizer_state(ck["optimizer"])
    start = meta.get("epoch", 0) if a.resume else 0
    print(f"data: {'digits (scikit-learn)' if meta['data'] is None else meta['data']}: {len(split.x_train)} train / "
          f"{len(split.x_eval)} {split.eval_name} images of {cfg.image_size}x{cfg.image_size}x{cfg.channels}, "
          f"{cfg.num_classes} classes")
    print(f"model: ViT ({backend.name}), {cfg.num_patches} patches of {cfg.patch_size}x{cfg.patch_size}, "
          f"d_model={cfg.d_model}, heads={cfg.num_heads}, d_ff={cfg.d_ff}, {cfg.num_layers} layers, "
          f"{'pre' if cfg.norm_first else 'post'}-LN, {cfg.activation}, {cfg.dtype}, "
          f"{sum(v.size for v in backend.get_weights().values()):,} parameters; BLAS threads {policy.reason}"
          + (f"; {backend.placement}" if hasattr(backend, "placement") else ""))
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
