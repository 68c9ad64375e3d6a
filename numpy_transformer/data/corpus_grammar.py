"""The grammar of the generated corpus (data/corpus.py): German noun phrases with article and
adjective declension (nominative and accusative; weak, mixed and strong endings), and the three
clause types with statement, negation (kein / nicht) and question forms, each built in English
and German at once. Standard library only."""
from __future__ import annotations

import dataclasses
from typing import Union

from .corpus_lexicon import _BE_DE, _PREDICATIVE_ONLY, ADJECTIVES, NAMES, NOUNS, PRONOUNS, VERBS

_DEF = {("nom", "m"): "der", ("nom", "f"): "die", ("nom", "n"): "das",
        ("acc", "m"): "den", ("acc", "f"): "die", ("acc", "n"): "das"}
_INDEF = {("nom", "m"): "ein", ("nom", "f"): "eine", ("nom", "n"): "ein",
          ("acc", "m"): "einen", ("acc", "f"): "eine", ("acc", "n"): "ein"}
# Adjective endings: weak (after der/die/das), mixed (after ein/kein), strong (no article).
_WEAK = {("nom", "m"): "e", ("nom", "f"): "e", ("nom", "n"): "e",
         ("acc", "m"): "en", ("acc", "f"): "e", ("acc", "n"): "e"}
_MIXED = {("nom", "m"): "er", ("nom", "f"): "e", ("nom", "n"): "es",
          ("acc", "m"): "en", ("acc", "f"): "e", ("acc", "n"): "es"}
_STRONG = {("nom", "m"): "er", ("nom", "f"): "e", ("nom", "n"): "es",
           ("acc", "m"): "en", ("acc", "f"): "e", ("acc", "n"): "es"}

ARTICLES = ("def", "indef", "none", "kein")


@dataclasses.dataclass(frozen=True)
class NP:
    """A noun phrase: noun (English key of NOUNS), article def | indef | none | kein,
    number sg | pl, optional adjective (English key of ADJECTIVES)."""
    noun: str
    article: str = "def"
    number: str = "sg"
    adj: str | None = None

    def __post_init__(self):
        if self.noun not in NOUNS:
            raise ValueError(f"unknown noun {self.noun!r}")
        if self.article not in ARTICLES:
            raise ValueError(f"article must be one of {ARTICLES}, got {self.article!r}")
        if self.number not in ("sg", "pl"):
            raise ValueError(f"number must be 'sg' or 'pl', got {self.number!r}")
        n = NOUNS[self.noun]
        if n.mass and (self.number == "pl" or self.article == "indef"):
            raise ValueError(f"{self.noun!r} is a mass noun: no plural and no indefinite article")
        if not n.mass and self.article == "none" and self.number == "sg":
            raise ValueError(f"a singular count noun ({self.noun!r}) needs an article")
        if self.article == "indef" and self.number == "pl":
            raise ValueError("no indefinite article in the plural (use article='none')")
        if self.adj is not None and (self.adj not in ADJECTIVES or self.adj in _PREDICATIVE_ONLY):
            raise ValueError(f"{self.adj!r} is not an attributive adjective of this lexicon")


def _a_an(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(np_: NP, case: str = "acc") -> tuple[str, str]:
    """(English, German) for a noun phrase in the nominative or accusative. English for
    article 'kein' is the form used after "don't" (a dog, dogs, water)."""
    if case not in ("nom", "acc"):
        raise ValueError(f"case must be 'nom' or 'acc', got {case!r}")
    n = NOUNS[np_.noun]
    pl = np_.number == "pl"
    g = n.gender
    if pl:
        noun_de, noun_en = n.de_pl, n.en_pl
    else:
        noun_de = n.de_acc if (case == "acc" and n.de_acc) else n.de
        noun_en = n.en
    adj_de = ADJECTIVES[np_.adj] if np_.adj else None
    en_words = ([np_.adj] if np_.adj else []) + [noun_en]
    if np_.article == "def":
        det_de = "die" if pl else _DEF[case, g]
        ending = "en" if pl else _WEAK[case, g]
        det_en = "the"
    elif np_.article == "indef":
        det_de, ending, det_en = _INDEF[case, g], _MIXED[case, g], _a_an(en_words[0])
    elif np_.article == "kein":
        if pl:
            det_de, ending, det_en = "keine", "en", None
        else:
            det_de, ending = "k" + _INDEF[case, g], _MIXED[case, g]
            det_en = None if n.mass else _a_an(en_words[0])
    else:  # none: bare plural or mass noun, strong adjective endings
        det_de, ending, det_en = None, ("e" if pl else _STRONG[case, g]), None
    de_words = ([det_de] if det_de else []) + ([adj_de + ending] if adj_de else []) + [noun_de]
    return " ".join(([det_en] if det_en else []) + en_words), " ".join(de_words)


# --------------------------------------------------------------------------------------------
# Clauses
# --------------------------------------------------------------------------------------------

Subject = Union[str, NP]   # a pronoun key ("i", "you all"...), a name key ("tom"), or an NP


def _subject(subj: Subject):
    """(English, German, German person slot 0..5, English 3rd singular?, kind)."""
    if isinstance(subj, NP):
        if subj.article == "kein":
            raise ValueError("a subject cannot take 'kein' in this grammar")
        en, de = noun_phrase(subj, "nom")
        pl = subj.number == "pl"
        kind = NOUNS[subj.noun].kind
        return en, de, (5 if pl else 2), not pl, kind
    if subj in PRONOUNS:
        p = PRONOUNS[subj]
        slot = (p.person - 1) + (3 if p.plural else 0)
        return p.en, p.de, slot, (p.person == 3 and not p.plural), ("it" if subj == "it" else "person")
    if subj in NAMES:
        return subj, NAMES[subj], 2, True, "person"
    raise ValueError(f"unknown subject {subj!r}: a pronoun {sorted(PRONOUNS)}, a name "
                     f"{sorted(NAMES)} or an NP")


MODES = ("statement", "negation", "question")


def transitive(subject: Subject, verb: str, obj: NP, mode: str = "statement") -> tuple[str, str]:
    """(English, German) for subject + verb + accusative object.

    mode: statement | negation | question. Negation of an object with article indef/none uses
    kein (i don't have a dog <-> ich habe keinen hund); of a definite object, nicht at the end
    (i don't see the dog <-> ich sehe den hund nicht). Pass article='indef'/'none', not 'kein'.
    """
    if verb not in VERBS:
        raise ValueError(f"unknown verb {verb!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if obj.article == "kein":
        raise ValueError("give the object with article 'indef' or 'none'; mode='negation' "
                         "turns it into kein")
    v = VERBS[verb]
    s_en, s_de, slot, third_sg, _ = _subject(subject)
    v_de = v.de[slot]
    if mode == "negation" and obj.article != "def":
        obj = dataclasses.replace(obj, article="kein")
    o_en, o_de = noun_phrase(obj, "acc")
    do = "does" if third_sg else "do"
    if mode == "statement":
        en = [s_en, v.en_3sg if third_sg else v.en, o_en]
        de = [s_de, v_de, o_de]
    elif mode == "negation":
        en = [s_en, do + "n't", v.en, o_en]
        de = [s_de, v_de, o_de] + (["nicht"] if obj.article == "def" else [])
    else:
        en = [do, s_en, v.en, o_en]
        de = [v_de, s_de, o_de]
    return " ".join(en), " ".join(de)


def identify(np_: NP, mode: str = "statement") -> tuple[str, str]:
    """(English, German) for "that is" + a noun phrase in the nominative:
    that is a big dog <-> das ist ein großer hund; those are old books <-> das sind alte bücher;
    that is not cold coffee <-> das ist kein kalter kaffee; that is not the dog <-> das ist
    nicht der hund; is that a big dog <-> ist das ein großer hund."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if np_.article == "kein":
        raise ValueError("give the noun phrase with article 'indef' or 'none'; mode='negation' "
                         "turns it into kein")
    pl = np_.number == "pl"
    if mode == "negation" and np_.article != "def":
        np_ = dataclasses.replace(np_, article="kein")
    o_en, o_de = noun_phrase(np_, "nom")
    s_en, be_en, be_de = ("those", "are", "sind") if pl else ("that", "is", "ist")
    if mode == "statement":
        en, de = [s_en, be_en, o_en], ["das", be_de, o_de]
    elif mode == "negation":
        en = [s_en, be_en, "not", o_en]
        de = ["das", be_de] + (["nicht"] if np_.article == "def" else []) + [o_de]
    else:
        en, de = [be_en, s_en, o_en], [be_de, "das", o_de]
    return " ".join(en), " ".join(de)


def copula(subject: Subject, adj: str, mode: str = "statement") -> tuple[str, str]:
    """(English, German) for subject + be + predicative adjective (uninflected in German):
    the dog is big <-> der hund ist groß; i am not tired <-> ich bin nicht müde;
    are you hungry <-> bist du hungrig."""
    if adj not in ADJECTIVES:
        raise ValueError(f"unknown adjective {adj!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    s_en, s_de, slot, third_sg, _ = _subject(subject)
    be_en = "am" if s_en == "i" else ("is" if third_sg else "are")
    be_de = _BE_DE[slot]
    a_en, a_de = adj, ADJECTIVES[adj]
    if mode == "statement":
        en, de = [s_en, be_en, a_en], [s_de, be_de, a_de]
    elif mode == "negation":
        en, de = [s_en, be_en, "not", a_en], [s_de, be_de, "nicht", a_de]
    else:
        en, de = [be_en, s_en, a_en], [be_de, s_de, a_de]
    return " ".join(en), " ".join(de)
