"""Data and tokenizers, shared by every application and by the Keras twin: the English–German
sentence pairs (loading, the one text normalisation, splitting), the book's pickle read safely,
the embedded generated corpus, the RNN chapters' series, the word-level JSON tokenizer and
BERT's WordPiece. Standard library and NumPy only at import time."""
from .book_pickle import BookPickleError, load_book_pickle
from .pairs import clean_pair, clean_sentence, load_pairs, prepare_dataset, transliterate_german
from .tokenizer import Tokenizer

__all__ = ["BookPickleError", "load_book_pickle", "clean_pair", "clean_sentence", "load_pairs", "prepare_dataset",
           "transliterate_german", "Tokenizer"]
