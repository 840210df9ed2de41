"""Tests for tranx.evaluation.scoring.score_predictions on small temporary JSON Lines files."""

from __future__ import annotations

import json

import pytest

from tranx.evaluation.scoring import ScoreReport, score_predictions

REFS = {
    "test/0": "sorted(l, key=lambda x: x[1])",
    "test/1": "os.path.join(a, b)",
    "test/2": "df.sortValues(by='a')",
}


def _write_lines(path, lines):
    path.write_bytes(b"\n".join(l if isinstance(l, bytes) else l.encode("utf-8") for l in lines) + b"\n")
    return path


def _line(ex_id, pred, **extra):
    return json.dumps({"id": ex_id, "prediction": pred, **extra})


def test_all_correct_scores_100(tmp_path):
    path = _write_lines(tmp_path / "p.jsonl", [_line(i, c, score=-0.5) for i, c in REFS.items()])
    report = score_predictions(path, REFS, "conala")
    assert isinstance(report, ScoreReport)
    out = report.to_json()
    assert out["bleu"] == 100.0 and out["exact_match"] == 100.0
    assert out["n"] == 3 and out["scored"] == 3 and out["missing"] == 0
    assert out["missing_ids"] == [] and out["unknown_ids"] == [] and out["duplicate_ids"] == []
    assert out["malformed_lines"] == [] and out["malformed"] == 0
    json.dumps(out)  # serialisable
    # codeinsight uses the same metrics
    assert score_predictions(path, REFS, "codeinsight").bleu == 100.0


def test_problems_are_reported_with_line_numbers(tmp_path):
    lines = [
        _line("test/0", REFS["test/0"]),             # 1 ok
        _line("test/9", "x"),                        # 2 unknown id
        _line("test/0", "something else"),           # 3 duplicate (first kept)
        "{not json",                                 # 4 bad JSON
        "[1, 2]",                                    # 5 not an object
        json.dumps({"id": "test/2"}),                # 6 missing prediction
        json.dumps({"id": "test/2", "prediction": 3}),  # 7 non-string prediction
        b'{"id": "test/2", "prediction": "\xff\xfe"}',  # 8 non-UTF-8 bytes
        "",                                          # 9 blank: ignored
        json.dumps({"prediction": "x"}),             # 10 missing id
        json.dumps({"id": 2, "prediction": "x"}),    # 11 non-string id
    ]
    path = _write_lines(tmp_path / "p.jsonl", lines)
    report = score_predictions(path, REFS, "conala")
    out = report.to_json()
    assert out["n"] == 3
    assert out["scored"] == 1
    assert out["missing"] == 2 and out["missing_ids"] == ["test/1", "test/2"]
    assert out["unknown_ids"] == [{"line": 2, "id": "test/9"}] and out["unknown"] == 1
    assert out["duplicate_ids"] == [{"line": 3, "id": "test/0", "first_line": 1}] and out["duplicates"] == 1
    assert [m["line"] for m in out["malformed_lines"]] == [4, 5, 6, 7, 8, 10, 11]
    reasons = {m["line"]: m["reason"] for m in out["malformed_lines"]}
    assert "JSON" in reasons[4] and "object" in reasons[5] and "prediction" in reasons[6]
    assert "string" in reasons[7] and "UTF-8" in reasons[8] and "id" in reasons[10] and "id" in reasons[11]
    # the first test/0 line was kept (correct), the two missing ones scored as empty: 1 of 3 exact
    assert out["exact_match"] == pytest.approx(100 / 3)


def test_missing_ids_score_as_empty(tmp_path):
    path = _write_lines(tmp_path / "p.jsonl", [_line("test/0", REFS["test/0"])])
    full = score_predictions(_write_lines(tmp_path / "full.jsonl", [_line(i, c) for i, c in REFS.items()]),
                             REFS, "conala")
    partial = score_predictions(path, REFS, "conala")
    assert partial.missing == 2 and partial.missing_ids == ["test/1", "test/2"]
    assert partial.bleu < full.bleu
    assert partial.exact_match == pytest.approx(100 / 3)
    empty = score_predictions(_write_lines(tmp_path / "empty.jsonl", []), REFS, "conala")
    assert empty.bleu == 0.0 and empty.missing == 3


def test_predictions_list_form(tmp_path):
    lines = [
        json.dumps({"id": "test/0", "predictions": [REFS["test/0"], "wrong"]}),
        json.dumps({"id": "test/1", "predictions": ["wrong", REFS["test/1"]]}),
        json.dumps({"id": "test/2", "predictions": []}),  # empty n-best list = empty prediction, not malformed
    ]
    report = score_predictions(_write_lines(tmp_path / "p.jsonl", lines), REFS, "conala")
    assert report.exact_match == pytest.approx(100 / 3)
    assert report.missing == 0 and report.malformed_lines == []
    bad = [json.dumps({"id": "test/0", "predictions": [1]}), json.dumps({"id": "test/1", "predictions": "x"})]
    report = score_predictions(_write_lines(tmp_path / "bad.jsonl", bad), REFS, "conala")
    assert [m["line"] for m in report.malformed_lines] == [1, 2]


def test_crlf_bom_and_unicode_line_separator(tmp_path):
    # U+2028 inside a JSON string must not split the line; CRLF endings and a BOM are accepted
    data = ("\ufeff" + _line("test/0", REFS["test/0"]) + "\r\n"
            + json.dumps({"id": "test/1", "prediction": "a\u2028b"}, ensure_ascii=False) + "\r\n")
    path = tmp_path / "p.jsonl"
    path.write_bytes(data.encode("utf-8"))
    report = score_predictions(path, REFS, "conala")
    assert report.malformed_lines == [] and report.scored == 2 and report.missing_ids == ["test/2"]


def test_django_dataset(tmp_path):
    refs = {"dev/0": "x = 1", "dev/1": "if x:", "dev/2": "y = f(a, b)"}
    lines = [_line("dev/0", "x=1"), _line("dev/1", "if  x :"), _line("dev/2", "y = f(a)")]
    path = _write_lines(tmp_path / "p.jsonl", lines)
    assert score_predictions(path, refs, "django").exact_match == pytest.approx(200 / 3)
    # canonicalize passthrough: everything compares equal
    assert score_predictions(path, refs, "Django", canonicalize=lambda s: "same").exact_match == 100.0


def test_errors(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        score_predictions(missing, REFS, "conala")
    path = _write_lines(tmp_path / "p.jsonl", [])
    with pytest.raises(ValueError, match="dataset"):
        score_predictions(path, REFS, "hearthstone")
    with pytest.raises(ValueError, match="canonicalize"):
        score_predictions(path, REFS, "conala", canonicalize=str.strip)
