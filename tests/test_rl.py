"""RL fine-tuning: the exact KL and its weights, the leave-one-out advantages, the loss on tiny models, a toy RL
run that must raise its reward, and a resumed run that must continue bit for bit."""

from __future__ import annotations

import json
import math

import pytest
import torch

from model_fixtures import conala_examples, make_model, skip_without_data, tensor_examples, train, trained_translator
from tranx.data.examples import collate, tensorize
from tranx.decoding.search import sample
from tranx.errors import TranxError
from tranx.nn.distribution import NEG, VALID
from tranx.rl.config import RLConfig, load_rl_config
from tranx.rl.kl import certainty, check_same_mask, exact_kl, k2, kl_weights, tempered
from tranx.rl.objective import rl_loss
from tranx.rl.rewards import CODERL_REWARD, BleuReward, ExactMatchReward, UnitTestReward
from tranx.rl.rollout import actions_from_columns, leave_one_out
from preprocess.tasks import get_task


def _dense(probabilities: list[list[float]]) -> torch.Tensor:
    p = torch.tensor(probabilities)
    return torch.where(p > 0, p.clamp(min=1e-30).log(), torch.full_like(p, NEG))


def _sampled_batch(model, n: int = 6, seed: int = 0):
    words = [e.words for e in conala_examples()[:n]]
    drawn = sample(model, words, num_samples=2, max_steps=60, generator=torch.Generator().manual_seed(seed),
                   trace=True)
    rows, columns = [], []
    for units, results in zip(words, drawn):
        for result in results:
            rows.append(tensorize(units, list(result.hypothesis.actions), model.system, model.tables))
            # a row that reached a field nothing may fill (a tiny vocabulary) ends with that step's invalid draw
            columns.append(result.trace.columns.tolist()[:result.hypothesis.length])
    return collate(rows), columns


# --- the KL and its weights ---------------------------------------------------------------------------------------
def test_kl_is_exactly_zero_when_the_policy_is_the_reference():
    model = make_model(seed=3)
    batch, _ = _sampled_batch(model)
    with torch.no_grad():
        dense = model.teacher_forced(batch)[0].log_probs()
    assert float(exact_kl(dense, dense).abs().max()) == 0.0
    parts = rl_loss(model, model, batch, torch.zeros(batch.target.size(0)), RLConfig(kl="standard", alpha=1.0))
    assert parts.stats["kl"] == 0.0 and parts.stats["weighted_kl"] == 0.0


def test_exact_kl_matches_a_monte_carlo_estimate_on_tiny_models():
    policy, reference = make_model(seed=1), make_model(seed=2)
    batch, _ = _sampled_batch(policy, n=2)
    with torch.no_grad():
        p = policy.teacher_forced(batch)[0].log_probs()[0, :5]  # 5 steps of one program
        q = reference.teacher_forced(batch)[0].log_probs()[0, :5]
    exact = exact_kl(p, q)
    generator = torch.Generator().manual_seed(0)
    draws = torch.multinomial(p.exp(), 200_000, replacement=True, generator=generator)  # [5, N]
    estimate = (p.gather(1, draws) - q.gather(1, draws)).mean(1)
    assert torch.all(exact > 0)
    assert torch.allclose(estimate, exact, atol=0.02, rtol=0.05), (estimate, exact)


def test_certainty_and_prioritized_weights():
    dense = _dense([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0], [1.0, 0, 0, 0], [0.7, 0.1, 0.1, 0.1]])
    dense[3, 1:] = _dense([[0.0, 0.0, 0.0]])  # one valid action only
    j, informative = certainty(dense)
    assert informative.tolist() == [False, True, True, False, True]
    assert j[1].item() == pytest.approx(0.0, abs=1e-6) and j[2].item() == pytest.approx(0.0, abs=1e-6)
    h = -(0.7 * math.log(0.7) + 3 * 0.1 * math.log(0.1))
    assert j[4].item() == pytest.approx(1 - h / math.log(4), abs=1e-6)
    one_hot_ish = _dense([[1 - 3e-7, 1e-7, 1e-7, 1e-7]])
    jj, inf = certainty(one_hot_ish)
    assert kl_weights(jj, inf, "prioritized", 150.0).item() == pytest.approx(1.0, abs=1e-3)
    weights = kl_weights(j, informative, "prioritized", 150.0)
    assert weights[1].item() < 1e-6 and weights[0].item() == 0.0 and weights[3].item() == 0.0
    assert kl_weights(j, informative, "standard", 150.0).tolist() == [0.0, 1.0, 1.0, 0.0, 1.0]
    assert kl_weights(j, informative, "none", 150.0).sum().item() == 0.0
    jm, _ = certainty(dense, "max_prob")
    assert jm[4].item() == pytest.approx((0.7 - 0.25) / 0.75, abs=1e-6) and jm[1].item() == pytest.approx(0.0, abs=1e-6)


def test_masks_must_agree_and_zero_probability_actions_give_no_nan():
    p = _dense([[0.5, 0.5, 0.0], [0.9, 0.0, 0.1]]).requires_grad_(True)
    q = _dense([[0.25, 0.75, 0.0], [0.5, 0.0, 0.5]])
    check_same_mask(p, q)
    with pytest.raises(ValueError, match="disagree on the valid actions of 1 steps"):
        check_same_mask(p, _dense([[0.25, 0.75, 0.0], [0.5, 0.5, 0.0]]))
    kl = exact_kl(p, q)
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl[0].item() == pytest.approx(expected, abs=1e-6)
    (kl.sum() + k2(p[:, 0], q[:, 0]).sum() + tempered(p, 0.7)[:, 0].sum()).backward()
    assert torch.isfinite(p.grad).all()
    t = tempered(_dense([[0.8, 0.2, 0.0]]), 0.5).exp()
    assert t[0, 0].item() == pytest.approx(0.64 / 0.68, abs=1e-6) and t[0, 2].item() == 0.0


def test_policy_and_reference_models_share_the_mask_on_sampled_programs():
    policy, reference = make_model(seed=1), make_model(seed=2)
    batch, _ = _sampled_batch(policy)
    with torch.no_grad():
        check_same_mask(policy.teacher_forced(batch)[0].log_probs(), reference.teacher_forced(batch)[0].log_probs())


def test_replayed_targets_are_the_sampled_columns():
    model = make_model(seed=4)
    batch, columns = _sampled_batch(model)
    for row, drawn in enumerate(columns):
        assert batch.target[row, :len(drawn)].tolist() == drawn
    words = conala_examples()[0].words
    actions = actions_from_columns(model, words, columns[0])
    assert tensorize(words, actions, model.system, model.tables).target == columns[0]


# --- advantages and rewards ----------------------------------------------------------------------------------------
def test_leave_one_out_advantages_sum_to_zero_per_problem():
    rewards = torch.tensor([[1.0, -0.3, -0.3, -1.0], [0.5, 0.5, 0.5, 0.5], [0.0, 1.0, 0.0, 0.0]])
    advantages = leave_one_out(rewards)
    assert torch.allclose(advantages.sum(1), torch.zeros(3), atol=1e-6)
    assert advantages[0, 0].item() == pytest.approx(1.0 - (-1.6 / 3))
    assert advantages[1].abs().max().item() == 0.0
    with pytest.raises(ValueError):
        leave_one_out(torch.ones(3, 1))


def test_unchecked_outcomes_never_pay_more_than_a_failed_test():
    assert CODERL_REWARD["pass"] == 1.0 and CODERL_REWARD["tests_fail"] == -0.3
    lowest = min(CODERL_REWARD.values())
    for outcome in ("rejected", "timeout", "memory", "does_not_parse"):
        assert CODERL_REWARD[outcome] == lowest


def test_exact_match_and_bleu_rewards():
    from tranx.execution.unit_tests import Problem
    problem = Problem("p", "intent", "x = sorted(d.items())", (), ())
    em = ExactMatchReward(get_task("conala"))([problem], [["x = sorted(d.items())", "x = d", ""]])[0]
    assert [s.reward for s in em] == [1.0, 0.0, 0.0] and [s.outcome for s in em] == ["match", "no_match", "no_code"]
    bleu = BleuReward(get_task("conala"))([problem], [["x = sorted(d.items())", "x = sorted(d)", ""]])[0]
    assert bleu[0].reward == pytest.approx(1.0) and 0 < bleu[1].reward < 1 and bleu[2].reward == 0.0
    django = ExactMatchReward(get_task("django"))
    line = Problem("q", "if x", "if x :", (), ())
    assert django([line], [["if x:"]])[0][0].success


def test_sentence_bleu_is_sacrebleus_add_one_smoothing():
    sacrebleu = pytest.importorskip("sacrebleu")
    from tranx.metrics import sentence_bleu, tokenize_for_bleu_eval
    pairs = [("sorted(d.items(), key=lambda x: x[1])", "sorted(d.items(), key=operator.itemgetter(1))"),
             ("x = 1", "print(open('f').read())"), ("a", "a b c d e")]
    for hypothesis, reference in pairs:
        h, r = tokenize_for_bleu_eval(hypothesis), tokenize_for_bleu_eval(reference)
        expected = sacrebleu.sentence_bleu(" ".join(h), [" ".join(r)], smooth_method="add-k", smooth_value=1,
                                           tokenize="none").score
        assert sentence_bleu(h, r) == pytest.approx(expected, abs=1e-9), hypothesis


def test_unit_test_reward_runs_each_distinct_program_once():
    skip_without_data("codeinsight")
    from tranx.execution.unit_tests import Problem
    problem = Problem("toy", "add one", "def test(x):\n    return x + 1", ("assert test(1) == 2", "assert test(5) == 6"), ())
    reward = UnitTestReward(get_task("codeinsight"), scheme="pass_ratio")
    good, half = "def test(x):\n    return x + 1", "def test(x):\n    return 2 if x == 1 else 0"
    scored = reward([problem], [[good, good, half, "def test(:", "import ctypes\ndef test(x):\n    return x + 1"]])[0]
    assert [s.outcome for s in scored] == ["pass", "pass", "tests_fail", "does_not_parse", "rejected"]
    assert [s.reward for s in scored] == [1.0, 1.0, 0.5, -1.0, -1.0]
    assert reward.executed == 2
    reward([problem], [[good, half]])
    assert reward.executed == 2  # cached by (problem, code)


def test_with_snippets_a_sample_without_a_function_is_run_in_the_problems_function():
    skip_without_data("codeinsight")
    from tranx.execution.unit_tests import Problem
    from tranx.rl.rewards import build_reward
    problem = Problem("toy", "add one", "def test(x):\n    return x + 1", ("assert test(1) == 2",), (), "def test(x):")
    task = get_task("codeinsight")
    as_written, wrapped = build_reward("unit_tests", task), build_reward("unit_tests", task, snippets=True)
    assert [s.outcome for s in as_written([problem], [["x + 1", "x - 1"]])[0]] == ["runtime_error"] * 2
    assert [s.reward for s in wrapped([problem], [["x + 1", "x - 1"]])[0]] == [1.0, -0.3]
    with pytest.raises(TranxError, match="snippets wrap samples for unit tests; reward 'bleu' runs none"):
        build_reward("bleu", get_task("conala"), snippets=True)


# --- the loss and a toy RL run ---------------------------------------------------------------------------------------
def test_config_rejects_bad_values_and_unknown_keys(tmp_path):
    with pytest.raises(TranxError, match="rl.kl 'big' is not one of"):
        RLConfig(kl="big")
    with pytest.raises(TranxError, match="at least 2"):
        RLConfig(samples=1)
    path = tmp_path / "rl.json"
    path.write_text(json.dumps({"rl": {"alpha": 2}}))
    assert load_rl_config(path, ["rl.beta=10", "kl=standard"]).beta == 10.0
    with pytest.raises(TranxError, match="unknown RL config key 'rl.gamma'"):
        load_rl_config(path, ["rl.gamma=1"])
    path.write_text(json.dumps({"rl": {"alpha": "big"}}))
    with pytest.raises(TranxError, match="'rl.alpha' must be float"):
        load_rl_config(path)


def test_a_tiny_rl_run_raises_a_toy_reward():
    """Reward: minus the number of actions / 10 (shorter programs). 25 RLOO steps must raise its mean clearly."""
    policy = make_model(seed=5)
    train(policy, conala_examples(), steps=40, lr=1e-2, batch_size=20)
    reference = make_model(seed=5)
    reference.load_state_dict(policy.state_dict())
    words = [e.words for e in conala_examples()[:8]]
    config = RLConfig(kl="prioritized", alpha=0.1, beta=10.0, temperature=1.0)
    optimizer = torch.optim.Adam(policy.decoder.parameters(), lr=5e-3)

    def mean_reward(seed: int) -> float:
        drawn = sample(policy, words, num_samples=8, max_steps=60, generator=torch.Generator().manual_seed(seed))
        return sum(-r.hypothesis.length / 10 for results in drawn for r in results) / 64

    before = mean_reward(100)
    generator = torch.Generator().manual_seed(0)
    for _ in range(25):
        drawn = sample(policy, words, num_samples=4, max_steps=60, generator=generator)
        rows = [tensorize(units, list(r.hypothesis.actions), policy.system, policy.tables)
                for units, results in zip(words, drawn) for r in results]
        rewards = torch.tensor([[-r.hypothesis.length / 10 for r in results] for results in drawn])
        parts = rl_loss(policy, reference, collate(rows), leave_one_out(rewards).reshape(-1), config)
        optimizer.zero_grad()
        parts.loss.backward()
        optimizer.step()
        assert math.isfinite(parts.stats["loss"])
    after = mean_reward(100)
    assert after > before + 0.3, (before, after)


def test_cross_entropy_anchor_adds_the_gold_programs_nll():
    model = make_model(seed=6)
    batch, _ = _sampled_batch(model, n=2)
    gold = collate(tensor_examples(model, conala_examples()[:3]))
    advantages = torch.zeros(batch.target.size(0))
    plain = rl_loss(model, model, batch, advantages, RLConfig(kl="none"))
    anchored = rl_loss(model, model, batch, advantages, RLConfig(kl="none", ce_anchor=0.5), gold=gold)
    nll, scored = model.loss(gold)
    assert anchored.stats["ce"] == pytest.approx(float(nll.detach().sum() / scored.sum()), rel=1e-5)
    assert float(anchored.loss.detach()) == pytest.approx(float(plain.loss.detach()) + 0.5 * anchored.stats["ce"], rel=1e-5)


def test_log_probabilities_are_taken_at_the_sampling_temperature():
    model = make_model(seed=7)
    batch, _ = _sampled_batch(model, n=2)
    advantages = torch.ones(batch.target.size(0))
    with torch.no_grad():
        dense = model.teacher_forced(batch)[0].log_probs()
    steps = batch.step_mask & (batch.target >= 0)
    for temperature in (1.0, 0.5):
        parts = rl_loss(model, model, batch, advantages, RLConfig(kl="none", temperature=temperature))
        chosen = tempered(dense, temperature).gather(-1, batch.target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        expected = -float(chosen[steps & (chosen > VALID)].sum()) / len(advantages)
        assert parts.stats["pg_loss"] == pytest.approx(expected, rel=1e-5)


# --- the trainer: resume bit for bit -----------------------------------------------------------------------------------
def _rl_run(tmp_path, name: str, steps: int, resume: bool = False):
    from tranx.rl.trainer import RLTrainer
    base = tmp_path / "base"
    if not base.exists():
        trained_translator().save_pretrained(base)
    config = RLConfig(reward="bleu", kl="prioritized", beta=10.0, alpha=1.0, problems_per_step=3, samples=2,
                      steps=steps, eval_every=2, dev_limit=4, max_decode_steps=60, lr=1e-3)
    return RLTrainer(base, config, tmp_path / name, resume=resume, progress=False)


def test_resumed_run_continues_bit_for_bit(tmp_path):
    skip_without_data("conala")
    straight = _rl_run(tmp_path, "straight", 4)
    straight.train()
    _rl_run(tmp_path, "resumed", 2).train()
    resumed = _rl_run(tmp_path, "resumed", 4, resume=True)
    assert resumed.state["step"] == 2
    summary = resumed.train()
    assert summary["steps"] == 4
    for (name, a), b in zip(straight.policy.decoder.state_dict().items(), resumed.policy.decoder.state_dict().values()):
        assert torch.equal(a, b), name
    rows = lambda run: [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
    drop = lambda row: {k: v for k, v in row.items() if k != "seconds"}
    assert [drop(r) for r in rows("straight")] == [drop(r) for r in rows("resumed")]
    assert (tmp_path / "resumed" / "best" / "model.safetensors").is_file()
    assert (tmp_path / "resumed" / "curves.png").is_file()


def test_probe_set_is_tied_to_its_base_and_gives_a_probability(tmp_path):
    skip_without_data("conala")
    from tranx.rl.critical import analyse, probe_set
    from tranx.rl.problems import load_rl_problems
    from tranx.rl.rewards import Scored
    from tranx.translator import Translator
    base = tmp_path / "base"
    trained_translator().save_pretrained(base)
    problems, _ = load_rl_problems(get_task("conala"), "dev")

    def reward(problems, candidates):  # success: the program calls something
        return [[Scored(float("(" in c), "match" if "(" in c else "no_match", "(" in c) for c in row]
                for row in candidates]
    report = {"run": str(base), **analyse(Translator.from_pretrained(base), problems[:12], reward, max_branches=3,
                                          alternatives=2, progress=False)}
    assert probe_set(report), "the tiny model should have some critical points on 12 problems"
    good, other = tmp_path / "probe.json", tmp_path / "other.json"
    good.write_text(json.dumps(report))
    other.write_text(json.dumps({**report, "run": str(tmp_path / "elsewhere")}))
    trainer = _rl_run(tmp_path, "probed", 1)
    trainer.probes = trainer._load_probes(str(good))
    probability = trainer.probe_probability(chunk=5)
    assert len(trainer.probes) == len(probe_set(report)) and 0.0 < probability <= 1.0
    with pytest.raises(TranxError, match="was measured on"):
        trainer._load_probes(str(other))


def test_unseen_problems_leave_out_what_the_base_trained_on(tmp_path):
    skip_without_data("conala")
    import copy
    from tranx.rl.trainer import RLTrainer
    from tranx.translator import Translator
    shared = trained_translator()
    config = copy.deepcopy(shared.config)
    config.train.train_limit = 25
    Translator(config, shared.model).save_pretrained(tmp_path / "base")
    rl = lambda **kw: RLTrainer(tmp_path / "base", RLConfig(reward="bleu", steps=1, dev_limit=2, **kw),
                                tmp_path / "rl", progress=False)
    everything = rl().train_problems
    unseen = rl(problems="unseen")
    seen = {e.id for e in unseen._training_examples()[:25]}
    assert len(seen) == 25 and seen <= {p.id for p in everything}
    assert [p.id for p in unseen.train_problems] == [p.id for p in everything if p.id not in seen]
    with pytest.raises(TranxError, match="rl.ce_anchor trains on them"):
        rl(problems="unseen", ce_anchor=0.5)
    config.train.train_limit = None
    Translator(config, shared.model).save_pretrained(tmp_path / "all")
    with pytest.raises(TranxError, match="trained on every conala training example"):
        RLTrainer(tmp_path / "all", RLConfig(reward="bleu", problems="unseen"), tmp_path / "rl2", progress=False)
    with pytest.raises(TranxError, match="rl.problems 'some' is not one of all, unseen"):
        RLConfig(problems="some")
