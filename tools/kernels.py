"""python tools/kernels.py: each speed mechanism of numpy_transformer/fast/ against the plain op it
replaces, at the shapes the models run it at, float32, interleaved (timing.compare); inputs the
fast op overwrites are copied on both sides. docs/performance.md quotes the gains.

A finished experiment (the case for each fast/ mechanism, concluded in docs/performance.md), moved
out of the benchmark package; rerun it when fast/ changes. It runs through the harness's entry
point (benchmarks.cli.run_module) and --save replaces the stored benchmarks/results/kernels/."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run as a script from anywhere

import numpy as np  # noqa: E402

from benchmarks import machine  # noqa: E402
from benchmarks.cli import run_module  # noqa: E402
from benchmarks.report import header, table  # noqa: E402
from benchmarks.timing import compare  # noqa: E402
from numpy_transformer.config.tree import unflatten  # noqa: E402

STORED, REPS = "kernels", 20
BOOK = dict(B=64, T=12, d=512, h=8, f=2048, V=3864)       # the book config's decoder, batch 64
VIT = dict(B=64, T=65, d=192, h=3, f=768)                 # ViT cifar-tiny (benchmarks/vit.py)
ADAM = dict(src_vocab_size=2404, tgt_vocab_size=3864, d_model=512, num_heads=8, d_ff=2048, num_layers=6,
            max_len=16)                                   # the book config, whose Adam moves 49 M parameters


def _rng():
    return np.random.default_rng(0)


def _f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def attention_pair():
    from numpy_transformer.fast import attention as fa
    from numpy_transformer.ops import attention as pa
    B, T, d, h = BOOK["B"], BOOK["T"], BOOK["d"], BOOK["h"]
    rng = _rng()
    p = unflatten({f"{n}.{k}": _f32(rng, *((d, d) if k == "weight" else (d,)), scale=d ** -0.5)
                   for n in ("wq", "wk", "wv", "wo") for k in ("weight", "bias")})
    x, dy, mask = _f32(rng, B, T, d), _f32(rng, B, T, d), pa.causal_mask(T)

    def run(mod):
        out, cache = mod.mha_forward(x, None, p, h, mask)
        return mod.mha_backward(dy.copy(), cache, p)[0]
    return ("fused projections, scale on Q, softmax in place", "fast/attention.py",
            f"masked self-attention forward + backward, B={B}, T={T}, d_model={d}, {h} heads",
            lambda: run(pa), lambda: run(fa))


def layernorm_pair(shape):
    from numpy_transformer.fast import layernorm as fl
    from numpy_transformer.ops import layernorm as pl
    B, T, d = shape["B"], shape["T"], shape["d"]
    rng = _rng()
    x, dy, g, b = _f32(rng, B, T, d), _f32(rng, B, T, d), _f32(rng, d), _f32(rng, d)

    def run(mod):
        _, cache = mod.layernorm_forward(x, g, b, 1e-6)
        return mod.layernorm_backward(dy.copy(), cache, g)[0]
    return ("in-place layer norm", "fast/layernorm.py", f"forward + backward, ({B}, {T}, {d})",
            lambda: run(pl), lambda: run(fl))


def ffn_pair(shape, activation):
    from numpy_transformer.fast import feedforward as ff
    from numpy_transformer.ops import feedforward as pf
    B, T, d, f = shape["B"], shape["T"], shape["d"], shape["f"]
    rng = _rng()
    p = unflatten({"linear1.weight": _f32(rng, d, f, scale=d ** -0.5), "linear1.bias": _f32(rng, f),
                   "linear2.weight": _f32(rng, f, d, scale=f ** -0.5), "linear2.bias": _f32(rng, d)})
    x, dy = _f32(rng, B, T, d), _f32(rng, B, T, d)

    def run(mod):
        _, cache = mod.feed_forward_forward(x, p, activation)
        return mod.feed_forward_backward(dy.copy(), cache, p)[0]
    name = "in-place ReLU" if activation == "relu" else "exact GELU (fast/gelu.py) inside the FFN"
    return (name, "fast/feedforward.py", f"{activation} FFN forward + backward, ({B}, {T}, {d}) → {f}",
            lambda: run(pf), lambda: run(ff))


def gelu_pairs():
    from numpy_transformer.fast import gelu as fg
    from numpy_transformer.ops import activations as pa
    B, T, f = VIT["B"], VIT["T"], VIT["f"]
    rng = _rng()
    h, dy = _f32(rng, B, T, f), _f32(rng, B, T, f)
    _, cdf = fg.gelu_forward(h)

    def plain_backward():            # what ops/ computes: dy · (Φ + x φ), Φ from SciPy's erf
        return pa.gelu_backward(dy, h)
    return [("exact GELU, forward", "fast/gelu.py", f"y = x·Φ(x) on ({B}, {T}, {f}) (one ViT-Tiny MLP)",
             lambda: pa.gelu_forward(h), lambda: fg.gelu_forward(h)),
            ("exact GELU, backward", "fast/gelu.py", f"dy·(Φ + xφ) on ({B}, {T}, {f}); fast reuses Φ from "
             "its forward", plain_backward, lambda: fg.gelu_backward_inplace(dy.copy(), h, cdf))]


def loss_pair():
    from numpy_transformer.fast import loss as fl
    from numpy_transformer.ops import loss as pl
    B, T, V = BOOK["B"], BOOK["T"], BOOK["V"]
    rng = _rng()
    logits, labels = _f32(rng, B, T, V, scale=3.0), rng.integers(1, V, (B, T))
    labels[:, -3:] = 0
    return ("one-buffer cross-entropy", "fast/loss.py", f"loss and dlogits, ({B}, {T}, {V}), 3 pads per row",
            lambda: pl.masked_cross_entropy(logits, labels, 0, 0.1),
            lambda: fl.masked_cross_entropy(logits, labels, 0, 0.1))


def adam_pair():
    from numpy_transformer import Transformer, TransformerConfig
    from numpy_transformer.fast import ThreadedAdam
    from numpy_transformer.ops import Adam
    cfg = TransformerConfig(**ADAM)
    params = Transformer(cfg).state_dict()
    params2 = {k: v.copy() for k, v in params.items()}
    rng = _rng()
    grads = {k: (rng.standard_normal(v.shape) * 1e-3).astype(np.float32) for k, v in params.items()}
    plain, fast = Adam(1e-4), ThreadedAdam(1e-4)
    n = sum(v.size for v in params.values())
    return ("threaded, sliced Adam", "fast/adam.py", f"one update of the book config's {n / 1e6:.1f} M parameters",
            lambda: plain.step(params, grads), lambda: fast.step(params2, grads))


def pairs():
    return [attention_pair(), layernorm_pair(BOOK), layernorm_pair(VIT), ffn_pair(BOOK, "relu"),
            ffn_pair(VIT, "gelu"), *gelu_pairs(), loss_pair(), adam_pair()]


def run(a, log, meta):
    meta["machine"] = machine.machine_info(with_tf=False)
    rows = []
    for name, where, what, plain, fast in pairs():
        row = {"mechanism": name, "file": where, "workload": what}
        try:
            r = compare(plain, fast, a.reps, warmup=2, names=("plain", "fast"))
        except RuntimeError as e:
            rows.append({**row, "status": f"failed: {e}"})
            continue
        row.update(status="ok", plain_median_s=r["plain"]["median_s"], fast_median_s=r["fast"]["median_s"],
                   plain_times_s=r["plain"]["times_s"], fast_times_s=r["fast"]["times_s"], speedup=r["ratio"],
                   speedup_q1=r["ratio_q1"], speedup_q3=r["ratio_q3"], n=r["n"])
        log(f"  {name:<50} plain {row['plain_median_s'] * 1e3:8.2f} ms  fast {row['fast_median_s'] * 1e3:8.2f} ms"
            f"  {row['speedup']:.2f}×")
        rows.append(row)
    return {"rows": rows}


def markdown(result):
    cells = [[r["mechanism"], f"`{r['file']}`", r["workload"], r["status"], "", ""] if "speedup" not in r else
             [r["mechanism"], f"`{r['file']}`", r["workload"], f"{r['plain_median_s'] * 1e3:.2f}",
              f"{r['fast_median_s'] * 1e3:.2f}", f"{r['speedup']:.2f}× ({r['speedup_q1']:.2f}–{r['speedup_q3']:.2f})"]
             for r in result["rows"]]
    return "\n".join(["# fast/ against the plain ops", "", header(result["meta"]) + " float32, medians; speed-up = "
                      "plain ÷ fast, the median of per-round ratios (the two ran interleaved).", "",
                      *table(("mechanism", "file", "workload", "plain ms", "fast ms", "speed-up (IQR)"), cells)]) + "\n"


def main(argv=None):
    return run_module(sys.modules[__name__], "kernels", sys.argv[1:] if argv is None else argv,
                      prog="python tools/kernels.py")


if __name__ == "__main__":
    raise SystemExit(main())
