"""State dicts and optimizer state under the shared parameter names
(numpy_transformer.config.parameter_shapes), for every Keras model of the package: each model
maps those names explicitly onto its Keras variables (`variable_map()`); loading is strict and
NumPy arrays come out."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from numpy_transformer.config import check_state_dict, parameter_shapes


def checked_variable_map(cfg, vmap):
    """`vmap` in parameter_shapes(cfg) order, after checking it covers exactly the expected names
    with the expected shapes (a mismatch is a bug in the model, not in the user's input)."""
    expected = parameter_shapes(cfg)
    if set(vmap) != set(expected):
        raise RuntimeError(f"internal error: the variable map does not match parameter_shapes: "
                           f"{sorted(set(vmap) ^ set(expected))}")
    for k, shape in expected.items():
        if tuple(vmap[k].shape) != shape:
            raise RuntimeError(f"internal error: {k} has shape {tuple(vmap[k].shape)}, expected {shape}")
    return {k: vmap[k] for k in expected}


class ConfigModel(keras.Model):
    """A keras.Model built from a config (`self.cfg`) whose subclass defines variable_map():
    state_dict / load_state_dict under the shared names, and a Keras config {"cfg": …}."""

    def state_dict(self):
        """A copy of every parameter as a NumPy array (cfg.dtype), under the shared names."""
        return {k: np.array(ops.convert_to_numpy(v)) for k, v in self.variable_map().items()}

    def load_state_dict(self, state):
        """Strict load: every expected key, no extra key, the right shapes, all finite (else a
        ValueError naming the offenders, via check_state_dict). Values are cast to cfg.dtype;
        nothing is assigned unless every check passes; builds the model first if needed."""
        check_state_dict(state, self.cfg)
        vmap = self.variable_map()
        values = {k: np.asarray(state[k], dtype=self.cfg.dtype) for k in vmap}
        for k, var in vmap.items():
            var.assign(values[k])

    def num_parameters(self):
        return int(sum(np.prod(v.shape) for v in self.variable_map().values()))

    def get_config(self):
        base = super().get_config()
        base.pop("dtype", None)
        return {**base, "cfg": self.cfg.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(config.pop("cfg"), **config)


def _slots(opt, vmap):
    """{shared name: (m variable, v variable)} through Keras' own variable index."""
    return {k: (opt._momentums[opt._get_variable_index(v)], opt._velocities[opt._get_variable_index(v)])
            for k, v in vmap.items()}


def optimizer_state(opt, vmap):
    """Keras Adam's state in numpy_transformer.ops.optim.Adam.state_dict() form: t, m.<name>, v.<name>."""
    sd = {"t": np.array(int(ops.convert_to_numpy(opt.iterations)), dtype=np.int64)}
    for k, (m, v) in _slots(opt, vmap).items():
        sd[f"m.{k}"], sd[f"v.{k}"] = np.array(ops.convert_to_numpy(m)), np.array(ops.convert_to_numpy(v))
    return sd


def load_optimizer_state(opt, vmap, sd):
    """The inverse of optimizer_state (a clear error if moments are missing)."""
    slots = _slots(opt, vmap)
    missing = [k for k in slots if f"m.{k}" not in sd or f"v.{k}" not in sd]
    if missing:
        raise ValueError(f"optimizer state lacks moments for {missing[:3]}{'...' if len(missing) > 3 else ''}")
    for k, (m, v) in slots.items():
        m.assign(np.asarray(sd[f"m.{k}"], m.dtype))
        v.assign(np.asarray(sd[f"v.{k}"], v.dtype))
    opt.iterations.assign(int(np.asarray(sd["t"]).reshape(())))


class KerasCheckpointState:
    """What a Keras training backend puts into a checkpoint and takes back, in the NumPy
    backends' format (needs `self.model`, a ConfigModel, and `self.opt`, a Keras Adam)."""

    def get_weights(self):
        return self.model.state_dict()

    def set_weights(self, sd):
        self.model.load_state_dict(sd)

    def get_optimizer_state(self):
        """Adam state in numpy_transformer.ops.optim.Adam.state_dict() form: t, m.<name>, v.<name>."""
        return optimizer_state(self.opt, self.model.variable_map())

    def set_optimizer_state(self, sd):
        load_optimizer_state(self.opt, self.model.variable_map(), sd)
