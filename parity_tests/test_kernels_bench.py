"""tools/kernels.py (a finished experiment, moved out of benchmarks/) compares like with like: at small shapes each pair's plain and fast
callables give the same result (float32: the fast ops reorder sums; GELU's erf differs by at
most the 3.1e-7 of test_fast_gelu.py), and a run writes rows with a speed-up for every pair."""
import json

import numpy as np
import pytest

from tool_scripts import load_tool

bench = load_tool("kernels")


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(bench, "BOOK", dict(B=2, T=5, d=16, h=4, f=24, V=30))
    monkeypatch.setattr(bench, "VIT", dict(B=2, T=9, d=12, h=3, f=20))
    monkeypatch.setattr(bench, "ADAM", dict(src_vocab_size=20, tgt_vocab_size=30, d_model=16, num_heads=4, d_ff=24,
                                            num_layers=1, max_len=8))


def first(x):
    return x[0] if isinstance(x, tuple) else x


def test_each_pair_computes_the_same_thing(small):
    pairs = bench.pairs()
    assert len({p[0] + p[2] for p in pairs}) == len(pairs) == 9
    for name, _, _, plain, fast in pairs:
        a, b = first(plain()), first(fast())
        if a is None:                                    # Adam: both update their own copies in place
            assert b is None
            continue
        # float32 sums of a few dozen terms, values O(1): 1e-5 relative
        np.testing.assert_allclose(np.asarray(b, np.float64), np.asarray(a, np.float64), rtol=1e-5, atol=1e-5,
                                   err_msg=name)


@pytest.mark.slow
def test_a_short_run_writes_json_and_markdown(small, tmp_path):
    assert bench.main(["--reps", "2", "--threads", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert len(rows) == 9 and all(r["speedup"] > 0 and r["n"] == 2 for r in rows)
    assert "| exact GELU, forward |" in (tmp_path / "results.md").read_text()
