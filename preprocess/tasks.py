"""The task table: everything that differs between data sets, as data.

A `Task` says how intents are quoted (the substitution style), whether the code is lines of a larger
program that need a completion to parse, how output code is written, which scores are reported and
which one selects models, and the vocabulary cut-offs. A checkpoint saves its task (`task.json`, like
a Hugging Face processor), so it translates the same way whatever it was trained on; this table is the
only place outside the data-set readers (preprocess.datasets) that names a data set.

Left out: reading the data sets (preprocess.datasets) and the metrics themselves (tranx.metrics).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .datasets import complete_code, strip_completion

TASK_FORMAT = "tranx-task"
INTENT_STYLES = ("conala", "django")  # preprocess.substitution: which quotes mark values
COMPLETIONS = (None, "line")  # "line": a line of a larger program, completed to parse (`if x:` + body)
OUTPUT_STYLES = ("plain", "astor")  # tranx.languages: "astor" writes strings as astor did
METRICS = ("bleu", "exact_match")


class TaskError(ValueError):
    """A task description that is malformed or names an unknown task."""


@dataclass(frozen=True)
class Task:
    name: str
    language: str = "python"
    intent_style: str = "conala"
    completion: str | None = None
    output_style: str = "plain"
    metric: str = "bleu"  # the headline score: corpus BLEU, or exact match of canonical code
    selection_metric: str = "bleu"  # the dev score that picks the best checkpoint
    token_cutoff: int = 3  # training frequency a primitive token needs to be generated (rarer: copied only)
    intent_vocab_size: int = 2000  # sentencepiece vocabulary of the LSTM encoder
    unit_tests: bool = False  # examples carry tests (execution-based evaluation)

    def __post_init__(self):
        for name, value, allowed in (("intent_style", self.intent_style, INTENT_STYLES),
                                     ("completion", self.completion, COMPLETIONS),
                                     ("output_style", self.output_style, OUTPUT_STYLES),
                                     ("metric", self.metric, METRICS),
                                     ("selection_metric", self.selection_metric, METRICS)):
            if value not in allowed:
                raise TaskError(f"task {self.name!r}: {name} {value!r} is not one of {', '.join(map(str, allowed))}")

    def to_parseable(self, code: str) -> str:
        """Code as the parser needs it (a line completed when the task's code is lines)."""
        return complete_code(code) if self.completion == "line" else code

    def from_parseable(self, code: str) -> str:
        """Inverse of `to_parseable`, applied to code written from a tree."""
        return strip_completion(code) if self.completion == "line" else code

    def to_json(self) -> dict:
        return {"format": TASK_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, obj: dict, *, source: str = "task") -> "Task":
        if not isinstance(obj, dict) or obj.get("format") != TASK_FORMAT:
            raise TaskError(f"{source}: not a tranx task (expected \"format\": \"{TASK_FORMAT}\")")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(obj) - known - {"format"})
        if unknown:
            raise TaskError(f"{source}: unknown task field {unknown[0]!r}")
        try:
            return cls(**{k: v for k, v in obj.items() if k != "format"})
        except TypeError as exc:
            raise TaskError(f"{source}: {exc}") from None


TASKS = {
    "conala": Task("conala", output_style="astor"),
    "codeinsight": Task("codeinsight", unit_tests=True),
    "django": Task("django", intent_style="django", completion="line", metric="exact_match",
                   selection_metric="exact_match", token_cutoff=15, intent_vocab_size=4000),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise TaskError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}")
    return TASKS[name]
