"""Score a JSON Lines predictions file against references with the official metrics.

Each line of the predictions file is a JSON object ``{"id": "test/17", "prediction": "..."}`` (other fields are
ignored), or carries ``"predictions": [...]`` (an n-best list or n samples; the first entry is the top-1, an empty
list counts as an empty prediction).  For scoring, ``"prediction"`` wins when both are present; for execution
(``samples=True``) every entry of ``"predictions"`` is a candidate.

Problems are reported, never raised: references with no prediction are scored as empty predictions and listed in
``missing_ids``; ids not in the references (``unknown_ids``), repeated ids (``duplicate_ids``, the first line is
kept) and malformed lines (``malformed_lines``: non-UTF-8 bytes, bad JSON, not an object, missing or non-string
``id``/``prediction``) are listed with their 1-based line numbers and skipped.  Blank lines are ignored.
Only a missing file raises (``FileNotFoundError``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Callable, Hashable, Mapping

import warnings

from preprocess.tasks import TASKS, Task, get_task
from tranx.metrics import _check_lengths, canonical_python, canonical_scores, default_canonicalize, token_scores

__all__ = ["DATASETS", "PredictionFile", "ScoreReport", "comparison_key", "in_reference_style", "read_predictions",
           "score_predictions", "task_scores"]

DATASETS = tuple(sorted(TASKS))


@dataclass
class ScoreReport:
    dataset: str
    path: str
    bleu: float | None  # None where the task reports none (regexes)
    exact_match: float
    n: int  # number of references scored
    scored: int  # references that had a (well-formed) prediction
    dfa_accuracy: float | None = None  # regex tasks: DFA equivalence (tranx.evaluation.regex_equivalence)
    missing_ids: list[str] = field(default_factory=list)
    unknown_ids: list[dict] = field(default_factory=list)  # {"line", "id"}
    duplicate_ids: list[dict] = field(default_factory=list)  # {"line", "id", "first_line"}
    malformed_lines: list[dict] = field(default_factory=list)  # {"line", "reason"}

    @property
    def missing(self) -> int:
        return len(self.missing_ids)

    def to_json(self) -> dict:
        out = asdict(self)
        out["missing"] = self.missing
        out["unknown"] = len(self.unknown_ids)
        out["duplicates"] = len(self.duplicate_ids)
        out["malformed"] = len(self.malformed_lines)
        return out


def _parse_line(raw: bytes, samples: bool) -> tuple[str, list[str]] | str:
    """Return ``(id, candidates)`` or a string saying why the line is malformed. For scoring (``samples``
    False) the candidate is ``prediction``, else the first of ``predictions``; for execution (``samples``
    True) the candidates are all of ``predictions`` when present, else ``[prediction]``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start})"
    try:
        obj = json.loads(text)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        return f"invalid JSON: {exc}"
    if not isinstance(obj, dict):
        return f"not a JSON object (got {type(obj).__name__})"
    ex_id = obj.get("id")
    if not isinstance(ex_id, str):
        return "missing 'id'" if ex_id is None else f"'id' is not a string (got {type(ex_id).__name__})"
    if "predictions" in obj and (samples or "prediction" not in obj):
        preds = obj["predictions"]
        if not isinstance(preds, list):
            return f"'predictions' is not a list (got {type(preds).__name__})"
        bad = next((i for i, p in enumerate(preds) if not isinstance(p, str)), None)
        if bad is not None:
            return f"'predictions[{bad}]' is not a string (got {type(preds[bad]).__name__})"
        return ex_id, (preds if samples else preds[:1]) or [""]
    if "prediction" in obj:
        pred = obj["prediction"]
        if not isinstance(pred, str):
            return f"'prediction' is not a string (got {type(pred).__name__})"
        return ex_id, [pred]
    return "missing 'prediction'"


@dataclass
class PredictionFile:
    """The well-formed candidates of a predictions file, by id, and what was skipped (1-based line numbers)."""
    candidates: dict[str, list[str]]
    unknown_ids: list[dict]  # {"line", "id"}
    duplicate_ids: list[dict]  # {"line", "id", "first_line"}
    malformed_lines: list[dict]  # {"line", "reason"}


def read_predictions(path: str | PathLike, known_ids, *, samples: bool = False) -> PredictionFile:
    """Read a predictions file (see the module docstring); ``known_ids`` decides what is unknown."""
    p = Path(path)
    if not p.is_file():
        if not p.exists():
            raise FileNotFoundError(f"predictions file not found: {p}")
        raise IsADirectoryError(f"predictions path is not a file: {p}")
    known = set(known_ids)
    out = PredictionFile({}, [], [], [])
    first_line: dict[str, int] = {}
    # Split on b"\n" only: str.splitlines would also split on U+2028 etc., which JSON allows raw inside strings.
    for lineno, raw in enumerate(p.read_bytes().split(b"\n"), start=1):
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        parsed = _parse_line(raw, samples)
        if isinstance(parsed, str):
            out.malformed_lines.append({"line": lineno, "reason": parsed})
            continue
        ex_id, candidates = parsed
        if ex_id not in known:
            out.unknown_ids.append({"line": lineno, "id": ex_id})
        elif ex_id in out.candidates:
            out.duplicate_ids.append({"line": lineno, "id": ex_id, "first_line": first_line[ex_id]})
        else:
            out.candidates[ex_id] = candidates
            first_line[ex_id] = lineno
    return out


def comparison_key(task: Task | str) -> Callable[[str], str] | None:
    """The exact-match key of a task that compares canonical code: the language's canonical form for a language
    other than Python; for Python None (the metric's default) unless the task's code is lines of a larger program, whose lines are compared as
    ``from_parseable(ast.unparse(ast.parse(to_parseable(line))))`` so that ``if x :`` equals ``if x:``; a line that
    does not parse even completed falls back to the metric's token key."""
    task = get_task(task) if isinstance(task, str) else task
    if task.language not in ("python", "asdl:python3"):  # a Lark grammar: its own canonical form
        from tranx.errors import TranxError
        from tranx.languages import get_language
        language = get_language(task.language)

        def text_key(code: str) -> str:
            try:
                return language.canonicalize(code)
            except TranxError:
                return "#<unparsed> " + " ".join(code.split())
        return text_key
    if task.completion != "line":
        return None

    def key(code: str) -> str:
        with warnings.catch_warnings():  # invalid escapes such as '\d' warn on parsing
            warnings.simplefilter("ignore")
            canonical = canonical_python(task.to_parseable(code))
        return task.from_parseable(canonical) if canonical is not None else default_canonicalize(code)
    return key


def in_reference_style(task: Task, code: str) -> str:
    """A prediction written the way the task's references are (`task.reference_style`, e.g. CoNaLa's astor-style
    string quoting): a scoring option only, since users get ordinary code. Only code in the plain form the translator
    writes is rewritten; anything else (another system's output, code that does not parse) is scored as written."""
    if task.reference_style == "plain" or not code:
        return code
    from tranx.languages import get_language
    language, parseable = get_language(task.language), task.to_parseable(code)
    if language.pretty(parseable) != parseable:
        return code
    return task.from_parseable(language.pretty(parseable, style=task.reference_style))


def task_scores(task: Task | str, predictions, references, canonicalize=None, *, restyle: bool = True) -> dict:
    """The task's official scores: BLEU and exact match of token lists, or of canonical code (`task.match`);
    `canonicalize` overrides the task's comparison key; predictions are first written in the references' style
    (`in_reference_style`) unless `restyle` is False."""
    task = get_task(task) if isinstance(task, str) else task
    if restyle:
        predictions = [in_reference_style(task, p) for p in predictions]
    if task.metric == "dfa_accuracy":
        from tranx.evaluation.regex_equivalence import dfa_accuracy
        _check_lengths(predictions, references)
        n = len(predictions)
        same = sum(p == r for p, r in zip(predictions, references))
        return {"dfa_accuracy": dfa_accuracy(predictions, references, slots=dict(task.slot_values)),
                "exact_match": 100.0 * same / n if n else 0.0, "n": n}
    if task.match == "canonical":
        return canonical_scores(predictions, references, canonicalize=canonicalize or comparison_key(task))
    return token_scores(predictions, references)


def score_predictions(
    path: str | PathLike,
    references: Mapping[str, str],
    dataset: str,
    canonicalize: Callable[[str], Hashable | None] | None = None,
    restyle: bool = True,
) -> ScoreReport:
    """Score the predictions file at ``path`` against ``references`` (id -> raw reference code).

    ``dataset`` names a task (preprocess.tasks), whose `task_scores` are reported; ``canonicalize`` replaces the
    comparison key of a task that compares canonical code; ``restyle`` False scores predictions as written, not
    rewritten in the references' style.
    """
    ds = dataset.lower() if dataset.lower() in DATASETS else dataset
    try:
        task = get_task(ds)
    except ValueError:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)} or a task file") from None
    if canonicalize is not None and task.match != "canonical":
        raise ValueError(f"canonicalize is only used for a task that compares canonical code, not {ds}")
    read = read_predictions(path, references)
    preds = {ex_id: candidates[0] for ex_id, candidates in read.candidates.items()}
    ids = list(references)
    missing = [i for i in ids if i not in preds]
    hyps = [preds.get(i, "") for i in ids]
    refs = [references[i] for i in ids]
    scores = task_scores(task, hyps, refs, canonicalize, restyle=restyle)
    return ScoreReport(
        dataset=ds,
        path=str(path),
        bleu=scores.get("bleu"),
        exact_match=scores["exact_match"],
        dfa_accuracy=scores.get("dfa_accuracy"),
        n=len(ids),
        scored=len(preds),
        missing_ids=missing,
        unknown_ids=read.unknown_ids,
        duplicate_ids=read.duplicate_ids,
        malformed_lines=read.malformed_lines,
    )
