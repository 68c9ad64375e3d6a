"""Greedy decoding with the key/value cache against the book's full re-run per token."""
import numpy as np
import pytest

from numpy_transformer import Transformer, TransformerConfig
from numpy_transformer.decoding import KVCache, decode_step, greedy_decode
from numpy_transformer.attention import padding_mask


def _model(norm_first, dtype="float64"):
    cfg = TransformerConfig(src_vocab_size=13, tgt_vocab_size=11, d_model=8, num_heads=2, d_ff=16,
                            num_layers=2, dropout=0.1, max_len=10, norm_first=norm_first, dtype=dtype)
    return Transformer(cfg, seed=4)


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_step_logits_equal_full_forward(norm_first):
    model = _model(norm_first)
    rng = np.random.default_rng(0)
    src = rng.integers(1, 13, (3, 6))
    src[0, 3:] = 0
    tgt = rng.integers(1, 11, (3, 7))
    full = model.forward(src, tgt)
    memory, _ = model.encode(src)
    cache = KVCache(model, memory, padding_mask(src, 0), max_len=7)
    steps = np.stack([decode_step(model, tgt[:, t], cache) for t in range(7)], axis=1)
    np.testing.assert_allclose(steps, full, rtol=0, atol=1e-12)   # float64: same sums, reordered


@pytest.mark.parametrize("norm_first", [False, True])
def test_greedy_with_and_without_cache_agree(norm_first):
    model = _model(norm_first, "float32")
    src = np.random.default_rng(1).integers(1, 13, (5, 8))
    src[1, 4:] = 0
    a = greedy_decode(model, src, start_id=1, eos_id=2, max_len=9, use_cache=True)
    b = greedy_decode(model, src, start_id=1, eos_id=2, max_len=9, use_cache=False)
    assert a.shape[0] == 5 and np.array_equal(a, b)


def test_greedy_stops_at_eos_and_pads_after():
    model = _model(False)
    # make <eos>=2 the argmax everywhere after the first step by biasing the output layer
    model.params["output.bias"][2] = 50.0
    out = greedy_decode(model, np.array([[3, 4, 5]]), start_id=1, eos_id=2, max_len=9)
    assert out.tolist() == [[2]]


def test_decode_bad_max_len():
    model = _model(False)
    with pytest.raises(ValueError, match="max_len must be in"):
        greedy_decode(model, np.array([[3, 4]]), 1, 2, max_len=11)
