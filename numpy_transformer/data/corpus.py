"""A small English->German corpus written by this project, generated from a template grammar.

It lets the training job run on a fresh machine with no download. Every pair is produced by
rules, not looked up, so the German is grammatical by construction (the lexicon is in
data/corpus_lexicon.py, the grammar in data/corpus_grammar.py, the random choices here):

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

from .corpus_grammar import NP, Subject, copula, identify, noun_phrase, transitive
from .corpus_lexicon import (_NOUN_LIST, _PRED_ANIMAL, _PRED_IT, _PRED_PERSON, ADJECTIVES, NAMES, NOUNS, PRONOUNS,
                             VERBS, Noun, Verb, _same_scale)

__all__ = ["Noun", "Verb", "NP", "NOUNS", "VERBS", "ADJECTIVES", "PRONOUNS", "NAMES",
           "transitive", "copula", "identify", "noun_phrase", "generate_corpus", "default_corpus",
           "DEFAULT_SIZE"]

DEFAULT_SIZE = 6000


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
        from .pairs import transliterate_german
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
