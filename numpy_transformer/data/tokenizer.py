"""Word-level tokenizer with fixed special ids, saved as JSON (never pickle).

Specials: ``<pad>`` = 0, ``<unk>`` = 1, ``<start>`` = 2, ``<eos>`` = 3; words follow from id 4 in
order of frequency (descending), ties broken by the word itself (Unicode code-point order), so
fitting is deterministic whatever order the sentences come in. Sentences are split on
whitespace: clean them first (``numpy_transformer.data.clean_sentence``).

Standard library and NumPy only.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .errors import InputError, MissingFileError
from .fileio import atomic_write

__all__ = ["Tokenizer", "PAD", "UNK", "START", "EOS", "SPECIALS", "FORMAT", "FORMAT_VERSION"]

PAD, UNK, START, EOS = "<pad>", "<unk>", "<start>", "<eos>"
SPECIALS = (PAD, UNK, START, EOS)
FORMAT = "numpy-transformer-word-tokenizer"
FORMAT_VERSION = 1


class Tokenizer:
    """A fixed word <-> id map. Build one with :meth:`fit` or :meth:`load`."""

    def __init__(self, words: Iterable[str] = ()):
        """``words``: the non-special vocabulary in id order (ids 4, 5, ...)."""
        tokens = list(SPECIALS)
        for w in words:
            if not isinstance(w, str) or not w or any(ch.isspace() for ch in w):
                raise ValueError(f"Tokenizer: a word must be a non-empty string without "
                                 f"whitespace, got {w!r}")
            tokens.append(w)
        index = {}
        for i, t in enumerate(tokens):
            if t in index:
                raise ValueError(f"Tokenizer: {t!r} appears twice (ids {index[t]} and {i})")
            index[t] = i
        self._id_to_token = tokens
        self._token_to_id = index

    # ---- building -------------------------------------------------------------------------
    @classmethod
    def fit(cls, sentences: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> "Tokenizer":
        """Vocabulary of the whitespace-separated words of ``sentences`` seen at least
        ``min_freq`` times, most frequent first (ties: by word), cut so that ``vocab_size``
        (specials included) is at most ``max_size``. Special tokens in the text are not counted."""
        if isinstance(min_freq, bool) or not isinstance(min_freq, (int, np.integer)) or min_freq < 1:
            raise ValueError(f"Tokenizer.fit: min_freq must be an integer >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool)
                                     or not isinstance(max_size, (int, np.integer))
                                     or max_size < len(SPECIALS)):
            raise ValueError(f"Tokenizer.fit: max_size counts the {len(SPECIALS)} special tokens "
                             f"and must be >= {len(SPECIALS)} (or None), got {max_size!r}")
        if isinstance(sentences, str):
            raise TypeError("Tokenizer.fit expects an iterable of sentences, not one string")
        counts: Counter[str] = Counter()
        for s in sentences:
            counts.update(w for w in s.split() if w not in SPECIALS)
        words = sorted((w for w, c in counts.items() if c >= min_freq),
                       key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[:max_size - len(SPECIALS)]
        return cls(words)

    # ---- ids ------------------------------------------------------------------------------
    # the specials' fixed ids, the positions of SPECIALS (shared by every tokenizer file)
    pad_id, unk_id, start_id, eos_id = range(len(SPECIALS))
    special_ids = tuple(range(len(SPECIALS)))

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a copy)."""
        return list(self._id_to_token)

    def token_to_id(self, token: str) -> int:
        return self._token_to_id.get(token, self.unk_id)

    def id_to_token(self, i: int) -> str:
        i = self._check_id(i)
        return self._id_to_token[i]

    def __contains__(self, token) -> bool:
        return token in self._token_to_id

    def __eq__(self, other) -> bool:
        return isinstance(other, Tokenizer) and self._id_to_token == other._id_to_token

    def __hash__(self):
        return hash(tuple(self._id_to_token))

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size})"

    def _check_id(self, i) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"token id must be an integer, got {i!r}")
        if not 0 <= i < self.vocab_size:
            raise ValueError(f"token id {int(i)} is outside the vocabulary (size {self.vocab_size})")
        return int(i)

    # ---- text <-> ids ---------------------------------------------------------------------
    def encode(self, sentence: str) -> list[int]:
        """Ids of the whitespace-separated words; an unknown word becomes ``unk_id`` (never
        dropped), so ``len(encode(s)) == len(s.split())``. No <start>/<eos> is added (see
        ``data.encode_source`` / ``data.encode_target``)."""
        if not isinstance(sentence, str):
            raise TypeError(f"Tokenizer.encode expects str, got {type(sentence).__name__}")
        get, unk = self._token_to_id.get, self.unk_id
        return [get(w, unk) for w in sentence.split()]

    def decode(self, ids: Sequence[int], skip_special: bool = True) -> str:
        """Words joined by single spaces. ``skip_special`` drops <pad>, <start> and <eos> but
        keeps ``<unk>`` visible (dropping it would hide that a word was unknown)."""
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1:
                raise ValueError(f"Tokenizer.decode expects a 1-D sequence of ids, got shape "
                                 f"{ids.shape}")
            ids = ids.tolist()
        skip = {self.pad_id, self.start_id, self.eos_id} if skip_special else set()
        out = []
        for i in ids:
            i = self._check_id(i)
            if i not in skip:
                out.append(self._id_to_token[i])
        return " ".join(out)

    # ---- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": FORMAT_VERSION,
                "specials": {"pad": PAD, "unk": UNK, "start": START, "eos": EOS},
                "vocab": {t: i for i, t in enumerate(self._id_to_token)}}

    @classmethod
    def from_dict(cls, d, source: str = "tokenizer data") -> "Tokenizer":
        def bad(msg):
            return InputError(f"{source}: {msg}")
        if not isinstance(d, dict):
            raise bad(f"expected a JSON object, got {type(d).__name__}")
        for key in ("format", "version", "vocab"):
            if key not in d:
                raise bad(f"missing field {key!r}")
        if d["format"] != FORMAT:
            raise bad(f"format is {d['format']!r}, expected {FORMAT!r}")
        if d["version"] != FORMAT_VERSION or isinstance(d["version"], bool):
            raise bad(f"unsupported version {d['version']!r} (this code reads {FORMAT_VERSION})")
        expected_specials = {"pad": PAD, "unk": UNK, "start": START, "eos": EOS}
        if "specials" in d and d["specials"] != expected_specials:
            raise bad(f"specials are {d['specials']!r}, expected {expected_specials!r}")
        vocab = d["vocab"]
        if not isinstance(vocab, dict):
            raise bad("'vocab' must be an object mapping token -> id")
        by_id: dict[int, str] = {}
        for tok, i in vocab.items():
            if isinstance(i, bool) or not isinstance(i, int):
                raise bad(f"id of {tok!r} is {i!r}, not an integer")
            if i in by_id:
                raise bad(f"duplicate id {i} (tokens {by_id[i]!r} and {tok!r})")
            by_id[i] = tok
        n = len(by_id)
        if sorted(by_id) != list(range(n)):
            missing = sorted(set(range(n)) - set(by_id))
            raise bad(f"ids must be 0..{n - 1} without gaps; missing {missing[:5]}")
        for i, sp in enumerate(SPECIALS):
            if by_id.get(i) != sp:
                raise bad(f"id {i} must be {sp!r}, found {by_id.get(i)!r}")
        try:
            return cls(by_id[i] for i in range(len(SPECIALS), n))
        except ValueError as e:
            raise bad(str(e)) from None

    def save(self, path) -> None:
        """Write JSON atomically: a temporary file in the same directory, then os.replace."""
        path = Path(path)
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n"
        atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    @classmethod
    def load(cls, path) -> "Tokenizer":
        """Read a file written by :meth:`save`; ValueError naming the file for corrupt JSON, a
        wrong format/version, missing fields, duplicate tokens or ids, or misplaced specials."""
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"no tokenizer at {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 text ({e.reason})") from None

        def no_duplicate_keys(pairs):
            d = {}
            for k, v in pairs:
                if k in d:
                    raise InputError(f"{path}: duplicate key {k!r}")
                d[k] = v
            return d
        try:
            data = json.loads(text, object_pairs_hook=no_duplicate_keys)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: corrupt JSON ({e})") from None
        return cls.from_dict(data, source=str(path))
