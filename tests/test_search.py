"""Tests for tranx.decoding.search: beam search, greedy decoding and sampling over a tiny trained model.

Checked: beam size 1 is greedy; every result is a complete, grammar-valid hypothesis whose reported log-probability
is its teacher-forced log-likelihood (decode_step replayed along its actions); beams are sorted and
length-normalised; sampling is reproducible with a seeded generator; the step limit holds.
"""

from __future__ import annotations

import pytest
import torch

from model_fixtures import conala_examples, replay_log_probs, trained_translator
from tranx.grammar.actions import GenToken
from tranx.decoding.search import beam_search, greedy_search, sample

INTENTS = [
    "sort list `my_list` by key 'name'",
    "convert a list of integers into a single integer",
    "zip two lists `a` and `b` into a list of tuples",
    "find all occurrences of the pattern '\\d+' within `text`",
    "get the average of the values of dictionary `d`",
    "print hello",
]


@pytest.fixture(scope="module")
def setup():
    translator = trained_translator()
    words = [translator.prepare(i)[0] for i in INTENTS] + [list(e.words) for e in conala_examples()[:4]]
    return translator.model, translator.system, words


def test_beam_size_one_is_greedy(setup):
    model, system, words = setup
    beams = beam_search(model, words, beam_size=1, max_steps=80)
    greedy = greedy_search(model, words, max_steps=80)
    found = 0
    for beam, best in zip(beams, greedy):
        if not best.complete:
            assert beam == []
            continue
        found += 1
        assert len(beam) == 1
        assert beam[0].hypothesis.actions == best.hypothesis.actions
        assert beam[0].log_prob == pytest.approx(best.log_prob, abs=1e-6)
        assert beam[0].score == pytest.approx(best.log_prob / best.hypothesis.length, abs=1e-6)
    assert found >= len(words) // 2


def test_search_scores_are_the_models_log_likelihood(setup):
    model, system, words = setup
    beams = beam_search(model, words[:5], beam_size=4, max_steps=80)
    greedy = greedy_search(model, words[:5], max_steps=80)
    checked = 0
    for w, results, best in zip(words, beams, greedy):
        for result in results + ([best] if best.complete else []):
            assert result.log_prob == pytest.approx(sum(replay_log_probs(model, w, result.hypothesis.actions)),
                                                    abs=1e-4)
            checked += 1
    assert checked >= 10


def test_a_batch_of_intents_searches_as_each_intent_alone(setup):
    """Batched beams (a grid of intents x beam) and a lone intent (no grid) find the same hypotheses and scores."""
    model, _, words = setup
    together = beam_search(model, words[:6], beam_size=4, max_steps=80)
    assert sum(len(results) for results in together) >= 6
    for w, batched in zip(words[:6], together):
        (alone,) = beam_search(model, [w], beam_size=4, max_steps=80)
        assert [r.hypothesis.actions for r in alone] == [r.hypothesis.actions for r in batched]
        assert [r.score for r in alone] == pytest.approx([r.score for r in batched], abs=1e-5)


def test_beam_results_are_complete_valid_sorted_and_distinct(setup):
    model, system, words = setup
    beams = beam_search(model, words, beam_size=6, max_steps=80)
    assert sum(len(b) for b in beams) > len(words)
    for results in beams:
        assert len(results) <= 6
        scores = [r.score for r in results]
        assert scores == sorted(scores, reverse=True)
        assert len({r.hypothesis.actions for r in results}) == len(results)
        for r in results:
            assert r.hypothesis.is_complete
            assert system.replay(r.hypothesis.actions).is_complete  # every action valid under the grammar
            assert r.score == pytest.approx(r.log_prob / r.hypothesis.length)
            assert r.log_prob < 0
            assert GenToken("<unk>") not in r.hypothesis.actions and GenToken("<pad>") not in r.hypothesis.actions
            r.hypothesis.tree()
    raw = beam_search(model, words[:3], beam_size=6, max_steps=80, length_penalty=0.0)
    for results in raw:
        assert all(r.score == r.log_prob for r in results)
        assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    # a penalty above 1 orders the same finished hypotheses (the beam is pruned by the sum), longer ones higher
    long = beam_search(model, words[:3], beam_size=6, max_steps=80, length_penalty=2.0)
    for results, plain in zip(long, raw):
        assert {r.hypothesis.actions for r in results} == {r.hypothesis.actions for r in plain}
        for r in results:
            assert r.score == pytest.approx(r.log_prob / r.hypothesis.length ** 2)
        assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_sampling_is_complete_and_reproducible(setup):
    model, system, words = setup
    words = words[:4]

    def draw(seed):
        return sample(model, words, num_samples=4, max_steps=80,
                      generator=torch.Generator().manual_seed(seed))

    first, again, other = draw(0), draw(0), draw(1)
    assert [len(s) for s in first] == [4] * len(words)  # exactly num_samples per intent, incomplete ones included
    assert sum(r.complete for s in first for r in s) >= 8
    for a, b in zip(first, again):
        assert [r.hypothesis.actions for r in a] == [r.hypothesis.actions for r in b]
        assert [r.log_prob for r in a] == [r.log_prob for r in b]
    for results in first:
        for r in results:
            assert r.hypothesis.is_complete == r.complete
            assert system.replay(r.hypothesis.actions).is_complete == r.complete  # every action valid
            if r.complete:
                r.hypothesis.tree()
    flat = lambda samples: [r.hypothesis.actions for s in samples for r in s]  # noqa: E731
    assert flat(first) != flat(other)  # a different seed draws different programs
    # the reported log-probability is the model's, not the sampler's
    r = first[0][0]
    assert r.log_prob == pytest.approx(sum(replay_log_probs(model, words[0], r.hypothesis.actions)), abs=1e-4)


def test_step_limit_is_respected(setup):
    model, system, words = setup
    beams = beam_search(model, words, beam_size=8, max_steps=3)
    greedy = greedy_search(model, words, max_steps=3)
    samples = sample(model, words, num_samples=3, max_steps=3,
                     generator=torch.Generator().manual_seed(0))
    lengths = [r.hypothesis.length for b in beams for r in b]
    lengths += [r.hypothesis.length for r in greedy]
    lengths += [r.hypothesis.length for s in samples for r in s]
    assert lengths and max(lengths) <= 3  # e.g. Module + Reduce: the empty program
    assert all(len(r.hypothesis.actions) == r.hypothesis.length for b in beams for r in b)
    # a limit of one step completes nothing (no tree has a single action)
    assert beam_search(model, words[:2], beam_size=4, max_steps=1) == [[], []]
    stopped = greedy_search(model, words[:2], max_steps=1) + sample(model, words[:1], num_samples=2, max_steps=1)[0]
    assert [(r.complete, r.hypothesis.length) for r in stopped] == [(False, 1)] * 4  # returned as such, not dropped


def test_search_leaves_the_training_mode_alone(setup):
    model, system, words = setup
    model.train()
    try:
        greedy_search(model, words[:1], max_steps=10)
        assert model.training
    finally:
        model.eval()
