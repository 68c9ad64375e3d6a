"""The notebooks (notebooks/README.md) stay true: each one runs top to bottom in a real Jupyter
kernel from its .py source (nbclient + ipykernel, the same code path as `python -m
notebooks.build`), and each stored .ipynb — what GitHub shows — has exactly the cells of its
source, so an edited source with a stale .ipynb fails here until it is rebuilt.

Executing all six takes a few minutes (training runs inside): marked `slow` and `notebooks`,
`pytest -m "not notebooks"` skips them. The staleness check is quick and not marked."""
import importlib.util
from pathlib import Path

import pytest
from requires import require

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
require("jupytext", "the notebook tests need the [notebooks] extra")


def build_module():
    """notebooks/build.py, loaded by path (the repository root need not be on sys.path)."""
    spec = importlib.util.spec_from_file_location("notebooks_build", ROOT / "notebooks" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_six_notebooks():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_notebook_matches_its_source(source):
    problems = build_module().stale_cells(source)
    assert not problems, "; ".join(problems) + f" — regenerate with: python -m notebooks.build {source.stem[:2]}"


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(source):
    require("nbclient", "the notebook tests need the [notebooks] extra")
    require("ipykernel", "the notebook tests need the [notebooks] extra")
    build = build_module()
    for module in build.REQUIRES[source.stem[:2]]:
        require(module, f"{source.name} needs {module}")
    nb, seconds = build.execute(source)      # raises CellExecutionError, with the cell and traceback
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert figures >= 2, f"{source.name} drew {figures} figure(s); each notebook shows at least two"
    print(f"{source.name}: {seconds:.0f} s")
