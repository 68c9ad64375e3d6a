"""The training runs behind test_keras_data_parallel.py, in a process of their own: Keras on JAX
with several XLA devices, which must be fixed before JAX starts (XLA_FLAGS, KERAS_BACKEND and,
for several processes, KERAS_DISTRIBUTION_*), hence not inside the pytest process.

    python parity_tests/data_parallel_runs.py devices OUT   # one process, every device it sees
    python parity_tests/data_parallel_runs.py hosts OUT     # one of several processes (env vars)

`devices`: translation, ViT, BERT (MLM and [CLS]) each trained on one device and then
data-parallel, from the same NumPy initial weights on the same batches (an epoch's ragged last
batch among them), dropout off; the data-parallel translation checkpoint and the Keras model's
logits on a held-out batch are saved for the NumPy model to reproduce. `hosts`: the
data-parallel translation run only. Results go to OUT/<mode><process>.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import keras
import numpy as np

from numpy_transformer.apps.bert.data import Batch as BertBatch
from numpy_transformer.apps.bert.train import BertArgs, make_backend as bert_backend
from numpy_transformer.apps.translation.batching import make_batches
from numpy_transformer.apps.translation.train import TrainArgs, make_backend as translation_backend
from numpy_transformer.apps.vit.train import ViTArgs, make_backend as vit_backend
from numpy_transformer.config import BertConfig, TransformerConfig, ViTConfig
from numpy_transformer.training.checkpoint import save_checkpoint

TRANSLATION = TransformerConfig(src_vocab_size=23, tgt_vocab_size=19, d_model=16, num_heads=2, d_ff=32,
                                num_layers=2, dropout=0.0, max_len=12)
VIT = ViTConfig(image_size=8, channels=1, patch_size=4, num_classes=10, d_model=16, num_heads=2, d_ff=32,
                num_layers=1, dropout=0.0)
BERT = BertConfig(vocab_size=37, d_model=12, num_heads=3, d_ff=20, num_layers=2, max_len=9, num_classes=2,
                  dropout=0.0)


def translation_data():
    """19 random pairs of 2 to 9 tokens in batches of 8, 8 and a ragged 3 (padded to 4 rows on
    two devices). Each batch's first pair has the longest source and target, so that all
    batches have one length: fewer shapes for JAX to compile."""
    rng = np.random.default_rng(0)
    srcs = [list(rng.integers(1, 23, 9 if i % 8 == 0 else rng.integers(2, 10))) for i in range(19)]
    tgts = [list(rng.integers(1, 19, 10 if i % 8 == 0 else rng.integers(3, 11))) for i in range(19)]
    return make_batches(srcs, tgts, 8, 0)


def translation_run(data_parallel, out=None):
    """Two epochs (6 steps) and a validation step; with `out`: the checkpoint and the logits."""
    keras.distribution.set_distribution(None)
    backend = translation_backend("keras", TRANSLATION, TrainArgs(batch_size=8, warmup=4, seed=0),
                                  data_parallel=data_parallel)
    batches = translation_data()
    steps = [backend.train_step(b) for b in batches * 2]
    result = {"placement": backend.placement, "loss": [s[0] for s in steps], "correct": [s[1] for s in steps],
              "eval": list(backend.eval_step(batches[-1]))}
    if out is not None:
        save_checkpoint(out / "translation", TRANSLATION, backend.get_weights(), backend.get_optimizer_state())
        b = batches[0]
        logits = backend.model([b.src.astype(np.int32), b.tgt_in.astype(np.int32)], training=False)
        np.savez(out / "translation_logits.npz", src=b.src, tgt_in=b.tgt_in, logits=keras.ops.convert_to_numpy(logits))
    return result


def vit_run(data_parallel):
    """Three steps on 11 digits-sized images in batches of 4 (the last one ragged: 3), then the
    logits of 7 images (padded to 8 for two devices)."""
    keras.distribution.set_distribution(None)
    rng = np.random.default_rng(2)
    images, labels = rng.random((11, 8, 8, 1)), rng.integers(0, 10, 11)
    args = ViTArgs(epochs=2, batch_size=4, warmup_epochs=1, seed=0)
    backend = vit_backend("keras", VIT, args, steps_per_epoch=3, data_parallel=data_parallel)
    steps = [backend.train_step(images[i:i + 4], labels[i:i + 4]) for i in range(0, 11, 4)]
    return {"placement": backend.placement, "loss": [s[0] for s in steps], "correct": [s[1] for s in steps],
            "logits": backend.logits(images[:7]).tolist(), "attention": [w.tolist() for w in backend.attention(images[:3]).values()]}


def bert_run(task, data_parallel):
    """Two steps, batches of 4 then a ragged 3: MLM (labels at chosen tokens) or [CLS] pairs."""
    keras.distribution.set_distribution(None)
    rng = np.random.default_rng(3)
    batches = []
    for B in (4, 3):
        ids = rng.integers(5, BERT.vocab_size, (B, 7))
        ids[:, 0], ids[:, -1], ids[0, 5:] = 2, 3, 0            # [CLS] … [SEP], a padded row
        segments = (np.arange(7) >= 4).astype(np.int64)[None].repeat(B, 0)
        labels = np.where(rng.random((B, 7)) < 0.3, ids, 0) if task == "mlm" else rng.integers(0, 2, B)
        if task == "mlm":
            labels[:, 0] = 0
            labels[:, 1] = ids[:, 1]                           # at least one chosen token per row
        batches.append(BertBatch(ids, segments, labels))
    args = BertArgs(epochs=1, batch_size=4, lr=1e-3, warmup_steps=1, seed=0)
    backend = bert_backend("keras", BERT, task, args, steps_per_epoch=2, data_parallel=data_parallel)
    steps = [backend.train_step(b) for b in batches]
    return {"placement": backend.placement, "loss": [s[0] for s in steps], "correct": [s[1] for s in steps],
            "eval": list(backend.eval_step(batches[1]))}


def main(mode, out):
    out, result = Path(out), {}
    if mode == "devices":
        result["translation"] = {"one": translation_run(False), "parallel": translation_run(True, out)}
        result["vit"] = {"one": vit_run(False), "parallel": vit_run(True)}
        for task in ("mlm", "cls"):
            result[f"bert_{task}"] = {"one": bert_run(task, False), "parallel": bert_run(task, True)}
    elif mode == "hosts":    # nothing may touch JAX before the backend starts jax.distributed
        result["translation"] = {"parallel": translation_run(True)}
        result["vit"] = {"parallel": vit_run(True)}
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    result.update(devices=[str(d) for d in jax.devices()], local_devices=len(jax.local_devices()),
                  process=jax.process_index())
    (out / f"{mode}{jax.process_index()}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
