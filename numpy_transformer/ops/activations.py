"""Element-wise activations, forward beside backward: ReLU (the paper's FFN) and GELU (ViT's
MLP, BERT, GPT), the exact erf form and the tanh approximation.

`activation_forward(name, x)` / `activation_backward(name, dy, cache)` pick one by its config
name: "relu", "gelu" (exact) or "gelu_tanh" (approximation)."""
from __future__ import annotations

import math

import numpy as np

ACTIVATIONS = ("relu", "gelu", "gelu_tanh")


def relu_forward(x):
    """y = max(x, 0). The cache is y (y > 0 marks where the gradient flows)."""
    y = np.maximum(x, 0)
    return y, y


def relu_backward(dy, y):
    """dy/dx = 1 where x > 0, else 0 (0 at the kink), so dx = dy · [y > 0]."""
    return dy * (y > 0)


def tanh_forward(x):
    """y = tanh(x). The cache is y: the derivative needs nothing else."""
    y = np.tanh(x)
    return y, y


def tanh_backward(dy, y):
    """d tanh(x)/dx = 1 − tanh²(x) = 1 − y², so dx = dy · (1 − y²)."""
    return dy * (1 - y * y)


def _erf(x):
    """erf to full precision. NumPy has none; SciPy's is imported here, on first use, so the
    translation model (ReLU) never loads SciPy."""
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError("the exact GELU needs SciPy (scipy.special.erf): pip install scipy, "
                          "or use activation='gelu_tanh'") from None
    return erf(x)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_C = 0.044715


def normal_cdf(x):
    """Φ(x) = ½ (1 + erf(x / √2)), the standard normal CDF, in x's dtype."""
    dt = x.dtype.type
    return dt(0.5) * (dt(1) + _erf(x * dt(1 / math.sqrt(2.0))))


def normal_pdf(x):
    """φ(x) = exp(−x²/2) / √(2π) = Φ'(x)."""
    dt = x.dtype.type
    return np.exp(dt(-0.5) * x * x) * dt(1 / math.sqrt(2.0 * math.pi))


def gelu_forward(x, approximate=False):
    """GELU (Hendrycks & Gimpel, 2016): y = x · Φ(x), Φ the standard normal CDF.
    exact:        Φ(x) = ½ (1 + erf(x / √2))
    approximate:  Φ(x) ≈ ½ (1 + tanh(√(2/π) (x + 0.044715 x³)))   (the BERT/GPT-2 form)
    The cache is x (the derivative needs Φ(x) and φ(x), recomputed in the backward)."""
    dt = x.dtype.type
    if approximate:
        u = dt(_SQRT_2_OVER_PI) * (x + dt(_C) * x * x * x)
        return dt(0.5) * x * (dt(1) + np.tanh(u)), x
    return x * normal_cdf(x), x


def gelu_derivative(x, approximate=False):
    """dy/dx of gelu_forward.
    exact:  y = x Φ(x)  ⇒  y' = Φ(x) + x φ(x),  φ(x) = exp(−x²/2) / √(2π)
    tanh:   y = ½ x (1 + t), t = tanh(u), u = √(2/π)(x + 0.044715 x³), dt/du = 1 − t²
            ⇒ y' = ½ (1 + t) + ½ x (1 − t²) · √(2/π) (1 + 3·0.044715 x²)."""
    dt = x.dtype.type
    if approximate:
        t = np.tanh(dt(_SQRT_2_OVER_PI) * (x + dt(_C) * x * x * x))
        return dt(0.5) * (dt(1) + t) + dt(0.5) * x * (dt(1) - t * t) * dt(_SQRT_2_OVER_PI) * (
            dt(1) + dt(3 * _C) * x * x)
    return normal_cdf(x) + x * normal_pdf(x)


def gelu_backward(dy, x, approximate=False):
    """dx = dy · GELU'(x) (element-wise; see gelu_derivative)."""
    return dy * gelu_derivative(x, approximate)


def check_activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    return name


def activation_forward(name, x):
    """y and the cache for the named activation (ReLU caches y, GELU caches x)."""
    if check_activation(name) == "relu":
        return relu_forward(x)
    return gelu_forward(x, approximate=name == "gelu_tanh")


def activation_backward(name, dy, cache):
    if check_activation(name) == "relu":
        return relu_backward(dy, cache)
    return gelu_backward(dy, cache, approximate=name == "gelu_tanh")
