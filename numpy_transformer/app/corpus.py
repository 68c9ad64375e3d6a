"""A small English->German corpus written by this project, generated from a template grammar.

It lets the training job run on a fresh machine with no download. Every pair is produced by
rules, not looked up, so the German is grammatical by construction:

* subject pronouns ich/du/er/sie/es/wir/ihr/sie with present-tense conjugation of regular verbs
  (brauchen, kaufen, trinken) and irregular ones (haben, sein, sehen, essen, lesen, nehmen,
  mögen, wollen); English "you" is du, "you all" is ihr, so each English sentence has exactly
  one German translation;
* names (tom, mary/maria) and noun-phrase subjects in the nominative (der alte mann, die kinder),
  and nominative predicates (das ist ein großer hund <-> that is a big dog);
* noun genders with article declension: nominative der/die/das, ein/eine/ein; accusative
  den/die/das, einen/eine/ein (weak masculine nouns take -en: den jungen, einen bären);
* adjective endings: weak after der/die/das (-e; accusative masculine and plural -en), mixed
  after ein/kein (nominative m -er, f -e, n -es; accusative m -en, f -e, n -es; plural after
  keine -en), strong without article (m acc -en, f -e, n -es, plural -e);
* plurals (die hunde, äpfel, bücher...), mass nouns without article (ich trinke kaltes wasser);
* negation: "kein" for an indefinite, bare plural or mass object (ich habe keinen hund <-> i
  don't have a dog; wir haben keine katzen <-> we don't have cats), "nicht" after a definite
  object (ich sehe den hund nicht <-> i don't see the dog) and after sein (ich bin nicht müde);
* yes/no questions by verb-first order (hast du einen hund <-> do you have a dog);
* on the English side: do-support in questions and negations (do/does, don't/doesn't),
  3rd-person singular -s (he has, she sees), a/an, irregular plurals (men, women, children,
  mice), am/is/are.

Sentences are already in the form ``data.clean_sentence`` produces: lowercase, no punctuation
except the apostrophe of English contractions (don't, doesn't), German umlauts kept (or
transliterated with ``umlauts="translit"``). At most 10 words each.

Use :func:`default_corpus` (seed 0, :data:`DEFAULT_SIZE` pairs) or :func:`generate_corpus`.
:func:`transitive`, :func:`copula` and :func:`identify` build one pair from an explicit
specification.
Randomness comes from a self-contained SplitMix64 generator, so the corpus is identical on every
Python and NumPy version. Standard library only.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Union

__all__ = ["Noun", "Verb", "NP", "NOUNS", "VERBS", "ADJECTIVES", "PRONOUNS", "NAMES",
           "transitive", "copula", "identify", "noun_phrase", "generate_corpus", "default_corpus",
           "DEFAULT_SIZE"]

DEFAULT_SIZE = 6000

# --------------------------------------------------------------------------------------------
# Lexicon
# --------------------------------------------------------------------------------------------


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

# --------------------------------------------------------------------------------------------
# Noun phrases
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Random generation
# --------------------------------------------------------------------------------------------


class _SplitMix64:
    """Tiny deterministic PRNG (SplitMix64), independent of Python/NumPy versions."""
    _MASK = (1 << 64) - 1

    def __init__(self, seed: int):
        self.state = (int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & self._MASK

    def next64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self._MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self._MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self._MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """Uniform integer in [0, n) (rejection sampling, no modulo bias)."""
        if n <= 0:
            raise ValueError("below(n) needs n >= 1")
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            x = self.next64()
            if x < limit:
                return x % n

    def choice(self, seq):
        return seq[self.below(len(seq))]

    def chance(self, p: float) -> bool:
        return self.next64() < int(p * (1 << 64))


_PRONOUN_KEYS = list(PRONOUNS)
_NAME_KEYS = list(NAMES)
_VERB_KEYS = list(VERBS)
_SUBJECT_NOUNS = {"person": [n.en for n in _NOUN_LIST if n.kind == "person"],
                  "animal": [n.en for n in _NOUN_LIST if n.kind == "animal"]}


def _fits(verb: Verb, noun: Noun) -> bool:
    o = verb.objects
    return (noun.kind in o or (noun.readable and "readable" in o)
            or (noun.portable and "portable" in o) or (noun.en == "child" and "child" in o))


_OBJECTS = {v.en: [n.en for n in _NOUN_LIST if _fits(v, n)] for v in VERBS.values()}


def _random_np(rng: _SplitMix64, noun_key: str, subject: bool = False,
               indef: bool = True, prob_adj: float = 0.35) -> NP:
    n = NOUNS[noun_key]
    adj = rng.choice(n.adjs) if (n.adjs and rng.chance(prob_adj)) else None
    if subject:
        return NP(noun_key, "def", "pl" if (not n.mass and rng.chance(0.3)) else "sg", adj)
    if n.mass:
        return NP(noun_key, rng.choice(("def", "none")), "sg", adj)
    r = rng.below(100)
    if r < 35:
        return NP(noun_key, "def", "sg", adj)
    if r < 70:
        if indef:
            return NP(noun_key, "indef", "sg", adj)
        return NP(noun_key, "none", "pl", adj)   # "i like dogs", not "i like a dog"
    if r < 85:
        return NP(noun_key, "def", "pl", adj)
    return NP(noun_key, "none", "pl", adj)


def _random_subject(rng: _SplitMix64, allowed_kinds) -> Subject:
    r = rng.below(100)
    if r < 55:
        keys = [k for k in _PRONOUN_KEYS if k != "it" or "animal" in allowed_kinds]
        return rng.choice(keys)
    if r < 65:
        return rng.choice(_NAME_KEYS)
    kinds = [k for k in ("person", "animal") if k in allowed_kinds]
    return _random_np(rng, rng.choice(_SUBJECT_NOUNS[rng.choice(kinds)]), subject=True)


def _random_mode(rng: _SplitMix64) -> str:
    r = rng.below(100)
    return "statement" if r < 50 else ("negation" if r < 75 else "question")


def _random_pair(rng: _SplitMix64) -> tuple[str, str]:
    mode = _random_mode(rng)
    kind = rng.below(100)
    if kind < 10:
        return identify(_random_np(rng, rng.choice(list(NOUNS)), prob_adj=0.6), mode)
    if kind < 85:
        verb = VERBS[rng.choice(_VERB_KEYS)]
        subj = _random_subject(rng, verb.subjects)
        obj = _random_np(rng, rng.choice(_OBJECTS[verb.en]), indef=verb.en != "like")
        return transitive(subj, verb.en, obj, mode)
    r = rng.below(100)
    if r < 50:
        subj = rng.choice(_PRONOUN_KEYS + _NAME_KEYS)
        adjs = _PRED_IT if subj == "it" else _PRED_PERSON
    else:
        noun = NOUNS[rng.choice([n.en for n in _NOUN_LIST])]
        subj = _random_np(rng, noun.en, subject=True)
        subj = dataclasses.replace(subj, adj=None) if rng.chance(0.5) else subj
        adjs = {"person": _PRED_PERSON, "animal": _PRED_ANIMAL}.get(noun.kind, noun.adjs)
        if subj.adj is not None:
            adjs = [a for a in adjs if not _same_scale(a, subj.adj)]
            if not adjs:
                subj = dataclasses.replace(subj, adj=None)
                adjs = {"person": _PRED_PERSON, "animal": _PRED_ANIMAL}.get(noun.kind, noun.adjs)
    return copula(subj, rng.choice(list(adjs)), mode)


def generate_corpus(seed: int = 0, n: int | None = None, umlauts: str = "keep") -> list[tuple[str, str]]:
    """``n`` distinct (English, German) pairs (default :data:`DEFAULT_SIZE`), deterministic in
    ``seed``, in generation order. ``umlauts="translit"`` spells German ä ö ü ß as ae oe ue ss
    (the same as ``data.clean_sentence(..., umlauts="translit")``)."""
    if n is None:
        n = DEFAULT_SIZE
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"generate_corpus: n must be a positive integer, got {n!r}")
    if umlauts not in ("keep", "translit"):
        raise ValueError(f"generate_corpus: umlauts must be 'keep' or 'translit', got {umlauts!r}")
    rng = _SplitMix64(seed)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    attempts, max_attempts = 0, 200 * n + 10_000
    while len(out) < n:
        attempts += 1
        if attempts > max_attempts:
            raise ValueError(f"generate_corpus: could not find {n} distinct pairs "
                             f"(found {len(out)}); ask for fewer")
        en, de = _random_pair(rng)
        if en in seen:
            continue
        seen.add(en)
        out.append((en, de))
    if umlauts == "translit":
        from .data import transliterate_german
        out = [(en, transliterate_german(de)) for en, de in out]
    return out


_DEFAULT_CACHE: list[tuple[str, str]] | None = None


def default_corpus() -> list[tuple[str, str]]:
    """The corpus the main job trains on without downloads: generate_corpus(seed=0), a new list
    each call (generated once, cached)."""
    global _DEFAULT_CACHE
    if _DEFAULT_CACHE is None:
        _DEFAULT_CACHE = generate_corpus(seed=0)
    return list(_DEFAULT_CACHE)
