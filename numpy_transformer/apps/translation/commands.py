"""The translation subcommands: `train`, `translate`, `evaluate` and `demo` (demo.py).

Each has an `_add_<name>(subs)` that declares its options and a `_<name>(a)` that runs it;
`register` adds them to the command line (cli/main.py). Checks that need no data live in
checks.py, so every bad option is reported before any data is read; the run directory's are the
run handler's (training/run.py), used by every training command."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from ...cli.options import (HelpFormatter, UsageError, add_decoding_options, add_run_options, check_keras_combination,
                            nonneg_int, output_file, positive_float, positive_int, rate)
from ...config import kind_of
from ...data.errors import InputError
from ...data.fileio import check_writable
from . import demo
from .checks import check_init_from, check_resume, check_train
from .model_options import add_model_options, model_config

DEFAULT_RUN = "runs/embedded"


def _decoding_threads(a, cfg, sentences):
    """The BLAS policy for decoding `sentences` (None: a whole split, size unknown here) with
    --beam: one thread when the work is too small for a second to pay (training/threads.py)."""
    from ...training.threads import decoding_policy
    work = None if sentences is None else kind_of(cfg).largest_gemm(cfg, max(1, sentences) * a.beam)
    return decoding_policy(a.threads, work).start()


def _train(a):
    from ...training import run
    from ...training.checkpoint import write_json
    from ...training.loop import Interrupted, TrainingDiverged, report
    from .train import TrainArgs, check_fits, encode_split, fit, make_backend
    from .translate import Translator, evaluate, load_splits, summary_lines

    with contextlib.ExitStack() as stack:   # the BLAS thread policy is undone on every way out
        check_train(a, a.given)                               # every option that needs nothing read, first
        init = check_init_from(a) if a.init_from else None
        run_dir = run.check_run_dir(a)                      # then the run directory (training/run.py)
        if a.resume:
            ck = check_resume(a, a.given)
            args, history = run.resume_args(a, ck, TrainArgs, "train_args")
            cfg, meta, src_tok, tgt_tok, start = ck["cfg"], ck["meta"], ck["src_tok"], ck["tgt_tok"], ck["meta"]["epoch"]
            weights, optimizer = ck["weights"], ck["optimizer"]
            splits = load_splits(meta)
        else:
            splits, src_tok, tgt_tok, meta = _new_data(a)
            cfg = model_config(a, src_tok.vocab_size, tgt_tok.vocab_size)
            args = TrainArgs(epochs=a.epochs or 20, batch_size=a.batch_size, seed=a.seed, warmup=a.warmup,
                             clipnorm=a.clipnorm, label_smoothing=a.label_smoothing, time_budget=a.time_budget)
            if init is not None:
                check_init_from(a, cfg, init)             # vocabularies: known only now
            history, start, optimizer = [], 0, None
            weights = init["weights"] if init is not None else None   # same start for both backends' runs
        meta = dict(meta)
        policy = run.thread_policy(stack, a.threads, cfg, args.batch_size)
        backend = make_backend(a.backend, cfg, args, on_import=policy.tensorflow_threads, data_parallel=a.data_parallel,
                               weights=weights, optimizer=optimizer)
        meta["threads"] = policy.describe()             # with TensorFlow's pools, once its import set them
        train = encode_split(splits.train, src_tok, tgt_tok, cfg.max_len)
        val = encode_split(splits.val, src_tok, tgt_tok, cfg.max_len)
        check_fits(train, splits.train, src_tok, tgt_tok, cfg.max_len)
        print(f"data: {meta['data']}: {len(splits.train)}/{len(splits.val)}/{len(splits.test)} train/val/test pairs "
              f"({train[2]} over-long training pairs dropped); vocab {cfg.src_vocab_size} en, {cfg.tgt_vocab_size} de")
        print(run.model_line(backend, cfg, policy))
        if backend.name == "numpy":
            policy.on_change(lambda k: setattr(backend.opt, "threads", k))   # Adam's pool follows BLAS
        try:
            fit(backend, train[:2], val[:2], args, run_dir, start, history, meta, src_tok, tgt_tok,
                threads=policy, log_loss=a.log_loss)
        except (TrainingDiverged, Interrupted) as e:      # the message and exit status: training/loop.py
            return report(e, run_dir)
        result = evaluate(Translator(run_dir, a.backend), "test", beam=1, threads=policy)
        write_json(run_dir / "eval_test.json", result)
        print(summary_lines(result, "test split", examples=5))
        print(f"checkpoint, tokenizers, history.json, curves.png in {run_dir}/; try:\n"
              f"  python -m numpy_transformer translate \"{result['examples'][0]['en']}\" --checkpoint {run_dir}")
        return 0


def _new_data(a):
    """A new run's split, tokenizers and data metadata, from --data (or the embedded corpus)."""
    from ...data.tokenizer import Tokenizer
    from .translate import load_splits
    meta = {"data": str(Path(a.data).resolve()) if a.data else "embedded", "n": a.n if a.data else None,
            "data_seed": a.data_seed, "umlauts": a.umlauts}
    splits = load_splits(meta)
    src_tok = Tokenizer.fit([en for en, _ in splits.train], min_freq=a.min_freq)
    tgt_tok = Tokenizer.fit([de for _, de in splits.train], min_freq=a.min_freq)
    return splits, src_tok, tgt_tok, meta


def _translate(a):
    from .translate import Translator, describe_unknown
    check_keras_combination(a.backend, beam=a.beam)       # before the seconds-long import of Keras
    tr = Translator(a.checkpoint, a.backend)
    if a.attention_layer is not None and not 0 <= a.attention_layer < tr.attention_layers:
        raise UsageError(f"--attention-layer {a.attention_layer}: this model's decoder has layers 0 to "
                         f"{tr.attention_layers - 1}")
    good, bad = [], []
    for i, s in enumerate(a.sentences, 1):
        try:
            good.append((s, tr.encode(s)))
        except InputError as e:
            bad.append(f"sentence {i}: {e}")
    with _decoding_threads(a, tr.cfg, len(good)) as policy:
        outs = tr.translate_ids([enc.ids for _, enc in good], beam=a.beam, alpha=a.alpha, threads=policy) if good else []
    for (s, enc), o in zip(good, outs):
        note = describe_unknown(enc)
        print(f"{s} -> {o}" + (f"   ({note})" if note else ""))
    for msg in bad:
        print(f"error: {msg}", file=sys.stderr)
    if a.plot_attention and good:
        (s, enc), o = good[0], outs[0]
        print(tr.plot_attention(s, o, a.plot_attention, a.attention_layer, enc.unknown))
    return 2 if bad else 0


def _evaluate(a):
    from ...training.checkpoint import write_json
    from .translate import Translator, evaluate, summary_lines
    check_keras_combination(a.backend, beam=a.beam)
    ck = Path(a.checkpoint)
    if ck.exists():                 # the scores go beside the checkpoint: checked before any decoding
        check_writable(ck if ck.is_dir() else ck.parent, "--checkpoint")
    tr = Translator(a.checkpoint, a.backend)
    with _decoding_threads(a, tr.cfg, a.limit) as policy:
        r = evaluate(tr, a.split, beam=a.beam, alpha=a.alpha, limit=a.limit, threads=policy)
    out = Path(tr.dir) / f"eval_{a.split}_{tr.backend.name}_beam{a.beam}.json"   # beside the checkpoint file too
    write_json(out, r)
    print(summary_lines(r, f"{a.split} split", examples=5))
    print(json.dumps({k: v for k, v in r.items() if k != "examples"}, indent=1))
    n = len(r["examples"])                  # at most 10; fewer with a small --limit or skipped pairs
    print(f"(all scores and {n} example{'s' if n != 1 else ''} in {out})")
    return 0


def _add_train(subs):
    t = subs.add_parser("train", help="train a translation model (default: the embedded corpus)",
                        formatter_class=HelpFormatter)
    t.add_argument("--data", help="a deu.txt-style file (English<TAB>German[<TAB>attribution]); default: embedded corpus")
    t.add_argument("--n", type=positive_int, default=10000, help="first N pairs of --data (the book: 10000)")
    add_run_options(t, DEFAULT_RUN, 20, writes="checkpoint, tokenizers, history and plots")
    t.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start from this checkpoint's weights (e.g. to give both backends the same start); "
                        "default: random initialisation from --seed")
    t.add_argument("--batch-size", type=positive_int, default=64, help="sentence pairs per step")
    add_model_options(t)                              # --model and each model's own sizes (model_options.py)
    t.add_argument("--dropout", type=rate, default=0.1, help="dropout rate, in [0, 1)")
    t.add_argument("--max-len", type=positive_int, default=16,
                   help="longest sentence in tokens with <eos>; longer training pairs are dropped")
    t.add_argument("--warmup", type=positive_int, default=400, help="learning-rate warm-up steps (the paper: 4000)")
    t.add_argument("--label-smoothing", type=rate, default=0.0, help="label smoothing, in [0, 1)")
    t.add_argument("--clipnorm", type=positive_float, default=None, help="clip the global gradient norm to this; default: no clipping")
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="floating-point type, end to end")
    t.add_argument("--min-freq", type=positive_int, default=1, help="rarer words become <unk>")
    t.add_argument("--umlauts", choices=["keep", "translit"], default="keep", help="keep ä ö ü ß or write ae oe ue ss")
    t.add_argument("--seed", type=nonneg_int, default=0, help="initialisation, shuffling and dropout seed")
    t.add_argument("--data-seed", type=nonneg_int, default=1, help="seed of the train/val/test split")
    t.add_argument("--log-loss", action="store_true", help="curves.png with a logarithmic loss axis")
    return t


def _add_translate(subs):
    tr = subs.add_parser("translate", help="translate English sentences with a checkpoint", formatter_class=HelpFormatter)
    tr.add_argument("sentences", nargs="+", help="English sentences (each one argument: quote it)")
    add_decoding_options(tr, DEFAULT_RUN)
    tr.add_argument("--plot-attention", metavar="PNG", type=output_file(".png"),
                    help="save the first sentence's cross-attention maps to this .png (its directory must exist); "
                         "default: no plot")
    tr.add_argument("--attention-layer", type=nonneg_int, default=None, metavar="L",
                    help="decoder layer whose cross-attention is plotted, from 0; default: the last")
    return tr


def _add_evaluate(subs):
    ev = subs.add_parser("evaluate", help="corpus BLEU and chrF on the run's test split", formatter_class=HelpFormatter)
    add_decoding_options(ev, DEFAULT_RUN)
    ev.add_argument("--split", choices=["train", "val", "test"], default="test", help="which split of the run's data")
    ev.add_argument("--limit", type=positive_int, default=None, help="score only the first N pairs; default: all")
    return ev


COMMANDS = {"train": (_add_train, _train), "translate": (_add_translate, _translate),
            "evaluate": (_add_evaluate, _evaluate), "demo": (demo.add_parser, demo.command)}


def register(subs):
    """Adds the four subcommands; each parser's `run` is its handler. Returns {name: parser}."""
    parsers = {}
    for name, (add, run) in COMMANDS.items():
        parsers[name] = add(subs)
        parsers[name].set_defaults(run=run)
    return parsers
