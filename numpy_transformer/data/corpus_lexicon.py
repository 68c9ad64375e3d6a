"""The lexicon of the generated corpus (data/corpus.py): nouns with gender, plurals and the
adjectives that fit them, adjectives, pronouns, names and verbs with their German conjugation,
and which predicates suit which subjects. Standard library only."""
from __future__ import annotations

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


def _n(en, en_pl, de, gender, de_pl, kind, adjs, **kw):
    return Noun(en, en_pl, de, gender, de_pl, kind, tuple(adjs.split()), **kw)


_NOUN_LIST = [
    # masculine
    _n("dog", "dogs", "hund", "m", "hunde", "animal", "big small old young black white beautiful"),
    _n("bird", "birds", "vogel", "m", "vögel", "animal", "big small black white beautiful"),
    _n("bear", "bears", "bär", "m", "bären", "animal", "big small old young black white",
       de_acc="bären"),
    _n("man", "men", "mann", "m", "männer", "person", "old young rich sick happy"),
    _n("teacher", "teachers", "lehrer", "m", "lehrer", "person", "old young new good"),
    _n("boy", "boys", "junge", "m", "jungen", "person", "rich sick happy", de_acc="jungen"),
    _n("apple", "apples", "apfel", "m", "äpfel", "food", "big small red green good fresh"),
    _n("cake", "cakes", "kuchen", "m", "kuchen", "food", "big small good fresh"),
    _n("table", "tables", "tisch", "m", "tische", "thing", "big small old new black white"),
    _n("chair", "chairs", "stuhl", "m", "stühle", "thing", "big small old new black white red",
       portable=True),
    _n("letter", "letters", "brief", "m", "briefe", "thing", "long short new old",
       readable=True, portable=True),
    _n("key", "keys", "schlüssel", "m", "schlüssel", "thing", "small big old new", portable=True),
    _n("ball", "balls", "ball", "m", "bälle", "thing", "big small red blue new", portable=True),
    _n("hat", "hats", "hut", "m", "hüte", "thing", "black red new old big beautiful",
       portable=True),
    _n("coffee", None, "kaffee", "m", None, "drink", "hot cold good"),
    _n("tea", None, "tee", "m", None, "drink", "hot cold good green"),
    _n("juice", None, "saft", "m", None, "drink", "cold fresh good"),
    _n("cheese", None, "käse", "m", None, "food", "good fresh"),
    # feminine
    _n("cat", "cats", "katze", "f", "katzen", "animal", "big small old young black white beautiful"),
    _n("mouse", "mice", "maus", "f", "mäuse", "animal", "small white black grey"),
    _n("woman", "women", "frau", "f", "frauen", "person", "old young rich sick happy beautiful"),
    _n("flower", "flowers", "blume", "f", "blumen", "thing", "red white blue beautiful small",
       portable=True),
    _n("newspaper", "newspapers", "zeitung", "f", "zeitungen", "thing", "new old",
       readable=True, portable=True),
    _n("bag", "bags", "tasche", "f", "taschen", "thing", "big small black red new old",
       portable=True),
    _n("lamp", "lamps", "lampe", "f", "lampen", "thing", "new old small big", portable=True),
    _n("watch", "watches", "uhr", "f", "uhren", "thing", "new old beautiful black", portable=True),
    _n("banana", "bananas", "banane", "f", "bananen", "food", "big small good fresh"),
    _n("pear", "pears", "birne", "f", "birnen", "food", "big small green good fresh"),
    _n("milk", None, "milch", "f", None, "drink", "cold warm fresh good"),
    _n("soup", None, "suppe", "f", None, "food", "hot warm cold good"),
    # neuter
    _n("book", "books", "buch", "n", "bücher", "thing", "new old good red big small",
       readable=True, portable=True),
    _n("car", "cars", "auto", "n", "autos", "thing", "new old red black white blue big small fast"),
    _n("house", "houses", "haus", "n", "häuser", "thing", "big small old new beautiful white"),
    _n("bike", "bikes", "fahrrad", "n", "fahrräder", "thing", "new old red blue black"),
    _n("picture", "pictures", "bild", "n", "bilder", "thing", "beautiful big small old new",
       portable=True),
    _n("window", "windows", "fenster", "n", "fenster", "thing", "big small old"),
    _n("shirt", "shirts", "hemd", "n", "hemden", "thing", "white black red blue new old",
       portable=True),
    _n("child", "children", "kind", "n", "kinder", "person", "small sick happy"),
    _n("horse", "horses", "pferd", "n", "pferde", "animal",
       "big small old young black white beautiful fast"),
    _n("egg", "eggs", "ei", "n", "eier", "food", "big small fresh good"),
    _n("water", None, "wasser", "n", None, "drink", "cold warm fresh"),
    _n("beer", None, "bier", "n", None, "drink", "cold warm good"),
    _n("bread", None, "brot", "n", None, "food", "fresh good white"),
]
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
