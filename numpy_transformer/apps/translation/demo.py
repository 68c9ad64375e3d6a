"""`python -m numpy_transformer demo`, a self-contained demo: learn to reverse random token
sequences (a synthetic seq2seq task that needs attention to work) with the NumPy Transformer,
then decode held-out sequences. `add_parser` and `command` are its options and its handler
(commands.py registers them)."""
from __future__ import annotations

import time

import numpy as np

from ...cli.options import THREADS_HELP, HelpFormatter, UsageError, nonneg_int, parse_threads, positive_int
from ...config import TransformerConfig
from ...models.decoding import greedy_decode
from ...fast import ThreadedAdam, masked_cross_entropy
from ...models import Transformer
from ...ops import WarmupSchedule, masked_accuracy
from ...training.progress import progress
from ...training.threads import ThreadPolicy

PAD, START, EOS, FIRST = 0, 1, 2, 3


def reversal_batch(rng, batch_size, vocab_size, min_len, max_len):
    """Sources: random tokens (ids ≥ 3) of random length, padded; labels: reversed + <eos>;
    decoder input: <start> + reversed (teacher forcing)."""
    lengths = rng.integers(min_len, max_len + 1, batch_size)
    src = np.full((batch_size, max_len), PAD, np.int64)
    lab = np.full((batch_size, max_len + 1), PAD, np.int64)
    for i, n in enumerate(lengths):
        seq = rng.integers(FIRST, vocab_size, n)
        src[i, :n] = seq
        lab[i, :n] = seq[::-1]
        lab[i, n] = EOS
    dec_in = np.concatenate([np.full((batch_size, 1), START), lab[:, :-1]], axis=1)
    dec_in[dec_in == EOS] = PAD
    return src, dec_in, lab


def run_demo(steps=1500, batch_size=32, vocab_size=16, seq_len=8, d_model=64, num_layers=2, seed=0,
             quiet=False, threads=None):
    """`threads`: an app.threads.ThreadPolicy, ticked once per step (the CLI passes one)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    cfg = TransformerConfig(src_vocab_size=vocab_size, tgt_vocab_size=vocab_size, d_model=d_model,
                            num_heads=4, d_ff=4 * d_model, num_layers=num_layers, dropout=0.0,
                            max_len=seq_len + 2)
    model = Transformer(cfg, seed=seed, kernels="fast")
    opt = ThreadedAdam(WarmupSchedule(d_model, warmup_steps=100), beta1=0.9, beta2=0.98, eps=1e-9, clipnorm=1.0)
    if threads is not None:
        threads.on_change(lambda n: setattr(opt, "threads", n))   # Adam's pool follows the BLAS count
    rng = np.random.default_rng(seed)
    print(f"reversal demo: {model.num_parameters():,} parameters, {cfg.num_layers}+{cfg.num_layers} layers, "
          f"d_model={d_model}, float32, {steps} steps of batch {batch_size}"
          + (f"; BLAS threads {threads.reason}" if threads is not None else ""))
    t0 = time.perf_counter()
    with progress(steps, "train", disable=quiet) as bar:
        for step in range(1, steps + 1):
            src, dec_in, lab = reversal_batch(rng, batch_size, vocab_size, 3, seq_len)
            logits = model.forward(src, dec_in, training=True)
            loss, dlogits = masked_cross_entropy(logits, lab, PAD)
            opt.step(model.params, model.backward(dlogits))
            if threads is not None:
                threads.tick()
            if step % 10 == 0 or step == steps:
                bar.set_postfix_str(f"loss={loss:.3f} acc={masked_accuracy(logits, lab, PAD):.3f}")
            bar.update(1)
    train_s = time.perf_counter() - t0
    src, _, lab = reversal_batch(np.random.default_rng(seed + 1000), 200, vocab_size, 3, seq_len)
    pred = greedy_decode(model, src, START, EOS, seq_len + 1)
    exact = [np.array_equal(p[: list(p).index(EOS) + 1] if EOS in p else p, l[: list(l).index(EOS) + 1])
             for p, l in zip(pred, lab)]
    tok_logits = model.forward(src, np.concatenate([np.full((200, 1), START), np.where(lab[:, :-1] == EOS, PAD, lab[:, :-1])], 1))
    tok_acc = masked_accuracy(tok_logits, lab, PAD)
    print(f"trained in {train_s:.1f}s; held-out token accuracy {tok_acc:.3f}, "
          f"exact-match greedy decodes {np.mean(exact):.3f} (200 sequences)")
    for s, p in list(zip(src, pred))[:3]:
        s = s[s != PAD]
        p = p[: list(p).index(EOS)] if EOS in p else p
        print(f"  {' '.join(map(str, s)):<28} -> {' '.join(map(str, p))}")
    return {"token_accuracy": tok_acc, "exact_match": float(np.mean(exact)), "seconds": train_s}


def add_parser(subs):
    d = subs.add_parser("demo", help="train a small model to reverse sequences (synthetic, no data needed)",
                        formatter_class=HelpFormatter)
    d.add_argument("--steps", type=positive_int, default=1500, help="training steps")
    d.add_argument("--batch-size", type=positive_int, default=32, help="sequences per step")
    d.add_argument("--d-model", type=positive_int, default=64, help="model width (4 heads, d_ff = 4·d_model)")
    d.add_argument("--layers", type=positive_int, default=2, help="encoder layers = decoder layers")
    d.add_argument("--seed", type=nonneg_int, default=0, help="initialisation and data seed")
    d.add_argument("--threads", type=parse_threads, default="auto", metavar="auto|N", help=THREADS_HELP)
    return d


def command(a):
    if a.d_model % 4:
        raise UsageError(f"--d-model {a.d_model}: the demo model has 4 heads, so --d-model must be a multiple of 4")
    work = a.batch_size * 10 * a.d_model * 4 * a.d_model      # the demo's FFN GEMM (max_len 10, d_ff 4·d)
    with ThreadPolicy(a.threads, work).start() as policy:
        run_demo(steps=a.steps, batch_size=a.batch_size, d_model=a.d_model, num_layers=a.layers, seed=a.seed,
                 threads=policy)
    return 0
