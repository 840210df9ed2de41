"""Readers for the shared NL-to-code data sets: CoNaLa, Django, CodeInsight, NL-RX (Synth, Turk) and KB13.

``load_examples(dataset, split)`` turns the official files (see ``<data root>/<dataset>/README.md``) into
``RawExample`` records with one field layout for all data sets, with the splits the files define:

* ``conala``: ``train`` (2,379) and ``test`` (500); intent = ``rewritten_intent``, or ``intent`` where it is null.
* ``django``: ``train`` (lines 0-15999), ``dev`` (16000-16999), ``test`` (17000-18804) and ``all``; both sides ``.strip()``-ed.
* ``codeinsight``: ``train`` (1,551) and ``test`` (1,860); intent = ``nl`` without its surrounding whitespace.
* ``nl-rx-turk``, ``nl-rx-synth``, ``kb13`` (folder ``nl-rx``): the standard processed split files
  (``splits/<dir>/{src,targ}-{train,val,test}.txt``; KB13's ``val`` files are its test set), read as they are: the
  descriptions lower-cased with quoted values as ``<M0>``..., the regexes turned back into the dialect string
  (``regex_from_split_tokens``: separators dropped, macros expanded, slots kept). Ids ``test/<i>`` count the lines.

The data root is ``--data-root`` (the ``explicit`` argument), else ``$TRANX_DATA_ROOT``, else ``../shared/data`` beside the
checkout, else ``<checkout>/data/raw`` (see ``resolve_data_root``).

Django code lines are single source lines, so a compound-statement header (``if x :``, ``def f ( self ) :``), a clause
(``else :``, ``except E as e :``, ``finally :``), ``try :`` or a decorator (``@ property``) does not parse on its own.
``complete_code`` makes it parse, and ``strip_completion`` undoes that on the canonical (``ast.unparse``) form of the tree,
recognising the completion by its shape alone, so it also works on a predicted tree. The completion adds:

* the line's own missing body: ``pass`` (``if x :`` -> ``if x : pass``);
* every statement around the line: the marker expression statement ``__tranx_ctx__`` (``CONTEXT_MARKER``):
  ``else :``/``elif y :`` get ``if True:\\n    __tranx_ctx__`` in front, ``except ...:``/``finally :`` get
  ``try:\\n    __tranx_ctx__`` in front, ``try :`` gets ``except:\\n    __tranx_ctx__`` after it, and a decorator is put on
  ``def __tranx_ctx__():\\n    pass``.

Why two fillers: with ``pass`` everywhere, ``try :`` and the bare ``except :`` (5 lines in the data) both complete to
``try: pass / except: pass`` and the line cannot be recovered. The name ``__tranx_ctx__`` occurs in none of the data sets.
``pass`` stays the body of the line itself because no Django line has a real ``pass`` body after a header
(no ``if x : pass``), so it is unambiguous there; had such lines existed, they would strip to the bare header, whose completion
is the same tree. ``to_parseable``/``from_parseable`` apply this to Django and are the identity for the other data sets.

Left out on purpose: tokenisation, the ``str_map``/variable canonicalisation of intents, a dev split for CoNaLa and
CodeInsight, de-duplication, the known Django annotation misalignments (the official files are read as they are), the mined
CoNaLa pairs, any caching or pickling, and any network access.
"""

from __future__ import annotations

import ast
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CONTEXT_MARKER", "DATASETS", "ENV_VAR", "DataRootError", "RawExample", "completion_kind", "complete_code",
    "from_parseable", "load_examples", "parse_target", "resolve_data_root", "strip_completion", "to_parseable",
]

DATASETS: dict[str, tuple[str, ...]] = {
    "conala": ("train", "test"),
    "django": ("train", "dev", "test", "all"),
    "codeinsight": ("train", "test"),
    "nl-rx-turk": ("train", "dev", "test"),
    "nl-rx-synth": ("train", "dev", "test"),
    "kb13": ("train", "test"),
    "geoquery": ("train", "dev", "test"),
    "geoquery-query": ("train", "dev", "test"),
    "nl2bash": ("train", "dev", "test"),
}
#: The folder under the data root of each data set (by default its own name).
FOLDERS = {"nl-rx-turk": "nl-rx", "nl-rx-synth": "nl-rx", "kb13": "nl-rx", "geoquery": "text2sql",
           "geoquery-query": "text2sql"}
ENV_VAR = "TRANX_DATA_ROOT"
_CHECKOUT = Path(__file__).resolve().parents[1]
_DJANGO_RANGES = {"train": (0, 16000), "dev": (16000, 17000), "test": (17000, None), "all": (0, None)}


class DataRootError(ValueError):
    """No data root holding the requested data set was found."""


@dataclass(frozen=True)
class RawExample:
    """One NL/code pair as the files give it; ``meta`` holds data-set extras (JSON-serialisable, not hashed/compared)."""

    id: str
    dataset: str
    split: str
    intent: str
    code: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)


# ----------------------------------------------------------------------------------------------------- names and paths

def _check(dataset: str, split: str | None = None) -> None:
    from .user_tasks import SPLITS, is_task_file
    if dataset not in DATASETS and is_task_file(dataset):
        if split is not None and split not in SPLITS:
            raise ValueError(f"unknown split {split!r} for {dataset!r}; valid: {', '.join(SPLITS)}")
        return
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    if split is not None and split not in DATASETS[dataset]:
        raise ValueError(f"unknown split {split!r} for {dataset!r}; valid: {', '.join(DATASETS[dataset])}")


def parse_target(spec: str) -> tuple[str, str]:
    """``"conala:train"`` -> ``("conala", "train")``; ValueError on a malformed spec or an unknown name."""
    parts = spec.strip().split(":") if isinstance(spec, str) else []
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"malformed target {spec!r}: expected DATASET:SPLIT, e.g. conala:train "
                         f"(datasets: {', '.join(DATASETS)})")
    _check(parts[0], parts[1])
    return parts[0], parts[1]


def resolve_data_root(explicit: str | os.PathLike | None = None, dataset: str | None = None) -> Path:
    """The folder that holds the data-set folders (``conala/``, ``django/``, ``codeinsight/``).

    ``explicit`` (from ``--data-root``) wins, else ``$TRANX_DATA_ROOT``; either one, once given, is the only place looked at.
    Without them: ``<checkout>/../shared/data``, then ``<checkout>/data/raw``. With ``dataset``, the root must contain that
    data set's folder. Raises ``DataRootError`` (one line, naming every path tried) when nothing fits.
    """
    if dataset is not None:
        _check(dataset)
        if dataset not in DATASETS:  # a task file names its own data
            dataset = None
    if explicit is not None and str(explicit) != "":
        candidates = [(Path(explicit).expanduser(), "--data-root")]
    elif os.environ.get(ENV_VAR):
        candidates = [(Path(os.environ[ENV_VAR]).expanduser(), ENV_VAR)]
    else:
        candidates = [(_CHECKOUT.parent / "shared" / "data", "default beside the checkout"),
                      (_CHECKOUT / "data" / "raw", "default in the checkout")]
    tried = []
    for root, how in candidates:
        target = root / FOLDERS.get(dataset, dataset) if dataset else root
        if target.is_dir():
            return root
        tried.append(f"{target} ({how})")
    what = f" for {dataset!r}" if dataset else ""
    raise DataRootError(f"data root not found{what}: tried {', '.join(tried)}; "
                        f"pass --data-root DIR or set {ENV_VAR}")


def data_folder(dataset: str, data_root: str | os.PathLike | None = None) -> Path:
    """The folder holding `dataset`'s files (what a result's provenance hashes): its folder under the data root, or
    the folder of a task file's pairs."""
    if dataset not in DATASETS:
        from .user_tasks import read_task_file
        _check(dataset)
        return Path(read_task_file(dataset)["data"]).parent
    return resolve_data_root(data_root, dataset) / FOLDERS.get(dataset, dataset)


# ------------------------------------------------------------------------------------------------------------ readers

def load_examples(dataset: str, split: str, data_root: str | os.PathLike | None = None) -> list[RawExample]:
    """All examples of ``dataset``/``split`` in file order."""
    _check(dataset, split)
    if dataset not in DATASETS:  # a user's task file
        from .user_tasks import read_pairs, read_task_file
        rows = read_pairs(dataset, read_task_file(dataset)["data"])[split]
        return [RawExample(f"{split}/{i}", dataset, split, obj["intent"], obj["code"], {"line": number})
                for i, (number, obj) in enumerate(rows)]
    folder = resolve_data_root(data_root, dataset) / FOLDERS.get(dataset, dataset)
    return _READERS[dataset](folder, split)


def _conala(folder: Path, split: str) -> list[RawExample]:
    with open(folder / f"conala-{split}.json", encoding="utf-8") as f:
        records = json.load(f)
    out = []
    for i, r in enumerate(records):
        intent = r["rewritten_intent"] if r["rewritten_intent"] is not None else r["intent"]
        meta = {"question_id": r["question_id"], "intent": r["intent"], "rewritten_intent": r["rewritten_intent"]}
        out.append(RawExample(f"{split}/{i}", "conala", split, intent, r["snippet"], meta))
    return out


def _lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines(): only LF ends a line here
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _django(folder: Path, split: str) -> list[RawExample]:
    code, anno = _lines(folder / "all.code"), _lines(folder / "all.anno")
    if len(code) != len(anno):
        raise ValueError(f"{folder}: all.code has {len(code)} lines but all.anno has {len(anno)}")
    lo, hi = _DJANGO_RANGES[split]
    hi = len(code) if hi is None else hi
    return [RawExample(f"{split}/{i}", "django", split, anno[i].strip(), code[i].strip(), {"line": i})
            for i in range(lo, min(hi, len(code)))]


def _codeinsight(folder: Path, split: str) -> list[RawExample]:
    out = []
    with open(folder / f"codeinsight-{split}.jsonl", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            meta = {k: v for k, v in r.items() if k not in ("split", "uid", "code")}
            # the signature the tests call, given with the intent (what a snippet is wrapped in: tranx execute --snippets)
            headers = [line.strip() for line in r.get("prompt", "").splitlines() if line.lstrip().startswith("def ")]
            if headers:
                meta["function_header"] = headers[-1]
            out.append(RawExample(r["uid"], "codeinsight", split, r["nl"].strip(), r["code"], meta))
    return out


#: The macros of the processed NL-RX / KB13 split files, inside `[ ]` (the data set's README).
REGEX_MACROS = {"<VOW>": "AEIOUaeiou", "<NUM>": "0-9", "<LET>": "A-Za-z", "<CAP>": "A-Z", "<LOW>": "a-z"}
_REGEX_SPLIT_DIRS = {"nl-rx-turk": "data_turk_eval_turk", "nl-rx-synth": "data_synth_eval_synth",
                     "kb13": "data_kushman_eval_kushman"}


def regex_from_split_tokens(line: str) -> str:
    """A processed split-file regex (`\\ b ( [ <LET> ] )`) -> the dialect string (`\\b([A-Za-z])`): tokens are
    separated by one space, an empty token (two spaces in a row, 3 KB13 lines) is a literal space, macros expanded;
    the slots `<M0>`... stay (they stand for the description's quoted values, as its `<M0>` words do)."""
    return "".join(REGEX_MACROS.get(t, t) if t else " " for t in line.split(" ")) if line else ""


def _regex(dataset: str):
    def read(folder: Path, split: str) -> list[RawExample]:
        name = {"dev": "val", "test": "val" if dataset == "kb13" else "test"}.get(split, split)
        base = folder / "splits" / _REGEX_SPLIT_DIRS[dataset]
        intents, targets = _lines(base / f"src-{name}.txt"), _lines(base / f"targ-{name}.txt")
        if len(intents) != len(targets):
            raise ValueError(f"{base}: src-{name}.txt has {len(intents)} lines but targ-{name}.txt {len(targets)}")
        return [RawExample(f"{split}/{i}", dataset, split, intent, regex_from_split_tokens(target),
                           {"target_tokens": target}) for i, (intent, target) in enumerate(zip(intents, targets))]
    return read


#: text2sql-data v4's file of each data set (preprocess.text2sql documents the reading).
TEXT2SQL_FILES = {"geoquery": "geography.json", "atis": "atis.json", "advising": "advising.json"}


def text2sql_folder(data_root: str | os.PathLike | None = None) -> Path:
    """``<data root>/text2sql``, the root chosen as for every data set; DataRootError when absent."""
    return resolve_data_root(data_root, "geoquery") / FOLDERS["geoquery"]


def read_text2sql(folder: Path, source: str, split: str, split_kind: str, dataset: str) -> list[RawExample]:
    """The questions of text2sql-data's `source` in `split` of its question or query split (preprocess.text2sql)."""
    with open(folder / TEXT2SQL_FILES[source], encoding="utf-8") as f:
        queries = json.load(f)
    out: list[RawExample] = []
    for i, query in enumerate(queries):
        examples = {v["name"]: v.get("example", "") for v in query.get("variables", [])}
        for j, sentence in enumerate(query["sentences"]):
            where = query["query-split"] if split_kind == "query" else sentence["question-split"]
            if where != split:  # Advising's "exclude" matches no split
                continue
            given = sentence.get("variables", {})
            variables = {name: given.get(name) or examples.get(name, "") for name in {**examples, **given}}
            variables = {name: value for name, value in variables.items() if value != ""}
            meta = {"query": i, "sentence": j, "variables": dict(sorted(variables.items()))}
            out.append(RawExample(f"{split}/{len(out)}", dataset, split, sentence["text"], query["sql"][0], meta))
    return out


def _nl2bash(folder: Path, split: str) -> list[RawExample]:
    """The standard filtered split (8,090 / 609 / 606): line i of `<split>.nl.filtered` and `<split>.cm.filtered`."""
    intents, commands = _lines(folder / f"{split}.nl.filtered"), _lines(folder / f"{split}.cm.filtered")
    if len(intents) != len(commands):
        raise ValueError(f"{folder}: {split}.nl.filtered has {len(intents)} lines but {split}.cm.filtered "
                         f"{len(commands)}")
    return [RawExample(f"{split}/{i}", "nl2bash", split, nl, cm) for i, (nl, cm) in enumerate(zip(intents, commands))]


_READERS = {"conala": _conala, "nl2bash": _nl2bash, "django": _django, "codeinsight": _codeinsight,
            **{name: _regex(name) for name in _REGEX_SPLIT_DIRS},
            "geoquery": lambda folder, split: read_text2sql(folder, "geoquery", split, "question", "geoquery"),
            "geoquery-query": lambda folder, split: read_text2sql(folder, "geoquery", split, "query", "geoquery-query")}


# ------------------------------------------------------------------------------------------- Django line completion

CONTEXT_MARKER = "__tranx_ctx__"
_IF_CTX = f"if True:\n    {CONTEXT_MARKER}\n"
_TRY_CTX = f"try:\n    {CONTEXT_MARKER}\n"
_EXCEPT_CTX = f"\nexcept:\n    {CONTEXT_MARKER}"
_DUMMY_DEF = f"\ndef {CONTEXT_MARKER}():\n    pass"
_HEADERS = {"if", "for", "while", "with", "def", "class", "async"}
_COMPLETABLE = _HEADERS | {"elif", "else", "except", "finally", "try", "@"}
_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.FunctionDef,
             ast.AsyncFunctionDef, ast.ClassDef)


def _parse(src: str) -> ast.Module:
    with warnings.catch_warnings():  # Django strings hold invalid escapes such as '\s' (a DeprecationWarning)
        warnings.simplefilter("ignore")
        return ast.parse(src)


def _parses(src: str) -> bool:
    try:
        _parse(src)
    except SyntaxError:  # IndentationError included
        return False
    return True


def _keyword(line: str) -> str:
    m = re.match(r"\s*(@|[A-Za-z_]\w*)", line)
    return m.group(1) if m else ""


def completion_kind(line: str) -> str | None:
    """The leading keyword (``if``, ``else``, ``@``, ...) when ``line`` needs a completion to parse, else None."""
    if _parses(line):
        return None
    kw = _keyword(line)
    return kw if kw in _COMPLETABLE else None


def complete_code(line: str) -> str:
    """Python source that ``ast.parse`` accepts for a Django line (see the module docstring); parsing lines come back as is.

    A line that is no recognised fragment is returned stripped, and will still not parse.
    """
    if _parses(line):
        return line
    src = line.strip()
    kw = _keyword(src)
    if kw == "@":
        return src + _DUMMY_DEF
    if kw not in _COMPLETABLE:
        return src
    if src.endswith(":"):
        src += " pass"
    if kw in ("elif", "else"):
        return _IF_CTX + src
    if kw in ("except", "finally"):
        return _TRY_CTX + src
    if kw == "try":
        return src + _EXCEPT_CTX
    return src


def _is_marker(body: list[ast.stmt]) -> bool:
    return (len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Name)
            and body[0].value.id == CONTEXT_MARKER)


def _is_pass(body: list[ast.stmt]) -> bool:
    return len(body) == 1 and isinstance(body[0], ast.Pass)


def _drop_body(text: str) -> str:
    head, _, tail = text.partition("\n")
    return head if tail == "    pass" and head.endswith(":") else text


def strip_completion(code: str) -> str:
    """Inverse of ``complete_code`` on a (canonical) tree: the bare line, e.g. ``if x:\\n    pass`` -> ``if x:``.

    Code that does not have the shape of a completion comes back unchanged.
    """
    try:
        tree = _parse(code)
    except SyntaxError:
        return code
    if len(tree.body) != 1:
        return code
    node, text = tree.body[0], ast.unparse(tree)
    if (isinstance(node, ast.FunctionDef) and node.name == CONTEXT_MARKER and len(node.decorator_list) == 1
            and _is_pass(node.body) and node.returns is None and text.endswith(_DUMMY_DEF)):
        return text[:-len(_DUMMY_DEF)]
    if (isinstance(node, ast.If) and _is_marker(node.body) and node.orelse
            and isinstance(node.test, ast.Constant) and node.test.value is True and text.startswith(_IF_CTX)):
        return _drop_body(text[len(_IF_CTX):])
    if isinstance(node, ast.Try):
        if _is_marker(node.body) and (node.handlers or node.finalbody) and text.startswith(_TRY_CTX):
            return _drop_body(text[len(_TRY_CTX):])
        if (len(node.handlers) == 1 and node.handlers[0].type is None and node.handlers[0].name is None
                and _is_marker(node.handlers[0].body) and not node.orelse and not node.finalbody
                and text.endswith(_EXCEPT_CTX)):
            return _drop_body(text[:-len(_EXCEPT_CTX)])
    if isinstance(node, _COMPOUND) and _drop_body(text) != text:
        return _drop_body(text)
    return code


def to_parseable(dataset: str, code: str) -> str:
    """Code as ``ast.parse`` needs it: the Django completion, the identity for the other data sets."""
    _check(dataset)
    return complete_code(code) if dataset == "django" else code


def from_parseable(dataset: str, code: str) -> str:
    """Inverse of ``to_parseable``, applied to (canonical) code from a tree."""
    _check(dataset)
    return strip_completion(code) if dataset == "django" else code
