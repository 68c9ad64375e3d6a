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
from pathlib import Path

import numpy as np

from ...config import BertConfig
from .checkpoint import TOKENIZER, checkpoint_file, checkpoint_file_exists, load_bert_run
from ...cli.options import (THREADS_HELP, TIME_BUDGET_HELP, HelpFormatter, UsageError, check_keras_combination,
                            parse_threads, positive_float, positive_int, rate, refuse_ignored_on_resume,
                            whole_number)
from ...cli.options import DATA_PARALLEL_HELP
from ...training.keras_import import check_data_parallel

PRETRAIN_RUN, FINETUNE_RUN = "runs/bert-mlm", "runs/bert-pairs"
# what --resume takes from the command line; the model, data and training settings are the run's
RESUME_OPTIONS = {"backend", "epochs", "threads", "time_budget", "quiet", "data_parallel"}


def _vocab_size(text):
    """argparse type of --vocab-size: room for the five specials and at least one subword."""
    return whole_number(text, 6)


def _train_options(p, epochs, lr, warmup):
    p.add_argument("--backend", choices=["numpy", "keras"], default="numpy",
                   help="numpy, or keras (the Keras twin from the same initial weights)")
    p.add_argument("--data-parallel", action="store_true", help=DATA_PARALLEL_HELP)
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --run-dir")
    p.add_argument("--epochs", type=positive_int, default=None, help=f"passes over the training split (default {epochs})")
    p.add_argument("--batch-size", type=positive_int, default=128, help="sequences per Adam step")
    p.add_argument("--lr", type=positive_float, default=lr, help="peak learning rate of the warm-up + cosine schedule")
    p.add_argument("--warmup", type=positive_int, default=warmup, help="linear warm-up steps")
    p.add_argument("--seed", type=int, default=0, help="initial weights, shuffling, masking and dropout")
    p.add_argument("--time-budget", type=positive_float, default=None, metavar="MINUTES", help=TIME_BUDGET_HELP)
    p.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N", help=THREADS_HELP)
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
    p.add_argument("--run-dir", default=PRETRAIN_RUN, help="checkpoint, tokenizer, history and plots go here")
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
    _train_options(p, 8, 1e-3, 300)
    p.set_defaults(run=lambda a: _run(a, "mlm"))

    f = tasks.add_parser("finetune", formatter_class=HelpFormatter,
                         help="fine-tune the [CLS] head: is the German sentence a translation of the English one?")
    f.add_argument("--init", default=PRETRAIN_RUN, help="the pre-trained run (its weights, tokenizer and data split)")
    f.add_argument("--from-scratch", action="store_true",
                   help="same model, random initial weights (the baseline that shows what pre-training gives)")
    f.add_argument("--run-dir", default=FINETUNE_RUN, help="checkpoint, history and plots go here")
    _train_options(f, 3, 1e-4, 100)
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
    m.set_defaults(run=_fill_mask)
    return {"bert": b, "bert pretrain": p, "bert finetune": f, "fill-mask": m}


# ---------------------------------------------------------------- pretrain / finetune

def _run(a, task):
    with contextlib.ExitStack() as stack:
        return _train(a, task, stack)


def _checks(a, task):
    """Everything that needs no data: the run directory, the source checkpoint, the model size,
    the --backend keras combinations."""
    from .data import check_data_path
    check_data_parallel(a.backend, a.data_parallel)     # before Keras is imported
    run_dir = Path(a.run_dir)
    if a.resume and a.overwrite:
        raise UsageError("--resume and --overwrite contradict each other: continue the run or start it over")
    if a.resume:
        if not checkpoint_file_exists(run_dir):
            raise UsageError(f"--resume: no checkpoint in {run_dir} to continue (leave out --resume to start a run)")
        refuse_ignored_on_resume(getattr(a, "given", ()), RESUME_OPTIONS, run_dir)
        ck = load_bert_run(run_dir, task)
        check_keras_combination(a.backend, ck["cfg"].dtype)
        return run_dir, ck, None
    if (run_dir / "checkpoint.safetensors").exists() and not a.overwrite:
        raise UsageError(f"{run_dir} already holds a checkpoint: pass --resume to continue it, --overwrite to "
                         f"start over, or another --run-dir")
    if task == "cls":
        source = load_bert_run(a.init, "mlm")
        check_keras_combination(a.backend, source["cfg"].dtype)
        return run_dir, None, source
    try:
        BertConfig(vocab_size=a.vocab_size, d_model=a.d_model, num_heads=a.heads, d_ff=a.d_ff, num_layers=a.layers,
                   max_len=a.max_len, dropout=a.dropout, norm_first=a.pre_ln, dtype=a.dtype)
    except ValueError as e:            # the options describe no valid model (heads vs d_model, …)
        raise UsageError(str(e)) from None
    check_keras_combination(a.backend, a.dtype)
    a.data = str(check_data_path(a.data))
    if a.tokenizer:
        from ...data.wordpiece import WordPieceTokenizer
        a.tokenizer = WordPieceTokenizer.load(a.tokenizer)
    return run_dir, None, None


def _train(a, task, stack):
    from . import data as bd
    from .train import BertArgs, evaluate, fit, make_backend, run_title
    from ...training.checkpoint import write_json
    from ...training.loop import Interrupted, TrainingDiverged, read_history, report
    from ...training.threads import ThreadPolicy
    from ...data.wordpiece import WordPieceTokenizer
    run_dir, resumed, source = _checks(a, task)
    if resumed is not None:
        ck, meta, tok, cfg = resumed, resumed["meta"], resumed["tok"], resumed["cfg"]
        args = BertArgs(**meta["bert_args"])
        args.epochs = a.epochs or args.epochs
        args.time_budget = a.time_budget if a.time_budget is not None else args.time_budget
        history = read_history(run_dir, meta["epoch"])
        weights = ck["weights"]
        print(f"resuming {run_dir} after epoch {meta['epoch']} of {args.epochs}")
    else:
        args = BertArgs(epochs=a.epochs or (BertArgs.epochs if task == "mlm" else 3), batch_size=a.batch_size,
                        lr=a.lr, warmup_steps=a.warmup, seed=a.seed, time_budget=a.time_budget)
        history, weights = [], None
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
        cfg = BertConfig(vocab_size=tok.vocab_size, d_model=a.d_model, num_heads=a.heads, d_ff=a.d_ff,
                         num_layers=a.layers, max_len=a.max_len, dropout=a.dropout, norm_first=a.pre_ln, dtype=a.dtype)
    data = _mlm_data(splits, tok, cfg, args) if task == "mlm" else _pair_data(splits, tok, cfg, args)
    meta["baseline"] = data["baseline"]
    work = args.batch_size * 8 * cfg.d_model * cfg.d_ff          # the FFN GEMM of ~8-token sequences
    policy = stack.enter_context(ThreadPolicy(a.threads, work).start())
    meta["threads"] = policy.describe()
    steps = math.ceil(data["n_train"] / args.batch_size)
    backend = make_backend(a.backend, cfg, task, args, steps, weights, on_import=policy.tensorflow_threads,
                           data_parallel=a.data_parallel)
    if resumed is not None and ck["optimizer"]:
        backend.set_optimizer_state(ck["optimizer"])
    what = "MLM pre-training" if task == "mlm" else "[CLS] fine-tuning" + (" from scratch" if meta.get("from_scratch") else "")
    print(f"data: {meta['data']}: {data['describe']}")
    print(f"model: BERT encoder ({backend.name}), vocab {cfg.vocab_size}, d_model={cfg.d_model}, heads={cfg.num_heads}, "
          f"d_ff={cfg.d_ff}, {cfg.num_layers} layers, {'pre' if cfg.norm_first else 'post'}-LN, {cfg.dtype}, "
          f"{sum(v.size for v in backend.get_weights().values()):,} parameters; {what}; BLAS threads {policy.reason}"
          + (f"; {backend.placement}" if hasattr(backend, "placement") else ""))
    t0 = time.perf_counter()
    start = meta.get("epoch", 0) if resumed is not None else 0
    base_name = "most frequent token" if task == "mlm" else "majority class"
    try:
        history = fit(backend, data["train"], data["val"], data["n_train"], args, run_dir, start, history, meta,
                      files={TOKENIZER: tok}, threads=policy, quiet=a.quiet, baseline=_baseline(task, data["baseline"]),
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


def _baseline(task, b):
    """The curves' baseline line. The curves show the val split, so the line is the val split's
    share; the summary printed at the end (and result.json) is the test split's, a different set
    of sentences and masked tokens (pre-training on deu-eng-50k: 5.5 % of the val split's masked
    tokens are `tom`, docs/results/bert-mlm-curves.png; 6.2 % of the test split's,
    bert-mlm-result.json), so the label names both."""
    what = (f"most frequent token {b['token']!r}" if task == "mlm" else
            f"majority class ({'translation' if b['class'] == 1 else 'not a translation'})")
    return f"{what}: {b['val']:.1%} of the val split (test split {b['test']:.1%})", b["val"]


def _mlm_data(splits, tok, cfg, args):
    from . import data as bd
    enc = {}
    for name in ("train", "val", "test"):
        ids, segs = tok.encode_many(bd.sentences(getattr(splits, name)))
        enc[name], _, enc[f"{name}_dropped"] = bd.fit_length(ids, segs, cfg.max_len)
        if not enc[name]:            # as train's --max-len: a fact about the data, known only now
            raise UsageError(f"--max-len {cfg.max_len} leaves no {name} sentence: all {len(ids)} are longer "
                             f"(with [CLS] and [SEP])")
    top = bd.most_frequent_token(enc["train"], cfg.vocab_size)

    def held_out(name):                     # masked once, with a fixed seed
        batches = list(bd.mlm_batches(enc[name], 512, np.random.default_rng([args.seed, 99]), cfg.vocab_size))
        labels = np.concatenate([b.labels[b.labels != 0] for b in batches])
        return batches, float(np.mean(labels == top))
    (val, base_val), (test, base_test) = held_out("val"), held_out("test")

    def train(epoch, rng):
        return bd.mlm_batches(enc["train"], args.batch_size, rng, cfg.vocab_size, rng.permutation(len(enc["train"])))
    return {"train": train, "val": lambda: val, "test": lambda: test, "n_train": len(enc["train"]),
            "baseline": {"token": tok.id_to_token(top), "val": base_val, "test": base_test},
            "describe": f"{len(enc['train'])}/{len(enc['val'])}/{len(enc['test'])} train/val/test sentences "
                        f"(English and German; {enc['train_dropped']} over --max-len dropped), "
                        f"most frequent token {tok.id_to_token(top)!r}"}


def _pair_data(splits, tok, cfg, args):
    from . import data as bd
    ex = {}
    for name in ("train", "val", "test"):
        ex[name] = bd.pair_examples(getattr(splits, name), tok, np.random.default_rng([args.seed, 7, len(name)]),
                                    cfg.max_len)
        if not len(ex[name][0]):
            raise UsageError(f"the pre-trained model's max_len {cfg.max_len} leaves no {name} pair "
                             f"([CLS] en [SEP] de [SEP] is longer for every one)")
    majority = int(np.bincount(ex["train"][2]).argmax())
    fixed = {name: list(bd.pair_batches(*ex[name][:3], 512)) for name in ("val", "test")}

    def train(epoch, rng):
        return bd.pair_batches(*ex["train"][:3], args.batch_size, rng.permutation(len(ex["train"][0])))
    return {"train": train, "val": lambda: fixed["val"], "test": lambda: fixed["test"], "n_train": len(ex["train"][0]),
            "baseline": {"class": majority, "val": float(np.mean(ex["val"][2] == majority)),
                         "test": float(np.mean(ex["test"][2] == majority))},
            "describe": f"{len(ex['train'][0])}/{len(ex['val'][0])}/{len(ex['test'][0])} train/val/test pairs, "
                        f"half translations, half same-length negatives ({ex['train'][3]} over max_len dropped)"}


# ---------------------------------------------------------------- fill-mask

def _fill_mask(a):
    from ...training.threads import ThreadPolicy
    with ThreadPolicy(a.threads).start():       # BLAS threads as for `translate`: by the machine's load
        return _fill_masks(a)


def _fill_masks(a):
    from ...models import BertEncoder
    from ...data.text import unknown_note
    from ...data.wordpiece import MASK
    no_mask = [t for t in a.texts if MASK.lower() not in t.lower()]
    if no_mask:
        raise UsageError(f"no {MASK} in {no_mask[0]!r}: write {MASK} where the model should fill in a token, "
                         f"e.g. \"i am very {MASK} today\"")
    ck = load_bert_run(a.checkpoint)
    cfg, tok = ck["cfg"], ck["tok"]
    fillers = tok.word_start_ids()
    if a.top_k > len(fillers):
        raise UsageError(f"--top-k {a.top_k}: this model's vocabulary has {len(fillers):,} whole-word tokens to "
                         f"offer ({tok.vocab_size:,} less the specials and the ## word pieces)")
    model = BertEncoder(cfg, kernels="fast")
    model.load_state_dict(ck["weights"])
    for text in a.texts:
        ids, segs, unknown, left_out = tok.encode_query(text)
        if len(ids) > cfg.max_len:
            raise UsageError(f"{text!r} is {len(ids)} tokens with [CLS] and [SEP]; this model reads at most "
                             f"max_len={cfg.max_len}")
        where = ids == tok.mask_id
        logits = model.forward(ids[None], segs[None], positions=where[None]).astype(np.float64)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        note = unknown_note(unknown, left_out)
        print(" ".join(tok.id_to_token(i) for i in ids[1:-1]) + (f"   ({note})" if note else ""))
        for k, row in enumerate(p):
            top = fillers[np.argsort(-row[fillers], kind="stable")[: a.top_k]]
            label = f"  [MASK] {k + 1}: " if len(p) > 1 else "  "
            print(label + "  ".join(f"{tok.id_to_token(i)} {row[i]:.3f}" for i in top))
    return 0
