"""Checks of the translation commands' options that need no data, so a bad option is reported in
one line before anything is read or trained: path checks, the model's shape, and what `--resume`
and `--init-from` would silently ignore or fail on. The run directory's own checks are the run
handler's (training/run.py), after these."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ...cli.options import UsageError, check_input_file, check_keras_combination
from ...training.run import check_run_options
from .model_options import MODELS, OPTIONS, model_config, other_options


def check_model_options(kind, given, why):
    """Options of another model than `kind` are an error, not silently ignored."""
    foreign = [(flag, owner) for dest, (flag, owner) in other_options(kind).items() if dest in given]
    if foreign:
        raise UsageError(f"{', '.join(f for f, _ in foreign)} appl{'y' if len(foreign) > 1 else 'ies'} to "
                         f"--model {foreign[0][1]}, not to {why}: leave {'them' if len(foreign) > 1 else 'it'} out")


def check_train(a, given=frozenset()):
    """Every option of `train` that can be checked without reading anything (the run directory
    comes after these: training/run.check_run_dir)."""
    check_run_options(a)
    if a.resume and a.init_from:
        raise UsageError("--resume continues the run's own weights; --init-from is for a new run")
    if a.data and not a.resume:
        check_input_file("--data", a.data, what="deu.txt-style file")
    if a.max_len < 2:
        raise UsageError(f"--max-len {a.max_len} leaves no room for a word: a sentence takes its words plus <eos>, "
                         f"so --max-len must be at least 2")
    if not a.resume:
        check_keras_combination(a.backend, a.dtype)
        check_model_options(a.model, given, f"--model {a.model}")
        if a.model == "rnn-attention" and a.attention_units is not None and a.score != "concat":
            raise UsageError(f"--attention-units is the concat score's attention size; --score {a.score} has none "
                             f"(use --score concat or leave --attention-units out)")
        model_config(a, 4, 4)          # d_model vs heads, dropout range: the vocabularies come later


# option dest -> (flag, where --resume takes the value from); the model's own options come from
# OPTIONS (model_options.py)
_RESUMED = {"dropout": ("--dropout", "cfg", "dropout"), "max_len": ("--max-len", "cfg", "max_len"),
            "dtype": ("--dtype", "cfg", "dtype"),
            "batch_size": ("--batch-size", "args", "batch_size"), "seed": ("--seed", "args", "seed"),
            "warmup": ("--warmup", "args", "warmup"), "clipnorm": ("--clipnorm", "args", "clipnorm"),
            "label_smoothing": ("--label-smoothing", "args", "label_smoothing"),
            "n": ("--n", "meta", "n"), "data_seed": ("--data-seed", "meta", "data_seed"),
            "umlauts": ("--umlauts", "meta", "umlauts"), "data": ("--data", "meta", "data"),
            "min_freq": ("--min-freq", None, None)}


def check_resume(a, given):
    """Load the run's checkpoint (training/run.check_run_dir found one) and refuse flags that
    --resume would ignore (the run keeps its own model, data and training settings; only
    --epochs, --time-budget, --backend and --threads apply)."""
    from ...training.checkpoint import load_checkpoint
    ck = load_checkpoint(a.run_dir, kinds=MODELS)
    cfg = ck["cfg"]
    kind = cfg.kind
    check_keras_combination(a.backend, cfg.dtype)
    if "model" in given and a.model != kind:
        raise UsageError(f"--resume: {a.run_dir} holds a run of --model {kind}, not --model {a.model}")
    check_model_options(kind, given, f"{a.run_dir}, a run of --model {kind}")
    resumed = {**_RESUMED, **{dest: (o.flag, "cfg", o.field) for dest, o in OPTIONS[kind].items()}}
    sources = {"cfg": vars(cfg) if not hasattr(cfg, "to_dict") else cfg.to_dict(),
               "args": ck["meta"].get("train_args", {}), "meta": ck["meta"]}
    ignored = []
    for dest in sorted(given & set(resumed), key=list(resumed).index):
        flag, where, key = resumed[dest]
        mine = getattr(a, dest)
        if where is None:
            ignored.append(f"{flag} {mine} (the run's tokenizers are fixed)")
            continue
        theirs = sources[where].get(key)
        if dest == "data":
            same = theirs != "embedded" and Path(mine).resolve() == Path(theirs)
        else:
            same = mine == theirs
        if not same:
            shown = "" if isinstance(mine, bool) else f" {mine}"
            ignored.append(f"{flag}{shown} (the run has {theirs})")
    if ignored:
        raise UsageError(f"--resume continues {a.run_dir} with its own settings, so these flags would be ignored: "
                         f"{'; '.join(ignored)}. Leave them out, or start a new run (another --run-dir or --overwrite)")
    return ck


def check_init_from(a, cfg=None, ck=None):
    """Without cfg: load --init-from and compare it with the model the flags describe, before any
    data is read. With cfg (the vocabularies are known once the data is): compare every
    parameter's shape. The message summarises (shapes that differ with a count and an example,
    how many keys are missing or extra) instead of listing all of them."""
    from ...training.checkpoint import load_checkpoint
    if cfg is None:
        ck = load_checkpoint(a.init_from, kinds=MODELS)
        theirs = ck["cfg"]
        if theirs.kind != a.model:
            raise UsageError(f"--init-from {a.init_from} is a checkpoint of --model {theirs.kind}; this run trains "
                             f"--model {a.model}")
        flags = [f"{flag} {getattr(theirs, field)} (this run: {getattr(a, dest)})"
                 for dest, (flag, field, _) in OPTIONS[theirs.kind].items() if getattr(theirs, field) != getattr(a, dest)]
        problems = _shape_problems(model_config(a, theirs.src_vocab_size, theirs.tgt_vocab_size), ck["weights"])
        if flags or problems:
            raise UsageError(f"--init-from {a.init_from} is another model" + (f" ({', '.join(flags)})" if flags else "")
                             + f": {'; '.join(problems)}. Pass the same model flags "
                             f"(numpy_transformer.config.check_state_dict lists every key)")
        return ck
    problems = _shape_problems(cfg, ck["weights"])
    if problems:
        raise UsageError(f"--init-from {a.init_from} does not fit this model: {'; '.join(problems)}. Its vocabularies "
                         f"({ck['cfg'].src_vocab_size} en, {ck['cfg'].tgt_vocab_size} de) are not this data's "
                         f"({cfg.src_vocab_size}, {cfg.tgt_vocab_size}): use the same --data, --n, --data-seed "
                         f"and --min-freq as its run")
    return ck


def _shape_problems(cfg, weights):
    from ...config import parameter_shapes
    want = {k: tuple(v) for k, v in parameter_shapes(cfg).items()}
    have = {k: tuple(v.shape) for k, v in weights.items()}
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    differ, example = Counter(), {}
    for k in sorted(set(want) & set(have)):
        if want[k] != have[k]:
            differ[(want[k], have[k])] += 1
            example.setdefault((want[k], have[k]), k)
    parts = [f"{n} parameter{'s' if n > 1 else ''} of shape {h} where this model has {w} (e.g. {example[(w, h)]})"
             for (w, h), n in differ.items()]
    if missing:
        parts.append(f"{len(missing)} parameter{'s' if len(missing) > 1 else ''} missing (e.g. {missing[0]})")
    if extra:
        parts.append(f"{len(extra)} extra (e.g. {extra[0]})")
    return parts
