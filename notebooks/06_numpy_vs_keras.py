# %% [markdown]
# # 6 · NumPy against Keras: timing, FLOPs and MFU
#
# The same Transformer, the same weights, timed in pure NumPy and in Keras 3 (TensorFlow graph
# mode) by the project's benchmark harness: a quick run here, then how its numbers are made —
# analytic FLOP counts, the measured GEMM peak, model FLOP utilisation (MFU) — and how to read
# the stored full run on the book's model size.
#
# **Read next:** `benchmarks/cli.py` (the options), `benchmarks/runner.py` (interleaved timing),
# `benchmarks/flops.py` (the FLOP counts), `benchmarks/machine.py` (the GEMM peak),
# `benchmarks/results/results.md` (a full run) and `docs/performance.md` (what makes the NumPy
# step fast: `numpy_transformer/fast/`).

# %%
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from IPython.display import Image, Markdown, display

import benchmarks
from benchmarks import flops
from benchmarks.configs import PRESETS

ROOT = Path(benchmarks.__file__).resolve().parents[1]        # the repository (stored results, `python -m`)
HAVE_KERAS = importlib.util.find_spec("keras") is not None

# %% [markdown]
# ## A quick run
#
# `python -m benchmarks` times every implementation of one (config, workload) in the same
# process, the repetitions interleaved round-robin so that a load spike hits all of them, and
# reports medians with their spread. Its default run (tiny, small and the book's 6-layer
# $d_{model} = 512$ model; every workload, scaling sweeps, memory) takes about 15 minutes;
# `--quick` about 1.5. Here an even smaller selection: the `tiny` preset (1 layer,
# $d_{model} = 32$), the inference forward, the training step (forward, loss, backward, Adam)
# NumPy against Keras' graph mode (`tf.function`), and NumPy's greedy decoding with and without
# the key/value cache; 5 repetitions:

# %%
out = Path(tempfile.mkdtemp(prefix="nt-bench-"))
backends = "numpy,keras-graph" if HAVE_KERAS else "numpy"
cmd = [sys.executable, "-m", "benchmarks", "--configs", "tiny", "--workloads", "forward,train_step,decode",
       "--backends", backends, "--decode-backends", "numpy", "--reps", "5", "--sweeps", "none",
       "--memory-workloads", "none", "--profile", "none", "--out", str(out)]
print("$", " ".join(["python"] + cmd[1:]))
proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
assert proc.returncode == 0, proc.stderr[-3000:]
# its progress log (on stderr), less TensorFlow's start-up lines and the targets, which need the book config
print("\n".join(line for line in proc.stderr.splitlines() if line.startswith("[") and "target " not in line))

# %%
display(Image(filename=str(out / "overview.png"), width=520))
report = (out / "results.md").read_text()
display(Markdown(report[report.index("## Results"):report.index("## Method")]))

# %% [markdown]
# **Reading the table.** *median ms* is the time of one call; *IQR* its interquartile spread
# (a large IQR means a busy machine: the *other load* column says how many cores other
# processes kept busy meanwhile); *first call* includes tracing and compilation (Keras' graph
# mode pays it once); *vs numpy* is the time relative to NumPy's. At `tiny` size every matrix
# has a few dozen rows, so the time is fixed overhead per operation — Python and NumPy call
# overhead on one side, the TensorFlow runtime's op dispatch on the other — not arithmetic.
#
# ## FLOPs: what the model has to compute
#
# The harness counts **matrix-product FLOPs** analytically: $2mnk$ for an $(m{\times}k)$ by
# $(k{\times}n)$ product (a multiply and an add per term). Softmax, layer norm, embeddings, the
# loss and Adam are left out — together well under 2 % at the book size. For batch $B$, source
# length $S$, target length $T$, width $d$ and feed-forward width $f$, one multi-head attention
# with $T_q$ queries over $T_k$ keys costs
#
# $$\underbrace{2 B T_q d^2 \cdot 2}_{W_Q,\ W_O} + \underbrace{2 B T_k d^2 \cdot 2}_{W_K,\ W_V}
# + \underbrace{2 B T_q T_k d \cdot 2}_{QK^\top,\ PV},$$
#
# a feed-forward block $2 B T d f \cdot 2$, and the output layer $2 B T d V$. The forward pass
# sums these over the encoder (self-attention, FFN) and decoder (self-attention,
# cross-attention, FFN) layers. The backward of each product $A B$ needs $dA$ and $dB$, two
# products of the same size, so **forward + backward = 3 × forward**. For the harness' three
# CPU presets (`benchmarks/configs.py`; `small` is the translation command's default model on
# the book's vocabulary, `book` the book's model):

# %%
for name in ("tiny", "small", "book"):
    cfg, shape = PRESETS[name].cfg, PRESETS[name].shape
    enc, dec = flops.encoder(cfg, shape.batch, shape.src_len), flops.decoder(cfg, shape.batch, shape.tgt_len, shape.src_len)
    out_layer = 2 * shape.batch * shape.tgt_len * cfg.d_model * cfg.tgt_vocab_size
    print(f"{name:>5}: {cfg.num_layers}+{cfg.num_layers} layers, d={cfg.d_model}, f={cfg.d_ff}, V={cfg.tgt_vocab_size}, "
          f"B={shape.batch}, S={shape.src_len}, T={shape.tgt_len}\n"
          f"       forward {flops.forward(cfg, shape) / 1e9:8.3f} GFLOP (encoder {enc / 1e9:.3f}, decoder layers "
          f"{(dec - out_layer) / 1e9:.3f}, output layer {out_layer / 1e9:.3f});  training step "
          f"{flops.forward_backward(cfg, shape) / 1e9:.3f} GFLOP")

# %% [markdown]
# ## MFU: how much of the machine the model uses
#
# **Model FLOP utilisation** = (model FLOPs / time) / peak FLOP/s. The peak is *measured*, not
# taken from a data sheet: the best of ten $2048 \times 2048$ float32 matrix products in NumPy
# and in TensorFlow, the larger of the two — what this machine's BLAS can do on a
# well-shaped product. So MFU answers "what fraction of a big GEMM's speed does the whole
# training step reach?". The quick run's rows, recomputed from its `results.json`:

# %%
res = json.loads((out / "results.json").read_text())
peak = res["gemm_peak"]["peak_gflops"]
print(f"measured float32 GEMM peak: {peak:.1f} GFLOP/s ({res['gemm_peak']['method']})")
for r in res["rows"]:
    if r["status"] != "ok":
        continue
    gflops_per_s = r["flops"] / r["median_s"] / 1e9
    print(f"  {r['config']} {r['workload']:<10} {r['impl']:<14} {r['flops'] / 1e9:8.4f} GFLOP / {r['median_s'] * 1e3:7.2f} ms"
          f" = {gflops_per_s:6.2f} GFLOP/s → MFU {gflops_per_s / peak:6.2%}")
    assert abs(gflops_per_s / peak - r["mfu"]) <= 1e-9 * max(r["mfu"], 1e-12) + 1e-15   # the report's own number

# %% [markdown]
# A tiny model reaches a few percent at most: its products are too small to keep a core's
# vector units busy. (On a busy machine the measured peak drops with everything else, so MFU
# is the steadier number; the log above says how many cores other processes took.) The book-size model is another matter. The stored full run
# (`benchmarks/results/`, `python -m benchmarks` on an idle 2-core machine) — its targets and
# its overview:

# %%
full = (ROOT / "benchmarks/results/results.md").read_text()
display(Markdown(full[full.index("## Targets"):full.index("## Results")]))
display(Image(filename=str(ROOT / "benchmarks/results/overview.png"), width=900))

# %% [markdown]
# **What the full run says** (the targets table above holds the measured values). At the book's
# size the NumPy training step runs at a large share of the machine's GEMM peak and a little
# behind TensorFlow's graph mode — the arithmetic dominates, and both hand it to an optimised
# BLAS; where NumPy loses, it loses on the many small element-wise passes that a graph compiler
# fuses. Decoding is where the key/value cache (notebook 3) pays: NumPy's cached greedy decoding
# beats Keras' graph-mode decoding that re-runs the prefix, the book's way, and runs even with
# TensorFlow's graph given the same cache; Keras on JAX, compiled by XLA, decodes a little faster
# still. How each speed-up in `numpy_transformer/fast/` was found
# and what it buys is in `docs/performance.md`; timings on a shared machine move with the load,
# so compare ratios within one run, not absolute times across runs.
