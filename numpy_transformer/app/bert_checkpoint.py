"""Loading a BERT run (checkpoint + tokenizer.json) with clear errors: a missing run, another
model's checkpoint (translation, ViT), the wrong task, a tokenizer that does not belong to it."""
from __future__ import annotations

import json
from pathlib import Path

from ..config import BertConfig
from .checkpoint import CHECKPOINT, load_checkpoint
from .wordpiece import WordPieceTokenizer

TOKENIZER = "tokenizer.json"
TASKS = {"mlm": "pre-trained (bert pretrain)", "cls": "fine-tuned (bert finetune)"}


def _kind(file):
    """What model a numpy-transformer checkpoint holds, from its metadata; None if unreadable."""
    try:
        from safetensors import safe_open
        with safe_open(str(file), framework="numpy") as fh:
            cfg = json.loads((fh.metadata() or {}).get("config", "{}"))
    except Exception:          # unreadable: load_checkpoint gives the precise reason
        return None
    if "type_vocab_size" in cfg:
        return "bert"
    if "image_size" in cfg:
        return "a Vision Transformer (vit)"
    if "src_vocab_size" in cfg:
        return "a translation Transformer (train)"
    return "an RNN or unknown model" if cfg else None


def checkpoint_file(path):
    path = Path(path)
    file = path / CHECKPOINT if path.is_dir() or not path.suffix else path
    if not file.exists():
        raise FileNotFoundError(f"no checkpoint at {file}: run `python -m numpy_transformer bert pretrain` first, "
                                f"or pass the run directory of one")
    return file


def load_bert_run(path, task=None, dtype=None):
    """The checkpoint dict of app/checkpoint.load_checkpoint plus "tok", the run's tokenizer.
    `task` "mlm" or "cls" requires that kind of run."""
    file = checkpoint_file(path)
    kind = _kind(file)
    if kind is not None and kind != "bert":
        raise ValueError(f"{file} holds {kind} checkpoint, not a BERT one")
    ck = load_checkpoint(file, dtype=dtype, config_class=BertConfig)
    got = ck["meta"].get("task")
    if task is not None and got != task:
        raise ValueError(f"{file} is a {TASKS.get(got, repr(got))} run; this needs a {TASKS[task]} one")
    tok_path = file.parent / TOKENIZER
    ck["tok"] = WordPieceTokenizer.load(tok_path)
    if ck["tok"].vocab_size != ck["cfg"].vocab_size:
        raise ValueError(f"{tok_path} has {ck['tok'].vocab_size} tokens but the checkpoint's vocabulary has "
                         f"{ck['cfg'].vocab_size}: tokenizer and checkpoint do not belong together")
    return ck
