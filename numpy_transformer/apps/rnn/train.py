"""Training the recurrent models (models/rnn.py and keras_transformer/rnn.py) on the same data
in the same batch order from the same initial weights: mean squared error, Adam."""
from __future__ import annotations

import time

import numpy as np

from ...models import RNNRegressor, mse_loss
from ...ops import Adam
from ...training.keras_import import quiet_tensorflow
from ...training.loop import Job, fit


class NumpyRNN:
    name = "numpy"

    def __init__(self, cfg, state, lr):
        self.model = RNNRegressor(cfg)
        self.model.load_state_dict(state)
        self.opt = Adam(lr)                       # Keras' defaults: β = 0.9, 0.999, ε = 1e-7

    def train_step(self, x, y):
        loss, dy = mse_loss(self.model.forward(x), y)
        self.opt.step(self.model.params, self.model.backward(dy))   # Adam reads trees by name
        return loss

    def predict(self, x):
        return self.model.predict(x)

    def attention_weights(self, x):
        self.model.forward(x)
        return self.model.attention_weights


class KerasRNN:
    """keras_transformer.rnn.RNNRegressor compiled with Adam and "mse", trained batch by batch
    (train_on_batch) so that it sees exactly the NumPy model's batches."""
    name = "keras"

    def __init__(self, cfg, state, lr, on_import=None):
        with quiet_tensorflow():
            import keras
            from keras_transformer.rnn import RNNRegressor as KerasRNNRegressor
        if on_import is not None:
            on_import()
        self.model = KerasRNNRegressor(cfg)
        self.model.load_state_dict(state)
        self.model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
        self.dtype = cfg.dtype

    def train_step(self, x, y):
        return float(np.asarray(self.model.train_on_batch(x.astype(self.dtype), y.astype(self.dtype))))

    def predict(self, x, batch_size=1024):
        from keras import ops
        out = [ops.convert_to_numpy(self.model(x[i:i + batch_size].astype(self.dtype)))
               for i in range(0, len(x), batch_size)]
        return np.concatenate(out)

    def attention_weights(self, x):
        from keras import ops
        self.model(x.astype(self.dtype))
        return ops.convert_to_numpy(self.model.attention_weights)


def make_rnn_backend(name, cfg, state, lr, on_import=None):
    """`on_import`: called after the Keras import (the thread policy's TensorFlow pools)."""
    if name == "numpy":
        return NumpyRNN(cfg, state, lr)
    if name == "keras":
        return KerasRNN(cfg, state, lr, on_import)
    raise ValueError(f"unknown backend {name!r} (numpy or keras)")


def fit_rnn(backend, X, y, epochs, batch_size, seed=0, desc="", quiet=False, threads=None):
    """Mini-batch training on the shared loop (training/loop.py) with nothing written: the
    batches shuffled per epoch by one generator seeded with `seed` (the same order for every
    backend). Returns the per-epoch mean training loss (over the batches) and the seconds."""
    if len(X) == 0:
        raise ValueError("no training samples")
    rng = np.random.default_rng(seed)
    n_batches = -(-len(X) // batch_size)

    def steps(epoch):
        order = rng.permutation(len(X))
        for i in range(n_batches):
            idx = order[i * batch_size:(i + 1) * batch_size]
            yield backend.train_step(X[idx], y[idx]), 0, 1      # every batch weighs the same

    t0 = time.perf_counter()
    history = fit(Job(backend, steps, n_batches, epochs, accuracy=False, hint="lower --lr", threads=threads,
                      quiet=quiet, log=False, desc=desc or backend.name))
    return [h["train_loss"] for h in history], time.perf_counter() - t0


def rmse(pred, target):
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64).reshape(np.shape(pred))
    return float(np.sqrt(np.mean((pred - target) ** 2)))
