"""The command line's BLAS thread policy (numpy_transformer/training/threads.py): fixed counts are
applied and undone, `auto` caps small work at one thread and follows the load other processes
put on the machine, and a run records what it used."""
import argparse
import json

import pytest

from requires import require

threadpoolctl = require("threadpoolctl")

from numpy_transformer.training import threads  # noqa: E402
from numpy_transformer.cli.options import parse_threads  # noqa: E402
from numpy_transformer.training.threads import ThreadPolicy  # noqa: E402


def blas_threads():
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


def test_parse_threads():
    assert parse_threads("auto") == "auto" and parse_threads("3") == 3
    for bad in ("0", "-2", "two"):
        with pytest.raises(argparse.ArgumentTypeError, match="must be 'auto' or a whole number >= 1"):
            parse_threads(bad)


def test_fixed_count_is_applied_and_restored():
    before = blas_threads()
    with ThreadPolicy(1).start() as p:
        assert blas_threads() == [1] * len(before)
        assert p.describe()["requested"] == 1 and not p.adaptive
    assert blas_threads() == before


def test_small_work_gets_one_thread_whatever_the_load():
    p = ThreadPolicy("auto", work=threads.SMALL_GEMM - 1, cores=2)
    assert p.cap == 1 and not p.adaptive and "< " in p.reason


def test_decoding_a_few_sentences_gets_one_thread():
    """translate's few sentences: one thread (below SMALL_DECODE); a whole split (size not known
    when the policy starts) or a large --limit: auto, as in training."""
    from types import SimpleNamespace
    from numpy_transformer import RNNTranslatorConfig, TransformerConfig
    from numpy_transformer.apps.translation.commands import _decoding_threads
    big = {"src_vocab_size": 5000, "tgt_vocab_size": 5000, "max_len": 16}
    # the command line's default sizes (train's --d-model 128 … and --hidden 256)
    for cfg in (TransformerConfig(**big, d_model=128, num_heads=4, d_ff=512, num_layers=2),
                RNNTranslatorConfig(**big, embed_dim=128, hidden=256)):
        for sentences, beam in ((1, 1), (5, 4), (40, 1)):
            p = _decoding_threads(SimpleNamespace(threads="auto", beam=beam), cfg, sentences)
            with p:
                assert p.cap == 1 and not p.adaptive and "decoding" in p.reason, (cfg, sentences, beam)
        assert ThreadPolicy("auto", None, cores=2).cap == 2
        assert threads.decoding_policy("auto", None).cap == threads.available_cores()   # a whole split
        assert threads.decoding_policy("auto", threads.SMALL_DECODE).cap == threads.available_cores()
        assert threads.decoding_policy(1, threads.SMALL_DECODE * 10).cap == 1    # a fixed --threads N rules


def test_more_threads_than_cores_are_clamped_with_a_note(capsys):
    """--threads 999 on 2 usable cores runs 2 (what auto allows at most), says so in one line and
    records it; a count within the cores is taken as given, silently."""
    p = ThreadPolicy(999, work=10, cores=2)
    assert p.cap == 2 and not p.adaptive
    assert p.reason == "--threads 999, clamped to the 2 usable cores"
    assert capsys.readouterr().err == ("note: --threads 999: this process can use 2 cores, so it runs 2 threads "
                                       "(as --threads auto would at most)\n")
    d = p.describe()
    assert d["requested"] == 999 and d["cap"] == 2
    assert ThreadPolicy(2, cores=2).cap == 2 and ThreadPolicy(1, cores=2).cap == 1
    assert capsys.readouterr().err == ""
    assert threads.decoding_policy(10 ** 6, None).cap == threads.available_cores()   # decoding too


def test_the_command_line_clamps_threads(capsys, tmp_path, small_tsv):
    """On the machine's real core count: general-attention and translate (the issue's case, on a
    one-epoch run) say the note once and work."""
    require("safetensors")
    from conftest import TINY
    from numpy_transformer.cli.main import main
    cores = threads.available_cores()
    note = (f"note: --threads {cores + 7}: this process can use {cores} core{'s' if cores > 1 else ''}, "
            f"so it runs {cores} thread{'s' if cores > 1 else ''} (as --threads auto would at most)\n")
    assert main(["general-attention", "--threads", str(cores + 7)]) == 0
    assert capsys.readouterr().err == note
    run = tmp_path / "t"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run), "--epochs", "1", "--threads", "1",
                 *TINY]) == 0
    capsys.readouterr()
    assert main(["translate", "i am here", "--checkpoint", str(run), "--threads", str(cores + 7)]) == 0
    cap = capsys.readouterr()
    assert cap.err == note and cap.out.startswith("i am here -> ")


def test_auto_follows_the_load_of_other_processes(monkeypatch):
    """Simulated /proc/stat: the machine's busy seconds grow by our own CPU time plus `other`."""
    clock = {"t": 0.0, "busy": 0.0, "own": 0.0, "other": 0.0}
    monkeypatch.setattr(threads.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(threads.time, "sleep", lambda s: advance(s))
    monkeypatch.setattr(threads, "_cpu_sample", lambda: (clock["busy"], clock["own"]))

    def advance(s, own_cores=1.0):
        clock["t"] += s
        clock["own"] += own_cores * s
        clock["busy"] += (own_cores + clock["other"]) * s

    # the BLAS at 2 threads for the simulated 2 cores: with OMP_NUM_THREADS=1 in the environment
    # `auto` would rightly stay at the BLAS's own 1 and never adapt
    with threadpoolctl.threadpool_limits(2, user_api="blas"), \
            ThreadPolicy("auto", work=threads.SMALL_GEMM * 4, cores=2).start() as p:
        assert p.adaptive and p.current == 2          # idle machine: both cores
        adam = []
        p.on_change(adam.append)
        clock["other"] = 1.0                          # another process takes a core
        advance(threads.INTERVAL * 1.01)
        p.tick()
        assert p.current == 1 and adam[-1] == 1 and p.other == pytest.approx(1.0)
        clock["other"] = 0.2                          # a light background load leaves the core to us
        advance(threads.INTERVAL * 1.01)
        p.tick()
        assert p.current == 2 and adam[-1] == 2
        clock["other"] = 0.3                          # more than a quarter of a core: taken
        advance(threads.INTERVAL * 1.01)
        p.tick()
        assert p.current == 1
        advance(threads.INTERVAL / 10)                # no new look before INTERVAL has passed
        clock["other"] = 0.0
        p.tick()
        assert p.current == 1 and p.switches == 3
        assert p.take_counts() == {"1": 2, "2": 2}   # each step counted at the count it ran with and p.take_counts() == {}


def test_a_run_records_its_threads(tmp_path, small_tsv):
    require("safetensors")
    from conftest import TINY
    from numpy_transformer.training.checkpoint import load_checkpoint
    from numpy_transformer.cli.main import main
    run = tmp_path / "t"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run), "--epochs", "1", "--threads", "1",
                 *TINY]) == 0
    meta = load_checkpoint(run)["meta"]["threads"]
    assert meta["requested"] == 1 and meta["cap"] == 1 and meta["reason"] == "--threads 1"
    assert meta["blas"] and meta["blas"][0].startswith(("openblas", "mkl", "blis"))
    hist = json.loads((run / "history.json").read_text())
    assert hist[0]["blas_threads"] == {"1": 8}      # 240 training pairs (some dropped) → 8 steps of batch 32


def test_blas_threads_are_restored_when_training_stops_with_an_error(tmp_path, small_tsv, capsys):
    from conftest import TINY
    from numpy_transformer.cli.main import main
    before = blas_threads()
    if before == [1] * len(before):
        pytest.skip("BLAS already runs one thread: a leaked --threads 1 would not show")
    # --max-len 2 fails after the data is read, with --threads 1 already applied
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(tmp_path / "x"), "--max-len", "2",
                 "--threads", "1", *TINY]) == 2
    assert "leaves no training pair" in capsys.readouterr().err
    assert blas_threads() == before


@pytest.mark.slow
def test_keras_run_with_fixed_threads_sets_tensorflows_pools_quietly(tmp_path, small_tsv):
    """In a fresh process (TensorFlow's pools can only be set before its first op): the run's
    record says what TensorFlow got, and TensorFlow's start-up lines are not printed."""
    require("keras")
    require("safetensors")
    import subprocess
    import sys
    from conftest import TINY
    run = tmp_path / "k"
    p = subprocess.run([sys.executable, "-m", "numpy_transformer", "train", "--backend", "keras", "--data",
                        str(small_tsv), "--run-dir", str(run), "--epochs", "1", "--threads", "1", *TINY],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr            # no TensorFlow log lines, no progress bar off a terminal
    from numpy_transformer.training.checkpoint import load_checkpoint
    meta = load_checkpoint(run)["meta"]["threads"]
    assert meta["tensorflow"] == "intra-op and inter-op pools: 1 thread each" and meta["cap"] == 1


def test_auto_stays_under_a_limit_the_user_set():
    """A BLAS started with fewer threads (as OPENBLAS_NUM_THREADS=1 does) is not raised by auto."""
    before = blas_threads()
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        with ThreadPolicy("auto", work=threads.SMALL_GEMM * 100, cores=2).start(probe=0) as p:
            assert p.cap == 1 and not p.adaptive and blas_threads() == [1] * len(before)
            assert "OPENBLAS_NUM_THREADS" in p.describe()["reason"]
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before
