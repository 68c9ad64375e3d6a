"""python tools/translators.py --minutes 8: the attentional RNN translator vs the Transformer,
trained on the same split of the same data for the same wall-clock budget, then compared on
best validation accuracy, test BLEU and chrF (greedy), training time, parameters, greedy decoding
speed (measured after both runs, the models taking turns), three example sentences and one
sentence's attention maps.

Each model is trained by the project's own command (`python -m numpy_transformer train ...
--time-budget M`, in a subprocess, exactly as a user would run it), then scored in this process.
The machine's load average is sampled every 10 s during each run and recorded, because on a
shared machine a wall-clock budget buys less work when other jobs hold the cores. Writes
results.json, results.md, curves.png and attention-<model>.png to a folder of its own (or --out; --save
replaces the stored docs/results/translators/), the runs (checkpoints) to --runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))     # run as a script from anywhere: the package and benchmarks/ (its --out/--save)

from numpy_transformer.cli.options import positive_float, positive_int  # noqa: E402
DATA = ROOT / ".." / "shared" / "data" / "deu-eng-50k.tsv"
SENTENCES = ["i'm thirsty", "are we done", "we won"]
COMMON = ["--max-len", "16", "--batch-size", "64", "--dropout", "0.1", "--warmup", "1000", "--seed", "0"]
MODELS = {   # the Transformer: the README's real-data settings; the RNN: see docs/rnn_attention.md
    "transformer": ["--model", "transformer", "--d-model", "128", "--heads", "4", "--d-ff", "512", "--layers", "2"],
    "rnn-attention": ["--model", "rnn-attention", "--embed-dim", "128", "--hidden", "256", "--score", "general"],
}
TINY = {"transformer": ["--model", "transformer", "--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1"],
        "rnn-attention": ["--model", "rnn-attention", "--embed-dim", "8", "--hidden", "16"]}


class LoadSampler:
    """os.getloadavg() every `period` seconds while a run lasts."""

    def __init__(self, period=10.0):
        self.period, self.samples, self._stop = period, [], threading.Event()

    def __enter__(self):
        self.samples.append(os.getloadavg()[0])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.period):
            self.samples.append(os.getloadavg()[0])

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self):
        s = self.samples
        return {"mean_1min": sum(s) / len(s), "max_1min": max(s), "samples": len(s)}


def train(name, args, out):
    run_dir = args.runs / name
    cmd = [sys.executable, "-m", "numpy_transformer", "train", "--data", str(args.data), "--n", str(args.n),
           "--epochs", str(args.max_epochs), "--time-budget", str(args.minutes), "--run-dir", str(run_dir),
           "--overwrite", "--threads", args.threads, *COMMON, *(TINY if args.tiny else MODELS)[name]]
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    with LoadSampler() as load:
        r = subprocess.run(cmd, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"training {name} failed (exit {r.returncode})")
    return run_dir, time.perf_counter() - t0, load.summary(), cmd


def score(name, run_dir, wall, load, cmd, out):
    from numpy_transformer.apps.translation.translate import Translator, evaluate
    from numpy_transformer.training.plots import plot_attention
    tr = Translator(run_dir)
    history = json.loads((run_dir / "history.json").read_text())
    best = max(history, key=lambda h: (h["val_acc"], -h["epoch"]))
    ev = evaluate(tr, "test", beam=1)
    examples = {}
    for s in SENTENCES:          # one at a time: a sentence of unknown words is reported, not fatal
        try:
            examples[s] = tr.translate([s])[0]
        except ValueError as e:
            examples[s] = f"(not translated: {e})"
    s = SENTENCES[1] if not examples[SENTENCES[1]].startswith("(") else ev["examples"][0]["en"]
    o = tr.translate([s])[0]
    w = tr.attention(s, o)
    png = out / f"attention-{name}.png"
    layer = tr.attention_layers - 1
    plot_attention(w, tr.source_tokens(s), (o.split() + ["<eos>"])[: w.shape[1]], png,
                   f"{name}: \u201c{s}\u201d \u2192 \u201c{o}\u201d", layer=layer, num_layers=tr.attention_layers,
                   what=tr.attention_title)
    return {"model": name, "command": " ".join(cmd[1:]), "config": tr.cfg.to_dict(),
            "parameters": int(tr.backend.model.num_parameters()), "epochs": len(history),
            "training_seconds": sum(h["seconds"] + h.get("val_seconds", 0.0) for h in history),
            "wall_seconds_with_startup_and_test": wall,
            "best_val_acc": best["val_acc"], "best_val_epoch": best["epoch"],
            "final_train_acc": history[-1]["train_acc"], "test_bleu": ev["bleu"], "test_chrf": ev["chrf"],
            "test_sentences": ev["sentences"], "test_skipped": ev["skipped"],
            "examples": examples,
            "attention_png": png.name, "load_average_during_training": load}


def decoding_speed(run_dirs, reps=3):
    """Greedy decoding of the test split's sources, batches of 64, BLAS pinned to one thread (the
    same for both models, and steadier than two on a shared machine); the models take turns,
    `reps` rounds, so a burst of load hits both. {name: (median sentences/s, every rep's)}."""
    from threadpoolctl import threadpool_limits
    from numpy_transformer.apps.translation.translate import Translator, load_splits
    trs = {name: Translator(d) for name, d in run_dirs.items()}
    ids = {}
    for name, tr in trs.items():
        ids[name] = []
        for en, _ in load_splits(tr.meta).test:
            try:
                ids[name].append(tr.encode(en)[0])
            except ValueError:
                pass
    speeds = {name: [] for name in trs}
    with threadpool_limits(1):
        for _ in range(reps):
            for name, tr in trs.items():
                t0 = time.perf_counter()
                tr.translate_ids(ids[name])
                speeds[name].append(len(ids[name]) / (time.perf_counter() - t0))
    return {name: (sorted(s)[len(s) // 2], s) for name, s in speeds.items()}


def plot_histories(runs, out, minutes):
    """Both runs' loss and accuracy per epoch in one figure (out/curves.png)."""
    from numpy_transformer.training.plots import plot_curves
    hists = [json.loads((d / "history.json").read_text()) for d in runs.values()]
    plot_curves(hists, out / "curves.png", labels=list(runs),
                title=f"same data, split and wall-clock budget ({minutes:g} min each)")


def markdown(results, meta):
    rows = [("best val acc (epoch)", lambda r: f"{r['best_val_acc']:.3f} ({r['best_val_epoch']})"),
            ("test BLEU / chrF (greedy)", lambda r: f"{r['test_bleu']:.1f} / {r['test_chrf']:.1f}"),
            ("epochs in the budget", lambda r: str(r["epochs"])),
            ("training + validation time", lambda r: f"{r['training_seconds'] / 60:.1f} min"),
            ("parameters", lambda r: f"{r['parameters']:,}"),
            ("greedy decoding, test split, 1 BLAS thread (median of rounds)",
             lambda r: f"{r['greedy_sentences_per_second']:.0f} sentences/s"),
            ("load average during training (mean / max)",
             lambda r: f"{r['load_average_during_training']['mean_1min']:.1f} / "
                       f"{r['load_average_during_training']['max_1min']:.1f}")]
    rows += [(f"\u201c{s}\u201d", lambda r, s=s: r["examples"][s]) for s in SENTENCES]
    lines = [f"# RNN translator vs Transformer, {meta['minutes']:g} minutes each", "",
             f"Data: {meta['data']} (first {meta['n']} pairs, split 80/10/10 with seed 1); "
             f"{meta['cpus']} CPUs, --threads {meta['threads']}; {meta['date']}.", "",
             "| | " + " | ".join(r["model"] for r in results) + " |", "|---|" + "---|" * len(results)]
    lines += [f"| {label} | " + " | ".join(f(r) for r in results) + " |" for label, f in rows]
    return "\n".join(lines) + "\n"


def main(argv=None):
    from benchmarks.cli import Parser, closing, out_dir
    ap = Parser(prog="python tools/translators.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=positive_float, default=8.0, help="training budget per model (default: 8)")
    ap.add_argument("--data", type=Path, default=DATA, help="deu.txt-style file (default: "
                    "../shared/data/deu-eng-50k.tsv)")
    ap.add_argument("--n", type=positive_int, default=50000, help="first N pairs (default: 50000, "
                    "all of the shared file)")
    ap.add_argument("--max-epochs", type=positive_int, default=200, help="epoch cap; the budget normally stops first")
    ap.add_argument("--threads", default="auto", help="BLAS threads for both runs (default: auto)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--tiny", action="store_true", help="tiny models: a quick check that the script runs")
    ap.add_argument("--decode-reps", type=positive_int, default=3, help="rounds of the decoding-speed measurement")
    ap.add_argument("--out", help="results.json, results.md and the attention maps (default: "
                    "benchmarks/runs/<time>-translators/)")
    ap.add_argument("--save", action="store_true", help="replace the stored results, docs/results/translators/")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "translators", help="the two runs' directories")
    a = ap.parse_args(argv)
    if not a.data.exists():
        ap.error(f"no data at {a.data}: pass --data (a deu.txt-style English<TAB>German file)")
    stored = str(ROOT / "docs" / "results" / "translators")
    a.out = Path(out_dir(ap, a, "translators", stored))
    meta = {"minutes": a.minutes, "data": str(a.data.resolve()), "n": a.n, "threads": a.threads,
            "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average_at_start": os.getloadavg()}
    results, runs = [], {}
    for name in a.models:
        run_dir, *rest = train(name, a, a.out)
        runs[name] = run_dir
        results.append(score(name, run_dir, *rest, a.out))
        (a.out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    plot_histories(runs, a.out, a.minutes)
    speeds = decoding_speed(runs, a.decode_reps)
    for r in results:
        r["greedy_sentences_per_second"], r["greedy_sentences_per_second_reps"] = speeds[r["model"]]
    meta["load_average_at_end"] = os.getloadavg()
    (a.out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    (a.out / "results.md").write_text(markdown(results, meta))
    print(markdown(results, meta))
    print(closing(str(a.out), stored, a.save))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
