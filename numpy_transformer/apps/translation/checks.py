"""Checks of the translation commands' options that need no data, so a bad option is reported in
one line before anything is read or trained: path checks, the model's shape, and what `--resume`
and `--init-from` would silently ignore or fail on."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ...cli.options import UsageError, check_input_file, check_keras_combination
from .model_kinds import KINDS, kind_of, other_options


def model_config(a, src_vocab, tgt_vocab):
    """The config of the --model the options describe (model_kinds.py); where the options
    describe no valid model (heads that do not divide d_model, …) the config's reason is a
    UsageError: this is where the user's options become a model."""
    try:
        return KINDS[a.model].config(a, src_vocab, tgt_vocab)
    except ValueError as e:
        raise UsageError(str(e)) from None


def check_model_options(kind, given, why):
    """Options of another model than `kind` are an error, not silently ignored."""
    foreign = [(flag, owner) for dest, (flag, owner) in other_options(kind).items() if dest in given]
    if foreign:
        raise UsageError(f"{', '.join(f for f, _ in foreign)} appl{'y' if len(foreign) > 1 else 'ies'} to "
                         f"--model {foreign[0][1]}, not to {why}: leave {'them' if len(foreign) > 1 else 'it'} out")


def check_train(a, given=frozenset()):
    if a.resume and a.overwrite:
        raise UsageError("--resume and --overwrite contradict each other: continue the run or start it over")
    if a.resume and a.init_from:
        raise UsageError("--resume continues the run's own weights; --init-from is for a new run")
    if a.data and not a.resume:
        check_input_file("--data", a.data, what="deu.txt-style file")
    if a.max_len < 2:
        raise UsageError(f"--max-len {a.max_len} leaves no room for a word: a sentence takes its words plus <eos>, "
                         f"so --max-len must be at least 2")
    if not a.resume:
        check_keras_combination(a.backend, a.dtype)
        check_model_options(KINDS[a.model], given, f"--model {a.model}")
        if a.model == "rnn-attention" and a.attention_units is not None and a.score != "concat":
            raise UsageError(f"--attention-units is the concat score's attention size; --score {a.score} has none "
                             f"(use --score concat or leave --attention-units out)")
        if (Path(a.run_dir) / "checkpoint.safetensors").exists() and not a.overwrite:
            raise UsageError(f"{a.run_dir} already holds a checkpoint: pass --resume to continue it, "
                             f"--overwrite to start over, or another --run-dir")
        model_config(a, 4, 4)          # d_model vs heads, dropout range: the vocabularies come later


# option dest -> (flag, where --resume takes the value from); the model's own options come from
# its registry entry (model_kinds.py)
_RESUMED = {"dropout": ("--dropout", "cfg", "dropout"), "max_len": ("--max-len", "cfg", "max_len"),
            "dtype": ("--dtype", "cfg", "dtype"),
            "batch_size": ("--batch-size", "args", "batch_size"), "seed": ("--seed", "args", "seed"),
            "warmup": ("--warmup", "args", "warmup"), "clipnorm": ("--clipnorm", "args", "clipnorm"),
            "label_smoothing": ("--label-smoothing", "args", "label_smoothing"),
            "n": ("--n", "meta", "n"), "data_seed": ("--data-seed", "meta", "data_seed"),
            "umlauts": ("--umlauts", "meta", "umlauts"), "data": ("--data", "meta", "data"),
            "min_freq": ("--min-freq", None, None)}


def check_resume(a, given):
    """Load the run's checkpoint and refuse flags that --resume would ignore (the run keeps its
    own model, data and training settings; only --epochs, --backend and --threads apply)."""
    from ...training.checkpoint import load_checkpoint
    try:
        ck = load_checkpoint(a.run_dir, kinds=tuple(KINDS))
    except FileNotFoundError:
        raise UsageError(f"--resume: no checkpoint in {a.run_dir} to continue (leave out --resume to start a run)") from None
    cfg, meta = ck["cfg"], ck["meta"]
    kind = kind_of(cfg)
    check_keras_combination(a.backend, cfg.dtype)
    if "model" in given and a.model != kind.name:
        raise UsageError(f"--resume: {a.run_dir} holds a run of --model {kind.name}, not --model {a.model}")
    check_model_options(kind, given, f"{a.run_dir}, a run of --model {kind.name}")
    resumed = {**_RESUMED, **{dest: (o.flag, "cfg", o.field) for dest, o in kind.options.items()}}
    sources = {"cfg": vars(cfg) if not hasattr(cfg, "to_dict") else cfg.to_dict(),
               "args": meta.get("train_args", {}), "meta": meta}
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
    if a.epochs is not None and a.epochs <= meta["epoch"]:
        raise UsageError(f"--epochs {a.epochs}: {a.run_dir} has already completed {meta['epoch']} epochs; "
                         f"ask for more to continue it")
    return ck


def check_init_from(a, cfg=None, ck=None):
    """Without cfg: load --init-from and compare it with the model the flags describe, before any
    data is read. With cfg (the vocabularies are known once the data is): compare every
    parameter's shape. The message summarises (shapes that differ with a count and an example,
    how many keys are missing or extra) instead of listing all of them."""
    from ...training.checkpoint import load_checkpoint
    if cfg is None:
        ck = load_checkpoint(a.init_from, kinds=tuple(KINDS))
        theirs = ck["cfg"]
        if kind_of(theirs).name != a.model:
            raise UsageError(f"--init-from {a.init_from} is a checkpoint of --model {kind_of(theirs).name}; this run trains "
                             f"--model {a.model}")
        flags = [f"{flag} {getattr(theirs, field)} (this run: {getattr(a, dest)})"
                 for dest, (flag, field, _) in kind_of(theirs).options.items() if getattr(theirs, field) != getattr(a, dest)]
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


def check_demo(a):
    if a.d_model % 4:
        raise UsageError(f"--d-model {a.d_model}: the demo model has 4 heads, so --d-model must be a multiple of 4")


def summarise_skipped(r):
    """', 1 skipped (…)' for an evaluation result that could not score every pair."""
    if not r.get("skipped"):
        return ""
    return (f"; {r['skipped']} of {r['sentences'] + r['skipped']} pairs skipped "
            f"(longer than the model's max_len, or no known word)")
