"""Profile of the NumPy training step (forward, loss, backward, Adam) at a given preset:
cProfile's flat list (self time per function: the hotspots) and, if installed, pyinstrument's
call tree, written to one text file."""
from __future__ import annotations

import cProfile
import io
import os
import pstats

from . import configs, np_backend


def _label(key):
    path, line, func = key
    if path == "~":
        return func   # builtins / C functions, e.g. <built-in method numpy...matmul>
    parts = path.replace(os.sep, "/").split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{short}:{line}({func})"


def profile_train_step(preset_name="book", steps=3, path=None, top=25):
    preset = configs.PRESETS[preset_name]
    model = np_backend.make_model(preset.cfg, configs.shared_state(preset.cfg))
    step = np_backend.workloads(model, "train_step", preset.shape, configs.make_batch(preset.cfg, preset.shape))["numpy"]
    step()   # warm-up: Adam's moment buffers
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])
    hot = [{"function": _label(k), "tottime_s": v[2] / steps, "cumtime_s": v[3] / steps, "calls": v[1] // steps,
            "share": v[2] / total if total else None} for k, v in rows[:top]]
    text = io.StringIO()
    text.write(f"NumPy training step at the {preset_name} config ({preset.cfg.to_dict()}, shape "
               f"{preset.shape.to_dict()}), {steps} profiled steps after 1 warm-up, cProfile; times per step.\n\n")
    text.write(f"total per step (under cProfile): {total / steps:.3f} s\n\n")
    text.write("Top functions by self time (tottime):\n")
    text.write(f"{'tottime s':>10} {'share':>7} {'cumtime s':>10} {'calls':>7}  function\n")
    for h in hot:
        text.write(f"{h['tottime_s']:10.4f} {100 * h['share']:6.1f}% {h['cumtime_s']:10.4f} {h['calls']:7d}  "
                   f"{h['function']}\n")
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(30)
    text.write("\nBy cumulative time (cProfile, totals over all profiled steps):\n" + s.getvalue())
    tree = _pyinstrument(step, steps)
    if tree:
        text.write("\npyinstrument call tree (totals over the profiled steps):\n" + tree)
    if path:
        with open(path, "w") as f:
            f.write(text.getvalue())
    return {"config": preset_name, "steps": steps, "tool": "cProfile" + (" + pyinstrument" if tree else ""),
            "total_s_per_step": total / steps, "top": hot, "file": os.path.basename(path) if path else None}


def _pyinstrument(step, steps):
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    p = Profiler(interval=0.001)
    p.start()
    for _ in range(steps):
        step()
    p.stop()
    return p.output_text(unicode=False, color=False, show_all=False)
