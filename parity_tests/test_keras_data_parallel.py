"""`--data-parallel` (keras_transformer/distribute.py): the Keras twin trained over several
devices with keras.distribution on JAX equals the one-device run to float32 rounding, its
checkpoint gives the NumPy model the Keras model's logits, two processes (the multi-host
recipe) train as one device, and the flag is refused in one line, before Keras is imported,
where it cannot work.

The runs need JAX started with two virtual CPU devices (XLA_FLAGS=
--xla_force_host_platform_device_count=2), so they happen in subprocesses
(data_parallel_runs.py); each test first checks that JAX saw two devices, or it proves nothing."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numpy_transformer.training.keras_import import check_data_parallel, keras_backend_name
from parity_report import check_forward, parity_report  # noqa: F401

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TWO_DEVICES = "--xla_force_host_platform_device_count=2"
# max |data-parallel − one device| / max |one device| (the suite's max_rel), float32 (ε = 1.2e-7):
# the cross-device mean of the loss and of every gradient adds per-device partial sums in another
# order than one device does (a few ulps per reduction), and Adam carries that rounding into the
# next steps' weights; observed ≤ 4e-7 in these runs. 2e-6 (~16 ulps) stays far below what a
# wrong reduction gives: a mean of per-device means weighs the devices' tokens unequally (5e-3 to 1e-2
# here), a sum instead of a mean doubles the step. Relative to the largest value, not element by
# element: a logit near 0 carries the rounding of the others' scale.
RTOL = 2e-6


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_DISTRIBUTION_")}
    env.update(KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT), **extra)
    return env


def _python(args, env, timeout=900):
    r = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{args} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


# ------------------------------------------------------------------ refusals, no framework needed

def test_keras_backend_is_found_as_keras_finds_it_without_importing_it(tmp_path):
    assert keras_backend_name({"KERAS_BACKEND": "torch", "KERAS_HOME": str(tmp_path)}) == "torch"
    assert keras_backend_name({"KERAS_HOME": str(tmp_path)}) == "tensorflow"          # no keras.json
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax", "floatx": "float32"}))
    assert keras_backend_name({"KERAS_HOME": str(tmp_path)}) == "jax"
    check_data_parallel("keras", True, {"KERAS_HOME": str(tmp_path)})                 # jax: accepted
    check_data_parallel("numpy", False, {})                                            # not asked: nothing
    with pytest.raises(ValueError, match="add --backend keras"):
        check_data_parallel("numpy", True, {"KERAS_BACKEND": "jax"})
    with pytest.raises(ValueError, match="Keras would load tensorflow: run with KERAS_BACKEND=jax"):
        check_data_parallel("keras", True, {"KERAS_HOME": str(tmp_path / "none")})


REFUSALS = """
import contextlib, io, json, sys
from numpy_transformer.cli.main import main
out = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    out.append([rc, err.getvalue()])
print(json.dumps({"runs": out, "imported": sorted({"keras", "jax", "tensorflow", "torch"} & set(sys.modules))}))
"""


@pytest.mark.parametrize("keras_backend", ["tensorflow", "torch"])
def test_refused_in_one_line_before_keras_is_imported(tmp_path, keras_backend):
    commands = [["train", "--data-parallel", "--run-dir", str(tmp_path / "a")],               # NumPy backend
                ["train", "--backend", "keras", "--data-parallel", "--run-dir", str(tmp_path / "b")],
                ["vit", "--backend", "keras", "--data-parallel", "--run-dir", str(tmp_path / "c")],
                ["bert", "pretrain", "--backend", "keras", "--data-parallel", "--run-dir", str(tmp_path / "d")],
                ["bert", "finetune", "--backend", "keras", "--data-parallel", "--run-dir", str(tmp_path / "e")]]
    env = {**_env(), "KERAS_BACKEND": keras_backend}
    r = json.loads(_python(["-c", REFUSALS, json.dumps(commands)], env).stdout.strip().splitlines()[-1])
    assert r["imported"] == [], f"imported {r['imported']} before refusing"
    (rc, err), *others = r["runs"]
    assert rc == 2 and err.count("\n") == 1 and "add --backend keras" in err, err
    for rc, err in others:
        assert rc == 2 and err.count("\n") == 1, err
        assert f"Keras would load {keras_backend}: run with KERAS_BACKEND=jax" in err, err


def test_data_parallel_after_import_refuses_other_backends_and_pads_batches():
    keras = pytest.importorskip("keras")
    from keras_transformer import distribute
    if keras.backend.backend() != "jax":
        with pytest.raises(ValueError, match="JAX backend only"):
            distribute.data_parallel(8)
    plan = distribute.DataParallelPlan(["cpu:0", "cpu:1"], batch_size=8)
    x, y = np.arange(15).reshape(3, 5), np.array([[1, 2], [3, 0], [4, 5]])
    (px,), py, rows = plan.shard((x,), y, ignore=0)
    assert rows == 4 and px.shape == (4, 5) and py.shape == (4, 2)
    np.testing.assert_array_equal(px, np.vstack([x, x[:1]]))        # a copy of a real row...
    np.testing.assert_array_equal(py, np.vstack([y, [[0, 0]]]))      # ...whose labels count for nothing
    (same,), labels, rows = plan.shard((px,), py, ignore=0)
    assert rows == 4 and same is px and labels is py                  # already a multiple: untouched
    second = distribute.DataParallelPlan(["cpu:0", "cpu:1"], batch_size=8, processes=2, process=1)
    (share,), labels, rows = second.shard((x,), y, ignore=-1)
    assert rows == 4
    np.testing.assert_array_equal(share, np.vstack([x[2:], x[:1]]))  # rows 2..3 of the padded batch
    np.testing.assert_array_equal(labels, [[4, 5], [-1, -1]])
    assert "data-parallel over 2 cpu devices on 2 processes (4 rows of each 8-row batch per device)" == second.describe()


# ------------------------------------------------------------------ the runs (JAX, two devices)

@pytest.fixture(scope="module")
def devices_run(tmp_path_factory):
    pytest.importorskip("jax")
    pytest.importorskip("keras")
    out = tmp_path_factory.mktemp("data_parallel")
    _python([str(HERE / "data_parallel_runs.py"), "devices", str(out)], _env(XLA_FLAGS=TWO_DEVICES))
    return out, json.loads((out / "devices0.json").read_text())


def _close(parallel, one, what):
    parallel, one = np.asarray(parallel, float), np.asarray(one, float)
    assert np.all(np.isfinite(parallel)), f"{what}: {parallel}"
    err = np.max(np.abs(parallel - one)) / np.max(np.abs(one))
    assert err <= RTOL, f"{what}: relative difference {err:.2e} > {RTOL:.0e}\n{parallel}\n{one}"


@pytest.mark.slow
def test_jax_saw_two_devices_and_the_runs_say_which(devices_run):
    _, r = devices_run
    assert r["devices"] == ["cpu:0", "cpu:1"] and r["local_devices"] == 2
    for model in ("translation", "vit", "bert_mlm", "bert_cls"):
        assert r[model]["one"]["placement"] == "one device (cpu:0) of 2 visible (--data-parallel trains on all)"
        assert r[model]["parallel"]["placement"].startswith("data-parallel over 2 cpu devices (")


@pytest.mark.slow
def test_translation_steps_equal_the_one_device_run(devices_run):
    _, r = devices_run
    one, par = r["translation"]["one"], r["translation"]["parallel"]
    assert len(par["loss"]) == 6 and len(set(np.round(one["loss"], 3))) > 1     # six steps that change the loss
    _close(par["loss"], one["loss"], "translation losses, 6 steps")
    assert par["correct"] == one["correct"]
    _close(par["eval"][0], one["eval"][0], "validation loss·tokens, ragged batch")
    assert par["eval"][1:] == one["eval"][1:]


@pytest.mark.slow
def test_data_parallel_checkpoint_gives_numpy_the_keras_logits(devices_run):
    from numpy_transformer import Transformer
    from numpy_transformer.training.checkpoint import load_checkpoint
    out, _ = devices_run
    ck = load_checkpoint(out / "translation")
    assert np.asarray(ck["optimizer"]["t"]).reshape(()) == 6          # after the six steps
    model = Transformer(ck["cfg"], seed=123)
    model.load_state_dict(ck["weights"])
    saved = np.load(out / "translation_logits.npz")
    check_forward("data-parallel checkpoint: NumPy logits vs Keras", saved["logits"],
                  model.forward(saved["src"], saved["tgt_in"]), "float32", "data-parallel d16h2L2")


@pytest.mark.slow
@pytest.mark.parametrize("model", ["vit", "bert_mlm", "bert_cls"])
def test_vit_and_bert_steps_equal_the_one_device_run(devices_run, model):
    _, r = devices_run
    one, par = r[model]["one"], r[model]["parallel"]
    _close(par["loss"], one["loss"], f"{model} losses (the last batch ragged)")
    assert par["correct"] == one["correct"]
    if model == "vit":       # the logits of 7 images, padded to 8 for the devices
        _close(par["logits"], one["logits"], "ViT logits after 3 steps")
    else:
        _close(par["eval"][0], one["eval"][0], f"{model} held-out loss·count")
        assert par["eval"][1:] == one["eval"][1:]


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_as_one_device(devices_run, tmp_path):
    """The multi-host recipe on one machine: two processes of one CPU device each, joined by
    keras.distribution.initialize() through KERAS_DISTRIBUTION_* (jax.distributed, gloo)."""
    _, r = devices_run
    port, procs = _free_port(), []
    for i in range(2):
        env = _env(KERAS_DISTRIBUTION_JOB_ADDRESSES=f"localhost:{port}", KERAS_DISTRIBUTION_NUM_PROCESSES="2",
                   KERAS_DISTRIBUTION_PROCESS_ID=str(i))
        env.pop("XLA_FLAGS", None)
        procs.append(subprocess.Popen([sys.executable, str(HERE / "data_parallel_runs.py"), "hosts", str(tmp_path)],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=900)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-3000:] for log in logs)
    hosts = [json.loads((tmp_path / f"hosts{i}.json").read_text()) for i in range(2)]
    for i, h in enumerate(hosts):
        assert h["process"] == i and h["local_devices"] == 1 and len(h["devices"]) == 2
        assert "on 2 processes" in h["translation"]["parallel"]["placement"]
        _close(h["translation"]["parallel"]["loss"], r["translation"]["one"]["loss"], f"process {i}: translation")
        _close(h["vit"]["parallel"]["logits"], r["vit"]["one"]["logits"], f"process {i}: ViT logits")
    assert hosts[0]["translation"] == hosts[1]["translation"]     # one all-reduced value, read on each host


CLI = """
import sys
from numpy_transformer.cli.main import main
tiny = ["--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1"]
for argv in (["vit", "--batch-size", "7"] + tiny,
             ["bert", "pretrain", "--batch-size", "7", "--data", sys.argv[1], "--vocab-size", "200"] + tiny):
    rc = main(argv + sys.argv[2:])        # the flag reaches the backend: its batch-size check refuses
    assert rc == 2, (argv, rc)
sys.exit(main(["train", "--data", sys.argv[1], "--n", "100", "--epochs", "1", "--batch-size", "32"] + tiny
              + sys.argv[2:]))
"""


@pytest.mark.slow
def test_command_line_trains_data_parallel(small_tsv, tmp_path):
    pytest.importorskip("jax")
    common = ["--backend", "keras", "--data-parallel", "--run-dir", str(tmp_path / "run")]
    r = _python(["-c", CLI, str(small_tsv), *common], _env(XLA_FLAGS=TWO_DEVICES))
    assert r.stderr.count("is not a multiple of 2 (try --batch-size 6)") == 2, r.stderr[-2000:]
    assert "; data-parallel over 2 cpu devices (16 rows of each 32-row batch per device)\n" in r.stdout, r.stdout
    from numpy_transformer.training.checkpoint import load_checkpoint
    assert load_checkpoint(tmp_path / "run")["meta"]["backend"] == "keras"
