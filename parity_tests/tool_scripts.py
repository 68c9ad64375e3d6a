"""The scripts of tools/ (finished experiments and the suite timer; tools/ is no package), loaded
by their path as modules so that tests can call their functions and main(argv)."""
import importlib.util
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_tool(name):
    """tools/<name>.py as a fresh module."""
    spec = importlib.util.spec_from_file_location(f"tools_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module      # as for a script: its main() passes itself to run_module
    spec.loader.exec_module(module)
    return module
