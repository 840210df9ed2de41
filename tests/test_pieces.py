"""Multi-token primitives: a piece type's value is GenToken pieces closed by GenToken(PIECES_END), through the
transition system, the grammar tables, training targets and search, on a tiny grammar with exact numbers."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from model_fixtures import replay_log_probs, tiny_config
from tranx.data.examples import collate, tensorize
from tranx.data.vocab import Vocab, typed_primitive_vocab
from tranx.decoding.search import beam_search, sample
from tranx.errors import InvalidAction, TranxError
from tranx.grammar.actions import PIECES_END, REDUCE, GenToken
from tranx.grammar.asdl import parse_asdl
from tranx.grammar.transition import TransitionSystem
from tranx.grammar.tree import Node
from tranx.nn.distribution import VALID
from tranx.nn.model import TranxModel, build_encoder

GRAMMAR = """
module Pat {
    pat = Pat(chars cls, word? tail) | Alt(chars* options)
}
"""
PRIMITIVES, PIECES = frozenset({"chars", "word"}), frozenset({"chars"})
WORDS = ["a", "b"]  # both may be copied as a piece of `chars` and as a `word`
MAX_STEPS = 5


def token_ok(type_name: str, token: str) -> bool:
    return len(token) == 1 if type_name == "chars" else token.isalpha()


@pytest.fixture(scope="module")
def grammar():
    return parse_asdl(GRAMMAR, name="pat", primitive_types=PRIMITIVES, piece_types=PIECES)


@pytest.fixture(scope="module")
def model(grammar):
    tokens = Vocab(["a", "-", "z", PIECES_END, "w"], name="primitive",
                   types={"chars": ["a", "-", "z", PIECES_END], "word": ["w"]})
    config = tiny_config()
    torch.manual_seed(5)
    m = TranxModel(config, grammar, tokens, build_encoder(config), token_ok=token_ok)
    with torch.no_grad():
        for head in (m.decoder.rule_head, m.decoder.token_head, m.decoder.gate_head, m.decoder.copy_query):
            head.weight.mul_(6)
    return m.eval()


def test_piece_values_round_trip_through_actions(grammar):
    system = TransitionSystem(grammar)
    pat, alt = grammar.constructor("Pat"), grammar.constructor("Alt")
    for tree in (Node(pat, (("a", "-", "z"), "w")), Node(pat, ((), None)), Node(alt, ((("x",), (), ("a", "b")),))):
        actions = system.oracle(tree)
        assert system.replay(actions).tree() == tree
    assert [str(a) for a in system.oracle(Node(pat, (("a", "-"), None)))] == [
        "ApplyRule[Pat]", "GenToken['a']", "GenToken['-']", f"GenToken['{PIECES_END}']", "Reduce"]


def test_a_value_in_progress_takes_only_pieces(grammar):
    system = TransitionSystem(grammar)
    h = system.initial().apply(system.rule(grammar.constructor("Alt")))
    assert h.valid_actions().reduce and not h.frontier.in_literal  # between values: Reduce ends the list
    h = h.apply(GenToken("a"))
    assert h.frontier.in_literal and h.frontier.state == h.frontier.field.id + system.num_fields
    assert h.valid_actions().token and not h.valid_actions().reduce
    with pytest.raises(InvalidAction, match="Reduce is not allowed"):
        h.apply(REDUCE)
    h = h.apply(GenToken(PIECES_END))
    assert not h.frontier.in_literal and h.apply(REDUCE).is_complete
    with pytest.raises(TranxError, match="incomplete"):
        system.initial().apply(system.rule(grammar.constructor("Pat"))).apply(GenToken("a")).tree()


def test_tables_have_a_row_per_literal_state(model):
    tables, system = model.tables, model.system
    cls = model.grammar.constructor("Pat").fields[0]
    first, inside = cls.id, cls.id + system.num_fields
    assert tables.rule_mask.shape[0] == 2 * system.num_fields
    assert not tables.rule_mask[first].any() and not tables.rule_mask[inside].any()  # single field: no Reduce
    options = model.grammar.constructor("Alt").fields[0]
    assert tables.rule_mask[options.id, tables.reduce_column] and not tables.rule_mask[options.id + system.num_fields].any()
    assert tables.state_field[inside].item() == cls.id and tables.field_type[inside] == tables.field_type[first]
    end = model.tokens.id(PIECES_END)
    assert tables.type_tokens[tables.type_index("chars"), end] and not tables.type_tokens[tables.type_index("word"), end]


def test_the_end_token_is_always_in_a_piece_types_vocabulary(grammar):
    system = TransitionSystem(grammar)
    pat = grammar.constructor("Pat")
    programs = [system.oracle(Node(pat, (tuple("abc"[:i]), "w"))) for i in range(3)]
    vocab = typed_primitive_vocab(system, programs, cutoff=100)  # nothing else is frequent enough
    assert {name: [vocab.token(i) for i in ids] for name, ids in vocab.types.items()} == {"chars": [PIECES_END]}


def all_programs(model) -> list[tuple]:
    """Every complete program of at most MAX_STEPS actions: Pat with 0-2 pieces (a - z from the vocabulary, b
    copied) and a tail (Reduce, w, or a copied word), or Alt with options that fit."""
    g, rule = model.grammar, model.system.rule
    pat, alt = rule(g.constructor("Pat")), rule(g.constructor("Alt"))
    pieces = ["a", "-", "z", "b"]
    tails = [(REDUCE,), (GenToken("w"),), (GenToken("a"),), (GenToken("b"),)]
    out = []
    for k in range(MAX_STEPS - 2):
        for chars in itertools.product(pieces, repeat=k):
            body = tuple(GenToken(c) for c in chars) + (GenToken(PIECES_END),)
            out += [(pat,) + body + tail for tail in tails]
    values = [v for k in range(MAX_STEPS - 2) for v in itertools.product(pieces, repeat=k)]  # Alt: len + 1 each
    for n in range(MAX_STEPS - 1):
        for chosen in itertools.product(values, repeat=n):
            actions = (alt,) + tuple(a for v in chosen for a in [*map(GenToken, v), GenToken(PIECES_END)]) + (REDUCE,)
            if len(actions) <= MAX_STEPS:
                out.append(actions)
    return out


def test_wide_beam_search_enumerates_every_short_program(model):
    expected = {p: sum(replay_log_probs(model, WORDS, p)) for p in all_programs(model)}
    results = beam_search(model, [WORDS], beam_size=5000, max_steps=MAX_STEPS, length_penalty=0.0)[0]
    found = {r.hypothesis.actions: r.log_prob for r in results if r.complete}
    assert set(found) == set(expected) and len(expected) == 84 + 32  # Pat: 21 values x 4 tails; Alt
    for program, log_prob in expected.items():
        assert found[program] == pytest.approx(log_prob, abs=1e-4)
    assert 0 < sum(math.exp(v) for v in expected.values()) < 1  # longer values hold the rest of the mass


def test_training_scores_exactly_what_search_does(model):
    """The teacher-forced log-probability of a program equals the one decoded step by step, for every program."""
    programs = all_programs(model)
    examples = [tensorize(WORDS, list(p), model.system, model.tables) for p in programs]
    assert not any(e.unscorable for e in examples)
    with torch.no_grad():
        distribution, _, _ = model.teacher_forced(collate(examples))
        batch = collate(examples)
        scores = distribution.log_prob(batch.target)
    for i, program in enumerate(programs[:60]):
        per_step = scores[i, :len(program)]
        assert (per_step > VALID).all()
        assert per_step.sum().item() == pytest.approx(sum(replay_log_probs(model, WORDS, program)), abs=1e-4)


def test_samples_are_valid_trees_with_piece_values(model):
    drawn = sample(model, [WORDS], num_samples=300, max_steps=40, generator=torch.Generator().manual_seed(0))[0]
    complete = [r for r in drawn if r.complete]
    assert len(complete) > 150  # a random model: the rest run into the step limit, and are reported as such
    assert all(r.hypothesis.length == 40 and not r.hypothesis.is_complete for r in drawn if not r.complete)
    for r in complete:
        tree = r.hypothesis.tree()
        values = [tree.values[0]] if tree.constructor.name == "Pat" else list(tree.values[0])
        assert all(isinstance(v, tuple) and PIECES_END not in v for v in values)
        assert r.log_prob == pytest.approx(sum(replay_log_probs(model, WORDS, r.hypothesis.actions)), abs=1e-3)
