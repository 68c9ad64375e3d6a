"""Element-wise activations, forward beside backward."""
from __future__ import annotations

import numpy as np


def relu_forward(x):
    """y = max(x, 0). The cache is y (y > 0 marks where the gradient flows)."""
    y = np.maximum(x, 0)
    return y, y


def relu_backward(dy, y):
    """dy/dx = 1 where x > 0, else 0 (0 at the kink), so dx = dy · [y > 0]."""
    return dy * (y > 0)
