"""The NumPy Transformer on a GPU: the same maths on CuPy arrays, plus what a GPU needs.

Nothing in ops/ or models/ changes for the GPU. `arrays.numpy_is(arrays.cupy_module())` binds
the name `np` inside every numpy_transformer module to CuPy (NumPy for what CuPy lacks) while
it is active, and `arrays.to_device` moves a model's parameters there. What a GPU needs on top
is kept here, each piece tested equal to the plain code on the CPU:

* `step.DeviceTrainer` — a training step that never waits for the host: the loss, token count,
  accuracy and "was this step finite" stay on the device and are read once per log interval
  (`read()`), the ids are checked on the host before upload instead of on every step;
* `adam.DeviceAdam` — Adam over whole arrays with its step count, learning rate, clipping
  scale and NaN guard on the device (fast/adam.py's CPU-thread slices would each be a kernel
  launch), or one fused elementwise kernel per parameter on CuPy;
* `step.GraphedStep` — on CuPy, the whole step recorded once as a CUDA graph and replayed,
  so Python's launch overhead (thousands of small kernels per step) goes away.

The CPU tests run all of it with NumPy as the array module and with arrays that refuse to be
read back to the host (parity_tests/test_gpu_step.py); the CuPy-only parts (fused kernel, CUDA
graph, the parity of CuPy with NumPy) are tested where a GPU is present and skipped otherwise.
"""
from .adam import DeviceAdam
from .arrays import cupy_module, cupy_status, numpy_is, to_device, to_host
from .step import DeviceTrainer, GraphedStep

__all__ = ["DeviceAdam", "DeviceTrainer", "GraphedStep", "cupy_module", "cupy_status", "numpy_is",
           "to_device", "to_host"]
