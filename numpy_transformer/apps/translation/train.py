"""Training for translation, with either backend: teacher forcing, the paper's schedule, masked
loss/accuracy, per-epoch validation, atomic checkpoints, bit-for-bit resume, NaN and Ctrl-C safety.

The loop only talks to a *backend* object (NumpyBackend here, keras_transformer.training's
KerasBackend for `--backend keras`) with these methods:
    train_step(batch, rng) -> (loss, correct, tokens)   eval_step(batch) -> (loss·tokens, correct, tokens)
    get_weights() / set_weights(sd)                     get_optimizer_state() / set_optimizer_state(sd)
    decode(src_ids, start_id, eos_id, max_len, beam=1, alpha=0.6) -> list of id lists
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from ...training.checkpoint import NumpyCheckpointState, load_checkpoint, save_checkpoint, write_json
from ...config import schedule_width
from .batching import encode_source, encode_target, make_batches
from ...models.decoding import beam_search, greedy_decode
from ...fast import ThreadedAdam, masked_cross_entropy
from ...ops import WarmupSchedule, masked_accuracy
from .model_kinds import KINDS, kind_of
from ...training.keras_import import quiet_tensorflow
from ...training.progress import progress


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the last good checkpoint is left as it was."""


@dataclasses.dataclass
class TrainArgs:
    epochs: int = 20
    batch_size: int = 64
    seed: int = 0
    warmup: int = 4000
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-9
    clipnorm: float | None = None
    label_smoothing: float = 0.0
    time_budget: float | None = None    # minutes of training (with validation) for the whole run


class NumpyBackend(NumpyCheckpointState):
    name = "numpy"

    def __init__(self, cfg, args: TrainArgs):
        self.cfg, self.args = cfg, args
        self.model = kind_of(cfg).numpy_model(cfg, args.seed)     # the Transformer or the RNN translator
        self.opt = ThreadedAdam(WarmupSchedule(schedule_width(cfg), args.warmup), args.beta1, args.beta2, args.eps,
                        clipnorm=args.clipnorm)

    def train_step(self, batch, rng):
        logits = self.model.forward(batch.src, batch.tgt_in, training=True, rng=rng)
        loss, dlogits = masked_cross_entropy(logits, batch.tgt_out, self.cfg.pad_id, self.args.label_smoothing)
        n = int((batch.tgt_out != self.cfg.pad_id).sum())
        if not math.isfinite(loss):
            return loss, 0, n                    # no update from a NaN step
        self.opt.step(self.model.params, self.model.backward(dlogits))
        return loss, round(masked_accuracy(logits, batch.tgt_out, self.cfg.pad_id) * n), n

    def eval_step(self, batch):
        logits = self.model.forward(batch.src, batch.tgt_in)
        loss, _ = masked_cross_entropy(logits, batch.tgt_out, self.cfg.pad_id, self.args.label_smoothing)
        n = int((batch.tgt_out != self.cfg.pad_id).sum())
        return loss * n, round(masked_accuracy(logits, batch.tgt_out, self.cfg.pad_id) * n), n

    def decode(self, src_ids, start_id, eos_id, max_len, beam=1, alpha=0.6):
        if beam == 1:
            out = greedy_decode(self.model, src_ids, start_id, eos_id, max_len)
            return [list(row[: list(row).index(eos_id) + 1] if eos_id in row else row) for row in out]
        return [list(hyps[0][0]) for hyps in beam_search(self.model, src_ids, start_id, eos_id, max_len, beam, alpha)]


def make_backend(name, cfg, args, on_import=None, data_parallel=False):
    """`on_import`: called right after the Keras backend's import, before TensorFlow's first op
    (the CLI sets TensorFlow's thread pools there). `data_parallel`: the Keras backend trains on
    every device (keras_transformer/distribute.py)."""
    if name == "numpy":
        return NumpyBackend(cfg, args)
    if name == "keras":
        KerasBackend = _import_keras_backend()
        if on_import is not None:
            on_import()
        backend = KerasBackend(cfg, args, data_parallel=data_parallel)
        # the same start as a NumPy run of this seed
        backend.set_weights(kind_of(cfg).numpy_model(cfg, args.seed).state_dict())
        return backend
    raise ValueError(f"unknown backend {name!r} (numpy or keras)")


def _import_keras_backend():
    """keras_transformer.training's KerasBackend, imported lazily and quietly."""
    with quiet_tensorflow():
        from keras_transformer.training import KerasBackend
    return KerasBackend


def encode_split(pairs, src_tok, tgt_tok, max_len):
    """Encoder inputs and <start>…<eos> targets; pairs that do not fit `max_len` are dropped
    (truncating a target would teach a wrong sentence). Returns (srcs, tgts, n_dropped)."""
    srcs, tgts = [], []
    for en, de in pairs:
        s, t = encode_source(en, src_tok), encode_target(de, tgt_tok)
        if len(s) <= max_len and len(t) - 1 <= max_len:
            srcs.append(s)
            tgts.append(t)
    return srcs, tgts, len(pairs) - len(srcs)


def evaluate_batches(backend, batches):
    loss = correct = n = 0
    for b in batches:
        l, c, k = backend.eval_step(b)
        loss, correct, n = loss + l, correct + c, n + k
    return loss / max(n, 1), correct / max(n, 1)


def fit(backend, train, val, args: TrainArgs, run_dir, start_epoch=0, history=None, meta=None,
        src_tok=None, tgt_tok=None, quiet=False, on_epoch=None, threads=None,
        log_loss=False):
    """Train from `start_epoch` to `args.epochs`. `train`/`val` are (srcs, tgts) id lists. Each
    epoch's shuffle and dropout masks come from Generators seeded by (seed, epoch), so a
    resumed run replays exactly what an uninterrupted one would have done. After each epoch:
    validation, then an atomic checkpoint, history.json and curves.png in `run_dir`.
    `threads` (an app.threads.ThreadPolicy) is ticked once per step and may change the BLAS
    thread count with the machine's load; each history entry records the steps run per count.
    `log_loss`: curves.png with a logarithmic loss axis.
    Returns the history (list of per-epoch dicts)."""
    cfg, pad = backend.cfg, backend.cfg.pad_id
    history = list(history or [])
    run_dir = Path(run_dir)
    if not train[0]:
        raise ValueError("no training pairs to train on")
    val_batches = make_batches(*val, args.batch_size, pad) if val[0] else []
    for epoch in range(start_epoch, args.epochs):
        if over_budget(history, args):
            if not quiet:
                print(f"--time-budget {args.time_budget:g} min: stopping after epoch {epoch} "
                      f"({spent(history) / 60:.1f} min spent; the next epoch would not fit)", flush=True)
            break
        batches = make_batches(*train, args.batch_size, pad, shuffle=True, rng=np.random.default_rng([args.seed, epoch]))
        drop_rng = np.random.default_rng([args.seed, epoch, 1])
        t0, loss_sum, correct, tokens = time.perf_counter(), 0.0, 0, 0
        with progress(len(batches), f"epoch {epoch + 1}/{args.epochs}", disable=quiet, summary=False) as bar:
            for batch in batches:
                loss, c, n = backend.train_step(batch, drop_rng)
                if threads is not None:
                    threads.tick()
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"loss became {loss} in epoch {epoch + 1}; stopped without saving. The last good "
                        f"checkpoint (epoch {epoch}) in {run_dir} is intact: lower the learning rate "
                        f"(larger --warmup) or enable --clipnorm and resume.")
                loss_sum, correct, tokens = loss_sum + loss * n, correct + c, tokens + n
                bar.set_postfix_str(f"loss={loss_sum / tokens:.3f} acc={correct / tokens:.3f} "
                                    f"tok/s={tokens / (time.perf_counter() - t0):.0f}")
                bar.update(1)
        seconds = time.perf_counter() - t0
        val_loss, val_acc = evaluate_batches(backend, val_batches) if val_batches else (float("nan"),) * 2
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / tokens, "train_acc": correct / tokens,
                        "val_loss": val_loss, "val_acc": val_acc, "seconds": seconds,
                        "val_seconds": time.perf_counter() - t0 - seconds,
                        "tokens_per_sec": tokens / seconds, "backend": backend.name})
        if threads is not None:
            history[-1]["blas_threads"] = threads.take_counts()   # {threads: steps}
        if not quiet:
            h = history[-1]
            print(f"epoch {epoch + 1}: train loss {h['train_loss']:.4f} acc {h['train_acc']:.4f} | "
                  f"val loss {val_loss:.4f} acc {val_acc:.4f} | {seconds:.1f}s, {h['tokens_per_sec']:.0f} tok/s",
                  flush=True)
        save_checkpoint(run_dir, cfg, backend.get_weights(), backend.get_optimizer_state(),
                        {**(meta or {}), "epoch": epoch + 1, "backend": backend.name,
                         "train_args": dataclasses.asdict(args)}, src_tok, tgt_tok)
        write_json(run_dir / "history.json", history)
        try:
            from ...training.plots import plot_curves
            plot_curves(history, run_dir / "curves.png", title=run_title(run_dir, cfg, args, backend.name),
                        log_loss=log_loss)
        except ImportError:
            pass   # matplotlib is optional
        if on_epoch is not None:
            on_epoch(epoch + 1)
    return history


def spent(history):
    """Seconds of training and validation over the run's epochs so far."""
    return sum(h["seconds"] + h.get("val_seconds", 0.0) for h in history)


def over_budget(history, args):
    """--time-budget: start another epoch only if the last one's duration still fits, so a run
    never exceeds its budget by more than the rounding of one epoch's length."""
    if args.time_budget is None or not history:
        return False
    last = history[-1]["seconds"] + history[-1].get("val_seconds", 0.0)
    return spent(history) + last > args.time_budget * 60


def run_title(run_dir, cfg, args, backend_name):
    """One line naming the run and its configuration (for plot titles)."""
    return (f"{Path(run_dir).name}: {backend_name}, {kind_of(cfg).describe(cfg)}, "
            f"batch {args.batch_size}, warm-up {args.warmup}, {cfg.dtype}")


def resume_state(run_dir, backend_name, checkpoint=None, on_import=None, data_parallel=False):
    """Everything needed to continue a run: config, backend with weights and optimizer state
    restored, tokenizers, metadata, history, next epoch. `checkpoint`: load_checkpoint(run_dir)
    when the caller already has it."""
    ck = checkpoint or load_checkpoint(run_dir, kinds=tuple(KINDS))
    meta = ck["meta"]
    args = TrainArgs(**meta.get("train_args", {}))
    backend = make_backend(backend_name, ck["cfg"], args, on_import, data_parallel)
    backend.set_weights(ck["weights"])
    if ck["optimizer"]:
        backend.set_optimizer_state(ck["optimizer"])
    hist_file = Path(ck["dir"]) / "history.json"
    history = json.loads(hist_file.read_text()) if hist_file.exists() else []
    return {"cfg": ck["cfg"], "args": args, "backend": backend, "meta": meta, "history": history[: meta["epoch"]],
            "src_tok": ck["src_tok"], "tgt_tok": ck["tgt_tok"], "epoch": meta["epoch"]}
