"""The ViT benchmark (benchmarks/vit.py, python -m benchmarks vit): its FLOP count against the matmuls the NumPy model
performs, and a short end-to-end run writing JSON and markdown."""
import json

import numpy as np
import pytest

from benchmarks import cli, vit as bench
from numpy_transformer import ViTConfig, VisionTransformer
from requires import require
from test_benchmarks import MatmulCounter


@pytest.mark.parametrize("kernels", ["plain", "fast"])
def test_flops_equal_the_matmuls_the_numpy_vit_performs(monkeypatch, kernels):
    cfg = ViTConfig(8, 3, 2, 7, d_model=12, num_heads=3, d_ff=20, num_layers=2)
    m = VisionTransformer(cfg, kernels=kernels)
    images = np.random.default_rng(0).random((5, 8, 8, 3))
    counter = MatmulCounter(monkeypatch)
    m.forward(images)
    assert counter.calls > 0 and counter.take() == bench.forward_flops(cfg, 5)
    # by hand: patches 2·5·16·12·12 = 23040; per layer (T = 17) projections 2·5·17·12·12·4 = 97920,
    # scores and values 2·5·17·17·12·2 = 69360, MLP 2·5·17·12·20·2 = 81600; head 2·5·12·7 = 840
    assert bench.forward_flops(cfg, 5) == 23040 + 2 * (97920 + 69360 + 81600) + 840


@pytest.mark.slow
def test_a_short_run_writes_json_and_markdown(tmp_path):
    require("keras")
    backends = "numpy,keras-graph"
    assert cli.main(["vit", "--configs", "tiny", "--reps", "2", "--backends", backends, "--threads", "1",
                     "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert {(r["workload"], r["impl"]) for r in rows} == {(w, b) for w in bench.WORKLOADS for b in backends.split(",")}
    assert all(r["status"] == "ok" and len(r["times_s"]) == 2 and r["gflops_per_s"] > 0 for r in rows)
    md = (tmp_path / "results.md").read_text()
    assert "| tiny | train_step | keras-graph |" in md and "## Targets" in md
    [t] = json.loads((tmp_path / "results.json").read_text())["targets"]
    assert t["config"] == "tiny" and t["fastest"] == "keras-graph" and t["n"] == 2


def test_targets_pair_numpy_with_the_fastest_compiled_mode():
    def row(impl, times):
        return {"config": "cifar-tiny", "workload": "train_step", "impl": impl, "status": "ok", "times_s": times,
                "median_s": float(np.median(times))}
    rows = [row("numpy", [1.0, 1.2, 1.1]), row("keras-eager", [0.1, 0.1, 0.1]), row("keras-graph", [0.5, 0.6, 0.55]),
            row("keras-xla", [2.0, 2.0, 2.0])]
    [t] = bench.targets(rows)
    assert t["fastest"] == "keras-graph" and t["value"] == pytest.approx(2.0) and t["passed"] is False
    rows[0]["workload"] = "forward"                          # no NumPy train_step: no target
    assert bench.targets(rows) == []


def test_targets_take_a_subprocess_backend_with_the_numpy_timed_beside_it():
    def row(impl, times, **kw):
        return {"config": "cifar-tiny", "workload": "train_step", "impl": impl, "status": "ok", "times_s": times,
                "median_s": float(np.median(times)), **kw}
    rows = [row("numpy", [1.0, 1.0, 1.0]), row("keras-graph", [0.9, 0.9, 0.9]),
            row("keras-jax", [0.5, 0.5, 0.5], numpy_same_process_times_s=[1.5, 1.5, 1.5],
                numpy_same_process_median_s=1.5)]
    [t] = bench.targets(rows)
    assert t["fastest"] == "keras-jax" and t["value"] == pytest.approx(3.0)   # 1.5 / 0.5, not 1.0 / 0.5
    assert t["numpy_median_s"] == 1.5


@pytest.mark.slow
def test_keras_on_jax_runs_in_its_own_process(tmp_path):
    require("jax")
    assert cli.main(["vit", "--configs", "tiny", "--workloads", "train_step", "--backends", "numpy,keras-jax",
                     "--reps", "2", "--threads", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    jax_row = next(r for r in data["rows"] if r["impl"] == "keras-jax")
    assert jax_row["status"] == "ok" and len(jax_row["numpy_same_process_times_s"]) == 2
    [t] = data["targets"]
    assert t["n"] == 2 and t["fastest"] in ("keras-jax",)
