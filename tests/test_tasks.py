"""Tests for preprocess.tasks: the task table, its JSON form, and a checkpoint that carries its task."""

from __future__ import annotations

import json

import pytest

from model_fixtures import trained_translator
from preprocess.tasks import TASKS, Task, TaskError, get_harness, get_task
from tranx.evaluation.scoring import task_scores
from tranx.translator import Translator


def test_tasks_round_trip_through_json():
    for task in TASKS.values():
        assert Task.from_json(json.loads(json.dumps(task.to_json()))) == task


def test_bad_tasks_are_named():
    with pytest.raises(TaskError, match="unknown task 'nope'; known: codeinsight, conala, django"):
        get_task("nope")
    with pytest.raises(TaskError, match="task 'x': completion 'block' is not one of None, line"):
        Task("x", completion="block")
    with pytest.raises(TaskError, match="t.json: unknown task field 'colour'"):
        Task.from_json({**get_task("conala").to_json(), "colour": "red"}, source="t.json")
    with pytest.raises(TaskError, match="t.json: not a tranx task"):
        Task.from_json({"name": "x"}, source="t.json")


def test_task_json_from_before_the_style_rename_still_loads():
    old = {**get_task("django").to_json(), "intent_style": "django"}
    assert Task.from_json(old) == get_task("django") and get_task("django").intent_style == "strings"


def test_the_task_decides_what_exact_match_compares():
    """Token lists (quotes folded, spacing ignored) for one task, canonical code of completed lines for another."""
    predictions, references = ["f( 'a' )", "if x :", "x=1 # c"], ['f("a")', "if x:", "x = 1"]
    assert task_scores("conala", predictions, references)["exact_match"] == pytest.approx(200 / 3)
    assert task_scores("django", predictions, references)["exact_match"] == 100.0
    assert get_task("conala").match == "tokens" and get_task("django").match == "canonical"
    with pytest.raises(TaskError, match="task 'x': match 'fuzzy' is not one of tokens, canonical"):
        Task("x", match="fuzzy")


def test_only_tasks_with_unit_tests_have_a_harness():
    assert {name for name, task in TASKS.items() if task.unit_tests} == {"codeinsight"}
    assert get_harness("codeinsight").seconds_per_test_file == 10.0
    with pytest.raises(TaskError, match="task 'conala' has no unit tests \\(tasks with unit tests: codeinsight\\)"):
        get_harness("conala")


def test_line_completion_round_trips():
    task = get_task("django")
    assert task.to_parseable("if x :") != "if x :"
    assert task.from_parseable(task.to_parseable("if x:")) == "if x:"
    assert get_task("conala").to_parseable("if x :") == "if x :"


def test_a_checkpoint_translates_with_its_own_task(tmp_path):
    """The task saved with a checkpoint decides how it reads and writes, not the data-set name in its config."""
    base = trained_translator()
    lines = Translator(base.config, base.model, task=get_task("django"))
    lines.save_pretrained(tmp_path / "lines")
    assert json.loads((tmp_path / "lines" / "task.json").read_text())["name"] == "django"
    loaded = Translator.from_pretrained(tmp_path / "lines")
    assert loaded.config.train.dataset == "conala" and loaded.task == get_task("django")
    intent = "sort list `my_list` by key 'name'"
    assert [c.code for c in loaded.translate(intent, n_best=3)] == [c.code for c in lines.translate(intent, n_best=3)]
    (tmp_path / "lines" / "task.json").write_text(json.dumps({"format": "tranx-task", "name": "x", "metric": "f1"}))
    with pytest.raises(Exception, match="metric 'f1' is not one of bleu, exact_match"):
        Translator.from_pretrained(tmp_path / "lines")


def test_a_checkpoint_keeps_its_primitive_types_and_binds_its_language(tmp_path):
    base = trained_translator()
    base.save_pretrained(tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert meta["primitive_types"] == sorted(base.model.grammar.primitive_types) and meta["piece_types"] == []
    loaded = Translator.from_pretrained(tmp_path / "ckpt")
    assert loaded.model.grammar.primitive_types == base.model.grammar.primitive_types
    assert loaded.language.grammar is loaded.model.grammar  # the checkpoint's grammar, not the shipped one
