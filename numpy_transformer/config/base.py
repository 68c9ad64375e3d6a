"""What every config shares: the dict/JSON round trip with its `kind` (the registry's key,
config/registry.py), `replace`, `d_k`, and the field checks each config starts with."""
from __future__ import annotations

import dataclasses
import json
import numbers
from typing import ClassVar

_DTYPES = ("float32", "float64")
ACTIVATIONS = ("relu", "gelu", "gelu_tanh")   # the feed-forward network's (ops/activations.py)


class _ConfigMethods:
    """d_k, replace and the dict/JSON round trip. `kind` names the model in the registry
    (config/registry.py) and is written into every dict, so a loader never guesses it."""

    kind: ClassVar[str]

    @property
    def d_k(self) -> int:
        """Width of one head's query/key/value vectors."""
        return self.d_model // self.num_heads

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict):
        """The config of a dict from `to_dict`; a dict of another kind is refused by name. A dict
        without "kind" (written before kinds existed) is taken as this class's."""
        d = dict(d)
        kind = d.pop("kind", cls.kind)
        if kind != cls.kind:
            raise ValueError(f"holds a {kind!r} config, not a {cls.kind!r} one ({cls.__name__})")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, s: str):
        return cls.from_dict(json.loads(s))


def _check_ints(cfg, names, zero_ok=("pad_id",), optional=()):
    """Each field in `names` a Python/NumPy integer (not a bool), ≥ 1 (≥ 0 for `zero_ok`; None
    allowed for `optional`), stored back as int: the check every config starts with."""
    what = type(cfg).__name__
    for name in names:
        v = getattr(cfg, name)
        if v is None and name in optional:
            continue
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{what}.{name} must be an int, got {v!r}")
        low = 0 if name in zero_ok else 1
        if v < low:
            raise ValueError(f"{what}.{name} must be >= {low}, got {v}")
        object.__setattr__(cfg, name, int(v))


def _check_heads(cfg):
    if cfg.d_model % cfg.num_heads:
        raise ValueError(f"d_model={cfg.d_model} is not divisible by num_heads={cfg.num_heads}")


def _check_rates(cfg, names=("dropout",)):
    """Each dropout rate in `names` a real number in [0, 1), stored back as float."""
    for name in names:
        v = getattr(cfg, name)
        if not isinstance(v, numbers.Real) or not 0.0 <= v < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {v!r}")
        object.__setattr__(cfg, name, float(v))


def _check_common(cfg):
    """The checks every config shares (encoder-layer settings, dtype); normalises floats."""
    _check_rates(cfg)
    if not isinstance(cfg.layer_norm_eps, numbers.Real) or not cfg.layer_norm_eps > 0:
        raise ValueError(f"layer_norm_eps must be > 0, got {cfg.layer_norm_eps!r}")
    if not isinstance(cfg.norm_first, bool):
        raise TypeError(f"norm_first must be a bool, got {cfg.norm_first!r}")
    if cfg.dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {cfg.dtype!r}")
    if cfg.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {cfg.activation!r}")
    object.__setattr__(cfg, "layer_norm_eps", float(cfg.layer_norm_eps))
