"""The NumPy Transformer on CuPy (numpy_transformer/gpu/) against NumPy on the CPU: the same
source on a GPU gives the same numbers. Needs CuPy and a CUDA GPU; skipped otherwise (the CPU
checks of the same code are in test_gpu_step.py)."""
import numpy as np
import pytest

from numpy_transformer import Transformer
from numpy_transformer.config.tree import flatten
from numpy_transformer.gpu import DeviceTrainer, GraphedStep, cupy_status, numpy_is, to_device, to_host

from gpu_helpers import batches, config, cpu_steps

reason = cupy_status()
pytestmark = pytest.mark.skipif(reason is not None, reason=f"needs CuPy on a CUDA GPU: {reason}")

# float64 on two devices: the GPU's GEMMs and reductions sum in other orders (rounding of
# ~1e-16 per operation, a few hundred operations deep) -> agreement to 1e-11 relative
RTOL64 = 1e-11


@pytest.fixture
def cp():
    from numpy_transformer.gpu import cupy_module
    return cupy_module()


def close(gpu, cpu, rtol):
    cpu = np.asarray(cpu)
    np.testing.assert_allclose(to_host(gpu), cpu, rtol=rtol, atol=rtol * max(1.0, float(np.abs(cpu).max())))


def test_forward_and_every_gradient_equal_numpy(cp):
    cfg = config(dropout=0.0)
    src, tgt_in, _ = batches(cfg, 1)[0]
    ref = Transformer(cfg, seed=0, kernels="fast")
    logits = ref.forward(src, tgt_in)
    dlogits = np.random.default_rng(3).standard_normal(logits.shape)
    grads = flatten(ref.backward(dlogits))
    model = to_device(Transformer(cfg, seed=0, kernels="fast"), cp)
    with numpy_is(cp):
        got = model.forward(cp.asarray(src), cp.asarray(tgt_in))
        got_grads = flatten(model.backward(cp.asarray(dlogits)))
    close(got, logits, RTOL64)
    for k in grads:
        close(got_grads[k], grads[k], RTOL64)


@pytest.mark.parametrize("fused", [False, True])
def test_device_trainer_on_cupy_equals_the_cpu_step(cp, fused):
    cfg = config(dropout=0.0)                 # NumPy's and CuPy's generators draw different masks
    data = batches(cfg, 3)
    ref, opt, loss, correct, tokens = cpu_steps(cfg, data, clipnorm=0.5)
    model = to_device(Transformer(cfg, seed=0, kernels="fast"), cp)
    with numpy_is(cp):
        trainer = DeviceTrainer(model, warmup=3, clipnorm=0.5, fused=fused)
        for batch in data:
            trainer.step(*trainer.upload(*batch))
        got = trainer.read()
    got_params = flatten(model.params)
    for k, v in flatten(ref.params).items():
        close(got_params[k], v, RTOL64)
    assert (got["correct"], got["tokens"], got["skipped"]) == (correct, tokens, 0)
    assert got["loss"] == pytest.approx(loss, rel=RTOL64)


def test_fused_adam_equals_the_array_form_in_float32(cp):
    cfg = config(dtype="float32", dropout=0.0)
    data = batches(cfg, 3)
    params = []
    for fused in (False, True):
        model = to_device(Transformer(cfg, seed=0, kernels="fast"), cp)
        with numpy_is(cp):
            trainer = DeviceTrainer(model, warmup=3, fused=fused)
            for batch in data:
                trainer.step(*trainer.upload(*batch))
        params.append(flatten(model.params))
    for k in params[0]:   # the kernel may contract a·b + c into one FMA: float32 rounding, 3 steps
        close(params[1][k], to_host(params[0][k]), 1e-5)


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_cuda_graph_replays_equal_eager_steps(cp, dropout):
    cfg = config(dropout=dropout)
    data = batches(cfg, 4) + batches(cfg, 2, seed=1)
    results = []
    for graphed in (False, True):
        model = to_device(Transformer(cfg, seed=0, kernels="fast"), cp, seed=5)   # same device dropout stream
        with numpy_is(cp):
            trainer = DeviceTrainer(model, warmup=3)
            run = GraphedStep(trainer) if graphed else trainer.step
            for batch in data:
                run(*trainer.upload(*batch))
            results.append((flatten(model.params), trainer.read()))
        if graphed:
            assert run.error is None, run.error
            assert len(run.graphs) == 1                           # one shape captured, replayed
    (p0, r0), (p1, r1) = results
    for k in p0:
        close(p1[k], to_host(p0[k]), RTOL64)
    assert (r1["tokens"], r1["correct"]) == (r0["tokens"], r0["correct"])
