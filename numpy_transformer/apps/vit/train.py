"""Training the ViT for `python -m numpy_transformer vit` (apps/vit/commands.py): the arguments, random
shifts, the NumPy backend (and, lazily, keras_transformer's), evaluation and the epoch loop
with its atomic checkpoints, history and curves.

A backend has train_step(images, labels, rng) -> (loss, correct), logits(images),
attention(images), get/set_weights, get/set_optimizer_state; weights and Adam moments travel
under the shared parameter names, so either backend continues the other's checkpoint."""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from ...models import VisionTransformer
from ...ops import Adam
from ...ops.loss import masked_cross_entropy
from ...ops.optim import WarmupCosine
from ...training.checkpoint import NumpyCheckpointState, save_checkpoint, write_json
from ...training.keras_import import quiet_tensorflow
from ...training.progress import progress


@dataclasses.dataclass
class ViTArgs:
    epochs: int = 60
    batch_size: int = 64
    lr: float = 2e-3
    warmup_epochs: int = 5
    shift: int = 0              # random translation by up to this many pixels (0: none; docs/vit.md)
    seed: int = 0               # weights, shuffling, dropout, shifts
    beta1: float = 0.9          # Adam: Keras' defaults, so both backends run the same optimizer
    beta2: float = 0.999
    eps: float = 1e-7


def random_shift(images, rng, max_shift):
    """Each image moved by (dy, dx) ∈ [−max_shift, max_shift]², zeros shifted in (the digits'
    background): pad, then take an H×W window at a random offset, by fancy indexing."""
    if max_shift == 0:
        return images
    B, H, W, _ = images.shape
    s = max_shift
    padded = np.pad(images, ((0, 0), (s, s), (s, s), (0, 0)))
    dy, dx = rng.integers(0, 2 * s + 1, (2, B))
    rows = (dy[:, None] + np.arange(H))[:, :, None]
    cols = (dx[:, None] + np.arange(W))[:, None, :]
    return padded[np.arange(B)[:, None, None], rows, cols]


def cross_entropy(logits, labels):
    """Mean cross-entropy over the batch and dloss/dlogits (every label counts: pad_id −1)."""
    return masked_cross_entropy(logits, labels, pad_id=-1)


class NumpyViTBackend(NumpyCheckpointState):
    name = "numpy"

    def __init__(self, cfg, peak_lr, warmup_steps, total_steps, seed, beta1=0.9, beta2=0.999, eps=1e-7):
        self.cfg = cfg
        self.model = VisionTransformer(cfg, seed=seed)
        self.opt = Adam(WarmupCosine(peak_lr, warmup_steps, total_steps), beta1, beta2, eps)

    def train_step(self, images, labels, rng):
        logits = self.model.forward(images, training=True, rng=rng)
        loss, dlogits = cross_entropy(logits, labels)
        if math.isfinite(loss):                    # no update from a NaN step
            self.opt.step(self.model.params, self.model.backward(dlogits))
        return loss, int(np.sum(logits.argmax(-1) == labels))

    def logits(self, images):
        return self.model.forward(images)

    def attention(self, images):
        self.model.forward(images)
        return self.model.attention_weights()


def make_backend(name, cfg, args, steps_per_epoch, data_parallel=False):
    """The backend, starting from the NumPy initial weights of args.seed (both backends alike).
    `data_parallel`: the Keras backend trains on every device (keras_transformer/distribute.py)."""
    sched = (args.lr, args.warmup_epochs * steps_per_epoch, max(args.epochs * steps_per_epoch,
                                                                 args.warmup_epochs * steps_per_epoch + 1))
    opt = dict(beta1=args.beta1, beta2=args.beta2, eps=args.eps)
    if name == "numpy":
        return NumpyViTBackend(cfg, *sched, args.seed, **opt)
    if name == "keras":
        import os
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with quiet_tensorflow():         # lazy: only the applications cross the wall
            from keras_transformer.vit_training import KerasViTBackend
        backend = KerasViTBackend(cfg, *sched, args.seed, **opt, data_parallel=data_parallel,
                                  batch_size=args.batch_size)
        backend.set_weights(VisionTransformer(cfg, seed=args.seed).state_dict())
        return backend
    raise ValueError(f"unknown backend {name!r} (numpy or keras)")


def evaluate(backend, images, labels, batch_size=512):
    """Mean loss, accuracy and the predicted classes (inference mode)."""
    logits = np.concatenate([backend.logits(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    loss, _ = cross_entropy(logits, labels)
    pred = logits.argmax(-1)
    return loss, float(np.mean(pred == labels)), pred


def fit(backend, split, args, run_dir, start_epoch=0, history=None, meta=None, quiet=False):
    """Epochs start_epoch..args.epochs; the shuffle, shifts and dropout of epoch e come from
    Generators seeded by (seed, e), so a resumed NumPy run replays the uninterrupted one."""
    history, run_dir = list(history or []), Path(run_dir)
    n = len(split.x_train)
    for epoch in range(start_epoch, args.epochs):
        order = np.random.default_rng([args.seed, epoch]).permutation(n)
        aug_rng, drop_rng = np.random.default_rng([args.seed, epoch, 1]), np.random.default_rng([args.seed, epoch, 2])
        t0, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
        with progress(math.ceil(n / args.batch_size), f"epoch {epoch + 1}/{args.epochs}", disable=quiet) as bar:
            for i in range(0, n, args.batch_size):
                idx = order[i:i + args.batch_size]
                x = random_shift(split.x_train[idx], aug_rng, args.shift)
                loss, c = backend.train_step(x, split.y_train[idx], drop_rng)
                if not math.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} in epoch {epoch + 1}: lower --lr; the "
                                             f"checkpoint of epoch {epoch} in {run_dir} is intact")
                loss_sum, correct, seen = loss_sum + loss * len(idx), correct + c, seen + len(idx)
                bar.set_postfix_str(f"loss={loss_sum / seen:.3f} acc={correct / seen:.3f}")
                bar.update(1)
        seconds = time.perf_counter() - t0
        ev_loss, ev_acc, _ = evaluate(backend, split.x_eval, split.y_eval)
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                        "val_loss": ev_loss, "val_acc": ev_acc, "seconds": seconds, "backend": backend.name})
        if not quiet:
            print(f"epoch {epoch + 1}: train loss {loss_sum / seen:.4f} acc {correct / seen:.4f} | "
                  f"{split.eval_name} loss {ev_loss:.4f} acc {ev_acc:.4f} | {seconds:.1f}s", flush=True)
        save_checkpoint(run_dir, backend.cfg, backend.get_weights(), backend.get_optimizer_state(),
                        {**(meta or {}), "epoch": epoch + 1, "backend": backend.name,
                         "vit_args": dataclasses.asdict(args)})
        write_json(run_dir / "history.json", history)
        from .plots import plot_vit_curves
        plot_vit_curves(history, run_dir / "curves.png", split.eval_name)
    return history
