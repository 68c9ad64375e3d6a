"""What the README's example commands write into the directory they are run from (the
repository root, in a clone) is git-ignored, so trying them leaves `git status` clean: the files
their options name (`--plot-attention attention.png`, `PARITY_REPORT=parity.md`, `--run-dir …`)
and the run directories of the commands' defaults."""
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from numpy_transformer.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
WRITES = ("--plot-attention", "--run-dir", "--out-dir")      # options that name what a command writes


def readme_commands():
    """The command lines of the README's bash blocks and of its inline `… python …` spans."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [line for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines()]
    lines += [span for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text) if re.search(r"\bpython\b", span)]
    return [shlex.split(line.split("#")[0]) for line in lines if line.split("#")[0].strip()]


def written_paths():
    """Relative paths the README's commands write, with the command that writes each."""
    _, parsers = build_parser()
    out = []
    for argv in readme_commands():
        out += [(tok.split("=", 1)[1], " ".join(argv)) for tok in argv if tok.startswith("PARITY_REPORT=")]
        out += [(argv[i + 1], " ".join(argv)) for i, tok in enumerate(argv[:-1]) if tok in WRITES]
        if argv[:3] == ["python", "-m", "numpy_transformer"]:
            words = [w for w in argv[3:5] if not w.startswith("-")]
            sub = parsers.get(" ".join(words)) or parsers.get(words[0])
            for opt in WRITES:
                action = sub._option_string_actions.get(opt)
                if action is not None and opt not in argv and isinstance(action.default, str):
                    out.append((action.default, " ".join(argv)))
    return [(p, cmd) for p, cmd in out if not Path(p).is_absolute()]


def test_the_readme_names_what_it_writes():
    paths = dict(written_paths())
    # the case and the parity report; the rest are the run directories
    assert {"attention.png", "parity.md", "runs/embedded", "runs/keras", "runs/sunspots"} <= set(paths), paths


def test_what_the_readme_commands_write_is_ignored():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (e.g. an unpacked sdist): nothing to ignore")
    for path, cmd in written_paths():
        r = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT)
        assert r.returncode == 0, f"{path} (written by `{cmd}`) is not in .gitignore"
