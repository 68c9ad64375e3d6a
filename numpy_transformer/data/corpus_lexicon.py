"""The lexicon of the generated corpus (data/corpus.py): nouns with gender, plurals and the
adjectives that fit them, adjectives, pronouns, names and verbs with their German conjugation,
and which predicates suit which subjects (the nouns are a table, corpus_nouns.tsv). Standard
library only."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class Noun(NamedTuple):
    en: str                 # English singular
    en_pl: str | None       # English plural (None: mass noun)
    de: str                 # German singular (nominative)
    gender: str             # "m" | "f" | "n"
    de_pl: str | None       # German plural (None: mass noun)
    kind: str               # person | animal | thing | food | drink
    adjs: tuple[str, ...]   # English keys of adjectives that fit
    de_acc: str | None = None   # accusative singular when it differs (weak masculine nouns)
    readable: bool = False
    portable: bool = False

    @property
    def mass(self) -> bool:
        return self.de_pl is None


def _read_nouns(path=Path(__file__).with_name("corpus_nouns.tsv")):
    """The nouns, one per line of corpus_nouns.tsv (tab-separated: en, en_plural, de, gender,
    de_plural, kind, the adjectives that fit, flags; '-' for none), masculine, feminine, neuter."""
    nouns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        en, en_pl, de, gender, de_pl, kind, adjs, flags = line.split("\t")
        flags = flags.split()
        de_acc = next((f.removeprefix("de_acc=") for f in flags if f.startswith("de_acc=")), None)
        nouns.append(Noun(en, None if en_pl == "-" else en_pl, de, gender, None if de_pl == "-" else de_pl, kind,
                          tuple(adjs.split()), de_acc, "readable" in flags, "portable" in flags))
    return nouns


_NOUN_LIST = _read_nouns()
NOUNS: dict[str, Noun] = {n.en: n for n in _NOUN_LIST}

# English adjective -> German adjective (the predicative form, also the stem for endings).
ADJECTIVES: dict[str, str] = {
    "big": "groß", "small": "klein", "old": "alt", "young": "jung", "black": "schwarz",
    "white": "weiß", "beautiful": "schön", "rich": "reich", "sick": "krank", "happy": "glücklich",
    "new": "neu", "good": "gut", "red": "rot", "green": "grün", "blue": "blau", "grey": "grau",
    "fresh": "frisch", "long": "lang", "short": "kurz", "fast": "schnell", "hot": "heiß",
    "cold": "kalt", "warm": "warm", "tall": "groß", "tired": "müde", "hungry": "hungrig",
    "thirsty": "durstig", "sad": "traurig",
}
# Adjectives only used predicatively (after sein); all others also attributively.
_PREDICATIVE_ONLY = {"tired", "hungry", "thirsty", "sad", "tall"}


class Pronoun(NamedTuple):
    en: str
    de: str
    person: int     # 1, 2, 3
    plural: bool


PRONOUNS: dict[str, Pronoun] = {p.en: p for p in [
    Pronoun("i", "ich", 1, False), Pronoun("you", "du", 2, False), Pronoun("he", "er", 3, False),
    Pronoun("she", "sie", 3, False), Pronoun("it", "es", 3, False), Pronoun("we", "wir", 1, True),
    Pronoun("you all", "ihr", 2, True), Pronoun("they", "sie", 3, True),
]}
NAMES: dict[str, str] = {"tom": "tom", "mary": "maria"}


class Verb(NamedTuple):
    en: str                 # base form
    en_3sg: str             # he/she/it form
    de: tuple[str, ...]     # ich, du, er/sie/es, wir, ihr, sie
    objects: frozenset      # noun kinds (and "readable"/"portable"/"child") it takes as object
    subjects: frozenset     # "person" and/or "animal"


def _v(en, en_3sg, de, objects, subjects="person animal"):
    return Verb(en, en_3sg, tuple(de.split()), frozenset(objects.split()),
                frozenset(subjects.split()))


VERBS: dict[str, Verb] = {v.en: v for v in [
    _v("have", "has", "habe hast hat haben habt haben", "animal thing food child"),
    _v("see", "sees", "sehe siehst sieht sehen seht sehen", "animal thing food person"),
    # animals "fressen", they do not "essen": eat takes person subjects only
    _v("eat", "eats", "esse isst isst essen esst essen", "food", "person"),
    _v("drink", "drinks", "trinke trinkst trinkt trinken trinkt trinken", "drink"),
    _v("read", "reads", "lese liest liest lesen lest lesen", "readable", "person"),
    _v("buy", "buys", "kaufe kaufst kauft kaufen kauft kaufen", "thing food drink animal",
       "person"),
    _v("like", "likes", "mag magst mag mögen mögt mögen", "animal thing food drink person"),
    _v("need", "needs", "brauche brauchst braucht brauchen braucht brauchen", "thing food drink"),
    _v("want", "wants", "will willst will wollen wollt wollen", "thing food drink animal"),
    _v("take", "takes", "nehme nimmst nimmt nehmen nehmt nehmen", "portable food", "person"),
]}
_BE_DE = ("bin", "bist", "ist", "sind", "seid", "sind")

# Predicative adjectives by subject kind (pronoun "it" uses "it").
_PRED_PERSON = "tired hungry thirsty happy sad sick old young rich tall".split()
_PRED_ANIMAL = "big small old young hungry tired beautiful black white".split()
_PRED_IT = "big small old new cold warm good beautiful".split()
# Adjectives on one scale; "the big dog is small" is avoided.
_SCALES = [{"big", "small", "tall", "long", "short"}, {"old", "young", "new", "fresh"},
           {"black", "white", "red", "green", "blue", "grey"}, {"hot", "cold", "warm"},
           {"happy", "sad"}]


def _same_scale(a: str, b: str) -> bool:
    return a == b or any(a in sc and b in sc for sc in _SCALES)
