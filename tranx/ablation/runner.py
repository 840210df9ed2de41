"""`tranx ablate`: the full model and one variant per removed component, over seeds, each decoded once on test.

    tranx ablate CONFIG [KEY=VALUE ...] --components substitution,copy,grammar,encoder,parent --seeds 3 --out DIR
        [--budget-epochs N | --budget-minutes M] [--jobs 2] [--test-limit N] [--resamples 10000]
        [--rl-config FILE]   (with the stages rl_none, rl_standard, rl_prioritized; rl.KEY=VALUE overrides go to them)
        [--records DIR2]     (finished runs' result files kept in DIR2 and restored from it: tranx.ablation.records)

Variants are "full" (CONFIG with the overrides) and, per component, the same with the component's overrides of
`COMPONENTS` added. Each variant is trained with seeds 1..S (`train.seed`) into DIR/runs/<variant>-s<seed>/ by
`tranx train` as a subprocess with one thread (`--jobs` of them at once; their output goes to
DIR/runs/<variant>-s<seed>.log); training chooses its checkpoint (best/) on dev, and the test split is then decoded
once with it by `tranx eval --result DIR/runs/<variant>-s<seed>/test.json`. An RL stage's run (`rl_none`,
`rl_standard`, `rl_prioritized`) is `tranx rl` of full-s<seed> with the --rl-config file, started as soon as that run
is trained (ahead of the variants still queued); its best/ is chosen on dev by the RL run and decoded the same way.
Finally the report (`tranx.ablation.report`): DIR/ablation.json, ablation.md and ablation.png.

Resumable: a run whose test.json is there is skipped; a trained run (summary.json) is only decoded; a run with a
last/ checkpoint but no summary.json is continued with `tranx train --resume`; anything else starts afresh.
DIR/plan.json keeps the settings the runs were started with (the config after the overrides, the budget, the test
limit): a later call with other settings is refused rather than mixing runs; components and seeds may be added.

The budget is the same for every run: `--budget-epochs N` (train.max_epochs) or `--budget-minutes M`
(train.max_minutes; minutes depend on the machine and its load), else the config's own; early stopping
(train.patience) applies to all. It is written into every output.

Under `tranx ablate` the KEY=VALUE overrides stand right after CONFIG, before the options (as for `tranx train`);
`python -m tranx.ablation.runner` also takes them after the options.

Elsewhere: the variants, runs and their commands (tranx.ablation.plan), the statistics
(tranx.ablation.bootstrap), the tables and the chart (tranx.ablation.report).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tranx.ablation.plan import COMPONENTS, STAGES, Plan, Run, check_plan_file, make_plan
from tranx.ablation.records import restore, save_all, save_run
from tranx.errors import TranxError
from tranx.io import write_json

USAGE = ("tranx ablate CONFIG [KEY=VALUE ...] --components C1,C2,... --seeds S --out DIR\n"
         "       [--budget-epochs N | --budget-minutes M] [--jobs N] [--test-limit N] [--resamples N]\n"
         "       [--rl-config FILE] [--records DIR2]")
_POLL_SECONDS = 0.5


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
        if run.base is not None:  # an RL stage's summary
            text += (f"RL {train:.1f} min ({s['steps']} steps, best dev {s['dev_metric']} {s['best_dev_score']:.2f} "
                     f"at step {s['best_step']})")
        else:
            best = next(((k[5:], v) for k, v in s.items() if k.startswith("best_") and k != "best_epoch"), None)
            text += f"trained {train:.1f} min ({s['epochs']} epoch{'s' if s['epochs'] != 1 else ''}"
            if best and best[1] is not None:
                text += f", best dev {best[0]} {best[1]:.2f} at epoch {s['best_epoch']}"
            text += ")"
    result = json.loads((run.folder / "test.json").read_text(encoding="utf-8"))
    scores = {**result.get("scores", {}), **result.get("execution", {})}
    shown = ", ".join(f"{k} {scores[k]:.2f}" for k in ("pass@1", "bleu", "exact_match", "dfa_accuracy")
                      if scores.get(k) is not None)
    return text + f", test decoded {decode:.1f} min: {shown} [{minutes_since_start:.1f} min since start]"


def _echo(line: str) -> None:
    print(line, flush=True)  # progress shows up at once also when stdout is a file


def run_all(plan: Plan, jobs: int = 1, echo=_echo, on_done=None) -> list[Run]:
    """Train and decode every run not finished yet, `jobs` subprocesses at a time; one line per finished run, and
    `on_done(run)` when given. Returns the runs that failed (their logs say why); the others are finished."""
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

    def ready(job: _Job) -> bool:  # an RL stage waits for its full run's training
        return job.run.base is None or job.run.base.state() in ("trained", "done")

    def cannot_start(job: _Job, why: str = "did not train") -> None:
        nonlocal finished
        queue.remove(job)
        failed.append(job.run)
        finished += 1
        echo(f"[{finished}/{len(runs)}] {job.run.name}: FAILED: its base {job.run.base.name} {why}")

    for job in [j for j in queue if j.run.base is not None and j.run.base.state() == "done"
                and not (j.run.base.folder / "best").is_dir()]:
        cannot_start(job, "has no checkpoint here (restored from records?): remove its test.json to train it again")

    try:
        while queue or running:
            for job in [j for j in queue if j.run.base in failed]:
                cannot_start(job)
            # a ready RL stage goes first: it is short, and its base's checkpoint may not outlive this machine
            while len(running) < jobs and (job := next((j for j in sorted(queue, key=lambda j: j.run.base is None)
                                                        if ready(j)), None)) is not None:
                queue.remove(job)
                job.started = time.time()
                start_step(job)
                running.append(job)
            if not running:  # what is left waits for a base that is neither trained nor on its way
                for job in list(queue):
                    cannot_start(job)
                continue
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
                    if on_done is not None:
                        on_done(job.run)
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
                        help=f"comma-separated components to remove, one variant each: {', '.join(COMPONENTS)}; "
                             f"or stages to add after training: {', '.join(STAGES)} (with --rl-config)")
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
    parser.add_argument("--rl-config", default=None, metavar="FILE",
                        help="the RL config of the RL stages (RL from each full run)")
    parser.add_argument("--records", default=None, metavar="DIR2",
                        help="keep each finished run's result files in DIR2 (no checkpoints: small enough to commit) "
                             "and restore from there the finished runs --out lacks, e.g. on another machine")


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
                     resamples=args.resamples, argv=argv, rl_config=args.rl_config)
    if args.jobs < 1:
        raise TranxError(f"--jobs must be at least 1, got {args.jobs}")
    on_done = None
    if args.records:
        records = Path(args.records)
        restored = restore(plan, records)
        if restored:
            print(f"restored from {records}: {', '.join(restored)}", flush=True)
    check_plan_file(plan)
    if args.records:
        save_all(plan, records)  # also the runs finished before --records was first given
        on_done = lambda run: save_run(plan, run, records)  # noqa: E731
    failed = run_all(plan, args.jobs, on_done=on_done)
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
