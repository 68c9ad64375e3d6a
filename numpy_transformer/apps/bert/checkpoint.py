"""Loading a BERT run (checkpoint + tokenizer.json) with clear errors: a missing run, another
model's checkpoint (translation, ViT), the wrong task, a tokenizer that does not belong to it."""
from __future__ import annotations

from pathlib import Path

from ...data.errors import MissingFileError
from ...training.checkpoint import CHECKPOINT, CheckpointError, WrongModelError, load_checkpoint
from ...data.wordpiece import WordPieceTokenizer

TOKENIZER = "tokenizer.json"
TASKS = {"mlm": "pre-trained (bert pretrain)", "cls": "fine-tuned (bert finetune)"}


def _file(path):
    """A run directory's checkpoint file, or the file itself."""
    path = Path(path)
    return path / CHECKPOINT if path.is_dir() or not path.suffix else path


def checkpoint_file(path):
    file = _file(path)
    if not file.exists():
        raise MissingFileError(f"no checkpoint at {file}: run `python -m numpy_transformer bert pretrain` first, "
                                f"or pass the run directory of one")
    return file


def checkpoint_file_exists(path):
    return _file(path).is_file()


def load_bert_run(path, task=None, dtype=None):
    """The checkpoint dict of training/checkpoint.load_checkpoint plus "tok", the run's tokenizer.
    `task` "mlm" or "cls" requires that kind of run."""
    file = checkpoint_file(path)
    ck = load_checkpoint(file, dtype=dtype, kinds=("bert",))
    got = ck["meta"].get("task")
    if task is not None and got != task:
        raise WrongModelError(f"{file} is a {TASKS.get(got, repr(got))} run; this needs a {TASKS[task]} one")
    tok_path = file.parent / TOKENIZER
    ck["tok"] = WordPieceTokenizer.load(tok_path)
    if ck["tok"].vocab_size != ck["cfg"].vocab_size:
        raise CheckpointError(f"{tok_path} has {ck['tok'].vocab_size} tokens but the checkpoint's vocabulary has "
                         f"{ck['cfg'].vocab_size}: tokenizer and checkpoint do not belong together")
    return ck
