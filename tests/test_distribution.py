"""Tests for tranx.nn.distribution, tranx.data.tables and the search written on them, on a tiny finite grammar.

The grammar has 33 programs in all, so everything can be checked against exact numbers: beam search with a wide
beam is exhaustive enumeration (every program, each with its hand-computed log-likelihood, probabilities summing to
one); the sampler's program frequencies match the exact probabilities (chi-square), also tempered and top-k cut;
entropies count distinct valid actions (a word the vocabulary holds, or one twice in the intent, is one action); and
the set of actions search can emit equals the set training gives non-zero probability, at every state, on the tiny
grammar and on Python.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from scipy.stats import chisquare

from model_fixtures import replay_log_probs, tiny_config, trained_translator
from tranx.grammar.actions import REDUCE, GenToken
from tranx.grammar.asdl import parse_asdl
from tranx.data.examples import collate, tensorize
from tranx.nn.distribution import NEG, VALID, ActionDistribution
from tranx.nn.model import TranxModel, build_encoder
from tranx.decoding.search import beam_search, greedy_search, sample
from tranx.data.vocab import Vocab

GRAMMAR = """
module Tiny {
    prog = Call(name func, arg? argument) | Stop
    name = Named(identifier id)
    arg = Num(int value) | Var(identifier id)
}
"""
WORDS = ["call", "f", "3", "f"]  # "call": copy only; "f": in the vocabulary and twice; "3": an int, not a name
IDENTIFIERS = ["f", "g", "x", "call"]
INTS = ["1", "2", "3"]


def token_ok(type_name: str, token: str) -> bool:
    return token.isidentifier() if type_name == "identifier" else token.isdigit()


@pytest.fixture(scope="module")
def model():
    grammar = parse_asdl(GRAMMAR, name="tiny")
    tokens = Vocab(["f", "g", "x", "1", "2"], name="primitive", types={"identifier": ["f", "g", "x"], "int": ["1", "2"]})
    config = tiny_config()
    torch.manual_seed(3)
    m = TranxModel(config, grammar, tokens, build_encoder(config), token_ok=token_ok)
    with torch.no_grad():  # sharpen the random heads so the distribution is far from uniform
        for head in (m.decoder.rule_head, m.decoder.token_head, m.decoder.gate_head, m.decoder.copy_query):
            head.weight.mul_(8)
    return m.eval()


def all_programs(model) -> list[tuple]:
    """Every complete action sequence of the tiny grammar over WORDS, by hand."""
    g, rule = model.grammar, model.system.rule
    c = {name: rule(g.constructor(name)) for name in ("Call", "Stop", "Named", "Num", "Var")}
    out = [(c["Stop"],)]
    for name in IDENTIFIERS:
        head = (c["Call"], c["Named"], GenToken(name))
        out.append(head + (REDUCE,))
        out += [head + (c["Num"], GenToken(i)) for i in INTS]
        out += [head + (c["Var"], GenToken(v)) for v in IDENTIFIERS]
    return out


def exact(model) -> dict[tuple, float]:
    return {p: sum(replay_log_probs(model, WORDS, p)) for p in all_programs(model)}


def test_wide_beam_search_is_exhaustive_enumeration(model):
    expected = exact(model)
    assert len(expected) == 33
    assert sum(math.exp(v) for v in expected.values()) == pytest.approx(1.0, abs=1e-5)  # normalised over valid only
    results = beam_search(model, [WORDS], beam_size=100, max_steps=10, length_penalty=0.0)[0]
    found = {r.hypothesis.actions: r.log_prob for r in results}
    assert set(found) == set(expected)
    for program, log_prob in expected.items():
        assert found[program] == pytest.approx(log_prob, abs=1e-5)
    assert [r.log_prob for r in results] == sorted(found.values(), reverse=True)
    # a beam of 1 is greedy, and greedy is the best first action at every step (here also the best program)
    greedy = greedy_search(model, [WORDS], max_steps=10)[0]
    assert beam_search(model, [WORDS], beam_size=1, max_steps=10)[0][0].hypothesis.actions == greedy.hypothesis.actions


def _chi_square(counts: Counter, probs: dict[tuple, float], n: int) -> float:
    """p-value of the counts against the probabilities, rare programs pooled (expected counts >= 5)."""
    ordered = sorted(probs, key=lambda p: -probs[p])
    observed, wanted, pool_o, pool_e = [], [], 0, 0.0
    for program in ordered:
        e = probs[program] * n
        if e >= 5:
            observed.append(counts[program])
            wanted.append(e)
        else:
            pool_o += counts[program]
            pool_e += e
    if pool_e > 0:
        observed.append(pool_o)
        wanted.append(pool_e)
    assert sum(counts.values()) == n and set(counts) <= set(probs)
    scale = n / sum(wanted)  # float32 probabilities sum to 1 within 1e-6; chisquare wants the totals equal
    return chisquare(observed, [w * scale for w in wanted]).pvalue


def test_sampler_matches_the_exact_distribution(model):
    probs = {p: math.exp(v) for p, v in exact(model).items()}
    n = 4000
    drawn = sample(model, [WORDS], num_samples=n, max_steps=10, generator=torch.Generator().manual_seed(0))[0]
    assert all(r.complete for r in drawn)
    assert _chi_square(Counter(r.hypothesis.actions for r in drawn), probs, n) > 1e-3
    for r in drawn[:50]:  # each draw reports its exact log-probability
        assert r.log_prob == pytest.approx(math.log(probs[r.hypothesis.actions]), abs=1e-4)


def _step_tables(model, program) -> list[torch.Tensor]:
    """The dense step distribution before each action of `program`, one decode step at a time."""
    out = []
    with torch.no_grad():
        memory, state = model.encode([WORDS])
        hypothesis, history, previous = model.system.initial(), [], 0
        for action in program:
            frontier = hypothesis.frontier
            parent = history[frontier.parent_step] if frontier.parent_step >= 0 else torch.zeros_like(state.h)
            state, d = model.decode_step(torch.tensor([previous]), torch.tensor([frontier.state]), parent, state,
                                         memory)
            history.append(state.h)
            out.append(d.log_probs()[0])
            previous = model.ids.of(action)
            hypothesis = hypothesis.apply(action)
    return out


def _column(model, program, t) -> int:
    return tensorize(WORDS, list(program[:t + 1]), model.system, model.tables).target[t]


def test_tempered_top_k_sampling_matches_its_own_distribution(model):
    temperature, top_k = 1.7, 2
    tempered = {}
    for program in all_programs(model):
        log_p = 0.0
        for t, table in enumerate(_step_tables(model, program)):
            logits = table / temperature
            kept = torch.topk(logits, top_k).indices
            column = _column(model, program, t)
            if column not in kept.tolist():
                log_p = -math.inf
                break
            log_p += (logits[column] - torch.logsumexp(logits[kept], 0)).item()
        if log_p > -math.inf:
            tempered[program] = math.exp(log_p)
    assert sum(tempered.values()) == pytest.approx(1.0, abs=1e-5) and 2 < len(tempered) < 33
    n = 3000
    drawn = sample(model, [WORDS], num_samples=n, max_steps=10, temperature=temperature, top_k=top_k,
                   trace=True, generator=torch.Generator().manual_seed(1))[0]
    assert _chi_square(Counter(r.hypothesis.actions for r in drawn), tempered, n) > 1e-3
    untempered = exact(model)
    for r in drawn[:40]:  # both log-probabilities, per step
        assert r.trace.sampled_log_probs.sum().item() == pytest.approx(math.log(tempered[r.hypothesis.actions]),
                                                                        abs=1e-4)
        assert r.trace.log_probs.sum().item() == pytest.approx(untempered[r.hypothesis.actions], abs=1e-4)
        assert r.log_prob == pytest.approx(untempered[r.hypothesis.actions], abs=1e-4)
        assert len(r.trace.columns) == r.hypothesis.length


def test_entropy_is_over_distinct_valid_actions(model):
    program = all_programs(model)[1]  # Call Named f Reduce
    tables = _step_tables(model, program)
    distribution = _step_distribution(model, program)
    entropy, count = distribution.entropy()
    # root: Call or Stop; Call's field: Named; the name: f g x (vocabulary, "f" also copied twice) and "call"; then
    # the optional argument: Num, Var or Reduce
    assert count.tolist() == [2, 1, 4, 3]
    for t, table in enumerate(tables):
        p = table[table > VALID].exp()
        assert p.sum().item() == pytest.approx(1.0, abs=1e-5)
        assert entropy[t].item() == pytest.approx(-(p * p.log()).sum().item(), abs=1e-5)
    assert entropy[1].item() == pytest.approx(0.0, abs=1e-6)


def test_a_step_of_one_field_kind_skips_unread_heads_and_changes_nothing(model):
    """A one-row decode step is all-composite or all-primitive, so it skips the heads no row reads; teacher forcing
    mixes both kinds in one call and computes every head: the tables must agree, invalid columns exactly NEG."""
    for program in all_programs(model)[:14]:
        stepped = torch.stack(_step_tables(model, program))
        teacher = _step_distribution(model, program)
        assert torch.equal(stepped <= VALID, teacher.log_probs() <= VALID)
        assert torch.allclose(stepped, teacher.log_probs(), atol=1e-5, rtol=0)
        assert (stepped[stepped <= VALID] == NEG).all()
    assert teacher.primitive.any() and not teacher.primitive.all()  # the teacher-forced side really is mixed


def _step_distribution(model, program) -> ActionDistribution:
    batch = collate([tensorize(WORDS, list(program), model.system, model.tables)])
    with torch.no_grad():
        distribution, _, _ = model.teacher_forced(batch)
    return distribution.map(lambda t: t[0])


def _candidates(model, words):
    """Every action the vocabulary, the words and the grammar could name."""
    system = model.system
    out = [system.rule(c) for c in model.grammar.constructors] + [REDUCE]
    return out + [GenToken(t) for t in model.tokens.tokens] + [GenToken(w) for w in dict.fromkeys(words)]


def _emittable_equals_trainable(model, words, prefix) -> int:
    """At the state after `prefix`: the columns search may emit (decode step) are exactly the targets of the actions
    training gives non-zero probability (teacher forcing, `tensorize`), and they name the same actions."""
    hypothesis = model.system.replay(prefix)
    with torch.no_grad():
        memory, state = model.encode([words])
        history, previous, h = [], 0, model.system.initial()
        for action in list(prefix) + [None]:
            frontier = h.frontier
            parent = history[frontier.parent_step] if frontier.parent_step >= 0 else torch.zeros_like(state.h)
            state, d = model.decode_step(torch.tensor([previous]), torch.tensor([frontier.state]), parent, state,
                                         memory)
            history.append(state.h)
            if action is None:
                break
            previous = model.ids.of(action)
            h = h.apply(action)
    emittable = set(torch.nonzero(d.valid()[0]).flatten().tolist())
    trainable = {}
    for action in _candidates(model, words):
        if not hypothesis.valid_actions().allows(action):
            continue
        example = tensorize(words, list(prefix) + [action], model.system, model.tables)
        column = example.target[-1]
        if column < 0:
            continue
        with torch.no_grad():
            teacher, _, _ = model.teacher_forced(collate([example]))
        if teacher.log_prob(torch.tensor([example.target]))[0, -1].item() > VALID:
            trainable[column] = action
    assert emittable == set(trainable)
    return len(emittable)


def test_what_search_emits_is_what_training_scores_tiny(model):
    checked = 0
    for program in all_programs(model):
        for t in range(len(program)):
            checked += _emittable_equals_trainable(model, WORDS, program[:t])
    assert checked > 100


def test_what_search_emits_is_what_training_scores_python():
    translator = trained_translator()
    model = translator.model
    words = translator.prepare("sort list `my_list` by key 'name' 3 times")[0]
    result = greedy_search(model, [words], max_steps=40)[0]
    actions = result.hypothesis.actions
    assert len(actions) >= 5
    kinds = Counter()
    for t in range(len(actions)):
        kinds[model.system.replay(actions[:t]).frontier.field.is_primitive] += 1
        _emittable_equals_trainable(model, words, actions[:t])
    assert kinds[True] and kinds[False]


def test_sample_rejects_bad_settings(model):
    d = _step_distribution(model, all_programs(model)[0])
    for kwargs, message in [({"temperature": 0}, "temperature"), ({"top_k": 0}, "top_k"), ({"top_p": 1.5}, "top_p")]:
        with pytest.raises(ValueError, match=message):
            d.sample(**kwargs)


def test_nucleus_keeps_the_smallest_set_reaching_p():
    # four tokens with probabilities .5 .3 .15 .05 on a primitive field (no rules, no copy, no Reduce)
    p = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    d = ActionDistribution(rule=torch.full((1, 2), NEG), gate=torch.tensor([[0.0, NEG, NEG]]), token=p.log(),
                           copy=torch.full((1, 1), NEG), slot=torch.zeros(1, 1, dtype=torch.long),
                           primitive=torch.tensor([True]))
    counts = Counter()
    generator = torch.Generator().manual_seed(0)
    wide = d.map(lambda t: t.expand(5000, *t.shape[1:]))
    drawn = wide.sample(top_p=0.75, generator=generator)
    counts.update(drawn.columns.tolist())
    assert set(counts) == {2, 3}  # columns R+1+j: tokens 0 and 1 (.5 + .3 >= .75); .15 and .05 cut
    assert counts[2] / 5000 == pytest.approx(0.5 / 0.8, abs=0.03)
    assert drawn.log_prob[drawn.columns == 2][0].item() == pytest.approx(math.log(0.5 / 0.8), abs=1e-5)
    assert drawn.base_log_prob[drawn.columns == 2][0].item() == pytest.approx(math.log(0.5), abs=1e-5)


def test_sampling_with_gradients_for_rl(model):
    """`grad=True` keeps each step's log-probability in the graph (what a policy gradient needs) and draws exactly
    what the no-grad path draws with the same seed."""
    kwargs = dict(num_samples=6, max_steps=10, temperature=1.3, top_k=3)
    plain = sample(model, [WORDS], generator=torch.Generator().manual_seed(5), trace=True, **kwargs)[0]
    with_grad = sample(model, [WORDS], generator=torch.Generator().manual_seed(5), grad=True, **kwargs)[0]
    assert [r.hypothesis.actions for r in plain] == [r.hypothesis.actions for r in with_grad]
    assert not plain[0].trace.log_probs.requires_grad
    total = sum(r.trace.log_probs.sum() for r in with_grad)
    assert total.requires_grad
    assert total.item() == pytest.approx(sum(r.log_prob for r in plain), abs=1e-4)
    model.zero_grad()
    total.backward()
    grads = [p.grad for p in model.decoder.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    for r in with_grad:  # entropies and valid-action counts per step, under the model's distribution
        assert (r.trace.entropies >= -1e-6).all() and (r.trace.num_valid >= 1).all()
        assert len(r.trace.entropies) == r.hypothesis.length
