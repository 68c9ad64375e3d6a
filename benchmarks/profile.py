"""The translation harness's `--profile`: cProfile of its NumPy training step (np_backend.py) at
a preset, the hot functions by self time, the whole listing in a text file. tools/breakdown.py
builds its per-category breakdown on the same pieces."""
from __future__ import annotations

import cProfile
import io
import os
import pstats


def file_tail(path):
    parts = path.replace(os.sep, "/").split("/")
    return "/".join(parts[-2:])


def translation_step(preset_name):
    """The translation harness's NumPy training step (np_backend.py) at a preset, its FLOPs, a description."""
    from . import configs, flops, np_backend
    preset = configs.PRESETS[preset_name]
    m = np_backend.make_model(preset.cfg, configs.shared_state(preset.cfg))
    step = np_backend.workloads(m, "train_step", preset.shape, configs.make_batch(preset.cfg, preset.shape))["numpy"]
    return step, flops.workload_flops("train_step", preset.cfg, preset.shape), \
        f"translation, {preset_name} config, batch {preset.shape.batch}"


def cprofile(step, steps, warmup=1):
    for _ in range(warmup):
        step()                                   # Adam's moments, buffers
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    return pstats.Stats(prof)


def profile_train_step(preset_name="book", steps=3, path=None, top=25):
    """cProfile of the translation harness's NumPy training step at a preset: the hot functions
    by self time per step, and the whole listing in the text file `path`."""
    from .configs import PRESETS
    preset = PRESETS[preset_name]
    stats = cprofile(translation_step(preset_name)[0], steps)
    total = stats.total_tt
    label = lambda p, line, fn: fn if p == "~" else f"{file_tail(p)}:{line}({fn})"  # noqa: E731  "~": builtins, C
    by_self_time = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
    hot = [{"function": label(*k), "tottime_s": v[2] / steps, "cumtime_s": v[3] / steps, "calls": v[1] // steps,
            "share": v[2] / total if total else None} for k, v in by_self_time]
    text = io.StringIO()
    text.write(f"NumPy training step at the {preset_name} config ({preset.cfg.to_dict()}, shape "
               f"{preset.shape.to_dict()}), {steps} profiled steps after 1 warm-up, cProfile; times per step.\n\n"
               f"total per step (under cProfile): {total / steps:.3f} s\n\nTop functions by self time (tottime):\n"
               f"{'tottime s':>10} {'share':>7} {'cumtime s':>10} {'calls':>7}  function\n")
    for h in hot:
        text.write(f"{h['tottime_s']:10.4f} {100 * h['share']:6.1f}% {h['cumtime_s']:10.4f} {h['calls']:7d}  "
                   f"{h['function']}\n")
    stats.stream = text
    text.write("\nBy cumulative time (cProfile, totals over all profiled steps):\n")
    stats.sort_stats("cumulative").print_stats(30)
    if path:
        with open(path, "w") as f:
            f.write(text.getvalue())
    return {"config": preset_name, "steps": steps, "tool": "cProfile", "total_s_per_step": total / steps, "top": hot,
            "file": os.path.basename(path) if path else None}
