"""Checkpoints: one safetensors file (weights, optimizer state) with the config and training
position in its metadata, and the two JSON tokenizers beside it. Written atomically, so an
interrupted save never leaves a half-written checkpoint. Backend-neutral: weights and Adam
moments are stored under the shared parameter names, so either backend can load them.

Layout of a run directory:
    checkpoint.safetensors   param.<name>, optim.m.<name>, optim.v.<name>, optim.t
    src_tokenizer.json, tgt_tokenizer.json, history.json, curves.png
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..config import KINDS, check_state_dict, kind_of_dict
from ..data.errors import InputError, MissingFileError
from ..data.fileio import atomic_write
from ..data.tokenizer import Tokenizer

FORMAT, VERSION = "numpy-transformer-checkpoint", "1"
CHECKPOINT = "checkpoint.safetensors"


def write_json(path, obj):
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=1) + "\n"))


def save_checkpoint(run_dir, cfg, weights, optimizer=None, meta=None, src_tok=None, tgt_tok=None):
    """Write `run_dir/checkpoint.safetensors`. `optimizer` is {"t": int array, "m.<name>": ...,
    "v.<name>": ...} (Adam.state_dict() form); `meta` holds small JSON-able facts (epoch,
    step, backend, training arguments)."""
    from safetensors.numpy import save_file
    check_state_dict(weights, cfg)
    tensors = {f"param.{k}": np.ascontiguousarray(v) for k, v in weights.items()}
    for k, v in (optimizer or {}).items():
        tensors[f"optim.{k}"] = np.ascontiguousarray(v)
    metadata = {"format": FORMAT, "version": VERSION, "config": cfg.to_json(),
                "meta": json.dumps(meta or {})}
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if src_tok is not None:
        src_tok.save(run_dir / "src_tokenizer.json")
    if tgt_tok is not None:
        tgt_tok.save(run_dir / "tgt_tokenizer.json")
    atomic_write(run_dir / CHECKPOINT, lambda tmp: save_file(tensors, tmp, metadata=metadata))


class CheckpointError(InputError):
    """A checkpoint that cannot be used: unreadable, of another format or version, inconsistent
    with its config or tokenizers (the command line reports it in one line)."""


class WrongModelError(CheckpointError):
    """A checkpoint of another kind of model than the command works with."""


def load_checkpoint(path, dtype=None, kinds=None):
    """Read a checkpoint (a run directory or the .safetensors file). Returns a dict with
    cfg, weights, optimizer (may be empty), meta, src_tok, tgt_tok (None when absent). Raises
    MissingFileError (a FileNotFoundError) / CheckpointError (a ValueError) with the reason for
    missing, corrupt or inconsistent files.
    The config's kind (config/registry.py) says which model it is; `kinds`, the kinds the caller
    works with, turns any other into a WrongModelError that names both."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file
    from safetensors import safe_open

    path = Path(path)
    file = path / CHECKPOINT if path.is_dir() else path
    if not file.exists():
        raise MissingFileError(f"no checkpoint at {file}")
    try:
        with safe_open(str(file), framework="numpy") as fh:
            metadata = fh.metadata() or {}
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{file}: not a readable safetensors checkpoint ({e})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{file}: not a numpy-transformer checkpoint (format={metadata.get('format')!r})")
    if metadata.get("version") != VERSION:
        raise CheckpointError(f"{file}: checkpoint version {metadata.get('version')!r}, this code reads {VERSION}")
    try:
        d = json.loads(metadata["config"])
        kind = kind_of_dict(d)
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{file}: bad config in checkpoint metadata ({e})") from None
    if kinds is not None and kind.kind not in kinds:
        wanted = " or ".join(f"{KINDS[k].title} (`{KINDS[k].command}`)" for k in kinds)
        raise WrongModelError(f"{file} holds a {kind.title} checkpoint (`{kind.command}`), not a {wanted} one")
    try:
        cfg = kind.config_class.from_dict(d)
        meta = json.loads(metadata.get("meta", "{}"))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{file}: bad config in checkpoint metadata ({e})") from None
    if dtype is not None:
        cfg = cfg.replace(dtype=dtype)
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("param.")}
    optimizer = {k[6:]: v for k, v in tensors.items() if k.startswith("optim.")}
    try:
        check_state_dict(weights, cfg)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{file}: {e}") from None
    toks = {"src": None, "tgt": None}
    sides = (("src", cfg.src_vocab_size), ("tgt", cfg.tgt_vocab_size)) if hasattr(cfg, "tgt_vocab_size") else ()
    for side, vocab in sides:
        tok_path = file.parent / f"{side}_tokenizer.json"
        toks[side] = Tokenizer.load(tok_path) if tok_path.exists() else None
        if toks[side] is not None and toks[side].vocab_size != vocab:
            raise CheckpointError(f"{tok_path} has {toks[side].vocab_size} tokens but the checkpoint's "
                             f"{side} vocabulary has {vocab}: tokenizer and checkpoint do not belong together")
    return {"cfg": cfg, "weights": weights, "optimizer": optimizer, "meta": meta,
            "src_tok": toks["src"], "tgt_tok": toks["tgt"], "dir": file.parent}


class NumpyCheckpointState:
    """What a NumPy training backend puts into a checkpoint and takes back: the model's state
    dict and the optimizer's (needs `self.model` and `self.opt`)."""

    def get_weights(self):
        return self.model.state_dict()

    def set_weights(self, sd):
        self.model.load_state_dict(sd)

    def get_optimizer_state(self):
        return self.opt.state_dict()

    def set_optimizer_state(self, sd):
        self.opt.load_state_dict({k: np.asarray(v) for k, v in sd.items()})
