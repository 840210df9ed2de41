"""What `tranx score`, `tranx eval` and `tranx execute` print about a predictions file: the lines and ids they
skipped (lists cut to ten), then the score or execution summary as one JSON object on the last line.

Left out: reading predictions (tranx.evaluation.scoring), metrics (tranx.metrics), running unit tests (tranx.execution.unit_tests).
"""

from __future__ import annotations

import json
from pathlib import Path

from tranx.errors import TranxError

_LIST_LIMIT = 10


def require_file(predictions) -> None:
    """A one-line error for a predictions path that is missing or not a file (before any slow loading)."""
    if not Path(predictions).is_file():
        what = "not a file" if Path(predictions).exists() else "not found"
        raise FileNotFoundError(f"predictions file {what}: {predictions}")


def check_execution_args(workers, timeout) -> None:
    if workers is not None and workers < 1:
        raise TranxError(f"--workers must be at least 1, got {workers}")
    if timeout is not None and not timeout > 0:
        raise TranxError(f"--timeout must be positive, got {timeout}")


def _some(items: list, show) -> str:
    shown = ", ".join(show(i) for i in items[:_LIST_LIMIT])
    return shown + (f", ... (+{len(items) - _LIST_LIMIT} more)" if len(items) > _LIST_LIMIT else "")


def _print_skipped(read, where: str) -> None:
    """The unknown ids, duplicate ids and malformed lines of a read predictions file, with their line numbers."""
    for what, items, show in (
            (f"unknown ids (not in {where}), ignored", read.unknown_ids, lambda u: f"line {u['line']}: {u['id']}"),
            ("duplicate ids, first kept", read.duplicate_ids,
             lambda d: f"line {d['line']}: {d['id']} (first on line {d['first_line']})"),
            ("malformed lines, ignored", read.malformed_lines, lambda m: f"line {m['line']}: {m['reason']}")):
        if items:
            print(f"{what}: {len(items)}: {_some(items, show)}")


def _write_result(result: dict | None, summary: dict, key: str) -> None:
    """`result`: {"path", "payload", "how"} (tranx.provenance.write_result) or None; `summary` goes in under `key`."""
    if result is not None:
        from tranx.provenance import write_result
        write_result(result["path"], {**result.get("payload", {}), key: summary}, **result.get("how", {}))
        print(f"result with provenance written to {result['path']}")


def score_and_report(predictions, raw: list, dataset: str, split: str, report_path=None, quiet=False,
                     result: dict | None = None, data_root=None, restyle: bool = True) -> int:
    """Score a predictions file against `raw` examples (their `id`, `code`); print the problems found and, as the
    last line, the JSON summary; a task with a database (GeoQuery) adds execution accuracy. Shared by `tranx score`
    and `tranx eval`. Predictions are scored in the references' style (`restyle`: tranx.evaluation.scoring)."""
    from preprocess.tasks import get_task
    from tranx.evaluation.scoring import score_predictions
    from tranx.io import write_json
    references = {e.id: e.code for e in raw}
    report = score_predictions(predictions, references, dataset, restyle=restyle)
    if report.missing_ids:
        print(f"missing: {report.missing} of {report.n} ids have no prediction (scored as misses): "
              f"{_some(report.missing_ids, str)}")
    _print_skipped(report, f"{dataset} {split}")
    out = report.to_json()
    if report_path:
        write_json(report_path, {**out, "split": split})
    summary = {"dataset": dataset, "split": split,
               **{k: round(out[k], 4) for k in ("dfa_accuracy", "bleu") if out.get(k) is not None},
               "exact_match": round(out["exact_match"], 4), "n": out["n"], "scored": out["scored"],
               "missing": out["missing"], "unknown": out["unknown"], "duplicates": out["duplicates"],
               "malformed": out["malformed"], "predictions": out["path"]}
    style = get_task(dataset).reference_style
    if style != "plain":
        summary["predictions_rewritten_in"] = style if restyle else "no (scored as written)"
    summary.update(_execution_scores(predictions, raw, dataset, data_root))
    summary.update(_shell_scores(predictions, raw, dataset))
    _write_result(result, summary, "scores")
    print(("text scores: " if quiet else "") + json.dumps(summary, ensure_ascii=False))
    return 0


def _execution_scores(predictions, raw: list, dataset: str, data_root) -> dict:
    """Execution accuracy on the task's SQLite database (tranx.evaluation.sql_execution), or {} without one."""
    from preprocess.tasks import get_task
    task = get_task(dataset)
    if not task.database:
        return {}
    from preprocess.datasets import resolve_data_root
    from tranx.evaluation.scoring import read_predictions
    from tranx.evaluation.sql_execution import execution_accuracy
    read = read_predictions(predictions, {e.id: e.code for e in raw})
    hypotheses = [read.candidates.get(e.id, [""])[0] for e in raw]
    scores = execution_accuracy(hypotheses, raw, resolve_data_root(data_root, dataset) / task.database)
    return {"execution_accuracy": round(scores["accuracy"], 4), "gold_failed": len(scores["gold_failed"]),
            "prediction_failed": scores["pred_failed"]}


def _shell_scores(predictions, raw: list, dataset: str) -> dict:
    """NL2Bash's own scores (tranx.evaluation.bash_metrics): character BLEU over description groups and NLC2CMD, top-1
    and top-3 of the n-best lists, or {} for a task without them."""
    from preprocess.tasks import get_task
    if not get_task(dataset).shell_metrics:
        return {}
    from tranx.evaluation.bash_metrics import corpus_char_bleu, corpus_nlc2cmd
    from tranx.evaluation.scoring import read_predictions
    read = read_predictions(predictions, {e.id: e.code for e in raw}, samples=True)
    nbest = [read.candidates.get(e.id, []) for e in raw]
    references, groups = [e.code for e in raw], [e.intent for e in raw]
    return {f"{name}_top{k}": round(score(k), 4) for k in (1, 3) for name, score in (
        ("char_bleu", lambda k: corpus_char_bleu(nbest, references, groups, k=k)),
        ("nlc2cmd", lambda k: corpus_nlc2cmd(nbest, references, k=k)))}


def execute_and_report(predictions, dataset: str, split: str, data_root, workers, timeout, details=None, ids=None,
                       result: dict | None = None, snippets: bool = False) -> int:
    """Run a predictions file's candidates against the unit tests of `dataset` (a task with unit tests); print what was skipped and, as the last
    line, the JSON summary (pass@k, passed, total, excluded, outcome counts, per label)."""
    from tranx.execution.unit_tests import execute, load_problems, reference_failures, summarize
    from tranx.io import write_jsonl
    from tranx.evaluation.scoring import read_predictions
    from preprocess.tasks import get_harness
    problems = load_problems(dataset, split, data_root)  # refuses a task without unit tests
    harness = get_harness(dataset)
    if ids is not None:  # `tranx eval --limit`: score only the decoded problems
        wanted = set(ids)
        problems = [p for p in problems if p.id in wanted]
    read = read_predictions(predictions, [p.id for p in problems], samples=True)
    _print_skipped(read, f"{dataset} {split}")
    print(f"checking the {len(problems)} reference solutions in this environment (cached after the first run)")
    excluded = reference_failures(problems, harness, workers=workers)
    if excluded:
        print(f"excluded: {len(excluded)} problems whose reference solution fails here: "
              f"{_some(sorted(excluded), lambda i: f'{i} ({excluded[i][:60]})')}")
    kept = [p for p in problems if p.id not in excluded]
    missing = [p.id for p in kept if p.id not in read.candidates]
    if missing:
        print(f"missing: {len(missing)} problems have no prediction (scored as failures): {_some(missing, str)}")
    results = execute(kept, read.candidates, harness, workers=workers, timeout=timeout, snippets=snippets)
    if details:
        write_jsonl(details, [{"id": r.id, "outcomes": r.outcomes, "tests_passed": r.tests_passed,
                               "verdicts": r.verdicts, "errors": r.errors}
                              for r in results])
    summary = {"dataset": dataset, "split": split, **summarize(problems, results, excluded),
               "unknown": len(read.unknown_ids), "duplicates": len(read.duplicate_ids),
               "malformed": len(read.malformed_lines), "predictions": str(predictions),
               **({"snippets": True} if snippets else {})}
    _write_result(result, summary, "execution")
    print(json.dumps(summary, ensure_ascii=False))
    return 0
