"""GeoQuery SQL: execution accuracy on the shipped SQLite database, and exact match of the anonymised SQL.

What the reference evaluation is. text2sql-data (jkkummerfeld/text2sql-data, commit 5050bad) ships **no execution
evaluator**: its scorers compare strings. ``systems/sequence-to-sequence/quick_eval.py`` counts ``gold == system``
over the stripped lines of the (variable-filled) gold and output files, and
``systems/baseline-template/text2sql-template-baseline.py`` counts ``pred_complete == complete`` (the template filled
with the tagged words, against the filled gold). So the paper's number is string exact match, which
``sql_exact_match`` gives on the anonymised SQL (variables are the same names on both sides). The SQLite database
(``data/geography-db.added-in-2020.sqlite``) was added in 2020 for execution checks, with no script.

For the execution comparison we follow the evaluator in common use for SQL denotations, the test-suite evaluation of
Zhong et al. 2020 (taoyds/test-suite-sql-eval, ``exec_eval.py``: ``result_eq``, ``eval_exec_match``):

* rows are compared as a **bag** (multiset: duplicates count), unless the gold query contains ``ORDER BY``
  (anywhere, as there: ``'order by' in g_str.lower()``), when the row **order** must match too;
* the columns may come in any order (a permutation of the predicted columns that makes the results equal suffices);
  rows must have the same width;
* two empty results are equal (so a prediction that returns nothing is right on the 28 GeoQuery questions whose gold
  returns nothing);
* a prediction that fails to execute (syntax error, unknown column, time limit, too many rows, a write) is wrong.
  Unlike there, DISTINCT is kept (test-suite removes it by default, for parity with its set-match metric): queries run
  as written.

Execution: both queries get the question's values substituted (``substitute_variables``: every variable name,
longest first, in one pass, only where it is a whole name), double-quoted literals (``"new york"``) become SQL
string literals (``'new york'``; SQLite would read a double-quoted word as a column first when one has that name),
and run on the database opened read-only (``file:...?mode=ro``), under an authorizer that allows only reading
(SELECT, READ, FUNCTION, RECURSIVE: no INSERT, DROP, ATTACH, PRAGMA, ...), one statement per call, with a progress
handler that aborts after ``timeout`` seconds and at most ``max_rows`` rows fetched.

Gold queries that fail: with values substituted, 872 of the 877 GeoQuery gold queries run (README of the data: 4 are
one query that refers to ``DERIVED_TABLEalias1.STATE_NAME`` out of scope, 1 has ``> ALL`` which SQLite lacks). They
are listed in ``gold_failed``; such an example counts as correct only when the prediction is the gold string (exact
match), and ``accuracy_runnable`` reports accuracy over the examples whose gold runs.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from itertools import permutations
from os import PathLike
from pathlib import Path
from typing import Iterable, Mapping, Sequence

__all__ = ["DEFAULT_TIMEOUT", "MAX_ROWS", "ExecutionResult", "ReadOnlyDatabase", "execution_accuracy", "gold_execution",
           "normalize_sql", "order_matters", "same_denotation", "sql_exact_match", "sqlite_string_literals",
           "substitute_variables"]

DEFAULT_TIMEOUT = 5.0  # seconds per query; every GeoQuery gold query runs in well under 0.1 s
MAX_ROWS = 100_000  # more rows than any gold result (the largest has a few hundred): a runaway cross product
_PERMUTED_COLUMNS = 6  # up to this width every column order is tried (720); wider results keep their order

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


# ------------------------------------------------------------------------------------------------ strings

def normalize_sql(sql: str) -> str:
    """Whitespace-normalised SQL: tokens (a double-quoted literal is one) joined by one space; a comma glued to the
    token before it (2 Advising golds write `COURSEalias0, ...`) is split off, as the grammar writes it."""
    return " ".join(re.findall(r'"[^"]*"|,|[^\s,"]+|"', sql))


def sql_exact_match(prediction: str, gold: str) -> bool:
    """String equality of the (anonymised) SQL after whitespace normalisation: the paper's query match."""
    return normalize_sql(prediction) == normalize_sql(gold)


def substitute_variables(sql: str, variables: Mapping[str, str]) -> str:
    """Each variable name (`state_name0`, `number0`) -> its value, longest name first and in one pass (a value is not
    searched again), only where the name is a whole word (`day_number0` is not `number0`)."""
    names = sorted((n for n in variables if n), key=lambda n: (-len(n), n))
    if not names:
        return sql
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(map(re.escape, names)) + r")(?![A-Za-z0-9_])")
    return pattern.sub(lambda m: str(variables[m.group(1)]), sql)


def sqlite_string_literals(sql: str) -> str:
    """Double-quoted literals (the data's string style) -> single-quoted SQL strings, quotes inside doubled."""
    return re.sub(r'"([^"]*)"', lambda m: "'" + m.group(1).replace("'", "''") + "'", sql)


def order_matters(gold_sql: str) -> bool:
    """Does row order count? As test-suite-sql-eval: when the gold query has ORDER BY anywhere."""
    return re.search(r"\border\s+by\b", gold_sql, re.IGNORECASE) is not None


# ------------------------------------------------------------------------------------------------ execution

@dataclass(frozen=True)
class ExecutionResult:
    rows: tuple | None  # None when it failed
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ReadOnlyDatabase:
    """An SQLite database opened read-only, running one SELECT statement at a time under a time and row limit."""

    def __init__(self, path: str | PathLike, *, timeout: float = DEFAULT_TIMEOUT, max_rows: int = MAX_ROWS):
        path = Path(path).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no SQLite database at {path}")
        self.timeout, self.max_rows, self._deadline = timeout, max_rows, float("inf")
        self.connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
        self.connection.set_authorizer(self._authorize)
        self.connection.set_progress_handler(self._progress, 1000)

    @staticmethod
    def _authorize(action, *_):
        return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0  # non-zero aborts the statement

    def execute(self, sql: str) -> ExecutionResult:
        self._deadline = time.monotonic() + self.timeout
        cursor = None
        try:
            cursor = self.connection.execute(sql)
            rows = cursor.fetchmany(self.max_rows + 1)
            if len(rows) > self.max_rows:
                return ExecutionResult(None, f"more than {self.max_rows} rows")
            return ExecutionResult(tuple(rows))
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, MemoryError) as exc:
            error = "time limit" if "interrupt" in str(exc).lower() else f"{type(exc).__name__}: {exc}"
            return ExecutionResult(None, error)
        finally:
            self._deadline = float("inf")
            if cursor is not None:
                cursor.close()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "ReadOnlyDatabase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def same_denotation(gold: Sequence[tuple], predicted: Sequence[tuple], ordered: bool) -> bool:
    """Are two results the same (test-suite-sql-eval's `result_eq`): both empty, or the same number of rows of the
    same width that are equal as bags (as lists when `ordered`) under some order of the predicted columns."""
    if not gold and not predicted:
        return True
    if len(gold) != len(predicted):
        return False
    width = len(gold[0])
    if any(len(row) != width for row in (*gold, *predicted)):
        return False
    gold_rows = list(gold) if ordered else Counter(gold)
    orders = permutations(range(width)) if width <= _PERMUTED_COLUMNS else [tuple(range(width))]
    for order in orders:
        rows = [tuple(row[i] for i in order) for row in predicted]
        if (rows if ordered else Counter(rows)) == gold_rows:
            return True
    return False


def _variables(example) -> Mapping[str, str]:
    meta = getattr(example, "meta", None)
    if meta is None and isinstance(example, Mapping):
        meta = example
    return dict((meta or {}).get("variables", {}))


def _gold(example) -> str:
    return example.code if hasattr(example, "code") else example["code"]


def _example_id(example, i: int) -> str:
    return getattr(example, "id", None) or (example.get("id") if isinstance(example, Mapping) else None) or str(i)


def execution_accuracy(predictions: Sequence[str], examples: Sequence, db_path: str | PathLike, *,
                       timeout: float = DEFAULT_TIMEOUT, max_rows: int = MAX_ROWS) -> dict:
    """Execution accuracy of anonymised SQL `predictions` against `examples` (RawExample of preprocess.text2sql, or
    dicts with "code" and "variables"), in order; see the module docstring for the semantics.

    Returns counts and percentages: n, correct, accuracy; exact (string matches) and exact_match; pred_failed
    (predictions that did not run); gold_failed (ids of the examples whose gold did not run, with the error),
    runnable and accuracy_runnable (over the examples whose gold runs); gold_empty (golds with no rows)."""
    if len(predictions) != len(examples):
        raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples")
    correct = exact = pred_failed = gold_empty = runnable = correct_runnable = 0
    gold_failed: list[dict] = []
    cache: dict[str, ExecutionResult] = {}
    with ReadOnlyDatabase(db_path, timeout=timeout, max_rows=max_rows) as db:
        def run(sql: str) -> ExecutionResult:
            if sql not in cache:
                cache[sql] = db.execute(sql)
            return cache[sql]

        for i, (prediction, example) in enumerate(zip(predictions, examples)):
            gold, variables = _gold(example), _variables(example)
            is_exact = isinstance(prediction, str) and sql_exact_match(prediction, gold)
            exact += is_exact
            gold_result = run(sqlite_string_literals(substitute_variables(gold, variables)))
            if isinstance(prediction, str) and prediction.strip():
                pred_result = run(sqlite_string_literals(substitute_variables(prediction, variables)))
            else:
                pred_result = ExecutionResult(None, "empty prediction")
            pred_failed += not pred_result.ok
            if not gold_result.ok:
                gold_failed.append({"id": _example_id(example, i), "error": gold_result.error})
                correct += is_exact
                continue
            runnable += 1
            gold_empty += not gold_result.rows
            ok = pred_result.ok and same_denotation(gold_result.rows, pred_result.rows, order_matters(gold))
            correct += ok
            correct_runnable += ok
    n = len(examples)
    return {"n": n, "correct": correct, "accuracy": 100.0 * correct / n if n else 0.0,
            "exact": exact, "exact_match": 100.0 * exact / n if n else 0.0,
            "pred_failed": pred_failed, "gold_failed": gold_failed, "gold_empty": gold_empty,
            "runnable": runnable, "accuracy_runnable": 100.0 * correct_runnable / runnable if runnable else 0.0}


def gold_execution(examples: Iterable, db_path: str | PathLike, **limits) -> dict:
    """The gold queries scored against themselves: how many run (`runnable`), fail (`gold_failed`), return nothing."""
    examples = list(examples)
    return execution_accuracy([_gold(e) for e in examples], examples, db_path, **limits)
