"""Finite-difference helpers shared by the gradient tests of several ops."""
import numpy as np

from numpy_transformer.ops.gradcheck import gradcheck

TOL = 1e-7   # relative, above the noise floor that gradcheck derives from f's scale


def check_outputs(run, R, inputs, analytic):
    """gradcheck of f = Σ_i Σ run()[i]·R[i] (run returns a tuple of outputs), with f's scale
    Σ_i Σ |run()[i]·R[i]| for the finite differences' noise floor."""
    f = lambda: float(sum(np.sum(y * r) for y, r in zip(run(), R)))   # noqa: E731
    gradcheck(f, inputs, analytic, tol=TOL, f_scale=float(sum(np.sum(np.abs(y * r)) for y, r in zip(run(), R))))


def random_mask(rng, B, T, p=0.35):
    """Random positions masked out, every row keeping at least one."""
    m = rng.random((B, T)) > p
    m[np.arange(B), rng.integers(0, T, B)] = True
    return m
