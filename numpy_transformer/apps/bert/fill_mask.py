"""`python -m numpy_transformer fill-mask`: a pre-trained BERT run's top-k whole-word tokens for
each [MASK] in a sentence (commands.py declares its options)."""
from __future__ import annotations

import numpy as np

from ...data.errors import UsageError
from .checkpoint import load_bert_run


def fill_mask(a):
    from ...training.threads import ThreadPolicy
    with ThreadPolicy(a.threads).start():       # BLAS threads as for `translate`: by the machine's load
        return _fill_masks(a)


def _fill_masks(a):
    from ...models import BertEncoder
    from ...data.text import unknown_note
    from ...data.wordpiece import MASK
    no_mask = [t for t in a.texts if MASK.lower() not in t.lower()]
    if no_mask:
        raise UsageError(f"no {MASK} in {no_mask[0]!r}: write {MASK} where the model should fill in a token, "
                         f"e.g. \"i am very {MASK} today\"")
    ck = load_bert_run(a.checkpoint)
    cfg, tok = ck["cfg"], ck["tok"]
    fillers = tok.word_start_ids()
    if a.top_k > len(fillers):
        raise UsageError(f"--top-k {a.top_k}: this model's vocabulary has {len(fillers):,} whole-word tokens to "
                         f"offer ({tok.vocab_size:,} less the specials and the ## word pieces)")
    model = BertEncoder(cfg, kernels="fast")
    model.load_state_dict(ck["weights"])
    for text in a.texts:
        ids, segs, unknown, left_out = tok.encode_query(text)
        if len(ids) > cfg.max_len:
            raise UsageError(f"{text!r} is {len(ids)} tokens with [CLS] and [SEP]; this model reads at most "
                             f"max_len={cfg.max_len}")
        where = ids == tok.mask_id
        logits = model.forward(ids[None], segs[None], positions=where[None]).astype(np.float64)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        note = unknown_note(unknown, left_out)
        print(" ".join(tok.id_to_token(i) for i in ids[1:-1]) + (f"   ({note})" if note else ""))
        for k, row in enumerate(p):
            top = fillers[np.argsort(-row[fillers], kind="stable")[: a.top_k]]
            label = f"  [MASK] {k + 1}: " if len(p) > 1 else "  "
            print(label + "  ".join(f"{tok.id_to_token(i)} {row[i]:.3f}" for i in top))
    return 0
