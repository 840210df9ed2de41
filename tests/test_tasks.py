"""Tests for preprocess.tasks: the task table, its JSON form, and a checkpoint that carries its task."""

from __future__ import annotations

import json

import pytest

from model_fixtures import trained_translator
from preprocess.tasks import TASKS, Task, TaskError, get_task
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
