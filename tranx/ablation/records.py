"""A study's finished runs kept outside its folder: `tranx ablate ... --records DIR2`.

A study of many multi-hour runs outlives the machine it started on (a session's machine, a CI box), but its
checkpoints are too big to keep. What the report needs of a finished run is small: its training summary, its test
result and predictions (and unit-test outcomes), and the subprocesses' times. With --records, `tranx ablate` copies
those files of every finished run into DIR2/runs/<run>/ (JSON Lines gzipped; the study's plan.json into DIR2) as
soon as the run is done, and first copies back into the study folder each finished run the folder lacks. A restored
run counts as done: it is not trained again, and the report recomputes its scores from the restored predictions as
from any other. Its checkpoints are not there, so an RL stage still to run needs its full run trained on this
machine.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tranx.ablation.plan import Plan, Run, check_plan_file
from tranx.errors import TranxError
from tranx.io import atomic_write_text

# What the report reads of a finished run (test.execution.jsonl only for a task with unit tests). The JSON Lines
# files are kept gzipped (a Django run's predictions: 390 KB, 54 KB gzipped), the rest as they are.
RECORD_FILES = ("summary.json", "test.json", "test.predictions.jsonl", "test.execution.jsonl", "ablation-steps.json")


def _kept_name(name: str) -> str:
    return name + ".gz" if name.endswith(".jsonl") else name


def _copy(source: Path, target: Path, *, pack: bool = False, unpack: bool = False) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    data = source.read_bytes()
    if pack:  # mtime 0: the same file gives the same bytes, so a record saved again does not change in git
        data = gzip.compress(data, mtime=0)
    elif unpack:
        data = gzip.decompress(data)
    tmp.write_bytes(data)
    tmp.replace(target)  # atomic: a killed copy leaves no half file under the real name


def _ordered(names) -> list[str]:
    return sorted(names, key=lambda n: n == "test.json")  # last: its presence is what makes a run count as done


def _save_run_files(source: Path, target: Path) -> None:
    for name in _ordered(n for n in RECORD_FILES if (source / n).is_file()):
        _copy(source / name, target / _kept_name(name), pack=_kept_name(name) != name)


def _restore_run_files(source: Path, target: Path) -> None:
    for name in _ordered(n for n in RECORD_FILES if (source / _kept_name(n)).is_file()):
        _copy(source / _kept_name(name), target / name, unpack=_kept_name(name) != name)


def save_run(plan: Plan, run: Run, records: Path) -> None:
    """Copy a finished run's record files (and the study's plan.json) into `records`."""
    if run.state() != "done":
        raise TranxError(f"{run.folder} is not finished (no test.json): nothing to keep")
    atomic_write_text(records / "plan.json", (plan.out / "plan.json").read_text(encoding="utf-8"))
    _save_run_files(run.folder, records / "runs" / run.name)


def restore(plan: Plan, records: Path) -> list[str]:
    """Copy into the study folder each finished run of `records` that the plan has and the folder lacks; the names
    restored. Refuses records made with other settings (as a resumed study does)."""
    plan_file = records / "plan.json"
    if not records.exists():
        return []
    if not plan_file.is_file():
        raise TranxError(f"{records} has no plan.json: not a records folder of `tranx ablate --records`")
    check_plan_file(plan, plan_file, write=False)
    if not (plan.out / "plan.json").is_file():
        plan.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(plan.out / "plan.json", plan_file.read_text(encoding="utf-8"))
    restored = []
    for run in plan.runs():
        kept = records / "runs" / run.name
        if run.state() != "done" and (kept / "test.json").is_file():
            json.loads((kept / "test.json").read_text(encoding="utf-8"))  # a broken record fails here, not later
            _restore_run_files(kept, run.folder)
            restored.append(run.name)
    return restored


def save_all(plan: Plan, records: Path) -> int:
    """Keep every finished run of the plan; how many."""
    done = [run for run in plan.runs() if run.state() == "done"]
    for run in done:
        save_run(plan, run, records)
    return len(done)
