"""Training for translation, with either backend: teacher forcing, the paper's schedule, masked
loss/accuracy, on the shared loop (training/loop.py: validation, atomic checkpoints, bit-for-bit
resume, --time-budget, NaN and Ctrl-C safety).

The loop only talks to a *backend* object (NumpyBackend here, keras_transformer.training's
KerasBackend for `--backend keras`) with these methods:
    train_step(batch, rng) -> (loss, correct, tokens)   eval_step(batch) -> (loss·tokens, correct, tokens)
    get_weights() / set_weights(sd)                     get_optimizer_state() / set_optimizer_state(sd)
    decode(src_ids, start_id, eos_id, max_len, beam=1, alpha=0.6) -> list of id lists
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ...training.checkpoint import NumpyCheckpointState
from ...training import run
from ...config import kind_of, schedule_width
from ...data.errors import UsageError
from .batching import encode_source, encode_target, make_batches
from ...models.decoding import beam_search, greedy_decode
from ...fast import ThreadedAdam, masked_cross_entropy
from ...ops import WarmupSchedule, masked_accuracy
from ...training.loop import Job, RunArgs, TrainingDiverged  # noqa: F401 (TrainingDiverged: its old home)
from ...training.loop import fit as loop_fit


@dataclasses.dataclass
class TrainArgs(RunArgs):
    beta2: float = 0.98         # Adam as in the paper
    eps: float = 1e-9
    warmup: int = 4000
    clipnorm: float | None = None
    label_smoothing: float = 0.0


class NumpyBackend(NumpyCheckpointState):
    name = "numpy"

    def __init__(self, cfg, args: TrainArgs):
        self.cfg, self.args = cfg, args
        self.model = kind_of(cfg).build(cfg, args.seed, fast=True)   # the Transformer or the RNN translator
        self.opt = ThreadedAdam(WarmupSchedule(schedule_width(cfg), args.warmup), args.beta1, args.beta2, args.eps,
                        clipnorm=args.clipnorm)

    def train_step(self, batch, rng):
        logits = self.model.forward(batch.src, batch.tgt_in, training=True, rng=rng)
        loss, dlogits = masked_cross_entropy(logits, batch.tgt_out, self.cfg.pad_id, self.args.label_smoothing)
        n = int((batch.tgt_out != self.cfg.pad_id).sum())
        if not math.isfinite(loss):
            return loss, 0, n                    # no update from a NaN step
        self.opt.step(self.model.params, self.model.backward(dlogits))   # Adam reads trees by name
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


def make_backend(name, cfg, args, on_import=None, data_parallel=False, weights=None, optimizer=None):
    """NumpyBackend or keras_transformer.training's KerasBackend, from the NumPy initial weights of
    args.seed or `weights` (training/run.py: `on_import`, `data_parallel`, `optimizer`)."""
    return run.make_backend(name, cfg, NumpyBackend, "keras_transformer.training:KerasBackend", args,
                            seed=args.seed, weights=weights, optimizer=optimizer, on_import=on_import,
                            data_parallel=data_parallel)


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


def check_fits(encoded, pairs, src_tok, tgt_tok, max_len):
    """A UsageError when `max_len` drops every training pair (encode_split's `encoded`), with the
    --max-len the shortest would need."""
    if not encoded[0]:
        need = min(max(len(encode_source(en, src_tok)), len(encode_target(de, tgt_tok)) - 1) for en, de in pairs)
        raise UsageError(f"--max-len {max_len} leaves no training pair: all {len(pairs)} are longer "
                         f"(the shortest needs --max-len {need})")


def evaluate_batches(backend, batches):
    loss = correct = n = 0
    for b in batches:
        l, c, k = backend.eval_step(b)
        loss, correct, n = loss + l, correct + c, n + k
    return loss / max(n, 1), correct / max(n, 1)


def fit(backend, train, val, args: TrainArgs, run_dir, start_epoch=0, history=None, meta=None,
        src_tok=None, tgt_tok=None, quiet=False, threads=None, log_loss=False):
    """Train from `start_epoch` to `args.epochs` on the shared loop (training/loop.py), which
    validates, checkpoints (with the tokenizers beside it), writes history.json and curves.png
    after each epoch and stops on --time-budget, a diverged loss or Ctrl-C. `train`/`val` are
    (srcs, tgts) id lists; epoch e's shuffle and dropout come from Generators seeded by
    (seed, e). `log_loss`: curves.png with a logarithmic loss axis. Returns the history."""
    pad = backend.cfg.pad_id
    if not train[0]:
        raise ValueError("no training pairs to train on")
    val_batches = make_batches(*val, args.batch_size, pad) if val[0] else []

    def steps(epoch):
        drop_rng = np.random.default_rng([args.seed, epoch, 1])
        for batch in make_batches(*train, args.batch_size, pad, shuffle=True,
                                  rng=np.random.default_rng([args.seed, epoch])):
            yield backend.train_step(batch, drop_rng)

    tokenizers = {f"{side}_tokenizer.json": tok for side, tok in (("src", src_tok), ("tgt", tgt_tok)) if tok is not None}
    job = Job(backend, steps, math.ceil(len(train[0]) / args.batch_size), args.epochs, run_dir=Path(run_dir),
              validate=(lambda: evaluate_batches(backend, val_batches)) if val_batches else None,
              meta={**(meta or {}), "train_args": dataclasses.asdict(args)}, files=tokenizers,
              curves={"title": run_title(run_dir, backend.cfg, args, backend.name), "log_loss": log_loss},
              tokens=True, hint="lower the learning rate (larger --warmup) or enable --clipnorm",
              time_budget=args.time_budget, threads=threads, quiet=quiet)
    return loop_fit(job, start_epoch, history)


def run_title(run_dir, cfg, args, backend_name):
    """One line naming the run and its configuration (for plot titles)."""
    return (f"{Path(run_dir).name}: {backend_name}, {kind_of(cfg).describe(cfg)}, "
            f"batch {args.batch_size}, warm-up {args.warmup}, {cfg.dtype}")
