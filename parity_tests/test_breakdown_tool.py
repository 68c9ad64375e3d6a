"""tools/breakdown.py (a finished experiment, moved out of benchmarks/): each model's NumPy
training step, its cProfile self times sorted into categories; and the harness's --profile
(benchmarks/profile.py) that it shares the pieces with."""
import pytest

from tool_scripts import load_tool

from benchmarks import profile

bd = load_tool("breakdown")


def test_the_categories_share_the_whole_step_and_the_gemms_are_found(monkeypatch):
    monkeypatch.setattr(bd, "step_for", lambda model: profile.translation_step("tiny"))
    r = bd.breakdown("translation-book", reps=2, profiled=1, peak_gflops=10.0)
    assert set(r["categories_s"]) == {name for name, _ in bd.CATEGORIES}
    assert sum(r["categories_share"].values()) == pytest.approx(1.0)
    assert r["categories_share"]["2-D GEMMs (projections, FFN, output layer; dW, db)"] > 0
    assert r["categories_share"]["optimizer (Adam, its threads, clipping)"] > 0
    assert r["median_s"] > 0 and r["gemm_floor_s"] == pytest.approx(r["flops"] / 10e9)


def test_profile_lists_the_hot_functions_and_writes_the_listing(tmp_path):
    out = tmp_path / "prof.txt"
    p = profile.profile_train_step("tiny", steps=1, path=str(out), top=5)
    assert len(p["top"]) == 5 and p["file"] == "prof.txt" and p["total_s_per_step"] > 0
    assert [h["tottime_s"] for h in p["top"]] == sorted((h["tottime_s"] for h in p["top"]), reverse=True)
    assert "Top functions by self time" in out.read_text()
