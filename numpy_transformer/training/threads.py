"""How many BLAS threads the command line gives NumPy, chosen by the size of the work and by how
busy the machine is, and changed through threadpoolctl (never through the environment).

Why this exists. OpenBLAS splits a GEMM over its threads and its worker threads busy-wait
("spin") between GEMMs. On an idle 2-core machine a second thread makes the main job's epoch
about 25 % faster. But when another process holds one of the cores, every split GEMM waits for
the thread that is not running, while the spinning threads steal time from the one that is: an
epoch of the main job went from 3 s to 25–60 s. With one thread it takes 3.5–4.7 s either way.

So `--threads auto` (the default) does two things:
1. Size cap: when the largest GEMM of a training step is small (fewer than SMALL_GEMM
   multiply-adds), a second thread cannot pay for its synchronisation: 1 thread, whatever the
   load. Measured here (float32, best of 500 calls each): 64×32×64 and 96×32×128 take the same
   time on 1 and 2 threads, 128×32×128 is slower on 2; from 256×32×64 (5e5) up, 2 threads win
   (the demo's 288×64×256: 77 → 42 µs; the main job's 1024×128×512: 1.05 → 0.54 ms).
2. Load: every INTERVAL seconds during training it compares the machine's busy CPU time
   (/proc/stat) with this process's own (os.times()); the difference is the number of cores
   *other* processes kept busy. It runs on the cores those leave free (at most the cap, at
   least 1): n = floor(cores - other + 0.25), i.e. a core counts as taken once other processes
   use more than a quarter of it. Decoding (translate, evaluate) looks again after each batch.
3. Decoding a few sentences is small work: its GEMMs have one row per sentence and beam (a
   cached decoder computes one new position per step), and the whole decode of a sentence takes
   milliseconds. A second thread can save at most a part of that on an idle machine, while on a
   busy one its spinning made one RNN translation take 0.8-8 s instead of 0.8-2.1 s. So below
   SMALL_DECODE multiply-adds (the largest GEMM's, summed over every decoding step: sentences ×
   beam × max_len rows) decoding runs on one thread; scoring a whole split is above it.
An integer `--threads N` fixes N threads and turns both off; more than the usable cores (the
process's CPU affinity) would only add threads that wait for a core, so N is clamped to them with a
one-line note (auto's own most). Where /proc/stat does not exist
(not Linux) `auto` applies the size cap only. The choice, the cap and the reason are recorded
in the run's checkpoint metadata ("threads") and the threads each epoch ran with in history.json.
OpenBLAS's sums depend in their last bits on the thread count, so bit-for-bit repeatable runs
(and resumes) need a fixed `--threads N`.
"""
from __future__ import annotations

import math
import os
import sys
import time

SMALL_GEMM = 1 << 19     # multiply-adds (5.2e5): below it a second thread measured no gain (see above)
INTERVAL = 0.5           # seconds between looks at the machine's load during training
SPARE = 0.25             # a core counts as taken once other processes use more than SPARE of it
SMALL_DECODE = 1 << 30   # multiply-adds (1.1e9) of a decode's largest GEMM over all steps: below it, 1 thread


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux
        return os.cpu_count() or 1


def _cpu_sample():
    """(busy CPU seconds of the whole machine, CPU seconds of this process) or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")   # minus idle and iowait
    except (OSError, ValueError, IndexError):
        return None
    t = os.times()
    return busy, t.user + t.system


def decoding_policy(requested, work):
    """The ThreadPolicy for decoding: `work` is the largest GEMM's multiply-adds over every step
    of the decode (None: unknown, e.g. a whole split); below SMALL_DECODE, one thread."""
    return ThreadPolicy(requested, work, small=SMALL_DECODE, what="decoding (largest GEMM, all steps)")


class ThreadPolicy:
    """`with ThreadPolicy(requested, work).start():` … `policy.tick()` once per training step.
    On exit the BLAS pools get back the thread counts they had before."""

    def __init__(self, requested="auto", work=None, cores=None, small=SMALL_GEMM, what="largest GEMM"):
        self.requested = requested
        self.cores = cores or available_cores()
        if requested == "auto":
            self.cap = 1 if work is not None and work < small else self.cores
            self.reason = (f"auto: {what} {work:.2g} multiply-adds < {small:.2g}, one thread"
                           if self.cap == 1 and self.cores > 1 else
                           f"auto: up to {self.cap} of {self.cores} cores, fewer while other processes keep cores busy")
        elif int(requested) > self.cores:
            s = "s" if self.cores > 1 else ""
            self.cap, self.reason = self.cores, f"--threads {requested}, clamped to the {self.cores} usable core{s}"
            print(f"note: --threads {requested}: this process can use {self.cores} core{s}, so it runs {self.cores} "
                  f"thread{s} (as --threads auto would at most)", file=sys.stderr)
        else:
            self.cap, self.reason = int(requested), f"--threads {requested}"
        self.adaptive = requested == "auto" and self.cap > 1 and _cpu_sample() is not None
        self.current = self.cap
        self.switches, self.counts, self.other, self.tensorflow = 0, {}, None, None
        self._libs, self._saved, self._last, self._last_t = [], [], None, 0.0
        self._on_change = []

    # -- applying ----------------------------------------------------------------------------------
    def _set(self, n):
        for lib in self._libs:
            lib.set_num_threads(n)
        for f in self._on_change:
            f(n)
        self.current = n

    def on_change(self, f):
        """Also call f(n) whenever the thread count changes (e.g. Adam's thread pool)."""
        self._on_change.append(f)
        f(self.current)
        return self

    def start(self, probe=0.2):
        """Take hold of NumPy's BLAS pools; with `auto`, first look at the load for `probe` s."""
        try:
            from threadpoolctl import ThreadpoolController
            self._libs = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        except ImportError:      # the [train] extra brings threadpoolctl; without it, record that
            self._libs, self.reason = [], self.reason + " (threadpoolctl not installed: BLAS left as it is)"
        self._saved = [lib.num_threads for lib in self._libs]
        if self.requested == "auto" and self._saved and max(self._saved) < self.cap:
            # the user already limited the BLAS (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, …): auto stays under it
            self.cap = max(self._saved)
            self.reason += f"; at most {self.cap}, the BLAS's own setting (e.g. OPENBLAS_NUM_THREADS)"
            self.adaptive = self.adaptive and self.cap > 1
        self._set(self.cap)
        if self.adaptive:
            self._last, self._last_t = _cpu_sample(), time.perf_counter()
            if probe:
                time.sleep(probe)
                self._adapt(time.perf_counter())
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for lib, n in zip(self._libs, self._saved):
            lib.set_num_threads(n)

    # -- adapting ----------------------------------------------------------------------------------
    def tick(self):
        """Count one step at the current thread count; every INTERVAL s re-decide from the load."""
        self.counts[self.current] = self.counts.get(self.current, 0) + 1
        if self.adaptive:
            now = time.perf_counter()
            if now - self._last_t >= INTERVAL:
                self._adapt(now)

    def _adapt(self, now):
        sample = _cpu_sample()
        if sample is None or self._last is None:
            return
        wall = now - self._last_t
        other = max(0.0, ((sample[0] - self._last[0]) - (sample[1] - self._last[1])) / wall)
        self._last, self._last_t = sample, now
        self.other = other
        n = max(1, min(self.cap, math.floor(self.cores - other + SPARE)))
        if n != self.current:
            self.switches += 1
            self._set(n)

    def take_counts(self):
        """Steps run at each thread count since the last call (for the epoch's history entry)."""
        counts, self.counts = {str(k): v for k, v in sorted(self.counts.items())}, {}
        return counts

    def tensorflow_threads(self):
        """Called by the Keras backend right after TensorFlow's import: with a fixed --threads N,
        TensorFlow's intra- and inter-op pools get N threads too (before its first op). What was
        done goes into describe()."""
        if self.requested == "auto":
            self.tensorflow = "intra-op and inter-op pools left to TensorFlow (auto steers NumPy's BLAS only)"
            return
        import keras                 # only reached with --backend keras, after its import
        if keras.backend.backend() == "torch":
            import torch
            torch.set_num_threads(self.cap)
            self.tensorflow = f"Keras on PyTorch: torch.set_num_threads({self.cap})"
            return
        if keras.backend.backend() != "tensorflow":
            self.tensorflow = f"Keras on {keras.backend.backend()}: its thread pools are left to it"
            return
        import tensorflow as tf
        try:
            tf.config.threading.set_intra_op_parallelism_threads(self.cap)
            tf.config.threading.set_inter_op_parallelism_threads(self.cap)
            self.tensorflow = f"intra-op and inter-op pools: {self.cap} thread{'s' if self.cap > 1 else ''} each"
        except RuntimeError as e:    # TensorFlow already ran an op in this process
            self.tensorflow = f"could not set TensorFlow's pools: {e}"

    def describe(self):
        """What goes into the run's metadata."""
        blas = [f"{lib.internal_api} {lib.version} ({lib.threading_layer})" if hasattr(lib, "threading_layer")
                else f"{lib.internal_api} {lib.version}" for lib in self._libs]
        d = {"requested": self.requested, "cores": self.cores, "cap": self.cap, "start": self.current,
             "adaptive": self.adaptive, "reason": self.reason, "blas": blas}
        if self.tensorflow is not None:
            d["tensorflow"] = self.tensorflow
        return d
