"""benchmarks/freed_memory.py, the page-fault experiment: its two glibc settings do what it says
(a loop that makes and frees a step's worth of large arrays stops page-faulting), and a short
run compares both settings, each in fresh processes. Every case runs in a subprocess: the
settings are process-wide and cannot be undone."""
import json
import os
import subprocess
import sys

import pytest

from benchmarks import freed_memory as bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOP = """
import json, resource, sys
import numpy as np
from benchmarks.freed_memory import keep_freed_memory
state = keep_freed_memory() if sys.argv[1] == "kept" else None
def step():                                          # a step's activations: made, used, freed together
    acts = [np.ones(3_300_000, np.float32) for _ in range(4)]   # 4 × 13.2 MB, written in full
    return sum(float(a[::4096].sum()) for a in acts)
for _ in range(3):                                   # warm-up: glibc's dynamic thresholds settle
    step()
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
r1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"faults_per_loop": (r1 - r0) / 10, "state": state}))
"""
pytestmark = pytest.mark.skipif(not bench.glibc(), reason="the experiment sets glibc's malloc thresholds")


def run(mode):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    p = subprocess.run([sys.executable, "-c", LOOP, mode], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env={**env, "PYTHONPATH": ROOT})
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_kept_memory_stops_the_page_faults():
    default, kept = run("default"), run("kept")
    assert kept["state"] is True
    # 4 × 13.2 MB is 12 900 pages: freed together, the heap's top passes glibc's trim threshold
    # and goes back to the system, so glibc's defaults re-fault thousands of them on every loop
    # (2 128 observed); kept, none but a few of Python's own
    assert default["faults_per_loop"] > 1000, default
    assert kept["faults_per_loop"] < 50, kept


@pytest.mark.slow
def test_a_short_run_compares_both_settings(tmp_path):
    assert bench.main(["--models", "bert-finetune", "--rounds", "1", "--reps", "1", "--threads", "1",
                       "--out", str(tmp_path)]) == 0
    [row] = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [r["state"] for r in row["runs"]["default"]] == ["glibc's defaults"]
    assert [r["state"] for r in row["runs"]["kept"]] == ["kept"]
    assert row["runs"]["default"][0]["page_faults_per_step"] > row["runs"]["kept"][0]["page_faults_per_step"]
    assert "| bert-finetune |" in (tmp_path / "results.md").read_text()
