"""Run the RL arms over seeds from one supervised run, pick each arm's seed on dev, decode test once, and write the
comparison table (bench/rl_report.py). Resumable: a finished run (summary.json) is skipped, an unfinished one resumed.

    python bench/rl_arms.py BASE_RUN --name codeinsight [--config configs/rl-codeinsight.json] [--seeds 1 2 3]
        [--arms none standard prioritized ce_anchor] [--jobs 2] [--test] [--samples 10] [rl.KEY=VALUE ...]

Runs go to runs/rl/NAME/ARM-sSEED; each arm's chosen seed is evaluated on test greedily (`tranx eval --beam-size 1
--execute` for a task with unit tests), its predictions, result and each problem's outcome (.details.jsonl: the
paired test between arms) written to bench/results/rl-ARM-NAME-test.*; with --samples N also N samples at
temperature 0.6 for pass@k.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRANX = str(Path(sys.executable).parent / "tranx")
ARM_OVERRIDES = {"none": ["rl.kl=none"], "standard": ["rl.kl=standard"], "prioritized": ["rl.kl=prioritized"],
                 "ce_anchor": ["rl.kl=none", "rl.ce_anchor=1.0"]}


def command(base: str, config: str, run: Path, arm: str, seed: int, overrides: list[str]) -> list[str]:
    if (run / "last").is_dir():
        return [TRANX, "rl", "--resume", str(run), *[o for o in overrides if o.split("=")[0] in
                                                      ("rl.steps", "rl.eval_every", "rl.workers", "rl.threads")]]
    return [TRANX, "rl", base, config, *ARM_OVERRIDES[arm], f"rl.seed={seed}", *overrides, "--out", str(run)]


def run_all(jobs: list[tuple[list[str], Path]], parallel: int) -> None:
    running: list[tuple[subprocess.Popen, Path, object]] = []
    queue = list(jobs)
    while queue or running:
        while queue and len(running) < parallel:
            cmd, run = queue.pop(0)
            run.mkdir(parents=True, exist_ok=True)
            log = open(run.parent / f"{run.name}.log", "a", encoding="utf-8")
            print(f"start: {' '.join(cmd)}", flush=True)
            running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT), run, log))
        time.sleep(5)
        for item in list(running):
            process, run, log = item
            if process.poll() is not None:
                log.close()
                running.remove(item)
                print(f"done ({process.returncode}): {run}", flush=True)
                if process.returncode:
                    raise SystemExit(f"{run} failed; see {run.parent / (run.name + '.log')}")


def chosen_seed(runs: list[Path]) -> Path:
    """The run with the best dev score (ties: the earlier seed)."""
    def best(run: Path) -> float:
        return json.loads((run / "summary.json").read_text())["best_dev_score"]
    return max(runs, key=lambda r: (best(r), -runs.index(r)))


def compress(path: Path) -> None:
    """Gzip a file in place (no time in the header: the same bytes every time): 10 samples of every test
    problem are over 2 MB as text, about 300 KB gzipped (`gunzip -k` it before `tranx execute`)."""
    with open(path, "rb") as raw, gzip.GzipFile(path.with_name(path.name + ".gz"), "wb", 9, mtime=0) as packed:
        shutil.copyfileobj(raw, packed)
    path.unlink()


def decoded_from(result: dict | None, run: Path) -> bool:
    """Whether a test result was decoded from `run` as it is now: not from another seed's run, nor from an earlier
    run trained into the same folder (its training summary then differs)."""
    if result is None or Path(result["run"]).resolve() != run.resolve():
        return False
    summary = run / "summary.json"
    return not summary.is_file() or json.loads(summary.read_text()) == result["train_summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("--name", required=True)
    parser.add_argument("--config", default="configs/rl-codeinsight.json")
    parser.add_argument("--dataset", default=None, help="the test set's data set (default: the RL config's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--arms", nargs="+", default=list(ARM_OVERRIDES), choices=list(ARM_OVERRIDES))
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (one thread each)")
    parser.add_argument("--test", action="store_true", help="decode test with each arm's chosen seed")
    parser.add_argument("--samples", type=int, default=0, help="with --test: also N samples at T 0.6 (pass@k)")
    parser.add_argument("--workers", type=int, default=1)
    argv = sys.argv[1:]  # rl.KEY=VALUE overrides may stand anywhere, also after --seeds 1 2 3
    overrides = [a for a in argv if a.startswith("rl.") and "=" in a]
    args = parser.parse_args([a for a in argv if a not in overrides])
    args.overrides = overrides
    folder = ROOT / "runs" / "rl" / args.name  # absolute for the runs; reported relative to ROOT
    runs = {(arm, seed): folder / f"{arm}-s{seed}" for arm in args.arms for seed in args.seeds}
    todo = [(command(args.base, args.config, run, arm, seed, args.overrides), run)
            for (arm, seed), run in runs.items() if not (run / "summary.json").is_file()]
    run_all(todo, args.jobs)
    tests = []
    if args.test:
        # the settings the runs were made with (config file and overrides, as `tranx rl` parsed them)
        used = json.loads((next(iter(runs.values())) / "rl.json").read_text())["rl"]
        dataset = (args.dataset or used["dataset"]
                   or json.loads((ROOT / args.base / "config.json").read_text())["train"]["dataset"])
        # a snippet model's programs are run as the problem's function, in RL and on test alike
        snippets = ["--snippets"] if used["snippets"] else []
        chosen = {arm: chosen_seed([runs[(arm, s)] for s in args.seeds]).relative_to(ROOT) for arm in args.arms}
        for arm, run in [("base", Path(args.base)), *chosen.items()]:
            if arm != "base" and json.loads((ROOT / run / "summary.json").read_text())["best_step"] == 0:
                continue  # no step beat the base on dev: its best/ is the base, whose test result is already there
            stem = Path("bench") / "results" / f"rl-{arm}-{args.name}-test"  # relative: recorded in the result
            result = Path(f"{stem}.json")
            earlier = json.loads((ROOT / result).read_text()) if (ROOT / result).is_file() else None
            details = Path(f"{stem}.details.jsonl")  # each problem's outcome: the paired test between arms
            executes = dataset == "codeinsight"
            if not decoded_from(earlier, ROOT / run):
                # greedy with unit tests (pass@1), else the run's own beam, as the supervised numbers were decoded
                how = (["--beam-size", "1", "--execute", "--workers", str(args.workers), *snippets,
                        "--details", str(details)] if executes else [])
                subprocess.run([TRANX, "eval", str(run), "--dataset", dataset, "--split", "test", *how,
                                "--out", f"{stem}.predictions.jsonl", "--result", str(result), "--threads", "1"],
                               check=True, cwd=ROOT)
            elif executes and not (ROOT / details).is_file():  # decoded before details were kept: run it again
                subprocess.run([TRANX, "execute", f"{stem}.predictions.jsonl", "--dataset", dataset, "--split",
                                "test", "--workers", str(args.workers), *snippets, "--details", str(details)],
                               check=True, cwd=ROOT)
            tests += ["--test", f"{arm}={result}"]
            if (ROOT / details).is_file():
                tests += ["--details", f"{arm}={details}"]
            sampled = Path(f"{stem}-samples.json")
            if args.samples and dataset == "codeinsight" and not (ROOT / sampled).is_file():
                subprocess.run([TRANX, "eval", str(run), "--dataset", dataset, "--split", "test", "--samples",
                                str(args.samples), "--temperature", "0.6", "--out", f"{stem}-samples.predictions.jsonl",
                                "--result", str(sampled), "--threads", "1", "--execute", "--workers",
                                str(args.workers), *snippets], check=True, cwd=ROOT)
                compress(ROOT / f"{stem}-samples.predictions.jsonl")
            if (ROOT / sampled).is_file():
                tests += ["--test", f"{arm}-samples={sampled}"]
    subprocess.run([sys.executable, "bench/rl_report.py", "--name", args.name,
                    *(str(run.relative_to(ROOT)) for run in runs.values()), *tests], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
