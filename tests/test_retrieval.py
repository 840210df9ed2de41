"""Retrieval augmentation (tranx.data.retrieval): BM25 on known answers, exclusions in training, the augmented
word units, the index saved with a checkpoint and read back by a translator."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from model_fixtures import skip_without_data
from tranx.config import Config
from tranx.data.retrieval import MAX_TOKENS, SEPARATOR, RetrievalIndex, query_terms
from tranx.errors import TranxError
from tranx.languages import get_language

PYTHON = get_language("python")
UNITS = [["sort", "list", "var_0"], ["open", "file", "str_0"], ["sort", "dict", "var_0", "by", "value"],
         ["reverse", "list", "var_0"]]
SLOTS = [["var_0"], ["str_0"], ["var_0"], ["var_0"]]
CODES = ["sorted(var_0)", "open('str_0')", "sorted(var_0.items(), key=lambda x: x[1])", "var_0[::-1]"]


def index(neighbours: int = 1, codes=CODES) -> RetrievalIndex:
    return RetrievalIndex.build(UNITS, SLOTS, codes, PYTHON, neighbours)


def test_bm25_score_by_hand():
    idx = index()
    # "file" occurs in one of 4 intents: idf = ln(1 + (4 - 1 + 0.5) / (1 + 0.5)); intent 1 has 2 terms, the mean
    # length is (2 + 2 + 4 + 2) / 4 = 2.5 (slot names are not terms)
    idf = math.log(1 + 3.5 / 1.5)
    expected = idf * 1 * 2.2 / (1 + 1.2 * (1 - 0.75 + 0.75 * 2 / 2.5))
    assert idx.scores(["file"]) == {1: pytest.approx(expected)}
    assert idx.intents[2] == ["sort", "dict", "by", "value"]


def test_nearest_ranks_by_shared_rare_terms_and_breaks_ties_by_order():
    idx = index(neighbours=2)
    # intent 0 shares both terms; 2 and 3 one each, equally rare, and the shorter intent 3 scores higher
    assert idx.nearest(["sort", "list"]) == [0, 3]
    assert idx.nearest(["list"]) == [0, 3]  # equal scores: the earlier pair first
    assert idx.nearest(["nothing", "shared"]) == []


def test_training_never_retrieves_its_own_answer():
    codes = [CODES[0], CODES[1], CODES[2], CODES[0]]  # pair 3 has pair 0's code
    idx = index(neighbours=3, codes=codes)
    assert 0 not in idx.nearest(["sort", "list"], exclude=0) and 3 not in idx.nearest(["sort", "list"], exclude=0)
    assert idx.nearest(["sort", "list"], exclude=2) == [0, 3]


def test_slot_names_and_punctuation_are_not_query_terms():
    assert query_terms(["Sort", "list", "var_0", ",", "by", "str_1"], ["var_0", "str_1"]) == ["sort", "list", "by"]


def test_augmented_words_end_with_the_neighbours_code_tokens():
    idx = index(neighbours=1)
    words = idx.augment(["sort", "dict", "var_0"], ["var_0"])
    assert words == ["sort", "dict", "var_0", SEPARATOR, *PYTHON.tokenize(CODES[2])]
    long = RetrievalIndex([["a"]], [["t"] * (MAX_TOKENS + 10)], 1)
    assert len(long.augment(["a"])) == 1 + 1 + MAX_TOKENS


def test_index_round_trips_through_its_file(tmp_path):
    idx = index(neighbours=2)
    idx.save(tmp_path)
    again = RetrievalIndex.load(tmp_path)
    assert (again.intents, again.codes, again.neighbours) == (idx.intents, idx.codes, 2)
    assert again.nearest(["sort", "list"]) == idx.nearest(["sort", "list"])
    assert RetrievalIndex.load(tmp_path / "none") is None
    (tmp_path / "retrieval.json").write_text(json.dumps({"format": "tranx-retrieval", "intents": []}))
    with pytest.raises(TranxError, match="malformed retrieval index"):
        RetrievalIndex.load(tmp_path)


def test_retrieve_is_off_by_default_and_must_not_be_negative():
    assert Config().train.retrieve == 0
    with pytest.raises(TranxError, match="'train.retrieve' must be at least 0"):
        Config.from_json({"train": {"retrieve": -1}})


def test_a_trained_translator_reads_its_index_back(tmp_path):
    skip_without_data("conala")
    from tranx.cli import main
    from tranx.translator import Translator
    run = tmp_path / "run"
    tiny = str(Path(__file__).resolve().parents[1] / "configs" / "tiny.json")
    assert main(["train", tiny, "train.retrieve=1", "train.train_limit=30", "train.dev_limit=4",
                 "train.max_epochs=1", "train.eval_beam_size=1", "--out", str(run), "--threads", "1"]) == 0
    translator = Translator.from_pretrained(run / "best")
    assert translator.model.retrieval is not None and len(translator.model.retrieval.codes) == 30
    words, slots = translator.prepare("sort list `xs` in reverse order")
    assert words[:6] == ["sort", "list", "var_0", "in", "reverse", "order"]
    neighbour = translator.model.retrieval.nearest(["sort", "list", "in", "reverse", "order"])
    assert words[6:] == ([SEPARATOR, *translator.model.retrieval.codes[neighbour[0]][:MAX_TOKENS]] if neighbour
                         else [])
    (run / "best" / "retrieval.json").unlink()
    with pytest.raises(TranxError, match="trained with train.retrieve=1 but has no retrieval.json"):
        Translator.from_pretrained(run / "best")
