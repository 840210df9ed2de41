"""A user's own data set: a task file (JSON) naming a JSON Lines file of intent/code pairs and the target language.

Why: retraining on one's own pairs and grammar should need two small files, not a reader and a table entry.

    {"format": "tranx-task", "name": "arith", "language": "lark:arith.lark", "data": "arith.jsonl",
     "metric": "exact_match", "selection_metric": "exact_match", "match": "string"}

Every field of `preprocess.tasks.Task` may be given; `data` (required) and a `lark:` path in `language` are relative
to the task file. Wherever a data-set name is accepted (`train.dataset`, `--dataset`, `tranx roundtrip FILE:train`),
the path of the task file is one. Each line of the data file is `{"intent": ..., "code": ..., "split": ...}` with
`split` one of train, dev, test (default train); ids are `<split>/<i>`, counting that split's lines in file order.
Without dev lines, `preprocess.splits` holds out `DEV_SHARE` of the train lines as dev, drawn with the seed every
data set uses (`load_examples(task, "dev")` alone gives only the file's own dev lines).
Substitution of quoted intent values is the task's `intent_style` with the config's `train.substitution` switch.

Left out: TSV; several data files per task.
"""

from __future__ import annotations

import json
from pathlib import Path

SPLITS = ("train", "dev", "test")
DEV_SHARE = 0.1


class UserTaskError(ValueError):
    """A task file or its data file that cannot be used; the message names the file and line."""


def is_task_file(name: str) -> bool:
    return isinstance(name, str) and name.endswith(".json") and Path(name).expanduser().is_file()


def read_task_file(name: str) -> dict:
    """The task file's fields, `data` and a `lark:` language made absolute (they are relative to the file)."""
    path = Path(name).expanduser().resolve()
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserTaskError(f"task file {name}: cannot read it as JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise UserTaskError(f"task file {name}: expected a JSON object")
    if not isinstance(obj.get("data"), str):
        raise UserTaskError(f"task file {name}: \"data\" (the JSON Lines file of pairs) is missing")
    obj = {"format": "tranx-task", **obj, "name": obj.get("name", path.stem),
           "data": str((path.parent / obj["data"]).resolve())}
    language = obj.get("language", "python")
    if isinstance(language, str) and language.startswith("lark:") and language.endswith(".lark"):
        obj["language"] = "lark:" + str((path.parent / language[5:]).resolve())
    return obj


def read_pairs(task_file: str, data: str) -> dict[str, list[tuple[int, dict]]]:
    """`{split: [(line number, pair object), ...]}` of a task file's data file, in file order."""
    rows: dict[str, list] = {s: [] for s in SPLITS}
    try:
        lines = Path(data).read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserTaskError(f"{task_file}: cannot read its data file {data} ({exc})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise UserTaskError(f"{data}:{number}: not JSON ({exc})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("intent"), str) or not isinstance(obj.get("code"), str):
            raise UserTaskError(f"{data}:{number}: expected an object with string \"intent\" and \"code\"")
        where = obj.get("split", "train")
        if where not in SPLITS:
            raise UserTaskError(f"{data}:{number}: split {where!r} is not one of {', '.join(SPLITS)}")
        rows[where].append((number, obj))
    return rows
