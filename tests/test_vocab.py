"""Tests for tranx.data.vocab: token tables, the production table, the sentencepiece intent model."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tranx.grammar.actions import REDUCE, GenToken
from tranx.grammar.asdl import load_grammar
from tranx.errors import TranxError
from tranx.data.vocab import PAD, UNK, IntentPieces, Vocab, primitive_vocab, production_vocab


def test_cutoff_and_order():
    counts = Counter({"a": 5, "b": 3, "c": 3, "d": 2, "e": 1})
    vocab = Vocab.from_counts(counts, cutoff=3)
    assert vocab.tokens == (PAD, UNK, "a", "b", "c")  # frequency first, ties by token
    assert vocab.meta["types_seen"] == 5 and vocab.meta["types_kept"] == 3
    assert len(Vocab.from_counts(counts, cutoff=1)) == 7


def test_unknown_tokens():
    vocab = Vocab(["x", "y"])
    assert vocab.pad_id == 0 and vocab.unk_id == 1
    assert vocab["x"] == 2 and vocab["never seen"] == 1
    assert vocab.encode(["y", "z"]) == [3, 1] and vocab.decode([3, 1]) == ["y", UNK]
    bare = Vocab(["x"], specials=())
    assert bare.unk_id is None
    with pytest.raises(KeyError):
        bare["z"]
    with pytest.raises(IndexError):
        bare.token(5)
    with pytest.raises(ValueError, match="duplicate"):
        Vocab(["x", "x"])


def test_json_round_trip(tmp_path):
    vocab = Vocab.from_counts(Counter({"é": 4, "b c": 4, "'": 9}), cutoff=2, name="primitive")
    assert Vocab.from_json(json.loads(json.dumps(vocab.to_json()))) == vocab
    vocab.save(tmp_path / "v.json")
    loaded = Vocab.load(tmp_path / "v.json")
    assert loaded == vocab and loaded.meta == vocab.meta
    with pytest.raises(TranxError, match="not a tranx vocabulary"):
        Vocab.from_json({"tokens": []})
    with pytest.raises(TranxError, match="version"):
        Vocab.from_json({**vocab.to_json(), "version": 99})


def test_primitive_vocab_from_actions():
    lists = [[["ApplyRule", "Name"], ["GenToken", "x"], ["Reduce"]], [GenToken("x"), REDUCE, GenToken("y")],
             [["GenToken", "x"], ["GenToken", "y"]]]
    vocab = primitive_vocab(lists, cutoff=2)
    assert vocab.tokens == (PAD, UNK, "x", "y") and vocab.name == "primitive"


def test_production_ids_equal_constructor_ids():
    grammar = load_grammar("python3")
    vocab = production_vocab(grammar)
    assert len(vocab) == len(grammar.constructors) and not vocab.specials
    assert all(vocab[c.name] == c.id and vocab.token(c.id) == c.name for c in grammar.constructors)


CORPUS = [f"sort list var_0 by key str_{i % 3}" for i in range(20)] + [
    "open file str_0 and read the lines", "convert string var_0 to an integer", "get the max value of dict var_1",
    "reverse the list var_0", "split str_0 on commas and strip each item", "count words in text var_2",
] * 3


def test_intent_pieces_train_encode_save_load(tmp_path):
    pieces = IntentPieces.train(CORPUS, vocab_size=80, seed=7)
    assert 20 < len(pieces) <= 80
    assert pieces.vocab[:2] == [PAD, UNK]
    ids = pieces.encode("sort list var_0 by key")
    assert ids and all(0 <= i < len(pieces) for i in ids)
    assert "var_0" in pieces.pieces("reverse var_0") and "str_1" in pieces.pieces("split str_1")
    assert pieces.decode(ids) == "sort list var_0 by key"
    again = IntentPieces.train(CORPUS, vocab_size=80, seed=7)
    assert again.model_bytes == pieces.model_bytes  # deterministic
    pieces.save(tmp_path)
    loaded = IntentPieces.load(tmp_path)
    assert loaded.vocab == pieces.vocab and loaded.encode("count words") == pieces.encode("count words")
    with pytest.raises(TranxError):
        IntentPieces.train(["", "  "])
