"""`python -m notebooks.build --check` (notebooks/build.py) reports on every notebook, without
executing any: one line each (up to date, or stale with the first difference), a summary line,
and a non-zero exit status when one is stale. Kept apart from test_notebooks.py, whose other
tests execute the notebooks."""
import importlib.util
import subprocess
import sys
from pathlib import Path

from requires import require

ROOT = Path(__file__).resolve().parents[1]
require("jupytext", "the notebook check needs the [notebooks] extra")


def build_module():
    spec = importlib.util.spec_from_file_location("notebooks_build_check", ROOT / "notebooks" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_reports_every_notebook_and_fails_when_one_is_stale(tmp_path, monkeypatch, capsys):
    import nbformat
    build = build_module()
    monkeypatch.setattr(build, "HERE", tmp_path)
    source = "# %% [markdown]\n# A title\n\n# %%\nx = 1\nprint(x)\n"
    for name in ("01_fresh", "02_edited", "03_new"):
        (tmp_path / f"{name}.py").write_text(source)
    for name in ("01_fresh", "02_edited"):              # 03_new has no .ipynb yet
        nbformat.write(build.read_source(tmp_path / f"{name}.py"), tmp_path / f"{name}.ipynb")
    (tmp_path / "02_edited.py").write_text(source.replace("x = 1", "x = 2") + "\n# %%\ny = 3\n")   # edited after

    assert build.main(["--check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == ["01_fresh.ipynb: up to date",
                   "02_edited.ipynb: stale: 02_edited.ipynb has 2 cells, 02_edited.py has 3 (and 1 more)",
                   "03_new.ipynb: stale: 03_new.ipynb is missing: run python -m notebooks.build 03",
                   "3 notebooks: 1 up to date, 2 stale (rebuild with: python -m notebooks.build 02 03)"]

    assert build.main(["--check", "01"]) == 0
    assert capsys.readouterr().out.splitlines() == ["01_fresh.ipynb: up to date", "1 notebook: up to date"]


def test_check_of_the_repositorys_notebooks_prints_a_line_each():
    """The command as a user types it (in a subprocess, from the repository root)."""
    p = subprocess.run([sys.executable, "-m", "notebooks.build", "--check"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    lines = p.stdout.splitlines()
    names = sorted(f"{q.stem}.ipynb" for q in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert [line.split(":")[0] for line in lines[:-1]] == names, p.stdout + p.stderr
    if p.returncode == 0:
        assert lines[-1] == f"{len(names)} notebooks: up to date" and p.stderr == ""
    else:     # a stale notebook is test_notebooks.py's failure to report; here the summary must say so
        assert p.returncode == 1 and " stale (rebuild with: python -m notebooks.build " in lines[-1]
