"""`tranx train / eval / translate` through `tranx.cli.main`: the smoke path, resume, and bad input.

Offline and small: the tiny config (a random tiny BERT) on a few hundred CoNaLa examples, one thread
(a second process may be using the other cores). Skipped without the shared data.
"""

from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model_fixtures import skip_without_data
from tranx.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.json")
SMALL = ["train.train_limit=300", "train.dev_limit=8", "train.eval_beam_size=1", "--threads", "1"]
ONE = ["--threads", "1"]


@pytest.fixture(scope="module", autouse=True)
def _data():
    skip_without_data("conala")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """One tiny model, trained once for the whole module (3 epochs: enough to print some code)."""
    folder = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", TINY, "train.max_epochs=3", *SMALL, "--out", str(folder)]) == 0
    return folder


def _call(capsys, *argv) -> tuple[int, list[str], str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out.strip().splitlines(), captured.err


def _one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# --- train / eval / translate -----------------------------------------------------------------------

def test_train_writes_a_run(run):
    for name in ("config.json", "metrics.jsonl", "summary.json", "best/model.safetensors", "last/state.json"):
        assert (run / name).exists(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 3 and summary["train_examples"] == 300


def test_eval_writes_predictions_and_prints_the_score_json(run, tmp_path, capsys):
    out = tmp_path / "test.predictions.jsonl"
    code, lines, _ = _call(capsys, "eval", run, "--dataset", "conala", "--split", "test", "--limit", 6,
                           "--beam-size", 2, "--out", out, *ONE)
    assert code == 0
    last = json.loads(lines[-1])
    assert {"bleu", "exact_match", "n", "missing"} <= set(last)
    assert last["n"] == 6 and last["missing"] == 0 and last["dataset"] == "conala" and last["split"] == "test"
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [f"test/{i}" for i in range(6)]
    assert all(isinstance(r["prediction"], str) for r in rows)
    # the same file scored by `tranx score` gives the same summary line
    code, score_lines, _ = _call(capsys, "score", out, "--dataset", "conala", "--split", "test")
    scored = json.loads(score_lines[-1])
    assert scored["bleu"] == last["bleu"] and scored["n"] == 500 and scored["missing"] == 494


def test_eval_keeps_the_n_best_and_scores_the_first(run, tmp_path, capsys):
    one, three = tmp_path / "one.jsonl", tmp_path / "three.jsonl"
    for out, n in ((one, 1), (three, 3)):
        code, lines, _ = _call(capsys, "eval", run, "--dataset", "conala", "--split", "test", "--limit", 4,
                               "--beam-size", 3, "--n-best", n, "--out", out, *ONE)
        assert code == 0
    rows1 = [json.loads(line) for line in one.read_text(encoding="utf-8").splitlines()]
    rows3 = [json.loads(line) for line in three.read_text(encoding="utf-8").splitlines()]
    assert all(len(r["predictions"]) <= 1 for r in rows1)  # none when no candidate parses
    assert any(len(r["predictions"]) > 1 for r in rows3) and all(len(r["predictions"]) <= 3 for r in rows3)
    assert [r["prediction"] for r in rows1] == [r["prediction"] for r in rows3]
    assert all(r["prediction"] == r["predictions"][0] for r in rows3 if r["predictions"])
    code, _, err = _call(capsys, "eval", run, "--dataset", "conala", "--split", "test", "--n-best", 0,
                         "--out", tmp_path / "x.jsonl", *ONE)
    assert code != 0 and "--n-best must be at least 1, got 0" in err


def test_eval_result_carries_the_training_summary_or_the_progress_so_far(run, tmp_path, capsys):
    def summary_of(folder):
        result = tmp_path / f"{folder.name}.json"
        assert main(["eval", str(folder), "--dataset", "conala", "--split", "test", "--limit", "2", "--beam-size",
                     "1", "--out", str(tmp_path / "p.jsonl"), "--result", str(result), *ONE]) == 0
        return json.loads(result.read_text())["train_summary"]
    assert summary_of(run) == json.loads((run / "summary.json").read_text())
    unfinished = tmp_path / "unfinished"  # a run still training: no summary.json yet
    shutil.copytree(run, unfinished)
    (unfinished / "summary.json").unlink()
    progress = json.loads((run / "last" / "state.json").read_text())["progress"]
    assert summary_of(unfinished) == {"unfinished": True, "best_bleu": progress["best"],
                                      "best_epoch": progress["best_epoch"], "epochs": 3, "max_epochs": 3,
                                      "train_seconds": round(progress["seconds"], 1)}
    assert summary_of(run / "best") is None  # a checkpoint folder has no training record
    capsys.readouterr()


def test_eval_on_another_dataset_and_a_checkpoint_folder(run, tmp_path, capsys):
    out = tmp_path / "ci.jsonl"
    code, lines, _ = _call(capsys, "eval", run / "best", "--dataset", "codeinsight", "--split", "test",
                           "--limit", 3, "--beam-size", 1, "--out", out, *ONE)
    assert code == 0 and json.loads(lines[-1])["n"] == 3 and len(out.read_text().splitlines()) == 3


def test_eval_samples_and_executes_on_codeinsight(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TRANX_CACHE", str(tmp_path / "cache"))  # the reference check of these 4 problems
    out = tmp_path / "ci-samples.jsonl"
    code, lines, _ = _call(capsys, "eval", run, "--dataset", "codeinsight", "--split", "test", "--limit", 4,
                           "--samples", 3, "--execute", "--workers", 2, "--out", out, *ONE)
    assert code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [f"test/{i}" for i in range(4)]
    assert all(len(r["predictions"]) == 3 and r["prediction"] == r["predictions"][0] for r in rows)
    summary = json.loads(lines[-1])
    assert summary["total"] + summary["excluded"] == 4 and summary["samples_per_problem"] == 3
    assert {"pass@1", "passed", "outcomes", "labels"} <= set(summary) and "pass@5" not in summary
    assert sum(summary["outcomes"].values()) == 3 * summary["total"]
    assert any(line.startswith("text scores: ") for line in lines)  # BLEU is still reported, not last


def test_eval_runs_first_orders_the_beam_by_running_its_candidates(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TRANX_CACHE", str(tmp_path / "cache"))
    out, result = tmp_path / "ci-runs.jsonl", tmp_path / "ci-runs.json"
    code, lines, _ = _call(capsys, "eval", run, "--dataset", "codeinsight", "--split", "test", "--limit", 4,
                           "--beam-size", 4, "--n-best", 2, "--runs-first", "--execute", "--workers", 2,
                           "--out", out, "--result", result, *ONE)
    assert code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    counts = json.loads(result.read_text())["runs_first"]
    assert counts["problems"] == 4 and 0 <= counts["candidates_that_run"] <= counts["candidates"] <= 16
    assert any(line.startswith(f"runs first: {counts['candidates_that_run']} of {counts['candidates']} candidates")
               for line in lines)
    for row in rows:  # the 2 kept of the 4 decoded: those that run first
        assert len(row["predictions"]) == len(row["runs"]) <= 2 and row["runs"] == sorted(row["runs"], reverse=True)
        assert row["prediction"] == row["predictions"][0]
    assert "candidates that run on the tests' inputs first" in json.loads(result.read_text())["decoding"]
    code, _, err = _call(capsys, "eval", run, "--dataset", "conala", "--split", "test", "--runs-first",
                         "--out", tmp_path / "x.jsonl", *ONE)
    assert code != 0
    _one_line_error(err, "--runs-first needs unit tests", "not conala")


def test_execute_needs_codeinsight(run, tmp_path, capsys):
    code, _, err = _call(capsys, "eval", run, "--dataset", "conala", "--split", "test", "--execute",
                         "--out", tmp_path / "x.jsonl", *ONE)
    assert code != 0
    _one_line_error(err, "--execute", "codeinsight")


def test_translate_prints_code(run, capsys):
    code, lines, err = _call(capsys, "translate", run, "sort dict `d` by value", "--n-best", 2, *ONE)
    assert code == 0 and "Traceback" not in err
    assert lines[0].startswith("# 1 (score ")
    first = lines[1]
    assert first and not first.startswith("# 2")
    ast.parse(first)  # a candidate is parseable code


def test_translate_several_intents_are_labelled(run, capsys):
    code, lines, _ = _call(capsys, "translate", run, "add 1 to `x`", "sort list `a`", *ONE)
    assert code == 0
    assert "## intent 1: add 1 to `x`" in lines and "## intent 2: sort list `a`" in lines


def test_translate_with_a_sample_prints_what_ran_runs_first(run, capsys):
    from tranx.cli import _load_translator
    from tranx.execution.sample_inputs import run_on_sample, runs_first_order
    intent, sample = "sort list `a`", "a = [3, 1, 2]"
    code, lines, err = _call(capsys, "translate", run, intent, "--n-best", 4, "--beam-size", 4, "--sample", sample, *ONE)
    assert code == 0 and "Traceback" not in err
    beam = _load_translator(str(run), 1, "fp32").translate(intent, beam_size=4, n_best=4)
    outcomes = run_on_sample([c.code for c in beam], sample)
    order = runs_first_order(outcomes)
    heads = [line for line in lines if line.startswith("# ") and line[2].isdigit()]
    assert heads == [f"# {rank} (score {beam[i].score:.4f}, on the sample: {outcomes[i].replace('_', ' ')})"
                     for rank, i in enumerate(order, start=1)]


def test_translate_with_a_bad_sample_is_one_line(run, capsys):
    code, _, err = _call(capsys, "translate", run, "sort list `a`", "--sample", "a = [", *ONE)
    assert code != 0
    _one_line_error(err, "sample", "is not Python")


# --- resume -------------------------------------------------------------------------------------------

def _dev_epochs(run: Path) -> list[int]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["epoch"] for r in rows if r["type"] == "dev"]


def test_resume_continues_with_raised_max_epochs(tmp_path, capsys):
    folder = tmp_path / "r"
    small = ["train.max_epochs=1", "train.train_limit=64", "train.dev_limit=4", "train.eval_beam_size=1"]
    code, lines, _ = _call(capsys, "train", TINY, *small, "--out", folder, *ONE)
    assert code == 0 and json.loads(lines[-1])["epochs"] == 1 and _dev_epochs(folder) == [1]
    code, lines, _ = _call(capsys, "train", "--resume", folder, "train.max_epochs=2", *ONE)
    assert code == 0
    assert json.loads(lines[-1])["epochs"] == 2
    assert _dev_epochs(folder) == [1, 2]
    assert (folder / "best" / "model.safetensors").is_file()
    saved = json.loads((folder / "config.json").read_text())
    assert saved["train"]["max_epochs"] == 2 and saved["train"]["train_limit"] == 64  # override saved back
    # what defines the checkpoint cannot change on resume; a run without last/ cannot be resumed
    code, _, err = _call(capsys, "train", "--resume", folder, "model.hidden_size=8")
    assert code == 2
    _one_line_error(err, "model.hidden_size")
    shutil.rmtree(folder / "last")
    code, _, err = _call(capsys, "train", "--resume", folder)
    assert code == 2
    _one_line_error(err, str(folder), "last/")


@pytest.mark.parametrize("argv, needle", [
    (["train", TINY, "train.no_such_key=1", "--out", "{tmp}/x"], "train.no_such_key"),
    (["train", TINY, "no_such_key=1", "--out", "{tmp}/x"], "no_such_key"),
    (["train", TINY, "train.max_epochs=many", "--out", "{tmp}/x"], "train.max_epochs"),
    (["train", "{tmp}/missing.json", "--out", "{tmp}/x"], "missing.json"),
    (["train", TINY], "--out"),
    (["train", "--resume", "{tmp}/nothing"], "nothing"),
])
def test_train_usage_errors_are_one_line(argv, needle, tmp_path, capsys):
    code, _, err = _call(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2
    _one_line_error(err, needle)
    assert not (tmp_path / "x").exists()


# --- bad input ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("intent", ["", "   \t ", "sort list 'a", 'a "b', "`", "x" * 10_000,
                                    "sort list a " * 900, "émigré ünïcödé → 文字"])
def test_translate_bad_intents_never_crash(run, intent, capsys):
    code, lines, err = _call(capsys, "translate", run, intent, "--beam-size", 2, *ONE)
    assert "Traceback" not in err
    if code == 2:
        _one_line_error(err, "intent")
    else:
        assert code == 0 and lines and lines[0].startswith("# ")


@pytest.mark.parametrize("intent", ["", "   "])
def test_translate_empty_intent_is_a_clear_error(run, intent, capsys):
    code, _, err = _call(capsys, "translate", run, intent, *ONE)
    assert code == 2
    _one_line_error(err, "intent is empty")


def test_unbalanced_quote_gives_code(run, capsys):
    code, lines, _ = _call(capsys, "translate", run, "sort list 'a", *ONE)
    assert code == 0 and lines[0].startswith("# 1 (score ")


def test_long_intent_is_cut_with_a_note(run, capsys):
    code, lines, err = _call(capsys, "translate", run, "sort list `a` " * 800, "--beam-size", 1, *ONE)
    assert code == 0 and lines[0].startswith("# 1")
    assert "cut to its first" in err and "Traceback" not in err


def test_stdin_intents_and_invalid_utf8_name_the_line(run, capsys, monkeypatch):
    data = b"sort dict `d` by value\n\xff\xfe oops\n\n   \nadd 1 to `x`\r\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, lines, err = _call(capsys, "translate", run, "-", "--beam-size", 2, *ONE)
    assert code == 2  # one bad line: reported, the others still translated
    _one_line_error(err, "line 2", "UTF-8")
    assert "## line 1: sort dict `d` by value" in lines and "## line 5: add 1 to `x`" in lines


def test_invalid_utf8_argument_and_stdin_in_a_real_process(run):
    proc = subprocess.run([sys.executable, "-m", "tranx.cli", "translate", str(run), b"sort \xff list", "-",
                           "add 1 to `x`", *ONE], input=b"\xc3\x28 bad\n", capture_output=True, cwd=ROOT,
                          timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err
    assert err.splitlines() == ["tranx translate: error: intent is not valid UTF-8 (invalid start byte at byte 5)",
                                "tranx translate: error: line 1: not valid UTF-8 (invalid continuation byte at "
                                "byte 0)"]
    assert "## intent 3: add 1 to `x`" in proc.stdout.decode()  # the good intent is still translated


# --- missing and corrupted checkpoints -----------------------------------------------------------------

def _corrupt(folder: Path, how: str) -> None:
    if how == "truncated weights":
        path = folder / "model.safetensors"
        path.write_bytes(path.read_bytes()[:100])
    elif how == "garbage config":
        (folder / "config.json").write_text("{garbage", encoding="utf-8")
    elif how == "config of another program":
        (folder / "config.json").write_text('{"format": "other"}', encoding="utf-8")
    elif how == "missing weights":
        (folder / "model.safetensors").unlink()
    elif how == "garbage vocabulary":
        (folder / "vocab" / "primitive.json").write_bytes(b"\xff\x00[")
    elif how == "truncated encoder":
        path = folder / "encoder" / "model.safetensors"
        path.write_bytes(path.read_bytes()[:50])


@pytest.mark.parametrize("how", ["truncated weights", "garbage config", "config of another program",
                                 "missing weights", "garbage vocabulary", "truncated encoder"])
def test_corrupted_checkpoint_is_a_one_line_error(run, how, tmp_path, capsys):
    folder = tmp_path / "checkpoint"
    shutil.copytree(run / "best", folder)
    _corrupt(folder, how)
    for argv in (["translate", folder, "sort list `a`", *ONE],
                 ["eval", folder, "--dataset", "conala", "--split", "test", "--limit", 2, "--out",
                  tmp_path / "p.jsonl", *ONE]):
        code, lines, err = _call(capsys, *argv)
        assert code == 2 and not lines
        _one_line_error(err, str(folder))
    assert not (tmp_path / "p.jsonl").exists()


def test_missing_checkpoint_folder(tmp_path, capsys):
    code, _, err = _call(capsys, "translate", tmp_path / "nowhere", "x")
    assert code == 2
    _one_line_error(err, "not found", str(tmp_path / "nowhere"))
    (tmp_path / "half" / "last").mkdir(parents=True)  # a run killed before its first dev evaluation
    code, _, err = _call(capsys, "eval", tmp_path / "half", "--dataset", "conala", "--split", "test",
                         "--out", tmp_path / "p.jsonl")
    assert code == 2
    _one_line_error(err, str(tmp_path / "half"), "best/")
