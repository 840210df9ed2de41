from dataclasses import dataclass

import pytest

from tranx.config import Config
from tranx.decoding.rerank import intent_mentions, mention_coverage, rerank
from tranx.errors import TranxError


@dataclass
class C:
    code: str


def test_mentions_are_backquoted_names_then_quoted_values():
    assert intent_mentions("replace all spaces in string `s` with '_'") == ["s", "_"]
    assert intent_mentions('join `words` with "-" and \'+\'') == ["words", "-", "+"]
    assert intent_mentions("sort the list") == []
    # a quote inside backquotes is part of the name, not a value
    assert intent_mentions("print `d['a']`") == ["d['a']"]


def test_coverage_is_the_share_of_mentions_in_the_code():
    assert mention_coverage("re.sub('all', '_', s)", ["s", "_"]) == 1.0
    assert mention_coverage("s.split()", ["s", "_"]) == 0.5
    assert mention_coverage("x", []) == 0.0


def test_rerank_is_stable_and_puts_covering_candidates_first():
    candidates = [C("s.split('x')"), C("t.replace(' ', '_')"), C("s.replace(' ', '_')"), C("s.replace(' ', '-')")]
    intent = "replace spaces in `s` with '_'"
    assert [c.code for c in rerank(candidates, intent, "coverage")] == [
        "s.replace(' ', '_')", "s.split('x')", "t.replace(' ', '_')", "s.replace(' ', '-')"]
    assert rerank(candidates, intent, "none") == candidates


def test_unknown_reranker_is_refused_by_name():
    with pytest.raises(TranxError, match="unknown reranker 'bleu'; known: none, coverage"):
        rerank([], "x", "bleu")


def test_config_rerank_defaults_to_none_and_loads():
    assert Config().train.rerank == "none"
    assert Config.from_json({"train": {"rerank": "coverage"}}).train.rerank == "coverage"


def test_config_refuses_an_unknown_reranker():
    with pytest.raises(TranxError, match="'train.rerank': unknown reranker 'best'"):
        Config.from_json({"train": {"rerank": "best"}})


def test_config_length_penalty_defaults_to_the_mean_and_refuses_negatives():
    assert Config().train.length_penalty == 1.0
    assert Config.from_json({"train": {"length_penalty": 2}}).train.length_penalty == 2.0
    with pytest.raises(TranxError, match="'train.length_penalty' must be at least 0, got -1"):
        Config.from_json({"train": {"length_penalty": -1}})
