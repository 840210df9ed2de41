"""The RL comparison table: arms (no KL, standard KL, prioritized KL, CE anchor) over seeds, from RL run folders.

For each run (a `tranx rl` folder): the base model's dev score (step 0), the best and the final dev score, the
step and cost (executed programs, seconds) of the best, the training reward at the start and the end, and the share
of samples that were rejected (screened or forged) or produced no code: the reward-hacking watch. Per arm: mean and
standard deviation over seeds. Sample efficiency: the executed programs (and seconds) each run needed to first reach
the final dev score of the standard-KL arm (mean over its seeds), and the ratio to the standard-KL arm.
Test numbers come from the result files `tranx eval --result` wrote for the seed chosen on dev (`--test ARM=FILE`).
With each problem's outcome (`--details ARM=FILE`, from `tranx eval --execute --details`), every two of the base and
the arms are compared by a paired bootstrap over the test problems (tranx.ablation.execution_pairs): the difference
in greedy pass@1, its 95% interval and p-value.

    python bench/rl_report.py --name codeinsight RUN2 [RUN2 ...] [--test prioritized=bench/results/...json ...]
        [--details prioritized=bench/results/...details.jsonl ...]

Writes bench/results/rl-NAME.json and .md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from tranx.ablation.execution_pairs import paired_passes, read_passes
from tranx.io import atomic_write_text, pyplot, save_figure
from tranx.provenance import describe_machine, write_result
from tranx.training.checkpoint import read_metrics

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ARMS = ("none", "standard", "prioritized", "ce_anchor")
RESAMPLES, BOOTSTRAP_SEED = 10_000, 1


def arm_of(rl: dict) -> str:
    if rl["ce_anchor"] > 0:
        return "ce_anchor"
    return rl["kl"]


def read_run(folder: Path) -> dict:
    meta = json.loads((folder / "rl.json").read_text(encoding="utf-8"))
    train, dev = read_metrics(folder / "metrics.jsonl")
    if not dev:
        raise SystemExit(f"{folder}: no dev evaluation yet")
    best = max(dev, key=lambda r: (r["dev_score"], -r["step"]))
    samples = sum(sum(r["outcomes"].values()) for r in train) or 1
    head, tail = train[:10], train[-10:]
    mean = lambda xs: round(statistics.fmean(xs), 4) if xs else None
    return {"run": str(folder), "arm": arm_of(meta["rl"]), "seed": meta["rl"]["seed"], "base": meta["base"],
            "config": meta["rl"], "steps": dev[-1]["step"], "base_dev": dev[0]["dev_score"],
            "best_dev": best["dev_score"], "best_step": best["step"], "final_dev": dev[-1]["dev_score"],
            "executed": dev[-1]["executed"], "seconds": dev[-1]["seconds"],
            "reward_first_10": mean([r["reward"] for r in head]), "reward_last_10": mean([r["reward"] for r in tail]),
            "rejected_share": round(sum(r["rejected"] for r in train) / samples, 4),
            "no_code_share": round(sum(r["no_code"] for r in train) / samples, 4),
            "mean_kl_last_10": mean([r["kl"] for r in tail]),
            "dev_curve": [(r["step"], r["dev_score"], r["executed"], r["seconds"]) for r in dev],
            "probe_curve": [(r["step"], r.get("probe_probability")) for r in dev]}


def reach(run: dict, target: float) -> dict | None:
    """Cost of the first dev evaluation after step 0 at or above `target`."""
    for step, score, executed, seconds in run["dev_curve"][1:]:
        if score >= target:
            return {"step": step, "executed": executed, "seconds": seconds}
    return None


def spread(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": round(statistics.fmean(values), 2),
            "std": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0, "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--name", required=True, help="the comparison's name: bench/results/rl-NAME.{json,md}")
    parser.add_argument("--test", action="append", default=[], metavar="ARM=RESULT.json",
                        help="the test result file of an arm (the seed chosen on dev)")
    parser.add_argument("--details", action="append", default=[], metavar="ARM=DETAILS.jsonl",
                        help="each test problem's outcome for an arm (or the base): the paired test")
    args = parser.parse_args()
    runs = [read_run(folder) for folder in args.runs]
    arms = {arm: [r for r in runs if r["arm"] == arm] for arm in ARMS if any(r["arm"] == arm for r in runs)}
    standard = arms.get("standard", [])
    target = statistics.fmean(r["final_dev"] for r in standard) if standard else None
    for r in runs:
        r["reaches_standard_final"] = reach(r, target) if target is not None else None
    summary = {}
    for arm, members in arms.items():
        reached = [r["reaches_standard_final"] for r in members if r["reaches_standard_final"]]
        summary[arm] = {"seeds": [r["seed"] for r in members], "best_dev": spread([r["best_dev"] for r in members]),
                        "final_dev": spread([r["final_dev"] for r in members]),
                        "base_dev": spread([r["base_dev"] for r in members]),
                        "executed_to_standard_final": spread([x["executed"] for x in reached]),
                        "steps_to_standard_final": spread([x["step"] for x in reached]),
                        "seconds_to_standard_final": spread([x["seconds"] for x in reached]),
                        "reached_standard_final": f"{len(reached)} of {len(members)}",
                        "rejected_share": spread([100 * r["rejected_share"] for r in members]),
                        "seconds": spread([r["seconds"] for r in members]),
                        "steps": spread([r["steps"] for r in members])}
    base_cost = summary.get("standard", {}).get("executed_to_standard_final", {}).get("mean")
    for arm, s in summary.items():
        cost = s["executed_to_standard_final"]["mean"]
        s["executed_ratio_to_standard"] = round(cost / base_cost, 3) if cost and base_cost else None
    tests = {}
    for item in args.test:
        arm, _, file = item.partition("=")
        result = json.loads(Path(file).read_text(encoding="utf-8"))
        tests[arm] = {"file": file, "decoding": result["decoding"],
                      **{k: v for k, v in (result.get("execution") or result["scores"]).items()
                         if k.startswith("pass@") or k in ("passed", "total", "bleu", "exact_match")}}
    details = dict(item.partition("=")[::2] for item in args.details)
    passes_of = {arm: read_passes(file) for arm, file in details.items()}
    counts = {}
    for arm, file in details.items():
        passes = passes_of[arm]
        counts[arm] = {"file": file, "passed": sum(passes.values()), "problems": len(passes)}
        if arm in tests and tests[arm].get("passed") not in (None, counts[arm]["passed"]):
            # a re-run's verdicts can differ from the decode's (a timeout under load): the pairs use the details
            print(f"note: {file} has {counts[arm]['passed']} passing, the result file {tests[arm]['passed']}")
    payload = {"name": args.name, "standard_final_dev_target": round(target, 2) if target is not None else None,
               "arms": summary, "tests": tests, "details": counts, "paired": paired_tests(passes_of, details), "runs": runs}
    written = write_result(RESULTS / f"rl-{args.name}.json", payload)
    atomic_write_text(RESULTS / f"rl-{args.name}.md", markdown(written))
    plot(written, RESULTS / f"rl-{args.name}.png")
    print(markdown(written))


def paired_tests(passes: dict[str, dict[str, bool]], files: dict[str, str]) -> list[dict]:
    """Every two of the base and the arms (in the order base, none, standard, prioritized, ce_anchor; the later
    minus the earlier): greedy pass@1 difference on the same test problems, paired bootstrap."""
    order = [name for name in ("base", *ARMS) if name in passes]
    return [{"a": a, "b": b, **paired_passes(passes[a], passes[b], names=(files[a], files[b]), resamples=RESAMPLES,
                                              seed=BOOTSTRAP_SEED).to_json(2)}
            for i, b in enumerate(order) for a in order[i + 1:]]


def plot(result: dict, path: Path) -> None:
    """Dev score against executed programs, and the probability of the probe set's correct critical actions
    against steps (the paper's Fig. 4), one line per run, coloured by arm."""
    plt = pyplot()
    if plt is None:
        return
    colours = {"none": "tab:gray", "standard": "tab:blue", "prioritized": "tab:red", "ce_anchor": "tab:green"}
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    seen = set()
    for run in result["runs"]:
        label = run["arm"] if run["arm"] not in seen else None
        seen.add(run["arm"])
        curve = run["dev_curve"]
        left.plot([c[2] for c in curve], [c[1] for c in curve], marker="o", color=colours[run["arm"]], label=label)
        probes = [(step, p) for step, p in run["probe_curve"] if p is not None]
        if probes:
            right.plot([s for s, _ in probes], [p for _, p in probes], marker="x", color=colours[run["arm"]], label=label)
    left.set(xlabel="programs executed", ylabel="dev score (greedy)", title=f"{result['name']}: dev")
    left.legend()
    right.set(xlabel="step", ylabel="mean p(correct critical action)", title="probe set")
    if right.lines:
        right.legend()
    else:  # an empty panel would read as a plot of nothing measured wrongly
        right.text(0.5, 0.5, "no probe set in these runs\n(rl.probe=FILE, from tranx critical --out FILE)",
                   ha="center", va="center", transform=right.transAxes)
    figure.tight_layout()
    save_figure(figure, path)


def _ms(s: dict) -> str:
    if s["mean"] is None:
        return "-"
    return f"{s['mean']} ± {s['std']}" if s["n"] > 1 else f"{s['mean']}"


def _sampled_text(sampled: dict | None) -> str:
    if not sampled:
        return ""
    return f"; {sampled['decoding']}: " + ", ".join(f"{k} {v}" for k, v in sampled.items() if k.startswith("pass@"))


def markdown(result: dict) -> str:
    lines = [f"RL on {result['name']}: `{' '.join(result['provenance']['command'].split()[:3])} ...` "
             f"(commit {result['provenance']['commit'][:8]}). Dev: greedy, mean ± std over seeds.", "",
             "| arm | seeds | steps | base dev | best dev | final dev | executed programs (wall minutes) to reach standard "
             "KL's final dev (ratio) | rejected samples % | minutes per run | test (seed chosen on dev) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    base = result["tests"].get("base")
    if base:
        metric = (f"greedy pass@1 **{base['pass@1']}**" if "pass@1" in base else
                  f"BLEU **{base['bleu']:.2f}**, exact match {base['exact_match']:.2f} ({base['decoding']})")
        lines.append(f"| supervised base (no RL) | - | - | - | - | - | - | - | - | "
                     f"{metric}{_sampled_text(result['tests'].get('base-samples'))} |")
    for arm, s in result["arms"].items():
        greedy, sampled = result["tests"].get(arm), result["tests"].get(f"{arm}-samples")
        test_text = "-"
        if greedy:
            test_text = (f"greedy pass@1 **{greedy['pass@1']}**" if "pass@1" in greedy else
                         f"BLEU **{greedy['bleu']:.2f}**, exact match {greedy['exact_match']:.2f} ({greedy['decoding']})")
        if not greedy and all(r["best_step"] == 0 for r in result["runs"] if r["arm"] == arm):
            test_text = "the base (no step beat it on dev)"
        test_text += _sampled_text(sampled)
        ratio = s["executed_ratio_to_standard"]
        below_base = (result["standard_final_dev_target"] is not None and s["base_dev"]["mean"] is not None
                      and result["standard_final_dev_target"] <= s["base_dev"]["mean"])
        executes = any(r["executed"] for r in result["runs"])  # a reward without execution: count steps instead
        cost = _ms(s["executed_to_standard_final"]) if executes else f"step {_ms(s['steps_to_standard_final'])}"
        wall = (s.get("seconds_to_standard_final") or {}).get("mean")
        cost += f", {wall / 60:.1f} min" if executes and wall else ""
        reached = ("standard KL ended at or below the base's dev" if below_base else
                   f"{cost} ({s['reached_standard_final']} runs{', ' + str(ratio) + 'x' if ratio else ''})")
        minutes = s["seconds"]["mean"] / 60 if s["seconds"]["mean"] else 0
        lines.append(f"| {arm} | {len(s['seeds'])} | {_ms(s['steps'])} | {_ms(s['base_dev'])} | {_ms(s['best_dev'])} | "
                     f"{_ms(s['final_dev'])} | {reached} | {_ms(s['rejected_share'])} | {minutes:.1f} | {test_text} |")
    paired = result.get("paired") or []
    if paired:
        lines += ["", f"Paired bootstrap over the {paired[0]['examples']:,} test problems ({RESAMPLES:,} resamples, "
                  f"seed {BOOTSTRAP_SEED}), greedy pass@1 of the first minus the second:", "",
                  "| comparison | difference (points) | 95% interval | p |", "|---|---|---|---|"]
        lines += [f"| {p['a']} - {p['b']} | {p['delta']:+.2f} | [{p['low']:+.2f}, {p['high']:+.2f}] | {p['p_value']:.3g} |"
                  for p in paired]
    lines += ["", describe_machine(result["provenance"]["machine"])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
