"""Tests for `tranx score` through `tranx.cli.main` (offline; skipped without the shared data)."""

from __future__ import annotations

import json

import pytest

from preprocess.datasets import DataRootError, load_examples, resolve_data_root
from tranx.cli import main


def _examples(dataset: str):
    try:
        resolve_data_root(None, dataset)
    except DataRootError as exc:
        pytest.skip(str(exc))
    return load_examples(dataset, "test")


def _write(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _score(capsys, dataset: str, path: str, split: str = "test", *options: str) -> tuple[int, list[str], dict]:
    code = main(["score", "--dataset", dataset, "--split", split, path, *options])
    lines = capsys.readouterr().out.strip().splitlines()
    return code, lines, json.loads(lines[-1])


def test_raw_snippets_score_100(tmp_path, capsys):
    rows = [{"id": e.id, "prediction": e.code, "extra": 1} for e in _examples("conala")]
    code, lines, last = _score(capsys, "conala", _write(tmp_path / "p.jsonl", rows), "test", "--as-written")
    assert code == 0 and len(lines) == 1
    assert '"bleu": 100.0' in lines[-1]
    assert last["exact_match"] == 100.0 and last["n"] == 500 and last["missing"] == 0
    # By default predictions in the translator's plain form are rewritten in the references' astor style: two
    # references are themselves plain where astor quoting would apply ("'abcd}def}'.rfind('}')").
    _, _, restyled = _score(capsys, "conala", _write(tmp_path / "p.jsonl", rows))
    assert restyled["exact_match"] == 99.6 and restyled["predictions_rewritten_in"] == "astor"


def test_raw_intents_score_low(tmp_path, capsys):
    rows = [{"id": e.id, "prediction": e.intent} for e in _examples("conala")]
    _, _, last = _score(capsys, "conala", _write(tmp_path / "p.jsonl", rows))
    assert last["bleu"] < 30 and last["exact_match"] == 0.0


def test_problems_are_listed_with_line_numbers(tmp_path, capsys):
    examples = _examples("conala")
    rows = [{"id": e.id, "prediction": e.code} for e in examples if e.id != "test/3"]
    rows.insert(2, "{not json")
    rows.insert(5, {"id": "test/999", "prediction": "x"})
    rows.append({"id": "test/0", "prediction": "again"})
    code, lines, last = _score(capsys, "conala", _write(tmp_path / "p.jsonl", rows))
    out = "\n".join(lines[:-1])
    assert code == 0
    assert last["missing"] == 1 and "missing: 1 of 500" in out and "test/3" in out
    assert last["malformed"] == 1 and "line 3: invalid JSON" in out
    assert last["unknown"] == 1 and "line 6: test/999" in out
    assert last["duplicates"] == 1 and f"line {len(rows)}: test/0 (first on line 1)" in out
    assert last["n"] == 500 and last["bleu"] < 100


def test_long_missing_list_is_shortened(tmp_path, capsys):
    _examples("conala")
    code, lines, last = _score(capsys, "conala", _write(tmp_path / "p.jsonl", []))
    assert last["missing"] == 500 and last["bleu"] == 0.0
    assert "(+490 more)" in lines[0] and len(lines[0]) < 400


def test_missing_file_is_one_line_error(tmp_path, capsys):
    code = main(["score", "--dataset", "conala", "--split", "test", str(tmp_path / "nope.jsonl")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and "not found" in captured.err and "Traceback" not in captured.err


def test_bad_arguments_exit_2(capsys):
    assert main(["score", "--dataset", "nope", "--split", "test", "p.jsonl"]) == 2
    assert main(["score", "--dataset", "conala", "p.jsonl"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "is neither a data set" in err and "--split" in err


def test_django_raw_code_is_an_exact_match(tmp_path, capsys):
    rows = [{"id": e.id, "prediction": e.code} for e in _examples("django")]
    _, _, last = _score(capsys, "django", _write(tmp_path / "p.jsonl", rows))
    assert last["exact_match"] == 100.0 and last["n"] == 1805


def test_django_header_lines_compare_canonically(tmp_path, capsys):
    examples = [e for e in _examples("django") if e.code.endswith(":")][:50]
    assert examples
    rows = [{"id": e.id, "prediction": " ".join(e.code.split()).replace(" :", ":")} for e in examples]
    _, _, last = _score(capsys, "django", _write(tmp_path / "p.jsonl", rows))
    assert last["missing"] == 1805 - len(examples)
    assert last["exact_match"] == pytest.approx(100.0 * len(examples) / 1805, abs=1e-3)
