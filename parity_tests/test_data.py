"""Loading, cleaning, splitting, encoding, batching and the restricted book-pickle reader."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numpy_transformer.data import pairs as D
from numpy_transformer.data.pairs import BookPickleError, clean_sentence, load_book_pickle, load_pairs, prepare_dataset
from numpy_transformer.apps.translation.batching import encode_pair, encode_source, encode_target, make_batches
from numpy_transformer.data.tokenizer import Tokenizer

REAL = Path(__file__).resolve().parents[1].parent / "shared/data/deu-eng-50k.tsv"
needs_real = pytest.mark.skipif(not REAL.is_file(), reason=f"real data not present at {REAL} "
                                "(the Tatoeba/Anki deu-eng file is not shipped with the project)")


def _write(tmp_path, name, text, newline="\n"):
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return p


# ---------------------------------------------------------------------------------- loading

@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_load_two_columns(tmp_path, newline):
    p = _write(tmp_path, "a.txt", "Go.\tGeh.\nHi.\tGrüß Gott!\n", newline)
    assert load_pairs(p) == [("Go.", "Geh."), ("Hi.", "Grüß Gott!")]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_load_three_columns_drops_attribution(tmp_path, newline):
    text = ("Go.\tGeh.\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM)\n"
            "Run!\tLauf!\tCC-BY 2.0 (France) Attribution: tatoeba.org #906328 (papabear)\n")
    p = _write(tmp_path, "b.txt", text, newline)
    assert load_pairs(p) == [("Go.", "Geh."), ("Run!", "Lauf!")]


def test_load_mixed_columns_bom_blank_lines_no_final_newline(tmp_path):
    p = tmp_path / "c.txt"
    p.write_bytes("\ufeffA.\tB.\r\n\r\nC.\tD.\tattr\nE.\tF.".encode("utf-8"))
    assert load_pairs(p) == [("A.", "B."), ("C.", "D."), ("E.", "F.")]


def test_load_n_takes_the_first(tmp_path):
    p = _write(tmp_path, "d.txt", "".join(f"e{i}\td{i}\n" for i in range(10)))
    assert load_pairs(p, n=3) == [("e0", "d0"), ("e1", "d1"), ("e2", "d2")]
    assert len(load_pairs(p, n=100)) == 10
    with pytest.raises(ValueError, match="n must be"):
        load_pairs(p, n=0)


def test_load_undoes_csv_quoting_only_when_it_is_csv_quoting(tmp_path):
    p = _write(tmp_path, "q.txt", '"Say ""aah."""\tSag „Ah!“\n"Hi," he said.\t„Hi“, sagte er.\n')
    assert load_pairs(p) == [('Say "aah."', "Sag „Ah!“"), ('"Hi," he said.', "„Hi“, sagte er.")]


@pytest.mark.parametrize("bad_line, why", [
    ("only one column", "1 tab-separated column"),
    ("a\tb\tc\td", "4 tab-separated column"),
    ("\tGeh.", "empty English"),
    ("Go.\t  ", "empty German"),
])
def test_load_malformed_line_names_the_line(tmp_path, bad_line, why):
    p = _write(tmp_path, "bad.txt", f"Go.\tGeh.\nHi.\tHallo!\n{bad_line}\nRun!\tLauf!\n", "\r\n")
    with pytest.raises(ValueError, match=f"line 3 .*{why}|line 3 has {why}"):
        load_pairs(p)


def test_load_bad_utf8_names_the_line(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes("Go.\tGeh.\nHi.\tGrüß Gott!\n".encode("latin-1"))
    with pytest.raises(ValueError, match="line 2 is not valid UTF-8"):
        load_pairs(p)


@pytest.mark.parametrize("content", [b"", b"\n\n", b"  \r\n"])
def test_load_empty_file(tmp_path, content):
    p = tmp_path / "empty.txt"
    p.write_bytes(content)
    with pytest.raises(ValueError, match="no sentence pairs"):
        load_pairs(p)


# --------------------------------------------------------------------------------- cleaning

@pytest.mark.parametrize("raw, lang, expected", [
    ("Hi.", "en", "hi"),
    ("Grüß Gott!", "de", "grüß gott"),
    ("I'm thirsty.", "en", "i'm thirsty"),
    ("I’m thirsty.", "en", "i'm thirsty"),          # typographic apostrophe
    ("Don't!", "en", "don't"),
    ("'Cause I said so.", "en", "cause i said so"),  # apostrophe not inside a word
    ("Tom's café is OPEN...", "en", "tom's cafe is open"),
    ("Naïve résumé", "en", "naive resume"),
    ("I'm 30.", "en", "i'm 30"),                    # numbers survive (the book dropped them)
    ("„Ja“, sagte er.", "de", "ja sagte er"),
    ("Wie geht’s?", "de", "wie geht's"),
    ("Dann los — rede!", "de", "dann los rede"),
    ("Ich bin TV-süchtig.", "de", "ich bin tvsüchtig"),  # hyphen deleted, as in the book
    ("ÄRGER über Öl", "de", "ärger über öl"),
    ("  lots   of\tspace\u00a0here  ", "en", "lots of space here"),
    ("$5 + 3%", "en", "5 3"),
])
def test_clean_examples(raw, lang, expected):
    assert clean_sentence(raw, lang) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Grüß Gott!", "gruess gott"), ("Äpfel, Öfen, Übungen.", "aepfel oefen uebungen"),
    ("Die Straße", "die strasse"), ("Das Café", "das cafe")])
def test_clean_german_transliteration(raw, expected):
    assert clean_sentence(raw, "de", umlauts="translit") == expected


def test_clean_english_is_ascii_and_german_keeps_umlauts():
    assert clean_sentence("Grüß Gott", "en") == "gruss gott"
    assert clean_sentence("Grüß Gott", "de") == "grüß gott"


def test_clean_bad_arguments():
    with pytest.raises(ValueError, match="lang"):
        clean_sentence("x", "fr")
    with pytest.raises(ValueError, match="umlauts"):
        clean_sentence("x", "de", umlauts="drop")
    with pytest.raises(TypeError):
        clean_sentence(b"x", "en")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["en", "de"]), st.sampled_from(["keep", "translit"]))
def test_clean_properties(s, lang, umlauts):
    c = clean_sentence(s, lang, umlauts)
    assert clean_sentence(c, lang, umlauts) == c                  # idempotent
    assert c == c.strip() and "  " not in c and "\n" not in c and "\t" not in c
    assert c == c.lower()
    if lang == "en" or umlauts == "translit":
        assert c.isascii()
    for i, ch in enumerate(c):
        if ch == "'":                                               # only inside words
            assert 0 < i < len(c) - 1 and c[i - 1].isalnum() and c[i + 1].isalnum()
        else:
            assert ch.isalnum() or ch == " ", repr(ch)


# ------------------------------------------------------------------------ prepare_dataset

def _pairs(k):
    return [(f"English {i}.", f"Deutsch {i}!") for i in range(k)]


def test_prepare_split_sizes_and_disjoint():
    ds = prepare_dataset(_pairs(1000), n=1000, seed=3)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (800, 100, 100)
    all_pairs = ds.train + ds.val + ds.test
    assert sorted(all_pairs) == sorted((f"english {i}", f"deutsch {i}") for i in range(1000))


def test_prepare_takes_first_n_and_dedups_cleaned_pairs():
    raw = [("Hi.", "Hallo!"), ("hi", "hallo"), ("Hi!", "Hallo."), ("Run!", "Lauf!"),
           ("!!!", "Lauf"), ("Go.", "Geh.")] + _pairs(5)
    ds = prepare_dataset(raw, n=6, seed=0, split=(0.5, 0.25, 0.25))
    assert sorted(ds.all_pairs()) == sorted([("hi", "hallo"), ("run", "lauf"), ("go", "geh")])
    assert (ds.n_selected, ds.n_empty, ds.n_duplicates) == (6, 1, 2)
    no_dedup = prepare_dataset(raw, n=6, seed=0, dedup=False)
    assert len(no_dedup) == 5


def test_prepare_is_deterministic_and_seeded():
    a = prepare_dataset(_pairs(300), n=None, seed=7)
    b = prepare_dataset(_pairs(300), n=None, seed=7)
    c = prepare_dataset(_pairs(300), n=None, seed=8)
    assert (a.train, a.val, a.test) == (b.train, b.val, b.test)
    assert a.train != c.train
    unshuffled = [(f"english {i}", f"deutsch {i}") for i in range(300)]
    assert a.all_pairs() != unshuffled


def test_prepare_group_by_source_keeps_translations_together():
    raw = [(f"E{i // 3}.", f"D{i}.") for i in range(300)]   # 100 English sentences, 3 each
    ds = prepare_dataset(raw, n=None, seed=1, group_by_source=True)
    where = {}
    for name, part in (("train", ds.train), ("val", ds.val), ("test", ds.test)):
        for en, _ in part:
            assert where.setdefault(en, name) == name
    assert len(ds) == 300 and len(ds.val) == 30 and len(ds.test) == 30


@pytest.mark.parametrize("split", [(0.8, 0.1), (0.8, 0.3, 0.1), (-0.1, 0.6, 0.5)])
def test_prepare_bad_split(split):
    with pytest.raises(ValueError, match="split"):
        prepare_dataset(_pairs(10), split=split)


# --------------------------------------------------------------------------------- encoding

@pytest.fixture
def toks():
    src = Tokenizer.fit(["i see the dog", "i have a cat"])
    tgt = Tokenizer.fit(["ich sehe den hund", "ich habe eine katze"])
    return src, tgt


def test_encoder_input_never_has_start_and_ends_with_eos(toks):
    src, tgt = toks
    enc = encode_source("i see the dog", src)
    assert enc == [src.token_to_id(w) for w in "i see the dog".split()] + [src.eos_id]
    assert src.start_id not in enc
    pair = encode_pair("i see the dog", "ich sehe den hund", src, tgt)
    assert pair.encoder_input == enc                     # training == inference
    words = [tgt.token_to_id(w) for w in "ich sehe den hund".split()]
    assert pair.decoder_input == [tgt.start_id] + words
    assert pair.labels == words + [tgt.eos_id]
    assert encode_target("ich sehe den hund", tgt) == [tgt.start_id] + words + [tgt.eos_id]


def test_encoding_accepts_ids_and_truncates(toks):
    src, tgt = toks
    ids = src.encode("i see the dog")
    assert encode_source(ids, src) == encode_source("i see the dog", src)
    assert encode_source("i see the dog", src, max_len=3) == ids[:2] + [src.eos_id]
    p = encode_pair("i see the dog", "ich sehe den hund", src, tgt, max_len=3)
    assert len(p.encoder_input) == len(p.decoder_input) == len(p.labels) == 3
    assert p.labels[-1] == tgt.eos_id and p.decoder_input[0] == tgt.start_id


def test_unknown_source_word_becomes_unk_not_dropped(toks):
    src, _ = toks
    assert encode_source("i see the zebra", src) == [
        src.token_to_id("i"), src.token_to_id("see"), src.token_to_id("the"), src.unk_id,
        src.eos_id]


# --------------------------------------------------------------------------------- batching

def _examples(rng, k, pad=0):
    srcs = [list(rng.integers(4, 20, size=rng.integers(1, 9))) + [3] for _ in range(k)]
    tgts = [[2] + list(rng.integers(4, 20, size=rng.integers(0, 7))) + [3] for _ in range(k)]
    return srcs, tgts


def test_batches_shapes_and_padding(rng):
    srcs, tgts = _examples(rng, 23)
    batches = make_batches(srcs, tgts, batch_size=5, pad_id=0)
    assert [b.src.shape[0] for b in batches] == [5, 5, 5, 5, 3]
    seen = []
    for b in batches:
        assert b.src.dtype == np.int64 and b.tgt_in.dtype == np.int64
        assert b.src.shape[1] == max(len(srcs[i]) for i in b.indices)
        assert b.tgt_in.shape == b.tgt_out.shape
        assert b.tgt_in.shape[1] == max(len(tgts[i]) for i in b.indices) - 1
        for row, i in enumerate(b.indices):
            s, t = srcs[i], tgts[i]
            assert list(b.src[row, :len(s)]) == s and not b.src[row, len(s):].any()
            assert list(b.tgt_in[row, :len(t) - 1]) == t[:-1]
            assert list(b.tgt_out[row, :len(t) - 1]) == t[1:]
            assert not b.tgt_in[row, len(t) - 1:].any() and not b.tgt_out[row, len(t) - 1:].any()
            assert b.tgt_in[row, 0] == 2 and 3 in b.tgt_out[row]
        seen.extend(b.indices.tolist())
    assert seen == list(range(23))


def test_batches_nonzero_pad_id(rng):
    srcs, tgts = [[5, 3], [5, 6, 7, 3]], [[2, 3], [2, 8, 9, 3]]
    (b,) = make_batches(srcs, tgts, batch_size=4, pad_id=99)
    assert b.src.tolist() == [[5, 3, 99, 99], [5, 6, 7, 3]]
    assert b.tgt_in.tolist() == [[2, 99, 99], [2, 8, 9]]
    assert b.tgt_out.tolist() == [[3, 99, 99], [8, 9, 3]]


def test_batches_shuffle_deterministic_permutation(rng):
    srcs, tgts = _examples(rng, 40)
    a = make_batches(srcs, tgts, 7, shuffle=True, rng=np.random.default_rng(5))
    b = make_batches(srcs, tgts, 7, shuffle=True, rng=5)
    c = make_batches(srcs, tgts, 7, shuffle=True, rng=6)
    order = lambda bs: np.concatenate([x.indices for x in bs]).tolist()
    assert order(a) == order(b) and sorted(order(a)) == list(range(40))
    assert order(a) != order(c) and order(a) != list(range(40))
    for x, y in zip(a, b):
        assert np.array_equal(x.src, y.src) and np.array_equal(x.tgt_out, y.tgt_out)


def test_batches_errors():
    with pytest.raises(ValueError, match="sources but"):
        make_batches([[3]], [], 2)
    with pytest.raises(ValueError, match="batch_size"):
        make_batches([[3]], [[2, 3]], 0)
    with pytest.raises(ValueError, match="rng"):
        make_batches([[3]], [[2, 3]], 1, shuffle=True)
    with pytest.raises(ValueError, match="target 0"):
        make_batches([[3]], [[2]], 1)


# ---------------------------------------------------------------------------- book pickle

BOOK_ROWS = [["hi", "hallo"], ["run", "lauf"], ["i'm thirsty", "ich habe durst"]]


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("dtype", [None, object])
def test_book_pickle_loads_string_arrays(tmp_path, protocol, dtype):
    p = tmp_path / "english-german-both.pkl"
    p.write_bytes(pickle.dumps(np.array(BOOK_ROWS, dtype=dtype), protocol=protocol))
    assert load_book_pickle(p) == [tuple(r) for r in BOOK_ROWS]
    assert load_book_pickle(p, n=2) == [tuple(r) for r in BOOK_ROWS[:2]]


def test_book_pickle_three_columns_and_numpy1_module_name(tmp_path):
    arr = np.array([r + ["CC-BY 2.0 (France) Attribution: tatoeba.org"] for r in BOOK_ROWS])
    blob = pickle.dumps(arr, protocol=2)
    assert b"numpy._core.multiarray" in blob or b"numpy.core.multiarray" in blob
    blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")  # NumPy 1.x pickle
    p = tmp_path / "old.pkl"
    p.write_bytes(blob)
    assert load_book_pickle(p) == [tuple(r) for r in BOOK_ROWS]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("make", [
    lambda m: pickle.dumps(_Evil(m)),
    lambda m: pickle.dumps([np.array(BOOK_ROWS), _Evil(m)]),
    lambda m: pickle.dumps(_EvalEvil()),
    lambda m: pickle.dumps(np.array(BOOK_ROWS, dtype=object).tolist() + [_Evil(m)]),
])
def test_book_pickle_refuses_code(tmp_path, make):
    marker = tmp_path / "pwned.txt"
    p = tmp_path / "evil.pkl"
    p.write_bytes(make(marker))
    with pytest.raises(BookPickleError, match="refusing to load"):
        load_book_pickle(p)
    assert not marker.exists()
    # the same file *would* run code through plain pickle: the test is not vacuous
    if b"system" in p.read_bytes():
        subprocess.run([sys.executable, "-c", f"import pickle; pickle.load(open({str(p)!r}, 'rb'))"],
                       check=False, capture_output=True)
        assert marker.exists()


def test_book_pickle_refuses_reconstruct_of_other_types(tmp_path):
    # _reconstruct(numpy.dtype, (0,), b'b'): an allowed function called on a non-ndarray type
    blob = b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\ndtype\n(I0\ntC\x01btR."
    p = tmp_path / "weird.pkl"
    p.write_bytes(blob)
    with pytest.raises(BookPickleError, match="refusing to rebuild"):
        load_book_pickle(p)


@pytest.mark.parametrize("obj, why", [
    (np.arange(6.0).reshape(3, 2), "dtype float64"),
    (np.array(["a", "b"]), "2-D"),
    ([["hi", "hallo"]], "expected a NumPy array"),
    (np.array([["only one column"]]), ">= 2 columns"),
])
def test_book_pickle_refuses_non_string_arrays(tmp_path, obj, why):
    p = tmp_path / "x.pkl"
    p.write_bytes(pickle.dumps(obj))
    with pytest.raises(BookPickleError, match=why):
        load_book_pickle(p)


def test_book_pickle_corrupt(tmp_path):
    p = tmp_path / "cut.pkl"
    p.write_bytes(pickle.dumps(np.array(BOOK_ROWS))[:-20])
    with pytest.raises(BookPickleError, match="not a readable pickle"):
        load_book_pickle(p)
    (tmp_path / "empty.pkl").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_book_pickle(tmp_path / "empty.pkl")


# ------------------------------------------------------------------------------ real data

@needs_real
def test_real_data_loads_every_line():
    raw = REAL.read_bytes()
    lines = [ln for ln in raw.split(b"\n") if ln.strip()]
    assert raw.count(b"\r\n") == len(lines)                        # the shared file is CRLF
    pairs = load_pairs(REAL)
    assert len(pairs) == len(lines)
    assert len(load_pairs(REAL, n=50_000)) == 50_000
    first_en, first_de = lines[0].decode("utf-8").rstrip("\r").split("\t")
    assert pairs[0] == (first_en, first_de)
    assert ("Hi.", "Grüß Gott!") in pairs[:10]


@needs_real
def test_real_data_cleaning_of_known_lines():
    pairs = load_pairs(REAL, n=2000)
    cleaned = {(clean_sentence(e, "en"), clean_sentence(d, "de")) for e, d in pairs}
    assert ("hi", "grüß gott") in cleaned
    assert ("hi", "hallo") in cleaned
    assert ("go", "geh") in cleaned
    assert ("run", "lauf") in cleaned
    assert all(e.isascii() for e, _ in cleaned)


@needs_real
def test_real_data_first_10000_split():
    pairs = load_pairs(REAL)
    ds = prepare_dataset(pairs, n=10_000, seed=1)
    first = pairs[:10_000]
    cleaned = [(clean_sentence(e, "en"), clean_sentence(d, "de")) for e, d in first]
    distinct = {p for p in cleaned if p[0] and p[1]}
    total = len(distinct)
    assert total < 10_000                        # the raw file has repeated pairs
    assert len(ds.train) == int(total * 0.8) and len(ds.val) == int(total * 0.1)
    assert len(ds.test) == total - len(ds.train) - len(ds.val)
    assert set(ds.all_pairs()) == distinct and len(set(ds.all_pairs())) == len(ds)
    later = {(clean_sentence(e, "en"), clean_sentence(d, "de")) for e, d in pairs[10_000:]}
    assert not (set(ds.all_pairs()) - distinct) and (later - distinct)  # nothing past the first N
