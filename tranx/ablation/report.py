"""The ablation's report, from its finished runs: DIR/ablation.json, DIR/ablation.md and DIR/ablation.png.

Per variant and metric (the task's: BLEU and exact match, or DFA accuracy and string match): the test score of each
seed, their mean +- std (sample standard deviation; none for one seed), and the delta to the full model (variant
minus full, mean over seeds) with a 95% interval and a two-sided p-value from a paired bootstrap over test examples,
seed s of the variant paired with seed s of the full model (tranx.ablation.bootstrap). The per-example scores are
recomputed from each run's predictions and must agree with the score its test.json recorded. Also: the budget, the
epochs each run trained, minutes and the total CPU time (training and decoding, every subprocess), and the paper's
delta where it gives one (`PAPER_DELTAS`). For a Python task, the share of test predictions that do not parse
(only a decoder without a grammar, `grammar_decoder`, can write such code).

ablation.json is written by `tranx.provenance.write_result` (command, commit, the full model's config, the test data's
hashes, machine).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from preprocess.tasks import PAPER_ABLATION_DELTAS

from tranx.ablation.bootstrap import ExampleScores, paired_bootstrap
from tranx.errors import TranxError
from tranx.io import atomic_write_text, pyplot, save_figure
from tranx.metrics import tokenize_for_bleu_eval
from tranx.provenance import describe_machine, write_result

PAPER = "Beau & Crabbé 2022, REFERENCE.md section 2"
PAPER_NOTE = "read from the paper's chart, approximate"
#: The paper's delta of removing each component, in BLEU points on each test set, in this report's sign (the model
#: without the component minus the full model, so minus the contribution the paper charts: substitution +9.13 on
#: CoNaLa is -9.13 here). Read from the paper's chart, approximate. None: the paper gives no number (it has no parent
#: feeding, which is broken and off in its system, no word BiLSTM, word embeddings or weight averaging).
#: Its "grammatical constraints" removes the grammar from the decoder altogether: our `grammar_decoder` (variant (b));
#: `grammar` only drops the mask in training (variant (a)), which the paper did not study.
PAPER_DELTAS = PAPER_ABLATION_DELTAS  # the published numbers live in the task table (they name data sets)
PAPER_METRIC = "bleu"

LABELS = {"bleu": "BLEU", "exact_match": "exact match", "dfa_accuracy": "DFA accuracy", "pass@1": "pass@1"}
BOOTSTRAP_SEED = 1
_AGREE = {"pass@1": 0.0051}  # test.json rounds pass@1 to 2 decimals, other scores to 4
_AGREE_DEFAULT = 6e-5


def paper_delta(component: str, dataset: str) -> float | None:
    return (PAPER_DELTAS.get(component) or {}).get(dataset)


def _metrics(task) -> list[str]:
    """The task's metrics, its headline first (pass@1 of the unit tests for a task that has them)."""
    if task.metric == "dfa_accuracy":
        return ["dfa_accuracy", "exact_match"]
    scored = [task.metric] + [m for m in ("bleu", "exact_match") if m != task.metric]
    return ["pass@1", *scored] if task.unit_tests else scored


def execution_scores(path: Path, ids: list[str] | None) -> tuple[list[str], ExampleScores]:
    """A run's top-1 unit-test verdicts (`tranx eval --execute --details`), per problem, in the order of `ids` (the
    first run's, which every run must share: problems whose reference fails here are left out of all)."""
    if not path.is_file():
        raise TranxError(f"{path} is missing: decode the run again with --execute --details (its test.json goes first)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    passed = {r["id"]: bool(r["outcomes"]) and r["outcomes"][0] == "pass" for r in rows}
    order = ids if ids is not None else [r["id"] for r in rows]
    if sorted(order) != sorted(passed):
        raise TranxError(f"{path}: its problems differ from the other runs'")
    return order, ExampleScores.accuracy([passed[i] for i in order])


def _references(plan):
    from preprocess.splits import split_examples
    raw = split_examples(plan.dataset, plan.data_root, splits=["test"])["test"]
    return raw[:plan.test_limit] if plan.test_limit else raw


def example_scores(task, metric: str, predictions: list[str], references: list[str],
                   reference_tokens: list[list[str]] | None = None) -> ExampleScores:
    """One run's per-example scores on `metric`, as the task scores them (tranx.evaluation.scoring.task_scores)."""
    from tranx.evaluation.scoring import in_reference_style, task_scores
    if metric == "bleu":
        refs = reference_tokens or [tokenize_for_bleu_eval(r) for r in references]
        return ExampleScores.bleu([tokenize_for_bleu_eval(in_reference_style(task, p)) for p in predictions], refs)
    return ExampleScores.accuracy([task_scores(task, [p], [r])[metric] == 100.0
                                   for p, r in zip(predictions, references)])


def unparseable_share(task, predictions: list[str]) -> float | None:
    """Percent of `predictions` that do not parse as the task's code (None for a task not in Python). Parsing only:
    generated code never runs here."""
    import warnings
    from tranx.errors import ConversionError
    from tranx.languages import get_language
    if task.language not in ("python", "asdl:python3"):
        return None
    python, bad = get_language("python"), 0
    with warnings.catch_warnings():  # invalid escapes in string literals warn on parsing
        warnings.simplefilter("ignore")
        for code in predictions:
            try:
                python.parse_ast(task.to_parseable(code))
            except ConversionError:
                bad += 1
    return 100.0 * bad / len(predictions) if predictions else 0.0


def _training_summary(run) -> dict:
    """Epochs and training seconds of a run; an RL stage's run: its base's epochs, and its RL steps and seconds."""
    read = lambda folder: json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    if run.base is None:
        s = read(run.folder)
        return {"epochs": s["epochs"], "best_epoch": s["best_epoch"], "train_seconds": s["train_seconds"]}
    base, rl = read(run.base.folder), read(run.folder)
    return {"epochs": base["epochs"], "best_epoch": base["best_epoch"], "train_seconds": rl["rl_seconds"],
            "rl_steps": rl["steps"], "rl_best_step": rl["best_step"], "rl_executed_programs": rl["executed_programs"]}


def _spread(values: list[float]) -> dict:
    return {"per_seed": [round(v, 4) for v in values], "mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else None}


def collect(plan) -> dict:
    """Everything the report shows, as JSON (without provenance). `plan`: a tranx.ablation.plan.Plan (not imported
    here: the runner calls the report)."""
    from preprocess.tasks import get_task
    from tranx.evaluation.scoring import read_predictions
    task = get_task(plan.dataset)
    metrics = _metrics(task)
    raw = _references(plan)
    ids, references = [e.id for e in raw], [e.code for e in raw]
    reference_tokens = [tokenize_for_bleu_eval(r) for r in references]
    scores: dict[str, dict[int, dict[str, ExampleScores]]] = {}
    variants, cpu_total, decoding = {}, 0.0, set()
    problem_ids = None  # the unit-tested problems, in the first run's order
    for variant, extra in plan.variants.items():
        runs = [r for r in plan.runs() if r.variant == variant]
        scores[variant], seeds = {}, []
        for run in runs:
            result_file = run.folder / "test.json"
            if not result_file.is_file():
                raise TranxError(f"{run.folder} has no test.json yet: run the ablation to the end first")
            result = json.loads(result_file.read_text(encoding="utf-8"))
            decoding.add(result.get("decoding"))
            read = read_predictions(run.folder / "test.predictions.jsonl", ids)
            hyps = [read.candidates.get(i, [""])[0] for i in ids]
            scores[variant][run.seed] = {m: example_scores(task, m, hyps, references, reference_tokens)
                                         for m in metrics if m != "pass@1"}
            recorded_scores = dict(result.get("scores", {}))
            if "pass@1" in metrics:
                problem_ids, scores[variant][run.seed]["pass@1"] = execution_scores(
                    run.execution_details, problem_ids)
                recorded_scores["pass@1"] = result["execution"]["pass@1"]
            for m in metrics:
                recorded = recorded_scores.get(m)
                ours = scores[variant][run.seed][m].score()
                if recorded is not None and abs(recorded - ours) > _AGREE.get(m, _AGREE_DEFAULT):
                    raise TranxError(f"{run.folder}: {m} recomputed per example is {ours:.4f}, test.json says "
                                     f"{recorded}: the predictions file and the result disagree")
            summary = _training_summary(run)
            steps = run.steps()
            cpu = sum(s["cpu_s"] for s in steps)
            cpu_total += cpu
            seeds.append({"seed": run.seed, "run": str(run.folder.relative_to(plan.out)),
                          **summary,
                          "train_wall_seconds": round(sum(s["wall_s"] for s in steps
                                                          if s["step"] in ("train", "resume")), 1),
                          "test_wall_seconds": round(sum(s["wall_s"] for s in steps if s["step"] == "eval"), 1),
                          "cpu_seconds": round(cpu, 1), "unparseable": unparseable_share(task, hyps),
                          **{m: round(scores[variant][run.seed][m].score(), 4) for m in metrics}})
        variants[variant] = {
            "removes": plan.description(variant), "overrides": extra, "seeds": seeds,
            "metrics": {m: _spread([s[m] for s in seeds]) for m in metrics},
            "epochs": _spread([s["epochs"] for s in seeds]),
            "unparseable": (_spread([s["unparseable"] for s in seeds]) if seeds[0]["unparseable"] is not None
                            else None),
            "delta": None, "paper_delta": None}
    for variant in plan.components:
        variants[variant]["delta"] = {
            m: paired_bootstrap([(scores[variant][s][m], scores[plan.full][s][m]) for s in plan.seeds],
                                resamples=plan.resamples, seed=BOOTSTRAP_SEED).to_json()
            for m in metrics}
        variants[variant]["paper_delta"] = ({"metric": PAPER_METRIC, "delta": paper_delta(variant, plan.dataset),
                                             "source": PAPER, "note": PAPER_NOTE}
                                            if paper_delta(variant, plan.dataset) is not None else None)
    return {"full_variant": plan.full, "config_file": plan.config_path, "overrides": plan.overrides,
            "dataset": plan.dataset, "split": "test",
            "test_examples": len(ids), "test_limit": plan.test_limit, "decoding": sorted(d for d in decoding if d),
            "metrics": metrics, "headline_metric": metrics[0], "components": plan.components,
            "component_overrides": {c: plan.variants[c] for c in plan.components}, "seeds": plan.seeds,
            "budget": {**plan.budget, "text": plan.describe_budget()},
            "bootstrap": {"resamples": plan.resamples, "seed": BOOTSTRAP_SEED, "confidence": 0.95,
                          "method": "paired over test examples; seed s of a variant against seed s of full, the "
                                    "delta of each resample averaged over seed pairs; percentile interval; "
                                    "two-sided p = 2 min(P(delta <= 0), P(delta >= 0))"},
            "rl": plan.to_json().get("rl"), "cpu_seconds": round(cpu_total, 1), "variants": variants}


def write_report(plan) -> list[Path]:
    """Write DIR/ablation.json (with provenance), ablation.md and ablation.png (when matplotlib is there)."""
    from preprocess.datasets import resolve_data_root
    payload = collect(plan)
    folder = resolve_data_root(plan.data_root, plan.dataset) / plan.dataset
    path = plan.out / "ablation.json"
    written = write_result(path, payload, config=plan.config.to_json(),
                           data_folders={plan.dataset: folder} if folder.is_dir() else None, argv=plan.argv)
    atomic_write_text(plan.out / "ablation.md", markdown(written))
    out = [path, plan.out / "ablation.md"]
    if plot(written, plan.out / "ablation.png"):
        out.append(plan.out / "ablation.png")
    return out


# --- Markdown -----------------------------------------------------------------------------------------------------

def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _mean_std(s: dict) -> str:
    return f"{s['mean']:.2f} ± {s['std']:.2f}" if s["std"] is not None else f"{s['mean']:.2f}"


def _minutes_per_run(variant: dict) -> float:
    seeds = variant["seeds"]
    return sum(s["train_wall_seconds"] + s["test_wall_seconds"] for s in seeds) / 60 / len(seeds)


def markdown(result: dict) -> str:
    metrics, n_seeds = result["metrics"], len(result["seeds"])
    provenance = result["provenance"]
    limit = f", the first {result['test_limit']} only" if result["test_limit"] else ""
    seeds = f"Seed{'s' if n_seeds > 1 else ''} {', '.join(map(str, result['seeds']))}"
    bootstrap = result["bootstrap"]
    lines = [f"# Ablation: {result['config_file']} on {result['dataset']} test ({result['test_examples']} "
             f"examples{limit})",
             "",
             f"Budget: {result['budget']['text']}; the checkpoint is chosen on dev by training, and test is decoded "
             f"once per run ({', '.join(result['decoding'])}). {seeds}: scores are mean ± std over seeds"
             f"{'' if n_seeds > 1 else ' (one seed: no std)'}. Δ = variant − full (mean over seed pairs), with its 95% "
             f"interval and two-sided p from a paired bootstrap over test examples ({bootstrap['resamples']:,} "
             f"resamples, seed {bootstrap['seed']}; seed s of a variant against seed s of full; the interval covers "
             f"test-set sampling, not seeds).",
             ""]
    if result["overrides"]:
        lines += [f"Overrides of every run: `{' '.join(result['overrides'])}`.", ""]
    header = ["variant", "removes (or adds)"]
    for m in metrics:
        header += [LABELS[m], f"Δ {LABELS[m]} [95% CI]", "p"]
    parses = any(v.get("unparseable") for v in result["variants"].values())
    header += [f"paper Δ {LABELS[PAPER_METRIC]}*"] + (["does not parse %"] if parses else []) + ["epochs", "min/run"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, v in result["variants"].items():
        full = name == result["full_variant"]
        row = [f"**{name}**" if full else name, "-" if full else f"{v['removes']} (`{' '.join(v['overrides'])}`)"]
        for m in metrics:
            row.append(_mean_std(v["metrics"][m]))
            d = (v["delta"] or {}).get(m)
            row += [f"{d['delta']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]", _p(d["p_value"])] if d else ["", ""]
        paper = v["paper_delta"]
        row.append("" if full else f"{paper['delta']:+.2f}" if paper else "-")
        if parses:
            row.append(_mean_std(v["unparseable"]) if v.get("unparseable") else "-")
        row += [_mean_std(v["epochs"]).replace(".00", ""), f"{_minutes_per_run(v):.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    note = (f"\\* {PAPER}: {PAPER_NOTE}; in this table's sign (without minus with); \"-\" where the paper gives no "
            f"number.")
    if "grammar" in result["variants"]:
        note += (" `grammar` drops only the grammar mask in training (variant (a)), which the paper did not study; "
                 "its grammatical-constraints row is `grammar_decoder`, a decoder without any grammar (variant (b)).")
    stages = [n for n, v in result["variants"].items() if v["seeds"] and "rl_steps" in v["seeds"][0]]
    if stages:
        note += (f" {', '.join(stages)}: RL fine-tuning of full's run of the same seed (the budget above); their "
                 f"epochs are full's, their minutes the RL stage's and its decoding only.")
    commit = (provenance["commit"] or "unknown")[:8]
    dirty = ", with uncommitted changes" if provenance["uncommitted_changes"] else ""
    lines += ["", note, "",
              f"Total CPU time: {result['cpu_seconds'] / 3600:.2f} h = {result['cpu_seconds'] / 60:.1f} min (training "
              f"and decoding, every subprocess of every run). {describe_machine(provenance['machine'])}. "
              f"Command: `{provenance['command']}` (commit {commit}{dirty}).",
              ""]
    return "\n".join(lines)


# --- the chart ----------------------------------------------------------------------------------------------------

def plot(result: dict, path: Path) -> bool:
    """Bars of each variant's delta to full per metric, with the 95% bootstrap interval as error bars and the
    paper's delta as a marker. False when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return False
    metrics = result["metrics"]
    names = [n for n in result["variants"] if n != result["full_variant"]]
    figure, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 1.2 + 0.6 * max(len(names), 2)),
                                squeeze=False)
    marked = False  # the paper's deltas drawn somewhere: a legend for them
    for axis, metric in zip(axes[0], metrics):
        deltas = [result["variants"][n]["delta"][metric] for n in names]
        values = [d["delta"] for d in deltas]
        errors = [[max(0.0, d["delta"] - d["low"]) for d in deltas],
                  [max(0.0, d["high"] - d["delta"]) for d in deltas]]
        colours = ["tab:red" if d["high"] < 0 else "tab:green" if d["low"] > 0 else "tab:gray" for d in deltas]
        rows = list(range(len(names)))
        axis.barh(rows, values, xerr=errors, color=colours, alpha=0.8, capsize=4, height=0.6)
        axis.axvline(0, color="black", linewidth=0.8)
        ends = [0.0, *(d["low"] for d in deltas), *(d["high"] for d in deltas)]
        if metric == PAPER_METRIC:
            paper = [(i, result["variants"][n]["paper_delta"]["delta"]) for i, n in enumerate(names)
                     if result["variants"][n]["paper_delta"]]
            if paper:
                marked = True
                axis.scatter([p for _, p in paper], [i for i, _ in paper], marker="D", color="black", zorder=3,
                             label=f"paper ({PAPER_NOTE})")
                ends += [p for _, p in paper]
        low, high = min(ends), max(ends)
        margin = max(0.1 * (high - low), 0.5)
        axis.set_xlim(low - margin, high + margin)
        axis.set_yticks(rows, [f"{n}\n(p {_p(d['p_value'])})" for n, d in zip(names, deltas)])
        axis.invert_yaxis()
        full = result["variants"][result["full_variant"]]["metrics"][metric]
        axis.set(xlabel=f"Δ {LABELS[metric]} (variant − full, points)",
                 title=f"{LABELS[metric]}: full {_mean_std(full)}")
        axis.grid(axis="x", alpha=0.3)
    budget = result["budget"]
    how = (f"{budget['max_minutes']:g} min" if budget["kind"] == "minutes" else
           f"{budget['max_epochs']} epoch{'s' if budget['max_epochs'] != 1 else ''}")
    seeds = len(result["seeds"])
    figure.suptitle(f"Ablation on {result['dataset']} test ({result['test_examples']} examples), {seeds} "
                    f"seed{'s' if seeds > 1 else ''}, at most {how} per run; error bars: 95% bootstrap interval; "
                    f"red / green: interval below / above 0", fontsize=10)
    if marked:  # the paper's markers: one legend below the panels
        figure.legend(loc="lower center", fontsize=8, frameon=False)
        figure.tight_layout(rect=(0, 0.07, 1, 1))
    else:
        figure.tight_layout()
    save_figure(figure, path, dpi=100)
    return True
