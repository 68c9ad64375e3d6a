"""Epoch times of the main job (`python -m numpy_transformer train`) on an idle machine and beside
one busy process, with OpenBLAS's own thread count (`--threads N`, N = the cores) and with the
default `--threads auto` (numpy_transformer/training/threads.py).

    python -m benchmarks.busy_machine --epochs 3 --reps 3 [--out busy.json]

Each repetition runs the four cases (threads × load) in a rotated order, each in a fresh
process with its own run directory; "busy" is `python -c 'while True: pass'` started just
before and killed just after (not pinned: the scheduler puts it where it likes, as on a laptop).
Reported: the median of all epoch times of a case (every epoch of every repetition), and how
many cores *other* processes (not this script's children) kept busy meanwhile, from /proc/stat,
because on a shared machine that is part of the result."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from numpy_transformer.cli.options import output_file


def _busy_seconds():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def _children_seconds():
    t = os.times()
    return t.children_user + t.children_system


def run_case(threads, busy, epochs, workdir):
    run = Path(workdir) / f"run-{threads}-{'busy' if busy else 'idle'}"
    cmd = [sys.executable, "-m", "numpy_transformer", "train", "--epochs", str(epochs), "--run-dir", str(run),
           "--overwrite", "--threads", str(threads)]
    b0, c0, t0 = _busy_seconds(), _children_seconds(), time.perf_counter()
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    wall = time.perf_counter() - t0
    other = max(0.0, ((_busy_seconds() - b0) - (_children_seconds() - c0)) / wall)
    hist = json.loads((run / "history.json").read_text())
    return {"threads": str(threads), "load": "busy" if busy else "idle", "epoch_s": [h["seconds"] for h in hist],
            "blas_threads": [h.get("blas_threads") for h in hist], "job_s": wall, "other_cores": other}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.busy_machine", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    p.add_argument("--reps", type=int, default=3, help="repetitions of the four cases (default 3)")
    p.add_argument("--fixed", type=int, default=os.cpu_count() or 2,
                   help="the fixed thread count compared with auto (default: the cores, OpenBLAS's own default)")
    p.add_argument("--out", type=output_file(".json"), help="write every measurement to this JSON file")
    a = p.parse_args(argv)
    cases = [(t, b) for t in (a.fixed, "auto") for b in (False, True)]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for r in range(a.reps):
            for t, b in cases[r % 4:] + cases[:r % 4]:
                row = run_case(t, b, a.epochs, work)
                rows.append({**row, "rep": r})
                print(f"rep {r}: --threads {t:>4} {row['load']}: epochs {['%.1f' % s for s in row['epoch_s']]} s, "
                      f"others used {row['other_cores']:.2f} cores, BLAS threads {row['blas_threads']}", flush=True)
    print("\n| --threads | idle: median epoch s | one busy process: median epoch s | busy / idle |\n|---|---|---|---|")
    summary = {}
    for t in (str(a.fixed), "auto"):
        med = {ld: statistics.median(s for r in rows if (r["threads"], r["load"]) == (t, ld) for s in r["epoch_s"])
               for ld in ("idle", "busy")}
        summary[t] = med
        print(f"| {t} | {med['idle']:.2f} | {med['busy']:.2f} | {med['busy'] / med['idle']:.2f}× |")
    if a.out:
        Path(a.out).write_text(json.dumps({"rows": rows, "summary": summary, "epochs": a.epochs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
