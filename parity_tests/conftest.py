import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

# NumPy-vs-Keras parity report (table at session end; markdown too if PARITY_REPORT is set)
from parity_report import parity_report, pytest_terminal_summary  # noqa: E402,F401
