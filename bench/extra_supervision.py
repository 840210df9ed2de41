"""More supervision for the CoNaLa model: CodeInsight's training functions whose body is one `return EXPR`, as
CoNaLa-style pairs (the argument names in backquotes, EXPR as the snippet), added to CoNaLa's own training split.

Writes a user task (preprocess.user_tasks) to OUT/task.json with OUT/data.jsonl: CoNaLa train and dev exactly as the
`conala` task splits them (so dev scores compare with the plain CoNaLa model) and the converted CodeInsight rows as
train. Left out, by the data READMEs' overlap rules: CodeInsight rows from a Stack Overflow question in CoNaLa test
(CoNaLa's rule for external data) and, so that dev stays unseen, those from a question in CoNaLa's held-out dev.

    python bench/extra_supervision.py --out runs/data-conala-plus
    tranx train configs/conala.json train.dataset=runs/data-conala-plus/task.json --out runs/conala-plus
    tranx eval runs/conala-plus --dataset conala --split dev --out ... --result ...
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from collections import Counter
from pathlib import Path

from preprocess.datasets import load_examples
from preprocess.splits import split_examples
from preprocess.tasks import get_task
from tranx.io import atomic_write_text, write_json

_QUESTION = re.compile(r"stackoverflow\.com/questions/(\d+)")


def returned_expression(code: str) -> str | None:
    """EXPR of a function whose body (after a docstring) is `return EXPR`, in plain Python; else None."""
    try:
        module = ast.parse(code.expandtabs(4).strip("\n"))
    except SyntaxError:
        return None
    functions = [node for node in module.body if isinstance(node, ast.FunctionDef)]
    if len(functions) != 1 or len(module.body) != 1:
        return None  # imports or helpers beside the function: not a one-line snippet
    body = functions[0].body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        return None
    return ast.unparse(body[0].value)


def conala_style_intent(nl: str, args: list[str]) -> str:
    """The intent with each argument name in backquotes, as CoNaLa's rewritten intents write variables."""
    intent = " ".join(nl.split())
    for name in sorted(args, key=len, reverse=True):
        intent = re.sub(rf"(?<![`\w]){re.escape(name)}(?![`\w])", f"`{name}`", intent)
    return intent


def _arguments(code: str) -> list[str]:
    function = ast.parse(code.expandtabs(4).strip("\n")).body[0]
    return [a.arg for a in function.args.args]


def build(data_root: str | None) -> tuple[list[dict], dict]:
    conala = split_examples("conala", data_root, splits=("train", "dev", "test"))
    held = {split: {str(e.meta["question_id"]) for e in conala[split]} for split in ("dev", "test")}
    rows = [{"intent": e.intent, "code": e.code, "split": split, "source": e.id}
            for split in ("train", "dev") for e in conala[split]]
    skipped: Counter = Counter()
    for e in load_examples("codeinsight", "train", data_root):
        question = _QUESTION.search(e.meta.get("source") or "")
        if question and question.group(1) in held["test"]:
            skipped["question in CoNaLa test"] += 1
            continue
        if question and question.group(1) in held["dev"]:
            skipped["question in CoNaLa dev"] += 1
            continue
        snippet = returned_expression(e.code)
        if snippet is None:
            skipped["body is not one return"] += 1
            continue
        rows.append({"intent": conala_style_intent(e.intent, _arguments(e.code)), "code": snippet, "split": "train",
                     "source": f"codeinsight/{e.id}"})
    counts = Counter(r["split"] for r in rows)
    added = sum(1 for r in rows if r["source"].startswith("codeinsight/"))
    return rows, {"conala_train": counts["train"] - added, "conala_dev": counts["dev"], "codeinsight_added": added,
                  "codeinsight_skipped": dict(skipped)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for task.json and data.jsonl (not committed: derived data)")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    rows, counts = build(args.data_root)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "data.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    task = {**get_task("conala").to_json(), "name": "conala-plus-codeinsight", "data": "data.jsonl"}
    write_json(out / "task.json", task)
    print(json.dumps({"task": str(out / "task.json"), **counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
