"""The optional dependencies of the tests, decided in one place.

`require("keras")` imports and returns a module of `pip install -e ".[all]"`. When it is
missing, a developer's test (or whole file, when called at module level) skips with the reason;
with NT_REQUIRE_ALL=1 in the environment (.ci/run sets it after installing .[all]) it FAILS
instead, so a broken install cannot pass as a run of skipped files.

Extras outside [all] (PyTorch, CuPy and a GPU, the real data file) are not this module's: their
tests skip with their reason as before (pytest.skip / skipif), flag or no flag.
"""
from __future__ import annotations

import importlib
import os

import pytest

# import name -> the extra of pyproject.toml that provides it; test_install.py checks that this is
# exactly [all] (every distribution of it, mapped to its import name)
ALL = {"keras": "keras", "tensorflow": "keras", "jax": "keras",
       "tqdm": "train", "matplotlib": "train", "safetensors": "train", "sacrebleu": "train", "scipy": "train",
       "threadpoolctl": "train", "psutil": "bench", "pytest": "dev", "hypothesis": "dev",
       "sklearn": "vit", "tokenizers": "bert", "jupyterlab": "notebooks", "jupytext": "notebooks",
       "nbclient": "notebooks", "nbformat": "notebooks", "ipykernel": "notebooks"}


def strict() -> bool:
    """True when a missing dependency of [all] must fail (NT_REQUIRE_ALL set, not 0/empty)."""
    return os.environ.get("NT_REQUIRE_ALL", "").strip() not in ("", "0")


def missing(why: str):
    """Skip (a developer's machine) or fail (NT_REQUIRE_ALL) with `why`; never returns."""
    __tracebackhide__ = True   # pytest reports the caller's line, not this one
    if strict():
        pytest.fail(f"{why} -- NT_REQUIRE_ALL is set, so a missing dependency of .[all] fails "
                    "(pip install -e \".[all]\")", pytrace=False)
    pytest.skip(why, allow_module_level=True)


def require(module: str, reason: str | None = None):
    """Import `module` (a dependency of [all]) and return it; skip or fail when it is absent.
    A module that is installed but breaks on import raises as usual (never a skip)."""
    if module not in ALL:
        raise ValueError(f"{module!r} is not a dependency of .[all]: skip on it with pytest.importorskip")
    __tracebackhide__ = True
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        error = e
    missing(f"{reason or f'needs {module}'} (the [{ALL[module]}] extra; {error})")
