"""The run handler (numpy_transformer/training/run.py) and the directories the commands write:
every option is checked before the run directory; a directory that takes no files is refused
before any work, by every command that writes (a real read-only directory); the temporary files
a killed run leaves are removed at the next start or resume of its run directory, and nothing else
is (a real SIGKILL of a training process, and a real death inside safetensors' write)."""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from requires import require

from numpy_transformer.cli.main import main
from numpy_transformer.data.fileio import ATOMIC_TEMP, atomic_write, check_writable, remove_temp_files
from numpy_transformer.data.errors import UsageError
from numpy_transformer.training.checkpoint import SAFETENSORS_TEMP, TEMP_FILES
from numpy_transformer.training.run import check_run_dir

from conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


# -- every option before the run directory (issue 31, item 6) ------------------------------------

@pytest.mark.parametrize("command", [["train"], ["vit"], ["bert", "pretrain", "--data", "{tsv}"]])
def test_a_bad_option_is_reported_before_the_run_directory(command, tmp_path, small_tsv, capsys):
    held = tmp_path / "run"
    held.mkdir()
    (held / "checkpoint.safetensors").write_bytes(b"a run is here")
    command = [x.replace("{tsv}", str(small_tsv)) for x in command] + ["--run-dir", str(held)]
    assert main([*command, "--heads", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not divisible by num_heads=3" in err and "already holds" not in err, err
    assert main(command) == 2               # the same directory with good options: the directory's error
    assert capsys.readouterr().err.startswith(f"error: {held} already holds a checkpoint: pass --resume")


# -- a directory that takes no files (issue 31, item 1) --------------------------------------------

def _readonly(path):
    """`path` made read-only for a command: chmod 0555 (a real refusal for a user other than
    root); as root (which writes through 0555), a read-only bind mount of it in a private mount
    namespace (`unshare -rm`), the command run inside: the argv prefix that does so. None when
    neither can be made here."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        return []
    if shutil.which("unshare") and subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-rm", "sh", "-c", 'mount -o bind,ro "$0" "$0" && exec "$@"', str(path)]
    return None


def _run_readonly(tmp_path, argv, monkeypatch, capsys):
    """(exit status, stdout, stderr) of the command line `argv` with tmp_path/ro read-only."""
    ro = tmp_path / "ro"
    prefix = _readonly(ro)
    argv = [x.replace("{ro}", str(ro)) for x in argv]
    if prefix is not None:
        p = subprocess.run([*prefix, sys.executable, "-m", "numpy_transformer", *argv], capture_output=True,
                           text=True, env=ENV, cwd=tmp_path, timeout=300)
        return p.returncode, p.stdout, p.stderr
    # no read-only directory can be made on this machine: only the probe is mocked, as the
    # filesystem would answer it
    import numpy_transformer.data.fileio as fileio
    real = fileio.tempfile.mkstemp

    def mkstemp(*a, dir=None, **k):
        if Path(dir).resolve() == ro.resolve():
            raise OSError(30, "Read-only file system")
        return real(*a, dir=dir, **k)
    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


CASES = [  # argv; the line's start (the directory named, then why)
    (["train", *TINY, "--run-dir", "{ro}"], "error: --run-dir {ro}: cannot write there ("),
    (["train", *TINY, "--run-dir", "{ro}/new/run"], "error: --run-dir {ro}/new/run: cannot create it in {ro} ("),
    (["vit", "--run-dir", "{ro}/vit", "--quiet"], "error: --run-dir {ro}/vit: cannot create it in {ro} ("),
    (["bert", "pretrain", "--data", "{tsv}", "--run-dir", "{ro}"], "error: --run-dir {ro}: cannot write there ("),
    (["bert", "finetune", "--init", "{tmp}/none", "--run-dir", "{ro}"], "error: no checkpoint at {tmp}/none"),
    (["evaluate", "--checkpoint", "{ro}"], "error: --checkpoint {ro}: cannot write there ("),
    (["sunspots", "--out-dir", "{ro}", "--backends", "numpy"], "error: --out-dir {ro}: cannot write there ("),
    (["fibonacci", "--out-dir", "{ro}/f", "--backends", "numpy"], "error: --out-dir {ro}/f: cannot create it in {ro} ("),
    (["translate", "hello", "--plot-attention", "{ro}/a.png"],
     "error: translate: argument --plot-attention: {ro}/a.png: the directory {ro}: cannot write there ("),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv, line", CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_an_unwritable_directory_is_refused_before_any_work(argv, line, tmp_path, small_tsv, monkeypatch, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    if argv[0] == "evaluate":
        (ro / "checkpoint.safetensors").write_bytes(b"")    # refused for the directory before it is read
    argv = [x.replace("{tsv}", str(small_tsv)).replace("{tmp}", str(tmp_path)) for x in argv]
    rc, out, err = _run_readonly(tmp_path, argv, monkeypatch, capsys)
    line = line.replace("{ro}", str(ro)).replace("{tmp}", str(tmp_path))
    assert rc == 2 and err.startswith(line) and err.count("\n") == 1, (rc, err)
    assert "Traceback" not in err and out == ""              # nothing done: no data line, no epoch
    if "cannot" in line:
        assert "Read-only file system" in err or "Permission denied" in err


def test_the_probe_names_a_file_in_the_way_and_leaves_nothing(tmp_path):
    check_writable(tmp_path / "a" / "b", "--run-dir")          # made later, in tmp_path: fine
    assert list(tmp_path.iterdir()) == []                      # the probe is gone, nothing made
    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError, match=r"--out-dir .*/f/x: .*/f is a file, not a directory"):
        check_writable(tmp_path / "f" / "x", "--out-dir")


# -- temporary files of a killed run (issue 31, item 4) -------------------------------------------

def _written_names(tmp_path):
    """The temporary names atomic_write really gives the files of a run directory."""
    names = []
    for name in ("checkpoint.safetensors", "curves.png", "src_tokenizer.json", "history.json"):
        atomic_write(tmp_path / name, lambda tmp: (names.append(Path(tmp).name), Path(tmp).write_text("x")))
    return names


UNRELATED = ["notes.tmp", ".tmpabc", ".tmpABCDEFG", ".curves.png.tmp", "curves.png.k3x_9q2a.tmp",
             ".checkpoint.safetensors.K3X9Q2AB.tmp", "checkpoint.safetensors", ".hidden", "tmpAbC123"]


def test_only_the_writers_temporary_names_are_removed(tmp_path, capsys):
    names = _written_names(tmp_path)
    assert all(ATOMIC_TEMP.fullmatch(n) for n in names) and len(set(names)) == 4, names
    assert SAFETENSORS_TEMP.fullmatch(".tmpAbC123") and not SAFETENSORS_TEMP.fullmatch(".tmpabc")
    run = tmp_path / "run"
    run.mkdir()
    for n in names + [".tmpAbC123"] + UNRELATED:
        (run / n).write_text("left")
    (run / ".tmpXyZ789").mkdir()                     # a directory of that name is not a file of ours
    (run / ".history.json.abcd1234.tmp").symlink_to(tmp_path / "checkpoint.safetensors")
    a = argparse.Namespace(run_dir=str(run), resume=False, overwrite=True)
    assert check_run_dir(a) == run
    out = capsys.readouterr().out
    assert out == (f"removed 5 temporary files an interrupted run left in {run}: "
                   f"{', '.join(sorted(names + ['.tmpAbC123']))}\n")
    assert sorted(p.name for p in run.iterdir()) == sorted(UNRELATED + [".tmpXyZ789", ".history.json.abcd1234.tmp"])
    assert check_run_dir(a) == run and capsys.readouterr().out == ""     # nothing left: nothing said
    assert remove_temp_files(tmp_path / "none", TEMP_FILES) == []


HOOK = r'''
import os, signal, sys, time
pause = os.environ.get("NT_TEST_PAUSE_AT")
if pause:              # stop just before the rename of this file and wait to be killed
    real = os.replace
    def replace(src, dst, *a, **k):
        if str(dst).endswith(pause):
            open(os.environ["NT_TEST_MARK"], "w").close()
            time.sleep(300)
        return real(src, dst, *a, **k)
    os.replace = replace
if os.environ.get("NT_TEST_FSIZE"):    # the kernel kills the process at a write past this size
    import resource
    n = int(os.environ["NT_TEST_FSIZE"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))   # and leaves no core file
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)      # Python ignores it; the default kills
from numpy_transformer.cli.main import main
sys.exit(main(sys.argv[1:]))
'''


@pytest.mark.slow
def test_a_killed_run_leaves_temporary_files_that_its_resume_removes(tmp_path, small_tsv):
    require("safetensors")
    run = tmp_path / "run"
    argv = ["train", "--data", str(small_tsv), *TINY, "--threads", "1", "--run-dir", str(run)]
    mark = tmp_path / "paused"
    # 1. SIGKILL while curves.png of epoch 1 is written: its temporary file stays
    p = subprocess.Popen([sys.executable, "-c", HOOK, *argv, "--epochs", "1"], env={
        **ENV, "NT_TEST_PAUSE_AT": "curves.png", "NT_TEST_MARK": str(mark)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    t0 = time.time()
    while not mark.exists():
        assert p.poll() is None and time.time() - t0 < 240, p.communicate()
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL
    left = sorted(f.name for f in run.iterdir() if ATOMIC_TEMP.fullmatch(f.name))
    assert len(left) == 1 and left[0].startswith(".curves.png.") and (run / left[0]).stat().st_size > 1000, left
    for n in UNRELATED:
        if n != "checkpoint.safetensors":
            (run / n).write_text("mine")
    # 2. resume: the leftover is removed and said so; then the kernel kills it mid-checkpoint
    # (a write past RLIMIT_FSIZE inside safetensors' save: its own temporary file stays, with ours)
    size = (run / "checkpoint.safetensors").stat().st_size
    p = subprocess.run([sys.executable, "-c", HOOK, "train", "--resume", "--epochs", "2", "--run-dir", str(run)],
                       env={**ENV, "NT_TEST_FSIZE": str(size // 2)}, capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert p.returncode == -signal.SIGXFSZ, (p.returncode, p.stderr)
    assert p.stdout.startswith(f"removed 1 temporary file an interrupted run left in {run}: {left[0]}\n"), p.stdout
    ours = [f for f in run.iterdir() if ATOMIC_TEMP.fullmatch(f.name)]
    theirs = [f for f in run.iterdir() if SAFETENSORS_TEMP.fullmatch(f.name)]
    assert [f.name.startswith(".checkpoint.safetensors.") and f.stat().st_size == 0 for f in ours] == [True], ours
    # (safetensors 0.8 sizes its file before writing, which is where the limit strikes: 0 bytes
    # here; a kill -9 later in the write leaves a larger one, of the same name)
    assert len(theirs) == 1 and theirs[0].stat().st_size <= size // 2, theirs
    # 3. resume again: both removed, named; the run completes; the user's files are untouched
    p = subprocess.run([sys.executable, "-m", "numpy_transformer", "train", "--resume", "--epochs", "2",
                        "--run-dir", str(run)], env=ENV, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    names = ", ".join(sorted([ours[0].name, theirs[0].name]))
    assert p.stdout.startswith(f"removed 2 temporary files an interrupted run left in {run}: {names}\n"
                               f"resuming {run} after epoch 1 of 2\n"), p.stdout
    assert not [f for f in run.iterdir() if any(t.fullmatch(f.name) for t in TEMP_FILES)]
    assert all((run / n).read_text() == "mine" for n in UNRELATED if n != "checkpoint.safetensors")
    from numpy_transformer.training.checkpoint import load_checkpoint
    assert load_checkpoint(run)["meta"]["epoch"] == 2
