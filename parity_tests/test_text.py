"""The one text normalisation (data/text.py) on both tokenizer paths: the word tokenizer of the
translation models and BERT's WordPiece clean with the same function, and both report unknown
words as the user typed them and the symbols the cleaning left out."""
from types import SimpleNamespace

import pytest
from requires import require
from hypothesis import given, settings, strategies as st

from numpy_transformer.data.pairs import clean_sentence as clean_sentence_of_pairs
from numpy_transformer.data.text import clean_sentence, clean_words, unknown_note
from numpy_transformer.data.tokenizer import Tokenizer


def test_the_pairs_clean_with_the_one_normalisation():
    assert clean_sentence_of_pairs is clean_sentence


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["en", "de"]), st.sampled_from(["keep", "translit"]))
def test_word_by_word_is_the_same_cleaning(s, lang, umlauts):
    c = clean_words(s, lang, umlauts)
    assert c.text == clean_sentence(s, lang, umlauts)
    assert len(c.typed) == len(c.words)
    for typed, word in zip(c.typed, c.words):           # each word comes from what was typed
        assert typed in s and clean_sentence(typed, lang, umlauts) == word


@pytest.mark.parametrize("text, lang, words, typed, left_out", [
    ("We have a café über 🙂!", "en", "we have a cafe uber", ("We", "have", "a", "café", "über"), ("🙂",)),
    ("We have a café über 🙂!", "de", "we have a café über", ("We", "have", "a", "café", "über"), ("🙂",)),
    ("(Naïve), well—known 👍🏽 €5", "en", "naive well known 5", ("Naïve", "well", "known", "5"), ("👍🏽", "€")),
    ("ein Ф", "en", "ein", ("ein",), ("Ф",)),              # a letter English cleaning has no form for
    ("ein Ф", "de", "ein ф", ("ein", "Ф"), ()),
    ("I'm 30. Don’t!", "en", "i'm 30 don't", ("I'm", "30", "Don’t"), ()),
    ("🙂 ✓", "en", "", (), ("🙂", "✓")),
])
def test_clean_words_keeps_the_users_spelling(text, lang, words, typed, left_out):
    c = clean_words(text, lang)
    assert (c.text, c.typed, c.left_out) == (words, typed, left_out)


def test_unknown_note():
    assert unknown_note(("café", "über"), ("🙂",)) == "unknown words: café, über; left out: 🙂"
    assert unknown_note((), ()) == "" and unknown_note((), ("€",)) == "left out: €"


# -- the translation path --------------------------------------------------------------------------

def translator(words, max_len=16):
    from numpy_transformer.apps.translation.translate import Translator
    tr = Translator.__new__(Translator)             # only the tokenizer and max_len matter to encode
    tr.src_tok, tr.cfg = Tokenizer(words), SimpleNamespace(max_len=max_len)
    return tr


def test_translation_reports_unknown_words_as_typed_and_left_out_symbols():
    tr = translator(["we", "have", "a", "cafe"])
    ids, unknown, left_out = tr.encode("We have a café über 🙂!")
    assert unknown == ("über",) and left_out == ("🙂",)            # café is known as cafe: not unknown
    assert len(ids) == 6 and ids[-2] == tr.src_tok.unk_id
    from numpy_transformer.apps.translation.translate import describe_unknown
    assert describe_unknown(tr.encode("we have über 🙂")) == "unknown words: über; left out: 🙂"
    from numpy_transformer.data.errors import InputError
    with pytest.raises(InputError, match=r"nothing to translate in '🙂' \(empty after cleaning; left out: 🙂\)"):
        tr.encode("🙂")


# -- the WordPiece path -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wordpiece():
    require("tokenizers")
    from numpy_transformer.data.pairs import prepare_dataset
    from numpy_transformer.data.wordpiece import WordPieceTokenizer
    pairs = [("The naïve man sits in the café.", "Der naive Mann sitzt im Café."),
             ("I am very happy today.", "Ich bin heute sehr glücklich."),
             ("The cat is in the house.", "Die Katze ist im Haus.")] * 3
    s = prepare_dataset(pairs, n=None, dedup=False, split=(1.0, 0.0, 0.0))
    sentences = [en for en, _ in s.train] + [de for _, de in s.train]
    return WordPieceTokenizer.train(sentences, 200, min_frequency=1)


def test_wordpiece_query_is_cleaned_like_its_training_text(wordpiece):
    """English was cleaned to ASCII in training (naïve -> naive), German kept its letters
    (Café -> café): a query word is taken in whichever spelling the vocabulary has."""
    tok = wordpiece
    q = tok.encode_query("Naïve café [mask] über 🙂")
    tokens = [tok.id_to_token(i) for i in q.ids[1:-1]]
    assert "[UNK]" not in tokens[:3]
    assert tokens[0] == "naive" and tokens[1] == "café" and tokens[2] == "[MASK]"
    assert q.unknown == ("über",) and q.left_out == ("🙂",)         # this small vocabulary cannot spell über
    assert tokens[3:] == ["[UNK]"]
    assert tok.encode_query("ich bin [MASK]").unknown == ()


def test_fill_mask_offers_whole_words_only(wordpiece):
    from numpy_transformer.data.wordpiece import SPECIALS
    starts = [wordpiece.id_to_token(i) for i in wordpiece.word_start_ids()]
    assert starts and not any(t in SPECIALS or t.startswith("##") for t in starts)
    pieces = [wordpiece.id_to_token(i) for i in range(wordpiece.vocab_size)]
    assert len(starts) == sum(1 for t in pieces if t not in SPECIALS and not t.startswith("##"))
