"""Training the ViT for `python -m numpy_transformer vit` (commands.py): the arguments, random
shifts, the NumPy backend (and, lazily, keras_transformer's), evaluation, and what the shared
epoch loop (training/loop.py) needs to know of the ViT.

A backend has train_step(images, labels, rng) -> (loss, correct), logits(images),
attention(images), get/set_weights, get/set_optimizer_state; weights and Adam moments travel
under the shared parameter names, so either backend continues the other's checkpoint."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ...models import VisionTransformer
from ...ops import Adam
from ...ops.loss import masked_cross_entropy
from ...ops.optim import WarmupCosine
from ...training.checkpoint import NumpyCheckpointState
from ...training import run
from ...training.loop import Job, RunArgs
from ...training.loop import fit as loop_fit


@dataclasses.dataclass
class ViTArgs(RunArgs):
    epochs: int = 60
    lr: float = 2e-3
    warmup_epochs: int = 5
    shift: int = 0              # random translation by up to this many pixels (0: none; docs/vit.md)


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
        self.model = VisionTransformer(cfg, seed=seed, kernels="fast")
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


def make_backend(name, cfg, args, steps_per_epoch, on_import=None, data_parallel=False, weights=None,
                 optimizer=None):
    """NumpyViTBackend or keras_transformer's KerasViTBackend on the warm-up + cosine schedule of
    `args` (training/run.py: the start from the NumPy initial weights of args.seed or `weights`,
    `on_import`, `data_parallel`, `optimizer`)."""
    warmup = args.warmup_epochs * steps_per_epoch
    sched = (args.lr, warmup, max(args.epochs * steps_per_epoch, warmup + 1))
    return run.make_backend(name, cfg, NumpyViTBackend, "keras_transformer.vit_training:KerasViTBackend",
                            *sched, args.seed, args.beta1, args.beta2, args.eps, seed=args.seed, weights=weights,
                            optimizer=optimizer, on_import=on_import, data_parallel=data_parallel,
                            batch_size=args.batch_size)


def evaluate(backend, images, labels, batch_size=512):
    """Mean loss, accuracy and the predicted classes (inference mode)."""
    logits = np.concatenate([backend.logits(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    loss, _ = cross_entropy(logits, labels)
    pred = logits.argmax(-1)
    return loss, float(np.mean(pred == labels)), pred


def run_title(run_dir, cfg, args, backend_name):
    """One line naming the run and its configuration (the curves' title)."""
    return (f"{Path(run_dir).name}: ViT ({backend_name}), {cfg.num_patches} patches of {cfg.patch_size}x{cfg.patch_size}, "
            f"d_model {cfg.d_model}, {cfg.num_heads} heads, d_ff {cfg.d_ff}, {cfg.num_layers} layers, "
            f"{'pre' if cfg.norm_first else 'post'}-LN, {cfg.activation}, dropout {cfg.dropout:g}, "
            f"batch {args.batch_size}, lr {args.lr:g}, shift {args.shift}, {cfg.dtype}")


def fit(backend, split, args, run_dir, start_epoch=0, history=None, meta=None, quiet=False, threads=None,
        baselines=()):
    """Epochs start_epoch..args.epochs on the shared loop (training/loop.py); the shuffle, shifts
    and dropout of epoch e come from Generators seeded by (seed, e), so a resumed NumPy run
    replays the uninterrupted one. `baselines`: (name, accuracy) lines on the curves."""
    n = len(split.x_train)

    def steps(epoch):
        order = np.random.default_rng([args.seed, epoch]).permutation(n)
        aug_rng, drop_rng = np.random.default_rng([args.seed, epoch, 1]), np.random.default_rng([args.seed, epoch, 2])
        for i in range(0, n, args.batch_size):
            idx = order[i:i + args.batch_size]
            loss, correct = backend.train_step(random_shift(split.x_train[idx], aug_rng, args.shift),
                                               split.y_train[idx], drop_rng)
            yield loss, correct, len(idx)

    job = Job(backend, steps, math.ceil(n / args.batch_size), args.epochs, run_dir=Path(run_dir),
              validate=lambda: evaluate(backend, split.x_eval, split.y_eval)[:2], val_name=split.eval_name,
              meta={**(meta or {}), "vit_args": dataclasses.asdict(args)},
              curves={"title": run_title(run_dir, backend.cfg, args, backend.name), "log_loss": True,
                      "loss_label": "cross-entropy", "acc_label": "accuracy", "baselines": list(baselines)},
              hint="lower --lr", time_budget=args.time_budget, threads=threads, quiet=quiet)
    return loop_fit(job, start_epoch, history)
