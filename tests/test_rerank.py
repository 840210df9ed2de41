import math
from dataclasses import dataclass

import pytest

from tranx.config import Config
from tranx.decoding.rerank import coverage_settled, intent_mentions, mention_coverage, rerank
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


@pytest.mark.parametrize("intent", ["replace spaces in `s` with '_'", "sort `xs`", "sort the list"])
@pytest.mark.parametrize("n_best", [1, 2, 3])
def test_coverage_settles_where_the_whole_list_would_agree(intent, n_best):
    """Stopping at the first prefix of the model's order that is settled gives the reranked top n_best of the
    whole list, for every order of these candidates."""
    import itertools
    codes = ["s.replace(' ', '_')", "xs.sort()", "s.split()", "sorted(xs)", "x", "re.sub(' ', '_', s)"]
    settled = coverage_settled(intent, n_best)
    for order in itertools.permutations(codes, 5):
        candidates = [C(code) for code in order]
        whole = rerank(candidates, intent, "coverage")[:n_best]
        stop = next((k for k in range(1, len(candidates) + 1) if settled(candidates[:k])), len(candidates))
        assert rerank(candidates[:stop], intent, "coverage")[:n_best] == whole
    assert settled([C("x")] * n_best) == (intent == "sort the list")  # nothing mentioned: any n_best settle


def test_unknown_reranker_is_refused_by_name():
    with pytest.raises(TranxError, match="unknown reranker .bleu.; known: none, coverage, equivalence"):
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


@dataclass
class P:
    code: str
    log_prob: float


def test_equivalence_votes_by_the_probability_of_each_meaning():
    from tranx.evaluation.meaning import meaning_equivalence
    from preprocess.tasks import get_task
    same = meaning_equivalence(get_task("nl-rx-turk"))
    # the two spellings of "a letter then anything" share 0.3 + 0.25 of the mass and beat the single best (0.4);
    # one spelling per meaning first, the other spellings after them
    candidates = [P("([a-z])|([0-9])", math.log(0.4)), P("([a-z]).*", math.log(0.3)),
                  P("(([a-z]).*)", math.log(0.25)), P("[0-9]", math.log(0.05))]
    assert [c.code for c in rerank(candidates, "x", "equivalence", same=same)] == [
        "([a-z]).*", "([a-z])|([0-9])", "[0-9]", "(([a-z]).*)"]
    # with a different split of the mass the single best stays first: a stable sort, ties in the model's order
    candidates[0] = P("([a-z])|([0-9])", math.log(0.6))
    assert [c.code for c in rerank(candidates, "x", "equivalence", same=same)][0] == "([a-z])|([0-9])"


def test_meaning_groups_follow_the_first_member():
    from tranx.decoding.rerank import meaning_groups
    assert meaning_groups(["a", "b", "a", "c", "b"], lambda x, y: x == y) == [0, 1, 0, 2, 1]
    assert meaning_groups([], lambda x, y: True) == []


def test_equivalence_needs_a_task_that_can_tell_meanings():
    from tranx.evaluation.meaning import meaning_equivalence, same_for
    from preprocess.tasks import get_task
    assert meaning_equivalence(get_task("conala")) is None and same_for(get_task("conala"), "coverage") is None
    with pytest.raises(TranxError, match="task conala cannot tell when two programs mean the same"):
        same_for(get_task("conala"), "equivalence")
    with pytest.raises(TranxError, match="needs a task that can tell"):
        rerank([P("a", 0.0)], "x", "equivalence")
    same = meaning_equivalence(get_task("nl-rx-turk"))
    assert same("(a)|(b)", "(b)|(a)") and not same("a", "b") and not same("(((", "(((")  # unparseable: no match
