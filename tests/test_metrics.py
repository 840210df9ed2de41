"""Tests for tranx.metrics: tokenizer known answers, hand-computed BLEU, sacrebleu agreement, Django accuracy."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from tranx.metrics import (
    canonical_python,
    token_scores,
    corpus_bleu,
    default_canonicalize,
    canonical_scores,
    exact_match,
    tokenize_for_bleu_eval,
)


def _data_root() -> Path:
    env = os.environ.get("TRANX_DATA_ROOT")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared/data"


# --------------------------------------------------------------------------------------------- tokenizer

TOKENIZER_CASES = [
    ("df.sortValues(by='a')", ["df", ".", "sort", "Values", "(", "by", "=", "`", "a", "`", ")"]),
    ('x = "hi"', ["x", "=", "`", "hi", "`"]),
    # only a lowercase->uppercase boundary splits: runs of capitals stay together
    ("getHTTPResponse", ["get", "HTTPResponse"]),
    ("aBcDe", ["a", "Bc", "De"]),
    ("x1Y", ["x1Y"]),  # digit before the capital: no split
    ("my_var2", ["my_var2"]),  # underscore and digits are word characters
    ("a_b1+2.5", ["a_b1", "+", "2", ".", "5"]),
    ("a==b", ["a", "=", "=", "b"]),  # multi-character operators are split char by char
    ("for i in x:\n    print(i)", ["for", "i", "in", "x", ":", "print", "(", "i", ")"]),
    ("a\tb\r\nc", ["a", "b", "c"]),
    ("s.replace(\"'\", '\"')", ["s", ".", "replace", "(", "`", "`", "`", ",", "`", "`", "`", ")"]),
    ("`x`", ["`", "x", "`"]),
    ("'\u00e9'", ["`", "\u00e9", "`"]),  # non-ASCII letters are not word characters: padded
    ("na\u00efve", ["na", "\u00ef", "ve"]),
    ("", []),
    ("   \n ", []),
]


@pytest.mark.parametrize("code,expected", TOKENIZER_CASES)
def test_tokenizer_known_answers(code, expected):
    assert tokenize_for_bleu_eval(code) == expected


# --------------------------------------------------------------------------------------------- BLEU by hand

def test_bleu_hand_computed_single_pair():
    hyp = "the cat sat on the mat".split()
    ref = "the cat sat on a mat".split()
    # 1-grams: the x2 (clipped to 1), cat, sat, on, mat -> 5/6
    # 2-grams: the cat, cat sat, sat on | on the, the mat -> 3/5
    # 3-grams: the cat sat, cat sat on | sat on the, on the mat -> 2/4
    # 4-grams: the cat sat on | cat sat on the, sat on the mat -> 1/3
    # c = r = 6 -> BP = 1; product = 5/6 * 3/5 * 1/2 * 1/3 = 1/12; BLEU = 100 * (1/12)^(1/4) ~= 53.728
    assert corpus_bleu([hyp], [ref]) == pytest.approx(100 * (1 / 12) ** 0.25, abs=1e-9)
    assert corpus_bleu([hyp], [ref]) == pytest.approx(53.7284966, abs=1e-6)


def test_bleu_counts_are_summed_over_the_corpus():
    hyps = ["a b c d".split(), "x y z w".split()]
    refs = ["a b c d".split(), "x y q w".split()]
    # pair 1: 4/4, 3/3, 2/2, 1/1. pair 2: 1-grams x,y,w -> 3/4; 2-grams xy -> 1/3; 3-grams 0/2; 4-grams 0/1.
    # summed: p1 = 7/8, p2 = 4/6, p3 = 2/4, p4 = 1/2; c = r = 8 -> BP = 1
    # BLEU = 100 * (7/8 * 2/3 * 1/2 * 1/2)^(1/4) = 100 * (7/48)^(1/4) ~= 61.80
    assert corpus_bleu(hyps, refs) == pytest.approx(100 * (7 / 48) ** 0.25, abs=1e-9)
    # pair 2 alone has zero 3- and 4-gram precision, hence BLEU 0 (no smoothing)
    assert corpus_bleu(hyps[1:], refs[1:]) == 0.0


def test_bleu_brevity_penalty():
    # all precisions 1 (4/4, 3/3, 2/2, 1/1); c = 4 < r = 6 -> BP = exp(1 - 6/4) = exp(-0.5)
    assert corpus_bleu([list("abcd")], [list("abcdef")]) == pytest.approx(100 * math.exp(-0.5), abs=1e-9)
    # a longer hypothesis is not penalised by BP (only by precision): "a b c d" vs ref "a b c" -> p = 3/4, 2/3, 1/2,
    # and 4-grams 0/1 -> 0; with max_order=3: (3/4 * 2/3 * 1/2)^(1/3) = (1/4)^(1/3)
    assert corpus_bleu([list("abcd")], [list("abc")], max_order=3) == pytest.approx(100 * 0.25 ** (1 / 3))


def test_bleu_clipping():
    # "the" x4 against one "the": p1 = 1/4; bigram "the the" never in ref -> p2 = 0 -> BLEU 0
    assert corpus_bleu([["the"] * 4], [["the", "cat"]]) == 0.0
    # with max_order=1: BP = 1 (c=4 >= r=2), BLEU = 100 * 1/4
    assert corpus_bleu([["the"] * 4], [["the", "cat"]], max_order=1) == pytest.approx(25.0)


def test_bleu_identical_is_100():
    toks = [tokenize_for_bleu_eval("df.sortValues(by='a')"), tokenize_for_bleu_eval("x = [i for i in range(10)]")]
    assert corpus_bleu(toks, toks) == 100.0
    snippets = ["sorted(l, key=lambda x: x[1])", "os.path.join(a, b)"]
    assert token_scores(snippets, snippets) == {"bleu": 100.0, "exact_match": 100.0, "n": 2}


def test_bleu_empty_cases_do_not_crash():
    assert corpus_bleu([], []) == 0.0
    assert corpus_bleu([[]], [["a", "b"]]) == 0.0
    assert corpus_bleu([[]], [[]]) == 0.0
    # an empty prediction inside a corpus: c = 4, r = 2 + 4 = 6, precisions 1 -> 100 * exp(1 - 6/4)
    assert corpus_bleu([[], list("abcd")], [list("xy"), list("abcd")]) == pytest.approx(100 * math.exp(-0.5))
    assert token_scores([""], ["x = 1"]) == {"bleu": 0.0, "exact_match": 0.0, "n": 1}
    assert token_scores([], []) == {"bleu": 0.0, "exact_match": 0.0, "n": 0}


def test_bleu_length_mismatch_raises():
    with pytest.raises(ValueError):
        corpus_bleu([["a"]], [])
    with pytest.raises(ValueError):
        token_scores(["a"], ["a", "b"])


def test_exact_match_and_conala_scores():
    assert exact_match(["a", "b"], ("a", "b"))
    assert not exact_match(["a"], ["a", "b"])
    # quotes are normalised and whitespace ignored by the tokenizer, so these are exact matches
    scores = token_scores(['f( "a" )', "x+1", "y"], ["f('a')", "x + 1", "z"])
    assert scores["exact_match"] == pytest.approx(200 / 3)


# --------------------------------------------------------------------------------------------- sacrebleu agreement

def _perturb(tokens: list[str], i: int) -> list[str]:
    kind = i % 5
    if kind == 0 or len(tokens) < 3:
        return list(tokens)
    if kind == 1:
        return tokens[:-1]  # drop the last token (exercises the brevity penalty)
    if kind == 2:
        j = len(tokens) // 2
        return tokens[:j - 1] + [tokens[j], tokens[j - 1]] + tokens[j + 1:]  # swap two adjacent tokens
    if kind == 3:
        return tokens + ["foo", "(", ")"]  # longer hypothesis
    return [t for k, t in enumerate(tokens) if k % 3 != 1]  # drop every third token


@pytest.fixture(scope="module")
def conala_pairs():
    path = _data_root() / "conala" / "conala-train.json"
    if not path.is_file():
        pytest.skip(f"CoNaLa data not found at {path}")
    snippets = [rec["snippet"] for rec in json.loads(path.read_text(encoding="utf-8"))[:400]]
    refs = [tokenize_for_bleu_eval(s) for s in snippets]
    hyps = []
    for i, ref in enumerate(refs):
        if i % 7 == 6:
            hyps.append(refs[(i * 31 + 11) % len(refs)])  # a fully different snippet
        else:
            hyps.append(_perturb(ref, i))
    return hyps, refs


def _sacrebleu(hyps, refs) -> float:
    from sacrebleu.metrics import BLEU

    bleu = BLEU(tokenize="none", smooth_method="none", force=True)
    return bleu.corpus_score([" ".join(h) for h in hyps], [[" ".join(r) for r in refs]]).score


def test_corpus_bleu_agrees_with_sacrebleu(conala_pairs):
    hyps, refs = conala_pairs
    assert len(hyps) == 400
    ours = corpus_bleu(hyps, refs)
    assert 0.0 < ours < 100.0
    assert ours == pytest.approx(_sacrebleu(hyps, refs), abs=1e-6)
    # corpus slices of different sizes and single pairs (sentence-level, many of them 0)
    for start, size in [(0, 1), (5, 3), (10, 50), (100, 137), (250, 150)]:
        h, r = hyps[start:start + size], refs[start:start + size]
        assert corpus_bleu(h, r) == pytest.approx(_sacrebleu(h, r), abs=1e-6)
    for i in range(0, 400, 4):
        assert corpus_bleu(hyps[i:i + 1], refs[i:i + 1]) == pytest.approx(_sacrebleu(hyps[i:i + 1], refs[i:i + 1]),
                                                                          abs=1e-6)


def test_conala_identical_train_snippets_score_100(conala_pairs):
    _, refs = conala_pairs
    snippets = [" ".join(r) for r in refs]  # token-joined code re-tokenizes to the same tokens
    assert token_scores(snippets, snippets)["bleu"] == 100.0


# --------------------------------------------------------------------------------------------- Django

def test_canonical_python():
    assert canonical_python("x=1") == "x = 1"
    assert canonical_python("f( a,b )") == "f(a, b)"
    assert canonical_python("if x:") is None
    assert canonical_python("a\x00b") is None


def test_django_exact_match_on_canonical_code():
    preds = ["x=1", "print( 'a' )", "y = 2", "if  x :", "if x:", "x = (1"]
    refs = ["x = 1", 'print("a")', "y = 3", "if x:", "x = 1", "x = (1"]
    scores = canonical_scores(preds, refs)
    # equal: x=1 (canonical), print (canonical quotes), "if  x :" vs "if x:" (token fallback), "x = (1" (fallback)
    # not equal: y=2 vs y=3, and an unparsable prediction vs a parsable reference
    assert scores["exact_match"] == pytest.approx(100 * 4 / 6)
    assert scores["n"] == 6
    assert 0.0 < scores["bleu"] < 100.0


def test_django_unparsable_never_equals_parsable():
    # "x = 1 +" does not parse; its fallback key must not collide with any canonical code
    assert default_canonicalize("x = 1 +") != default_canonicalize("x = 1")
    assert default_canonicalize("if x:") == default_canonicalize("if   x  :")
    assert default_canonicalize("# only a comment") == ""  # parses to an empty module
    assert canonical_scores(["x = 1 +"], ["x = 1 +"])["exact_match"] == 100.0
    assert canonical_scores(["if x:"], ["x = 1"])["exact_match"] == 0.0


def test_django_custom_canonicalize():
    def strip_colon(code: str):
        code = code.strip()
        if code.endswith(":"):
            code = code + "\n    pass"
        return canonical_python(code)  # None when it still does not parse -> never a match

    scores = canonical_scores(["if x :", "else:", "while(y):"], ["if x:", "else:", "while y:"], canonicalize=strip_colon)
    # "else:\n    pass" does not parse -> None -> no match, even against itself
    assert scores["exact_match"] == pytest.approx(200 / 3)
    assert canonical_scores([], [])["exact_match"] == 0.0
