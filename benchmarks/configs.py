"""Model presets, batch shapes, the scaling sweeps and the synthetic data every backend shares."""
from __future__ import annotations

import dataclasses

import numpy as np

from numpy_transformer.config import TransformerConfig

START_ID, EOS_ID = 1, 2     # ids 0 (pad), 1 (<start>), 2 (<eos>) are reserved in the synthetic data
BOOK_SRC_VOCAB, BOOK_TGT_VOCAB = 2404, 3864


@dataclasses.dataclass(frozen=True)
class Shape:
    batch: int
    src_len: int
    tgt_len: int   # decoder input length; also the number of greedy-decoding steps

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    cfg: TransformerConfig
    shape: Shape


def _cfg(src_vocab, tgt_vocab, d_model, num_heads, d_ff, num_layers, max_len=16):
    return TransformerConfig(src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab, d_model=d_model,
                             num_heads=num_heads, d_ff=d_ff, num_layers=num_layers, dropout=0.1,
                             max_len=max_len, dtype="float32")


PRESETS = {
    "tiny": Preset("tiny", _cfg(64, 64, 32, 2, 64, 1), Shape(8, 7, 12)),
    "small": Preset("small", _cfg(BOOK_SRC_VOCAB, BOOK_TGT_VOCAB, 128, 4, 512, 2), Shape(64, 7, 12)),
    # the book's model and data: 6+6 layers, d_model 512, 8 heads, d_ff 2048, batch 64,
    # English sentences of <= 7 tokens, German decoder inputs of 12 tokens
    "book": Preset("book", _cfg(BOOK_SRC_VOCAB, BOOK_TGT_VOCAB, 512, 8, 2048, 6), Shape(64, 7, 12)),
    # a shape that fills a GPU: the book's model at batch 256, source = target = 64 tokens
    # (about 240 GFLOP per training step; minutes per step on 2 CPU cores, so not a default)
    "gpu": Preset("gpu", _cfg(BOOK_SRC_VOCAB, BOOK_TGT_VOCAB, 512, 8, 2048, 6, max_len=64), Shape(256, 64, 64)),
}
DEFAULT_PRESETS = ("tiny", "small", "book")


def sweep_points(name, quick=False):
    """[(x value, Preset)] of a scaling sweep, all based on the `small` preset:
    batch (source 7 / target 12 tokens), seq (source = target length, batch 4) and d_model
    (num_heads 4, d_ff = 4 d_model, batch 64)."""
    base = PRESETS["small"]
    if name == "batch":
        values = [4, 16] if quick else [4, 16, 64, 256]
        return [(b, Preset(f"small-b{b}", base.cfg, Shape(b, 7, 12))) for b in values]
    if name == "seq":
        values = [16, 64] if quick else [16, 64, 256, 512]
        cfg = base.cfg.replace(max_len=max(values))
        return [(n, Preset(f"small-len{n}", cfg, Shape(4, n, n))) for n in values]
    if name == "d_model":
        values = [64, 128] if quick else [64, 128, 256, 512]
        return [(d, Preset(f"small-d{d}", base.cfg.replace(d_model=d, d_ff=4 * d), base.shape)) for d in values]
    raise ValueError(f"unknown sweep {name!r}; choose from {SWEEPS}")


SWEEPS = ("batch", "seq", "d_model")


def make_batch(cfg, shape, seed=0):
    """Random token ids: src (B, S), decoder input tgt (B, T) starting with <start>, labels
    (B, T); ids >= 3 so no padding, start or eos appears (every position counts in the loss)."""
    rng = np.random.default_rng(seed)
    B, S, T = shape.batch, shape.src_len, shape.tgt_len
    src = rng.integers(3, cfg.src_vocab_size, (B, S), dtype=np.int64)
    lab = rng.integers(3, cfg.tgt_vocab_size, (B, T), dtype=np.int64)
    tgt = np.concatenate([np.full((B, 1), START_ID, np.int64), lab[:, :-1]], axis=1)
    dlogits = rng.standard_normal((B, T, cfg.tgt_vocab_size)).astype(cfg.dtype) / np.float32(B * T)
    return src, tgt, lab, dlogits


def shared_state(cfg, seed=0):
    """Initial weights shared by every backend: the NumPy initialiser, with the output bias of
    <eos> set to -1e4 so greedy decoding always runs the full target length (comparable work
    across backends, independent of what an untrained model happens to emit)."""
    from numpy_transformer import Transformer
    state = Transformer(cfg, seed=seed).state_dict()
    state["output.bias"][EOS_ID] = -1e4
    return state
