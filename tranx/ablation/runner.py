"""`tranx ablate`: the full model and one variant per removed component, over seeds, each decoded once on test.

    tranx ablate CONFIG [KEY=VALUE ...] --components substitution,copy,grammar,encoder,parent --seeds 3 --out DIR
        [--budget-epochs N | --budget-minutes M] [--jobs 2] [--test-limit N] [--resamples 10000]

Variants are "full" (CONFIG with the overrides) and, per component, the same with the component's overrides of
`COMPONENTS` added. Each variant is trained with seeds 1..S (`train.seed`) into DIR/runs/<variant>-s<seed>/ by
`tranx train` as a subprocess with one thread (`--jobs` of them at once; their output goes to
DIR/runs/<variant>-s<seed>.log); training chooses its checkpoint (best/) on dev, and the test split is then decoded
once with it by `tranx eval --result DIR/runs/<variant>-s<seed>/test.json`. Finally the report
(`tranx.ablation.report`): DIR/ablation.json, ablation.md and ablation.png.

Resumable: a run whose test.json is there is skipped; a trained run (summary.json) is only decoded; a run with a
last/ checkpoint but no summary.json is continued with `tranx train --resume`; anything else starts afresh.
DIR/plan.json keeps the settings the runs were started with (the config after the overrides, the budget, the test
limit): a later call with other settings is refused rather than mixing runs; components and seeds may be added.

The budget is the same for every run: `--budget-epochs N` (train.max_epochs) or `--budget-minutes M`
(train.max_minutes; minutes depend on the machine and its load), else the config's own; early stopping
(train.patience) applies to all. It is written into every output.

Under `tranx ablate` the KEY=VALUE overrides stand right after CONFIG, before the options (as for `tranx train`);
`python -m tranx.ablation.runner` also takes them after the options.

Left out: the statistics (tranx.ablation.bootstrap), the tables and the chart (tranx.ablation.report).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tranx.config import Config, load_config
from tranx.errors import TranxError
from tranx.io import write_json

#: What removes each component: config overrides of the full model.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "substitution": ("train.substitution=false",),
    "copy": ("model.copy=false",),
    # variant (a): the grammar decoder trained without the grammar mask (search still masks)
    "grammar": ("model.grammar_mask_in_training=false",),
    # variant (b), the paper's: no grammar at all, the code's tokens one by one (same encoder, attention and copy)
    "grammar_decoder": ("train.language=tokens:python",),
    "encoder": ("model.encoder=lstm",),  # the input representation: a BiLSTM over pieces instead of BERT
    "parent": ("model.parent_feeding=false",),
    "word_lstm": ("model.word_lstm=false",),
    "word_embeddings": ("model.word_embed_size=0",),
    "weight_average": ("train.weight_average=0",),
}

#: What each component is, for the report.
DESCRIPTIONS = {
    "substitution": "lexical substitution of quoted values",
    "copy": "copy mechanism",
    "grammar": "grammar mask in training",
    "grammar_decoder": "grammar decoder (Python tokens instead)",
    "encoder": "BERT encoder (LSTM instead)",
    "parent": "parent feeding",
    "word_lstm": "BiLSTM over the word states",
    "word_embeddings": "learned word embeddings",
    "weight_average": "weight averaging",
}

FULL = "full"
USAGE = ("tranx ablate CONFIG [KEY=VALUE ...] --components C1,C2,... --seeds S --out DIR\n"
         "       [--budget-epochs N | --budget-minutes M] [--jobs N] [--test-limit N] [--resamples N]")
_POLL_SECONDS = 0.5


def tranx_command() -> list[str]:
    """How to call `tranx` in a subprocess: the console script beside this Python, else `python -m tranx.cli`."""
    script = Path(sys.executable).parent / "tranx"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tranx.cli"]


# --- the plan ---------------------------------------------------------------------------------------------------

@dataclass
class Run:
    variant: str
    seed: int
    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def log(self) -> Path:
        return self.folder.parent / f"{self.name}.log"

    @property
    def steps_file(self) -> Path:
        return self.folder / "ablation-steps.json"

    def state(self) -> str:
        """done (test.json), trained (summary.json), resumable (last/) or new."""
        if (self.folder / "test.json").is_file():
            return "done"
        if (self.folder / "summary.json").is_file():
            return "trained"
        if (self.folder / "last").is_dir():
            return "resumable"
        return "new"

    def steps(self) -> list[dict]:
        """The subprocesses run for this run so far: step (train / resume / eval), wall and CPU seconds, rc."""
        if not self.steps_file.is_file():
            return []
        return json.loads(self.steps_file.read_text(encoding="utf-8"))


@dataclass
class Plan:
    config_path: str
    overrides: list[str]  # the user's, applied to every variant
    components: list[str]
    seeds: list[int]
    out: Path
    budget: dict  # {"kind": "epochs" | "minutes" | "config", "max_epochs", "max_minutes", "patience"}
    budget_overrides: list[str]
    config: Config  # the full model's config (budget included, seed aside)
    test_limit: int | None = None
    resamples: int = 10_000
    argv: list[str] = field(default_factory=list)  # the command line, for the report's provenance

    full = FULL

    @staticmethod
    def description(variant: str) -> str | None:
        return DESCRIPTIONS.get(variant)

    @property
    def dataset(self) -> str:
        return self.config.train.dataset

    @property
    def data_root(self) -> str | None:
        return self.config.train.data_root

    @property
    def variants(self) -> dict[str, list[str]]:
        """Variant name -> its overrides on top of the full model's."""
        return {FULL: [], **{c: list(COMPONENTS[c]) for c in self.components}}

    def runs(self) -> list[Run]:
        return [Run(v, s, self.out / "runs" / f"{v}-s{s}") for v in self.variants for s in self.seeds]

    def train_command(self, run: Run) -> list[str]:
        return [*tranx_command(), "train", self.config_path, *self.overrides, *self.budget_overrides,
                *self.variants[run.variant], f"train.seed={run.seed}", "--out", str(run.folder), "--threads", "1"]

    def resume_command(self, run: Run) -> list[str]:
        return [*tranx_command(), "train", "--resume", str(run.folder), "--threads", "1"]

    def eval_command(self, run: Run) -> list[str]:
        command = [*tranx_command(), "eval", str(run.folder), "--dataset", self.dataset, "--split", "test",
                   "--out", str(run.folder / "test.predictions.jsonl"), "--result", str(run.folder / "test.json"),
                   "--threads", "1"]
        if self.data_root:
            command += ["--data-root", self.data_root]
        if self.test_limit:
            command += ["--limit", str(self.test_limit)]
        return command

    def describe_budget(self) -> str:
        b = self.budget
        if b["kind"] == "minutes":
            text = (f"at most {b['max_minutes']:g} training minutes per run (--budget-minutes; train.max_minutes), "
                    f"and at most {b['max_epochs']} epochs")
        else:
            how = "--budget-epochs; train.max_epochs" if b["kind"] == "epochs" else "the config's train.max_epochs"
            text = f"at most {b['max_epochs']} epoch{'s' if b['max_epochs'] != 1 else ''} per run ({how})"
            if b["max_minutes"]:
                text += f" and {b['max_minutes']:g} minutes (the config's train.max_minutes)"
        return text + f"; early stopping after {b['patience']} dev evaluations without improvement"

    def to_json(self) -> dict:
        """What DIR/plan.json keeps: the settings that must not change between calls on the same DIR."""
        return {"config_file": self.config_path, "overrides": self.overrides, "budget": self.budget,
                "test_limit": self.test_limit, "config": _without_seed(self.config)}


def _without_seed(config: Config) -> dict:
    out = config.to_json()
    out["train"] = {k: v for k, v in out["train"].items() if k not in ("seed", "threads")}
    return out


def parse_components(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise TranxError(f"--components is empty; give some of {', '.join(COMPONENTS)}")
    unknown = [c for c in names if c not in COMPONENTS]
    if unknown:
        raise TranxError(f"unknown component{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(COMPONENTS)}")
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise TranxError(f"component {', '.join(twice)} given twice in --components")
    return names


def make_plan(config_path: str, components: list[str] | str, seeds: int, out: str | os.PathLike, *,
              budget_epochs: int | None = None, budget_minutes: float | None = None, overrides: list[str] = (),
              test_limit: int | None = None, resamples: int = 10_000, argv: list[str] | None = None) -> Plan:
    """Check everything that can be checked before training anything: components, seeds, budget, the config and
    every variant's config, and that each component is on in the config (else there is nothing to remove)."""
    if isinstance(components, str):
        components = parse_components(components)
    else:
        components = parse_components(",".join(components))
    if seeds < 1:
        raise TranxError(f"--seeds must be at least 1, got {seeds}")
    if budget_epochs is not None and budget_minutes is not None:
        raise TranxError("give --budget-epochs or --budget-minutes, not both")
    if budget_epochs is not None and budget_epochs < 1:
        raise TranxError(f"--budget-epochs must be at least 1, got {budget_epochs}")
    if budget_minutes is not None and not budget_minutes > 0:
        raise TranxError(f"--budget-minutes must be positive, got {budget_minutes}")
    if test_limit is not None and test_limit < 1:
        raise TranxError(f"--test-limit must be at least 1, got {test_limit}")
    if resamples < 1:
        raise TranxError(f"--resamples must be at least 1, got {resamples}")
    overrides = list(overrides)
    for assignment in overrides:
        key = assignment.split("=", 1)[0].strip()
        if key in ("train.seed", "seed"):
            raise TranxError("train.seed is set per run by --seeds (seeds 1..S); leave it out of the overrides")
    budget_overrides = ([f"train.max_epochs={budget_epochs}"] if budget_epochs is not None else
                        [f"train.max_minutes={budget_minutes:g}"] if budget_minutes is not None else [])
    config = load_config(config_path, overrides + budget_overrides)  # a bad key or value: one line, now
    kind = "epochs" if budget_epochs is not None else "minutes" if budget_minutes is not None else "config"
    budget = {"kind": kind, "max_epochs": config.train.max_epochs, "max_minutes": config.train.max_minutes,
              "patience": config.train.patience}
    full = _without_seed(config)
    if "grammar_decoder" in components:
        from preprocess.tasks import get_task
        written = config.train.language or get_task(config.train.dataset).language
        if written not in ("python", "asdl:python3"):
            raise TranxError(f"component 'grammar_decoder' replaces the Python grammar by Python's tokens; "
                             f"{config.train.dataset} is written in {written}")
    for component in components:
        variant = copy.deepcopy(config).override(list(COMPONENTS[component]))
        if _without_seed(variant) == full:
            raise TranxError(f"component {component!r} is already off in {config_path}"
                             f"{' with ' + ' '.join(overrides) if overrides else ''} "
                             f"({' '.join(COMPONENTS[component])}): nothing to remove")
    return Plan(config_path=str(config_path), overrides=overrides, components=components,
                seeds=list(range(1, seeds + 1)), out=Path(out), budget=budget, budget_overrides=budget_overrides,
                config=config, test_limit=test_limit, resamples=resamples, argv=list(argv or sys.argv))


def check_plan_file(plan: Plan) -> None:
    """Refuse a DIR whose runs were started with other settings; write DIR/plan.json."""
    path = plan.out / "plan.json"
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        now = plan.to_json()
        changed = [key for key in ("config", "test_limit") if before.get(key) != now[key]]  # budget: in config
        if changed:
            detail = ""
            if "config" in changed:
                keys = [f"{s}.{k}" for s in ("model", "train")
                        for k in sorted(set(before["config"][s]) | set(now["config"][s]))
                        if before["config"][s].get(k) != now["config"][s].get(k)]
                detail = f" ({', '.join(keys)})" if keys else ""
            raise TranxError(f"{plan.out} holds runs started with another {' and '.join(changed)}{detail} "
                             f"(see {path}); use another --out, or the same settings to resume")
    plan.out.mkdir(parents=True, exist_ok=True)
    write_json(path, {**plan.to_json(), "components": plan.components, "seeds": plan.seeds})


# --- running ----------------------------------------------------------------------------------------------------

@dataclass
class _Job:
    run: Run
    commands: list[tuple[str, list[str]]]  # (step, argv) still to run, in order
    started: float = 0.0
    process: subprocess.Popen | None = None
    log: object = None
    step: str = ""
    step_started: float = 0.0


def _child_env() -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    return env


def _record(run: Run, entry: dict) -> None:
    write_json(run.steps_file, [*run.steps(), entry])


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


def _finished_line(run: Run, minutes_since_start: float) -> str:
    steps = run.steps()
    train = sum(s["wall_s"] for s in steps if s["step"] in ("train", "resume") and s["rc"] == 0) / 60
    decode = sum(s["wall_s"] for s in steps if s["step"] == "eval" and s["rc"] == 0) / 60
    text = f"{run.name}: "
    summary = run.folder / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text(encoding="utf-8"))
        best = next(((k[5:], v) for k, v in s.items() if k.startswith("best_") and k != "best_epoch"), None)
        text += f"trained {train:.1f} min ({s['epochs']} epoch{'s' if s['epochs'] != 1 else ''}"
        if best and best[1] is not None:
            text += f", best dev {best[0]} {best[1]:.2f} at epoch {s['best_epoch']}"
        text += ")"
    result = json.loads((run.folder / "test.json").read_text(encoding="utf-8"))
    scores = result.get("scores", {})
    shown = ", ".join(f"{k} {scores[k]:.2f}" for k in ("bleu", "exact_match", "dfa_accuracy")
                      if scores.get(k) is not None)
    return text + f", test decoded {decode:.1f} min: {shown} [{minutes_since_start:.1f} min since start]"


def _echo(line: str) -> None:
    print(line, flush=True)  # progress shows up at once also when stdout is a file


def run_all(plan: Plan, jobs: int = 1, echo=_echo) -> list[Run]:
    """Train and decode every run not finished yet, `jobs` subprocesses at a time; one line per finished run.
    Returns the runs that failed (their logs say why); the others are finished."""
    if jobs < 1:
        raise TranxError(f"--jobs must be at least 1, got {jobs}")
    runs = plan.runs()
    states = {run.name: run.state() for run in runs}
    counts = {s: sum(1 for v in states.values() if v == s) for s in ("done", "trained", "resumable", "new")}
    echo(f"ablation of {plan.config_path} on {plan.dataset}: {len(plan.variants)} variants x {len(plan.seeds)} seeds "
         f"= {len(runs)} runs; {counts['done']} finished before, {counts['new']} to train, {counts['resumable']} to "
         f"resume, {counts['trained']} to decode; {jobs} at a time, one thread each; budget: {plan.describe_budget()}")
    start = time.time()
    finished = 0
    queue: list[_Job] = []
    for run in runs:
        state = states[run.name]
        if state == "done":
            finished += 1
            echo(f"[{finished}/{len(runs)}] {run.name}: skipped (test.json there from an earlier call)")
            continue
        commands = []
        if state == "new":
            commands.append(("train", plan.train_command(run)))
        elif state == "resumable":
            commands.append(("resume", plan.resume_command(run)))
        commands.append(("eval", plan.eval_command(run)))
        queue.append(_Job(run, commands))
    running: list[_Job] = []
    failed: list[Run] = []

    def start_step(job: _Job) -> None:
        job.step, command = job.commands.pop(0)
        job.run.folder.mkdir(parents=True, exist_ok=True)
        job.log = open(job.run.log, "a", encoding="utf-8")
        job.log.write(f"\n$ {' '.join(command)}\n")
        job.log.flush()
        job.step_started = time.time()
        job.process = subprocess.Popen(command, stdout=job.log, stderr=subprocess.STDOUT, env=_child_env())

    try:
        while queue or running:
            while queue and len(running) < jobs:
                job = queue.pop(0)
                job.started = time.time()
                start_step(job)
                running.append(job)
            time.sleep(_POLL_SECONDS)
            for job in list(running):
                pid, status, usage = os.wait4(job.process.pid, os.WNOHANG)
                if pid == 0:
                    continue
                job.process.returncode = rc = os.waitstatus_to_exitcode(status)
                job.log.close()
                _record(job.run, {"step": job.step, "rc": rc, "wall_s": round(time.time() - job.step_started, 1),
                                  "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                                  "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
                if rc != 0:
                    running.remove(job)
                    failed.append(job.run)
                    finished += 1
                    echo(f"[{finished}/{len(runs)}] {job.run.name}: FAILED in {job.step} (exit status {rc}) after "
                         f"{(time.time() - job.started) / 60:.1f} min: {_last_line(job.run.log)} (log: {job.run.log})")
                elif job.commands:
                    start_step(job)
                else:
                    running.remove(job)
                    finished += 1
                    echo(f"[{finished}/{len(runs)}] " + _finished_line(job.run, (time.time() - start) / 60))
    except BaseException:  # interrupted: stop our own children; their runs resume from last/ next time
        for job in running:
            if job.process is not None and job.process.returncode is None:
                job.process.terminate()
        for job in running:
            if job.process is not None and job.process.returncode is None:
                try:
                    job.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    job.process.kill()
        raise
    return failed


# --- the command --------------------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `tranx ablate` (shared by tranx.cli and `python -m tranx.ablation.runner`)."""
    parser.add_argument("args", nargs="*", metavar="ARG",
                        help="the config file, then overrides applied to every variant (e.g. train.train_limit=1000)")
    parser.add_argument("--components", required=True,
                        help=f"comma-separated components to remove, one variant each: {', '.join(COMPONENTS)}")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..S per variant (default 3)")
    parser.add_argument("--out", required=True, help="the ablation folder (runs/, plan.json, ablation.json/.md/.png)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--budget-epochs", type=int, default=None, metavar="N",
                        help="train every run for at most N epochs (train.max_epochs)")
    budget.add_argument("--budget-minutes", type=float, default=None, metavar="M",
                        help="train every run for at most M minutes (train.max_minutes; depends on the load)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, one thread each (default 1)")
    parser.add_argument("--test-limit", type=int, default=None, metavar="N",
                        help="decode only the first N test examples (smoke runs; stated in the outputs)")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")


def ablate(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Run (or resume) the ablation `args` describes, then write the report. 0 when every run finished."""
    from tranx.ablation.report import write_report
    if not args.args:
        raise TranxError("give a CONFIG file")
    config_path, overrides = args.args[0], args.args[1:]
    if "=" in config_path and not Path(config_path).exists():
        raise TranxError(f"the first argument is the CONFIG file, got {config_path!r}")
    plan = make_plan(config_path, args.components, args.seeds, args.out, budget_epochs=args.budget_epochs,
                     budget_minutes=args.budget_minutes, overrides=overrides, test_limit=args.test_limit,
                     resamples=args.resamples, argv=argv)
    if args.jobs < 1:
        raise TranxError(f"--jobs must be at least 1, got {args.jobs}")
    check_plan_file(plan)
    failed = run_all(plan, args.jobs)
    if failed:
        raise TranxError(f"{len(failed)} of {len(plan.runs())} runs failed ({', '.join(r.name for r in failed)}); "
                         f"see their logs in {plan.out / 'runs'}; call again to retry them (finished runs are kept)")
    written = write_report(plan)
    print(f"written: {', '.join(str(p) for p in written)}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage mistakes give one line on stderr (and exit status 2), as in tranx.cli."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    """`python -m tranx.ablation.runner ARGS`, as `tranx ablate ARGS` (overrides may also follow the options)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _Parser(prog="tranx ablate", usage=USAGE, description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        args = parser.parse_intermixed_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return ablate(args, argv=["tranx", "ablate", *argv])
    except (TranxError, ValueError, OSError) as exc:
        print(f"tranx ablate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tranx ablate: interrupted (call again to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
