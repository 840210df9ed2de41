"""Ensembles: the averaged distribution (known answers), save/load, mismatched members, and the CLI."""

from __future__ import annotations

import copy
import json
import math

import pytest

from model_fixtures import conala_examples, make_model, replay_log_probs, train, trained_translator
from tranx.cli import main
from tranx.decoding.ensemble import combine
from tranx.errors import TranxError
from tranx.decoding.search import beam_search, sample
from tranx.translator import CheckpointError, Translator
from tranx.data.vocab import Vocab

INTENTS = ["sort list `my_list` by key 'name'", "zip two lists `a` and `b` into a list of tuples", "print hello"]


@pytest.fixture(scope="module")
def pair() -> tuple[Translator, Translator]:
    first = trained_translator()
    model = make_model(seed=7)
    train(model, conala_examples(), steps=30, lr=1e-2, batch_size=20, seed=3)
    config = copy.deepcopy(first.config)
    config.train.seed = 5  # a member setting the ensemble must keep per member
    return first, Translator(config, model)


def _words(translator):
    return [translator.prepare(intent)[0] for intent in INTENTS]


def test_an_ensemble_of_one_model_twice_decodes_as_that_model(pair):
    first, _ = pair
    twice = combine([first, first])
    alone = first.translate(INTENTS, beam_size=4, n_best=3)
    both = twice.translate(INTENTS, beam_size=4, n_best=3)
    assert [[c.code for c in cands] for cands in both] == [[c.code for c in cands] for cands in alone]
    for a, b in zip(alone, both):
        assert [c.score for c in b] == pytest.approx([c.score for c in a], abs=1e-5)


def test_ensemble_scores_are_the_averaged_step_probabilities(pair):
    first, second = pair
    words = _words(first)
    beams = beam_search([first.model, second.model], words, beam_size=4, max_steps=60)
    checked = 0
    for w, results in zip(words, beams):
        for result in results:
            a = replay_log_probs(first.model, w, result.hypothesis.actions)
            b = replay_log_probs(second.model, w, result.hypothesis.actions)
            expected = sum(math.log((math.exp(x) + math.exp(y)) / 2) for x, y in zip(a, b))
            assert result.log_prob == pytest.approx(expected, abs=1e-4)
            checked += 1
    assert checked >= 3
    # and the two members disagree, so the ensemble is not either one of them
    alone = beam_search(first.model, words, beam_size=4, max_steps=60)
    assert [r.log_prob for r in alone[0]] != pytest.approx([r.log_prob for r in beams[0]], abs=1e-3)


def test_ensemble_samples_are_scored_under_the_averaged_distribution(pair):
    import torch
    first, second = pair
    words = _words(first)
    drawn = sample([first.model, second.model], words, num_samples=3, max_steps=60,
                   generator=torch.Generator().manual_seed(0))
    checked = 0
    for w, results in zip(words, drawn):
        for result in results:  # each draw's log-probability is under the averaged distribution
            a = replay_log_probs(first.model, w, result.hypothesis.actions)
            b = replay_log_probs(second.model, w, result.hypothesis.actions)
            assert result.log_prob == pytest.approx(sum(math.log((math.exp(x) + math.exp(y)) / 2)
                                                        for x, y in zip(a, b)), abs=1e-4)
            checked += 1
    assert checked >= 3


def test_save_and_load_an_ensemble_gives_identical_outputs(pair, tmp_path):
    ensemble = combine(list(pair))
    ensemble.save_pretrained(tmp_path / "ens")
    assert json.loads((tmp_path / "ens" / "ensemble.json").read_text())["members"] == ["members/0", "members/1"]
    assert (tmp_path / "ens" / "members" / "1" / "model.safetensors").is_file()
    loaded = Translator.from_pretrained(tmp_path / "ens")
    assert len(loaded.models) == 2
    assert [m.config.train.seed for m in loaded.members] == [pair[0].config.train.seed, 5]  # each its own config
    before = ensemble.translate(INTENTS, beam_size=3, n_best=2)
    after = loaded.translate(INTENTS, beam_size=3, n_best=2)
    assert [[(c.code, round(c.score, 5)) for c in x] for x in after] == \
        [[(c.code, round(c.score, 5)) for c in x] for x in before]


def test_members_must_read_and_write_alike(pair):
    first, second = pair
    with pytest.raises(TranxError, match="at least two"):
        combine([first])
    other = copy.deepcopy(second.config)
    other.train.dataset = "django"
    with pytest.raises(TranxError, match=r"member 2 .*its task differs \(task django against task conala\)"):
        combine([first, Translator(other, second.model)])
    other = copy.deepcopy(second.config)
    other.train.substitution = False
    with pytest.raises(TranxError, match="train.substitution"):
        combine([first, Translator(other, second.model)])
    bigger = copy.copy(second.model)
    bigger.tokens = Vocab.from_counts({"an_extra_token": 9}, cutoff=1, name="primitive")
    with pytest.raises(TranxError, match=r"primitive-token vocabulary differs \(\d+ tokens against \d+ tokens\)"):
        combine([first, Translator(second.config, bigger)])


def test_a_broken_ensemble_folder_is_a_clear_error(pair, tmp_path):
    folder = tmp_path / "ens"
    combine(list(pair)).save_pretrained(folder)
    (folder / "ensemble.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="ensemble.json is corrupted"):
        Translator.from_pretrained(folder)
    (folder / "ensemble.json").write_text(json.dumps({"format": "tranx-ensemble", "format_version": 1,
                                                      "members": ["members/0", "../elsewhere"]}))
    with pytest.raises(CheckpointError, match="not a checkpoint inside the ensemble"):
        Translator.from_pretrained(folder)
    (folder / "ensemble.json").write_text(json.dumps({"format": "tranx-ensemble", "format_version": 1,
                                                      "members": ["members/0", "members/9"]}))
    with pytest.raises(CheckpointError, match="members/9"):
        Translator.from_pretrained(folder)


def test_cli_builds_an_ensemble_that_translates(pair, tmp_path, capsys):
    first, second = pair
    first.save_pretrained(tmp_path / "a")
    second.save_pretrained(tmp_path / "b")
    assert main(["ensemble", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "ens")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["ensemble"] == str(tmp_path / "ens")
    assert main(["translate", str(tmp_path / "ens"), "print hello", "--beam-size", "2", "--threads", "1"]) == 0
    assert capsys.readouterr().out.startswith("# 1 (score ")
    assert main(["ensemble", str(tmp_path / "a"), "--out", str(tmp_path / "one")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at least two runs" in err[0]
    assert main(["ensemble", str(tmp_path / "a"), str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0] and not (tmp_path / "x").exists()

