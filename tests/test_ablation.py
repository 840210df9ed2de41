"""`tranx ablate` (tranx.ablation): the paired bootstrap on cases with known answers (also from execution details), the component table's errors,
the run scheduler with a stand-in for `tranx` (resume, skip, failures, records), and a tiny ablation end to end, run
twice and restored from its records.

The end-to-end test trains the tiny config (a random tiny BERT) for one epoch on 60 CoNaLa examples, three variants,
one thread, one process at a time; skipped without the shared data.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

import pytest

from model_fixtures import skip_without_data
from tranx.ablation import execution_pairs, plan as plan_module, records as records_module, runner
from tranx.ablation.bootstrap import (ExampleScores, paired_bootstrap, paired_bootstrap_accuracy,
                                      paired_bootstrap_bleu)
from tranx.ablation.report import PAPER_DELTAS, markdown
from tranx.ablation.plan import COMPONENTS, make_plan
from tranx.errors import TranxError
from tranx.metrics import corpus_bleu

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.json")


# --- the bootstrap ------------------------------------------------------------------------------------------------

def test_identical_systems_differ_by_nothing():
    correct = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1]
    r = paired_bootstrap_accuracy(correct, correct, resamples=2000)
    assert (r.delta, r.low, r.high, r.p_value, r.mean_resampled) == (0.0, 0.0, 0.0, 1.0, 0.0)
    refs = [["a", "b", "c", "d", "e"], ["x", "y", "z", "w"], ["p", "q", "r", "s", "t", "u"]]
    hyps = [["a", "b", "c", "d"], ["x", "y", "q", "w"], ["p", "q", "r", "s", "t", "u"]]
    r = paired_bootstrap_bleu(hyps, hyps, refs, resamples=2000)
    assert (r.delta, r.low, r.high, r.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_a_system_right_wherever_the_other_is_wrong():
    n, better = 200, 30  # A is right on 30 examples B gets wrong; elsewhere both are right on the same 50
    a = [1] * better + [1] * 50 + [0] * (n - better - 50)
    b = [0] * better + [1] * 50 + [0] * (n - better - 50)
    r = paired_bootstrap_accuracy(a, b, resamples=5000)
    assert r.delta == pytest.approx(100 * better / n)
    assert r.p_value == pytest.approx(2 / 5001) and r.low > 0 and r.high < 30
    flipped = paired_bootstrap_accuracy(b, a, resamples=5000)  # the other way round: the mirror image
    assert flipped.delta == -r.delta and flipped.low == pytest.approx(-r.high) and flipped.p_value == r.p_value


def test_two_examples_by_hand_exact_match():
    # A right on example 1, B on neither. Resamples of 2 from 2: {1,1} with p 1/4 (delta 100), {1,2} with p 1/2
    # (delta 50), {2,2} with p 1/4 (delta 0). Mean 50, 2.5% / 97.5% quantiles 0 / 100, P(delta <= 0) = 1/4: p = 1/2.
    r = paired_bootstrap_accuracy([1, 0], [0, 0], resamples=40_000, seed=7)
    assert r.delta == 50.0 and (r.low, r.high) == (0.0, 100.0)
    assert r.mean_resampled == pytest.approx(50.0, abs=1.0)
    assert r.p_value == pytest.approx(0.5, abs=0.015)


def test_two_examples_by_hand_bleu():
    # A copies both references (BLEU 100 on every resample). B copies the first and says nothing on the second:
    # {1,1}: BLEU 100, delta 0 (p 1/4); {1,2}: every precision 1, brevity exp(1 - 8/4), delta 100 (1 - 1/e)
    # (p 1/2); {2,2}: no hypothesis, BLEU 0, delta 100 (p 1/4).
    refs = [["a", "b", "c", "d"], ["e", "f", "g", "h"]]
    r = paired_bootstrap_bleu(refs, [refs[0], []], refs, resamples=40_000, seed=3)
    mixed = 100 * (1 - math.exp(-1))
    assert r.delta == pytest.approx(mixed) and (r.low, r.high) == (0.0, 100.0)
    assert r.mean_resampled == pytest.approx(0.5 * mixed + 0.25 * 100, abs=1.0)
    assert r.p_value == pytest.approx(0.5, abs=0.015)


def test_resampled_bleu_is_corpus_bleu_of_the_resampled_corpus():
    rng = random.Random(0)
    words = "a b c d e f g h".split()
    refs = [[rng.choice(words) for _ in range(rng.randint(3, 9))] for _ in range(30)]
    hyps = [[t if rng.random() < 0.7 else rng.choice(words) for t in r][:rng.randint(2, 10)] for r in refs]
    stats = ExampleScores.bleu(hyps, refs)
    assert stats.score() == corpus_bleu(hyps, refs)
    import numpy as np
    for _ in range(20):
        drawn = [rng.randrange(30) for _ in range(30)]
        counts = np.bincount(drawn, minlength=30).astype(float).reshape(1, -1)
        assert stats.scores(counts)[0] == pytest.approx(corpus_bleu([hyps[i] for i in drawn],
                                                                    [refs[i] for i in drawn]), rel=1e-12)


def test_seed_pairs_are_pooled_and_the_result_is_deterministic():
    same = ExampleScores.accuracy([1, 0] * 50)
    better = ExampleScores.accuracy([1, 1] * 50)  # right on the 50 examples `same` misses
    r = paired_bootstrap([(same, same), (better, same)], resamples=3000, seed=5)
    assert r.pairs == 2 and r.delta == pytest.approx(25.0)  # seed 1: 0, seed 2: 50
    assert r.low > 10 and r.high < 40 and r.p_value < 0.001
    again = paired_bootstrap([(same, same), (better, same)], resamples=3000, seed=5)
    assert again == r
    assert paired_bootstrap([(same, same), (better, same)], resamples=3000, seed=6).mean_resampled != r.mean_resampled
    with pytest.raises(ValueError, match="same 100 examples"):
        paired_bootstrap([(same, ExampleScores.accuracy([1, 0]))])


# --- components and the plan --------------------------------------------------------------------------------------

def _details(path: Path, outcomes: dict[str, list[str]]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "outcomes": o, "tests_passed": []}) + "\n"
                            for i, o in outcomes.items()), encoding="utf-8")
    return path


def test_paired_pass_at_1_from_details_files(tmp_path):
    # A passes 3 of 4 problems (written in another order), B 1 of 4; only the first candidate counts
    a = _details(tmp_path / "a.jsonl", {"p4": ["tests_fail"], "p1": ["pass"], "p2": ["pass"], "p3": ["pass"]})
    b = _details(tmp_path / "b.jsonl", {"p1": ["pass"], "p2": ["tests_fail", "pass"], "p3": ["runtime_error"],
                                        "p4": []})
    assert execution_pairs.read_passes(b) == {"p1": True, "p2": False, "p3": False, "p4": False}
    # A alone passes p2 and p3: a resample's delta is <= 0 only when it draws neither, with chance (1/2) ** 4,
    # so p = 2 / 16; the 4 draws of p2 or p3 alone give +100
    r = execution_pairs.paired_pass_at_1(a, b, resamples=40_000)
    assert r.delta == 50.0 and r.examples == 4 and (r.low, r.high) == (0.0, 100.0)
    assert r.p_value == pytest.approx(0.125, abs=0.01)
    same = execution_pairs.paired_pass_at_1(a, a, resamples=500)
    assert (same.delta, same.p_value) == (0.0, 1.0)


@pytest.mark.parametrize("text, needle", [
    ('{"id": "p1", "outcomes": ["pass"]}\n{"id": "p1", "outcomes": ["pass"]}\n', "line 2: problem 'p1' appears twice"),
    ('{"id": "p1"}\n', "line 1: not a details row"),
    ('not json\n', "line 1: not a details row"),
    ('{"id": "p1", "outcomes": "pass"}\n', "line 1: 'outcomes' is str, not a list"),
    ('\n', "no problems in it"),
])
def test_details_errors_name_the_file_and_line(tmp_path, text, needle):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(TranxError, match=needle):
        execution_pairs.read_passes(bad)


def test_paired_pass_at_1_refuses_different_problems(tmp_path):
    a = _details(tmp_path / "a.jsonl", {"p1": ["pass"], "p2": ["pass"]})
    b = _details(tmp_path / "b.jsonl", {"p1": ["pass"], "p3": ["pass"]})
    with pytest.raises(TranxError, match=r"cover different problems \(1 only in the first, 1 only in the second\)"):
        execution_pairs.paired_pass_at_1(a, b)
    with pytest.raises(TranxError, match="details file not found"):
        execution_pairs.read_passes(tmp_path / "missing.jsonl")


def test_component_table_and_paper_deltas_cover_the_same_names():
    assert set(PAPER_DELTAS) == set(COMPONENTS)
    assert {k for k, v in PAPER_DELTAS.items() if v} == {"substitution", "encoder", "grammar_decoder", "copy"}
    plan = make_plan(TINY, "copy,parent,substitution", 2, "unused")
    assert list(plan.variants) == ["full", "copy", "parent", "substitution"]
    assert [r.name for r in plan.runs()][:3] == ["full-s1", "full-s2", "copy-s1"]
    command = plan.train_command(plan.runs()[2])
    assert command[-6:] == ["model.copy=false", "train.seed=1", "--out", str(Path("unused/runs/copy-s1")),
                            "--threads", "1"]
    assert plan.budget["kind"] == "config" and plan.budget["max_epochs"] == 3
    plan = make_plan(TINY, "copy_vocabulary", 1, "unused")  # copy off and the vocabulary's cutoff down to 1
    assert plan.train_command(plan.runs()[1])[-7:-5] == ["model.copy=false", "train.token_cutoff=1"]


@pytest.mark.parametrize("components, overrides, needle", [
    ("copy,nope", [], "unknown component 'nope'"),
    ("", [], "--components is empty"),
    ("copy,copy", [], "given twice"),
    ("word_embeddings", [], "'word_embeddings' is already off"),  # tiny.json: model.word_embed_size 0
    ("weight_average", [], "'weight_average' is already off"),
    ("copy", ["model.copy=false"], "'copy' is already off"),
    ("copy_vocabulary", ["model.copy=false", "train.token_cutoff=1"], "'copy_vocabulary' is already off"),
    ("encoder", ["model.encoder=lstm"], "nothing to remove"),
    ("grammar_decoder", ["train.dataset=nl-rx-turk"], "nl-rx-turk is written in lark:regex"),
    ("grammar_decoder", ["train.language=tokens:python"], "written in tokens:python"),
    ("copy", ["train.seed=4"], "--seeds"),
    ("copy", ["model.no_such=1"], "model.no_such"),
])
def test_plan_errors(components, overrides, needle):
    with pytest.raises(TranxError, match=needle.replace("(", r"\(")):
        make_plan(TINY, components, 1, "unused", overrides=overrides)


def test_command_errors_are_one_line(tmp_path, capsys):
    for argv, needle in (([TINY, "--components", "copy,bogus", "--out", tmp_path / "a"], "unknown component"),
                         ([TINY, "--components", "word_lstm", "--out", tmp_path / "a"], "already off"),
                         ([TINY, "--components", "copy", "--seeds", "0", "--out", tmp_path / "a"], "--seeds"),
                         ([TINY, "--components", "copy", "--budget-epochs", "0", "--out", tmp_path / "a"], "budget"),
                         ([tmp_path / "missing.json", "--components", "copy", "--out", tmp_path / "a"], "missing.json"),
                         ([TINY, "--components", "copy", "--budget-epochs", "1", "--budget-minutes", "2", "--out",
                           tmp_path / "a"], "not allowed with")):
        assert runner.main([str(a) for a in argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (needle, err)
    assert not (tmp_path / "a").exists()


def test_a_folder_started_with_another_budget_is_refused(tmp_path):
    runner.check_plan_file(make_plan(TINY, "copy", 1, tmp_path, budget_epochs=2))
    runner.check_plan_file(make_plan(TINY, "copy,parent", 2, tmp_path, budget_epochs=2))  # more runs: fine
    with pytest.raises(TranxError, match=r"another config \(train.max_epochs\)"):
        runner.check_plan_file(make_plan(TINY, "copy", 1, tmp_path, budget_epochs=3))
    with pytest.raises(TranxError, match="another test_limit"):
        runner.check_plan_file(make_plan(TINY, "copy", 1, tmp_path, budget_epochs=2, test_limit=5))
    runner.check_plan_file(make_plan(TINY, "copy", 1, tmp_path, overrides=["train.max_epochs=2"]))  # the same


def test_a_config_key_added_since_the_plan_was_written_counts_as_its_default(tmp_path):
    runner.check_plan_file(make_plan(TINY, "copy", 1, tmp_path, budget_epochs=2))
    path = tmp_path / "plan.json"
    plan = json.loads(path.read_text())
    del plan["config"]["train"]["retrieve"]  # as written by a tranx without that key
    path.write_text(json.dumps(plan))
    runner.check_plan_file(make_plan(TINY, "copy", 1, tmp_path, budget_epochs=2))
    plan["config"]["train"]["retrieve"] = 2  # a real difference is still refused
    path.write_text(json.dumps(plan))
    with pytest.raises(TranxError, match=r"another config \(train.retrieve\)"):
        runner.check_plan_file(make_plan(TINY, "copy", 1, tmp_path, budget_epochs=2))


# --- the scheduler, with a stand-in for `tranx` -------------------------------------------------------------------

FAKE_TRANX = r'''
import json, sys, time
from pathlib import Path
args = sys.argv[1:]
time.sleep(0.2)
if args[0] == "train":
    run = Path(args[args.index("--resume") + 1] if "--resume" in args else args[args.index("--out") + 1])
    if "model.copy=false" in args:
        print("tranx train: error: this stand-in refuses model.copy=false", file=sys.stderr)
        sys.exit(2)
    (run / "last").mkdir(parents=True, exist_ok=True)
    (run / "calls.txt").open("a").write("resume\n" if "--resume" in args else "train\n")
    (run / "summary.json").write_text(json.dumps({"best_bleu": 1.0, "best_epoch": 1, "epochs": 1,
                                                  "train_seconds": 0.2}))
elif args[0] == "rl":
    run = Path(args[args.index("--resume") + 1] if "--resume" in args else args[args.index("--out") + 1])
    if "--resume" not in args and not (Path(args[1]) / "summary.json").is_file():
        print(f"tranx rl: error: {args[1]} is not trained", file=sys.stderr)
        sys.exit(3)
    (run / "last").mkdir(parents=True, exist_ok=True)
    (run / "calls.txt").open("a").write(" ".join(a for a in args if a.startswith("rl.")) + "\n")
    (run / "summary.json").write_text(json.dumps({"steps": 2, "best_step": 1, "best_dev_score": 1.0,
                                                  "dev_metric": "bleu", "rl_seconds": 0.1, "executed_programs": 0}))
elif args[0] == "eval":
    run = Path(args[1])
    (run / "calls.txt").open("a").write("eval\n")
    (run / "test.json").write_text(json.dumps({"scores": {"bleu": 1.0, "exact_match": 0.0}}))
'''


def test_scheduler_trains_resumes_skips_and_reports_failures(tmp_path, monkeypatch):
    fake = tmp_path / "fake_tranx.py"
    fake.write_text(FAKE_TRANX)
    monkeypatch.setattr(plan_module, "tranx_command", lambda: [sys.executable, str(fake)])
    plan = make_plan(TINY, "parent,copy", 1, tmp_path / "abl")
    runs = {r.name: r for r in plan.runs()}
    (runs["parent-s1"].folder / "last").mkdir(parents=True)  # killed mid-training: resumed
    lines = []
    failed = runner.run_all(plan, jobs=2, echo=lines.append)
    assert [r.name for r in failed] == ["copy-s1"]
    assert (runs["full-s1"].folder / "calls.txt").read_text().split() == ["train", "eval"]
    assert (runs["parent-s1"].folder / "calls.txt").read_text().split() == ["resume", "eval"]
    assert "0 finished before, 2 to train, 1 to resume, 0 to decode" in lines[0]
    failure = next(line for line in lines if "copy-s1" in line)
    assert "FAILED in train (exit status 2)" in failure and "refuses model.copy=false" in failure
    assert sum("test decoded" in line for line in lines) == 2
    steps = runs["full-s1"].steps()
    assert [s["step"] for s in steps] == ["train", "eval"] and all(s["rc"] == 0 for s in steps)
    # again: the finished runs are skipped, the failed one is tried again
    lines.clear()
    runner.run_all(plan, jobs=1, echo=lines.append)
    assert sum("skipped" in line for line in lines) == 2
    assert (runs["full-s1"].folder / "calls.txt").read_text().split() == ["train", "eval"]


RL_CONFIG = str(ROOT / "configs" / "rl-conala.json")


def test_rl_stages_start_from_their_seeds_trained_full_run(tmp_path, monkeypatch):
    fake = tmp_path / "fake_tranx.py"
    fake.write_text(FAKE_TRANX)
    monkeypatch.setattr(plan_module, "tranx_command", lambda: [sys.executable, str(fake)])
    plan = make_plan(TINY, "rl_prioritized,copy,rl_standard", 2, tmp_path / "abl", rl_config=RL_CONFIG,
                     overrides=["rl.steps=3"])
    runs = {r.name: r for r in plan.runs()}
    assert runs["rl_standard-s2"].base == runs["full-s2"] and runs["copy-s1"].base is None
    assert plan.train_command(runs["rl_standard-s2"])[1:] == [
        str(fake), "rl", str(runs["full-s2"].folder), RL_CONFIG, "rl.steps=3", "rl.kl=standard", "rl.seed=2",
        "--out", str(runs["rl_standard-s2"].folder), "--threads", "1"]
    assert "train.max_epochs" not in " ".join(plan.train_command(runs["rl_standard-s2"]))
    elsewhere = make_plan(TINY, "rl_standard", 1, tmp_path / "abl3", rl_config=RL_CONFIG,
                          overrides=["train.data_root=/data"])  # the stages read the same data as training
    assert "rl.data_root=/data" in elsewhere.train_command(elsewhere.runs()[1])
    lines = []
    failed = runner.run_all(plan, jobs=2, echo=lines.append)  # two at a time: the stages wait for their full run
    assert sorted(r.name for r in failed) == ["copy-s1", "copy-s2"]
    for arm in ("standard", "prioritized"):
        for seed in (1, 2):
            calls = (runs[f"rl_{arm}-s{seed}"].folder / "calls.txt").read_text().splitlines()
            assert calls == [f"rl.steps=3 rl.kl={arm} rl.seed={seed}", "eval"]
    assert any(line.startswith("[") and "rl_standard-s1: RL " in line and "(2 steps, best dev bleu 1.00 at step 1)"
               in line for line in lines), lines
    # a stage whose full run does not train cannot start, and says why
    plan = make_plan(TINY, "rl_standard", 1, tmp_path / "abl2", rl_config=RL_CONFIG, overrides=["model.copy=false"])
    lines.clear()
    assert [r.name for r in runner.run_all(plan, jobs=2, echo=lines.append)] == ["full-s1", "rl_standard-s1"]
    assert "rl_standard-s1: FAILED: its base full-s1 did not train" in lines[-1]
    # one at a time: a stage whose base is trained goes ahead of the variants still queued
    plan = make_plan(TINY, "parent,rl_none", 1, tmp_path / "abl4", rl_config=RL_CONFIG)
    lines.clear()
    assert runner.run_all(plan, jobs=1, echo=lines.append) == []
    assert [line.split()[1] for line in lines[1:]] == ["full-s1:", "rl_none-s1:", "parent-s1:"]
    assert (plan.runs()[2].folder / "calls.txt").read_text().splitlines() == ["rl.kl=none rl.seed=1", "eval"]


def test_records_restore_finished_runs_and_refuse_other_settings(tmp_path, monkeypatch):
    fake = tmp_path / "fake_tranx.py"
    fake.write_text(FAKE_TRANX)
    monkeypatch.setattr(plan_module, "tranx_command", lambda: [sys.executable, str(fake)])
    plan = make_plan(TINY, "copy,rl_standard", 1, tmp_path / "abl", rl_config=RL_CONFIG)
    runner.check_plan_file(plan)
    runs = {r.name: r for r in plan.runs()}
    for name in ("full-s1", "copy-s1"):  # finished runs, with checkpoints
        (runs[name].folder / "best").mkdir(parents=True)
        for file, text in (("summary.json", "{}"), ("test.predictions.jsonl", "{}\n"), ("test.json", "{}")):
            (runs[name].folder / file).write_text(text)
    records = tmp_path / "records"
    assert records_module.save_all(plan, records) == 2
    assert not (records / "runs" / "full-s1" / "best").exists()
    kept = records / "runs" / "copy-s1" / "test.predictions.jsonl.gz"
    assert gzip.decompress(kept.read_bytes()) == b"{}\n"
    records_module.save_all(plan, records)  # saved again: the same bytes (gzip without a time stamp)
    assert gzip.decompress(kept.read_bytes()) == b"{}\n" and kept.read_bytes() == gzip.compress(b"{}\n", mtime=0)
    # a fresh machine: the records make both runs done; the RL stage cannot start from a run without checkpoint
    fresh = make_plan(TINY, "copy,rl_standard", 1, tmp_path / "fresh", rl_config=RL_CONFIG)
    assert records_module.restore(fresh, records) == ["full-s1", "copy-s1"]
    assert (fresh.runs()[1].folder / "test.predictions.jsonl").read_text() == "{}\n"  # unpacked
    assert records_module.restore(fresh, records) == []  # done now
    runner.check_plan_file(fresh)
    lines = []
    assert [r.name for r in runner.run_all(fresh, jobs=1, echo=lines.append)] == ["rl_standard-s1"]
    assert "2 finished before" in lines[0]
    assert "rl_standard-s1: FAILED: its base full-s1 has no checkpoint here (restored from records?)" in lines[-1]
    other = make_plan(TINY, "copy", 1, tmp_path / "other", budget_epochs=2)
    with pytest.raises(TranxError, match=r"records holds runs started with another config \(train.max_epochs\)"):
        records_module.restore(other, records)


@pytest.mark.parametrize("components, overrides, rl_config, needle", [
    ("rl_standard", [], None, "component rl_standard needs --rl-config FILE"),
    ("copy", [], RL_CONFIG, "--rl-config is only used by the RL stages"),
    ("copy", ["rl.steps=3"], None, "rl.steps=3 is only used by the RL stages"),
    ("rl_standard", ["rl.seed=3"], RL_CONFIG, "rl.seed is set per run by --seeds"),
    ("rl_standard", ["rl.gamma=3"], RL_CONFIG, "gamma"),
])
def test_rl_stage_errors(components, overrides, rl_config, needle):
    with pytest.raises(TranxError, match=needle):
        make_plan(TINY, components, 1, "unused", overrides=overrides, rl_config=rl_config)


def test_a_folder_started_with_other_rl_settings_is_refused(tmp_path):
    runner.check_plan_file(make_plan(TINY, "copy,rl_standard", 1, tmp_path, rl_config=RL_CONFIG))
    runner.check_plan_file(make_plan(TINY, "copy", 1, tmp_path))  # without the stages: their settings are kept
    assert json.loads((tmp_path / "plan.json").read_text())["rl"]["config_file"] == RL_CONFIG
    path = tmp_path / "plan.json"
    plan = json.loads(path.read_text())
    del plan["rl"]["config"]["problems"]  # as written by a tranx without that key: its default
    path.write_text(json.dumps(plan))
    runner.check_plan_file(make_plan(TINY, "rl_prioritized", 1, tmp_path, rl_config=RL_CONFIG))
    with pytest.raises(TranxError, match=r"another RL config \(rl.steps\)"):
        runner.check_plan_file(make_plan(TINY, "rl_prioritized", 1, tmp_path, rl_config=RL_CONFIG,
                                         overrides=["rl.steps=3"]))


# --- end to end ---------------------------------------------------------------------------------------------------

def _parses(code: str) -> bool:
    import ast
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def test_tiny_ablation_end_to_end_and_resumed(tmp_path, capsys):
    skip_without_data("conala")
    out = tmp_path / "abl"
    records = tmp_path / "records"
    argv = [TINY, "train.train_limit=60", "train.dev_limit=8", "train.eval_beam_size=1", "--components",
            "copy,grammar_decoder", "--seeds", "1", "--budget-epochs", "1", "--jobs", "1", "--test-limit", "40",
            "--resamples", "2000", "--out", str(out), "--records", str(records)]
    assert runner.main(argv) == 0, capsys.readouterr().err
    first = capsys.readouterr().out
    assert sum(" trained " in line for line in first.splitlines()) == 3, first
    result = json.loads((out / "ablation.json").read_text())
    assert list(result["variants"]) == ["full", "copy", "grammar_decoder"]
    assert result["budget"]["kind"] == "epochs" and result["budget"]["max_epochs"] == 1
    assert "at most 1 epoch per run" in result["budget"]["text"] and result["test_examples"] == 40
    assert result["metrics"] == ["bleu", "exact_match"] and result["cpu_seconds"] > 0
    assert {"command", "commit", "config", "data", "machine"} <= set(result["provenance"])
    for name in ("copy", "grammar_decoder"):
        v = result["variants"][name]
        assert v["seeds"][0]["epochs"] == 1 and v["overrides"] == list(COMPONENTS[name])
        for metric in ("bleu", "exact_match"):
            d = v["delta"][metric]
            assert d["low"] <= d["high"] and 0 < d["p_value"] <= 1
            assert d["delta"] == pytest.approx(v["metrics"][metric]["mean"]
                                               - result["variants"]["full"]["metrics"][metric]["mean"], abs=2e-4)
    assert result["variants"]["copy"]["paper_delta"]["delta"] == -1.10
    assert result["variants"]["grammar_decoder"]["paper_delta"]["delta"] == 0.91
    # the grammar decoders write only code that parses; the token decoder's share is measured from its predictions
    assert result["variants"]["full"]["unparseable"]["mean"] == result["variants"]["copy"]["unparseable"]["mean"] == 0
    predictions = [json.loads(line)["prediction"] for line in
                   (out / "runs" / "grammar_decoder-s1" / "test.predictions.jsonl").read_text().splitlines()]
    share = result["variants"]["grammar_decoder"]["seeds"][0]["unparseable"]
    assert share == pytest.approx(100 * sum(not _parses(p) for p in predictions) / 40)
    text = (out / "ablation.md").read_text()
    assert text == markdown(result)
    assert "| **full** |" in text and "| copy | copy mechanism (`model.copy=false`) |" in text
    assert ("| grammar_decoder | grammar decoder (Python tokens instead) (`train.language=tokens:python`) |" in text)
    assert "read from the paper's chart, approximate" in text and "at most 1 epoch per run" in text
    assert (out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/test.json")}
    assert len(stamps) == 3
    # again: nothing is retrained or decoded again, only the report is rewritten
    started = time.time()
    assert runner.main(argv) == 0
    second = capsys.readouterr().out
    assert "3 finished before, 0 to train, 0 to resume, 0 to decode" in second
    assert sum("skipped" in line for line in second.splitlines()) == 3 and " trained " not in second
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/test.json")} == stamps
    assert time.time() - started < 60
    # on another machine: the records (no checkpoints) bring the finished runs back, and the same report
    assert sorted(p.name for p in (records / "runs" / "full-s1").iterdir()) == [
        "ablation-steps.json", "summary.json", "test.json", "test.predictions.jsonl.gz"]
    shutil.rmtree(out)
    assert runner.main(argv) == 0
    third = capsys.readouterr().out
    assert "restored from" in third and "3 finished before, 0 to train" in third and " trained " not in third
    again = json.loads((out / "ablation.json").read_text())
    assert again["variants"] == result["variants"]


def test_execution_scores_read_the_top_candidates_verdicts(tmp_path):
    from tranx.ablation.report import execution_scores
    path = tmp_path / "details.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"id": "test/1", "outcomes": ["pass"]}, {"id": "test/0", "outcomes": ["tests_fail", "pass"]},
        {"id": "test/2", "outcomes": []}]))
    order, scores = execution_scores(path, None)
    assert order == ["test/1", "test/0", "test/2"] and scores.score() == pytest.approx(100 / 3)
    order, scores = execution_scores(path, ["test/0", "test/1", "test/2"])  # another run's order is kept
    assert scores.stats[:, 0].tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(TranxError, match="its problems differ"):
        execution_scores(path, ["test/0", "test/1"])
    with pytest.raises(TranxError, match="is missing: decode the run again with --execute --details"):
        execution_scores(tmp_path / "none.jsonl", None)


def test_tiny_ablation_on_a_task_with_unit_tests_reports_pass_at_1(tmp_path, capsys):
    skip_without_data("codeinsight")
    out = tmp_path / "abl"
    argv = [TINY, "train.dataset=codeinsight", "train.train_limit=30", "train.dev_limit=4",
            "train.eval_beam_size=1", "train.beam_size=1", "--components", "copy", "--seeds", "1",
            "--budget-epochs", "1", "--jobs", "2", "--test-limit", "12", "--resamples", "500", "--out", str(out)]
    assert runner.main(argv) == 0, capsys.readouterr().err
    result = json.loads((out / "ablation.json").read_text())
    assert result["metrics"][0] == "pass@1" and result["headline_metric"] == "pass@1"
    for variant in ("full", "copy"):
        run = out / "runs" / f"{variant}-s1"
        recorded = json.loads((run / "test.json").read_text())["execution"]
        assert recorded["total"] == len((run / "test.execution.jsonl").read_text().splitlines())
        assert result["variants"][variant]["seeds"][0]["pass@1"] == pytest.approx(recorded["pass@1"], abs=0.01)
    assert "| variant | removes (or adds) | pass@1 | Δ pass@1 [95% CI] | p |" in (out / "ablation.md").read_text()


def test_tiny_ablation_with_an_rl_stage(tmp_path, capsys):
    skip_without_data("conala")
    rl_config = tmp_path / "rl.json"
    rl_config.write_text(json.dumps({"rl": {"reward": "bleu", "steps": 2, "eval_every": 1, "problems_per_step": 2,
                                            "samples": 2, "dev_limit": 4, "max_decode_steps": 60, "lr": 1e-3}}))
    out = tmp_path / "abl"
    argv = [TINY, "train.train_limit=60", "train.dev_limit=4", "train.eval_beam_size=1", "rl.alpha=0.5",
            "--components", "rl_standard", "--rl-config", str(rl_config), "--seeds", "1", "--budget-epochs", "1",
            "--test-limit", "20", "--resamples", "500", "--out", str(out)]
    assert runner.main(argv) == 0, capsys.readouterr().err
    result = json.loads((out / "ablation.json").read_text())
    stage = result["variants"]["rl_standard"]
    assert stage["overrides"] == ["rl.kl=standard"] and stage["removes"] == "adds RL fine-tuning, standard KL"
    assert stage["seeds"][0]["rl_steps"] == 2 and stage["seeds"][0]["epochs"] == 1  # full's epochs
    assert result["rl"]["overrides"] == ["rl.alpha=0.5"] and result["rl"]["config"]["steps"] == 2
    rl_run = json.loads((out / "runs" / "rl_standard-s1" / "rl.json").read_text())
    assert rl_run["base"] == str(out / "runs" / "full-s1") and rl_run["rl"]["kl"] == "standard"
    assert rl_run["rl"]["alpha"] == 0.5 and rl_run["rl"]["seed"] == 1
    d = stage["delta"]["bleu"]
    assert d["delta"] == pytest.approx(stage["metrics"]["bleu"]["mean"]
                                       - result["variants"]["full"]["metrics"]["bleu"]["mean"], abs=2e-4)
    text = (out / "ablation.md").read_text()
    assert "| rl_standard | adds RL fine-tuning, standard KL (`rl.kl=standard`) |" in text
    assert "the RL stages: 2 steps of 2 problems x 2 samples" in text
    assert "rl_standard: RL fine-tuning of full's run of the same seed" in text
