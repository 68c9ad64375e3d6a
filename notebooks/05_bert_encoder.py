# %% [markdown]
# # 5 · A BERT-style encoder (the book's chapter 23)
#
# The Transformer's encoder alone, pre-trained by filling in masked words: WordPiece subwords,
# BERT's 15 % / 80-10-10 masking drawn on a sentence, a short masked-language-model
# pre-training run, and fill-mask with the result.
#
# **Read next:** `numpy_transformer/data/wordpiece.py` (the tokenizer), `apps/bert/data.py`
# (`mask_tokens`), `ops/bert.py` (embeddings with segments, the MLM head tied to the token
# embedding, the pooler), `models/bert.py` (`BertEncoder`), `config/bert.py`, and
# `docs/bert.md` (the full-size run: 34 % masked-token accuracy, the pair task).

# %%
import tempfile
from pathlib import Path

import numpy as np
import matplotlib.pyplot as plt
from IPython.display import Image, display

from numpy_transformer import BertEncoder
from numpy_transformer.apps.bert.data import MASK_ID, mask_tokens
from numpy_transformer.cli.main import main
from numpy_transformer.data.corpus import default_corpus
from numpy_transformer.data.wordpiece import WordPieceTokenizer
from numpy_transformer.training.checkpoint import load_checkpoint

# %% [markdown]
# ## The data and the WordPiece vocabulary
#
# `bert pretrain` reads an English⇥German file (by default the 50,000-pair corpus in
# `../shared/data/`, which a fresh checkout does not have). Here the 6,000 pairs that ship
# with the package are written to a temporary file; every distinct English and German sentence
# is one training sequence.
#
# WordPiece (Schuster & Nakajima, 2012; BERT's tokenizer) starts from characters and keeps
# merging the pair of pieces that most increases the likelihood of the corpus, until the
# vocabulary is full; a word is then split greedily, longest piece first, and pieces inside a
# word carry `##`. One joint vocabulary of 500 serves both languages (`data/wordpiece.py`
# wraps Hugging Face `tokenizers`):

# %%
work = Path(tempfile.mkdtemp(prefix="nt-bert-"))
pairs = default_corpus()
data = work / "pairs.tsv"
data.write_text("".join(f"{en}\t{de}\n" for en, de in pairs))
sentences = sorted({en for en, _ in pairs}) + sorted({de for _, de in pairs})
tok = WordPieceTokenizer.train(sentences, vocab_size=500)
tok.save(work / "tokenizer.json")
print(f"{len(sentences)} distinct sentences; vocabulary {tok.vocab_size} (5 specials: [PAD] [UNK] [CLS] [SEP] [MASK])")
for text in ["the teacher doesn't have the blue flower", "die kinder trinken kaltes wasser",
             "the transformers read unbelievable newspapers"]:
    print(f"  {text}\n     → {' '.join(tok.tokens(text))}")

# %% [markdown]
# Frequent words are one piece; a German ending can become a piece of its own (*kalt ##es*);
# a word the corpus never saw (*transformers*) falls apart into short pieces — but never into
# `[UNK]`, as long as its characters are known. (Hugging Face's WordPiece training is not
# exactly repeatable run to run, so the splits of rare words can differ slightly between runs.)
#
# ## Masking: 15 %, then 80 / 10 / 10
#
# In every sequence BERT chooses $\max(1, \mathrm{round}(0.15\, n))$ of the $n$ real tokens
# (never `[CLS]`, `[SEP]` or padding). Of the chosen ones 80 % become `[MASK]`, 10 % a random
# token and 10 % stay as they are; the loss is the cross-entropy of the original token at the
# chosen positions only. The random and unchanged 20 % keep the model from learning that only
# `[MASK]` positions matter — it must keep a good representation of every token, since any of
# them may be asked for. New masks are drawn every epoch. `apps/bert/data.mask_tokens` on a few
# sentences (colour = what happened to a chosen token):

# %%
texts = ["the old man doesn't have a big dog", "der lehrer hat die blaue blume nicht",
         "do you all have the big bird", "wir haben keine katzen"]
encoded = [tok.encode(t)[0] for t in texts]
ids = np.zeros((len(encoded), max(map(len, encoded))), dtype=np.int64)     # 0 = [PAD]
for row, seq in zip(ids, encoded):
    row[:len(seq)] = seq
for seed in range(100):       # ~6 tokens are chosen here: draw until all three outcomes show up
    inputs, labels = mask_tokens(ids, np.random.default_rng(seed), tok.vocab_size)
    chosen = labels != 0
    kind = np.select([chosen & (inputs == MASK_ID), chosen & (inputs != ids), chosen], [1, 2, 3], 0)
    if {1, 2, 3} <= set(kind.ravel()):
        break

colors = {0: "white", 1: "tab:orange", 2: "tab:red", 3: "tab:green"}
fig, ax = plt.subplots(figsize=(11, 0.55 * 2 * len(texts) + 0.6))
for r in range(len(texts)):
    for c in range(ids.shape[1]):
        if ids[r, c] == 0:
            continue
        y = 2 * r
        ax.text(c, y, tok.id_to_token(ids[r, c]), ha="center", va="center", fontsize=8, color="gray")
        ax.text(c, y + 0.8, tok.id_to_token(inputs[r, c]), ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round,pad=0.2", fc=colors[kind[r, c]], ec="none", alpha=0.6))
ax.set_xlim(-0.6, ids.shape[1] - 0.4); ax.set_ylim(2 * len(texts) - 0.6, -0.6); ax.axis("off")
for k, name in ((1, "chosen → [MASK]"), (2, "chosen → random token"), (3, "chosen, kept")):
    ax.scatter([], [], color=colors[k], alpha=0.6, s=80, label=name)
ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), ncol=3, fontsize=8, frameon=False)
ax.set_title("grey: the sentence;  below it: what the model reads", fontsize=9)
plt.tight_layout(); plt.show()

# %% [markdown]
# Over every training sentence the proportions come out as designed:

# %%
all_ids = [tok.encode(s)[0] for s in sentences]
batch = np.zeros((len(all_ids), max(map(len, all_ids))), dtype=np.int64)
for row, seq in zip(batch, all_ids):
    row[:len(seq)] = seq
inputs, labels = mask_tokens(batch, np.random.default_rng(0), tok.vocab_size)
real = (batch > 4).sum()                       # ids 0..4 are the specials
chosen = labels != 0
print(f"chosen: {chosen.sum() / real:.1%} of {real} real tokens (rounding per sentence: short ones get at least 1)")
print(f"  → [MASK] {np.mean(inputs[chosen] == MASK_ID):.1%},  random token {np.mean((inputs != batch)[chosen] & (inputs[chosen] != MASK_ID)):.1%},"
      f"  unchanged {np.mean(inputs[chosen] == batch[chosen]):.1%}  (a random draw can hit the same token)")

# %% [markdown]
# ## Pre-training
#
# The encoder: $\mathrm{LN}(E_{tok}[\mathrm{ids}] + E_{pos} + E_{seg}[\mathrm{segments}])$, the
# translation encoder's layers (post-LN as in BERT, GELU), and the MLM head
# $\mathrm{LN}(\mathrm{GELU}(h W + b))\, E_{tok}^\top + b_{out}$ — its output matrix *is* the
# token embedding (tied), so $dE_{tok}$ sums the scatter-add of the input use and the
# $G^\top u$ of the output use (`ops/bert.py`). `bert pretrain` with the vocabulary above,
# $d_{model} = 64$, 4 heads, $d_{ff} = 128$, 2 layers, 8 epochs, Adam with warm-up and cosine
# decay; held-out accuracy at the masked positions against the most-frequent-token baseline:

# %%
run = work / "mlm"
status = main(["bert", "pretrain", "--data", str(data), "--tokenizer", str(work / "tokenizer.json"),
               "--run-dir", str(run), "--d-model", "64", "--heads", "4", "--d-ff", "128", "--layers", "2",
               "--max-len", "24", "--epochs", "8", "--batch-size", "64", "--lr", "3e-3", "--warmup", "100",
               "--seed", "0", "--quiet"])
assert status == 0, f"pre-training failed with status {status}"
display(Image(filename=str(run / "curves.png"), width=720))

# %% [markdown]
# ## Fill-mask
#
# The command line's `fill-mask` prints the top tokens for each `[MASK]`:

# %%
queries = ["the old man [MASK] a big dog", "ich habe [MASK] hund", "do you all have the big [MASK]"]
status = main(["fill-mask", *queries, "--checkpoint", str(run), "--top-k", "5"])

# %% [markdown]
# and the same from the model directly — `BertEncoder.forward(..., positions=)` evaluates the
# MLM head at the chosen positions only — as the whole distribution's head:

# %%
ck = load_checkpoint(run)
model = BertEncoder(ck["cfg"], kernels="plain")
model.load_state_dict(ck["weights"])
run_tok = WordPieceTokenizer.load(run / "tokenizer.json")
fig, axes = plt.subplots(1, len(queries), figsize=(4 * len(queries), 2.8))
for ax, q in zip(axes, queries):
    ids, segments = run_tok.encode(q)
    logits = model.forward(ids[None], segments[None], positions=(ids == run_tok.mask_id)[None])[0].astype(np.float64)
    p = np.exp(logits - logits.max()); p /= p.sum()
    top = np.argsort(-p)[:8]
    ax.barh([run_tok.id_to_token(i) for i in top][::-1], p[top][::-1])
    ax.set_title(q, fontsize=9); ax.set_xlabel("probability")
plt.tight_layout(); plt.show()

# %% [markdown]
# After a minute on a toy corpus the model has learned syntax before meaning: after *the old
# man* comes a verb with the third-person *-s*, after *the big* a noun, after *ich habe* an
# article — the accusative masculine ones that *hund* needs rank high, though not alone. `docs/bert.md` has the full run
# (66,402 sentences, 4 layers, 34 % held-out masked-token accuracy) and the fine-tuned `[CLS]`
# head (`bert finetune`: is the German a translation of the English?).
