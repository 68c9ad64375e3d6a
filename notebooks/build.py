"""Execute the notebooks from their source and write the .ipynb with outputs.

    python -m notebooks.build              every notebook: run notebooks/NN_*.py, write NN_*.ipynb
    python -m notebooks.build 02 05        only those whose name starts with (or contains) 02, 05
    python -m notebooks.build --check      no execution: a line per notebook (up to date, or stale:
                                           a stored .ipynb's cells differ from its .py source, what
                                           the test suite checks too), a summary; exit 1 if stale

The source of each notebook is a jupytext "percent" script (`# %%` code cells, `# %% [markdown]`
prose), diff-friendly and reviewable; the .ipynb beside it is what GitHub shows, with outputs
and figures. Each notebook runs in a real Jupyter kernel (nbclient + ipykernel), started from
this interpreter (`sys.executable`) through a kernelspec written to a temporary directory, so
it needs no `ipykernel install` and cannot pick up another environment's `python3` kernel; the
kernel's working directory is the repository root and PYTHONPATH starts there, so the notebooks
import this checkout's package. parity_tests/test_notebooks.py uses `execute` and `stale_cells`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KERNEL_NAME = "numpy-transformer-notebooks"
# what a stored notebook says it runs on, so that Jupyter opens it with the reader's own Python 3
KERNELSPEC_METADATA = {"name": "python3", "display_name": "Python 3", "language": "python"}
CELL_TIMEOUT_S = 600
# imports beyond the notebooks extra that a notebook cannot run without (the test skips it
# with the reason when one is missing; Keras is optional everywhere: the cells that compare
# with it say so and skip)
REQUIRES = {"01": ("matplotlib", "threadpoolctl"), "02": ("matplotlib", "threadpoolctl"),
            "03": ("matplotlib", "threadpoolctl", "safetensors", "sacrebleu"),
            "04": ("matplotlib", "safetensors", "sklearn", "scipy"),
            "05": ("matplotlib", "safetensors", "tokenizers", "scipy"), "06": ("matplotlib", "psutil")}


def sources(patterns=()):
    """The notebooks' .py sources (notebooks/NN_name.py), sorted, those matching `patterns` if any."""
    files = sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))
    if patterns:
        files = [p for p in files if any(p.stem.startswith(s) or s in p.stem for s in patterns)]
    return files


def read_source(path):
    """The notebook that jupytext reads from a percent-format .py file."""
    import jupytext
    return jupytext.read(path, fmt="py:percent")


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def stale_cells(py_path):
    """Differences between the stored .ipynb and its .py source, as readable lines (empty if in
    step): a missing .ipynb, a different number of cells, or the first cells that differ."""
    import nbformat
    ipynb = Path(py_path).with_suffix(".ipynb")
    if not ipynb.exists():
        return [f"{ipynb.name} is missing: run python -m notebooks.build {Path(py_path).stem[:2]}"]
    want, have = _cells(read_source(py_path)), _cells(nbformat.read(ipynb, as_version=4))
    out = []
    if len(want) != len(have):
        out.append(f"{ipynb.name} has {len(have)} cells, {Path(py_path).name} has {len(want)}")
    for i, (w, h) in enumerate(zip(want, have)):
        if w[0] != h[0]:
            out.append(f"cell {i} is {w[0]} in the source, {h[0]} in {ipynb.name}")
        elif w[1] != h[1]:
            a, b = w[1].splitlines(), h[1].splitlines()
            n = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            out.append(f"cell {i} ({w[0]}), line {n + 1}: source {(a[n] if n < len(a) else '<end>')[:70]!r}, "
                       f"stored {(b[n] if n < len(b) else '<end>')[:70]!r}")
    return out


def _kernel_manager_class(kernel_dir):
    """An AsyncKernelManager that finds kernelspecs in `kernel_dir` only."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class KernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _only_our_kernelspec(self):
            return KernelSpecManager(kernel_dirs=[str(kernel_dir)])
    return KernelManager


def _write_kernelspec(directory):
    spec = Path(directory) / KERNEL_NAME
    spec.mkdir(parents=True)
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (numpy-transformer)", "language": "python",
        "env": {"PYTHONPATH": pythonpath}}))


def execute(py_path, timeout=CELL_TIMEOUT_S):
    """Run the notebook of `py_path` top to bottom in a fresh kernel. Returns the executed
    notebook and the seconds it took; raises nbclient's CellExecutionError (with the cell and
    the traceback) if a cell fails."""
    from nbclient import NotebookClient
    nb = read_source(py_path)
    with tempfile.TemporaryDirectory() as kernels:
        _write_kernelspec(kernels)
        client = NotebookClient(nb, kernel_name=KERNEL_NAME, kernel_manager_class=_kernel_manager_class(kernels),
                                timeout=timeout, resources={"metadata": {"path": str(ROOT)}})
        t0 = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - t0
    nb.metadata["kernelspec"] = dict(KERNELSPEC_METADATA)
    nb.metadata.pop("jupytext", None)
    return nb, seconds


def build(py_path):
    """Execute and write NN_name.ipynb beside the source. Returns the seconds it took."""
    import nbformat
    nb, seconds = execute(py_path)
    nbformat.write(nb, Path(py_path).with_suffix(".ipynb"))
    return seconds


def check(files):
    """--check: one line per notebook (up to date, or stale with its first difference) and a
    summary that names the rebuild command; 1 if any is stale, else 0. Nothing is executed."""
    stale = []
    for p in files:
        problems = stale_cells(p)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        print(f"{p.with_suffix('.ipynb').name}: " + (f"stale: {problems[0]}{more}" if problems else "up to date"))
        if problems:
            stale.append(p.stem[:2])
    what = f"{len(files)} notebook{'s' if len(files) != 1 else ''}"
    if not stale:
        print(f"{what}: up to date")
        return 0
    print(f"{what}: {len(files) - len(stale)} up to date, {len(stale)} stale "
          f"(rebuild with: python -m notebooks.build {' '.join(stale)})")
    return 1


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m notebooks.build", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", help="name prefixes or parts (e.g. 02 bert); default: all")
    ap.add_argument("--check", action="store_true", help="only check that every .ipynb matches its .py")
    a = ap.parse_args(argv)
    files = sources(a.notebooks)
    if not files:
        print(f"no notebook matches {a.notebooks}", file=sys.stderr)
        return 2
    if a.check:
        return check(files)
    total = 0.0
    for p in files:
        print(f"{p.name} ...", end=" ", flush=True)
        seconds = build(p)
        total += seconds
        print(f"{seconds:.0f} s -> {p.with_suffix('.ipynb').name}")
    print(f"{len(files)} notebook(s) in {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
