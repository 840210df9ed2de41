"""Users get ordinary Python; CoNaLa's astor-style string quoting is applied only when scoring against its references."""

from __future__ import annotations

import json

import pytest

from preprocess.tasks import Task, get_task
from tranx.cli import main
from tranx.evaluation.scoring import in_reference_style, task_scores


def test_plain_predictions_are_rewritten_in_the_references_style():
    conala = get_task("conala")
    assert conala.reference_style == "astor"
    assert in_reference_style(conala, "' '.join(words)") == '""" """.join(words)'
    assert in_reference_style(conala, "x = ' '.join(words)") == "x = ' '.join(words)"  # not an expression statement
    assert in_reference_style(get_task("codeinsight"), "' '.join(words)") == "' '.join(words)"


def test_code_not_in_the_translators_form_is_scored_as_written():
    conala = get_task("conala")
    for foreign in ("' ' .join(words)", "x=1 # c", "f(", ""):
        assert in_reference_style(conala, foreign) == foreign


def test_bleu_of_a_plain_prediction_equals_that_of_the_astor_form():
    reference = ['""" """.join(words)']
    plain = task_scores("conala", ["' '.join(words)"], reference)
    as_written = task_scores("conala", ["' '.join(words)"], reference, restyle=False)
    assert plain["bleu"] == pytest.approx(100.0) and plain["exact_match"] == 100.0
    assert as_written["bleu"] < 60 and as_written["exact_match"] == 0.0


def test_task_json_with_the_old_field_name_loads():
    old = get_task("conala").to_json()
    old["output_style"] = old.pop("reference_style")
    assert Task.from_json(old) == get_task("conala")


def test_score_command_has_an_as_written_option(tmp_path, capsys, monkeypatch):
    from tranx.evaluation import reports
    raw = [type("Example", (), {"id": "test/0", "code": '""" """.join(words)'})()]
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(json.dumps({"id": "test/0", "prediction": "' '.join(words)"}) + "\n")
    monkeypatch.setattr(reports, "_execution_scores", lambda *a: {})
    monkeypatch.setattr(reports, "_shell_scores", lambda *a: {})
    summaries = []
    for restyle in (True, False):
        assert reports.score_and_report(predictions, raw, "conala", "test", restyle=restyle) == 0
        summaries.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert summaries[0]["exact_match"] == 100.0 and summaries[0]["predictions_rewritten_in"] == "astor"
    assert summaries[1]["exact_match"] == 0.0 and summaries[1]["predictions_rewritten_in"] == "no (scored as written)"
    assert main(["score", "--help"]) == 0
    assert "--as-written" in capsys.readouterr().out


def test_a_conala_translator_writes_plain_code():
    from model_fixtures import trained_translator
    translator = trained_translator()
    assert translator.task.name == "conala"
    tree = translator.language.parse("' '.join(words)")
    assert translator.to_code(tree, {}) == "' '.join(words)"
