"""The one epoch loop every model trains with: translation, the ViT, BERT and the book's RNN examples.

An application describes one run as a `Job`: its backend, `steps(epoch)` that trains one epoch
and yields (loss, correct, count) after each step, how to validate, what goes into the checkpoint
and onto the curves. The application draws each epoch's shuffle, augmentation and dropout from
Generators seeded by (seed, epoch), so a resumed run replays the uninterrupted one bit for bit.
`fit(job)` does the rest, the same way for every model, epoch by epoch:

    --time-budget check → progress bar over the steps (BLAS threads ticked, the loss checked)
    → validation → one line on stdout → the app's files (tokenizers), the atomic checkpoint,
    history.json, curves.png

Stops, each decided in one place:
- a non-finite loss (`check_loss`) raises TrainingDiverged before anything of its epoch is saved;
- Ctrl-C: while `fit` runs, the first SIGINT only sets a flag (`SigintFlag`). Python's own
  handler raises KeyboardInterrupt wherever the main thread happens to be, and one raised inside
  a weakref or GC callback is printed as "Exception ignored in: ..." and lost: training went on.
  The loop looks at the flag after every step and before every epoch and raises Interrupted
  there; a second Ctrl-C gets Python's handler back and interrupts at once. Checkpoints are
  written atomically, so the one on disk is always a completed epoch's.
- `report(e, run_dir)`: a command's message and exit status for either (2, 130).
Outside `fit` (reading data, the final evaluation) Ctrl-C keeps Python's own behaviour: nothing
is half-written there (every file is written atomically).

Each application's arguments extend `RunArgs` (epochs, batch, seed, Adam, time budget). The RNN
examples (sunspots, fibonacci) run on this loop too, with no run directory: nothing is
written, validated or printed per epoch; they only get the steps, bars, loss check and Ctrl-C.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from .checkpoint import save_checkpoint, write_json
from .progress import progress


class TrainingDiverged(FloatingPointError):
    """The loss became NaN/inf; nothing of that epoch was saved, the last checkpoint is intact."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, at a clean point: `epoch` is the last epoch whose checkpoint is on disk (0: none)."""

    def __init__(self, epoch):
        super().__init__(epoch)
        self.epoch = epoch


@dataclasses.dataclass
class RunArgs:
    """The training arguments every application has (each one's dataclass adds its own fields and
    may change these defaults); saved in the checkpoint's metadata, so --resume continues with them."""
    epochs: int = 20
    batch_size: int = 64
    seed: int = 0               # initial weights, shuffling, dropout and the app's own draws
    beta1: float = 0.9          # Adam; the defaults are Keras', so both backends run one optimizer
    beta2: float = 0.999
    eps: float = 1e-7
    time_budget: float | None = None    # minutes of training (with validation) for the whole run


@dataclasses.dataclass
class Job:
    """One training run as the loop sees it. Only `backend`, `steps`, `n_steps` and `epochs` are needed."""
    backend: Any                    # .name; with a run_dir also .cfg, get_weights(), get_optimizer_state()
    steps: Callable[[int], Iterable[tuple[float, int, int]]]   # epoch → (loss, correct, count) per step
    n_steps: int                    # steps per epoch (the bar's length)
    epochs: int                     # train up to this epoch
    run_dir: Path | None = None     # None: write nothing (no checkpoint, history or curves)
    validate: Callable[[], tuple[float, float]] | None = None   # → (loss, accuracy) on held-out data
    val_name: str = "val"           # what `validate` measures, in the epoch line and on the curves
    meta: dict = dataclasses.field(default_factory=dict)        # checkpoint metadata (+ epoch, backend)
    files: dict = dataclasses.field(default_factory=dict)       # {file name: object with .save(path)}
    curves: dict = dataclasses.field(default_factory=dict)      # plot_curves' title, baseline, labels
    accuracy: bool = True           # `correct` counts right answers (False: a regression, loss only)
    tokens: bool = False            # `count` counts tokens: tok/s in the bar, the line and the history
    hint: str = "lower the learning rate"       # what to do about a diverged loss
    time_budget: float | None = None            # minutes of training and validation for the whole run
    threads: Any = None             # a ThreadPolicy (training/threads.py), ticked once per step
    quiet: bool = False             # no progress bars
    log: bool = True                # one line per epoch on stdout (False: transient bars, no lines)
    desc: str = "epoch"             # the bar's name: "epoch 3/20"


def fit(job: Job, start_epoch=0, history=None):
    """Train epochs start_epoch+1 … job.epochs; returns the history (one dict per epoch)."""
    history, done = list(history or []), start_epoch
    try:
        with SigintFlag() as stop:
            for epoch in range(start_epoch, job.epochs):
                stop.check(done)
                if over_budget(history, job.time_budget):
                    _say(job, f"--time-budget {job.time_budget:g} min: stopping after epoch {epoch} "
                              f"({spent(history) / 60:.1f} min spent; the next epoch would not fit)")
                    break
                history.append(_epoch(job, epoch, done, stop))
                _say(job, epoch_line(job, history[-1]))
                if job.run_dir is not None:
                    _save(job, history)
                done = epoch + 1
            stop.check(done)                 # a Ctrl-C during the last epoch's files stops the command too
    except Interrupted:
        raise
    except KeyboardInterrupt:                # a second Ctrl-C (or a KeyboardInterrupt from a step)
        raise Interrupted(done) from None
    return history


def _epoch(job, epoch, done, stop):
    """Train one epoch, then validate: the epoch's history entry."""
    t0, loss_sum, correct, count = time.perf_counter(), 0.0, 0, 0
    with progress(job.n_steps, f"{job.desc} {epoch + 1}/{job.epochs}", disable=job.quiet, summary=False,
                  leave=job.log) as bar:
        for loss, c, n in job.steps(epoch):
            if job.threads is not None:
                job.threads.tick()
            check_loss(loss, epoch, done, job)
            loss_sum, correct, count = loss_sum + loss * n, correct + c, count + n
            bar.set_postfix_str(_postfix(job, loss_sum, correct, count, time.perf_counter() - t0))
            bar.update(1)
            stop.check(done)
    seconds = time.perf_counter() - t0
    val_loss, val_acc = job.validate() if job.validate is not None else (float("nan"),) * 2
    count = max(count, 1)                # an epoch of steps with nothing to count (BERT: no token chosen)
    h = {"epoch": epoch + 1, "train_loss": loss_sum / count}
    if job.accuracy:
        h["train_acc"] = correct / count
    h.update({"val_loss": val_loss, "val_acc": val_acc, "seconds": seconds,
              "val_seconds": time.perf_counter() - t0 - seconds})
    if job.tokens:
        h["tokens_per_sec"] = count / seconds
    h["backend"] = job.backend.name
    if job.threads is not None:
        h["blas_threads"] = job.threads.take_counts()           # {threads: steps}
    h["load_avg_1min"] = _load()         # the machine's load: other processes slow an epoch down
    return h


def check_loss(loss, epoch, done, job):
    """The one divergence check: a NaN/inf loss stops training before anything of `epoch` is saved."""
    if math.isfinite(loss):
        return
    if job.run_dir is None:
        where = f"{job.hint}"
    elif done:
        where = (f"The last good checkpoint (epoch {done}) in {job.run_dir} is intact: {job.hint} and resume "
                 f"(--resume --run-dir {job.run_dir}).")
    else:
        where = f"No checkpoint of this run was written to {job.run_dir}: {job.hint} and start again."
    raise TrainingDiverged(f"loss became {loss} in epoch {epoch + 1}; stopped without saving. {where}")


def _postfix(job, loss_sum, correct, count, elapsed):
    n = max(count, 1)
    s = f"loss={loss_sum / n:.3f}" + (f" acc={correct / n:.3f}" if job.accuracy else "")
    return s + (f" tok/s={count / elapsed:.0f}" if job.tokens else "")


def epoch_line(job, h):
    acc = (lambda key: f" acc {h[key]:.4f}") if job.accuracy else (lambda key: "")
    line = f"epoch {h['epoch']}: train loss {h['train_loss']:.4f}{acc('train_acc')}"
    if job.validate is not None:
        line += f" | {job.val_name} loss {h['val_loss']:.4f}{acc('val_acc')}"
    line += f" | {h['seconds']:.1f}s"
    return line + (f", {h['tokens_per_sec']:.0f} tok/s" if job.tokens else "")


def _say(job, line):
    if job.log:
        print(line, flush=True)


def _save(job, history):
    """The app's files first (a checkpoint never lies beside missing tokenizers), then the
    checkpoint, history.json and curves.png; each written atomically."""
    run_dir, b = Path(job.run_dir), job.backend
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, obj in job.files.items():
        obj.save(run_dir / name)
    save_checkpoint(run_dir, b.cfg, b.get_weights(), b.get_optimizer_state(),
                    {**job.meta, "epoch": history[-1]["epoch"], "backend": b.name})
    write_json(run_dir / "history.json", history)
    try:
        from .plots import plot_curves
    except ImportError:
        return                       # matplotlib is optional
    plot_curves(history, run_dir / "curves.png", val_name=job.val_name, **job.curves)


def _load():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):   # not on every platform
        return None


# ---------------------------------------------------------------------------- --time-budget
def spent(history):
    """Seconds of training and validation over the run's epochs so far."""
    return sum(h["seconds"] + h.get("val_seconds", 0.0) for h in history)


def over_budget(history, minutes):
    """Start another epoch only if the last one's duration still fits, so a run never exceeds its
    budget by more than the rounding of one epoch's length."""
    if minutes is None or not history:
        return False
    last = history[-1]["seconds"] + history[-1].get("val_seconds", 0.0)
    return spent(history) + last > minutes * 60


def read_history(run_dir, epochs):
    """history.json of a run being resumed, cut to the `epochs` its checkpoint holds."""
    f = Path(run_dir) / "history.json"
    return json.loads(f.read_text())[:epochs] if f.exists() else []


# ---------------------------------------------------------------------------- Ctrl-C
class SigintFlag:
    """`with SigintFlag() as stop:` … `stop.check(epoch)` at each clean point. The first SIGINT
    sets `requested` and puts the previous handler back, so a second one acts at once. Installed
    only from the main thread and only over Python's default handler (one a caller set, or
    SIG_IGN, is left alone); the previous handler is restored on every way out."""

    def __init__(self):
        self.requested, self._previous = False, None

    def handler(self, signum, frame):
        self.requested = True
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def check(self, epoch):
        if self.requested:
            raise Interrupted(epoch)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self.handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def interrupted_message(run_dir, epoch):
    if run_dir is None:
        return "interrupted (this command writes no checkpoint)"
    if epoch:
        return (f"interrupted: the checkpoint of epoch {epoch} in {run_dir} is intact; "
                f"continue with --resume --run-dir {run_dir}")
    old = " (the checkpoint already there is an earlier run's)" if (Path(run_dir) / "checkpoint.safetensors").exists() else ""
    return (f"interrupted before the first epoch finished: no checkpoint of this run was written to "
            f"{run_dir}{old}; run the same command again to start over")


def report(e, run_dir):
    """What a command prints and returns when `fit` stopped it: exit status 2 for a diverged
    loss, 130 (the shell's code for SIGINT) for Ctrl-C."""
    if isinstance(e, TrainingDiverged):
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n" + interrupted_message(run_dir, e.epoch), file=sys.stderr)
    return 130
