"""Word-level tokenizer: ids, fitting order, round trips, JSON persistence and its validation."""
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numpy_transformer.data.tokenizer import Tokenizer

SENTS = ["the dog sees the cat", "the cat sees a dog", "a bird", "the end"]
# counts: the 4, dog 2, sees 2, cat 2, a 2, bird 1, end 1


def test_special_ids():
    t = Tokenizer.fit(SENTS)
    assert (t.pad_id, t.unk_id, t.start_id, t.eos_id) == (0, 1, 2, 3)
    assert [t.id_to_token(i) for i in range(4)] == ["<pad>", "<unk>", "<start>", "<eos>"]


def test_fit_order_frequency_then_word():
    t = Tokenizer.fit(SENTS)
    assert t.tokens[4:] == ["the", "a", "cat", "dog", "sees", "bird", "end"]
    assert t.vocab_size == 11 == len(t)


def test_fit_is_independent_of_sentence_order():
    assert Tokenizer.fit(SENTS) == Tokenizer.fit(list(reversed(SENTS)))
    assert Tokenizer.fit(SENTS) == Tokenizer.fit(SENTS)


def test_min_freq_and_max_size():
    t = Tokenizer.fit(SENTS, min_freq=2)
    assert t.tokens[4:] == ["the", "a", "cat", "dog", "sees"]
    t = Tokenizer.fit(SENTS, max_size=6)
    assert t.vocab_size == 6 and t.tokens[4:] == ["the", "a"]
    with pytest.raises(ValueError, match="max_size"):
        Tokenizer.fit(SENTS, max_size=3)
    with pytest.raises(ValueError, match="min_freq"):
        Tokenizer.fit(SENTS, min_freq=0)


def test_special_tokens_in_text_are_not_counted_as_words():
    t = Tokenizer.fit(["<start> hello <eos>", "<pad> <unk>"])
    assert t.tokens == ["<pad>", "<unk>", "<start>", "<eos>", "hello"]


def test_encode_decode_round_trip():
    t = Tokenizer.fit(SENTS)
    for s in SENTS:
        ids = t.encode(s)
        assert len(ids) == len(s.split())
        assert t.decode(ids) == s
    assert t.encode("the dog") == [t.token_to_id("the"), t.token_to_id("dog")]


def test_unknown_words_become_unk_never_dropped():
    t = Tokenizer.fit(SENTS)
    ids = t.encode("the zebra sees a unicorn")
    assert ids == [4, t.unk_id, t.token_to_id("sees"), t.token_to_id("a"), t.unk_id]
    assert t.decode(ids) == "the <unk> sees a <unk>"


def test_decode_skips_specials_except_unk():
    t = Tokenizer.fit(SENTS)
    ids = [t.start_id, t.token_to_id("the"), t.unk_id, t.eos_id, t.pad_id, t.pad_id]
    assert t.decode(ids) == "the <unk>"
    assert t.decode(ids, skip_special=False) == "<start> the <unk> <eos> <pad> <pad>"
    assert t.decode(np.array(ids, dtype=np.int64)) == "the <unk>"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        t.decode([t.vocab_size])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        t.decode([-1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "dd", "ö", "i'm", "x1"]), min_size=0,
                         max_size=6).map(" ".join), min_size=1, max_size=8))
def test_round_trip_property(sentences):
    t = Tokenizer.fit(sentences)
    for s in sentences:
        assert t.decode(t.encode(s)) == " ".join(s.split())
    # every word got its own id, ids are 0..V-1
    words = {w for s in sentences for w in s.split()}
    assert set(t.tokens[4:]) == words and len(t.tokens) == len(set(t.tokens))


def test_save_load_equal(tmp_path):
    t = Tokenizer.fit(SENTS + ["grüß gott", "i'm thirsty"])
    p = tmp_path / "tok.json"
    t.save(p)
    u = Tokenizer.load(p)
    assert u == t and u.tokens == t.tokens
    assert u.encode("grüß gott i'm") == t.encode("grüß gott i'm")
    d = json.loads(p.read_text(encoding="utf-8"))
    assert d["version"] == 1 and d["vocab"]["<eos>"] == 3
    assert [f for f in os.listdir(tmp_path) if f != "tok.json"] == []   # no temp file left


def test_save_is_atomic_and_overwrites(tmp_path):
    p = tmp_path / "tok.json"
    Tokenizer.fit(["a b"]).save(p)
    Tokenizer.fit(["c d e"]).save(p)
    assert Tokenizer.load(p) == Tokenizer.fit(["c d e"])
    assert sorted(os.listdir(tmp_path)) == ["tok.json"]


def _valid(tmp_path):
    p = tmp_path / "tok.json"
    Tokenizer.fit(SENTS).save(p)
    return p, json.loads(p.read_text(encoding="utf-8"))


def _dump(p, d):
    p.write_text(json.dumps(d), encoding="utf-8")


def test_load_corrupt_json(tmp_path):
    p, _ = _valid(tmp_path)
    p.write_text(p.read_text(encoding="utf-8")[:-10], encoding="utf-8")
    with pytest.raises(ValueError, match="corrupt JSON"):
        Tokenizer.load(p)


@pytest.mark.parametrize("field", ["format", "version", "vocab"])
def test_load_missing_field(tmp_path, field):
    p, d = _valid(tmp_path)
    del d[field]
    _dump(p, d)
    with pytest.raises(ValueError, match=f"missing field '{field}'"):
        Tokenizer.load(p)


def test_load_duplicate_id(tmp_path):
    p, d = _valid(tmp_path)
    d["vocab"]["dog"] = d["vocab"]["cat"]
    _dump(p, d)
    with pytest.raises(ValueError, match="duplicate id"):
        Tokenizer.load(p)


def test_load_duplicate_token_key(tmp_path):
    p, _ = _valid(tmp_path)
    text = p.read_text(encoding="utf-8").replace('"<eos>": 3', '"<eos>": 3, "<eos>": 4', 1)
    assert '"<eos>": 3, "<eos>": 4' in text
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate key"):
        Tokenizer.load(p)


@pytest.mark.parametrize("mutate, msg", [
    (lambda d: d.update(version=99), "unsupported version"),
    (lambda d: d.update(format="something-else"), "format is"),
    (lambda d: d.update(vocab=["<pad>"]), "must be an object"),
    (lambda d: d["vocab"].update({"extra": 500}), "without gaps"),
    (lambda d: d["vocab"].update({"the": "4"}), "not an integer"),
    (lambda d: d["vocab"].update({"<pad>": 4, "the": 0}), "id 0 must be '<pad>'"),
    (lambda d: d["vocab"].update({"two words": d["vocab"].pop("the")}), "without whitespace"),
    (lambda d: d["specials"].update(eos="<end>"), "specials"),
])
def test_load_invalid_content(tmp_path, mutate, msg):
    p, d = _valid(tmp_path)
    mutate(d)
    _dump(p, d)
    with pytest.raises(ValueError, match=msg):
        Tokenizer.load(p)


def test_load_not_an_object(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(ValueError, match="expected a JSON object"):
        Tokenizer.load(p)


def test_constructor_rejects_duplicates_and_specials():
    with pytest.raises(ValueError, match="twice"):
        Tokenizer(["a", "b", "a"])
    with pytest.raises(ValueError, match="twice"):
        Tokenizer(["<eos>"])
    with pytest.raises(TypeError):
        Tokenizer.fit("a single string")
