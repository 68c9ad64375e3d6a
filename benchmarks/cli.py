"""python -m benchmarks [COMMAND] [options]: the one entry point of the benchmark harness.

Without a command: the translation model, NumPy against Keras (runner.py). Commands:
  vit          the Vision Transformer's workloads, NumPy against Keras
  bert         BERT's pre-training and fine-tuning steps against every installed Keras backend
  plot         redraw a stored run's plots from its results.json
`python -m benchmarks COMMAND --help` gives each one's options. Every run writes to a folder of
its own, benchmarks/runs/<time>-<command>/ (or --out DIR); --save replaces the stored results in
benchmarks/results/ that the docs quote. Finished experiments are scripts in tools/ (translators.py,
rnn_layers.py, kernels.py, breakdown.py) with the same options, folders and --save (run_module)."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

from numpy_transformer.cli.options import nonneg_float, positive_int

from . import machine

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
COMMANDS = ("vit", "bert", "plot")
MOVED = {"translators": "python tools/translators.py",      # finished comparisons, out of the harness
         "rnn": "python tools/rnn_layers.py", "breakdown": "python tools/breakdown.py",
         "kernels": "python tools/kernels.py"}


class Parser(argparse.ArgumentParser):
    """One-line errors (`error: argument --reps: must be a whole number >= 1, not 0`), exit 2,
    before any work; not argparse's usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser(prog, doc):
    p = Parser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=positive_int, help="timed repetitions per implementation")
    p.add_argument("--threads", type=positive_int, default=machine.available_cores(),
                   help="threads for BLAS and the Keras backends (default: every core)")
    p.add_argument("--out", help="the folder results go to (default: benchmarks/runs/<time>-<command>/)")
    p.add_argument("--save", action="store_true", help="replace the stored results that the docs quote")
    return p


def csv(allowed, aliases=None):
    """argparse type: a comma list of `allowed` (or aliases of several), 'none' for none."""
    def parse(text):
        items = []
        for x in (x.strip() for x in text.split(",")):
            if x and x != "none":
                items += (aliases or {}).get(x, (x,))
        bad = [x for x in items if x not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown value(s) {', '.join(bad)}; choose from {', '.join(allowed)}"
                                             + (f" (or {', '.join(aliases)})" if aliases else ""))
        return list(dict.fromkeys(items))
    parse.__name__ = "list"
    return parse


def out_dir(p, a, name, stored):
    """Where this run writes: --out, the stored results with --save, else a folder of its own;
    created and checked writable before any work."""
    if a.save and a.out:
        p.error(f"--save and --out exclude each other (--save writes to {_show(stored)})")
    out = stored if a.save else a.out or os.path.join(HERE, "runs", time.strftime("%Y%m%d-%H%M%S") + f"-{name}")
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, f".probe-{os.getpid()}")
        open(probe, "w").close()
        os.remove(probe)
    except OSError as e:
        p.error(f"cannot write results to {out}: {e.strerror}")
    return out


def _show(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def closing(out, stored, saved):
    """Where the results went, and what happened to the stored ones."""
    if saved:
        return f"replaced the stored results in {_show(out)}/"
    return (f"results in {_show(out)}/ (a run of its own: the stored results in {_show(stored)}/ are "
            "unchanged; --save replaces them)")


# The translation run's defaults that depend on --quick / --gpu: option -> (default, --quick, --gpu).
# A list that was given is taken as it is; the two marked * default to their part of --backends.
_ALL = "forward,fwd_bwd,train_step,decode"
DEFAULTS = {"configs": ("tiny,small,book", "tiny,small", "book,gpu"),
            "backends": ("all", "numpy,keras,gpu", "numpy,numpy-cupy,keras-gpu,portable"),  # --quick: no subprocess
            "workloads": (_ALL, "forward,train_step,decode", _ALL),
            "sweep_workloads": ("train_step", "forward", "train_step"),
            "memory_workloads": ("train_step,decode", "train_step", "none"),
            "memory_configs": ("tiny,small,book", "small", "none"),
            "sweep_backends": ("numpy,keras-graph,keras-xla,gpu", "numpy,keras-graph", "none"),          # *
            "decode_backends": ("numpy,keras-graph,portable,gpu", "numpy,keras-graph,keras-xla,gpu", "all")}  # *


def translation_parser():
    from . import configs, runner
    al = {"keras": runner.CPU_KERAS, "portable": runner.PORTABLE_KERAS, "gpu": ("keras-gpu", "numpy-cupy"),
          "all": runner.ALL_BACKENDS, "cpu": ("numpy",) + runner.CPU_KERAS}
    be, wl, pr = csv(runner.ALL_BACKENDS, al), csv(runner.WORKLOADS), csv(tuple(configs.PRESETS))
    p = parser("python -m benchmarks", __doc__)
    add = p.add_argument
    add("--quick", action="store_true", help="tiny+small only, 3 reps, short sweeps (about 1.5 min on 2 idle cores)")
    add("--gpu", action="store_true", help="what a GPU owner wants (under 10 minutes): the book and gpu presets, NumPy "
        "on CPU and CuPy, Keras on the GPU, JAX and PyTorch, no sweeps or memory rows; missing devices skip")
    add("--tf32", action="store_true", help="let GPU float32 matmuls use TF32 on every side (default: strict float32)")
    add("--configs", type=pr, help="comma list of tiny,small,book,gpu (default: tiny,small,book; quick: tiny,small)")
    add("--workloads", type=wl, help="forward,fwd_bwd,train_step,decode (default: all; quick: no fwd_bwd)")
    add("--backends", type=be, help=f"{','.join(runner.ALL_BACKENDS)}; aliases keras, portable, gpu, cpu, all "
        "(default all; quick: no subprocess backends)")
    add("--decode-backends", type=be, help="backends timed on decode (default: numpy, keras-graph, portable, gpu; "
        "quick: numpy, keras-graph, keras-xla, gpu)")
    add("--warmup", type=positive_int, default=1, help="untimed calls first; the first includes compilation")
    add("--sweeps", type=csv(configs.SWEEPS), default="batch,seq,d_model", help="batch,seq,d_model or none")
    add("--sweep-workloads", type=wl, help="workloads of the sweeps (default train_step; quick: forward)")
    add("--sweep-backends", type=be, help="default numpy,keras-graph,keras-xla,gpu; quick: numpy,keras-graph")
    add("--memory-workloads", type=wl, help="peak memory, a subprocess each (default train_step,decode; quick: "
        "train_step)")
    add("--memory-configs", type=pr, help="configs whose memory is measured (default: all run; quick: small)")
    add("--memory-backends", type=be, default="numpy,keras-graph", help="backends whose memory is measured")
    add("--profile", choices=(*configs.PRESETS, "none"), default="book", help="preset whose NumPy step is profiled")
    add("--cooldown", type=nonneg_float, default=0.02, help="seconds of idle before each timed call")
    return p


def translation_options(p, a):
    """Fill in the defaults of DEFAULTS (--gpu's where both --gpu and --quick are given)."""
    mode = 2 if a.gpu else 1 if a.quick else 0
    types = {x.dest: x.type for x in p._actions}
    for name, texts in DEFAULTS.items():
        if getattr(a, name) is None:
            value = types[name](texts[mode])
            limited = name in ("sweep_backends", "decode_backends")
            setattr(a, name, [b for b in a.backends if b in value] if limited else value)
    a.reps = a.reps or (10, 3, 5)[mode]
    a.sweeps = [] if a.gpu else a.sweeps
    a.profile = None if a.gpu or a.profile == "none" else ("small" if a.quick and a.profile == "book" else a.profile)
    return a


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:       # timing.in_subprocess: benchmarks.<module>.<function>(spec) as JSON
        module, fn = argv[1].split(".")
        result = getattr(importlib.import_module(f"benchmarks.{module}"), fn)(json.loads(argv[2]))
        print(json.dumps(result, default=str))
        return 0
    if argv[:1] and argv[0] in MOVED:
        print(f"error: `python -m benchmarks {argv[0]}` is now `{MOVED[argv[0]]}`", file=sys.stderr)
        return 2
    name = argv.pop(0) if argv[:1] and argv[0] in COMMANDS else "translation"
    if name == "plot":
        from .plots import replot
        path = argv[0] if argv else os.path.join(RESULTS, "results.json")
        if argv[1:] or not os.path.isfile(path):
            print(f"error: plot takes one stored results.json, not {' '.join(argv) or path!r}", file=sys.stderr)
            return 2
        print("wrote", ", ".join(replot(path)), "beside", path)
        return 0
    if name == "translation":
        from . import report, runner
        p = translation_parser()
        a = translation_options(p, p.parse_args(argv))
        return execute(report, runner.run, p, a, name, RESULTS, " ".join(["python -m benchmarks", *argv]))
    return run_module(importlib.import_module(f"benchmarks.{name}"), name, argv)


def run_module(module, name, argv, prog=None):
    """A harness module's command (`python -m benchmarks vit`, or a script in tools/ that calls
    this): its options (module.options), REPS, STORED results folder, run() and markdown()."""
    prog = prog or f"python -m benchmarks {name}"
    p = parser(prog, module.__doc__)
    getattr(module, "options", lambda p: None)(p)
    a = p.parse_args(argv)
    a.reps = a.reps or module.REPS
    return execute(module, module.run, p, a, name, os.path.join(RESULTS, module.STORED), " ".join([prog, *argv]))


def execute(module, run, p, a, name, stored, command):
    """Run `run(a, log, meta)` into the run's folder: results.json, module.markdown's results.md."""
    a.out = out_dir(p, a, name, stored)
    t0 = time.time()
    log = lambda s: print(f"[{time.time() - t0:6.0f} s] {s}", file=sys.stderr, flush=True)  # noqa: E731
    machine.set_gpu_precision(getattr(a, "tf32", False))
    pools = machine.pin_numpy_threads(a.threads)
    try:
        result = {"meta": {"command": command, "quick": getattr(a, "quick", False), "threads": a.threads,
                           "numpy_threadpools": pools, "options": {k: v for k, v in vars(a).items() if k != "out"}}}
        result.update(run(a, log, result["meta"]))
        result["meta"].update(duration_s=time.time() - t0, loadavg_at_end=machine.loadavg())
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump(result, f, indent=1, default=str)
        with open(os.path.join(a.out, "results.md"), "w") as f:
            f.write(module.markdown(result))
    finally:
        machine.unpin()     # the process's own thread limits back (tests run several harnesses in one)
    log(f"wrote results.json, results.md{''.join(', ' + x for x in result.get('files', []))} "
        f"in {result['meta']['duration_s']:.0f} s")
    for line in result.get("closing", []):
        log(line)
    log(closing(a.out, stored, a.save))
    return 0
