"""tools/rnn_layers.py (a finished comparison, moved out of benchmarks/): a tiny end-to-end run of every layer, workload
and implementation, writing JSON and markdown; the timed callables compute what they claim."""
import json

import numpy as np
import pytest

from requires import require

from tool_scripts import load_tool

rnn = load_tool("rnn_layers")


def test_numpy_callables_compute_the_ops():
    d = rnn._data(2, 3, 4, "float64")
    fns = rnn.numpy_fns(d)
    from numpy_transformer.ops.rnn import simple_rnn_forward
    np.testing.assert_array_equal(fns[("rnn", "forward")](), simple_rnn_forward(d["x"], None, d["W_x"], d["W_h"], d["b"])[0])
    assert set(fns[("rnn", "fwd_bwd")]()) == {"x", "h0", "W_x", "W_h", "b"}
    assert set(fns[("bahdanau", "fwd_bwd")]()) == {"s", "h", "W_a", "U_a", "v_a"}


@pytest.mark.slow
def test_tiny_run_writes_results(tmp_path):
    require("keras")
    assert rnn.main(["--batch", "2", "--steps", "3", "--hidden", "4", "--reps", "1", "--warmup", "1",
                     "--threads", "1", "--cooldown", "0", "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "results.json").read_text())
    assert {(x["layer"], x["workload"], x["impl"]) for x in r["rows"]} == {
        (lay, wl, impl) for lay in ("rnn", "bahdanau") for wl in ("forward", "fwd_bwd")
        for impl in ("numpy", "keras-eager", "keras-graph")}
    assert all(x["status"] == "ok" and x["median_ms"] > 0 for x in r["rows"]), r["rows"]
    assert r["shape"] == {"B": 2, "T": 3, "H": 4} and r["meta"]["threads"] == 1
    md = (tmp_path / "results.md").read_text()
    assert "| rnn | fwd_bwd |" in md and "| bahdanau | forward |" in md
