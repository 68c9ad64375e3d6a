"""The BERT models' subword tokenizer: WordPiece (Schuster & Nakajima, 2012; BERT's), trained on
the data with Hugging Face `tokenizers` (a well-kept Rust library; the [bert] extra), saved as
its JSON, wrapped here with the project's fixed special ids and clear errors.

Specials: [PAD] = 0, [UNK] = 1, [CLS] = 2, [SEP] = 3, [MASK] = 4; subwords after them. Text is
cleaned by the project's one normalisation (data/text.py): the training pairs as the translation
data is (English folded to ASCII, German with its umlauts kept), so one joint English + German
vocabulary serves both languages. A typed query (`encode_query`, fill-mask) is in either
language: each word is cleaned as German and, when the vocabulary cannot spell it so, as English
(naïve -> naive), the two ways the training text was cleaned; the words still unknown and the
symbols left out are reported as typed.
Sequences are `[CLS] a [SEP]` (segment 0) or `[CLS] a [SEP] b [SEP]` (segment 1 from b on).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .text import clean_sentence, clean_words
from .errors import InputError, MissingFileError
from .fileio import atomic_write

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIALS = (PAD, UNK, CLS, SEP, MASK)
_MASK_RE = re.compile(re.escape(MASK), re.IGNORECASE)


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ImportError("the BERT tokenizer needs Hugging Face tokenizers: pip install tokenizers "
                          "(or the [bert] extra: pip install -e \".[bert]\")") from None
    return tokenizers


def clean_text(text):
    """Clean a query or a sentence for the joint vocabulary; a literal [MASK] (any case)
    survives as the special token. German cleaning (lower case, punctuation out, umlauts kept)
    is English cleaning without the ASCII folding, so it suits both languages."""
    parts = [clean_sentence(p, "de") for p in _MASK_RE.split(text)]
    return f" {MASK} ".join(parts).strip()


class Query(NamedTuple):
    ids: np.ndarray        # [CLS] … [SEP], int64
    segments: np.ndarray   # zeros, int64
    unknown: tuple         # words the vocabulary cannot spell (they become [UNK]), as typed
    left_out: tuple        # symbols the cleaning deleted (emoji, …), as typed


class WordPieceTokenizer:
    """A trained WordPiece tokenizer. Build one with :meth:`train` or :meth:`load`."""

    def __init__(self, tok):
        self.tok = tok
        for i, s in enumerate(SPECIALS):
            if tok.token_to_id(s) != i:
                raise ValueError(f"tokenizer: special token {s} has id {tok.token_to_id(s)}, expected {i} "
                                 f"(specials must be {', '.join(SPECIALS)} = 0..4)")
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = range(5)

    @classmethod
    def train(cls, sentences, vocab_size=8000, min_frequency=2):
        """WordPiece over cleaned sentences: lower case + NFC, split on whitespace and
        punctuation (BERT's pre-tokenizer), subwords continued with ##."""
        t = _tokenizers()
        if vocab_size < len(SPECIALS) + 1:
            raise ValueError(f"vocab_size must be > {len(SPECIALS)}, got {vocab_size}")
        tok = t.Tokenizer(t.models.WordPiece(unk_token=UNK))
        tok.normalizer = t.normalizers.Sequence([t.normalizers.NFC(), t.normalizers.Lowercase()])
        tok.pre_tokenizer = t.pre_tokenizers.BertPreTokenizer()
        tok.decoder = t.decoders.WordPiece()
        trainer = t.trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                              special_tokens=list(SPECIALS), show_progress=False)
        tok.train_from_iterator(sentences, trainer)
        tok.post_processor = t.processors.TemplateProcessing(
            single=f"{CLS} $A {SEP}", pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
            special_tokens=[(CLS, 2), (SEP, 3)])
        return cls(tok)

    @classmethod
    def load(cls, path):
        t = _tokenizers()
        path = Path(path)
        if not path.exists():
            raise MissingFileError(f"no tokenizer at {path}")
        try:
            tok = t.Tokenizer.from_file(str(path))
        except Exception as e:   # the Rust side raises its own Exception type for a bad file
            raise InputError(f"{path}: not a Hugging Face tokenizer JSON ({e})") from None
        try:
            return cls(tok)
        except ValueError as e:        # a tokenizer of another program, its specials elsewhere
            raise InputError(f"{path}: {e}") from None

    def save(self, path):
        atomic_write(path, lambda tmp: Path(tmp).write_text(self.tok.to_str(pretty=False)))

    @property
    def vocab_size(self):
        return self.tok.get_vocab_size()

    def id_to_token(self, i):
        return self.tok.id_to_token(int(i))

    def tokens(self, text):
        """The subword tokens of cleaned `text`, no [CLS]/[SEP]."""
        return self.tok.encode(clean_text(text), add_special_tokens=False).tokens

    def encode(self, a, b=None):
        """[CLS] a [SEP] (b [SEP]): ids and segment ids as int64 arrays."""
        e = self.tok.encode(clean_text(a), None if b is None else clean_text(b))
        return np.array(e.ids, dtype=np.int64), np.array(e.type_ids, dtype=np.int64)

    def spells(self, word):
        """Whether the vocabulary spells the cleaned word without [UNK]."""
        return self.unk_id not in self.tok.encode(word, add_special_tokens=False).ids

    def encode_query(self, text):
        """A typed sentence with [MASK]s (any case), in English or German: each word cleaned as
        German, or as English where only that spelling is in the vocabulary (see the module
        docstring). Returns a Query: ids, segments, unknown words and left-out symbols as typed."""
        words, unknown, left_out = [], [], []
        for k, part in enumerate(_MASK_RE.split(text)):
            if k:
                words.append(MASK)
            clean = clean_words(part, "de")
            left_out += [x for x in clean.left_out if x not in left_out]
            for word, typed in zip(clean.words, clean.typed):
                english = clean_sentence(typed, "en")
                if not self.spells(word) and english and self.spells(english):
                    word = english
                elif not self.spells(word):
                    unknown.append(typed)
                words.append(word)
        e = self.tok.encode(" ".join(words))
        return Query(np.array(e.ids, dtype=np.int64), np.array(e.type_ids, dtype=np.int64), tuple(unknown),
                     tuple(left_out))

    def word_start_ids(self):
        """The ids that can stand for a whole word: not a special, not a ## continuation (which
        only ever follows another piece of the same word). What fill-mask offers for a [MASK]."""
        return np.array([i for i in range(len(SPECIALS), self.vocab_size)
                         if not self.id_to_token(i).startswith("##")], dtype=np.int64)

    def encode_many(self, texts, pairs_with=None):
        """encode() of many (cleaned already), in one parallel call: lists of id arrays and
        segment arrays."""
        inputs = list(texts) if pairs_with is None else list(zip(texts, pairs_with))
        out = self.tok.encode_batch(inputs)
        return [np.array(e.ids, dtype=np.int64) for e in out], [np.array(e.type_ids, dtype=np.int64) for e in out]

    def decode(self, ids):
        return self.tok.decode([int(i) for i in ids])


def special_ids_mask(vocab_size):
    """True for the ids that are never chosen for masking nor drawn as random replacements."""
    m = np.zeros(vocab_size, dtype=bool)
    m[: len(SPECIALS)] = True
    return m

