"""Tests for tranx.rl.critical: critical actions of greedy programs, on a tiny model and a fake reward (no sandbox).

The model is the tiny random-BERT translator trained briefly on the 8 shortest CoNaLa examples (real, varied code);
the reward succeeds when the code contains "findall" (or, flipped, when it does not). Checked: forcing prefixes in
greedy search; that exactly the branch points where a forced alternative, completed greedily, flips the outcome are
reported critical (ground truth decoded separately here), with the J of the search's own trace, counts that add up
and the certainty gap of hand-computed means; branch points are the least certain informative steps and never a
step with one valid action; probes lead to success when forced; the command's summary, report file and errors.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from model_fixtures import conala_examples, make_model, skip_without_data, train
from tranx.cli import build_parser
from tranx.config import Config
from tranx.data.examples import collate, tensorize
from tranx.decoding.search import greedy_search
from tranx.errors import TranxError
from tranx.execution.unit_tests import Problem
from tranx.nn.distribution import VALID
from tranx.rl.commands import critical
from tranx.rl.critical import analyse, probe_set
from tranx.rl.rewards import Scored
from tranx.translator import Translator

WORD = "findall"


class ContainsReward:
    """Success when the code contains `word` (`present`), or when it does not; records its calls."""

    def __init__(self, word: str = WORD, present: bool = True):
        self.word, self.present, self.calls = word, present, []

    def success(self, code: str) -> bool:
        return bool(code) and (self.word in code) == self.present

    def __call__(self, problems, candidates):
        self.calls.append([list(c) for c in candidates])
        return [[Scored(float(self.success(c)), "x", self.success(c)) for c in codes] for codes in candidates]


def make_translator(examples, steps: int, max_steps: int) -> Translator:
    model = make_model(seed=1)
    if steps:
        train(model, examples, steps=steps, lr=3e-2, batch_size=len(examples))
    config = Config(model=model.config)
    config.train.max_decode_steps = max_steps
    return Translator(config, model)


@pytest.fixture(scope="module")
def setup():
    skip_without_data()
    examples = sorted(conala_examples(), key=lambda e: len(e.actions))[:8]
    translator = make_translator(examples, steps=30, max_steps=40)
    problems = [Problem(f"p{i}", e.intent, e.code, (), ()) for i, e in enumerate(examples)]
    words = [translator.prepare(p.intent)[0] for p in problems]
    greedy = greedy_search(translator.model, words, max_steps=40, trace=True)
    return translator, problems, words, greedy


def trace_j(result) -> list[float | None]:
    """J = 1 - H / log(n_valid) of each step from the search's own trace (None: one valid action)."""
    return [1.0 - h / math.log(n) if n > 1 else None
            for h, n in zip(result.trace.entropies.tolist(), result.trace.num_valid.tolist())]


def dense(model, words, actions) -> torch.Tensor:
    batch = collate([tensorize(words, list(actions), model.system, model.tables, copy=model.config.copy)])
    with torch.no_grad():
        return model.teacher_forced(batch)[0].log_probs()[0]


def code_of(translator, result, intent) -> str:
    if not result.complete:
        return ""
    return translator.to_code(result.hypothesis.tree(), translator.prepare(intent)[1]) or ""


def test_forced_prefixes(setup):
    translator, problems, words, greedy = setup
    model = translator.model
    own = greedy_search(model, words, max_steps=40, prefixes=[r.trace.columns.tolist() for r in greedy])
    for a, b in zip(own, greedy):
        assert a.hypothesis.actions == b.hypothesis.actions and a.complete == b.complete
        assert a.log_prob == pytest.approx(b.log_prob, abs=1e-5)
    r, w = greedy[0], words[0]
    table = dense(model, w, r.hypothesis.actions)
    t = 3
    assert int(r.trace.num_valid[t]) > 1
    column = next(c for c in table[t].argsort(descending=True).tolist() if c != int(r.trace.columns[t]))
    prefix = r.trace.columns[:t].tolist() + [column]
    forced = greedy_search(model, [w], max_steps=40, prefixes=[prefix], trace=True)[0]
    assert forced.trace.columns[:t + 1].tolist() == prefix
    assert forced.hypothesis.actions[:t] == r.hypothesis.actions[:t]
    assert forced.hypothesis.actions != r.hypothesis.actions
    assert float(forced.trace.log_probs[t]) == pytest.approx(float(table[t, column]), abs=1e-4)
    invalid = next(c for c in range(table.size(1)) if table[0, c] <= VALID)
    failed = greedy_search(model, [w], max_steps=40, prefixes=[[invalid]])[0]
    assert not failed.complete and failed.log_prob == float("-inf")


@pytest.mark.parametrize("present", [True, False])
def test_exactly_the_flipping_steps_are_critical(setup, present):
    translator, problems, words, greedy = setup
    model = translator.model
    reward = ContainsReward(present=present)
    report = analyse(translator, problems, reward, max_branches=1000, alternatives=2, batch_size=12, progress=False)
    assert len(reward.calls) == 1  # one batched reward call

    # Ground truth, decoded here: every informative step, its two most probable other valid columns, completed.
    branches = []
    for i, r in enumerate(greedy):
        table = dense(model, words[i], r.hypothesis.actions)
        assert torch.allclose(table.gather(1, r.trace.columns.unsqueeze(1)).squeeze(1), r.trace.log_probs, atol=1e-4)
        for t, j in enumerate(trace_j(r)):
            if j is not None:
                values, columns = table[t].topk(3)
                alts = [c for v, c in zip(values.tolist(), columns.tolist())
                        if v > VALID and c != int(r.trace.columns[t])][:2]
                branches += [(i, t, c) for c in alts]
    done = greedy_search(model, [words[i] for i, _, _ in branches], max_steps=40,
                         prefixes=[greedy[i].trace.columns[:t].tolist() + [c] for i, t, c in branches])
    greedy_ok = [reward.success(code_of(translator, r, p.intent)) for r, p in zip(greedy, problems)]
    flips: dict[tuple[int, int], list[int]] = {}
    for (i, t, c), result in zip(branches, done):
        if reward.success(code_of(translator, result, problems[i].intent)) != greedy_ok[i]:
            flips.setdefault((i, t), []).append((c, result))
    assert flips and len(flips) < len({(i, t) for i, t, _ in branches})  # the check can tell them apart

    rows = report["problems"]
    assert [row["greedy_success"] for row in rows] == greedy_ok
    assert report["greedy_success_rate"] == pytest.approx(sum(greedy_ok) / len(greedy_ok))
    assert {(i, c["step"]) for i, row in enumerate(rows) for c in row["critical"]} == set(flips)
    critical_j, other_j = [], []
    for i, row in enumerate(rows):
        js, r = trace_j(greedy[i]), greedy[i]
        informative = [t for t, j in enumerate(js) if j is not None]
        assert row["informative_steps"] == len(informative) and row["branch_steps"] == informative
        steps = {c["step"] for c in row["critical"]}
        if steps:
            critical_j += [js[t] for t in steps]
            other_j += [js[t] for t in informative if t not in steps]
        for point in row["critical"]:
            t = point["step"]
            column, result = flips[(i, t)][0]  # the most probable alternative that flips it
            assert point["j"] == pytest.approx(js[t], abs=1e-4)
            assert point["greedy"] == str(r.hypothesis.actions[t])
            assert point["alternative"] == str(result.hypothesis.actions[t])
            assert point["prefix"] == r.trace.columns[:t].tolist()
            assert point["succeeded"] == ("greedy" if greedy_ok[i] else "alternative")
            assert point["correct"] == (int(r.trace.columns[t]) if greedy_ok[i] else column)
    # the one decision the reward hangs on: generating `findall` (where the greedy program does) is critical
    decisive = {(i, t) for i, r in enumerate(greedy) if greedy_ok[i] == present
                for t, a in enumerate(r.hypothesis.actions) if getattr(a, "value", None) == WORD}
    assert decisive and decisive <= set(flips)

    informative = sum(row["informative_steps"] for row in rows)
    points = sum(len(row["branch_steps"]) for row in rows)
    assert report["problems_analysed"] == len(problems)
    assert report["informative_steps"] == informative and report["branch_points"] == points == informative
    assert report["critical_points"] == len(flips) == sum(report["critical_by_kind"].values()) \
        == sum(report["critical_by_field"].values())
    assert sum(report["branch_points_by_kind"].values()) == points
    assert report["critical_share_of_branch_points"] == pytest.approx(len(flips) / points)
    assert report["critical_share_of_informative_steps"] == pytest.approx(len(flips) / informative)
    mean_critical, mean_other = sum(critical_j) / len(critical_j), sum(other_j) / len(other_j)
    assert report["mean_j_critical"] == pytest.approx(mean_critical, abs=1e-4)
    assert report["mean_j_other"] == pytest.approx(mean_other, abs=1e-4)
    assert report["certainty_gap"] == pytest.approx(mean_critical - mean_other, abs=1e-4)
    if present:
        assert report["critical_by_kind"].get("GenToken/vocabulary", 0) >= 1
    json.dumps(report)  # JSON-able


def test_branch_points_are_the_least_certain_steps(setup):
    translator, problems, words, greedy = setup
    report = analyse(translator, problems, ContainsReward(), max_branches=3, alternatives=1, progress=False)
    threshold = 0.5
    bounded = analyse(translator, problems, ContainsReward(), max_branches=3, alternatives=1, threshold=threshold,
                      progress=False)
    for r, row, row_bounded in zip(greedy, report["problems"], bounded["problems"]):
        js = trace_j(r)
        ranked = sorted((j, t) for t, j in enumerate(js) if j is not None)
        assert row["branch_steps"] == sorted(t for _, t in ranked[:3])
        assert row_bounded["branch_steps"] == sorted(t for j, t in ranked[:3] if j < threshold)
    assert report["branch_points"] == 3 * len(problems)
    assert bounded["branch_points"] < report["branch_points"]
    # the certainty gap compares critical steps with the other informative steps of the programs that have one
    critical_j, other_j, without = [], [], 0
    for r, row in zip(greedy, report["problems"]):
        js, steps = trace_j(r), {c["step"] for c in row["critical"]}
        without += not steps
        if steps:
            critical_j += [js[t] for t in steps]
            other_j += [j for t, j in enumerate(js) if j is not None and t not in steps]
    assert critical_j  # (`without`, programs with no critical step, depends on the tiny model's numerics)
    gap = sum(critical_j) / len(critical_j) - sum(other_j) / len(other_j)
    assert report["certainty_gap"] == pytest.approx(gap, abs=1e-4)


def test_a_step_with_one_valid_action_is_never_a_branch_point():
    skip_without_data()
    translator = make_translator((), steps=0, max_steps=12)  # untrained: it opens functions (`arguments`: no choice)
    problems = [Problem(f"p{i}", e.intent, e.code, (), ()) for i, e in enumerate(conala_examples()[:6])]
    words = [translator.prepare(p.intent)[0] for p in problems]
    greedy = greedy_search(translator.model, words, max_steps=12, trace=True)
    report = analyse(translator, problems, ContainsReward(), max_branches=1000, alternatives=1, progress=False)
    single = 0
    for r, row in zip(greedy, report["problems"]):
        valid = r.trace.num_valid.tolist()
        single += valid.count(1)
        assert row["branch_steps"] == [t for t, n in enumerate(valid) if n > 1]
        assert row["informative_steps"] == sum(n > 1 for n in valid)
    assert single >= 1


@pytest.mark.parametrize("present", [True, False])
def test_probes_lead_to_success(setup, present):
    translator, problems, words, _ = setup
    reward = ContainsReward(present=present)
    report = analyse(translator, problems, reward, max_branches=4, alternatives=2, progress=False)
    probes = probe_set(report)
    assert len(probes) == report["critical_points"] > 0
    intents = {p.id: p.intent for p in problems}
    for probe in probes:
        assert probe["intent"] == intents[probe["id"]]
        result = greedy_search(translator.model, [translator.prepare(probe["intent"])[0]], max_steps=40,
                               prefixes=[probe["prefix"] + [probe["correct"]]])[0]
        assert reward.success(code_of(translator, result, probe["intent"]))


def test_command(setup, tmp_path, capsys):
    translator = setup[0]
    translator.save_pretrained(tmp_path / "run")
    parser = build_parser()
    out = tmp_path / "report.json"
    args = parser.parse_args(["critical", str(tmp_path / "run"), "--dataset", "conala", "--limit", "3",
                              "--max-branches", "2",
                              "--alternatives", "1", "--threads", "1", "--out", str(out)])
    assert args.split == "dev" and args.certainty == "entropy"
    assert critical(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    full = json.loads(out.read_text())
    assert "problems" not in summary and len(full["problems"]) == summary["problems_analysed"] == 3
    assert summary["reward"] == "exact_match" and summary["dataset"] == "conala" and summary["split"] == "dev"
    assert {k: v for k, v in full.items() if k not in ("problems", "provenance")} == summary
    assert full["provenance"]["command"] and "conala" in full["provenance"]["data"]
    with pytest.raises(TranxError, match="unknown task"):
        critical(parser.parse_args(["critical", str(tmp_path / "run"), "--dataset", "nope"]))
    with pytest.raises(TranxError, match="not found"):
        critical(parser.parse_args(["critical", str(tmp_path / "missing")]))
    with pytest.raises(TranxError, match="--max-branches"):
        critical(parser.parse_args(["critical", str(tmp_path / "run"), "--max-branches", "0"]))
