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
INTENT_STYLES = ("identifiers", "strings")  # preprocess.substitution: what a quoted value becomes
_OLD_STYLE_NAMES = {"conala": "identifiers", "django": "strings"}  # task.json files written before the rename
COMPLETIONS = (None, "line")  # "line": a line of a larger program, completed to parse (`if x:` + body)
REFERENCE_STYLES = ("plain", "astor")  # tranx.languages: "astor" writes strings as astor did
METRICS = ("bleu", "exact_match", "dfa_accuracy")
# exact match of the official token lists, of canonical code (tranx.metrics), or of the strings themselves
MATCHES = ("tokens", "canonical", "string")


class TaskError(ValueError):
    """A task description that is malformed or names an unknown task."""


@dataclass(frozen=True)
class Task:
    name: str
    language: str = "python"
    intent_style: str = "identifiers"
    completion: str | None = None
    # how the references are written: scoring rewrites predictions into it (users always get plain code)
    reference_style: str = "plain"
    metric: str = "bleu"  # the headline score: corpus BLEU, or exact match of canonical code
    selection_metric: str = "bleu"  # the dev score that picks the best checkpoint
    match: str = "tokens"  # what exact match compares: official token lists, or canonical code
    token_cutoff: int = 3  # training frequency a primitive token needs to be generated (rarer: copied only)
    intent_vocab_size: int = 2000  # sentencepiece vocabulary of the LSTM encoder
    unit_tests: bool = False  # examples carry tests (execution-based evaluation)
    # dfa_accuracy: what the data set's slots (`<M0>`) stand for when automata are compared (others: fresh symbols)
    slot_values: tuple[tuple[str, str], ...] = ()
    data: str | None = None  # a user's task file: its JSON Lines pairs (preprocess.user_tasks)
    database: str | None = None  # SQL: the SQLite file under the data root that execution accuracy runs on
    shell_metrics: bool = False  # NL2Bash's character BLEU over description groups and NLC2CMD, in reports

    def __post_init__(self):
        for name, value, allowed in (("intent_style", self.intent_style, INTENT_STYLES),
                                     ("completion", self.completion, COMPLETIONS),
                                     ("reference_style", self.reference_style, REFERENCE_STYLES),
                                     ("metric", self.metric, METRICS),
                                     ("selection_metric", self.selection_metric, METRICS),
                                     ("match", self.match, MATCHES)):
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
        unknown = sorted(set(obj) - known - {"format", "output_style"})
        if unknown:
            raise TaskError(f"{source}: unknown task field {unknown[0]!r}")
        try:
            fields = {k: v for k, v in obj.items() if k != "format"}
            fields["slot_values"] = tuple(tuple(pair) for pair in fields.get("slot_values", ()))
            if "output_style" in fields:  # task.json files written before the rename
                fields["reference_style"] = fields.pop("output_style")
            if fields.get("intent_style") in _OLD_STYLE_NAMES:
                fields["intent_style"] = _OLD_STYLE_NAMES[fields["intent_style"]]
            return cls(**fields)
        except TypeError as exc:
            raise TaskError(f"{source}: {exc}") from None


@dataclass(frozen=True)
class TestHarness:
    """How a task with unit tests runs a candidate (its data set's own harness): for each test file the program is
    `prefix + "\\n" + code + "\\n" + test_file`, run after `setup` in one namespace shared by the problem's test
    files, `seconds_per_test_file` each; `libraries` are the packages whose versions key the reference check."""
    prefix: str
    setup: str
    seconds_per_test_file: float
    libraries: tuple[str, ...]


#: What deep-regex's evaluation (regexDFAEquals.py) puts for <M0>..<M3> before comparing automata, for NL-RX and
#: KB13 alike (KB13's real quoted values are lost in the split files); tranx.evaluation.regex_equivalence.NLRX_SLOTS.
NLRX_SLOTS = (("<M0>", "dog"), ("<M1>", "truck"), ("<M2>", "ring"), ("<M3>", "lake"))

TASKS = {
    "conala": Task("conala", reference_style="astor"),
    "codeinsight": Task("codeinsight", unit_tests=True),
    "django": Task("django", intent_style="strings", completion="line", metric="exact_match",
                   selection_metric="exact_match", match="canonical", token_cutoff=15, intent_vocab_size=4000),
    # regexes: DFA equivalence (tranx.evaluation.regex_equivalence) and string exact match; the split files come
    # with their quoted values already replaced by <M0>..., which the intent words and the regex SLOT tokens share
    **{name: Task(name, language="lark:regex", metric="dfa_accuracy", selection_metric="dfa_accuracy",
                  match="string", token_cutoff=1, slot_values=slots)
       for name, slots in (("nl-rx-turk", NLRX_SLOTS), ("nl-rx-synth", NLRX_SLOTS), ("kb13", NLRX_SLOTS))},
    # SQL with anonymised values (`state_name0`), shared by question and query: exact match of the canonical query
    **{name: Task(name, language="lark:sql", metric="exact_match", selection_metric="exact_match",
                  match="canonical", token_cutoff=1, database="text2sql/geography-db.added-in-2020.sqlite")
       for name in ("geoquery", "geoquery-query")},
    # Bash through tree-sitter-bash, the grammar induced from the training commands; reports add the data set's
    # character BLEU (over description groups) and NLC2CMD; dev selection by BLEU on our tokens
    "nl2bash": Task("nl2bash", language="tree-sitter:bash", token_cutoff=2, shell_metrics=True),
}
#: The unit-test harness of each task with `unit_tests` (the authors' semantics, their data set's README).
TEST_HARNESSES = {
    "codeinsight": TestHarness(
        prefix=("import numpy\nimport math\nimport pandas\nimport string\nimport datetime\nimport json\n"
                "import itertools\nimport random\nimport functools\nimport collections\nimport sklearn\n"
                "import bs4\nimport re\n"),
        setup="import numpy as np\nimport pandas as pd\nimport sklearn\n",  # the authors' globals dict
        seconds_per_test_file=10.0,
        libraries=("numpy", "pandas", "scikit-learn", "scipy", "beautifulsoup4")),
}

DEFAULT_TASK = "conala"  # what a config trains on when it names no data set


def get_task(name: str) -> Task:
    """A shipped task by name, or a user's task file by its path (preprocess.user_tasks)."""
    if name in TASKS:
        return TASKS[name]
    from .user_tasks import UserTaskError, is_task_file, read_task_file
    if is_task_file(name):
        try:
            return Task.from_json({**read_task_file(name), "name": name}, source=name)
        except UserTaskError as exc:
            raise TaskError(str(exc)) from None
    raise TaskError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}, or the path of a task file (.json)")


def get_harness(name: str) -> TestHarness:
    """The unit-test harness of a task; a task without unit tests is refused by name."""
    if name not in TEST_HARNESSES:
        with_tests = ", ".join(sorted(TEST_HARNESSES))
        raise TaskError(f"task {name!r} has no unit tests (tasks with unit tests: {with_tests})")
    return TEST_HARNESSES[name]

#: The BERT-variant paper's (Beau & Crabbe 2022) change of test BLEU when a component is removed, read from its
#: chart (approximate; REFERENCE.md section 2), by component and data set; None: the paper gives no number.
PAPER_ABLATION_DELTAS: dict[str, dict[str, float] | None] = {
    "substitution": {"conala": -9.13, "django": -20.41},
    "encoder": {"conala": -5.78, "django": -2.83},
    "grammar": None,  # the paper's row removes the grammar altogether: grammar_decoder below
    "grammar_decoder": {"conala": 0.91, "django": 1.73},
    "copy": {"conala": -1.10, "django": -6.47},
    "copy_vocabulary": None,  # not a row of the paper: copy removed and every training token generable
    "parent": None,
    "word_lstm": None,
    "word_embeddings": None,
    "weight_average": None,
}
