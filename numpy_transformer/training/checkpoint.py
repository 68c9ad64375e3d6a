"""Checkpoints: one safetensors file (weights, optimizer state) with the config and training
position in its metadata, and the two JSON tokenizers beside it. Written atomically, so an
interrupted save never leaves a half-written checkpoint. Backend-neutral: weights and Adam
moments are stored under the shared parameter names, so either backend can load them.

Every tensor carries a CRC-32 of its bytes in the metadata (and the config and meta strings
one each), checked at load: a damaged file is refused naming the tensor instead of loading
finite nonsense; checkpoints from before the checksums load with a note. Optimizer state is
also checked for values no Adam run produces (ops/optim.check_adam_state), checksums or not.

Layout of a run directory:
    checkpoint.safetensors   param.<name>, optim.m.<name>, optim.v.<name>, optim.t
    src_tokenizer.json, tgt_tokenizer.json, history.json, curves.png
"""
from __future__ import annotations

import json
import re
import sys
import zlib
from pathlib import Path

import numpy as np

from ..config import KINDS, check_state_dict, kind_of_dict
from ..data.errors import InputError, MissingFileError
from ..data.fileio import ATOMIC_TEMP, atomic_write
from ..data.tokenizer import Tokenizer
from ..ops.optim import check_adam_state

FORMAT, VERSION = "numpy-transformer-checkpoint", "1"
CHECKPOINT = "checkpoint.safetensors"
CHECKSUMS = "crc32"             # metadata key: JSON {tensor name or "__metadata__.<key>": 8 hex digits}
CHECKED_METADATA = ("config", "meta")
# safetensors' save_file (0.8) writes through a temporary file of its own beside the target, named
# by Rust's tempfile crate: ".tmp" + 6 characters [A-Za-z0-9]; a process killed mid-save leaves it
SAFETENSORS_TEMP = re.compile(r"\.tmp[A-Za-z0-9]{6}")
TEMP_FILES = (ATOMIC_TEMP, SAFETENSORS_TEMP)    # what the writers of a run directory can leave behind


def crc32(a):
    """CRC-32 (zlib's, the IEEE polynomial) of an array's bytes as safetensors stores them: C
    order, little-endian; as 8 hex digits. CRC, not a cryptographic hash: the threat is accidental
    damage (a CRC-32 catches every burst of up to 32 bits), not tampering, which could rewrite the
    checksum too; and it runs at several GB/s (docs/checkpoints.md has the cost)."""
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return f"{zlib.crc32(a.reshape(-1).view(np.uint8)):08x}"


def checksums(tensors, metadata):
    """{name: crc32} of every tensor and of the CHECKED_METADATA strings (UTF-8)."""
    sums = {k: crc32(v) for k, v in tensors.items()}
    sums.update({f"__metadata__.{k}": f"{zlib.crc32(metadata[k].encode()):08x}" for k in CHECKED_METADATA})
    return sums


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
    metadata[CHECKSUMS] = json.dumps(checksums(tensors, metadata), separators=(",", ":"), sort_keys=True)
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


_noted = set()   # files already reported as carrying no checksums (one note per file and process)


def note_unverified(file):
    """The one line for a checkpoint written before checksums existed (once per file)."""
    if file.resolve() not in _noted:
        _noted.add(file.resolve())
        print(f"note: {file} has no checksums (written before they were added), so damage to it cannot "
              f"be detected; a run resumed from it saves them", file=sys.stderr)


def verify_checksums(file, tensors, metadata):
    """Compare every tensor (and the config and meta strings) with the checksums written at save
    time: a CheckpointError naming the first that differ. Returns False for a checkpoint written
    before checksums existed (it has none; it loads, with note_unverified's line)."""
    if CHECKSUMS not in metadata:
        return False
    try:
        stored = json.loads(metadata[CHECKSUMS])
        assert isinstance(stored, dict)
    except (ValueError, AssertionError):
        raise CheckpointError(f"{file}: the checksums in its metadata are unreadable: the checkpoint is "
                              f"corrupt") from None
    present = set(tensors) | {f"__metadata__.{k}" for k in CHECKED_METADATA if k in metadata}
    actual = checksums(tensors, {k: metadata.get(k, "") for k in CHECKED_METADATA})
    bad = [k for k in sorted(present | set(stored)) if k not in present or stored.get(k) != actual[k]]
    if bad:
        k = bad[0]
        why = ("has no checksum" if k not in stored else "is missing" if k not in present else
               f"fails its CRC-32 checksum (stored {stored[k]}, now {actual[k]})")
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise CheckpointError(f"{file}: {k.replace('__metadata__.', 'metadata ')} {why}{more}: the checkpoint "
                              f"is corrupt (damaged on disk or in a copy); use an intact copy or retrain")
    return True


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
    verified = verify_checksums(file, tensors, metadata)
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
    if optimizer:
        check_optimizer_state(file, optimizer, weights, meta.get("epoch"))
    toks = {"src": None, "tgt": None}
    sides = (("src", cfg.src_vocab_size), ("tgt", cfg.tgt_vocab_size)) if hasattr(cfg, "tgt_vocab_size") else ()
    for side, vocab in sides:
        tok_path = file.parent / f"{side}_tokenizer.json"
        toks[side] = Tokenizer.load(tok_path) if tok_path.exists() else None
        if toks[side] is not None and toks[side].vocab_size != vocab:
            raise CheckpointError(f"{tok_path} has {toks[side].vocab_size} tokens but the checkpoint's "
                             f"{side} vocabulary has {vocab}: tokenizer and checkpoint do not belong together")
    if not verified:       # said only of a checkpoint that passed every other check
        note_unverified(file)
    return {"cfg": cfg, "weights": weights, "optimizer": optimizer, "meta": meta,
            "src_tok": toks["src"], "tgt_tok": toks["tgt"], "dir": file.parent}


def check_optimizer_state(file, optimizer, weights, epoch=None):
    """ops/optim.check_adam_state against the checkpoint's parameters (a CheckpointError naming
    the tensor), and a step count of at least one update per completed epoch."""
    try:
        check_adam_state(optimizer, {k: np.shape(v) for k, v in weights.items()}, prefix="optim.")
    except ValueError as e:
        raise CheckpointError(f"{file}: {e}") from None
    t = int(np.asarray(optimizer["t"]).reshape(()))
    if isinstance(epoch, int) and t < epoch:
        raise CheckpointError(f"{file}: optim.t: {t} optimizer steps for {epoch} completed epochs (every epoch "
                              f"takes at least one): the optimizer state is corrupt")


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
