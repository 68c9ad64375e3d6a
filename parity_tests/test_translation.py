"""Translation end to end with the NumPy backend: training, checkpoints, resume, inference,
bad input. Small models on slices of the embedded corpus."""
import json
from pathlib import Path

import numpy as np
import pytest

from requires import require

require("safetensors")
require("matplotlib")

from numpy_transformer.training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from numpy_transformer.cli.main import main  # noqa: E402
from numpy_transformer.data.corpus import default_corpus  # noqa: E402
from numpy_transformer.apps.translation.train import NumpyBackend, TrainArgs, TrainingDiverged, fit  # noqa: E402
from numpy_transformer.apps.translation.translate import Translator  # noqa: E402

from conftest import TINY  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_tsv):
    run = tmp_path_factory.mktemp("run") / "a"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run), "--epochs", "2", *TINY]) == 0
    return run


def test_run_directory_contents(trained):
    for name in ("checkpoint.safetensors", "src_tokenizer.json", "tgt_tokenizer.json", "history.json",
                 "curves.png", "eval_test.json"):
        assert (trained / name).exists(), name
    import os
    umask = os.umask(0)
    os.umask(umask)
    # atomic writes go through mkstemp (mode 0600): the result must still get the usual mode
    assert (trained / "checkpoint.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (trained / "src_tokenizer.json").stat().st_mode & 0o777 == 0o666 & ~umask
    hist = json.loads((trained / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2]
    assert all(np.isfinite(h[k]) for h in hist for k in ("train_loss", "val_loss", "val_acc"))
    ck = load_checkpoint(trained)
    assert ck["meta"]["epoch"] == 2 and ck["cfg"].d_model == 16
    assert ck["optimizer"]["t"].item() == 2 * 8        # 240 training pairs / 32 = 8 steps per epoch
    assert ck["src_tok"].vocab_size == ck["cfg"].src_vocab_size


def test_resume_is_bit_for_bit(tmp_path, small_tsv, trained):
    run = tmp_path / "b"
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run), "--epochs", "1", *TINY]) == 0
    assert main(["train", "--run-dir", str(run), "--resume", "--epochs", "2"]) == 0
    a, b = load_checkpoint(trained), load_checkpoint(run)
    for k in a["weights"]:
        assert np.array_equal(a["weights"][k], b["weights"][k]), k
    for k in a["optimizer"]:
        assert np.array_equal(a["optimizer"][k], b["optimizer"][k]), k
    ha, hb = (json.loads((r / "history.json").read_text()) for r in (trained, run))
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]


def test_existing_run_is_not_overwritten_by_accident(trained, small_tsv, capsys):
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(trained), *TINY]) == 2
    assert "already holds a checkpoint" in capsys.readouterr().err


def test_translate_and_bad_sentences(trained, capsys):
    tr = Translator(trained)
    out = tr.translate(["i have a dog", "the dog"])
    assert len(out) == 2 and all(isinstance(s, str) for s in out)
    with pytest.raises(ValueError, match="empty after cleaning"):
        tr.translate(["?!"])
    with pytest.raises(ValueError, match="none of the words"):
        tr.translate(["qwertz uiop"])
    with pytest.raises(ValueError, match="this model takes at most"):
        tr.translate(["dog " * 40])
    ids, unk, left_out = tr.encode("i have a qwertz")
    assert unk == ("qwertz",) and left_out == () and ids[-2] == tr.src_tok.unk_id and ids[-1] == tr.src_tok.eos_id
    assert main(["translate", "", "--checkpoint", str(trained)]) == 2
    assert "empty after cleaning" in capsys.readouterr().err


def test_beam_search_through_the_translator(trained):
    """Beam 1 is greedy; a wider beam returns its hypotheses best first, each ending in <eos>
    or cut at max_len."""
    from numpy_transformer.apps.translation.batching import pad_sequences
    from numpy_transformer.models.decoding import beam_search
    tr = Translator(trained)
    sents = ["i have a dog", "we see the cat", "he drinks water"]
    assert tr.translate(sents, beam=1) == [tr.tgt_tok.decode(h[0][0]) for h in beam_search(
        tr.backend.model, pad_sequences([tr.encode(s)[0] for s in sents], 0), 2, 3, tr.cfg.max_len, 1)]
    src = pad_sequences([tr.encode(s)[0] for s in sents], 0)
    wide = beam_search(tr.backend.model, src, 2, 3, tr.cfg.max_len, beam_size=4)
    for hyps in wide:
        scores = [sc for _, sc in hyps]
        assert len(hyps) == 4 and scores == sorted(scores, reverse=True)
        assert all(ids[-1] == 3 or len(ids) == tr.cfg.max_len for ids, _ in hyps)
    assert len(tr.translate(sents, beam=4)) == 3


def test_checkpoint_errors(tmp_path, trained):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path)
    bad = tmp_path / "checkpoint.safetensors"
    bad.write_bytes(b"\x00garbage, not safetensors")
    with pytest.raises(ValueError, match="not a readable safetensors checkpoint"):
        load_checkpoint(tmp_path)
    # a tokenizer from another run next to the checkpoint is refused
    other = tmp_path / "other"
    other.mkdir()
    (other / "checkpoint.safetensors").write_bytes((trained / "checkpoint.safetensors").read_bytes())
    (other / "src_tokenizer.json").write_text((trained / "tgt_tokenizer.json").read_text())
    with pytest.raises(ValueError, match="do not belong together"):
        load_checkpoint(other)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, trained, monkeypatch):
    import safetensors.numpy as stn
    ck = load_checkpoint(trained)
    before = (trained / "checkpoint.safetensors").read_bytes()
    run = tmp_path / "c"
    run.mkdir()
    (run / "checkpoint.safetensors").write_bytes(before)

    def half_write(tensors, path, metadata=None):
        Path(path).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(stn, "save_file", half_write)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(run, ck["cfg"], ck["weights"], ck["optimizer"], {"epoch": 9})
    assert (run / "checkpoint.safetensors").read_bytes() == before
    assert [p.name for p in run.iterdir()] == ["checkpoint.safetensors"]      # no temp file left


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, trained):
    ck = load_checkpoint(trained)
    run = tmp_path / "d"
    backend = NumpyBackend(ck["cfg"], TrainArgs(epochs=3, batch_size=32))
    from numpy_transformer.apps.translation.batching import encode_source, encode_target
    pairs = default_corpus()[:64]
    data = ([encode_source(e, ck["src_tok"]) for e, _ in pairs], [encode_target(d, ck["tgt_tok"]) for _, d in pairs])
    fit(backend, data, data, TrainArgs(epochs=1, batch_size=32), run, quiet=True)
    good = (run / "checkpoint.safetensors").read_bytes()
    backend.model.params.output.bias[:] = np.nan              # poison the weights
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        fit(backend, data, data, TrainArgs(epochs=3, batch_size=32), run, start_epoch=1, quiet=True)
    assert (run / "checkpoint.safetensors").read_bytes() == good
    assert load_checkpoint(run)["meta"]["epoch"] == 1


@pytest.mark.slow
def test_embedded_corpus_is_learned_well(tmp_path):
    """The main job, shortened: a small model on the embedded corpus must translate held-out
    sentences (BLEU ≥ 60 after 4 epochs; the full 20-epoch job reaches about 90)."""
    run = tmp_path / "e"
    assert main(["train", "--run-dir", str(run), "--epochs", "4", "--d-model", "64", "--d-ff", "256"]) == 0
    result = json.loads((run / "eval_test.json").read_text())
    assert result["sentences"] == 600 and result["bleu"] >= 60, result["bleu"]


def test_ctrl_c_keeps_the_last_completed_epoch(tmp_path, small_tsv, monkeypatch, capsys):
    import numpy_transformer.apps.translation.train as train_mod
    run = tmp_path / "f"
    calls = {"n": 0}
    real = train_mod.NumpyBackend.train_step

    def interrupted(self, batch, rng):
        calls["n"] += 1
        if calls["n"] > 10:                 # in epoch 2 (8 steps per epoch)
            raise KeyboardInterrupt
        return real(self, batch, rng)

    monkeypatch.setattr(train_mod.NumpyBackend, "train_step", interrupted)
    assert main(["train", "--data", str(small_tsv), "--run-dir", str(run), "--epochs", "3", *TINY]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert load_checkpoint(run)["meta"]["epoch"] == 1
