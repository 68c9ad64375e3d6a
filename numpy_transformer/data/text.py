"""The one text normalisation of the project: every tokenizer path (the translation models' word
tokenizer, BERT's WordPiece) cleans text with `clean_sentence`, training data and typed queries
alike. `clean_words` is the same cleaning, word by word, keeping for each cleaned word the word
the user typed (so unknown words are reported as typed: "café", not "cafe") and the symbols it
left out (an emoji is reported, not dropped silently).

Standard library only.
"""
from __future__ import annotations

import dataclasses
import re
import unicodedata
from typing import Sequence

__all__ = ["clean_sentence", "clean_pair", "transliterate_german", "clean_words", "CleanWords"]

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'",
                              "`": "'"})
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ẞ": "ss"})
# Letters without an NFD decomposition that would otherwise vanish from English text.
_ASCII_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l",
                             "þ": "th", "ð": "d", "ı": "i"})
_INWORD_APOSTROPHE = "\x00"  # placeholder while punctuation is deleted
_KEEP_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")
_WS = re.compile(r"\s+")


def _strip_marks(s: str) -> str:
    """NFD, then drop combining marks (é -> e, ü -> u)."""
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))


def transliterate_german(s: str) -> str:
    """ASCII German: ä->ae, ö->oe, ü->ue, ß->ss (lowercase input), then other accents dropped
    (é->e), a few letters spelled out (ø->o, æ->ae) and anything still non-ASCII dropped."""
    s = unicodedata.normalize("NFC", s).translate(_UMLAUTS)
    return _to_ascii(s)


def _to_ascii(s: str) -> str:
    return _strip_marks(s.translate(_ASCII_FOLD)).encode("ascii", "ignore").decode("ascii")


_LONE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")


def clean_sentence(s: str, lang: str, umlauts: str = "keep") -> str:
    """The book's cleaning, with its bugs fixed (see the module docstring).

    Steps: NFC; normalise typographic apostrophes to ``'`` and lowercase; delete every
    punctuation or symbol character (Unicode categories P*, S*; also combining marks left over
    after NFC) except an apostrophe between two word
    characters, except that dashes other than the ASCII hyphen (– —) and control characters or
    Unicode spaces become a space and format characters (soft hyphen...) are deleted; then for
    English (``lang="en"``) fold to ASCII (NFD, drop combining marks, ß æ œ ø... spelled out,
    anything still non-ASCII dropped), for German (``lang="de"``) keep ä ö ü ß
    (``umlauts="keep"``) or transliterate them (``umlauts="translit"``: ae oe ue ss, then
    folded to ASCII like English); finally collapse whitespace.
    Idempotent: ``clean_sentence(clean_sentence(s, l), l) == clean_sentence(s, l)``.
    """
    if not isinstance(s, str):
        raise TypeError(f"clean_sentence expects str, got {type(s).__name__}")
    if lang not in ("en", "de"):
        raise ValueError(f"clean_sentence: lang must be 'en' or 'de', got {lang!r}")
    if umlauts not in ("keep", "translit"):
        raise ValueError(f"clean_sentence: umlauts must be 'keep' or 'translit', got {umlauts!r}")
    s = unicodedata.normalize("NFC", s.replace(_INWORD_APOSTROPHE, " "))
    s = _KEEP_APOSTROPHE.sub(_INWORD_APOSTROPHE, s.translate(_APOSTROPHES).lower())
    out = []
    for c in s:
        if c == _INWORD_APOSTROPHE:
            out.append("'")
            continue
        cat = unicodedata.category(c)
        if cat in ("Cc", "Zs", "Zl", "Zp") or (cat == "Pd" and c != "-"):
            out.append(" ")         # control characters, spaces, en/em dashes: word break
        elif cat[0] in "PSCM":
            continue                # punctuation and symbols deleted, as in the book; also
            #                         marks that NFC could not compose into a letter
        else:
            out.append(c)
    s = "".join(out)
    if lang == "en":
        s = _to_ascii(s)
    elif umlauts == "translit":
        s = transliterate_german(s)
    # folding can drop the letter beside a kept apostrophe ("0'ф" -> "0'"): drop it then too
    s = _LONE_APOSTROPHE.sub("", s)
    return _WS.sub(" ", s).strip()


def clean_pair(pair: Sequence[str], umlauts: str = "keep") -> tuple[str, str]:
    """(clean_sentence(en, 'en'), clean_sentence(de, 'de', umlauts))."""
    return clean_sentence(pair[0], "en"), clean_sentence(pair[1], "de", umlauts)


# --------------------------------------------------------------------------------------------
# Word by word, with what the user typed
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CleanWords:
    """`clean_sentence` of a text, word by word."""
    text: str                     # clean_sentence(text, lang, umlauts), exactly
    typed: tuple[str, ...]        # for each word of `text`, the word as the user typed it
    left_out: tuple[str, ...]     # symbols (emoji, €, +) and letters with no form in this language's
    #                               alphabet that the cleaning deleted, in order, each once

    @property
    def words(self) -> list[str]:
        return self.text.split()


_APOSTROPHE_CHARS = "'\u2019\u2018\u02bc\u00b4`"
# what sticks to a symbol: zero-width joiner, variation selectors, emoji modifiers and tags
_JOINERS = re.compile(r"[\u200d\ufe0e\ufe0f\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]")


def _breaks_word(c: str) -> bool:
    """The characters clean_sentence turns into a space (see its docstring)."""
    cat = unicodedata.category(c)
    return c.isspace() or cat in ("Cc", "Zs", "Zl", "Zp") or (cat == "Pd" and c != "-")


def _segments(s: str) -> list[str]:
    """`s` cut at every character that breaks a word: each piece cleans to at most one word."""
    out, cur = [], []
    for c in s:
        if _breaks_word(c):
            if cur:
                out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    if cur:
        out.append("".join(cur))
    return out


def _as_typed(piece: str) -> str:
    """The piece without the punctuation and symbols at its ends ("(über)," -> "über")."""
    keep = [i for i, c in enumerate(piece) if unicodedata.category(c)[0] in "LNM"]
    return piece[keep[0]: keep[-1] + 1] if keep else piece


def _left_out(piece: str, lang: str, umlauts: str) -> list[str]:
    """Runs of characters the cleaning deleted that are not punctuation: symbols (S*: emoji,
    currency, maths) and letters or digits with no form in the language's alphabet (Cyrillic
    in English text), with the joiners and modifiers that belong to them."""
    runs, cur = [], ""
    for c in unicodedata.normalize("NFC", piece):
        cat = unicodedata.category(c)
        gone = c not in _APOSTROPHE_CHARS and (
            cat[0] == "S" or (cat[0] in "LN" and not clean_sentence(c, lang, umlauts)))
        if gone or (cur and _JOINERS.fullmatch(c)):
            cur += c
        else:
            if cur:
                runs.append(cur)
            cur = ""
    if cur:
        runs.append(cur)
    return runs


def clean_words(s: str, lang: str, umlauts: str = "keep") -> CleanWords:
    """clean_sentence(s, lang, umlauts) word by word: `.text` is exactly that; `.typed[i]` is the
    user's spelling of word i (for messages: "unknown words: café"), `.left_out` what was
    deleted that is not punctuation (for messages: "left out: 🙂")."""
    words, typed, left_out = [], [], []
    for piece in _segments(s):
        w = clean_sentence(piece, lang, umlauts)
        if w:
            words.append(w)
            typed.append(_as_typed(piece))
        left_out += [r for r in _left_out(piece, lang, umlauts) if r not in left_out]
    return CleanWords(" ".join(words), tuple(typed), tuple(left_out))


def unknown_note(unknown: Sequence[str], left_out: Sequence[str]) -> str:
    """"unknown words: café, über; left out: 🙂" for a message (empty when there is nothing)."""
    parts = ([f"unknown words: {', '.join(unknown)}"] if unknown else []) + \
            ([f"left out: {' '.join(left_out)}"] if left_out else [])
    return "; ".join(parts)
