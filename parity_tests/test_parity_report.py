"""Where the parity table goes at the end of a session: one line by default, the markdown file
that PARITY_REPORT names, or the terminal with PARITY_REPORT=-."""
import pytest

import parity_report


class Terminal:
    def __init__(self):
        self.lines = []

    def section(self, title):
        self.lines.append(f"== {title}")

    def write_line(self, line):
        self.lines.append(line)


@pytest.fixture
def report(monkeypatch):
    """A report of its own (the session's keeps its rows), with two rows, one over tolerance."""
    r = parity_report.ParityReport()
    r.record("logits", "float32", "d8h2", "max_rel", 1e-5, 2e-7)
    r.record("dW", "float64", "d8h2", "rel", 1e-9, 3e-9)
    monkeypatch.setattr(parity_report, "REPORT", r)
    return r


def test_by_default_one_line(report, monkeypatch):
    monkeypatch.delenv("PARITY_REPORT", raising=False)
    tr = Terminal()
    parity_report._emit(tr)
    parity_report._emit(tr)   # the conftest hook and the fixture's plugin: printed once
    assert tr.lines == ["NumPy vs Keras parity: 2 comparisons, 1 over tolerance "
                        "(PARITY_REPORT=parity.md writes the table, PARITY_REPORT=- prints it)"]


def test_a_path_gets_the_markdown(report, monkeypatch, tmp_path):
    monkeypatch.setenv("PARITY_REPORT", str(tmp_path))   # a directory: parity_report.md in it
    tr = Terminal()
    parity_report._emit(tr)
    md = (tmp_path / "parity_report.md").read_text()
    assert "2 comparisons, 1 over tolerance." in md and "| logits | float32 | d8h2 | max_rel |" in md
    assert tr.lines == [f"NumPy vs Keras parity: 2 comparisons, 1 over tolerance; the table is in "
                        f"{tmp_path / 'parity_report.md'}"]


def test_dash_prints_the_table(report, monkeypatch):
    monkeypatch.setenv("PARITY_REPORT", "-")
    tr = Terminal()
    parity_report._emit(tr)
    assert tr.lines[0].startswith("== NumPy vs Keras parity") and len(tr.lines) == 5
    # sorted by dtype, then quantity; the row over tolerance is flagged
    assert tr.lines[2].startswith("logits") and tr.lines[3].startswith("dW") and tr.lines[3].endswith("<-- OVER")
    assert tr.lines[-1] == "NumPy vs Keras parity: 2 comparisons, 1 over tolerance"
