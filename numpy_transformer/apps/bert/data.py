"""Data for the BERT commands (apps/bert/commands.py): the shared English–German pairs, split once
(seeded, grouped by English sentence, so no held-out English sentence was seen in training),
masked-language-model batches and the translation-pair classification task, each task's
encoded splits and baseline (mlm_data, pair_data).

MLM (Devlin et al., 2019, section 3.1 and appendix A): in every sentence, max(1, round(15 %))
of the real tokens are chosen (BERT's create_pretraining_data rule; never [CLS], [SEP] or
padding); of those 80 % become [MASK], 10 % a random non-special token, 10 % stay; the label is
the original token at the chosen positions and [PAD] (= not counted) elsewhere. Every epoch
draws new masks from (seed, epoch) (dynamic masking, as RoBERTa); the held-out split is masked
once, with a fixed seed, so epochs are compared on the same positions.

Pair task: `[CLS] en [SEP] de [SEP]`, segment 0 then 1; label 1 when the German sentence is a
translation of the English one, 0 for a negative: another German sentence of the same split
with the same number of subword tokens (± 1 when none), not a translation of that English
sentence. One positive and one negative per pair, so the majority baseline is ~50 %.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ...data.errors import MissingFileError, UsageError
from ...data.pairs import load_pairs, prepare_dataset
from ...data.wordpiece import SPECIALS, special_ids_mask

MASK_ID, FIRST_WORD_ID = SPECIALS.index("[MASK]"), len(SPECIALS)

DEFAULT_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "deu-eng-50k.tsv"


def default_data():
    """../shared/data/deu-eng-50k.tsv relative to the project root (as the translation job)."""
    return DEFAULT_DATA.resolve()


def check_data_path(path):
    path = Path(path) if path else default_data()
    if not path.exists():
        raise MissingFileError(f"no data at {path}: pass --data FILE (English<TAB>German lines, e.g. "
                                f"../shared/data/deu-eng-50k.tsv relative to the project root)")
    return path


def load_splits(path, n=None, seed=1):
    """Cleaned, de-duplicated pairs split 80/10/10, grouped by English sentence."""
    return prepare_dataset(load_pairs(path, n), n=None, seed=seed, group_by_source=True)


def sentences(pairs):
    """Every distinct English and German sentence of the pairs (sorted: deterministic)."""
    return sorted({en for en, _ in pairs}) + sorted({de for _, de in pairs})


class Batch(NamedTuple):
    ids: np.ndarray        # (B, T) token ids, padded with 0
    segments: np.ndarray   # (B, T) 0 / 1
    labels: np.ndarray     # MLM: (B, T), the original id at chosen positions, 0 elsewhere; pairs: (B,)


def pad(seqs, length=None, pad_id=0):
    length = length or max(len(s) for s in seqs)
    out = np.full((len(seqs), length), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


def fit_length(id_lists, seg_lists, max_len):
    """Keep the sequences of at most max_len tokens; returns them and how many were dropped."""
    keep = [i for i, s in enumerate(id_lists) if len(s) <= max_len]
    return [id_lists[i] for i in keep], [seg_lists[i] for i in keep], len(id_lists) - len(keep)


def mask_tokens(ids, rng, vocab_size, rate=0.15, pad_id=0):
    """BERT's corruption of a padded batch (B, T): returns (inputs, labels). Vectorised: every
    eligible token gets a uniform key, the k smallest per row are chosen (k = max(1,
    round(rate · real tokens))); then one uniform draw per chosen token picks mask/random/keep."""
    special = special_ids_mask(vocab_size)
    eligible = ~special[ids]
    n_real = eligible.sum(axis=1)
    k = np.where(n_real > 0, np.maximum(1, np.rint(rate * n_real)), 0).astype(int)
    keys = np.where(eligible, rng.random(ids.shape), np.inf)
    rank = np.argsort(np.argsort(keys, axis=1), axis=1)
    chosen = rank < k[:, None]
    labels = np.where(chosen, ids, pad_id)
    u = rng.random(ids.shape)
    inputs = ids.copy()
    inputs[chosen & (u < 0.8)] = MASK_ID
    rand = chosen & (u >= 0.8) & (u < 0.9)
    inputs[rand] = rng.integers(FIRST_WORD_ID, vocab_size, int(rand.sum()))   # a random non-special token
    return inputs, labels


def mlm_batches(id_lists, batch_size, rng, vocab_size, order=None):
    """Masked batches over the sentences (in `order`, default as given)."""
    order = np.arange(len(id_lists)) if order is None else order
    for i in range(0, len(order), batch_size):
        ids = pad([id_lists[j] for j in order[i:i + batch_size]])
        inputs, labels = mask_tokens(ids, rng, vocab_size)
        yield Batch(inputs, np.zeros_like(inputs), labels)


def most_frequent_token(id_lists, vocab_size):
    """The most frequent non-special token of the training sentences: the MLM baseline's answer."""
    counts = np.bincount(np.concatenate(id_lists), minlength=vocab_size)
    counts[special_ids_mask(vocab_size)] = 0
    return int(np.argmax(counts))


# ---------------------------------------------------------------- the pair task

def pair_examples(pairs, tok, rng, max_len):
    """Positives and same-length negatives (module docstring), encoded: lists of id arrays,
    segment arrays and labels (int64), and the number dropped as longer than max_len."""
    en_list = [en for en, _ in pairs]
    de_list = sorted({de for _, de in pairs})
    translations = {}
    for en, de in pairs:
        translations.setdefault(en, set()).add(de)
    de_ids, _ = tok.encode_many(de_list)
    by_len = {}
    for j, ids in enumerate(de_ids):
        by_len.setdefault(len(ids), []).append(j)
    de_len = {de: len(ids) for de, ids in zip(de_list, de_ids)}
    negatives = []
    for en, de in pairs:
        L = de_len[de]
        pool = by_len.get(L, [])
        for cand in (pool, by_len.get(L - 1, []) + by_len.get(L + 1, []), range(len(de_list))):
            pick = _pick(cand, rng, de_list, translations[en])
            if pick is not None:
                break
        negatives.append(pick)
    texts_en = en_list + en_list
    texts_de = [de for _, de in pairs] + negatives
    labels = np.array([1] * len(pairs) + [0] * len(pairs), dtype=np.int64)
    ids, segs = tok.encode_many(texts_en, texts_de)
    keep = [i for i, s in enumerate(ids) if len(s) <= max_len]
    return [ids[i] for i in keep], [segs[i] for i in keep], labels[keep], len(ids) - len(keep)


def _pick(candidates, rng, de_list, exclude, tries=8):
    """A random German sentence from `candidates` (indices) that is not in `exclude`."""
    if not len(candidates):
        return None
    for _ in range(tries):
        de = de_list[candidates[int(rng.integers(len(candidates)))]]
        if de not in exclude:
            return de
    return None


def pair_batches(id_lists, seg_lists, labels, batch_size, order=None):
    order = np.arange(len(id_lists)) if order is None else order
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        yield Batch(pad([id_lists[j] for j in idx]), pad([seg_lists[j] for j in idx]), labels[idx])


# ---------------------------------------------------------------- the tasks' splits and baselines

def curve_baseline(task, b):
    """The curves' baseline line. The curves show the val split, so the line is the val split's
    share; the summary printed at the end (and result.json) is the test split's, a different set
    of sentences and masked tokens (pre-training on deu-eng-50k: 5.5 % of the val split's masked
    tokens are `tom`, docs/results/bert-mlm-curves.png; 6.2 % of the test split's,
    bert-mlm-result.json), so the label names both."""
    what = (f"most frequent token {b['token']!r}" if task == "mlm" else
            f"majority class ({'translation' if b['class'] == 1 else 'not a translation'})")
    return f"{what}: {b['val']:.1%} of the val split (test split {b['test']:.1%})", b["val"]


def mlm_data(splits, tok, cfg, args):
    enc = {}
    for name in ("train", "val", "test"):
        ids, segs = tok.encode_many(sentences(getattr(splits, name)))
        enc[name], _, enc[f"{name}_dropped"] = fit_length(ids, segs, cfg.max_len)
        if not enc[name]:            # as train's --max-len: a fact about the data, known only now
            raise UsageError(f"--max-len {cfg.max_len} leaves no {name} sentence: all {len(ids)} are longer "
                             f"(with [CLS] and [SEP])")
    top = most_frequent_token(enc["train"], cfg.vocab_size)

    def held_out(name):                     # masked once, with a fixed seed
        batches = list(mlm_batches(enc[name], 512, np.random.default_rng([args.seed, 99]), cfg.vocab_size))
        labels = np.concatenate([b.labels[b.labels != 0] for b in batches])
        return batches, float(np.mean(labels == top))
    (val, base_val), (test, base_test) = held_out("val"), held_out("test")

    def train(epoch, rng):
        return mlm_batches(enc["train"], args.batch_size, rng, cfg.vocab_size, rng.permutation(len(enc["train"])))
    return {"train": train, "val": lambda: val, "test": lambda: test, "n_train": len(enc["train"]),
            "baseline": {"token": tok.id_to_token(top), "val": base_val, "test": base_test},
            "describe": f"{len(enc['train'])}/{len(enc['val'])}/{len(enc['test'])} train/val/test sentences "
                        f"(English and German; {enc['train_dropped']} over --max-len dropped), "
                        f"most frequent token {tok.id_to_token(top)!r}"}


def pair_data(splits, tok, cfg, args):
    ex = {}
    for name in ("train", "val", "test"):
        ex[name] = pair_examples(getattr(splits, name), tok, np.random.default_rng([args.seed, 7, len(name)]),
                                    cfg.max_len)
        if not len(ex[name][0]):
            raise UsageError(f"the pre-trained model's max_len {cfg.max_len} leaves no {name} pair "
                             f"([CLS] en [SEP] de [SEP] is longer for every one)")
    majority = int(np.bincount(ex["train"][2]).argmax())
    fixed = {name: list(pair_batches(*ex[name][:3], 512)) for name in ("val", "test")}

    def train(epoch, rng):
        return pair_batches(*ex["train"][:3], args.batch_size, rng.permutation(len(ex["train"][0])))
    return {"train": train, "val": lambda: fixed["val"], "test": lambda: fixed["test"], "n_train": len(ex["train"][0]),
            "baseline": {"class": majority, "val": float(np.mean(ex["val"][2] == majority)),
                         "test": float(np.mean(ex["test"][2] == majority))},
            "describe": f"{len(ex['train'][0])}/{len(ex['val'][0])}/{len(ex['test'][0])} train/val/test pairs, "
                        f"half translations, half same-length negatives ({ex['train'][3]} over max_len dropped)"}
