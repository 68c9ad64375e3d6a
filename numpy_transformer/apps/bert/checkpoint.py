"""Loading a BERT run (checkpoint + tokenizer.json) with clear errors: a missing run, another
model's checkpoint (translation, ViT), the wrong task, a tokenizer that does not belong to it."""
from __future__ import annotations

from pathlib import Path

from ...training.checkpoint import CHECKPOINT, load_checkpoint
from ...data.wordpiece import WordPieceTokenizer

TOKENIZER = "tokenizer.json"
TASKS = {"mlm": "pre-trained (bert pretrain)", "cls": "fine-tuned (bert finetune)"}


def checkpoint_file(path):
    path = Path(path)
    file = path / CHECKPOINT if path.is_dir() or not path.suffix else path
    if not file.exists():
        raise FileNotFoundError(f"no checkpoint at {file}: run `python -m numpy_transformer bert pretrain` first, "
                                f"or pass the run directory of one")
    return file


def load_bert_run(path, task=None, dtype=None):
    """The checkpoint dict of training/checkpoint.load_checkpoint plus "tok", the run's tokenizer.
    `task` "mlm" or "cls" requires that kind of run."""
    file = checkpoint_file(path)
    ck = load_checkpoint(file, dtype=dtype, kinds=("bert",))
    got = ck["meta"].get("task")
    if task is not None and got != task:
        raise ValueError(f"{file} is a {TASKS.get(got, repr(got))} run; this needs a {TASKS[task]} one")
    tok_path = file.parent / TOKENIZER
    ck["tok"] = WordPieceTokenizer.load(tok_path)
    if ck["tok"].vocab_size != ck["cfg"].vocab_size:
        raise ValueError(f"{tok_path} has {ck['tok'].vocab_size} tokens but the checkpoint's vocabulary has "
                         f"{ck['cfg'].vocab_size}: tokenizer and checkpoint do not belong together")
    return ck
