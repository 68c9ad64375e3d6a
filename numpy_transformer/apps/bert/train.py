"""Training the BERT-style encoder (apps/bert/commands.py): the arguments, the NumPy backend (and,
lazily, keras_transformer.bert_training's), evaluation, the epoch loop with atomic checkpoints,
history.json and curves.png. Two tasks: "mlm" (pre-training, loss on the chosen tokens only)
and "cls" (the [CLS] head on the translation-pair task).

A backend has train_step(batch, rng) -> (loss, correct, n), eval_step(batch) -> (loss·n,
correct, n), get/set_weights, get/set_optimizer_state; weights and Adam moments travel under the
shared parameter names, so either backend continues the other's checkpoint."""
from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

import numpy as np

from ...models import BertEncoder
from ...ops import Adam
from ...ops.loss import masked_cross_entropy
from ...ops.optim import WarmupCosine
from ...training.checkpoint import NumpyCheckpointState, save_checkpoint, write_json
from ...training.keras_import import quiet_tensorflow
from ...training.progress import progress


@dataclasses.dataclass
class BertArgs:
    epochs: int = 8
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 300
    seed: int = 0               # weights, shuffling, masking, dropout
    beta1: float = 0.9          # Adam: Keras' defaults, so both backends run the same optimizer
    beta2: float = 0.999
    eps: float = 1e-7


class NumpyBertBackend(NumpyCheckpointState):
    name = "numpy"

    def __init__(self, cfg, task, peak_lr, warmup_steps, total_steps, seed, beta1=0.9, beta2=0.999, eps=1e-7):
        self.cfg, self.task = cfg, task
        self.model = BertEncoder(cfg, seed=seed)
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


def make_backend(name, cfg, task, args, steps_per_epoch, weights=None, on_import=None, data_parallel=False):
    """The backend, starting from `weights` (a state dict) or the NumPy initial weights of
    args.seed; both backends alike. `data_parallel`: the Keras backend trains on every device
    (keras_transformer/distribute.py)."""
    total = max(args.epochs * steps_per_epoch, args.warmup_steps + 1)
    sched = (args.lr, min(args.warmup_steps, total - 1), total)
    opt = dict(beta1=args.beta1, beta2=args.beta2, eps=args.eps)
    if name == "numpy":
        backend = NumpyBertBackend(cfg, task, *sched, args.seed, **opt)
    elif name == "keras":
        with quiet_tensorflow():         # lazy: only the applications cross the wall
            from keras_transformer.bert_training import KerasBertBackend
        if on_import is not None:
            on_import()
        backend = KerasBertBackend(cfg, task, *sched, args.seed, **opt, data_parallel=data_parallel,
                                   batch_size=args.batch_size)
        if weights is None:
            weights = BertEncoder(cfg, seed=args.seed).state_dict()
    else:
        raise ValueError(f"unknown backend {name!r} (numpy or keras)")
    if weights is not None:
        backend.set_weights(weights)
    return backend


def evaluate(backend, batches):
    """Mean loss and accuracy over the batches' counted labels."""
    loss = correct = n = 0
    for b in batches:
        l, c, k = backend.eval_step(b)
        loss, correct, n = loss + l, correct + c, n + k
    return loss / max(n, 1), correct / max(n, 1), n


def fit(backend, train_batches, eval_batches, n_train, args, run_dir, start_epoch=0, history=None, meta=None,
        save_extra=None, threads=None, quiet=False, baseline=None, title=""):
    """Epochs start_epoch..args.epochs. `train_batches(epoch, rng)` yields the epoch's batches
    (shuffled and masked from Generators seeded by (seed, epoch), so a resumed NumPy run replays
    the uninterrupted one); `eval_batches()` the held-out ones. After each epoch: evaluation, an
    atomic checkpoint, history.json and curves.png (with the baseline's accuracy drawn)."""
    history, run_dir = list(history or []), Path(run_dir)
    steps = math.ceil(n_train / args.batch_size)
    for epoch in range(start_epoch, args.epochs):
        data_rng, drop_rng = np.random.default_rng([args.seed, epoch, 1]), np.random.default_rng([args.seed, epoch, 2])
        t0, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        with progress(steps, f"epoch {epoch + 1}/{args.epochs}", disable=quiet) as bar:
            for batch in train_batches(epoch, data_rng):
                loss, c, n = backend.train_step(batch, drop_rng)
                if not math.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} in epoch {epoch + 1}: lower --lr; the "
                                             f"checkpoint of epoch {epoch} in {run_dir} is intact")
                loss_sum, correct, seen = loss_sum + loss * n, correct + c, seen + n
                if threads is not None:
                    threads.tick()
                bar.set_postfix_str(f"loss={loss_sum / max(seen, 1):.3f} acc={correct / max(seen, 1):.3f}")
                bar.update(1)
        seconds = time.perf_counter() - t0
        ev_loss, ev_acc, _ = evaluate(backend, eval_batches())
        seen = max(seen, 1)
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                        "val_loss": ev_loss, "val_acc": ev_acc, "seconds": seconds, "backend": backend.name,
                        "load_avg_1min": _load(),   # the machine's load: other processes slow an epoch
                        **({"threads": threads.take_counts()} if threads is not None else {})})
        print(f"epoch {epoch + 1}: train loss {loss_sum / seen:.4f} acc {correct / seen:.4f} | held-out loss "
              f"{ev_loss:.4f} acc {ev_acc:.4f} | {seconds:.0f}s", flush=True)
        save_checkpoint(run_dir, backend.cfg, backend.get_weights(), backend.get_optimizer_state(),
                        {**(meta or {}), "epoch": epoch + 1, "backend": backend.name,
                         "bert_args": dataclasses.asdict(args)})
        if save_extra is not None:
            save_extra(run_dir)
        write_json(run_dir / "history.json", history)
        plot_bert_curves(history, run_dir / "curves.png", baseline, title)
    return history


def _load():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):   # not on every platform
        return None


def plot_bert_curves(history, path, baseline=None, title=""):
    """Loss and accuracy per epoch, training (solid) and held-out (dashed), and the baseline's
    accuracy as a horizontal line."""
    from ...training.plots import epoch_ticks, plt
    from ...data.fileio import atomic_write
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    ep = [h["epoch"] for h in history]
    for ax, key, name in ((axes[0], "loss", "cross-entropy"), (axes[1], "acc", "accuracy")):
        ax.plot(ep, [h[f"train_{key}"] for h in history], "-o", ms=3, label="train")
        ax.plot(ep, [h[f"val_{key}"] for h in history], "--s", ms=3, label="held-out")
        ax.set(xlabel="epoch", ylabel=name, title=name)
        ax.set_xticks(epoch_ticks(max(ep)))
        ax.grid(alpha=0.3)
    if baseline is not None:
        axes[1].axhline(baseline[1], color="grey", ls=":", label=f"{baseline[0]} ({baseline[1]:.3f})")
    axes[1].set_ylim(0, 1)
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
