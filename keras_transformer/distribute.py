"""Data parallelism for the Keras twin's training backends (`--data-parallel`): Keras 3's
keras.distribution.DataParallel, which only the JAX backend implements (Keras 3.15: the
PyTorch backend has no distribution_lib, TensorFlow's is a DTensor prototype marked "DO NOT
USE" that its trainer never calls; data_parallel() checks the backend and says so).

How it works. `data_parallel()` sets the global distribution before the model is built, so
every variable (weights, Adam moments, metric state) is created replicated on every device.
Keras' JAX trainer then places each batch given to train_on_batch / test_on_batch /
predict_on_batch with its rows split over the devices (jax.make_array_from_process_local_data)
and jit-compiles the step for that layout: XLA's SPMD partitioner turns every sum over the
batch (the masked loss, each gradient) into per-device partial sums plus an all-reduce. The
update is the one-device update on the same global batch, up to float rounding (the partial
sums are added in another order).

Rows must split evenly. The global batch size must be a multiple of the device count
(checked here, with a message); the epoch's last, smaller batch is padded by `shard()` with
copies of its first row whose labels are the "ignore" value (the pad id of a masked token
loss, or -1 for a classification loss built with ignore_class=-1), so they add nothing to the
loss, its gradient or the accuracy. Copies of a real row rather than rows of padding: a row
whose every key is masked would have no valid attention target.

Several hosts. Set Keras' variables KERAS_DISTRIBUTION_JOB_ADDRESSES (the coordinator's
host:port), KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID (0..N-1) and run
the same command on every host: data_parallel() first calls keras.distribution.initialize()
(jax.distributed.initialize), then spans every device of every host. Each process computes the
same global batches (same data, same seeds) and feeds only its own contiguous share of rows.
"""
from __future__ import annotations

import os

import keras
import numpy as np

from numpy_transformer.data.errors import UsageError

from . import backend as kb

MULTI_HOST_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                        "KERAS_DISTRIBUTION_PROCESS_ID")


class DataParallelPlan:
    """The devices of a data-parallel run and the per-step work on its batches: padding the rows
    to a multiple of the device count and, on several hosts, taking this process's share."""

    def __init__(self, devices, batch_size, processes=1, process=0):
        self.devices, self.batch_size = list(devices), int(batch_size)
        self.processes, self.process = int(processes), int(process)
        self._replicated = None     # predict()'s compiled inference on several hosts

    @property
    def num_devices(self):
        return len(self.devices)

    def describe(self):
        """The start-up line's words."""
        hosts = f" on {self.processes} processes" if self.processes > 1 else ""
        return (f"data-parallel over {self.num_devices} {_kinds(self.devices)} devices{hosts} "
                f"({self.batch_size // self.num_devices} rows of each {self.batch_size}-row batch per device)")

    def shard(self, inputs, labels, ignore):
        """(inputs, labels, rows): `inputs` a tuple of arrays and `labels` an array, all with the
        batch on axis 0, padded to `rows`, the next multiple of the device count (extra inputs:
        copies of row 0; extra labels: `ignore`), then cut to this process's share."""
        B, n = len(labels), self.num_devices
        rows = -(-B // n) * n
        if rows > B:
            inputs = tuple(np.concatenate([x, np.repeat(x[:1], rows - B, axis=0)]) for x in inputs)
            labels = np.concatenate([labels, np.full((rows - B,) + labels.shape[1:], ignore, labels.dtype)])
        if self.processes > 1:
            share = slice(self.process * rows // self.processes, (self.process + 1) * rows // self.processes)
            inputs, labels = tuple(x[share] for x in inputs), labels[share]
        return inputs, labels, rows

    def predict(self, model, x):
        """model's inference-mode output rows for `x` (the logits of each image), on every host.
        One host: predict_on_batch on `x` padded for the devices, the padding's rows dropped.
        Several: predict_on_batch would read back rows held by other hosts, so every device
        computes every row instead (replicated weights and input; evaluation only)."""
        n = len(x)
        if self.processes == 1:
            (x,), _, _ = self.shard((x,), np.zeros(n), 0)
            return np.asarray(model.predict_on_batch(x))[:n]
        if self._replicated is None:
            self._replicated = kb.compile_inference(model, lambda m, images: m(images, training=False),
                                                    [((None,) + x.shape[1:], str(x.dtype))])
        return np.asarray(self._replicated(x))


def _kinds(devices):
    kinds = sorted({str(d).split(":")[0] for d in devices})
    return "/".join(kinds)


def data_parallel(batch_size, devices=None):
    """Sets keras.distribution's DataParallel over `devices` (default: every device of every
    host) and returns the DataParallelPlan. Call it before the model and optimizer are built
    (their variables take their placement when created). A UsageError, with what to do, on a
    backend without keras.distribution or a batch size the devices cannot share."""
    if kb.name() != "jax":
        raise UsageError(f"--data-parallel uses keras.distribution, which Keras {keras.__version__} implements on "
                         f"the JAX backend only, not {kb.name()}: set KERAS_BACKEND=jax")
    if any(os.environ.get(v) for v in MULTI_HOST_VARIABLES[:2]) and not kb.multi_host_started():
        keras.distribution.initialize()         # jax.distributed.initialize, before any JAX computation
    devices = list(devices or keras.distribution.list_devices())
    if batch_size % len(devices):
        raise UsageError(f"--data-parallel splits each batch's rows over {len(devices)} devices: the batch size "
                         f"{batch_size} is not a multiple of {len(devices)} (try --batch-size "
                         f"{max(len(devices), batch_size // len(devices) * len(devices))})")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return DataParallelPlan(devices, batch_size, *kb.processes())


def one_device():
    """The start-up line's words for a run on one device: which one, and, on JAX, how many
    more are visible (so a run that could use them says how)."""
    if kb.name() != "jax":
        return f"one device ({kb.name()}'s placement; --data-parallel needs KERAS_BACKEND=jax)"
    devices = keras.distribution.list_devices()
    more = f" of {len(devices)} visible (--data-parallel trains on all)" if len(devices) > 1 else ""
    return f"one device ({devices[0]}){more}"
