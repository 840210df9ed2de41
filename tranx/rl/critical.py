"""Critical actions (Vassoyan, Beau & Plaud, 2025): the decisions of a greedy program whose change flips its outcome.

Why: the paper finds that the actions deciding success are few and made where the supervised model is uncertain,
which is what the prioritized KL (tranx.rl.kl) relies on; this measures both for our model and data before RL
trains on it, and gives an RL run the critical points to watch (`probe_set`).

How: every problem is decoded greedily; its steps' certainty J (tranx.rl.kl.certainty) comes from the dense
teacher-forced distribution along the greedy program. The `max_branches` least certain informative steps (a step
with a single valid action has no choice in it and is never counted) are branch points: at each, the `alternatives`
most probable other valid actions are forced after the greedy prefix and the program is completed greedily
(`greedy_search(prefixes=...)`). The greedy program and all branches become code and are scored by one call of the
reward; a branch point is critical when some alternative's success differs from the greedy program's. The report
gives the shares, the certainty gap (mean J of critical steps minus mean J of the other informative steps of the
same programs: the paper's Table 1), what the critical actions are (kind, frontier field), and per problem each
critical point with its prefix and the column that leads to success.

Left out: sampled completions (a branch is completed greedily once, so a flip is what greedy decoding does after the
change, not a success probability), changing several steps at once, and beam search.
"""

from __future__ import annotations

import warnings
from collections import Counter
from contextlib import contextmanager

import torch
from tqdm import tqdm

from tranx.data.examples import collate, tensorize
from tranx.decoding.search import greedy_search
from tranx.errors import TranxError
from tranx.grammar.actions import ApplyRule, GenToken
from tranx.nn.distribution import VALID, ActionDistribution
from tranx.rl.kl import certainty as certainty_of


class _Program:
    """One problem's greedy program: its columns and actions, per step J, informative and the most probable valid
    columns (set by `_measure`), its branch points and their outcomes, its code and success."""

    def __init__(self, index, problem, words, slots, result):
        self.index, self.problem, self.words, self.slots, self.result = index, problem, words, slots, result
        self.columns = result.trace.columns.tolist()
        self.actions = result.hypothesis.actions
        self.j: list[float] = []
        self.informative: list[bool] = []
        self.top: list[list[int]] = []
        self.branches: list[tuple[int, list[int]]] = []  # (step, alternative columns)
        self.outcomes: dict[tuple[int, int], tuple[bool, str]] = {}  # (step, column) -> (success, forced action)
        self.code, self.success = "", False


@contextmanager
def _inference(models):
    """Eval mode, no gradients, and the grammar mask on in teacher forcing (as search always has it)."""
    saved = [(m.training, m.config.grammar_mask_in_training) for m in models]
    for m in models:
        m.eval()
        m.config.grammar_mask_in_training = True
    try:
        with torch.no_grad():
            yield
    finally:
        for m, (training, mask) in zip(models, saved):
            m.train(training)
            m.config.grammar_mask_in_training = mask


def _greedy(models, words, max_steps, batch_size, bar, prefixes=None, trace=False):
    out = []
    for start in range(0, len(words), batch_size):
        chunk = words[start:start + batch_size]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # word-piece truncation of very long intents
            out += greedy_search(models, chunk, max_steps=max_steps, trace=trace,
                                 prefixes=None if prefixes is None else prefixes[start:start + batch_size])
        bar.update(len(chunk))
    return out


def _measure(models, programs, kind, width, batch_size):
    """Per program: J and informative per step, and the `width` most probable columns of each step."""
    model = models[0]
    for start in range(0, len(programs), batch_size):
        chunk = programs[start:start + batch_size]
        batch = collate([tensorize(p.words, list(p.actions), model.system, model.tables, copy=model.config.copy)
                         for p in chunk])
        log_probs = ActionDistribution.mixture([m.teacher_forced(batch)[0] for m in models]).log_probs()
        for b, p in enumerate(chunk):
            steps = log_probs[b, :len(p.actions)]
            j, informative = certainty_of(steps, kind)
            values, columns = steps.topk(min(width, steps.size(-1)), dim=-1)
            p.j, p.informative = j.tolist(), informative.tolist()
            p.top = [[c for v, c in zip(vs, cs) if v > VALID] for vs, cs in zip(values.tolist(), columns.tolist())]


def _kind(model, column: int, action) -> str:
    if isinstance(action, ApplyRule):
        return f"ApplyRule[{action.constructor.name}]"
    if isinstance(action, GenToken):  # a word both in the vocabulary and the intent is one (vocabulary) column
        copied = column >= model.tables.token_offset + model.tables.num_tokens
        return "GenToken/copied" if copied else "GenToken/vocabulary"
    return "Reduce"


def _fields(system, actions) -> list[str]:
    """The frontier field ("Constructor.field") before each action."""
    out, hypothesis = [], system.initial()
    for action in actions:
        field = hypothesis.frontier.field
        out.append(f"{field.constructor}.{field.name}")
        hypothesis = hypothesis.apply(action)
    return out


def _mean(values):
    return sum(values) / len(values) if values else None


def analyse(translator, problems, reward, *, max_branches: int = 4, alternatives: int = 2, certainty: str = "entropy",
            threshold: float | None = None, batch_size: int = 32, progress: bool | None = None) -> dict:
    """The critical-action report (JSON-able) of the translator's greedy programs on `problems` under `reward`."""
    if certainty not in ("entropy", "max_prob"):
        raise TranxError(f"unknown certainty {certainty!r} (entropy or max_prob)")
    models, model = translator.models, translator.model
    max_steps = translator.config.train.max_decode_steps
    prepared = [(p, *translator.prepare(p.intent)) for p in problems]
    with _inference(models), tqdm(total=len(prepared), desc="greedy", unit="problem",
                                  disable=None if progress is None else not progress) as bar:
        results = _greedy(models, [w for _, w, _ in prepared], max_steps, batch_size, bar, trace=True)
        programs = [_Program(k, p, w, s, r) for k, ((p, w, s), r) in enumerate(zip(prepared, results))]
        _measure(models, programs, certainty, alternatives + 1, batch_size)
    branches = []  # (program, step, alternative column)
    for p in programs:
        steps = [t for t, ok in enumerate(p.informative) if ok and (threshold is None or p.j[t] < threshold)]
        for t in sorted(sorted(steps, key=lambda t: p.j[t])[:max_branches]):
            alts = [c for c in p.top[t] if c != p.columns[t]][:alternatives]
            p.branches.append((t, alts))
            branches += [(p, t, c) for c in alts]
    with _inference(models), tqdm(total=len(branches), desc="branches", unit="branch",
                                  disable=None if progress is None else not progress) as bar:
        completed = _greedy(models, [p.words for p, _, _ in branches], max_steps, batch_size, bar,
                            prefixes=[p.columns[:t] + [c] for p, t, c in branches])

    def code(result, slots) -> str:
        text = translator.to_code(result.hypothesis.tree(), slots) if result.complete else None
        return text or ""
    candidates = [[code(p.result, p.slots)] for p in programs]
    for (p, _, _), result in zip(branches, completed):
        candidates[p.index].append(code(result, p.slots))
    scored = reward([p.problem for p in programs], candidates)  # one call: the sandbox batches and caches
    for p, row in zip(programs, scored):
        p.code, p.success = candidates[p.index][0], row[0].success
    for (p, t, c), result in zip(branches, completed):
        actions = result.hypothesis.actions
        position = len(p.outcomes) + 1  # a program's branches are contiguous, in order
        p.outcomes[(t, c)] = (scored[p.index][position].success, str(actions[t]) if len(actions) > t else f"column {c}")
    settings = dict(max_branches=max_branches, alternatives=alternatives, certainty=certainty, threshold=threshold)
    return _report(model, programs, settings)


def _report(model, programs, settings) -> dict:
    rows, critical_j, other_j = [], [], []
    by_kind, by_field, branch_kinds = Counter(), Counter(), Counter()
    informative = branch_points = 0
    for p in programs:
        fields = _fields(model.system, p.actions)
        steps = [t for t, ok in enumerate(p.informative) if ok]
        informative += len(steps)
        points = []
        for t, alts in p.branches:
            branch_points += 1
            branch_kinds[_kind(model, p.columns[t], p.actions[t])] += 1
            flipped = [c for c in alts if p.outcomes[(t, c)][0] != p.success]
            if not flipped:
                continue
            alt, kind = flipped[0], _kind(model, p.columns[t], p.actions[t])
            by_kind[kind] += 1
            by_field[fields[t]] += 1
            points.append({"step": t, "j": round(p.j[t], 6), "greedy": str(p.actions[t]), "kind": kind,
                           "field": fields[t], "alternative": p.outcomes[(t, alt)][1],
                           "succeeded": "greedy" if p.success else "alternative", "prefix": p.columns[:t],
                           "correct": p.columns[t] if p.success else alt})
        if points:
            critical = {c["step"] for c in points}
            critical_j += [p.j[t] for t in critical]
            other_j += [p.j[t] for t in steps if t not in critical]
        rows.append({"id": p.problem.id, "intent": p.problem.intent, "greedy_success": p.success, "code": p.code,
                     "informative_steps": len(steps), "branch_steps": [t for t, _ in p.branches], "critical": points})
    critical_points = sum(len(r["critical"]) for r in rows)
    mean_critical, mean_other = _mean(critical_j), _mean(other_j)
    gap = mean_critical - mean_other if mean_critical is not None and mean_other is not None else None
    return {"settings": settings, "problems_analysed": len(programs),
            "greedy_success_rate": _mean([float(p.success) for p in programs]),
            "informative_steps": informative, "branch_points": branch_points, "critical_points": critical_points,
            "critical_share_of_branch_points": critical_points / branch_points if branch_points else None,
            "critical_share_of_informative_steps": critical_points / informative if informative else None,
            "certainty_gap": gap, "mean_j_critical": mean_critical, "mean_j_other": mean_other,
            "critical_by_kind": dict(by_kind.most_common()), "critical_by_field": dict(by_field.most_common()),
            "branch_points_by_kind": dict(branch_kinds.most_common()), "problems": rows}


def probe_set(report: dict) -> list[dict]:
    """The critical points of a report as probes: {"id", "intent", "prefix": [columns], "correct": column}."""
    return [{"id": row["id"], "intent": row["intent"], "prefix": list(point["prefix"]), "correct": point["correct"]}
            for row in report["problems"] for point in row["critical"]]
