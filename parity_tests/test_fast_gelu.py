"""fast/gelu.py: the exact GELU with Eigen's float32 rational erf, on cache-sized blocks.

float32 is checked against Φ computed in float64 with SciPy's erf, over a dense grid, random
activations and the special values; float64 must be the plain ops bit for bit.

The bounds. Eigen's approximation (the one TensorFlow's and XLA's float32 erf use) plus the
~25 float32 roundings of Horner's rule leave Φ at most 2.5e-7 from the exact value on these
inputs (measured: 2.48e-7 on the grid); the bound adds one float32 spacing at 1 (6e-8) to that:
3.1e-7. SciPy's float32 erf itself is 4.5e-7 off x·Φ(x) at |x| = 12 through the final product's
rounding, so these bounds are as tight as the plain float32 path is accurate."""
import numpy as np
import pytest
from numpy_transformer.fast import gelu as fast_gelu
from numpy_transformer.ops import activations

from requires import require

CDF_BOUND = 3.1e-7      # see the module docstring
PRODUCT = 6e-8          # + ½ ulp of the products x·Φ and x·φ relative to max(1, |x|)


def inputs():
    """Every 2⁻¹⁴ over [−12, 12] (past ±4√2 the clamp holds Φ at 0 or 1), random activations at a
    ViT's scale, and sizes that are not multiples of the block."""
    grid = np.arange(-12.0, 12.0, 2.0 ** -14)
    rand = np.random.default_rng(0).standard_normal(300_001) * 3
    return np.concatenate([grid, rand]).astype(np.float32)


def exact(x):
    require("scipy")
    from scipy.special import erf
    x64 = x.astype(np.float64)
    cdf = 0.5 * (1.0 + erf(x64 / np.sqrt(2.0)))
    pdf = np.exp(-0.5 * x64 * x64) / np.sqrt(2.0 * np.pi)
    return cdf, x64 * cdf, cdf + x64 * pdf


def test_float32_forward_within_the_bound_of_the_exact_gelu():
    x = inputs()
    cdf, y, _ = exact(x)
    y32, cdf32 = fast_gelu.gelu_forward(x)
    assert y32.dtype == cdf32.dtype == np.float32 and y32.shape == x.shape
    assert np.max(np.abs(cdf32 - cdf)) <= CDF_BOUND
    scale = np.maximum(1.0, np.abs(x.astype(np.float64)))
    assert np.max(np.abs(y32 - y) / scale) <= CDF_BOUND + PRODUCT


def test_float32_backward_within_the_bound_of_the_exact_derivative():
    x = inputs()
    _, _, deriv = exact(x)
    _, cdf32 = fast_gelu.gelu_forward(x)
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    dx = fast_gelu.gelu_backward_inplace(dy.copy(), x, cdf32)
    scale = np.maximum(1.0, np.abs(x.astype(np.float64))) * np.abs(dy)
    # Φ's bound, exp's and the product's roundings (a few ulps of x·φ ≤ 0.25) per unit of dy
    assert np.max(np.abs(dx - deriv * dy) / np.maximum(scale, 1e-30)) <= CDF_BOUND + 4 * PRODUCT


def test_the_backward_writes_into_dy_and_handles_a_strided_dy():
    x = np.linspace(-3, 3, 40, dtype=np.float32).reshape(5, 8)
    _, cdf = fast_gelu.gelu_forward(x)
    dy = np.ones((5, 8), np.float32)
    out = fast_gelu.gelu_backward_inplace(dy, x, cdf)
    assert out is dy or np.shares_memory(out, dy)
    strided = np.ones((8, 5), np.float32).T            # not C-contiguous
    np.testing.assert_array_equal(fast_gelu.gelu_backward_inplace(strided, x, cdf), out)


def test_blocks_do_not_change_a_single_bit():
    """Each element sees the same operations whatever block it falls in: a size that is not a
    multiple of CHUNK, one smaller than a block, and the whole array give the same bits."""
    x = inputs()[: 3 * fast_gelu.CHUNK + 123]
    y, cdf = fast_gelu.gelu_forward(x)
    for lo, hi in ((0, 17), (5, fast_gelu.CHUNK + 9), (2 * fast_gelu.CHUNK - 3, x.size)):
        y_part, cdf_part = fast_gelu.gelu_forward(x[lo:hi].copy())
        np.testing.assert_array_equal(y_part, y[lo:hi])
        np.testing.assert_array_equal(cdf_part, cdf[lo:hi])
    y3, _ = fast_gelu.gelu_forward(x[:3 * 1000].reshape(3, 10, 100))
    np.testing.assert_array_equal(y3.reshape(-1), y[:3000])


def test_special_values_as_the_plain_gelu():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 3e38, -3e38, 1e-45, -1e-45], np.float32)
    with np.errstate(invalid="ignore"):               # −inf · Φ(−inf) = −inf · 0 is NaN on both sides
        y, cdf = fast_gelu.gelu_forward(x)
        y_plain = activations.gelu_forward(x)[0]
    np.testing.assert_array_equal(np.isnan(y), np.isnan(y_plain))
    finite = ~np.isnan(y_plain)
    np.testing.assert_array_equal(y[finite], y_plain[finite])
    assert cdf[1] == 1.0 and cdf[2] == 0.0 and cdf[3] == 0.5


@pytest.mark.parametrize("shape", [(7,), (3, 5, 11)])
def test_float64_is_the_plain_gelu_bit_for_bit(shape):
    x = np.random.default_rng(2).standard_normal(shape) * 3
    y, cdf = fast_gelu.gelu_forward(x)
    np.testing.assert_array_equal(y, activations.gelu_forward(x)[0])
    np.testing.assert_array_equal(cdf, activations.normal_cdf(x))
    dy = np.random.default_rng(3).standard_normal(shape)
    deriv = activations.normal_pdf(x)
    deriv *= x
    deriv += activations.normal_cdf(x)
    np.testing.assert_array_equal(fast_gelu.gelu_backward_inplace(dy.copy(), x, cdf), dy * deriv)
