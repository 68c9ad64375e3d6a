"""English->German sentence pairs: loading, cleaning and splitting (the cleaning is
data/text.py's, the one normalisation of every tokenizer path, re-exported here; the book's pickle
is read by data/book_pickle.py, re-exported here; encoding and batching for translation are in
apps/translation/batching.py).

Standard library and NumPy only (the Keras side imports this module too).

Data source: the Tatoeba-derived ``deu.txt`` of the "Anki" bilingual sentence pairs
(manythings.org/anki, ``deu-eng.zip``; CC-BY 2.0 France, attribution tatoeba.org). Each line is
``English<TAB>German`` (older files) or ``English<TAB>German<TAB>attribution`` (newer files).

Differences from the book (chapters on English->German translation), on purpose:

* Cleaning keeps German umlauts and ß (or transliterates them: ä->ae, ö->oe, ü->ue, ß->ss) instead
  of forcing German to ASCII, which turned "Grüß Gott" into "gru gott". English is still folded to
  ASCII. Apostrophes *inside* words survive ("i'm", "don't", "tom's"), so "I'm thirsty." becomes
  "i'm thirsty", not the book's "im thirsty" ("im" is also a German word). Numbers are kept (the
  book's ``isalpha`` filter deleted "30" from "I'm 30."). Everything else that is punctuation or a
  symbol is deleted, as the book's ``str.maketrans('', '', string.punctuation)`` did.
* The encoder input never has <start> and always ends with <eos>, in training and at inference
  alike (the book dropped <START> in training but prepended it at inference). Use
  :func:`encode_source` in both places. Decoder input is <start> + target, labels are target +
  <eos>.
* The book's pickled ``english-german-both.pkl`` can be read with :func:`load_book_pickle`, which
  uses a restricted unpickler (a plain ``pickle.load`` of a downloaded file can run any code).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .book_pickle import BookPickleError, load_book_pickle
from .text import clean_pair, clean_sentence, transliterate_german
from .errors import InputError, MissingFileError
from .fileio import not_utf8

__all__ = [
    "load_pairs", "clean_sentence", "clean_pair", "transliterate_german", "prepare_dataset",
    "DatasetSplits", "load_book_pickle", "BookPickleError",
]

# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _unquote(field: str) -> str:
    r"""Undo CSV-style quoting, as in some exports of deu.txt: a field that starts and ends
    with a double quote and has only doubled quotes inside (Say ""aah."" wrapped in quotes)
    means the text inside with each pair of quotes halved. A raw field with quotes of its own
    (not doubled) is left alone."""
    if len(field) >= 2 and field[0] == field[-1] == '"':
        inner = field[1:-1]
        if '"' not in inner.replace('""', ""):
            return inner.replace('""', '"').strip()
    return field


def load_pairs(path, n: int | None = None) -> list[tuple[str, str]]:
    """Read (English, German) pairs from a ``deu.txt``-style file.

    Accepts 2 columns (English, German) or 3 columns (English, German, attribution: ignored),
    LF or CRLF line ends, UTF-8 (a leading BOM is ignored). Fields are stripped of surrounding
    whitespace and CSV-style quoting is undone (see :func:`_unquote`); blank lines are skipped. Returns the raw (uncleaned) sentences, in file order,
    at most ``n`` of them (all when ``n`` is None; fewer when the file is shorter).

    Raises InputError (a ValueError) naming the 1-based line number for a line with another
    number of columns or an empty English/German field, for bytes that are not UTF-8, and for a
    file with no pairs; MissingFileError (a FileNotFoundError too) when there is no such file.
    """
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"load_pairs: n must be a positive integer or None, got {n!r}")
        n = int(n)
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file" + (" (a directory)" if path.is_dir() else ""))
    pairs: list[tuple[str, str]] = []
    lineno = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if n is not None and len(pairs) >= n:
                break
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise not_utf8(path, lineno, e) from None
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) not in (2, 3):
                raise InputError(f"{path}: line {lineno} has {len(cols)} tab-separated column(s); "
                                 f"expected 2 (English, German) or 3 (English, German, "
                                 f"attribution): {line[:80]!r}")
            en, de = _unquote(cols[0].strip()), _unquote(cols[1].strip())
            if not en or not de:
                which = "English" if not en else "German"
                raise InputError(f"{path}: line {lineno} has an empty {which} sentence: "
                                 f"{line[:80]!r}")
            pairs.append((en, de))
    if not pairs:
        raise InputError(f"{path}: no sentence pairs found (the file is empty or blank)")
    return pairs


# --------------------------------------------------------------------------------------------
# Selection, de-duplication, shuffling, splitting
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class DatasetSplits:
    """Cleaned (en, de) pairs per split, plus what happened on the way."""
    train: list[tuple[str, str]]
    val: list[tuple[str, str]]
    test: list[tuple[str, str]]
    n_selected: int = 0        # pairs taken from the front of the input (the book's first N)
    n_empty: int = 0           # dropped because one side was empty after cleaning
    n_duplicates: int = 0      # dropped as repeats of an earlier identical cleaned pair
    seed: int | None = None

    def __len__(self):
        return len(self.train) + len(self.val) + len(self.test)

    def all_pairs(self) -> list[tuple[str, str]]:
        return self.train + self.val + self.test


def _split_sizes(total: int, split: Sequence[float]) -> tuple[int, int, int]:
    if len(split) != 3 or any((not isinstance(f, (int, float))) or f < 0 or math.isnan(f)
                              for f in split):
        raise ValueError(f"split must be three non-negative fractions (train, val, test), "
                         f"got {split!r}")
    if abs(sum(split) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {split!r} (sum {sum(split)})")
    n_train = int(math.floor(total * split[0] + 1e-9))
    n_val = int(math.floor(total * split[1] + 1e-9))
    return n_train, n_val, total - n_train - n_val


def prepare_dataset(pairs: Iterable[Sequence[str]], n: int | None = 10000, seed: int = 1,
                    split: Sequence[float] = (0.8, 0.1, 0.1), dedup: bool = True,
                    umlauts: str = "keep", clean: bool = True,
                    group_by_source: bool = False) -> DatasetSplits:
    """The book's dataset preparation, deterministic.

    1. take the first ``n`` pairs (the book: first 10,000; ``None`` = all), raw or cleaned;
    2. clean both sides (``clean=False`` if they already are) and drop pairs with an empty side;
    3. with ``dedup`` drop repeats of an identical cleaned (en, de) pair (first one kept);
    4. shuffle with ``numpy.random.default_rng(seed)``;
    5. split: train = floor(N*split[0]), val = floor(N*split[1]), test = the rest.

    ``group_by_source=True`` keeps all translations of one English sentence in the same split
    (no test sentence whose English side was seen in training); then the fractions apply to
    groups of pairs, not pairs, and split sizes are only approximately proportional.
    """
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"prepare_dataset: n must be a positive integer or None, got {n!r}")
    selected = []
    for i, p in enumerate(pairs):
        if n is not None and i >= n:
            break
        if len(p) < 2:
            raise ValueError(f"prepare_dataset: pair {i} has fewer than 2 fields: {p!r}")
        selected.append((p[0], p[1]))
    if not selected:
        raise ValueError("prepare_dataset: no pairs given")
    n_empty = n_dup = 0
    kept: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for en, de in selected:
        if clean:
            en, de = clean_pair((en, de), umlauts)
        if not en or not de:
            n_empty += 1
            continue
        if dedup:
            if (en, de) in seen:
                n_dup += 1
                continue
            seen.add((en, de))
        kept.append((en, de))
    if not kept:
        raise InputError("prepare_dataset: every pair was empty after cleaning")
    rng = np.random.default_rng(seed)
    if not group_by_source:
        order = rng.permutation(len(kept))
        shuffled = [kept[i] for i in order]
        n_train, n_val, _ = _split_sizes(len(shuffled), split)
        train = shuffled[:n_train]
        val = shuffled[n_train:n_train + n_val]
        test = shuffled[n_train + n_val:]
    else:
        groups: dict[str, list[tuple[str, str]]] = {}
        for en, de in kept:
            groups.setdefault(en, []).append((en, de))
        keys = list(groups)
        order = rng.permutation(len(keys))
        n_train, n_val, _ = _split_sizes(len(keys), split)
        parts = ([], [], [])
        for rank, gi in enumerate(order):
            k = 0 if rank < n_train else (1 if rank < n_train + n_val else 2)
            parts[k].extend(groups[keys[gi]])
        train, val, test = parts
    return DatasetSplits(train, val, test, n_selected=len(selected), n_empty=n_empty,
                         n_duplicates=n_dup, seed=seed)
