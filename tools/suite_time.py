"""How long the test suite takes here: `python tools/suite_time.py [--quick] [--out FILE]`.

Runs `python -m pytest` (or `-m "not slow"` with --quick) in a subprocess from the repository
root, as the README says, and writes the wall time, the counts from pytest's closing line, the
machine (cores, load average before and after, other processes' CPU use while it ran) and the
commit to a JSON file (default docs/results/suite-time.json or suite-time-quick.json), which the
README's numbers come from. On a fresh clone: the README's install first, then this."""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _busy_seconds():
    """CPU seconds the whole machine has been busy (from /proc/stat), or None."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return None
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python tools/suite_time.py", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help='only -m "not slow" (the inner loop)')
    ap.add_argument("--out", help="the JSON file; default docs/results/suite-time[-quick].json")
    a = ap.parse_args(argv)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"] + (["-m", "not slow"] if a.quick else [])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    load_before, busy0, t0 = os.getloadavg(), _busy_seconds(), time.perf_counter()
    res0 = os.times()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    res1 = os.times()
    busy1 = _busy_seconds()
    own = (res1.children_user - res0.children_user) + (res1.children_system - res0.children_system)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)", tail)}
    result = {"command": " ".join(["python"] + cmd[1:]), "commit": commit, "wall_seconds": round(wall, 1),
              "exit_status": proc.returncode, "summary": tail, "counts": counts,
              "failed": [ln for ln in proc.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))],
              "cores": os.cpu_count(),
              "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "other_processes_cores": (round(max(0.0, (busy1 - busy0 - own) / wall), 2)
                                        if busy0 is not None and busy1 is not None else None)}
    out = Path(a.out) if a.out else ROOT / "docs" / "results" / f"suite-time{'-quick' if a.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{tail} — {wall / 60:.1f} min; written to {out}")
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
