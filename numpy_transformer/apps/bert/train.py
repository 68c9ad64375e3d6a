"""Training the BERT-style encoder (commands.py): the arguments, the NumPy backend (and,
lazily, keras_transformer.bert_training's), evaluation, and what the shared epoch loop
(training/loop.py) needs to know of BERT. Two tasks: "mlm" (pre-training, loss on the chosen tokens only)
and "cls" (the [CLS] head on the translation-pair task).

A backend has train_step(batch, rng) -> (loss, correct, n), eval_step(batch) -> (loss·n,
correct, n), get/set_weights, get/set_optimizer_state; weights and Adam moments travel under the
shared parameter names, so either backend continues the other's checkpoint."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ...models import BertEncoder
from ...ops import Adam
from ...ops.loss import masked_cross_entropy
from ...ops.optim import WarmupCosine
from ...training.checkpoint import NumpyCheckpointState
from ...training import run
from ...training.loop import Job, RunArgs
from ...training.loop import fit as loop_fit


@dataclasses.dataclass
class BertArgs(RunArgs):
    epochs: int = 8
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 300


class NumpyBertBackend(NumpyCheckpointState):
    name = "numpy"

    def __init__(self, cfg, task, peak_lr, warmup_steps, total_steps, seed, beta1=0.9, beta2=0.999, eps=1e-7):
        self.cfg, self.task = cfg, task
        self.model = BertEncoder(cfg, seed=seed, kernels="fast")
        self.opt = Adam(WarmupCosine(peak_lr, warmup_steps, total_steps), beta1, beta2, eps)

    def _forward(self, batch, training, rng=None):
        """Logits and their labels: the chosen positions only (MLM), or one per sequence."""
        if self.task == "mlm":
            chosen = batch.labels != self.cfg.pad_id
            return (self.model.forward(batch.ids, batch.segments, positions=chosen, training=training, rng=rng),
                    batch.labels[chosen])
        return self.model.forward(batch.ids, batch.segments, head="cls", training=training, rng=rng), batch.labels

    def train_step(self, batch, rng):
        if self.task == "mlm" and not np.any(batch.labels != self.cfg.pad_id):
            return 0.0, 0, 0        # nothing chosen (sentences of [UNK] only): nothing to learn
        logits, labels = self._forward(batch, True, rng)
        loss, dlogits = masked_cross_entropy(logits, labels, pad_id=-1)   # every selected label counts
        if math.isfinite(loss):                                            # no update from a NaN step
            self.opt.step(self.model.params, self.model.backward(dlogits))
        return loss, int(np.sum(logits.argmax(-1) == labels)), len(labels)

    def eval_step(self, batch):
        if self.task == "mlm" and not np.any(batch.labels != self.cfg.pad_id):
            return 0.0, 0, 0
        logits, labels = self._forward(batch, False)
        loss, _ = masked_cross_entropy(logits, labels, pad_id=-1)
        return loss * len(labels), int(np.sum(logits.argmax(-1) == labels)), len(labels)


def make_backend(name, cfg, task, args, steps_per_epoch, weights=None, on_import=None, data_parallel=False,
                 optimizer=None):
    """NumpyBertBackend or keras_transformer's KerasBertBackend for `task` on the warm-up + cosine
    schedule of `args` (training/run.py: the start from `weights` or the NumPy initial weights of
    args.seed, `on_import`, `data_parallel`, `optimizer`)."""
    total = max(args.epochs * steps_per_epoch, args.warmup_steps + 1)
    return run.make_backend(name, cfg, NumpyBertBackend, "keras_transformer.bert_training:KerasBertBackend", task,
                            args.lr, min(args.warmup_steps, total - 1), total, args.seed, args.beta1, args.beta2,
                            args.eps, seed=args.seed, weights=weights, optimizer=optimizer, on_import=on_import,
                            data_parallel=data_parallel, batch_size=args.batch_size)


def evaluate(backend, batches):
    """Mean loss and accuracy over the batches' counted labels."""
    loss = correct = n = 0
    for b in batches:
        l, c, k = backend.eval_step(b)
        loss, correct, n = loss + l, correct + c, n + k
    return loss / max(n, 1), correct / max(n, 1), n


def run_title(run_dir, cfg, args, what, backend_name):
    """One line naming the run and its configuration (the curves' title)."""
    return (f"{Path(run_dir).name}: BERT {what} ({backend_name}), vocab {cfg.vocab_size}, d_model {cfg.d_model}, "
            f"{cfg.num_heads} heads, d_ff {cfg.d_ff}, {cfg.num_layers} layers, {'pre' if cfg.norm_first else 'post'}-LN, "
            f"dropout {cfg.dropout:g}, batch {args.batch_size}, lr {args.lr:g}, warm-up {args.warmup_steps}, {cfg.dtype}")


def fit(backend, train_batches, eval_batches, n_train, args, run_dir, start_epoch=0, history=None, meta=None,
        files=None, threads=None, quiet=False, baseline=None, title=""):
    """Epochs start_epoch..args.epochs on the shared loop (training/loop.py). `train_batches(epoch,
    rng)` yields the epoch's batches (shuffled and masked from Generators seeded by (seed, epoch),
    so a resumed NumPy run replays the uninterrupted one); `eval_batches()` the val split's.
    `files`: {name: tokenizer} saved beside each checkpoint; `baseline`: (label, accuracy) drawn
    on the curves."""

    def steps(epoch):
        data_rng, drop_rng = np.random.default_rng([args.seed, epoch, 1]), np.random.default_rng([args.seed, epoch, 2])
        for batch in train_batches(epoch, data_rng):
            yield backend.train_step(batch, drop_rng)

    job = Job(backend, steps, math.ceil(n_train / args.batch_size), args.epochs, run_dir=Path(run_dir),
              validate=lambda: evaluate(backend, eval_batches())[:2],
              meta={**(meta or {}), "bert_args": dataclasses.asdict(args)}, files=files or {},
              curves={"title": title, "loss_label": "cross-entropy", "acc_label": "accuracy",
                      "baselines": [baseline] if baseline else []},
              hint="lower --lr", time_budget=args.time_budget, threads=threads, quiet=quiet)
    return loop_fit(job, start_epoch, history)
