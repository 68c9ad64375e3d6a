"""Thread pinning, machine description and the measured float32 GEMM peak."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import time

import numpy as np

from numpy_transformer.training.keras_import import quiet_tensorflow

_limiter = None
_threads = None   # what pin_numpy_threads set: NumPy-side threads (BLAS pools and Adam's pool)


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pin_numpy_threads(n):
    """Limit every BLAS/OpenMP pool NumPy loaded (threadpoolctl) to n threads, for the rest of
    the process. Returns the pools as threadpoolctl reports them afterwards."""
    global _limiter, _threads
    from threadpoolctl import threadpool_info, threadpool_limits
    _limiter = threadpool_limits(limits=n)
    _threads = n
    return threadpool_info()


def numpy_threads():
    """The thread count pinned for NumPy (None: not pinned, libraries choose)."""
    return _threads


def pin_tf_threads(n):
    """intra_op = inter_op = n for TensorFlow. Must run before TF executes its first op;
    returns what TF reports afterwards (and a note if it was too late)."""
    with quiet_tensorflow():
        import tensorflow as tf
    note = None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError as e:   # TF already initialised in this process (e.g. under pytest)
        note = f"could not set: {e}"
    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(), "note": note}


def pin_subprocess(n, keras_backend=None):
    """A measuring subprocess's threads: NumPy's BLAS, and the pool of the Keras backend it runs."""
    pin_numpy_threads(n)
    if keras_backend == "tensorflow":
        pin_tf_threads(n)
    elif keras_backend == "torch":
        import torch
        torch.set_num_threads(n)


def loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def cpu_sample():
    """(busy CPU seconds of the whole machine, CPU seconds of this process and its children)
    from /proc/stat and os.times(); two samples give how much CPU other processes used."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")   # minus idle and iowait
    except (OSError, ValueError):
        return None
    t = os.times()
    return busy, t.user + t.system + t.children_user + t.children_system


def foreign_cpu(before, after, wall):
    """Average number of cores used by *other* processes between two cpu_sample()s."""
    if before is None or after is None or wall <= 0:
        return None
    return max(0.0, ((after[0] - before[0]) - (after[1] - before[1])) / wall)


def proc_field(path, key):
    """The text after `key` on its line of a /proc file ("model name" in /proc/cpuinfo, "VmHWM" in
    /proc/self/status), or None (not Linux, no such line)."""
    try:
        with open(path) as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(key)), None)
    except OSError:
        return None


def _git(*args):
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(with_tf=True):
    mem = proc_field("/proc/meminfo", "MemTotal")
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_model": proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(), "cores_available": available_cores(), "platform": platform.platform(),
        "mem_total_gb": round(int(mem.split()[0]) / 2 ** 20, 1) if mem else None,
        "python": sys.version.split()[0], "numpy": np.__version__,
        "loadavg_at_start": loadavg(),
        "git_head": _git("rev-parse", "--short", "HEAD"),
        "numpy_transformer_dirty": bool(_git("status", "--porcelain", "numpy_transformer")),
    }
    if with_tf:
        try:
            with quiet_tensorflow():
                import keras
                import tensorflow as tf
            info.update(tensorflow=tf.__version__, keras=keras.__version__,
                        gpus=[d.name for d in tf.config.list_physical_devices("GPU")])
        except ImportError as e:
            info.update(tensorflow=None, keras=None, tf_error=str(e))
    try:
        import cupy
        info["cupy"] = cupy.__version__
    except ImportError:
        info["cupy"] = None
    from numpy_transformer.gpu import cupy_status
    if info["cupy"] and cupy_status() is None:
        info["cuda_gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    info["gpu_matmul_precision"] = "tf32" if os.environ.get("CUPY_TF32") == "1" else "float32 (strict)"
    return info


def _best_rate(fn, flops, repeats):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return flops / best / 1e9


def gemm_peak(n=2048, repeats=10, with_tf=True):
    """Best-of-`repeats` GFLOP/s of an n×n float32 matrix product: np.matmul (the NumPy code's
    BLAS) and, if available, tf.matmul (the Keras code's kernels). The machine peak used for
    model FLOP utilisation is the larger of the two."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = {"n": n, "repeats": repeats, "method": f"best of {repeats} {n}x{n} float32 matmuls",
           "numpy_gflops": _best_rate(lambda: np.matmul(a, b), 2 * n ** 3, repeats)}
    if with_tf:
        try:
            with quiet_tensorflow():
                import tensorflow as tf
            ta, tb = tf.constant(a), tf.constant(b)
            out["tf_gflops"] = _best_rate(lambda: tf.matmul(ta, tb), 2 * n ** 3, repeats)
        except ImportError:
            pass
    out["peak_gflops"] = max(v for k, v in out.items() if k.endswith("_gflops"))
    return out


def unpin():
    """Undo pin_numpy_threads (the thread limits of this process go back to what they were)."""
    global _limiter, _threads
    if _limiter is not None:
        _limiter.restore_original_limits()
        _limiter = None
    _threads = None


def set_gpu_precision(tf32):
    """Before CuPy or a Keras backend is imported (they read these at import; the keras-jax and
    keras-torch children inherit them): TF32 everywhere, or strict float32 everywhere."""
    os.environ["CUPY_TF32"] = "1" if tf32 else "0"
    os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "default" if tf32 else "highest"
    os.environ["NT_BENCH_TF32"] = "1" if tf32 else "0"     # read by the keras-torch child
