"""The regex benchmarks end to end: the shipped Lark grammar as `lark:regex`, the NL-RX / KB13 readers, a tiny model
trained on NL-RX-Turk whose checkpoint carries its Lark grammar, and the DFA score of its predictions."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from preprocess.datasets import load_examples, regex_from_split_tokens
from preprocess.splits import split_examples
from preprocess.tasks import get_task
from tranx.errors import GrammarError, TranxError
from tranx.evaluation.scoring import task_scores
from tranx.languages import get_language, lark_grammar_text
from tranx.languages.lark_language import LarkLanguage

from model_fixtures import skip_without_data

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("tokens, regex", [
    (r"\ b ( [ <LET> ] ) | ( ( [ <VOW> ] ) * ) \ b", r"\b([A-Za-z])|(([AEIOUaeiou])*)\b"),
    (r"( ( [ <NUM> ] ) { 3 , } ) . * ( <M0> ) . *", r"(([0-9]){3,}).*(<M0>).*"),
    (". * <M1>  <M0> . *", ".*<M1> <M0>.*"),  # KB13: two spaces in a row are a literal space
    ("~ ( [ <CAP> ] & [ <LOW> ] )", "~([A-Z]&[a-z])"),
    ("", ""),
])
def test_split_file_tokens_become_dialect_strings(tokens, regex):
    assert regex_from_split_tokens(tokens) == regex


def test_lark_regex_is_the_shipped_grammar_parsed_with_lalr():
    language = get_language("lark:regex")
    assert language is get_language("lark:regex")  # built once
    assert language.parser == "lalr" and language.name == "regex"
    assert language.lark_text == (ROOT / "grammars" / "regex.lark").read_text(encoding="utf-8")
    for regex in [r"\b([A-Z])&([AEIOUaeiou])\b", "((.*)(.)).*(dog).*", "~(.*e.*)", ".*<M0>{2,}.*|()", "[^a-z] x?"]:
        assert language.unparse(language.parse(regex)) == regex  # groups are nodes: character for character
    assert get_language("asdl:python3") is get_language("python")


def test_unknown_lark_grammar_names_the_input():
    with pytest.raises(TranxError, match=r"language 'lark:nope': no file 'nope' and no shipped grammar.*regex"):
        lark_grammar_text("nope")


def test_a_checkpoint_grammar_is_adopted_only_when_the_lark_text_still_derives_it():
    text = lark_grammar_text("regex")
    trained = LarkLanguage(text, name="regex").grammar
    bound = get_language("lark:regex", trained, lark_text=text)
    assert bound.grammar is trained
    tree = bound.parse("a|b")
    assert tree.constructor is trained.constructor("union")
    edited = text.replace('| "." -> any', '| "." -> dot')
    with pytest.raises(GrammarError, match="no longer derives the checkpoint's action grammar"):
        get_language("lark:regex", trained, lark_text=edited)


def test_textual_substitution_keeps_only_what_still_parses():
    language = get_language("lark:regex")
    slots = {"<M0>": "dog", "<M1>": "a(b"}
    code, used = language.substitute(".*dog.*&a(b|c)", slots)
    assert (code, used) == (".*<M0>.*&a(b|c)", frozenset({"<M0>"}))  # `a(b` would break the parentheses
    assert language.restore(code, slots) == ".*dog.*&a(b|c)"


def test_regex_scores_are_dfa_equivalence_and_string_match():
    scores = task_scores("nl-rx-turk", [".*dog.*", "(a|b)", "x"], [".*<M0>.*", "[ab]", "y"])
    assert scores["dfa_accuracy"] == pytest.approx(200 / 3)  # <M0> is dog in NL-RX
    assert scores["exact_match"] == 0.0 and scores["n"] == 3
    assert task_scores("kb13", ["<M1>"], ["truck"])["dfa_accuracy"] == 100.0  # deep-regex's words for KB13 too


def test_readers_give_the_standard_splits():
    skip_without_data("nl-rx-turk")
    turk = split_examples("nl-rx-turk")
    assert {s: len(rows) for s, rows in turk.items()} == {"train": 6500, "dev": 1000, "test": 2500}
    assert turk["test"][0].id == "test/0" and turk["test"][0].code == r"\b[A-Za-z]|(([AEIOUaeiou])*)\b".replace(
        "[A-Za-z]", "([A-Za-z])")
    kb13 = split_examples("kb13")
    assert {s: len(rows) for s, rows in kb13.items()} == {"train": 558, "dev": 60, "test": 206}
    assert len(load_examples("kb13", "test")) == 206
    synth = split_examples("nl-rx-synth", splits=["test"])["test"]
    # one split, two phrasings: the same regexes, up to the slot numbers (they follow each description's order)
    unnumbered = lambda rows: sorted(re.sub(r"<M[0-9]>", "<M>", e.code) for e in rows)  # noqa: E731
    assert unnumbered(synth) == unnumbered(turk["test"])
    assert get_task("nl-rx-synth").language == "lark:regex"


def test_a_tiny_regex_model_trains_saves_its_grammar_and_translates(tmp_path):
    skip_without_data("nl-rx-turk")
    from tranx.cli import main
    from tranx.translator import Translator
    run = tmp_path / "run"
    assert main(["train", str(ROOT / "configs" / "tiny.json"), "train.dataset=nl-rx-turk", "train.train_limit=200",
                 "train.dev_limit=8", "train.eval_beam_size=1", "train.max_epochs=2", "--threads", "1",
                 "--out", str(run)]) == 0
    moved = tmp_path / "elsewhere"
    shutil.copytree(run / "best", moved)
    assert (moved / "grammar.lark").read_text(encoding="utf-8") == lark_grammar_text("regex")
    assert json.loads((moved / "task.json").read_text(encoding="utf-8"))["language"] == "lark:regex"
    translator = Translator.from_pretrained(moved)
    assert translator.language.grammar is translator.model.grammar
    found = translator.translate("lines containing the string <M0> or a vowel", beam_size=3, n_best=3)
    assert found, "a regex grammar always completes some candidate"
    regex = get_language("lark:regex")
    for candidate in found:
        assert regex.unparse(regex.parse(candidate.code)) == candidate.code
