"""GPU implementations, each skipping (with the reason) where it cannot run: keras-gpu (the
Keras model as a graph on /GPU:0), numpy-cupy (the NumPy model on CuPy arrays; train_step is
gpu.DeviceTrainer) and numpy-cupy-graph (that step replayed as a CUDA graph; a failed capture is
'failed: ...', never timed eagerly). Every call ends with a device synchronisation."""
from __future__ import annotations

from numpy_transformer.training.keras_import import quiet_tensorflow

from .timing import skipper


def tf_gpus():
    try:
        with quiet_tensorflow():
            import tensorflow as tf
    except ImportError:
        return []
    return tf.config.list_physical_devices("GPU")


def cupy_status():
    from numpy_transformer.gpu import cupy_status as status
    return status()


def keras_gpu(cfg, state, workload, shape, data):
    if not tf_gpus():
        return {"keras-gpu": skipper("no GPU")}
    from . import keras_backend
    km = keras_backend.make_model(cfg, state, device="/GPU:0")
    fns = keras_backend.workloads(km, workload, shape, data, modes=("keras-graph",), device="/GPU:0")
    return {"keras-gpu": fns["keras-graph"]}


def numpy_cupy(cfg, state, workload, shape, data):
    names = ["numpy-cupy"] + (["numpy-cupy-graph"] if workload == "train_step" else [])
    reason = cupy_status()
    if reason:
        return {n: skipper(reason) for n in names}
    import cupy

    from numpy_transformer.gpu import DeviceTrainer, GraphedStep, cupy_module, numpy_is, to_device

    from . import np_backend
    xp = cupy_module()
    model = to_device(np_backend.make_model(cfg, state), xp, seed=1)
    gdata = tuple(cupy.asarray(a) for a in data)
    with numpy_is(xp):
        if workload == "train_step":
            trainer = DeviceTrainer(model, warmup=4000, beta1=0.9, beta2=0.98, eps=1e-9, fused=True)
            graphed = GraphedStep(trainer)
            src, tgt, lab = gdata[:3]

            def graph_step():
                graphed(src, tgt, lab)
                if graphed.error:
                    raise RuntimeError(f"CUDA graph capture failed: {graphed.error}")
            fns = {"numpy": lambda: trainer.step(src, tgt, lab), "numpy-graph": graph_step}
        else:
            fns = np_backend.workloads(model, workload, shape, gdata)

    def wrap(fn):
        def run():
            with numpy_is(xp):
                out = fn()
            cupy.cuda.Device().synchronize()
            return out
        return run
    names = {"numpy": "numpy-cupy", "numpy-graph": "numpy-cupy-graph", "numpy-nocache": "numpy-nocache-cupy"}
    return {names[k]: wrap(f) for k, f in fns.items()}
