"""State dicts: the shared parameter names (numpy_transformer.config.parameter_shapes) mapped
explicitly onto a TransformerModel's Keras variables, strict loading, NumPy arrays out."""
from __future__ import annotations

import numpy as np

from numpy_transformer.config import check_state_dict, parameter_shapes


def variable_map(model):
    """{shared name: Keras variable} for every parameter, in parameter_shapes order. Checks
    that the layers' maps cover exactly the expected names with the expected shapes."""
    if not model.built:
        model.build()
    vmap = {**{f"encoder.{k}": v for k, v in model.encoder.variable_map().items()},
            **{f"decoder.{k}": v for k, v in model.decoder.variable_map().items()},
            "output.weight": model.output_layer.kernel, "output.bias": model.output_layer.bias}
    expected = parameter_shapes(model.cfg)
    if set(vmap) != set(expected):
        raise RuntimeError(f"internal error: the variable map does not match parameter_shapes: "
                           f"{sorted(set(vmap) ^ set(expected))}")
    for k, shape in expected.items():
        if tuple(vmap[k].shape) != shape:
            raise RuntimeError(f"internal error: {k} has shape {tuple(vmap[k].shape)}, expected {shape}")
    return {k: vmap[k] for k in expected}


def state_dict(model):
    """A copy of every parameter as a NumPy array (cfg.dtype), under the shared names."""
    return {k: np.array(v.numpy()) for k, v in variable_map(model).items()}


def load_state_dict(model, state):
    """Strict load: every expected key, no extra key, the right shapes, all finite (else a
    ValueError naming the offenders, via check_state_dict). Values are cast to cfg.dtype;
    nothing is assigned unless every check passes."""
    check_state_dict(state, model.cfg)
    vmap = variable_map(model)
    values = {k: np.asarray(state[k], dtype=model.cfg.dtype) for k in vmap}
    for k, var in vmap.items():
        var.assign(values[k])
