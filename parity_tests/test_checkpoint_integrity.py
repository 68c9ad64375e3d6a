"""Damaged checkpoints (issue 31, items 2 and 3), made the way they happen: bytes flipped in a real
checkpoint file on disk, at the offset of one tensor's data as the safetensors header gives it. A
checkpoint with checksums refuses any damaged tensor by name; one without (written before the
checksums) loads with one note, and its optimizer state is still checked on its own: a negative
Adam second moment, a NaN first moment, a bad step count are each refused by name. Through the
command line each is one `error:` line and exit status 2."""
import json
import shutil
import struct
import zlib

import numpy as np
import pytest

from requires import require

require("safetensors")

from numpy_transformer.cli.main import main  # noqa: E402
from numpy_transformer.ops.optim import Adam, check_adam_state  # noqa: E402
from numpy_transformer.training.checkpoint import (CHECKPOINT, CheckpointError, load_checkpoint,  # noqa: E402
                                                   save_checkpoint)

from conftest import TINY  # noqa: E402

WEIGHT = "param.encoder.embedding.weight"
V = "optim.v.output.weight"
M = "optim.m.output.weight"


def header(path):
    """The safetensors header: 8-byte little-endian length, then JSON {name: {dtype, shape,
    data_offsets}, "__metadata__": {...}}; returns (header, offset of the data section)."""
    b = path.read_bytes()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), 8 + n


def span(path, name):
    """(start, end) of tensor `name`'s bytes in the file."""
    h, base = header(path)
    start, end = h[name]["data_offsets"]
    return base + start, base + end


def poke(path, name, index, value, dtype):
    """Overwrite element `index` (flat) of tensor `name` in the file with `value` as `dtype`."""
    start, end = span(path, name)
    raw = np.asarray(value, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
    b = bytearray(path.read_bytes())
    assert start + (index + 1) * len(raw) <= end
    b[start + index * len(raw):start + (index + 1) * len(raw)] = raw
    path.write_bytes(bytes(b))


def element(path, name, index, dtype="<f4"):
    start, _ = span(path, name)
    return np.frombuffer(path.read_bytes(), dtype=dtype, count=1, offset=start + index * np.dtype(dtype).itemsize)[0]


def flip_exponent(path, name, index=0):
    """XOR 0x40 into the high byte of float32 element `index`: the top exponent bit, so a
    weight of magnitude < 2 becomes one ~1e38 times larger, still finite (the silent case)."""
    start, _ = span(path, name)
    b = bytearray(path.read_bytes())
    b[start + 4 * index + 3] ^= 0x40
    path.write_bytes(bytes(b))


def strip_checksums(path):
    """Rewrite the file as the code before the checksums wrote it: the same tensors and the
    metadata format, version, config, meta (save_file with exactly those four keys)."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file
    with safe_open(str(path), framework="numpy") as fh:
        metadata = fh.metadata()
    old_keys = ("format", "version", "config", "meta")
    save_file(load_file(str(path)), str(path), metadata={k: metadata[k] for k in old_keys})


def copy_run(src, dst):
    shutil.copytree(src, dst)
    return dst / CHECKPOINT


def run(capsys, argv):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def one_error(capsys, argv, *names):
    """`argv` ends with exit status 2 and exactly one stderr line, `error: …`, naming `names`."""
    rc, out, err = run(capsys, argv)
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, (rc, err)
    for name in names:
        assert name in err, err
    return err


def largest(path, name):
    """Flat index of the largest entry of float32 tensor `name` (a v entry surely above 0)."""
    start, end = span(path, name)
    return int(np.argmax(np.frombuffer(path.read_bytes()[start:end], dtype="<f4")))


@pytest.fixture(autouse=True)
def fresh_notes(monkeypatch):
    """Each test as a new process: the note for a checkpoint without checksums is said once per
    file and process (training/checkpoint._noted)."""
    import numpy_transformer.training.checkpoint as checkpoint
    monkeypatch.setattr(checkpoint, "_noted", set())


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_tsv):
    run_dir = tmp_path_factory.mktemp("integrity") / "a"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run_dir), "--epochs", "1", "--threads", "1",
                 "--max-len", "8", *TINY]) == 0
    return run_dir


@pytest.fixture(scope="module")
def old(trained, tmp_path_factory):
    """The same run as the code before the checksums saved it."""
    run_dir = tmp_path_factory.mktemp("integrity") / "old"
    strip_checksums(copy_run(trained, run_dir))
    return run_dir


# -- the checksums ------------------------------------------------------------------------------------

def test_every_tensor_carries_the_crc32_of_its_bytes_in_the_file(trained):
    """Read back from the file itself: one CRC-32 per tensor, of exactly its bytes on disk, and
    one each of the config and meta strings."""
    path = trained / CHECKPOINT
    h, base = header(path)
    metadata = h.pop("__metadata__")
    stored = json.loads(metadata["crc32"])
    data = path.read_bytes()
    assert set(stored) == set(h) | {"__metadata__.config", "__metadata__.meta"}
    assert any(k.startswith("optim.v.") for k in h) and "optim.t" in h      # the optimizer is covered too
    for name, info in h.items():
        start, end = info["data_offsets"]
        assert stored[name] == f"{zlib.crc32(data[base + start:base + end]):08x}", name
    for key in ("config", "meta"):
        assert stored[f"__metadata__.{key}"] == f"{zlib.crc32(metadata[key].encode()):08x}"


def test_a_clean_save_and_load_round_trip_is_bit_for_bit(trained, tmp_path, capsys):
    ck = load_checkpoint(trained)
    save_checkpoint(tmp_path, ck["cfg"], ck["weights"], ck["optimizer"], ck["meta"])
    again = load_checkpoint(tmp_path)
    assert capsys.readouterr().err == ""                                     # checksums present: no note
    assert again["cfg"] == ck["cfg"] and again["meta"] == ck["meta"]
    for part in ("weights", "optimizer"):
        assert list(again[part]) == list(ck[part])
        for k, a in ck[part].items():
            b = again[part][k]
            assert b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes(), k
    # the data section (the tensors' bytes) of the two files is the same byte for byte
    (h1, b1), (h2, b2) = header(trained / CHECKPOINT), header(tmp_path / CHECKPOINT)
    assert (trained / CHECKPOINT).read_bytes()[b1:] == (tmp_path / CHECKPOINT).read_bytes()[b2:]
    assert h1["__metadata__"]["crc32"] == h2["__metadata__"]["crc32"]


@pytest.mark.parametrize("name", [WEIGHT, "param.output.bias", M, V, "optim.t"])
def test_a_damaged_tensor_is_refused_by_name(trained, tmp_path, name):
    path = copy_run(trained, tmp_path / "r")
    flip_exponent(path, name)
    with pytest.raises(CheckpointError, match=rf"{path}: {name} fails its CRC-32 checksum \(stored [0-9a-f]{{8}}, "
                                              rf"now [0-9a-f]{{8}}\): the checkpoint is corrupt"):
        load_checkpoint(path)


def test_without_the_checksum_the_damaged_weight_would_load_silently(trained, tmp_path, capsys):
    """What the checksum is for: the flipped weight is finite, so nothing else refuses it."""
    path = copy_run(trained, tmp_path / "r")
    flip_exponent(path, WEIGHT)
    value = element(path, WEIGHT, 0)
    assert np.isfinite(value) and abs(value) > 1e30
    strip_checksums(path)
    assert load_checkpoint(path)["weights"][WEIGHT[6:]].reshape(-1)[0] == value
    assert capsys.readouterr().err.startswith("note: ")


def test_damaged_metadata_is_refused(trained, tmp_path):
    """A digit of the epoch changed in the header (same length, so the file stays well-formed)."""
    path = copy_run(trained, tmp_path / "r")
    b = path.read_bytes()
    assert b.count(b'\\"epoch\\": 1') == 1
    path.write_bytes(b.replace(b'\\"epoch\\": 1', b'\\"epoch\\": 7'))
    with pytest.raises(CheckpointError, match="metadata meta fails its CRC-32 checksum"):
        load_checkpoint(path)


def test_translate_and_evaluate_refuse_a_damaged_weight(trained, tmp_path, capsys):
    run_dir = tmp_path / "r"
    flip_exponent(copy_run(trained, run_dir), WEIGHT)
    one_error(capsys, ["translate", "i have a dog", "--checkpoint", str(run_dir)], WEIGHT, "CRC-32")
    one_error(capsys, ["evaluate", "--checkpoint", str(run_dir), "--threads", "1"], WEIGHT, "CRC-32")


def test_resume_refuses_damaged_optimizer_state(trained, tmp_path, capsys):
    run_dir = tmp_path / "r"
    path = copy_run(trained, run_dir)
    poke(path, V, largest(path, V), -element(path, V, largest(path, V)), "<f4")    # the sign bit flipped
    one_error(capsys, ["train", "--resume", "--run-dir", str(run_dir), "--epochs", "2"], V, "CRC-32")


# -- checkpoints without checksums ------------------------------------------------------------------

def test_an_old_checkpoint_loads_with_one_note_and_the_same_tensors(trained, old, capsys):
    ck, new = load_checkpoint(old), load_checkpoint(trained)
    err = capsys.readouterr().err
    assert err == (f"note: {old / CHECKPOINT} has no checksums (written before they were added), so damage to it "
                   f"cannot be detected; a run resumed from it saves them\n")
    for part in ("weights", "optimizer"):
        assert all(ck[part][k].tobytes() == a.tobytes() for k, a in new[part].items())


def test_an_old_checkpoint_translates_as_the_new_one(trained, old, capsys):
    rc, out_new, err = run(capsys, ["translate", "i have a dog", "we see the cat", "--checkpoint", str(trained)])
    assert rc == 0 and err == ""
    rc, out_old, err = run(capsys, ["translate", "i have a dog", "we see the cat", "--checkpoint", str(old)])
    assert rc == 0 and out_old == out_new and err.count("\n") == 1 and err.startswith("note: ")


def test_resuming_an_old_checkpoint_writes_checksums(old, tmp_path, capsys):
    run_dir = tmp_path / "r"
    shutil.copytree(old, run_dir)
    rc, out, err = run(capsys, ["train", "--resume", "--run-dir", str(run_dir), "--epochs", "2", "--threads", "1"])
    assert rc == 0 and err.startswith("note: ") and "crc32" in header(run_dir / CHECKPOINT)[0]["__metadata__"]
    assert load_checkpoint(run_dir)["meta"]["epoch"] == 2 and capsys.readouterr().err == ""


def _damaged_old(old, tmp_path, name, index, value, dtype):
    run_dir = tmp_path / "r"
    poke(copy_run(old, run_dir), name, index, value, dtype)
    return run_dir


def test_an_old_checkpoint_with_a_negative_second_moment(old, tmp_path, capsys):
    path = old / CHECKPOINT
    i = largest(path, V)
    run_dir = _damaged_old(old, tmp_path, V, i, -element(path, V, i), "<f4")     # the sign bit, as in the issue
    with pytest.raises(CheckpointError, match=rf"{V}: 1 of its \d+ entries negative \(as low as -[0-9.e-]+\), but "
                                              r"Adam's second moment is a running mean of squared gradients"):
        load_checkpoint(run_dir)
    one_error(capsys, ["train", "--resume", "--run-dir", str(run_dir), "--epochs", "2"], V, "negative")
    # the Keras backend loads the same file: refused before Keras is imported
    one_error(capsys, ["train", "--resume", "--backend", "keras", "--run-dir", str(run_dir), "--epochs", "2"], V)


def test_an_old_checkpoint_with_a_nan_first_moment(old, tmp_path, capsys):
    run_dir = _damaged_old(old, tmp_path, M, 3, np.nan, "<f4")
    with pytest.raises(CheckpointError, match=rf"{M}: 1 of its \d+ entries NaN or inf: the optimizer state is corrupt"):
        load_checkpoint(run_dir)
    one_error(capsys, ["train", "--resume", "--run-dir", str(run_dir), "--epochs", "2"], M)


@pytest.mark.parametrize("t, why", [(-5, r"one integer in \[0, 2\*\*40\], got \[-5\]"),
                                    (1 << 56, r"one integer in \[0, 2\*\*40\], got \[72057594037927936\]"),
                                    (0, "0 optimizer steps for 1 completed epochs")])
def test_an_old_checkpoint_with_a_bad_step_count(old, tmp_path, capsys, t, why):
    assert header(old / CHECKPOINT)[0]["optim.t"]["dtype"] == "I64"
    run_dir = _damaged_old(old, tmp_path, "optim.t", 0, t, "<i8")
    with pytest.raises(CheckpointError, match=f"optim.t: .*{why}"):
        load_checkpoint(run_dir)
    one_error(capsys, ["train", "--resume", "--run-dir", str(run_dir), "--epochs", "2"], "optim.t")


# -- the other programs that load checkpoints ------------------------------------------------------

def test_vit_resume_refuses_a_damaged_checkpoint(tmp_path, capsys):
    require("sklearn")
    run_dir = tmp_path / "vit"
    assert main(["vit", "--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1", "--patch-size", "4",
                 "--quiet", "--epochs", "1", "--threads", "1", "--no-baselines", "--run-dir", str(run_dir)]) == 0
    capsys.readouterr()
    path = run_dir / CHECKPOINT
    flip_exponent(path, "param.pos_embed")
    one_error(capsys, ["vit", "--resume", "--epochs", "2", "--run-dir", str(run_dir)], "param.pos_embed", "CRC-32")
    strip_checksums(path)      # the same damage in an old checkpoint loads; a negative v does not
    v = next(k for k in header(path)[0] if k.startswith("optim.v."))
    poke(path, v, largest(path, v), -1.0, "<f4")
    one_error(capsys, ["vit", "--resume", "--epochs", "2", "--run-dir", str(run_dir)], v, "negative")   # no note


def test_bert_resume_and_fill_mask_refuse_a_damaged_checkpoint(tmp_path, small_tsv, capsys):
    require("tokenizers")
    run_dir = tmp_path / "mlm"
    assert main(["bert", "pretrain", "--data", str(small_tsv), "--run-dir", str(run_dir), "--epochs", "1",
                 "--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1", "--vocab-size", "300",
                 "--batch-size", "32", "--threads", "1", "--quiet"]) == 0
    capsys.readouterr()
    flip_exponent(run_dir / CHECKPOINT, "param.mlm.bias")
    one_error(capsys, ["fill-mask", "the [MASK] is big", "--checkpoint", str(run_dir)], "param.mlm.bias", "CRC-32")
    one_error(capsys, ["bert", "pretrain", "--resume", "--run-dir", str(run_dir), "--epochs", "2"], "param.mlm.bias")


# -- the check itself, on Adam's own state -----------------------------------------------------------

def _adam_state():
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((3, 4)).astype(np.float32), "b": np.zeros(4, np.float32)}
    opt = Adam(1e-2)
    for _ in range(3):
        opt.step(params, {k: rng.standard_normal(p.shape).astype(np.float32) for k, p in params.items()})
    return opt.state_dict(), {k: p.shape for k, p in params.items()}


def test_a_real_adam_state_passes_and_round_trips():
    sd, shapes = _adam_state()
    check_adam_state(sd, shapes)
    opt = Adam()
    opt.load_state_dict(sd)
    assert opt.t == 3 and all(np.array_equal(opt.state_dict()[k], a) for k, a in sd.items())


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.update({"v.w": -sd["v.w"]}), r"v\.w: 12 of its 12 entries negative"),
    (lambda sd: sd["m.b"].__setitem__(1, np.inf), r"m\.b: 1 of its 4 entries NaN or inf"),
    (lambda sd: sd.update({"t": np.array(2.5)}), r"t: the step count must be one integer"),
    (lambda sd: sd.update({"t": np.array([1, 2])}), r"t: the step count must be one integer"),
    (lambda sd: sd.pop("t"), r"t \(the step count\) is missing"),
    (lambda sd: sd.pop("v.b"), r"missing \['v\.b'\]"),
    (lambda sd: sd.update({"m.w": sd["m.w"].T.copy()}), None),
])
def test_adam_refuses_state_no_run_produces(change, message):
    sd, shapes = _adam_state()
    change(sd)
    if message is None:      # a transposed moment: only the parameters' shapes can tell
        Adam().load_state_dict(sd)
        with pytest.raises(ValueError, match=r"optim\.m\.w: shape \(4, 3\), but the parameter has \(3, 4\)"):
            check_adam_state(sd, shapes, prefix="optim.")
        return
    with pytest.raises(ValueError, match=message):
        Adam().load_state_dict(sd)
