"""The `tranx rl` and `tranx critical` commands: their arguments checked, the work handed to the trainer and the
critical-action analysis (the argument definitions stay in tranx.cli, which must be cheap to import).
"""

from __future__ import annotations

import json
from pathlib import Path

from preprocess.datasets import resolve_data_root
from preprocess.tasks import TaskError, get_task

from tranx.errors import TranxError
from tranx.io import write_json
from tranx.provenance import write_result
from tranx.rl.config import load_rl_config
from tranx.rl.critical import analyse
from tranx.rl.problems import load_rl_problems
from tranx.rl.rewards import build_reward
from tranx.rl.trainer import RLTrainer, load_rl_run
from tranx.translator import Translator, set_threads


def rl(args) -> int:
    """`tranx rl RUN CONFIG [rl.KEY=VALUE ...] --out RUN2` or `tranx rl --resume RUN2 [rl.KEY=VALUE ...]`."""
    if args.threads is not None and args.threads < 1:
        raise TranxError(f"--threads must be at least 1, got {args.threads}")
    if args.resume is not None:
        if args.out is not None or args.args and not all("=" in a for a in args.args):
            raise TranxError("--resume RUN2 continues RUN2 in place: give only KEY=VALUE overrides (e.g. rl.steps=400)")
        base, config = load_rl_run(args.resume)
        before = config.to_json()["rl"]
        config = config.override(list(args.args))
        changed = sorted(k for k, v in config.to_json()["rl"].items() if v != before[k])
        fixed = [k for k in changed if k not in ("steps", "eval_every", "threads", "workers", "lr")]
        if fixed:
            raise TranxError(f"cannot change rl.{', rl.'.join(fixed)} when resuming {args.resume} (start a new run)")
        if changed:
            meta = json.loads((Path(args.resume) / "rl.json").read_text(encoding="utf-8"))
            write_json(Path(args.resume) / "rl.json", {**meta, **config.to_json()})
        out = args.resume
    else:
        if len(args.args) < 2:
            raise TranxError("give the supervised RUN and an RL CONFIG file (or --resume RUN2)")
        if args.out is None:
            raise TranxError("--out RUN2 is required (the RL run folder to write)")
        base, config_path, overrides = args.args[0], args.args[1], args.args[2:]
        config = load_rl_config(config_path, overrides)
        out = args.out
    if args.threads is not None:
        config.threads = args.threads
    summary = RLTrainer(base, config, out, resume=args.resume is not None).train()
    print(json.dumps({"run": str(out), **summary}, ensure_ascii=False))
    return 0


def critical(args) -> int:
    """`tranx critical RUN [--dataset D] [--split S] ...`: the report of tranx.rl.critical.analyse."""
    for name in ("limit", "max_branches", "alternatives", "threads", "workers"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise TranxError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.threshold is not None and not 0.0 < args.threshold <= 1.0:
        raise TranxError(f"--threshold is a certainty in (0, 1], got {args.threshold}")
    if args.out is not None and Path(args.out).is_dir():
        raise TranxError(f"--out {args.out} is a folder; give the report file to write")
    task = None
    if args.dataset is not None:
        try:
            task = get_task(args.dataset)
        except TaskError as exc:
            raise TranxError(str(exc)) from None
    set_threads(args.threads)
    translator = Translator.from_pretrained(args.run)
    task = task or translator.task
    problems, excluded = load_rl_problems(task, args.split, args.data_root, workers=args.workers)
    problems = problems[:args.limit] if args.limit is not None else problems
    if not problems:
        raise TranxError(f"no problems to analyse in {task.name} {args.split}")
    reward_name = "unit_tests" if task.unit_tests else "exact_match"
    report = {"run": str(args.run), "dataset": task.name, "split": args.split, "reward": reward_name,
              "excluded": len(excluded),
              **analyse(translator, problems, build_reward(reward_name, task, workers=args.workers, snippets=args.snippets),
                        max_branches=args.max_branches, alternatives=args.alternatives, certainty=args.certainty,
                        threshold=args.threshold)}
    if args.out is not None:  # with its provenance: a report can be a result file under bench/results/
        write_result(args.out, report, config=translator.config.to_json(),
                     data_folders={task.name: resolve_data_root(args.data_root, task.name) / task.name})
    print(json.dumps({k: v for k, v in report.items() if k != "problems"}, ensure_ascii=False))
    return 0
