"""Inference: translate sentences with a trained checkpoint (either backend), and score a test
split with corpus BLEU and chrF (sacrebleu)."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ...data.errors import InputError, MissingFileError
from ...training.checkpoint import CheckpointError, load_checkpoint
from ...data.corpus import default_corpus
from ...data.pairs import load_pairs, prepare_dataset
from ...data.text import clean_words, unknown_note
from .batching import encode_source, pad_sequences
from ...config import kind_of
from .model_options import MODELS
from .train import TrainArgs, make_backend


def load_splits(meta):
    """Rebuild the train/val/test split a run was trained on, from its checkpoint metadata."""
    data = meta.get("data", "embedded")
    if data == "embedded":
        pairs, clean = default_corpus(), False
    else:
        if not Path(data).exists():
            raise MissingFileError(f"the run was trained on {data}, which is not there any more")
        pairs, clean = load_pairs(data, meta.get("n")), True
    return prepare_dataset(pairs, n=meta.get("n"), seed=meta.get("data_seed", 1), clean=clean,
                           umlauts=meta.get("umlauts", "keep"))


class Encoded(NamedTuple):
    ids: list             # the source ids, <eos> last
    unknown: tuple        # the words not in the training vocabulary, as the user typed them
    left_out: tuple       # symbols (emoji, …) the cleaning deleted, as typed


def describe_unknown(enc):
    """"unknown words: café, über; left out: 🙂" (empty when there is nothing to say)."""
    return unknown_note(enc.unknown, enc.left_out)


class Translator:
    """A checkpoint, its tokenizers and a backend, ready to translate cleaned or raw English."""

    def __init__(self, checkpoint, backend="numpy"):
        ck = load_checkpoint(checkpoint, kinds=MODELS)
        if ck["src_tok"] is None or ck["tgt_tok"] is None:
            raise CheckpointError(f"{ck['dir']}: src_tokenizer.json / tgt_tokenizer.json missing beside the checkpoint")
        self.cfg, self.meta, self.dir = ck["cfg"], ck["meta"], ck["dir"]
        self.src_tok, self.tgt_tok = ck["src_tok"], ck["tgt_tok"]
        self.backend = make_backend(backend, self.cfg, TrainArgs(**ck["meta"].get("train_args", {})),
                                    weights=ck["weights"])

    def encode(self, sentence):
        """Clean like the training data (data/text.py), then ids + <eos>, the unknown words and
        the deleted symbols as the user typed them (Encoded). Clear errors for an empty
        sentence, a sentence of unknown words only, and one longer than the model's max_len."""
        clean = clean_words(sentence, "en")
        if not clean.text:
            left = f"; left out: {' '.join(clean.left_out)}" if clean.left_out else ""
            raise InputError(f"nothing to translate in {sentence!r} (empty after cleaning{left})")
        ids = encode_source(clean.text, self.src_tok)
        unk = tuple(w for w, i in zip(clean.typed, ids) if i == self.src_tok.unk_id)
        if len(unk) == len(ids) - 1:
            raise InputError(f"none of the words of {sentence!r} is in the training vocabulary")
        if len(ids) > self.cfg.max_len:
            raise InputError(f"{sentence!r} has {len(ids) - 1} words; this model takes at most "
                             f"{self.cfg.max_len - 1} (its max_len is {self.cfg.max_len}, with <eos>)")
        return Encoded(ids, unk, clean.left_out)

    def translate_ids(self, id_lists, beam=1, alpha=0.6, batch_size=64, threads=None):
        """`threads`: an app.threads.ThreadPolicy, ticked after each batch (follows the load)."""
        out = []
        for i in range(0, len(id_lists), batch_size):
            src = pad_sequences(id_lists[i:i + batch_size], self.cfg.pad_id)
            out += self.backend.decode(src, self.tgt_tok.start_id, self.tgt_tok.eos_id, self.cfg.max_len, beam, alpha)
            if threads is not None:
                threads.tick()
        return [self.tgt_tok.decode(ids) for ids in out]

    def translate(self, sentences, beam=1, alpha=0.6):
        """German for each English sentence (a list); unknown words are kept as <unk>."""
        return self.translate_ids([self.encode(s)[0] for s in sentences], beam, alpha)

    def source_tokens(self, sentence):
        """The source as the model sees it: cleaned words, unknown ones as <unk>, then <eos>."""
        ids = self.encode(sentence)[0]
        words = clean_words(sentence, "en").words
        return [w if i != self.src_tok.unk_id else "<unk>" for w, i in zip(words, ids)] + ["<eos>"]

    @property
    def attention_layers(self):
        """How many decoder layers have cross-attention maps (the RNN translator: one)."""
        return 1 if self.cfg.kind == "rnn-attention" else self.cfg.num_layers

    @property
    def attention_title(self):
        """What an attention map shows (None: the Transformer's layer and heads)."""
        return f"Luong {self.cfg.score} attention (GRU decoder)" if self.cfg.kind == "rnn-attention" else None

    def attention(self, sentence, translation, layer=None):
        """Cross-attention of decoder layer `layer` (default: the last), (heads, target words +
        <eos>, source words + <eos>), from a NumPy forward over the translation (teacher-forced);
        the RNN translator has one layer and one 'head', its Luong attention weights."""
        n = self.attention_layers
        layer = n - 1 if layer is None else layer
        if not 0 <= layer < n:
            raise ValueError(f"decoder layer {layer} does not exist: this model has layers 0 to {n - 1}")
        model = kind_of(self.cfg).build(self.cfg, fast=True)
        model.load_state_dict(self.backend.get_weights())
        src = np.array([self.encode(sentence)[0]])
        # a translation that ran to max_len without <eos> has max_len words: the decoder input
        # (<start> + words) keeps max_len positions, and the last row predicts the last word
        tgt = ([self.tgt_tok.start_id] + self.tgt_tok.encode(translation))[: self.cfg.max_len]
        model.forward(src, np.array([tgt]))
        key = "decoder.attention" if self.cfg.kind == "rnn-attention" else f"decoder.layers.{layer}.cross_attn"
        return model.attention_weights()[key][0]


    def plot_attention(self, sentence, translation, path, layer=None, unknown=()):
        """Draw decoder layer `layer`'s (default: the last) cross-attention over `translation` into
        the PNG `path` (training/plots.py); returns the line that says where."""
        from ...training.plots import plot_attention
        n = self.attention_layers
        layer = n - 1 if layer is None else layer
        w = self.attention(sentence, translation, layer=layer)
        plot_attention(w, self.source_tokens(sentence), (translation.split() + ["<eos>"])[: w.shape[1]], path,
                       f"\u201c{sentence}\u201d \u2192 \u201c{translation}\u201d"
                       + (f"  (unknown: {', '.join(unknown)})" if unknown else ""),
                       layer=layer, num_layers=n, what=self.attention_title)
        if n > 1 or self.attention_title is None:
            return f"attention maps (decoder layer {layer}): {path}"
        return f"attention map: {path}"

def evaluate(translator, split="test", beam=1, alpha=0.6, limit=None, threads=None):
    """Corpus BLEU and chrF of the run's own test split (rebuilt from its metadata). Pairs whose
    source is too long for the model are skipped and counted."""
    import sacrebleu
    pairs = getattr(load_splits(translator.meta), split)[:limit]
    ids, srcs, refs, skipped = [], [], [], 0
    for en, de in pairs:
        try:
            ids.append(translator.encode(en)[0])
            srcs.append(en)
            refs.append(de)
        except InputError:
            skipped += 1
    if not ids:
        raise InputError(f"none of the {len(pairs)} {split} pairs can be scored: every source is longer than the "
                         f"model's max_len ({translator.cfg.max_len}) or has no known word")
    hyps = translator.translate_ids(ids, beam, alpha, threads=threads)
    return {"split": split, "sentences": len(hyps), "skipped": skipped, "beam": beam,
            "bleu": sacrebleu.corpus_bleu(hyps, [refs]).score,
            "chrf": sacrebleu.corpus_chrf(hyps, [refs]).score,
            "examples": [{"en": e, "ref": r, "hyp": h} for e, r, h in zip(srcs, refs, hyps)][:10]}


def summary_lines(r, what, examples=3):
    """A short human summary of an evaluation result (BLEU, chrF, counts, a few examples)."""
    lines = [f"{what} ({r['sentences']} sentences, {'greedy' if r['beam'] == 1 else 'beam ' + str(r['beam'])}): "
             f"BLEU {r['bleu']:.1f}, chrF {r['chrf']:.1f}" + summarise_skipped(r)]
    lines += [f"  {ex['en']:<36} -> {ex['hyp']:<36} (reference: {ex['ref']})" for ex in r["examples"][:examples]]
    return "\n".join(lines)


def summarise_skipped(r):
    """', 1 skipped (…)' for an evaluation result that could not score every pair."""
    if not r.get("skipped"):
        return ""
    return (f"; {r['skipped']} of {r['sentences'] + r['skipped']} pairs skipped "
            f"(longer than the model's max_len, or no known word)")
