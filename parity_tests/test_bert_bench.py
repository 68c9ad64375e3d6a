"""The BERT benchmark (benchmarks/bert.py, python -m benchmarks bert): its FLOP count against the matmuls the NumPy model
performs, and a short end-to-end run writing JSON and markdown."""
import json

import numpy as np
import pytest
from requires import require

from benchmarks import bert as bench, cli
from numpy_transformer import BertConfig, BertEncoder
from test_benchmarks import MatmulCounter


@pytest.mark.parametrize("task", ["mlm", "cls"])
def test_flops_equal_the_matmuls_the_numpy_bert_performs(monkeypatch, task):
    cfg = BertConfig(vocab_size=40, d_model=12, num_heads=3, d_ff=20, num_layers=2, max_len=16)
    batch = bench.make_batch(cfg, 6, 10, task)
    m = BertEncoder(cfg, seed=0)
    counter = MatmulCounter(monkeypatch)
    if task == "mlm":
        chosen = batch.labels != cfg.pad_id
        m.forward(batch.ids, batch.segments, positions=chosen)
    else:
        m.forward(batch.ids, batch.segments, head="cls")
    assert counter.calls > 0
    assert counter.take() * 3 == bench.step_flops(cfg, batch, task)


@pytest.mark.slow
def test_a_short_run_writes_json_and_markdown(tmp_path):
    require("keras")
    assert cli.main(["bert", "--configs", "tiny", "--workloads", "pretrain_step", "--keras-backends", "tensorflow",
                     "--reps", "2", "--threads", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert {r["impl"] for r in rows} == {"numpy", "keras-tensorflow"}
    assert all(r["status"] == "ok" and len(r["times_s"]) == 2 and r["gflops_per_s"] > 0 for r in rows)
    assert "| tiny | pretrain_step | tensorflow |" in (tmp_path / "results.md").read_text()
    [t] = json.loads((tmp_path / "results.json").read_text())["targets"]
    assert t["fastest"] == "keras-tensorflow" and t["value"] > 0 and t["n"] == 2
    assert "## Targets" in (tmp_path / "results.md").read_text()


def test_targets_take_the_fastest_backend_and_the_numpy_timed_beside_it():
    def row(impl, kb, times):
        return {"config": "default", "workload": "finetune_step", "impl": impl, "keras_backend": kb,
                "status": "ok", "times_s": times, "median_s": float(np.median(times)), "iqr_s": 0.0}
    rows = [row("numpy", "tensorflow", [3.0, 3.0, 3.0]), row("keras-tensorflow", "tensorflow", [2.0, 2.0, 2.0]),
            row("numpy", "jax", [2.0, 2.2, 2.0]), row("keras-jax", "jax", [2.5, 2.0, 2.5])]
    [t] = bench.targets(rows)
    assert t["fastest"] == "keras-tensorflow" and t["value"] == pytest.approx(1.5) and t["passed"] is False
    rows[1]["status"] = "failed: boom"                       # a failed backend is not a candidate
    [t] = bench.targets(rows)
    assert t["fastest"] == "keras-jax" and t["value"] == pytest.approx(0.8) and t["passed"] is True
    md = bench.markdown({"rows": rows, "meta": {"command": "x", "threads": 2}})
    assert "| default | finetune_step |" in md and "✅ met" in md
