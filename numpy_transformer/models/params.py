"""What every NumPy model shares: its parameters, a tree shaped like the model
(`model.params.encoder.layers[0].self_attn.wq.weight`, config/tree.py), copied out by
state_dict() under the shared dotted names (numpy_transformer.config.parameter_shapes, in their
order) and loaded strictly. A model whose params are still a flat {name: array} dict works too."""
from __future__ import annotations

import math

import numpy as np

from ..config import check_state_dict, parameter_shapes
from ..config.tree import Tree, named, unflatten
from .kernels import get_kernels


class ParameterModel:
    """Needs `self.cfg`, `self.dtype` and `self.params` (a parameter tree, or a flat {name: array}
    dict), which `_setup` makes."""

    def _setup(self, cfg, config_class, init, seed, kernels=None):
        """The start every model shares: the config's type checked, its dtype, the kernels
        (models/kernels.py; None for a model without them), the parameters `init(cfg, seed)`,
        the generator of dropout masks (seed + 1) and no forward cached yet."""
        if not isinstance(cfg, config_class):
            name = config_class.__name__
            raise TypeError(f"cfg must be {'an' if name.startswith('RNN') else 'a'} {name}, got {type(cfg).__name__}")
        self.cfg, self.dtype = cfg, np.dtype(cfg.dtype)
        if kernels is not None:
            self.kernels = get_kernels(kernels)
        self.params = init(cfg, seed)
        self.rng = np.random.default_rng(seed + 1)   # dropout masks
        self._cache = None

    def state_dict(self):
        """A copy of every parameter under its shared dotted name, in the tree's order (that of
        config.parameter_shapes)."""
        return {k: v.copy() for k, v in named(self.params).items()}

    def load_state_dict(self, state):
        """Strict load: every expected key present with its shape, no extras, all finite.
        Values are cast to the config's dtype; nothing is changed if a check fails."""
        check_state_dict(state, self.cfg)
        flat = {k: np.array(state[k], dtype=self.dtype) for k in parameter_shapes(self.cfg)}
        self.params = unflatten(flat) if isinstance(self.params, Tree) else flat   # keep the model's form

    def num_parameters(self):
        return sum(v.size for v in named(self.params).values())


def init_parameters(shapes, dtype, seed, normal_std):
    """Glorot-uniform weights (Keras' Dense default), zero biases, LayerNorm gamma = 1 and
    beta = 0; a parameter for which `normal_std(name)` gives a number is drawn from N(0, std²)
    instead (embeddings, the class token). One generator, in the order of `shapes`. Returns
    {name: array} in that order; the models unflatten it into their tree (config/tree.py), so
    the draws, and with them the initial weights, do not depend on the tree."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in shapes.items():
        std = normal_std(name)
        if std is not None:
            w = rng.normal(0.0, std, shape)
        elif name.endswith(".weight"):
            limit = math.sqrt(6.0 / (shape[0] + shape[1]))
            w = rng.uniform(-limit, limit, shape)
        elif name.endswith(".gamma"):
            w = np.ones(shape)
        else:
            w = np.zeros(shape)
        params[name] = w.astype(dtype)
    return params
