"""The core invariant, checked on real code: code -> tree -> oracle actions -> replay -> code.

For every snippet: parse, convert to a grammar tree, take the oracle actions, replay them from an
empty hypothesis checking each against `valid_actions`, rebuild the tree, unparse, and compare with
the canonical code (`ast.unparse(ast.parse(code))`) and with `ast.dump` (contexts included). For a
data set whose code is lines (a task with a completion), the replayed code is also stripped back to its line and
re-completed, which must give the same code again.

A language without Python's AST (a Lark grammar, a tree-sitter language) is checked on text: the replayed tree must be
the parsed one and the code written from it the input itself, or, when the grammar ignores whitespace, equal to it
once whitespace is removed, or, for a Lark grammar, equal up to what the grammar %ignores (comments): both texts
lex (lark's basic lexer) to the same terminals with the same texts, %ignored tokens dropped, where a token the tree
does not keep (a literal, `_NL`) compares without whitespace when the grammar ignores whitespace. A tree-sitter
language writes the whitespace it learned, not the input's (its trees do not record it): its code must equal the
input up to whitespace and parse back to the same tree. Its action grammar is induced from the training programs of
the snippets' data set (files: from the files checked), once, and handed to the workers as its JSON description; a
shape that training never showed is counted as not parseable.

Targets: any file named (a Lark grammar's programs, e.g. `.lark` files for `lark:.../lark.lark`), a directory (its
files with the language's suffix: `.py`, `.NAME` for `lark:NAME` or `lark:path/NAME.lark`; `collect_snippets`'s
`language`), or DATASET:SPLIT.

Left out: any model; this is the grammar layer's acceptance test and the `tranx roundtrip` command.
"""

from __future__ import annotations

import ast
import os
import sys
import tokenize
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from preprocess.tasks import TASKS
from tranx.errors import TranxError
from tranx.languages import get_language
from tranx.grammar.transition import TransitionSystem, valid_actions

OK, NOT_PARSEABLE, FAILED = "ok", "not parseable", "failed"


@dataclass(frozen=True)
class Snippet:
    id: str
    code: str
    dataset: str | None = None  # selects the completion of preprocess.datasets


@dataclass
class RoundTripReport:
    total: int = 0
    ok: int = 0
    not_parseable: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def add(self, snippet_id: str, status: str, detail: str) -> None:
        self.total += 1
        if status == OK:
            self.ok += 1
        elif status == NOT_PARSEABLE:
            self.not_parseable.append((snippet_id, detail))
        else:
            self.failed.append((snippet_id, detail))

    def summary(self) -> str:
        return (f"roundtrip: {self.ok}/{self.total} exact, {len(self.not_parseable)} not parseable, "
                f"{len(self.failed)} failed")


def collect_snippets(targets: list[str], data_root: str | None = None, language: str | None = None) -> list[Snippet]:
    """Targets are files (any existing file named), directories or `DATASET:SPLIT` specs. A directory gives the files
    below it with the suffix of `language` (`_suffix`: `.py` by default)."""
    snippets: list[Snippet] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            suffix = _suffix(language)
            snippets.extend(_file_snippet(p) for p in sorted(path.rglob(f"*{suffix}")) if p.is_file())
        elif path.is_file():
            snippets.append(_file_snippet(path))
        elif ":" in target and not path.suffix:
            from preprocess.datasets import load_examples, parse_target
            try:
                dataset, split = parse_target(target)
            except ValueError as exc:
                raise TranxError(str(exc)) from None
            snippets.extend(Snippet(f"{dataset}:{e.id}", e.code, dataset)
                            for e in load_examples(dataset, split, data_root))
        else:
            raise TranxError(f"no such file, directory or data set: {target!r} "
                             f"(expected a file, a directory or DATASET:SPLIT such as {next(iter(TASKS))}:train)")
    return snippets


def _suffix(language: str | None) -> str:
    """The suffix of a language's files: for `lark:NAME_OR_PATH`, the grammar's name (`lark:path/lark.lark` ->
    `.lark`, `lark:sql` -> `.sql`), else `.py`."""
    if language and language.startswith("lark:") and language[5:]:
        return "." + Path(language[5:]).stem
    return ".py"


def _file_snippet(path: Path) -> Snippet:
    try:
        with tokenize.open(path) as handle:  # honours the file's coding cookie
            return Snippet(str(path), handle.read())
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        return Snippet(str(path), f"\0 undecodable: {exc}")  # NUL: ast.parse rejects it


_language = None
_language_name = None
_system = None


def _language_of(snippet: Snippet, language_name: str | None) -> str:
    return language_name or (TASKS[snippet.dataset].language if snippet.dataset in TASKS else "python")


def check_snippet(snippet: Snippet, language_name: str | None = None, description: dict | None = None
                  ) -> tuple[str, str]:
    """(status, detail) for one snippet in `language_name` (default: its data set's language, else Python; an induced
    tree-sitter language comes as its `description`); never raises for bad input."""
    global _language, _language_name, _system
    language_name = _language_of(snippet, language_name)
    if _language is None or _language_name != language_name:
        _language, _language_name = get_language(language_name, description=description), language_name
        _system = TransitionSystem(_language.grammar)
    if not hasattr(_language, "parse_ast"):
        return _check_text(snippet.code)
    if snippet.dataset is not None:
        from preprocess.datasets import from_parseable, to_parseable
        code = to_parseable(snippet.dataset, snippet.code)
    else:
        code = snippet.code
    try:
        expected_ast = _language.parse_ast(code)
    except TranxError as exc:
        return NOT_PARSEABLE, str(exc)
    try:
        expected = ast.unparse(expected_ast)
        replayed_tree, why = _replay(_language.from_ast(expected_ast))
        if replayed_tree is None:
            return FAILED, why
        replayed_ast = _language.to_ast(replayed_tree)
        replayed = ast.unparse(replayed_ast)
        if replayed != expected:
            return FAILED, f"code differs:\n--- expected\n{expected}\n--- got\n{replayed}"
        if ast.dump(replayed_ast) != ast.dump(expected_ast):
            return FAILED, "ast.dump differs (same code, different tree, e.g. an expression context)"
        if snippet.dataset is not None:
            line = from_parseable(snippet.dataset, replayed)
            again = ast.unparse(_language.parse_ast(to_parseable(snippet.dataset, line)))
            if again != expected:
                return FAILED, f"completion is not invertible: stripped to {line!r}"
    except (TranxError, RecursionError, ValueError, TypeError, AttributeError) as exc:
        return FAILED, f"{type(exc).__name__}: {exc}"
    return OK, ""


def _replay(tree) -> tuple[object | None, str]:
    """(the tree the oracle actions rebuild, "") or (None, why they do not), each action checked by valid_actions."""
    hypothesis = _system.initial()
    for step, action in enumerate(_system.oracle(tree)):
        reason = valid_actions(hypothesis).why_not(action)
        if reason is not None:
            return None, f"step {step}: valid_actions rejects oracle action {action}: {reason}"
        hypothesis = hypothesis.apply(action)
    if not hypothesis.is_complete:
        return None, f"oracle actions end with frontier {hypothesis.frontier} still open"
    return hypothesis.tree(), ""


def _check_text(code: str) -> tuple[str, str]:
    """A language without Python's AST (a Lark grammar): code -> tree -> actions -> tree -> code, where the code
    written must equal the input up to the language's whitespace rule (tokens joined by its separator)."""
    try:
        tree = _language.parse(code)
    except TranxError as exc:
        return NOT_PARSEABLE, str(exc)
    try:
        replayed, why = _replay(tree)
        if replayed is None:
            return FAILED, why
        if replayed != tree:
            return FAILED, "the replayed tree differs from the parsed one"
        text = _language.unparse(replayed)
    except (TranxError, RecursionError, ValueError, TypeError) as exc:
        return FAILED, f"{type(exc).__name__}: {exc}"
    separator = getattr(getattr(_language, "conversion", None), "separator", "")
    if _language_name.startswith("tree-sitter:"):  # whitespace learned, not kept: the tree must come back
        try:
            if _language.parse(text) != tree:
                return FAILED, f"the written code parses to another tree:\n{text}"
        except TranxError as exc:
            return FAILED, f"the written code does not parse back ({exc}):\n{text}"
        if "".join(text.split()) != "".join(code.split()):
            return FAILED, (f"same tree, but the text differs beyond whitespace (comments or line continuations, "
                            f"which the tree does not keep):\n--- expected\n{code}\n--- got\n{text}")
        return OK, ""
    same = text == code if not separator else "".join(text.split()) == "".join(code.split())
    if not same and hasattr(_language, "lexed"):  # a Lark grammar: equal up to what it %ignores (comments)
        try:
            same = _language.lexed(text) == _language.lexed(code)
        except TranxError:
            pass
    return (OK, "") if same else (FAILED, f"code differs:\n--- expected\n{code}\n--- got\n{text}")


def _check_chunk(args: tuple[list[Snippet], str | None, dict | None]) -> list[tuple[str, str]]:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))  # deep expressions in real files
    snippets, language_name, description = args
    return [check_snippet(s, language_name, description) for s in snippets]


def induced_language(snippets: list[Snippet], language: str | None, data_root=None) -> dict | None:
    """The JSON description of the tree-sitter language the snippets are checked in, induced from their data set's
    training programs (from the snippets themselves when they are files); None for other languages."""
    names = {_language_of(s, language) for s in snippets}
    if not any(name.startswith("tree-sitter:") for name in names):
        return None
    if len(names) > 1:
        raise TranxError(f"a tree-sitter language is checked alone (its grammar is induced for the round trip), "
                         f"not with others: {', '.join(sorted(names))}")
    datasets = {s.dataset for s in snippets}
    if len(datasets) > 1:
        raise TranxError("a tree-sitter round trip checks one data set (or files) at a time: its action grammar is "
                         "induced from that data set's training programs")
    dataset = datasets.pop()
    if dataset is None:
        return get_language(names.pop(), programs=[s.code for s in snippets]).to_json()
    from tranx.data.pipeline import task_language
    return task_language(dataset, data_root, language).to_json()


def run_roundtrip(snippets: list[Snippet], *, language: str | None = None, workers: int | None = None,
                  progress: bool | None = None, data_root=None) -> RoundTripReport:
    """Check all snippets, in `workers` processes (default: all cores when there is enough work)."""
    if workers is None:
        workers = os.cpu_count() or 1 if len(snippets) >= 2000 else 1
    description = induced_language(snippets, language, data_root)
    chunk = 64
    chunks = [(snippets[i:i + chunk], language, description) for i in range(0, len(snippets), chunk)]
    report = RoundTripReport()
    bar = tqdm(total=len(snippets), unit="snippet", desc="roundtrip", disable=None if progress is None
               else not progress, file=sys.stderr)
    with bar:
        if workers <= 1:
            results = map(_check_chunk, chunks)
        else:
            pool = ProcessPoolExecutor(max_workers=workers)
            results = pool.map(_check_chunk, chunks)
        try:
            for (chunk_snippets, _, _), chunk_results in zip(chunks, results):
                for snippet, (status, detail) in zip(chunk_snippets, chunk_results):
                    report.add(snippet.id, status, detail)
                bar.update(len(chunk_snippets))
        finally:
            if workers > 1:
                pool.shutdown(cancel_futures=True)
    return report


def write_failures(report: RoundTripReport, path: Path) -> None:
    """Failures, then unparseable ids, written atomically."""
    lines = [f"# {report.summary()}", ""]
    for snippet_id, detail in report.failed:
        lines += [f"FAILED {snippet_id}", detail, ""]
    for snippet_id, detail in report.not_parseable:
        lines += [f"NOT PARSEABLE {snippet_id}: {detail}"]
    from tranx.io import atomic_write_text
    atomic_write_text(path, "\n".join(lines) + "\n")
