"""Every dependency of `pip install -e ".[all]"` is importable at a version pyproject.toml allows.
Read from pyproject.toml itself, so a dependency added there is checked here without an edit; on
a developer's machine a missing one skips with its name, under NT_REQUIRE_ALL=1 (CI) it fails."""
from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from requires import ALL, missing, require

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# distributions whose import name is not the distribution's name with '-' -> '_'
IMPORT_NAME = {"scikit-learn": "sklearn", "tensorflow-cpu": "tensorflow"}


def _extras():
    if sys.version_info < (3, 11):   # tomllib is 3.11+; requires-python allows 3.10
        return None
    import tomllib
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["optional-dependencies"]


def all_requirements():
    """The requirements of the [all] extra, its self-references ("numpy-transformer[keras,...]")
    expanded, those whose environment marker excludes this machine dropped."""
    extras = _extras()
    if extras is None:
        return []
    out, todo, seen = [], ["all"], set()
    while todo:
        extra = todo.pop()
        seen.add(extra)
        for spec in extras[extra]:
            req = Requirement(spec)
            if req.name == "numpy-transformer":
                todo += [e for e in req.extras if e not in seen]
            elif req.marker is None or req.marker.evaluate():
                out.append(req)
    return sorted({r.name: r for r in out}.values(), key=lambda r: r.name)   # one each (scipy is in four)


def _import_name(dist):
    return IMPORT_NAME.get(dist, re.sub(r"[-.]", "_", dist).lower())


REQS = all_requirements()


@pytest.mark.skipif(not REQS, reason="reading pyproject.toml needs tomllib (Python 3.11+)")
def test_the_tests_list_of_all_is_pyprojects():
    """requires.ALL (what require() accepts, and calls a dependency of [all]) is [all] itself."""
    assert {_import_name(r.name) for r in REQS} == set(ALL)


@pytest.mark.skipif(not REQS, reason="reading pyproject.toml needs tomllib (Python 3.11+)")
@pytest.mark.parametrize("req", REQS, ids=lambda r: r.name)
def test_dependency_of_all_is_installed(req):
    require(_import_name(req.name), f"{req} is not installed")
    try:
        version = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        # importable under another distribution's name (tensorflow for tensorflow-cpu, say): the
        # import is what the tests need
        return
    if not req.specifier.contains(version, prereleases=True):
        missing(f"{req.name} {version} is installed; pyproject.toml asks for {req}")


@pytest.mark.parametrize("flag", ["", "0", "1", "true"])
def test_require_skips_or_fails_on_a_missing_module(flag, monkeypatch):
    """The switch itself: a module made unimportable skips the test without the flag (unset, empty
    or 0) and fails it with the flag (pytest's skip and fail are exceptions: catch them to look)."""
    monkeypatch.setitem(sys.modules, "sacrebleu", None)   # `import sacrebleu` now raises ModuleNotFoundError
    monkeypatch.setenv("NT_REQUIRE_ALL", flag)
    expected = (pytest.fail.Exception, "NT_REQUIRE_ALL is set") if flag in ("1", "true") else \
        (pytest.skip.Exception, "needs sacrebleu \\(the \\[train\\] extra")
    with pytest.raises(expected[0], match=expected[1]):
        require("sacrebleu")
    with pytest.raises(ValueError, match="not a dependency of .\\[all\\]"):
        require("torch")
