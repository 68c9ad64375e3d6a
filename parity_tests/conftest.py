import os
import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

# NumPy-vs-Keras parity report: one line at session end; the table with PARITY_REPORT=path.md (or - to print it)
from parity_report import parity_report, pytest_terminal_summary  # noqa: E402,F401

# the smallest translation model the CLI trains in tests (seconds per epoch on 300 pairs)
TINY = ["--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1", "--batch-size", "32"]


@pytest.fixture(scope="session")
def small_tsv(tmp_path_factory):
    """300 pairs of the embedded corpus as a deu.txt-style file (CRLF line ends)."""
    from numpy_transformer.data.corpus import default_corpus
    path = tmp_path_factory.mktemp("data") / "pairs.tsv"
    path.write_text("".join(f"{en}\t{de}\r\n" for en, de in default_corpus()[:300]), encoding="utf-8")
    return path


@pytest.fixture
def no_data(monkeypatch):
    """Any attempt to read the corpus or a data file fails the test: a bad option's error must
    come first. (Modules that bind the loaders by name, such as apps/translation/translate.py, must be
    imported before this patches them.)"""
    import numpy_transformer.data.corpus as corpus
    import numpy_transformer.data.pairs as data

    def forbidden(*a, **k):
        raise AssertionError("data was loaded before the bad option was reported")
    monkeypatch.setattr(corpus, "default_corpus", forbidden)
    monkeypatch.setattr(data, "load_pairs", forbidden)


# Hypothesis: derandomized by default, so every run draws the same examples (deterministic CI);
# HYPOTHESIS_PROFILE=random draws afresh (with --hypothesis-seed=N to pick the draws).
from hypothesis import settings  # noqa: E402

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("random", derandomize=False, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
