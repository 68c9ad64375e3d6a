"""The run handler every training command shares (`train`, `vit`, `bert pretrain|finetune`):
the run directory's checks, a resumed run's arguments, the BLAS thread policy, the backend and
the start-up line. Each application keeps what is its own (its options, data and backends) and
calls these in this order:

    check_run_options(a)   --resume vs --overwrite, the options --resume would ignore, --data-parallel
    … the application's own option checks (the model the options describe, its data file) …
    check_run_dir(a)       --resume needs a checkpoint, a fresh run refuses one (but --overwrite),
                           the directory must take files; stale temporary files are removed
    resume_args(a, ck, …)  the run's own training arguments, --epochs / --time-budget from the command line
    thread_policy(…)       the BLAS threads for the model's largest GEMM (the registry's)
    make_backend(…)        NumPy, or the Keras twin (imported lazily) from the same weights
    model_line(…)          "model: Vision Transformer (numpy), …; 12,345 parameters; BLAS threads …"

so every bad option is reported before a run directory is looked at, and that before any data is
read. Options and arguments are the parsed argparse namespace (`a`, with `a.given`: cli/main.py)."""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from ..config import kind_of
from ..data.errors import UsageError
from ..data.fileio import check_writable, remove_temp_files
from .checkpoint import CHECKPOINT, TEMP_FILES
from .keras_import import check_data_parallel, quiet_tensorflow
from .loop import read_history
from .threads import ThreadPolicy


def check_run_options(a, resume_options=None):
    """The options of a run that need nothing read. `resume_options`: the dests --resume takes from
    the command line (None: the application compares the others with the run's itself)."""
    if a.resume and a.overwrite:
        raise UsageError("--resume and --overwrite contradict each other: continue the run or start it over")
    if a.resume and resume_options is not None:
        refuse_ignored_on_resume(getattr(a, "given", ()), resume_options, a.run_dir)
    check_data_parallel(a.backend, a.data_parallel)     # before Keras is imported


def refuse_ignored_on_resume(given, allowed, run_dir):
    """--resume continues a run with its own model, data and training settings: an option the
    user typed (`given`, cli/main.py) that --resume would not use is an error, not silently
    ignored. `allowed`: the dests --resume does take from the command line."""
    ignored = [f"--{dest.replace('_', '-')}" for dest in sorted(set(given) - set(allowed) - {"resume", "run_dir"})]
    if ignored:
        raise UsageError(f"--resume continues {run_dir} with its own settings, so {', '.join(ignored)} would be "
                         f"ignored. Leave {'them' if len(ignored) > 1 else 'it'} out, or start a new run "
                         f"(another --run-dir or --overwrite)")


def check_run_dir(a):
    """After the option checks: --resume needs a checkpoint in --run-dir, a fresh run refuses one
    there unless --overwrite, and the directory (or the parent it will be made in) must take
    files. Then the temporary files a killed run left there are removed, with one line saying so.
    Returns the run directory."""
    run_dir = Path(a.run_dir)
    held = (run_dir / CHECKPOINT).is_file()
    if a.resume and not held:
        raise UsageError(f"--resume: no checkpoint in {run_dir} to continue (leave out --resume to start a run)")
    if held and not a.resume and not a.overwrite:
        raise UsageError(f"{run_dir} already holds a checkpoint: pass --resume to continue it, "
                         f"--overwrite to start over, or another --run-dir")
    check_writable(run_dir, "--run-dir")
    removed = remove_temp_files(run_dir, TEMP_FILES)
    if removed:
        print(f"removed {len(removed)} temporary file{'s' if len(removed) > 1 else ''} an interrupted run left "
              f"in {run_dir}: {', '.join(removed)}")
    return run_dir


def resume_args(a, ck, args_class, key):
    """A resumed run's training arguments (its own, from checkpoint metadata `key`; --epochs and
    --time-budget from the command line) and its history; prints the line that says so."""
    run_dir, meta = Path(a.run_dir), ck["meta"]
    args = args_class(**meta.get(key, {}))
    if a.epochs is not None:
        if a.epochs <= meta["epoch"]:
            raise UsageError(f"--epochs {a.epochs}: {run_dir} has already completed {meta['epoch']} epochs; "
                             f"ask for more to continue it")
        args.epochs = a.epochs
    if a.time_budget is not None:
        args.time_budget = a.time_budget
    print(f"resuming {run_dir} after epoch {meta['epoch']} of {args.epochs}")
    return args, read_history(run_dir, meta["epoch"])


def thread_policy(stack, threads, cfg, batch_size):
    """The started BLAS thread policy for the model's training step (its largest GEMM: the
    registry's), undone when `stack` closes. Its `describe()` goes into the checkpoint's metadata
    once the backend is built (with TensorFlow's pools, when the Keras twin's import set them)."""
    return stack.enter_context(ThreadPolicy(threads, kind_of(cfg).largest_gemm(cfg, batch_size)).start())


def make_backend(name, cfg, numpy_backend, keras_backend, *args, seed, weights=None, optimizer=None,
                 on_import=None, data_parallel=False, **keras_only):
    """The training backend `name` ("numpy" or "keras"): `numpy_backend(cfg, *args)`, or the Keras
    twin's `keras_backend` ("module:Class", imported only now and quietly; `on_import` runs right
    after, before TensorFlow's first op) with `data_parallel` and `keras_only`. It starts from
    `weights` (a state dict) or else from the NumPy model's initial weights of `seed`, both
    backends alike; `optimizer`: Adam's state to continue from."""
    if name == "numpy":
        backend = numpy_backend(cfg, *args)
    elif name == "keras":
        cls = import_keras(keras_backend)
        if on_import is not None:
            on_import()
        backend = cls(cfg, *args, data_parallel=data_parallel, **keras_only)
        if weights is None:              # the same start as a NumPy run of this seed
            weights = kind_of(cfg).build(cfg, seed).state_dict()
    else:
        raise ValueError(f"unknown backend {name!r} (numpy or keras)")
    if weights is not None:
        backend.set_weights(weights)
    if optimizer:
        backend.set_optimizer_state(optimizer)
    return backend


def import_keras(name):
    """The Keras twin's "module:Class", imported lazily (only the applications and training/ cross
    that wall, inside a function) and quietly (training/keras_import.py)."""
    module, _, attr = name.partition(":")
    with quiet_tensorflow():
        return getattr(importlib.import_module(module), attr)


def model_line(backend, cfg, policy, what=None):
    """The start-up line naming the model, its size and the BLAS threads (and the devices)."""
    kind = kind_of(cfg)
    n = sum(int(np.size(v)) for v in backend.get_weights().values())
    return (f"model: {kind.title} ({backend.name}), {kind.describe(cfg)}, {cfg.dtype}; {n:,} parameters"
            + (f"; {what}" if what else "") + f"; BLAS threads {policy.reason}"
            + (f"; {backend.placement}" if hasattr(backend, "placement") else ""))
