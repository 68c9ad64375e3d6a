"""The BERT commands (`bert pretrain`, `bert finetune`, `fill-mask`): BERT's masking rule, the
pair task's negatives, the WordPiece tokenizer, a tiny run of each command end to end with its
files, bit-for-bit resume, the Keras backend's start, and the errors for bad input (all before
any data is read). The run on the real data skips when ../shared/data is absent."""
import json
from pathlib import Path

import numpy as np
import pytest

from requires import require

require("tokenizers")

from numpy_transformer.apps.bert import data as bd  # noqa: E402
from numpy_transformer.apps.bert.checkpoint import load_bert_run  # noqa: E402
from numpy_transformer.training.checkpoint import load_checkpoint  # noqa: E402
from numpy_transformer.cli.main import main  # noqa: E402
from numpy_transformer.data.wordpiece import SPECIALS, WordPieceTokenizer, clean_text  # noqa: E402

REAL = Path(__file__).resolve().parents[1].parent / "shared/data/deu-eng-50k.tsv"
TINY = ["--d-model", "16", "--heads", "2", "--d-ff", "32", "--layers", "1", "--vocab-size", "300",
        "--batch-size", "32", "--threads", "1", "--quiet"]


# ---------------------------------------------------------------- masking

def test_masking_follows_bert():
    """15 % chosen (max(1, round(0.15 n)) per sentence), never a special token or padding; of the
    chosen 80 % [MASK], 10 % random, 10 % kept (binomial bounds: 5 standard deviations)."""
    rng = np.random.default_rng(0)
    V, B, T = 500, 4000, 12
    ids = rng.integers(5, V, (B, T))
    ids[:, 0], lengths = 2, rng.integers(3, T + 1, B)
    ids[np.arange(B), lengths - 1] = 3
    ids[np.arange(T) >= lengths[:, None]] = 0
    inputs, labels = bd.mask_tokens(ids, np.random.default_rng(1), V)
    chosen = labels != 0
    n_real = ((ids > 4)).sum(1)
    np.testing.assert_array_equal(chosen.sum(1), np.maximum(1, np.rint(0.15 * n_real)))
    assert not np.any(chosen & (ids <= 4))                        # [PAD] [UNK] [CLS] [SEP] [MASK] never chosen
    np.testing.assert_array_equal(labels[chosen], ids[chosen])
    np.testing.assert_array_equal(inputs[~chosen], ids[~chosen])  # only chosen tokens change
    n = chosen.sum()
    masked, kept = (inputs[chosen] == 4).mean(), (inputs[chosen] == ids[chosen]).mean()
    rand = 1 - masked - kept
    for frac, p in ((masked, 0.8), (rand, 0.1 * (1 - 1 / (V - 5))), (kept, 0.1 + 0.1 / (V - 5))):
        assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / n), (frac, p)
    assert inputs[chosen].min() >= 4                              # random replacements are words
    again, _ = bd.mask_tokens(ids, np.random.default_rng(1), V)
    np.testing.assert_array_equal(again, inputs)                 # seeded


def test_pair_examples_have_same_length_negatives(tmp_path):
    pairs = [(f"en {i} word", f"de {i} wort" + " x" * (i % 3)) for i in range(60)]
    pairs += [("en 0 word", "de 61 wort x")]                      # a second translation of one sentence
    tok = WordPieceTokenizer.train([s for p in pairs for s in p], 100, min_frequency=1)
    ids, segs, labels, dropped = bd.pair_examples(pairs, tok, np.random.default_rng(0), 64)
    assert dropped == 0 and labels.sum() == len(pairs) and len(labels) == 2 * len(pairs)
    de_ids = {de: len(tok.encode(de)[0]) - 2 for _, de in pairs}
    trans = {}
    for en, de in pairs:
        trans.setdefault(en, set()).add(de)
    for x, s, y, (en, de) in zip(ids[len(pairs):], segs[len(pairs):], labels[len(pairs):], pairs):
        words = tok.decode(x[(s == 1) & (x != 3)])
        neg = next(d for d in de_ids if tok.decode(tok.encode(d)[0][1:-1]) == words)
        assert y == 0 and neg not in trans[en] and abs(de_ids[neg] - de_ids[de]) <= 1
    x, s = ids[0], segs[0]
    sep = np.flatnonzero(x == 3)
    assert x[0] == 2 and len(sep) == 2 and sep[1] == len(x) - 1
    np.testing.assert_array_equal(s, (np.arange(len(x)) > sep[0]).astype(int))


# ---------------------------------------------------------------- tokenizer

def test_wordpiece_tokenizer_specials_mask_query_and_files(tmp_path):
    tok = WordPieceTokenizer.train(["i am very happy today", "ich bin sehr glücklich heute"] * 5, 60, min_frequency=1)
    assert [tok.id_to_token(i) for i in range(5)] == list(SPECIALS)
    assert clean_text("I am very [mask] today!") == "i am very [MASK] today"
    ids, segs = tok.encode("I am very [MASK] today!")
    assert ids[0] == tok.cls_id and ids[-1] == tok.sep_id and list(ids).count(tok.mask_id) == 1 and not segs.any()
    assert "ü" in "".join(tok.tokens("Glücklich"))                # umlauts kept in the joint vocabulary
    tok.save(tmp_path / "t.json")
    again = WordPieceTokenizer.load(tmp_path / "t.json")
    np.testing.assert_array_equal(again.encode("i am", "ich bin")[0], tok.encode("i am", "ich bin")[0])
    with pytest.raises(FileNotFoundError, match="no tokenizer at"):
        WordPieceTokenizer.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{\"not\": 1}")
    with pytest.raises(ValueError, match="not a Hugging Face tokenizer JSON"):
        WordPieceTokenizer.load(tmp_path / "bad.json")


# ---------------------------------------------------------------- the commands

@pytest.fixture(scope="module")
def runs(tmp_path_factory, small_tsv):
    """A tiny pre-training run (2 epochs) and a fine-tuning run (1 epoch) on 300 pairs."""
    d = tmp_path_factory.mktemp("bert")
    assert main(["bert", "pretrain", "--data", str(small_tsv), "--run-dir", str(d / "mlm"), "--epochs", "2", *TINY]) == 0
    assert main(["bert", "finetune", "--init", str(d / "mlm"), "--run-dir", str(d / "cls"), "--epochs", "1",
                 "--batch-size", "32", "--threads", "1", "--quiet"]) == 0
    return d


def test_pretrain_finetune_and_fill_mask_end_to_end(runs, capsys):
    for task, run in (("mlm", "mlm"), ("cls", "cls")):
        files = {p.name for p in (runs / run).iterdir()}
        assert {"checkpoint.safetensors", "tokenizer.json", "history.json", "curves.png", "result.json"} <= files
        r = json.loads((runs / run / "result.json").read_text())
        assert r["task"] == task and 0 <= r["test_accuracy"] <= 1 and 0 <= r["baseline_test_accuracy"] <= 1
    assert len(json.loads((runs / "mlm" / "history.json").read_text())) == 2
    ck = load_bert_run(runs / "cls", "cls")
    assert ck["meta"]["init"].startswith(str(runs / "mlm")) and ck["meta"]["data_seed"] == 1
    pre = load_checkpoint(runs / "mlm", kinds=("bert",))
    assert not np.array_equal(ck["weights"]["classifier.weight"], pre["weights"]["classifier.weight"])
    np.testing.assert_array_equal(ck["weights"]["mlm.bias"], pre["weights"]["mlm.bias"])   # not trained here
    capsys.readouterr()
    assert main(["fill-mask", "the [MASK] is big", "[MASK] [MASK]", "--checkpoint", str(runs / "mlm"), "--top-k", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("the [MASK] is ") and len(out[1].split()) == 6   # subwords; 3 tokens with probabilities
    probs = [float(x) for x in out[1].split()[1::2]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert out[3].startswith("  [MASK] 1:") and out[4].startswith("  [MASK] 2:")


def test_fill_mask_offers_every_whole_word_and_nothing_else(runs, capsys):
    """--top-k up to the vocabulary's whole-word tokens: no specials, no ## pieces (a [MASK]
    stands for a whole word), the model's probabilities in order; one more is refused."""
    tok = load_bert_run(runs / "mlm")["tok"]
    n = len(tok.word_start_ids())
    capsys.readouterr()
    assert main(["fill-mask", "the [MASK] is big 🙂", "--checkpoint", str(runs / "mlm"), "--top-k", str(n)]) == 0
    first, offers = capsys.readouterr().out.splitlines()
    assert first.endswith("   (left out: 🙂)")
    tokens, probs = offers.split()[0::2], [float(x) for x in offers.split()[1::2]]
    assert len(tokens) == n == len(set(tokens))
    assert not any(t in SPECIALS or t.startswith("##") for t in tokens)
    assert probs == sorted(probs, reverse=True)
    assert main(["fill-mask", "the [MASK]", "--checkpoint", str(runs / "mlm"), "--top-k", str(n + 1)]) == 2
    assert capsys.readouterr().err == (f"error: --top-k {n + 1}: this model's vocabulary has {n:,} whole-word "
                                       f"tokens to offer ({tok.vocab_size:,} less the specials and the ## word "
                                       f"pieces)\n")


def test_resume_replays_the_uninterrupted_run(runs, small_tsv, tmp_path):
    tok = str(runs / "mlm" / "tokenizer.json")       # one tokenizer (its training is not repeatable)
    args = ["bert", "pretrain", "--data", str(small_tsv), "--tokenizer", tok, *TINY]
    assert main([*args, "--run-dir", str(tmp_path / "a"), "--epochs", "1"]) == 0
    assert main(["bert", "pretrain", "--resume", "--run-dir", str(tmp_path / "a"), "--epochs", "2", "--quiet"]) == 0
    assert main([*args, "--run-dir", str(tmp_path / "b"), "--epochs", "2"]) == 0
    a, b = load_bert_run(tmp_path / "a"), load_bert_run(tmp_path / "b")
    for k in a["weights"]:
        np.testing.assert_array_equal(a["weights"][k], b["weights"][k], err_msg=k)


def test_keras_backend_starts_from_the_numpy_weights(runs):
    require("keras")
    from numpy_transformer.apps.bert.train import BertArgs, make_backend
    ck = load_bert_run(runs / "mlm")
    args = BertArgs(epochs=1, batch_size=8)
    np_b = make_backend("numpy", ck["cfg"].replace(dropout=0.0), "mlm", args, 10)
    k_b = make_backend("keras", ck["cfg"].replace(dropout=0.0), "mlm", args, 10)
    for k, v in np_b.get_weights().items():
        np.testing.assert_array_equal(k_b.get_weights()[k], v, err_msg=k)
    ids = bd.pad([ck["tok"].encode(s)[0] for s in ("the dog is big", "a cat", "ich bin hier")])
    inputs, labels = bd.mask_tokens(ids, np.random.default_rng(0), ck["cfg"].vocab_size)
    batch = bd.Batch(inputs, np.zeros_like(inputs), labels)
    (l1, c1, n1), (l2, c2, n2) = np_b.eval_step(batch), k_b.eval_step(batch)
    assert n1 == n2 and c1 == c2 and abs(l1 - l2) <= 1e-5 * abs(l1)    # float32: the suite's forward tolerance


# ---------------------------------------------------------------- errors, before any data is read

def test_bad_input_gets_clear_errors(capsys, runs, tmp_path, small_tsv):
    def err(argv):
        assert main(argv) == 2
        return capsys.readouterr().err
    assert "no [MASK] in 'hello'" in err(["fill-mask", "hello", "--checkpoint", str(tmp_path / "none")])
    assert "no checkpoint at" in err(["fill-mask", "a [MASK]", "--checkpoint", str(tmp_path / "none")])
    long = "a " * 80 + "[MASK]"
    assert "this model reads at most max_len=48" in err(["fill-mask", long, "--checkpoint", str(runs / "mlm")])
    assert "not divisible by num_heads" in err(["bert", "pretrain", "--d-model", "10", "--heads", "4",
                                                 "--data", str(tmp_path / "none.tsv"), "--run-dir", str(tmp_path / "r")])
    assert "no data at" in err(["bert", "pretrain", "--data", str(tmp_path / "none.tsv"), "--run-dir", str(tmp_path / "r")])
    # every option is checked before the run directory (issue 31), so the data must be there
    assert "already holds a checkpoint" in err(["bert", "pretrain", "--data", str(small_tsv), "--run-dir",
                                                str(runs / "mlm")])
    assert "this needs a pre-trained (bert pretrain) one" in err(
        ["bert", "finetune", "--init", str(runs / "cls"), "--run-dir", str(tmp_path / "f")])
    # another model's checkpoint
    from numpy_transformer import TransformerConfig, Transformer
    from numpy_transformer.training.checkpoint import save_checkpoint
    cfg = TransformerConfig(7, 9, d_model=8, num_heads=2, d_ff=8, num_layers=1)
    save_checkpoint(tmp_path / "tr", cfg, Transformer(cfg).state_dict())
    assert "holds a translation Transformer checkpoint (`train`), not a BERT encoder (`bert pretrain`) one" in err(
        ["fill-mask", "a [MASK]", "--checkpoint", str(tmp_path / "tr")])
    # a tokenizer that does not belong to the checkpoint
    import shutil
    shutil.copytree(runs / "mlm", tmp_path / "mixed")
    WordPieceTokenizer.train(["a b c d"], 20, min_frequency=1).save(tmp_path / "mixed" / "tokenizer.json")
    assert "do not belong together" in err(["fill-mask", "a [MASK]", "--checkpoint", str(tmp_path / "mixed")])


@pytest.mark.skipif(not REAL.exists(), reason=f"the real sentence pairs are not at {REAL}")
def test_real_data_end_to_end(tmp_path, capsys):
    """The shared deu-eng file: the grouped split (no English sentence in two splits), masks and
    negatives on real sentences, then the three commands on its first 2,000 pairs."""
    s = bd.load_splits(REAL, 3000, 1)
    assert not {en for en, _ in s.train} & {en for en, _ in s.test}
    tok = WordPieceTokenizer.train(bd.sentences(s.train), 2000)
    ids, segs, labels, _ = bd.pair_examples(s.test, tok, np.random.default_rng(0), 48)
    assert abs(labels.mean() - 0.5) < 0.01
    x = bd.pad(tok.encode_many(bd.sentences(s.test))[0])
    _, lab = bd.mask_tokens(x, np.random.default_rng(0), tok.vocab_size)
    assert 0.10 < (lab != 0).sum() / (x > 4).sum() < 0.35       # short sentences: at least one each
    assert main(["bert", "pretrain", "--n", "2000", "--run-dir", str(tmp_path / "mlm"), "--epochs", "1", *TINY]) == 0
    assert main(["bert", "finetune", "--init", str(tmp_path / "mlm"), "--run-dir", str(tmp_path / "cls"),
                 "--epochs", "1", "--threads", "1", "--quiet"]) == 0
    assert main(["fill-mask", "i am very [MASK] today", "--checkpoint", str(tmp_path / "mlm")]) == 0
    out = capsys.readouterr().out
    assert "i am very [MASK] today" in out and str(REAL.resolve()) in out


def test_a_batch_with_nothing_chosen_changes_nothing():
    """Sentences of [UNK] only have no token to choose: such a batch is skipped, not a NaN loss."""
    from numpy_transformer import BertConfig
    from numpy_transformer.apps.bert.train import BertArgs, make_backend
    b = make_backend("numpy", BertConfig(50, d_model=8, num_heads=2, d_ff=8, num_layers=1), "mlm", BertArgs(), 10)
    ids = np.array([[2, 1, 1, 3]])
    inputs, labels = bd.mask_tokens(ids, np.random.default_rng(0), 50)
    assert not labels.any()
    before = b.get_weights()
    assert b.train_step(bd.Batch(inputs, 0 * inputs, labels), np.random.default_rng(0)) == (0.0, 0, 0)
    assert all(np.array_equal(before[k], v) for k, v in b.get_weights().items())


def test_a_diverged_loss_stops_training_without_a_checkpoint(tmp_path):
    from numpy_transformer.apps.bert.train import BertArgs, fit

    class Diverging:
        name = "numpy"

        def train_step(self, batch, rng):
            return float("nan"), 0, 1
    batches = lambda epoch, rng: iter([bd.Batch(np.ones((1, 3), int), np.zeros((1, 3), int), np.ones((1, 3), int))])
    with pytest.raises(FloatingPointError, match="lower --lr"):
        fit(Diverging(), batches, lambda: [], 1, BertArgs(epochs=1), tmp_path, quiet=True)
    assert not (tmp_path / "checkpoint.safetensors").exists()
