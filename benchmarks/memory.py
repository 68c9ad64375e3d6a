"""Peak memory of one workload, in a fresh subprocess: the kernel's resident-set counters
(VmRSS, VmHWM in /proc/self/status), since tracemalloc misses BLAS, TensorFlow and XLA buffers.
model_peak_mb = the peak over `steps` calls (high-water mark reset after a warm-up) minus the RSS
after the imports; the method in full: docs/benchmarks.md, section Method."""
from __future__ import annotations

import resource

from .timing import in_subprocess


def _status_kb(key):
    from .machine import proc_field
    value = proc_field("/proc/self/status", key + ":")
    return int(value.split()[0]) if value else None


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(spec):
    from . import configs, machine
    impl, workload = spec["impl"], spec["workload"]
    keras_impl = impl.startswith("keras")
    machine.pin_subprocess(spec["threads"], "tensorflow" if keras_impl else None)
    if keras_impl:
        from . import keras_backend
        keras_backend._tf()   # TensorFlow, Keras and keras_transformer count as libraries
    from . import np_backend
    rss_import = _status_kb("VmRSS")
    from numpy_transformer.config import TransformerConfig
    cfg = TransformerConfig.from_dict(spec["cfg"])
    shape = configs.Shape(**spec["shape"])
    state = configs.shared_state(cfg)
    data = configs.make_batch(cfg, shape)
    if keras_impl:
        fn = keras_backend.workloads(keras_backend.make_model(cfg, state), workload, shape, data, modes=(impl,))[impl]
    else:
        fn = np_backend.workloads(np_backend.make_model(cfg, state), workload, shape, data)[impl]
    del state
    fn()
    rss_ready = _status_kb("VmRSS")
    reset = _reset_peak()
    for _ in range(spec.get("steps", 2)):
        fn()
    peak = _status_kb("VmHWM") if reset else None
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # kB on Linux
    mb = 1 / 1024
    return {"peak_rss_mb": peak * mb, "rss_import_mb": rss_import * mb, "rss_ready_mb": rss_ready * mb,
            "model_peak_mb": (peak - rss_import) * mb, "step_peak_mb": (peak - rss_ready) * mb,
            "hwm_reset": reset, "steps": spec.get("steps", 2)}


def measure(cfg, shape, workload, impl, threads, steps=2, timeout=600):
    """Run the child for one implementation; returns its dict, or {"status": "failed: ..."}."""
    spec = {"cfg": cfg.to_dict(), "shape": shape.to_dict(), "workload": workload, "impl": impl,
            "threads": threads, "steps": steps}
    res = in_subprocess("memory.child", spec, {"TF_CPP_MIN_LOG_LEVEL": "2"}, timeout)
    return res if "status" in res else {"status": "ok", **res}
