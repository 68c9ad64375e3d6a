"""`python -m numpy_transformer bert pretrain|finetune` and `fill-mask` (docs/bert.md), registered
into the command line (cli/main.py) by `register`; each parser's `run` is its handler.

pretrain: a WordPiece vocabulary (English + German) trained on the training split, then
masked-language-model pre-training on its sentences; held-out masked-token accuracy beside the
most-frequent-token baseline. finetune: the pre-trained encoder's [CLS] head on the
translation-pair task of the same split; held-out accuracy beside the majority baseline.
Both: --backend numpy|keras from the same initial weights, progress bars, a checkpoint after
every epoch (--resume), history.json, curves.png, result.json. Every option and the checkpoint
are checked before the data is read."""
from __future__ import annotations

import contextlib
import math
import time

from ...config import BertConfig
from .checkpoint import TOKENIZER, checkpoint_file, load_bert_run
from .fill_mask import fill_mask
from ...cli.options import (THREADS_HELP, HelpFormatter, UsageError, add_run_options, check_keras_combination,
                            parse_threads, positive_float, positive_int, rate, whole_number)
from ...training import run

PRETRAIN_RUN, FINETUNE_RUN = "runs/bert-mlm", "runs/bert-pairs"
# what --resume takes from the command line; the model, data and training settings are the run's
RESUME_OPTIONS = {"backend", "epochs", "threads", "time_budget", "quiet", "data_parallel"}


def _vocab_size(text):
    """argparse type of --vocab-size: room for the five specials and at least one subword."""
    return whole_number(text, 6)


def _train_options(p, run_dir, epochs, lr, warmup):
    add_run_options(p, run_dir, epochs, writes="checkpoint, tokenizer, history and plots")
    p.add_argument("--batch-size", type=positive_int, default=128, help="sequences per Adam step")
    p.add_argument("--lr", type=positive_float, default=lr, help="peak learning rate of the warm-up + cosine schedule")
    p.add_argument("--warmup", type=positive_int, default=warmup, help="linear warm-up steps")
    p.add_argument("--seed", type=int, default=0, help="initial weights, shuffling, masking and dropout")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(subs):
    b = subs.add_parser("bert", formatter_class=HelpFormatter,
                        help="BERT-style encoder: MLM pre-training and [CLS] fine-tuning on the sentence pairs")
    tasks = b.add_subparsers(dest="bert_command", required=True)
    p = tasks.add_parser("pretrain", formatter_class=HelpFormatter,
                         help="WordPiece vocabulary + masked-language-model pre-training")
    p.add_argument("--data", help="English<TAB>German file; default ../shared/data/deu-eng-50k.tsv from the project root")
    p.add_argument("--n", type=positive_int, default=None, help="first N pairs of --data; default: all")
    p.add_argument("--data-seed", type=int, default=1, help="seed of the train/val/test split")
    p.add_argument("--vocab-size", type=_vocab_size, default=8000, help="WordPiece vocabulary (joint English + German)")
    p.add_argument("--tokenizer", metavar="JSON", help="use this tokenizer (e.g. another run's tokenizer.json) instead "
                   "of training one: Hugging Face's WordPiece training is not repeatable run to run "
                   "(huggingface/tokenizers#1794), so compare backends on one tokenizer; default: train one")
    p.add_argument("--d-model", type=positive_int, default=128, help="model width")
    p.add_argument("--heads", type=positive_int, default=4, help="attention heads (must divide --d-model)")
    p.add_argument("--d-ff", type=positive_int, default=512, help="feed-forward inner width")
    p.add_argument("--layers", type=positive_int, default=4, help="encoder layers")
    p.add_argument("--max-len", type=positive_int, default=48, help="longest sequence in tokens with [CLS]/[SEP]; "
                   "longer ones are dropped")
    p.add_argument("--dropout", type=rate, default=0.1, help="dropout rate")
    p.add_argument("--pre-ln", action="store_true", help="pre-LN layers (default: post-LN, as in BERT)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 with --backend keras needs the TensorFlow Keras backend")
    _train_options(p, PRETRAIN_RUN, 8, 1e-3, 300)
    p.set_defaults(run=lambda a: _run(a, "mlm"))

    f = tasks.add_parser("finetune", formatter_class=HelpFormatter,
                         help="fine-tune the [CLS] head: is the German sentence a translation of the English one?")
    f.add_argument("--init", default=PRETRAIN_RUN, help="the pre-trained run (its weights, tokenizer and data split)")
    f.add_argument("--from-scratch", action="store_true",
                   help="same model, random initial weights (the baseline that shows what pre-training gives)")
    _train_options(f, FINETUNE_RUN, 3, 1e-4, 100)
    f.set_defaults(run=lambda a: _run(a, "cls"))

    m = subs.add_parser("fill-mask", formatter_class=HelpFormatter,
                        help="the pre-trained model's top-k tokens for each [MASK] in a sentence")
    m.add_argument("texts", nargs="+", help='sentences with [MASK], e.g. "i am very [MASK] today" (quote each)')
    m.add_argument("--checkpoint", default=PRETRAIN_RUN, help="a bert pretrain run directory")
    m.add_argument("--top-k", type=positive_int, default=5,
                   help="how many of the most probable whole-word tokens to show per [MASK], at most the "
                        "vocabulary's (a [MASK] stands for a whole word, so specials and ## word pieces are not "
                        "offered; the probabilities are the model's over its whole vocabulary)")
    m.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N", help=THREADS_HELP)
    m.set_defaults(run=fill_mask)
    return {"bert": b, "bert pretrain": p, "bert finetune": f, "fill-mask": m}


# ---------------------------------------------------------------- pretrain / finetune

def _config(a, vocab_size):
    """The BertConfig the options describe; options that describe no valid model (heads vs
    d_model, …) are a UsageError."""
    try:
        return BertConfig(vocab_size=vocab_size, d_model=a.d_model, num_heads=a.heads, d_ff=a.d_ff, num_layers=a.layers,
                          max_len=a.max_len, dropout=a.dropout, norm_first=a.pre_ln, dtype=a.dtype)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _checks(a, task):
    """Everything that needs no data: the run's options, the source checkpoint, the model size,
    the --backend keras combinations; then the run directory (training/run.py) and, for
    --resume, its checkpoint. Returns the run directory, the resumed run and the source run."""
    from .data import check_data_path
    run.check_run_options(a, RESUME_OPTIONS)
    source = None
    if not a.resume and task == "cls":
        source = load_bert_run(a.init, "mlm")
        check_keras_combination(a.backend, source["cfg"].dtype)
    elif not a.resume:
        _config(a, a.vocab_size)
        check_keras_combination(a.backend, a.dtype)
        a.data = str(check_data_path(a.data))
        if a.tokenizer:
            from ...data.wordpiece import WordPieceTokenizer
            a.tokenizer = WordPieceTokenizer.load(a.tokenizer)
    run_dir = run.check_run_dir(a)
    if not a.resume:
        return run_dir, None, source
    ck = load_bert_run(run_dir, task)
    check_keras_combination(a.backend, ck["cfg"].dtype)
    return run_dir, ck, None


def _run(a, task):
    from . import data as bd
    from .train import BertArgs, make_backend
    from ...data.wordpiece import WordPieceTokenizer
    run_dir, resumed, source = _checks(a, task)
    if resumed is not None:
        meta, tok, cfg, weights, optimizer = dict(resumed["meta"]), resumed["tok"], resumed["cfg"], resumed["weights"], \
            resumed["optimizer"]
        args, history = run.resume_args(a, resumed, BertArgs, "bert_args")
    else:
        args = BertArgs(epochs=a.epochs or (BertArgs.epochs if task == "mlm" else 3), batch_size=a.batch_size,
                        lr=a.lr, warmup_steps=a.warmup, seed=a.seed, time_budget=a.time_budget)
        history, weights, optimizer = [], None, None
        if task == "mlm":
            meta = {"model": "bert", "task": "mlm", "data": a.data, "n": a.n, "data_seed": a.data_seed}
        else:
            meta = {**{k: source["meta"][k] for k in ("data", "n", "data_seed")}, "model": "bert", "task": "cls",
                    "init": str(checkpoint_file(a.init)), "from_scratch": a.from_scratch}
            tok, cfg = source["tok"], source["cfg"]
            weights = None if a.from_scratch else source["weights"]
    splits = bd.load_splits(bd.check_data_path(meta["data"]), meta["n"], meta["data_seed"])
    if task == "mlm" and resumed is None:
        tok = a.tokenizer or WordPieceTokenizer.train(bd.sentences(splits.train), a.vocab_size)
        cfg = _config(a, tok.vocab_size)
    data = (bd.mlm_data if task == "mlm" else bd.pair_data)(splits, tok, cfg, args)
    meta["baseline"] = data["baseline"]
    with contextlib.ExitStack() as stack:       # the BLAS thread policy is undone on every way out
        policy = run.thread_policy(stack, a.threads, cfg, args.batch_size)
        backend = make_backend(a.backend, cfg, task, args, math.ceil(data["n_train"] / args.batch_size), weights,
                               on_import=policy.tensorflow_threads, data_parallel=a.data_parallel, optimizer=optimizer)
        meta["threads"] = policy.describe()             # with TensorFlow's pools, once its import set them
        return _train(a, task, run_dir, cfg, tok, args, meta, history, data, backend, policy)


def _train(a, task, run_dir, cfg, tok, args, meta, history, data, backend, policy):
    """Train, evaluate and report: result.json and the closing lines."""
    from . import data as bd
    from .train import evaluate, fit, run_title
    from ...training.checkpoint import write_json
    from ...training.loop import Interrupted, TrainingDiverged, report
    what = "MLM pre-training" if task == "mlm" else "[CLS] fine-tuning" + (" from scratch" if meta.get("from_scratch") else "")
    print(f"data: {meta['data']}: {data['describe']}")
    print(run.model_line(backend, cfg, policy, what))
    t0 = time.perf_counter()
    start = meta.get("epoch", 0)
    base_name = "most frequent token" if task == "mlm" else "majority class"
    try:
        history = fit(backend, data["train"], data["val"], data["n_train"], args, run_dir, start, history, meta,
                      files={TOKENIZER: tok}, threads=policy, quiet=a.quiet, baseline=bd.curve_baseline(task, data["baseline"]),
                      title=run_title(run_dir, cfg, args, what, backend.name))
    except (TrainingDiverged, Interrupted) as e:      # the message and exit status: training/loop.py
        return report(e, run_dir)
    seconds = time.perf_counter() - t0
    loss, acc, n = evaluate(backend, data["test"]())
    result = {"task": task, "backend": backend.name, "test_accuracy": acc, "test_loss": loss, "test_count": n,
              "baseline": base_name, "baseline_test_accuracy": data["baseline"]["test"], "train_seconds": seconds,
              "epochs": args.epochs, "history_seconds": sum(h["seconds"] for h in history), "config": cfg.to_dict(),
              "from_scratch": meta.get("from_scratch")}
    write_json(run_dir / "result.json", result)
    unit = "masked tokens" if task == "mlm" else "sentence pairs"
    print(f"\ntest split, {n} {unit}:\n  {base_name + ' baseline':<32} {data['baseline']['test']:7.2%}\n"
          f"  {'BERT (' + backend.name + ')':<32} {acc:7.2%}   ({seconds:.0f}s of training)")
    print(f"checkpoint, tokenizer, history.json, curves.png, result.json in {run_dir}/")
    if task == "mlm":
        print(f"try: python -m numpy_transformer fill-mask \"i am very [MASK] today\" --checkpoint {run_dir}")
    return 0
