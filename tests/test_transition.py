"""The transition system: oracle, persistent hypotheses, valid actions, invalid-action errors."""

import pytest

from snippets import TRICKY
from tranx import (ApplyRule, GenToken, InvalidAction, Reduce, TranxError, TransitionSystem,
                   get_language, valid_actions)
from tranx.grammar.actions import action_from_json, action_to_json
from tranx.grammar.asdl import Cardinality
from tranx.grammar.transition import build_tree

PY = get_language("python")
SYSTEM = TransitionSystem(PY.grammar)
C = PY.grammar.constructor


def test_oracle_known_answer():
    actions = SYSTEM.oracle(PY.parse("f(x)"))
    assert [str(a) for a in actions] == [
        "ApplyRule[Module]", "ApplyRule[Expr]", "ApplyRule[Call]", "ApplyRule[Name]",
        "GenToken['f']", "ApplyRule[Name]", "GenToken['x']", "Reduce", "Reduce", "Reduce"]


def test_frontier_and_parent_steps():
    h = SYSTEM.initial()
    assert h.frontier.field is PY.grammar.root_field and h.frontier.parent_step == -1
    for action in SYSTEM.oracle(PY.parse("f(x)"))[:3]:  # Module, Expr, Call
        h = h.apply(action)
    assert h.frontier.field.name == "func" and h.frontier.parent_step == 2
    h = h.apply(SYSTEM.rule(C("Name")))
    assert h.frontier.field.name == "id" and h.frontier.field.is_primitive


def test_hypothesis_is_persistent():
    h0 = SYSTEM.initial().apply(SYSTEM.rule(C("Module")))
    a = h0.apply(SYSTEM.rule(C("Pass")))
    b = h0.apply(SYSTEM.rule(C("Break")))
    assert h0.length == 1 and a.length == b.length == 2
    assert [str(x) for x in a.actions] == ["ApplyRule[Module]", "ApplyRule[Pass]"]
    assert [str(x) for x in b.actions] == ["ApplyRule[Module]", "ApplyRule[Break]"]
    assert PY.unparse(a.apply(Reduce()).tree()) == "pass"
    assert PY.unparse(b.apply(Reduce()).tree()) == "break"


INVALID = [
    # (prefix code for the frontier, action, message fragment)
    ([], lambda: ApplyRule(C("Name")), "constructor Name is not one of Module"),
    ([], lambda: GenToken("x"), "not primitive; GenToken is not allowed"),
    ([], lambda: Reduce(), "single; Reduce is not allowed"),
    (["Module", "Expr", "Name"], lambda: ApplyRule(C("Name")), "primitive or closed"),
    (["Module", "Expr", "Name"], lambda: GenToken(3), "a token must be a str"),
    (["Module", "Expr"], lambda: ApplyRule(C("Pass")), "constructor Pass is not one of"),
]


@pytest.mark.parametrize("prefix, make_action, message", INVALID)
def test_invalid_actions_rejected(prefix, make_action, message):
    h = SYSTEM.initial()
    for name in prefix:
        h = h.apply(SYSTEM.rule(C(name)))
    action = make_action()
    with pytest.raises(InvalidAction, match=message) as info:
        h.apply(action)
    assert info.value.action == action
    assert str(action) in str(info.value) and repr(h.frontier.field) in str(info.value)
    assert not valid_actions(h).allows(action)


def test_apply_on_complete_hypothesis():
    h = SYSTEM.replay(SYSTEM.oracle(PY.parse("pass")))
    assert h.is_complete and valid_actions(h).constructors == () and not valid_actions(h).reduce
    with pytest.raises(InvalidAction, match="already complete"):
        h.apply(Reduce())


def test_incomplete_hypothesis_has_no_tree():
    with pytest.raises(TranxError, match="incomplete"):
        SYSTEM.initial().apply(SYSTEM.rule(C("Module"))).tree()
    with pytest.raises(TranxError, match="complete tree"):
        build_tree([SYSTEM.rule(C("Module"))])


# One probe action per kind; `apply` must accept exactly what `valid_actions` allows.
PROBES = [SYSTEM.rule(c) for c in PY.grammar.constructors] + [GenToken("x"), Reduce()]


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_valid_actions_agree_with_oracle_and_apply(name):
    actions = SYSTEM.oracle(PY.parse(TRICKY[name]))
    h = SYSTEM.initial()
    for step, action in enumerate(actions):
        valid = valid_actions(h)
        field = h.frontier.field
        assert valid.allows(action), (step, action)
        expected_rules = () if field.is_primitive else PY.grammar.constructors_of(field.type)
        assert valid.constructors == expected_rules
        assert valid.token == field.is_primitive
        assert valid.reduce == (field.cardinality.value != "")
        for probe in PROBES:  # what apply accepts, against the grammar's own definition of the field
            if isinstance(probe, ApplyRule):
                expected = not field.is_primitive and probe.constructor in PY.grammar.constructors_of(field.type)
            elif isinstance(probe, GenToken):
                expected = field.is_primitive
            else:
                expected = field.cardinality is not Cardinality.SINGLE
            try:
                h.apply(probe)
                accepted = True
            except InvalidAction:
                accepted = False
            assert accepted == expected == valid.allows(probe), (step, probe)
        h = h.apply(action)
    assert h.is_complete


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_actions_json_round_trip(name):
    actions = SYSTEM.oracle(PY.parse(TRICKY[name]))
    again = [action_from_json(PY.grammar, action_to_json(a)) for a in actions]
    assert again == actions


def test_action_from_bad_json():
    with pytest.raises(TranxError, match="not an action"):
        action_from_json(PY.grammar, ["Apply", "Call"])
    with pytest.raises(TranxError, match="no constructor 'Nope'"):
        action_from_json(PY.grammar, ["ApplyRule", "Nope"])
