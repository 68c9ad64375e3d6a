"""Command line: `python -m numpy_transformer {train,translate,evaluate,demo,vit}`."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

DEFAULT_RUN = "runs/embedded"


def _train(a):
    from .checkpoint import write_json
    from ..config import TransformerConfig
    from .corpus import default_corpus
    from .data import load_pairs, prepare_dataset
    from .tokenizer import Tokenizer
    from .train import TrainArgs, TrainingDiverged, encode_split, fit, make_backend, resume_state
    from .translate import Translator, evaluate, load_splits

    run_dir = Path(a.run_dir)
    if a.resume:
        st = resume_state(run_dir, a.backend)
        cfg, args, backend, meta = st["cfg"], st["args"], st["backend"], st["meta"]
        src_tok, tgt_tok, history, start = st["src_tok"], st["tgt_tok"], st["history"], st["epoch"]
        if a.epochs is not None:
            args.epochs = a.epochs
        print(f"resuming {run_dir} after epoch {start} of {args.epochs}")
        splits = load_splits(meta)
    else:
        if (run_dir / "checkpoint.safetensors").exists() and not a.overwrite:
            raise SystemExit(f"{run_dir} already holds a checkpoint: pass --resume to continue it, "
                             f"--overwrite to start over, or another --run-dir")
        if a.data:
            pairs, clean, n = load_pairs(a.data, a.n), True, a.n
        else:
            pairs, clean, n = default_corpus(), False, None
        splits = prepare_dataset(pairs, n=n, seed=a.data_seed, clean=clean, umlauts=a.umlauts)
        src_tok = Tokenizer.fit([en for en, _ in splits.train], min_freq=a.min_freq)
        tgt_tok = Tokenizer.fit([de for _, de in splits.train], min_freq=a.min_freq)
        cfg = TransformerConfig(src_vocab_size=src_tok.vocab_size, tgt_vocab_size=tgt_tok.vocab_size,
                                d_model=a.d_model, num_heads=a.heads, d_ff=a.d_ff, num_layers=a.layers,
                                dropout=a.dropout, max_len=a.max_len, norm_first=a.norm_first, dtype=a.dtype)
        args = TrainArgs(epochs=a.epochs or 20, batch_size=a.batch_size, seed=a.seed, warmup=a.warmup,
                         clipnorm=a.clipnorm, label_smoothing=a.label_smoothing)
        backend = make_backend(a.backend, cfg, args)
        if a.init_from:                      # same starting weights for both backends' runs
            from .checkpoint import load_checkpoint
            backend.set_weights(load_checkpoint(a.init_from)["weights"])
        meta = {"data": str(Path(a.data).resolve()) if a.data else "embedded", "n": n,
                "data_seed": a.data_seed, "umlauts": a.umlauts}
        history, start = [], 0
    train = encode_split(splits.train, src_tok, tgt_tok, cfg.max_len)
    val = encode_split(splits.val, src_tok, tgt_tok, cfg.max_len)
    print(f"data: {meta['data']}: {len(splits.train)}/{len(splits.val)}/{len(splits.test)} train/val/test pairs "
          f"({train[2]} over-long training pairs dropped); vocab {cfg.src_vocab_size} en, {cfg.tgt_vocab_size} de")
    print(f"model: {backend.name}, d_model={cfg.d_model}, heads={cfg.num_heads}, d_ff={cfg.d_ff}, "
          f"{cfg.num_layers}+{cfg.num_layers} layers, {'pre' if cfg.norm_first else 'post'}-LN, {cfg.dtype}")
    try:
        fit(backend, train[:2], val[:2], args, run_dir, start, history, meta, src_tok, tgt_tok)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: the last completed epoch's checkpoint in {run_dir} is intact; "
              f"continue with --resume --run-dir {run_dir}", file=sys.stderr)
        return 130
    tr = Translator(run_dir, a.backend)
    result = evaluate(tr, "test", beam=1)
    write_json(run_dir / "eval_test.json", result)
    print(f"test split ({result['sentences']} sentences, greedy): BLEU {result['bleu']:.1f}, chrF {result['chrf']:.1f}")
    for ex in result["examples"][:5]:
        print(f"  {ex['en']:<36} -> {ex['hyp']:<36} (reference: {ex['ref']})")
    print(f"checkpoint, tokenizers, history.json, curves.png in {run_dir}/; try:\n"
          f"  python -m numpy_transformer translate \"{result['examples'][0]['en']}\" --checkpoint {run_dir}")
    return 0


def _translate(a):
    from .translate import Translator
    tr = Translator(a.checkpoint, a.backend)
    outs = tr.translate(a.sentences, beam=a.beam, alpha=a.alpha)
    for s, o in zip(a.sentences, outs):
        unk = tr.encode(s)[1]
        print(f"{s} -> {o}" + (f"   (unknown words: {', '.join(unk)})" if unk else ""))
    if a.plot_attention:
        from .plots import plot_attention
        from .data import clean_sentence
        w = tr.attention(a.sentences[0], outs[0])
        src_words = clean_sentence(a.sentences[0], "en").split() + ["<eos>"]
        plot_attention(w, src_words, outs[0].split() + ["<eos>"], a.plot_attention, f"{a.sentences[0]} → {outs[0]}")
        print(f"attention maps: {a.plot_attention}")
    return 0


def _evaluate(a):
    from .checkpoint import write_json
    from .translate import Translator, evaluate
    tr = Translator(a.checkpoint, a.backend)
    r = evaluate(tr, a.split, beam=a.beam, alpha=a.alpha, limit=a.limit)
    out = Path(a.checkpoint) / f"eval_{a.split}_{tr.backend.name}_beam{a.beam}.json"
    write_json(out, r)
    print(json.dumps({k: v for k, v in r.items() if k != "examples"}, indent=1))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m numpy_transformer",
                                 description="English→German Transformer in NumPy (with a Keras twin).")
    subs = ap.add_subparsers(dest="command", required=True)

    t = subs.add_parser("train", help="train a translation model (default: the embedded corpus)")
    t.add_argument("--data", help="a deu.txt-style file (English<TAB>German[<TAB>attribution]); default: embedded corpus")
    t.add_argument("--n", type=int, default=10000, help="first N pairs of --data (the book: 10000)")
    t.add_argument("--run-dir", default=DEFAULT_RUN)
    t.add_argument("--backend", choices=["numpy", "keras"], default="numpy")
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    t.add_argument("--overwrite", action="store_true")
    t.add_argument("--init-from", help="start from this checkpoint's weights (e.g. to give both backends the same start)")
    t.add_argument("--epochs", type=int, default=None, help="total epochs (default 20)")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--d-model", type=int, default=128)
    t.add_argument("--heads", type=int, default=4)
    t.add_argument("--d-ff", type=int, default=512)
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--dropout", type=float, default=0.1)
    t.add_argument("--max-len", type=int, default=16)
    t.add_argument("--warmup", type=int, default=400)
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--clipnorm", type=float, default=None)
    t.add_argument("--norm-first", action="store_true", help="pre-LN layers (default: the paper's post-LN)")
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    t.add_argument("--min-freq", type=int, default=1)
    t.add_argument("--umlauts", choices=["keep", "translit"], default="keep")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--data-seed", type=int, default=1)

    tr = subs.add_parser("translate", help="translate English sentences with a checkpoint")
    tr.add_argument("sentences", nargs="+")
    tr.add_argument("--checkpoint", default=DEFAULT_RUN)
    tr.add_argument("--backend", choices=["numpy", "keras"], default="numpy")
    tr.add_argument("--beam", type=int, default=1, help="beam width (1 = greedy)")
    tr.add_argument("--alpha", type=float, default=0.6, help="beam length penalty exponent")
    tr.add_argument("--plot-attention", metavar="PNG", help="save the first sentence's cross-attention maps")

    ev = subs.add_parser("evaluate", help="corpus BLEU and chrF on the run's test split")
    ev.add_argument("--checkpoint", default=DEFAULT_RUN)
    ev.add_argument("--backend", choices=["numpy", "keras"], default="numpy")
    ev.add_argument("--split", choices=["train", "val", "test"], default="test")
    ev.add_argument("--beam", type=int, default=1)
    ev.add_argument("--alpha", type=float, default=0.6)
    ev.add_argument("--limit", type=int, default=None)

    d = subs.add_parser("demo", help="train a small model to reverse sequences (synthetic, no data needed)")
    d.add_argument("--steps", type=int, default=1500)
    d.add_argument("--batch-size", type=int, default=32)
    d.add_argument("--d-model", type=int, default=64)
    d.add_argument("--layers", type=int, default=2)
    d.add_argument("--seed", type=int, default=0)

    from .vit import add_vit_parser   # the Vision Transformer on digits (app/vit.py)
    add_vit_parser(subs)

    a = ap.parse_args(argv)
    try:
        if a.command == "vit":
            from .vit import run_vit
            return run_vit(a)
        if a.command == "train":
            return _train(a)
        if a.command == "translate":
            return _translate(a)
        if a.command == "evaluate":
            return _evaluate(a)
        from .demo import run_demo
        run_demo(steps=a.steps, batch_size=a.batch_size, d_model=a.d_model, num_layers=a.layers, seed=a.seed)
        return 0
    except (ValueError, FileNotFoundError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
