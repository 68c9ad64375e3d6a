"""The book's general attention example (chapter 8): four word vectors, query/key/value
projections drawn with np.random.seed(42), softmax(Q Kᵀ / √d_k) V, computed twice: with the
project's scaled_dot_product_attention and the book's way with scipy.special.softmax. The two
must agree, and both must print the book's numbers."""
from __future__ import annotations

import numpy as np

from ...ops.attention import scaled_dot_product_attention

# What the book prints for `attention` (8 decimals, numpy's default print precision).
BOOK_ATTENTION = np.array([[0.98522025, 1.74174051, 0.75652026],
                           [0.90965265, 1.40965265, 0.5],
                           [0.99851226, 1.75849334, 0.75998108],
                           [0.99560386, 1.90407309, 0.90846923]])


def book_inputs():
    """The encodings of four words and the three projections, exactly as in the book (NumPy's
    legacy global generator: random.seed(42), then randint(3, size=(3, 3)) three times)."""
    words = np.array([[1, 0, 0],      # word_1
                      [0, 1, 0],      # word_2
                      [1, 1, 0],      # word_3
                      [0, 0, 1]])     # word_4
    state = np.random.get_state()     # leave the caller's global generator as it was
    try:
        np.random.seed(42)
        W_Q = np.random.randint(3, size=(3, 3))
        W_K = np.random.randint(3, size=(3, 3))
        W_V = np.random.randint(3, size=(3, 3))
    finally:
        np.random.set_state(state)
    return words, W_Q, W_K, W_V


def general_attention(quiet=False):
    """Returns {"project", "scipy", "weights", "scores", "max_diff", "max_diff_book"}."""
    from scipy.special import softmax

    words, W_Q, W_K, W_V = book_inputs()
    Q, K, V = words @ W_Q, words @ W_K, words @ W_V
    scores = Q @ K.T                                               # integers, as in the book
    weights_scipy = softmax(scores / K.shape[1] ** 0.5, axis=1)
    attention_scipy = weights_scipy @ V
    attention, weights = scaled_dot_product_attention(*(a.astype(np.float64) for a in (Q, K, V)))
    out = {"project": attention, "scipy": attention_scipy, "weights": weights, "scores": scores,
           "max_diff": float(np.max(np.abs(attention - attention_scipy))),
           "max_diff_book": float(np.max(np.abs(attention - BOOK_ATTENTION)))}
    if not quiet:
        with np.printoptions(precision=8, suppress=False):
            print("words (one row per word):\n", words)
            print("W_Q, W_K, W_V (np.random.seed(42); randint(3, size=(3, 3))):")
            for name, w in (("W_Q", W_Q), ("W_K", W_K), ("W_V", W_V)):
                print(f"{name} =\n{w}")
            print("scores Q Kᵀ:\n", scores)
            print("weights softmax(Q Kᵀ / √d_k), the project's:\n", weights)
            print("attention, the project's scaled_dot_product_attention:\n", attention)
            print("attention, SciPy's softmax (the book's code):\n", attention_scipy)
        print(f"largest difference project vs SciPy: {out['max_diff']:.1e}; "
              f"vs the book's printed numbers (8 decimals): {out['max_diff_book']:.1e}")
    return out
