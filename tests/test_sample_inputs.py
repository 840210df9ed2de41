"""Candidates run on a user's sample inputs in the sandbox (tranx.execution.sample_inputs), through the Translator
(`translate(sample=...)`) and the CLI (`tranx translate --sample`)."""

from __future__ import annotations

import pytest

from model_fixtures import trained_translator
from tranx.errors import TranxError
from tranx.execution.sample_inputs import run_on_sample, runs_first_order

SAMPLE = "s = 'https://example.org'"


def test_each_candidate_gets_its_outcome():
    codes = ["s.startswith('http')", "s.starts()", "int('n')", "x = (", "", "import ctypes",
             "while True:\n    pass", "assert s == 'x'", "s.startswith('http')", "re.sub('h', '', s)"]
    assert run_on_sample(codes, SAMPLE, timeout_s=1) == [
        "runs", "runtime_error", "runtime_error", "does_not_parse", "does_not_parse", "rejected",
        "timeout", "runtime_error",  # its own assertion failed: nothing of ours was checked
        "runs", "runs"]  # the everyday imports (re, os, json, ..., numpy, pandas) are there


def test_the_sample_sets_the_variables_the_candidate_reads():
    assert run_on_sample(["line.split(',')[2]"], "line = 'a,b,c'") == ["runs"]
    assert run_on_sample(["line.split(',')[2]"], "line = 'a,b'") == ["runtime_error"]  # IndexError


@pytest.mark.parametrize("sample, needle", [("", "must be Python statements"), ("   ", "must be Python statements"),
                                            ("s = (", "is not Python"), ("raise ValueError('no')", "does not run"),
                                            ("undefined_name + 1", "NameError")])
def test_a_bad_sample_is_a_clear_error(sample, needle):
    with pytest.raises(TranxError, match=needle):
        run_on_sample(["s"], sample)


def test_runs_first_keeps_the_order_within_each_group():
    assert runs_first_order(["timeout", "runs", "runtime_error", "runs", "does_not_parse"]) == [1, 3, 0, 2, 4]
    assert runs_first_order([]) == []


@pytest.fixture(scope="module")
def translator():
    return trained_translator()


def test_translate_with_a_sample_reorders_the_whole_beam(translator):
    intent = "sort list `my_list` by key 'name'"
    sample = "my_list = [{'name': 'b'}, {'name': 'a'}]"
    beam = translator.translate(intent, beam_size=6, n_best=6)
    outcomes = run_on_sample([c.code for c in beam], sample)
    expected = [(beam[i].code, beam[i].score, outcomes[i]) for i in runs_first_order(outcomes)]
    got = translator.translate(intent, beam_size=6, n_best=6, sample=sample)
    assert [(c.code, c.score, c.ran) for c in got] == expected
    short = translator.translate(intent, beam_size=6, n_best=2, sample=sample)  # the cut comes after the reordering
    assert [(c.code, c.ran) for c in short] == [(code, ran) for code, _, ran in expected[:2]]
    assert all(c.ran is None for c in beam)


def test_translate_samples_per_intent_and_their_errors(translator):
    intents = ["concatenate the strings 'a' and 'b'", "get the average of the values of dictionary `d`"]
    got = translator.translate(intents, beam_size=3, n_best=3, sample=["pass", "d = {'x': 1, 'y': 3}"])
    assert len(got) == 2 and all(c.ran is not None for cs in got for c in cs)
    with pytest.raises(TranxError, match="3 samples for 2 intents"):
        translator.translate(intents, sample=["a = 1"] * 3)
    with pytest.raises(TranxError, match="is not Python"):
        translator.translate(intents[0], sample="a = (")


def test_translate_with_a_sample_needs_python(translator, monkeypatch):
    monkeypatch.setattr(translator.language, "name", "regex", raising=False)
    with pytest.raises(TranxError, match="sample inputs run Python; this model writes regex"):
        translator.translate("match digits", sample="s = '1'")
