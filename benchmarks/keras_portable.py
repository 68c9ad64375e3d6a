"""keras-jax and keras-torch rows: the Keras model on the JAX or PyTorch backend, in a subprocess
of its own (Keras fixes its backend at import), interleaved there with the NumPy model so that
each row has a NumPy time measured beside it; runner.compare builds the rows. train_step is
Keras' own compiled train_on_batch, decode the key/value-cached greedy_decode."""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from .timing import in_subprocess, jsonable

BACKENDS = {"keras-jax": "jax", "keras-torch": "torch"}


def _fwd_bwd(km, s, t, d):
    """d/dθ Σ logits·d on the backend's own autodiff (jax.grad over the stateless call, or
    torch autograd), training mode."""
    import keras
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def loss(tv, ntv, a, b, dl):
            y, _ = km.stateless_call(tv, ntv, [a, b], training=True)
            return jax.numpy.sum(y * dl)
        g = jax.jit(jax.grad(loss))
        tv = [v.value for v in km.trainable_variables]
        ntv = [v.value for v in km.non_trainable_variables]
        return lambda: jax.block_until_ready(g(tv, ntv, s, t, d))
    import torch
    dl = torch.as_tensor(d)

    def step():
        for v in km.trainable_variables:
            v.value.grad = None
        (km([s, t], training=True) * dl).sum().backward()
        return km.trainable_variables[0].value.grad
    return step


def workloads(km, workload, shape, data):
    import keras

    import keras_transformer as kt
    from keras_transformer.backend import compile_inference
    src, tgt, lab, dlogits = data
    cfg = km.cfg
    s, t, y = (a.astype(np.int32) for a in (src, tgt, lab))
    if workload == "forward":
        f = compile_inference(km, lambda m, a, b: m([a, b], training=False),
                              [((None, None), "int32"), ((None, None), "int32")])
        return lambda: keras.ops.convert_to_numpy(f(s, t))
    if workload == "fwd_bwd":
        return _fwd_bwd(km, s, t, dlogits)
    if workload == "train_step":
        opt = keras.optimizers.Adam(kt.WarmupSchedule(cfg.d_model, 4000), beta_1=0.9, beta_2=0.98, epsilon=1e-9)
        km.compile(optimizer=opt, loss=kt.MaskedLoss(cfg.pad_id))
        return lambda: float(km.train_on_batch((s, t), y))
    if workload == "decode":
        from .configs import EOS_ID, START_ID
        return lambda: kt.greedy_decode(km, src, START_ID, EOS_ID, shape.tgt_len, use_cache=True)
    raise ValueError(f"unknown workload {workload!r}")


def child(args):
    """Runs in the subprocess: NumPy and Keras-on-this-backend, interleaved."""
    from numpy_transformer.config import TransformerConfig
    from numpy_transformer.training.keras_import import quiet_tensorflow

    from . import configs, machine, np_backend
    from .timing import run_interleaved
    machine.pin_numpy_threads(args["threads"])
    with quiet_tensorflow():          # Keras and its backend's start-up lines (NT_KERAS_LOG=1 shows them)
        import keras
        import keras_transformer as kt
    if keras.backend.backend() == "torch":   # PyTorch's default is strict float32 matmuls
        import torch
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = \
            os.environ.get("NT_BENCH_TF32") == "1"
    preset = configs.Preset(args["preset"], TransformerConfig.from_dict(args["cfg"]), configs.Shape(**args["shape"]))
    state = configs.shared_state(preset.cfg)
    data = configs.make_batch(preset.cfg, preset.shape)
    km = kt.TransformerModel(preset.cfg)
    km.load_state_dict(state)
    fns = {"numpy": np_backend.workloads(np_backend.make_model(preset.cfg, state), args["workload"],
                                         preset.shape, data)["numpy"],
           args["impl"]: workloads(km, args["workload"], preset.shape, data)}
    res = run_interleaved(fns, args["reps"], args["warmup"], args["cooldown"])
    out = jsonable(res)
    for name in fns:          # the decoded tokens, to check they agree with NumPy's
        if args["workload"] == "decode" and res[name]["output"] is not None:
            out[name]["output"] = np.asarray(res[name]["output"]).tolist()
    return out


def run(impl, preset, workload, opts):
    """In the parent: the subprocess's {impl: result, "numpy": result}, or a failure/skip."""
    backend = BACKENDS[impl]
    if importlib.util.find_spec(backend) is None or importlib.util.find_spec("keras") is None:
        return {impl: {"status": f"skipped: {backend} not installed", "times_s": [], "first_call_s": None}}
    args = {"impl": impl, "preset": preset.name, "cfg": preset.cfg.to_dict(), "shape": preset.shape.to_dict(),
            "workload": workload, "reps": opts.reps, "warmup": opts.warmup, "cooldown": opts.cooldown,
            "threads": opts.threads}
    env = {"KERAS_BACKEND": backend}
    if backend == "torch":
        env["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", str(opts.threads))
    res = in_subprocess("keras_portable.child", args, env)
    return {impl: {**res, "times_s": [], "first_call_s": None}} if "status" in res else res
