"""The Vision Transformer's input and output ops (Dosovitskiy et al., 2021, eq. 1 and 4),
forward beside backward:

    z0 = [x_class; x_p¹ E; x_p² E; …; x_pᴺ E] + E_pos        x_pⁱ the i-th flattened patch
    logits = LN(z_L)⁰ W_head + b_head                         the class token's output

patchify cuts images into patches (its gradient is the inverse, unpatchify); the patch
embedding is a linear layer over the flattened patches (ops/linear.py); the class token is a
learned vector put in front of the sequence; the position embedding a learned table added to
it; the head reads the class token's row only. Images are channels last, (B, H, W, C).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .linear import linear_backward, linear_forward


def patchify(images, patch_size):
    """(B, H, W, C) → (B, N, P·P·C), N = (H/P)(W/P): patch n = (i, j) (row-major over the grid of
    patches) holds pixels [iP:(i+1)P, jP:(j+1)P, :], flattened in (row, column, channel) order
    (the order of tf.image.extract_patches, which the book's ViT uses). A reshape exposes the
    grid, (B, H/P, P, W/P, P, C), and a transpose brings the two patch indices (i, j) before the
    three in-patch indices (r, c, ch)."""
    B, H, W, C = images.shape
    P = patch_size
    if H % P or W % P:
        raise ValueError(f"patch_size={P} does not divide the image size {H}x{W}")
    grid = images.reshape(B, H // P, P, W // P, P, C).transpose(0, 1, 3, 2, 4, 5)
    return grid.reshape(B, (H // P) * (W // P), P * P * C)


def unpatchify(patches, image_shape, patch_size):
    """The inverse of patchify, (B, N, P·P·C) → (B, H, W, C). Patchify only moves pixels (a
    permutation Π, y = Πx), so its gradient is the inverse permutation: dx = Πᵀ dy = Π⁻¹ dy,
    i.e. the same reshape and transpose undone."""
    B, H, W, C = image_shape
    P = patch_size
    grid = patches.reshape(B, H // P, W // P, P, P, C).transpose(0, 1, 3, 2, 4, 5)
    return grid.reshape(B, H, W, C)


patchify_backward = unpatchify


class PatchEmbedCache(NamedTuple):
    patches: np.ndarray      # (B, N, P·P·C), the linear layer's input (for dW)
    image_shape: tuple       # (B, H, W, C), to unpatchify the input's gradient


def patch_embed_forward(images, weight, bias, patch_size):
    """x_pⁱ E + b for every patch: patchify, then one linear layer (P·P·C → d_model) shared by
    all patches. Equivalent to a convolution with kernel size = stride = P. Returns (B, N, d)
    and the cache."""
    patches = patchify(images, patch_size)
    return linear_forward(patches, weight, bias)[0], PatchEmbedCache(patches, images.shape)


def patch_embed_backward(dy, cache, weight, patch_size):
    """The linear layer's backward (dW = Σ patchesᵀ dy, db = Σ dy, dpatches = dy Wᵀ) and
    unpatchify for the images' gradient. Returns dimages, dW, db."""
    dpatches, dW, db = linear_backward(dy, cache.patches, weight)
    return unpatchify(dpatches, cache.image_shape, patch_size), dW, db


def prepend_class_token(x, class_token):
    """[x_class; x]: (B, N, d) → (B, N + 1, d), the same learned vector (d,) at position 0 of
    every sequence. (Concatenation; no cache needed.)"""
    B, _, d = x.shape
    return np.concatenate([np.broadcast_to(class_token, (B, 1, d)), x], axis=1)


def prepend_class_token_backward(dy):
    """Concatenation routes each row's gradient back to where it came from; the class token
    was copied into all B sequences, so its gradient sums over the batch:
        dx = dy[:, 1:],   dx_class = Σ_b dy[b, 0].  Returns dx, dclass_token."""
    return dy[:, 1:], dy[:, 0].sum(axis=0)


def add_position_embedding(x, pos_embed):
    """z = x + E_pos, E_pos (N + 1, d) learned, broadcast over the batch."""
    if x.shape[1:] != pos_embed.shape:
        raise ValueError(f"position embedding {pos_embed.shape} does not fit the sequence {x.shape[1:]}")
    return x + pos_embed


def add_position_embedding_backward(dy):
    """∂z/∂x = I and E_pos is added to every sequence: dx = dy, dE_pos = Σ_b dy[b]."""
    return dy, dy.sum(axis=0)


def class_token_output(h):
    """The head's input: the class token's row of the encoder output, h[:, 0] (B, d)."""
    return h[:, 0]


def class_token_output_backward(dy, h_shape, dtype):
    """Only row 0 of each sequence reached the head: dh[:, 0] = dy, every other row gets 0."""
    dh = np.zeros(h_shape, dtype=dtype)
    dh[:, 0] = dy
    return dh
