"""The translation subcommands: `train`, `translate`, `evaluate` and `demo`.

Each has an `_add_<name>(subs)` that declares its options and a `_<name>(a)` that runs it;
`register` adds them to the command line (cli/main.py). Checks that need no data live in
checks.py, so every bad option is reported before any data is read."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from ...cli.options import (THREADS_HELP, TIME_BUDGET_HELP, HelpFormatter, UsageError, check_keras_combination,
                            nonneg_float, nonneg_int, output_file, parse_threads, positive_float, positive_int,
                            rate)
from ...cli.options import DATA_PARALLEL_HELP
from ...data.errors import InputError
from ...training.keras_import import check_data_parallel
from .checks import (check_demo, check_init_from, check_resume, check_train, model_config,
                     summarise_skipped)
from .model_kinds import add_model_options, kind_of

DEFAULT_RUN = "runs/embedded"


def _threads(a, work=None):
    from ...training.threads import ThreadPolicy
    return ThreadPolicy(a.threads, work).start()


def _decoding_threads(a, cfg, sentences):
    """The BLAS policy for decoding `sentences` (None: a whole split, size unknown here) with
    --beam: one thread when the work is too small for a second to pay (training/threads.py)."""
    from ...training.threads import decoding_policy
    work = None if sentences is None else kind_of(cfg).largest_gemm(cfg, max(1, sentences) * a.beam)
    return decoding_policy(a.threads, work).start()


def _train(a):
    given = a.given
    # the BLAS thread policy, once started, is undone on every way out (errors included)
    with contextlib.ExitStack() as stack:
        return _run_training(a, given, stack)


def _run_training(a, given, stack):
    from ...training.checkpoint import write_json
    from ...data.corpus import default_corpus
    from ...data.pairs import load_pairs, prepare_dataset
    from ...data.tokenizer import Tokenizer
    from ...training.loop import Interrupted, TrainingDiverged, report
    from .train import TrainArgs, encode_split, fit, make_backend, resume_state
    from .translate import Translator, evaluate, load_splits

    check_train(a, given)                               # everything that needs no data, first
    check_data_parallel(a.backend, a.data_parallel)     # before Keras is imported
    run_dir = Path(a.run_dir)
    init = check_init_from(a) if a.init_from else None
    if a.resume:
        ck = check_resume(a, given)
        batch_size = TrainArgs(**ck["meta"].get("train_args", {})).batch_size
        policy = stack.enter_context(_threads(a, _work(ck["cfg"], batch_size)))
        st = resume_state(run_dir, a.backend, checkpoint=ck, on_import=policy.tensorflow_threads,
                          data_parallel=a.data_parallel)
        cfg, args, backend, meta = st["cfg"], st["args"], st["backend"], st["meta"]
        src_tok, tgt_tok, history, start = st["src_tok"], st["tgt_tok"], st["history"], st["epoch"]
        if a.epochs is not None:
            args.epochs = a.epochs
        if a.time_budget is not None:
            args.time_budget = a.time_budget
        print(f"resuming {run_dir} after epoch {start} of {args.epochs}")
        splits = load_splits(meta)
    else:
        if a.data:
            pairs, clean, n = load_pairs(a.data, a.n), True, a.n
        else:
            pairs, clean, n = default_corpus(), False, None
        splits = prepare_dataset(pairs, n=n, seed=a.data_seed, clean=clean, umlauts=a.umlauts)
        src_tok = Tokenizer.fit([en for en, _ in splits.train], min_freq=a.min_freq)
        tgt_tok = Tokenizer.fit([de for _, de in splits.train], min_freq=a.min_freq)
        cfg = model_config(a, src_tok.vocab_size, tgt_tok.vocab_size)
        args = TrainArgs(epochs=a.epochs or 20, batch_size=a.batch_size, seed=a.seed, warmup=a.warmup,
                         clipnorm=a.clipnorm, label_smoothing=a.label_smoothing, time_budget=a.time_budget)
        if init is not None:
            check_init_from(a, cfg, init)             # vocabularies: known only now
        policy = stack.enter_context(_threads(a, _work(cfg, args.batch_size)))
        backend = make_backend(a.backend, cfg, args, on_import=policy.tensorflow_threads,
                               data_parallel=a.data_parallel)
        if init is not None:                          # same starting weights for both backends' runs
            backend.set_weights(init["weights"])
        meta = {"data": str(Path(a.data).resolve()) if a.data else "embedded", "n": n,
                "data_seed": a.data_seed, "umlauts": a.umlauts}
        history, start = [], 0
    meta = {**meta, "threads": policy.describe()}
    train = encode_split(splits.train, src_tok, tgt_tok, cfg.max_len)
    val = encode_split(splits.val, src_tok, tgt_tok, cfg.max_len)
    if not train[0]:
        from .batching import encode_source, encode_target  # the lengths encode_split compares with max_len
        need = min(max(len(encode_source(en, src_tok)), len(encode_target(de, tgt_tok)) - 1) for en, de in splits.train)
        raise UsageError(f"--max-len {cfg.max_len} leaves no training pair: all {len(splits.train)} are longer "
                         f"(the shortest needs --max-len {need})")
    print(f"data: {meta['data']}: {len(splits.train)}/{len(splits.val)}/{len(splits.test)} train/val/test pairs "
          f"({train[2]} over-long training pairs dropped); vocab {cfg.src_vocab_size} en, {cfg.tgt_vocab_size} de")
    print(f"model: {backend.name}, {kind_of(cfg).describe(cfg)}, {cfg.dtype}; "
          f"{backend.model.num_parameters():,} parameters; "
          f"BLAS threads {policy.reason}" + (f"; {backend.placement}" if hasattr(backend, "placement") else ""))
    done = []
    if backend.name == "numpy":
        policy.on_change(lambda k: setattr(backend.opt, "threads", k))   # Adam's pool follows BLAS
    try:
        fit(backend, train[:2], val[:2], args, run_dir, start, history, meta, src_tok, tgt_tok,
            threads=policy, log_loss=a.log_loss)
    except (TrainingDiverged, Interrupted) as e:      # the message and exit status: training/loop.py
        return report(e, run_dir)
    tr = Translator(run_dir, a.backend)
    result = evaluate(tr, "test", beam=1, threads=policy)
    write_json(run_dir / "eval_test.json", result)
    print(summary_lines(result, "test split", examples=5))
    print(f"checkpoint, tokenizers, history.json, curves.png in {run_dir}/; try:\n"
          f"  python -m numpy_transformer translate \"{result['examples'][0]['en']}\" --checkpoint {run_dir}")
    return 0


def _work(cfg, batch_size):
    return kind_of(cfg).largest_gemm(cfg, batch_size)


def summary_lines(r, what, examples=3):
    """A short human summary of an evaluation result (BLEU, chrF, counts, a few examples)."""
    lines = [f"{what} ({r['sentences']} sentences, {'greedy' if r['beam'] == 1 else 'beam ' + str(r['beam'])}): "
             f"BLEU {r['bleu']:.1f}, chrF {r['chrf']:.1f}" + summarise_skipped(r)]
    lines += [f"  {ex['en']:<36} -> {ex['hyp']:<36} (reference: {ex['ref']})" for ex in r["examples"][:examples]]
    return "\n".join(lines)


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
        from ...training.plots import plot_attention
        (s, enc), o = good[0], outs[0]
        layer = tr.attention_layers - 1 if a.attention_layer is None else a.attention_layer
        w = tr.attention(s, o, layer=layer)
        plot_attention(w, tr.source_tokens(s), (o.split() + ["<eos>"])[: w.shape[1]], a.plot_attention,
                       f"\u201c{s}\u201d \u2192 \u201c{o}\u201d" + (f"  (unknown: {', '.join(enc.unknown)})" if enc.unknown else ""),
                       layer=layer, num_layers=tr.attention_layers, what=kind_of(tr.cfg).attention_title(tr.cfg))
        print(f"attention maps (decoder layer {layer}): {a.plot_attention}" if tr.attention_layers > 1 or
              kind_of(tr.cfg).attention_title(tr.cfg) is None else f"attention map: {a.plot_attention}")
    return 2 if bad else 0


def _evaluate(a):
    from ...training.checkpoint import write_json
    from .translate import Translator, evaluate
    check_keras_combination(a.backend, beam=a.beam)
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


def _demo(a):
    from .demo import run_demo
    check_demo(a)
    from ...training.threads import ThreadPolicy
    work = a.batch_size * 10 * a.d_model * 4 * a.d_model      # the demo's FFN GEMM (max_len 10, d_ff 4·d)
    with ThreadPolicy(a.threads, work).start() as policy:
        run_demo(steps=a.steps, batch_size=a.batch_size, d_model=a.d_model, num_layers=a.layers, seed=a.seed,
                 threads=policy)
    return 0


def _add_train(subs):
    t = subs.add_parser("train", help="train a translation model (default: the embedded corpus)",
                        formatter_class=HelpFormatter)
    t.add_argument("--data", help="a deu.txt-style file (English<TAB>German[<TAB>attribution]); default: embedded corpus")
    t.add_argument("--n", type=positive_int, default=10000, help="first N pairs of --data (the book: 10000)")
    t.add_argument("--run-dir", default=DEFAULT_RUN, help="where checkpoint, tokenizers, history and plots go")
    t.add_argument("--backend", choices=["numpy", "keras"], default="numpy", help="which implementation trains")
    t.add_argument("--data-parallel", action="store_true", help=DATA_PARALLEL_HELP)
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    t.add_argument("--overwrite", action="store_true", help="start a new run in a --run-dir that holds one")
    t.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start from this checkpoint's weights (e.g. to give both backends the same start); "
                        "default: random initialisation from --seed")
    t.add_argument("--epochs", type=positive_int, default=None,
                   help="total epochs (default: 20; with --resume: the run's own)")
    t.add_argument("--time-budget", type=positive_float, default=None, metavar="MINUTES", help=TIME_BUDGET_HELP)
    t.add_argument("--batch-size", type=positive_int, default=64, help="sentence pairs per step")
    add_model_options(t)                              # --model and each model's own sizes (apps/translation/model_kinds.py)
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
    t.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N", help=THREADS_HELP)
    t.add_argument("--log-loss", action="store_true", help="curves.png with a logarithmic loss axis")
    return t


def _add_translate(subs):
    tr = subs.add_parser("translate", help="translate English sentences with a checkpoint", formatter_class=HelpFormatter)
    tr.add_argument("sentences", nargs="+", help="English sentences (each one argument: quote it)")
    tr.add_argument("--checkpoint", default=DEFAULT_RUN, help="run directory or .safetensors file")
    tr.add_argument("--backend", choices=["numpy", "keras"], default="numpy", help="which implementation decodes")
    tr.add_argument("--beam", type=positive_int, default=1, help="beam width (1 = greedy)")
    tr.add_argument("--alpha", type=nonneg_float, default=0.6,
                    help="beam length penalty exponent, >= 0 (0: no length normalisation)")
    tr.add_argument("--plot-attention", metavar="PNG", type=output_file(".png"),
                    help="save the first sentence's cross-attention maps to this .png (its directory must exist); "
                         "default: no plot")
    tr.add_argument("--attention-layer", type=nonneg_int, default=None, metavar="L",
                    help="decoder layer whose cross-attention is plotted, from 0; default: the last")
    tr.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N", help=THREADS_HELP)
    return tr


def _add_evaluate(subs):
    ev = subs.add_parser("evaluate", help="corpus BLEU and chrF on the run's test split", formatter_class=HelpFormatter)
    ev.add_argument("--checkpoint", default=DEFAULT_RUN, help="run directory or .safetensors file")
    ev.add_argument("--backend", choices=["numpy", "keras"], default="numpy", help="which implementation decodes")
    ev.add_argument("--split", choices=["train", "val", "test"], default="test", help="which split of the run's data")
    ev.add_argument("--beam", type=positive_int, default=1, help="beam width (1 = greedy)")
    ev.add_argument("--alpha", type=nonneg_float, default=0.6,
                    help="beam length penalty exponent, >= 0 (0: no length normalisation)")
    ev.add_argument("--limit", type=positive_int, default=None, help="score only the first N pairs; default: all")
    ev.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N", help=THREADS_HELP)
    return ev


def _add_demo(subs):
    d = subs.add_parser("demo", help="train a small model to reverse sequences (synthetic, no data needed)",
                        formatter_class=HelpFormatter)
    d.add_argument("--steps", type=positive_int, default=1500, help="training steps")
    d.add_argument("--batch-size", type=positive_int, default=32, help="sequences per step")
    d.add_argument("--d-model", type=positive_int, default=64, help="model width (4 heads, d_ff = 4·d_model)")
    d.add_argument("--layers", type=positive_int, default=2, help="encoder layers = decoder layers")
    d.add_argument("--seed", type=nonneg_int, default=0, help="initialisation and data seed")
    d.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N", help=THREADS_HELP)
    return d


COMMANDS = {"train": (_add_train, _train), "translate": (_add_translate, _translate),
            "evaluate": (_add_evaluate, _evaluate), "demo": (_add_demo, _demo)}


def register(subs):
    """Adds the four subcommands; each parser's `run` is its handler. Returns {name: parser}."""
    parsers = {}
    for name, (add, run) in COMMANDS.items():
        parsers[name] = add(subs)
        parsers[name].set_defaults(run=run)
    return parsers
