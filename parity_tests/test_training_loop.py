"""The shared training loop (numpy_transformer/training/loop.py) with a tiny fake backend: history,
checkpoint and curves; bit-for-bit resume; --time-budget; the diverged-loss stop; Ctrl-C at a
clean point (the handler called directly mid-loop, so no test depends on a signal's timing), and
then real SIGINTs sent to `vit` and `train` subprocesses."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from numpy_transformer.config import RNNConfig, parameter_shapes
from numpy_transformer.training import loop
from numpy_transformer.training.checkpoint import load_checkpoint
from numpy_transformer.training.loop import Interrupted, Job, TrainingDiverged, fit, read_history, report

ROOT = Path(__file__).resolve().parents[1]
STEPS = 4


class Fake:
    """A backend whose weights move by rng draws scaled by the batch, so the result depends on
    every step's batch and random numbers and on their order. `on_step(t)` runs inside step t."""
    name = "fake"

    def __init__(self, losses=None, on_step=None):
        self.cfg = RNNConfig(input_dim=1, hidden=2, time_steps=3)      # any registered config will do
        self.w = {k: np.zeros(s, np.float32) for k, s in parameter_shapes(self.cfg).items()}
        self.t, self.losses, self.on_step = 0, losses or {}, on_step

    def train_step(self, batch, rng):
        self.t += 1
        for k in sorted(self.w):            # a fixed order: a loaded state dict's may differ
            self.w[k] += np.float32(batch) * rng.standard_normal(self.w[k].shape).astype(np.float32)
        if self.on_step is not None:
            self.on_step(self.t)
        return self.losses.get(self.t, 1.0 / self.t), self.t % 2, 1

    def get_weights(self):
        return {k: v.copy() for k, v in self.w.items()}

    def set_weights(self, sd):
        self.w = {k: np.array(v) for k, v in sd.items()}

    def get_optimizer_state(self):
        return {"t": np.array([self.t])}

    def set_optimizer_state(self, sd):
        self.t = int(sd["t"][0])


class Tok:
    def save(self, path):
        Path(path).write_text("tokenizer")


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Each test starts as a Python started from a terminal does, SIGINT → default_int_handler: a
    test run launched in the background (`nohup … &`, some CI runners) inherits SIGINT ignored,
    which the loop rightly leaves alone (SigintFlag installs itself only over Python's handler)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def job(backend, run_dir, epochs=3, seed=0, validate=None, **kw):
    def steps(epoch):                       # the app's part: (seed, epoch) decides the epoch's draws
        rng = np.random.default_rng([seed, epoch])
        for batch in rng.permutation(8)[:STEPS]:
            yield backend.train_step(batch, rng)
    return Job(backend, steps, STEPS, epochs, run_dir=run_dir, validate=validate or (lambda: (0.5, 0.25)),
               meta={"what": "test"}, files={"tok.json": Tok()}, curves={"title": "fake run"}, quiet=True, **kw)


def sigint():
    """What the kernel does on Ctrl-C, minus the timing: call the current SIGINT handler."""
    signal.getsignal(signal.SIGINT)(signal.SIGINT, None)


def test_each_epoch_writes_history_checkpoint_files_and_curves(tmp_path, capsys):
    b = Fake()
    hist = fit(job(b, tmp_path))
    assert [h["epoch"] for h in hist] == [1, 2, 3] and b.t == 3 * STEPS
    assert hist[0]["train_loss"] == pytest.approx(np.mean([1, 1 / 2, 1 / 3, 1 / 4]))
    assert hist[0]["train_acc"] == 0.5 and hist[0]["val_loss"] == 0.5 and hist[0]["val_acc"] == 0.25
    assert {"seconds", "val_seconds", "backend", "load_avg_1min"} <= set(hist[0]) and "tokens_per_sec" not in hist[0]
    assert json.loads((tmp_path / "history.json").read_text()) == json.loads(json.dumps(hist))
    ck = load_checkpoint(tmp_path)
    assert ck["meta"] == {"what": "test", "epoch": 3, "backend": "fake"} and int(ck["optimizer"]["t"][0]) == 12
    assert (tmp_path / "tok.json").read_text() == "tokenizer"
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["epoch 1", "epoch 2", "epoch 3"]
    assert re.fullmatch(r"epoch 1: train loss 0\.5208 acc 0\.5000 \| val loss 0\.5000 acc 0\.2500 \| \d+\.\ds", lines[0])


def test_resume_replays_the_uninterrupted_run_bit_for_bit(tmp_path):
    whole = Fake()
    fit(job(whole, tmp_path / "a"))
    first = Fake()
    fit(job(first, tmp_path / "b", epochs=1))
    ck = load_checkpoint(tmp_path / "b")
    resumed = Fake()
    resumed.set_weights(ck["weights"])
    resumed.set_optimizer_state(ck["optimizer"])
    hist = fit(job(resumed, tmp_path / "b"), start_epoch=ck["meta"]["epoch"], history=read_history(tmp_path / "b", 1))
    assert [h["epoch"] for h in hist] == [1, 2, 3] and resumed.t == whole.t
    for k, v in whole.w.items():
        np.testing.assert_array_equal(resumed.w[k], v, err_msg=k)
    assert len(read_history(tmp_path / "b", 3)) == 3 and load_checkpoint(tmp_path / "b")["meta"]["epoch"] == 3


def test_time_budget_stops_before_an_epoch_that_would_not_fit(tmp_path, monkeypatch, capsys):
    clock = {"t": 0.0}

    class FakeTime:
        @staticmethod
        def perf_counter():
            return clock["t"]

    monkeypatch.setattr(loop, "time", FakeTime)

    def tick(t):
        clock["t"] += 10.0                  # 10 s a step: 40 s an epoch
    # after epoch 2: 80 s spent, another 40 s would end at 120 s > 90 s
    hist = fit(job(Fake(on_step=tick), tmp_path, epochs=5, time_budget=1.5))
    assert len(hist) == 2 and [h["seconds"] for h in hist] == [40.0, 40.0]
    assert "--time-budget 1.5 min: stopping after epoch 2 (1.3 min spent; the next epoch would not fit)" in \
        capsys.readouterr().out
    assert loop.over_budget(hist, 2.0) is False and loop.over_budget(hist, 1.99) is True


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_diverged_loss_stops_before_any_checkpoint_of_its_epoch(tmp_path, capsys, bad):
    fit(job(Fake(), tmp_path, epochs=1))
    before = (tmp_path / "checkpoint.safetensors").read_bytes()
    b = Fake(losses={2: bad})                          # resumed at epoch 2: its 2nd step diverges
    with pytest.raises(TrainingDiverged) as e:
        fit(job(b, tmp_path), start_epoch=1, history=read_history(tmp_path, 1))
    assert b.t == 2                                    # no step after the bad one
    assert str(e.value) == (f"loss became {bad} in epoch 2; stopped without saving. The last good checkpoint "
                            f"(epoch 1) in {tmp_path} is intact: lower the learning rate and resume "
                            f"(--resume --run-dir {tmp_path}).")
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == before
    assert len(json.loads((tmp_path / "history.json").read_text())) == 1
    capsys.readouterr()
    assert report(e.value, tmp_path) == 2
    assert capsys.readouterr().err == f"error: {e.value}\n"


def test_a_diverged_first_epoch_writes_nothing(tmp_path):
    with pytest.raises(TrainingDiverged, match="No checkpoint of this run was written .*: lower --lr and start"):
        fit(job(Fake(losses={1: float("nan")}), tmp_path / "r", hint="lower --lr"))
    assert not (tmp_path / "r").exists()


def test_ctrl_c_mid_epoch_stops_after_that_step_with_the_last_epochs_checkpoint(tmp_path, capsys):
    b = Fake(on_step=lambda t: sigint() if t == STEPS + 2 else None)
    with pytest.raises(Interrupted) as e:
        fit(job(b, tmp_path, epochs=5))
    assert e.value.epoch == 1 and b.t == STEPS + 2          # stopped right after the step it came in
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler      # restored
    assert load_checkpoint(tmp_path)["meta"]["epoch"] == 1 and len(read_history(tmp_path, 9)) == 1
    capsys.readouterr()
    assert report(e.value, tmp_path) == 130
    assert capsys.readouterr().err == (f"\ninterrupted: the checkpoint of epoch 1 in {tmp_path} is intact; "
                                       f"continue with --resume --run-dir {tmp_path}\n")


def test_ctrl_c_during_validation_keeps_that_epoch(tmp_path):
    calls = []

    def validate():
        calls.append(1)
        if len(calls) == 2:
            sigint()
        return 0.5, 0.5
    with pytest.raises(Interrupted) as e:
        fit(job(Fake(), tmp_path, epochs=5, validate=validate))
    assert e.value.epoch == 2 and load_checkpoint(tmp_path)["meta"]["epoch"] == 2


def test_ctrl_c_in_the_last_epoch_still_stops_the_command(tmp_path):
    with pytest.raises(Interrupted) as e:
        fit(job(Fake(on_step=lambda t: sigint() if t == 3 * STEPS else None), tmp_path))
    assert e.value.epoch == 2 and load_checkpoint(tmp_path)["meta"]["epoch"] == 2


def test_a_second_ctrl_c_interrupts_at_once(tmp_path):
    after = []

    def twice(t):
        if t == STEPS + 1:
            sigint()
            with pytest.raises(KeyboardInterrupt):
                sigint()                    # Python's own handler is back: raises here, mid-step
            after.append(t)
            sigint()
            after.append("never")
    with pytest.raises(Interrupted) as e:
        fit(job(Fake(on_step=twice), tmp_path))
    assert after == [STEPS + 1] and e.value.epoch == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_real_sigint_to_this_process(tmp_path):
    def kill(t):
        if t == STEPS + 3:
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 10
            # another thread (BLAS) may take the signal: wait, inside this step, until Python has
            # run the handler (it puts the default one back), so the test does not hang on timing
            while signal.getsignal(signal.SIGINT) is not signal.default_int_handler and time.monotonic() < deadline:
                time.sleep(0.001)
    b = Fake(on_step=kill)
    with pytest.raises(Interrupted) as e:
        fit(job(b, tmp_path))
    assert e.value.epoch == 1 and b.t == STEPS + 3


def test_the_handler_is_restored_on_errors_and_leaves_foreign_handlers_alone(tmp_path):
    with pytest.raises(TrainingDiverged):
        fit(job(Fake(losses={2: float("nan")}), tmp_path / "a"))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    seen = []
    mine = signal.signal(signal.SIGINT, lambda s, f: seen.append(s))
    try:
        fit(job(Fake(on_step=lambda t: sigint() if t == 2 else None), tmp_path / "b", epochs=1))
        assert seen == [signal.SIGINT] and signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, mine)


def test_without_a_run_dir_nothing_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    b = Fake()
    hist = fit(Job(b, lambda e: (b.train_step(1, np.random.default_rng(e)) for _ in range(2)), 2, 3,
                   accuracy=False, log=False, quiet=True))
    assert len(hist) == 3 and "train_acc" not in hist[0] and list(tmp_path.iterdir()) == []
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------- real Ctrl-C, real commands
def interrupt_once_a_checkpoint_exists(argv, run_dir):
    """Start `python -m numpy_transformer ARGV`, send SIGINT once the first checkpoint is on
    disk (training is under way), and return (exit status, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    # the child gets SIGINT's default disposition, as a command started from a terminal has: a
    # test run launched in the background (`nohup … &`, some CI runners) inherits SIGINT ignored,
    # which Python, and so the loop, rightly leaves alone, and the signal would never arrive
    p = subprocess.Popen([sys.executable, "-m", "numpy_transformer", *argv], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 180
        while not (run_dir / "checkpoint.safetensors").exists():
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline, "no checkpoint after 180 s"
            time.sleep(0.02)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=180)
    finally:
        p.kill()
    return p.returncode, err


@pytest.mark.parametrize("command", ["vit", "train"])
def test_ctrl_c_stops_a_training_command_cleanly(command, tmp_path, small_tsv):
    run = tmp_path / "run"
    argv = (["vit", "--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1", "--epochs", "500",
             "--no-baselines", "--quiet"] if command == "vit" else
            ["train", "--data", str(small_tsv), "--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1",
             "--batch-size", "32", "--epochs", "500", "--threads", "1"])
    rc, err = interrupt_once_a_checkpoint_exists([*argv, "--run-dir", str(run)], run)
    m = re.search(rf"interrupted: the checkpoint of epoch (\d+) in {re.escape(str(run))} is intact; "
                  rf"continue with --resume --run-dir {re.escape(str(run))}\n$", err)
    assert rc == 130 and m, err
    assert "Exception ignored" not in err and "Traceback" not in err
    ck = load_checkpoint(run)
    assert ck["meta"]["epoch"] == int(m.group(1)) == len(json.loads((run / "history.json").read_text()))
