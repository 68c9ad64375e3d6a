"""Greedy decoding with the key/value cache against the book's full re-run per token."""
import numpy as np
import pytest

from numpy_transformer import Transformer, TransformerConfig
from numpy_transformer.models.decoding import greedy_decode


def _model(norm_first, dtype="float64", kernels="fast"):
    cfg = TransformerConfig(src_vocab_size=13, tgt_vocab_size=11, d_model=8, num_heads=2, d_ff=16,
                            num_layers=2, dropout=0.1, max_len=10, norm_first=norm_first, dtype=dtype)
    return Transformer(cfg, seed=4, kernels=kernels)


@pytest.mark.parametrize("kernels", ["plain", "fast"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_step_logits_equal_full_forward(norm_first, kernels):
    """decode_step runs the decoder layers' own code with key/value caches; position by
    position it must give the full teacher-forced forward's logits."""
    model = _model(norm_first, kernels=kernels)
    rng = np.random.default_rng(0)
    src = rng.integers(1, 13, (3, 6))
    src[0, 3:] = 0
    tgt = rng.integers(1, 11, (3, 7))
    full = model.forward(src, tgt)
    state = model.start_decoding(src, max_len=7)
    steps = np.stack([model.decode_step(tgt[:, t], state) for t in range(7)], axis=1)
    np.testing.assert_allclose(steps, full, rtol=0, atol=1e-12)   # float64: same sums, reordered
    with pytest.raises(ValueError, match="past the state's max_len=7"):
        model.decode_step(tgt[:, 0], state)


def test_plain_and_fast_kernels_decode_the_same(rng):
    a, b = _model(False, "float64", "plain"), _model(False, "float64", "fast")
    src = rng.integers(1, 13, (6, 8))
    assert np.array_equal(greedy_decode(a, src, 1, 2, 9), greedy_decode(b, src, 1, 2, 9))


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
    model.params.output.bias[2] = 50.0
    out = greedy_decode(model, np.array([[3, 4, 5]]), start_id=1, eos_id=2, max_len=9)
    assert out.tolist() == [[2]]


def test_decode_bad_max_len():
    model = _model(False)
    with pytest.raises(ValueError, match="max_len must be in"):
        greedy_decode(model, np.array([[3, 4]]), 1, 2, max_len=11)


def _allowed_logprob(model, src_row, seq):
    """log P(seq | src) by one teacher-forced forward, over the tokens decoding may emit
    (ids ≥ 2: <pad>=0 and <start>=1 are excluded and the rest renormalised)."""
    logits = model.forward(src_row, np.array([[1] + list(seq[:-1])]))[0][:, 2:]
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    return sum(logp[i, tok - 2] for i, tok in enumerate(seq))


@pytest.mark.parametrize("seed", range(4))
def test_wide_beam_search_finds_the_exhaustive_best(seed):
    """With a beam wider than all prefixes, beam search is exhaustive: compare with brute force
    over every output of length ≤ 3 (ending in <eos>=2, or cut at max_len) and α = 0."""
    import itertools
    cfg = TransformerConfig(src_vocab_size=7, tgt_vocab_size=5, d_model=8, num_heads=2, d_ff=16,
                            num_layers=1, dropout=0.0, max_len=6, dtype="float64")
    model = Transformer(cfg, seed)
    model.params.output.weight *= 4          # peakier distributions, so greedy can be wrong
    src = np.array([[3, 4, 5, 6], [4, 4, 0, 0]])
    from numpy_transformer.models.decoding import beam_search
    beams = beam_search(model, src, start_id=1, eos_id=2, max_len=3, beam_size=16, alpha=0.0)
    greedy = greedy_decode(model, src, 1, 2, 3)
    narrow = beam_search(model, src, 1, 2, 3, beam_size=1, alpha=0.0)
    for b in range(2):
        row = src[b:b + 1][:, src[b] != 0]
        cands = [seq for L in (1, 2, 3) for seq in itertools.product((2, 3, 4), repeat=L)
                 if 2 not in seq[:-1] and (L == 3 or seq[-1] == 2)]
        scored = sorted(((_allowed_logprob(model, row, s), s) for s in cands), reverse=True)
        best_ids, best_score = beams[b][0]
        assert tuple(best_ids) == scored[0][1]
        assert best_score == pytest.approx(scored[0][0], abs=1e-9)
        # the k best are the k best of the brute force, in order
        assert [tuple(h) for h, _ in beams[b][:5]] == [s for _, s in scored[:5]]
        g = greedy[b][: list(greedy[b]).index(2) + 1] if 2 in greedy[b] else greedy[b]
        assert narrow[b][0][0].tolist() == g.tolist()   # beam 1 is greedy


def test_length_penalty_prefers_longer_hypotheses():
    from numpy_transformer.models.decoding import length_penalty
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(1, 1.0) == pytest.approx(1.0) and length_penalty(7, 1.0) == pytest.approx(2.0)
    # the same log-probability, spread over more tokens, ranks higher when α > 0
    assert -3.0 / length_penalty(7, 0.6) > -3.0 / length_penalty(1, 0.6)
