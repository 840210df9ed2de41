"""The transition system: oracle actions for a tree, a persistent hypothesis, and valid actions.

Trees are built depth-first, left to right. The hypothesis keeps a stack of open frontier fields;
a `multiple` field stays open until `Reduce`. A value of a piece type (`Grammar.piece_types`) is a tuple
of tokens, generated as one GenToken per piece and closed by GenToken(PIECES_END); while it is open
the frontier is in its *literal state* (tokens only: no Reduce in the middle of a value).
`valid_actions` is the one grammar constraint: it depends only on the frontier state (a field, or a
field's literal state), so it is a table look-up, and `Hypothesis.apply` checks every action against
it. The grammar tables (tranx.data.tables) are derived from it for training masks, beam search and RL.

Left out: scores, model states and vocabularies (the search and the model own those).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tranx.grammar.actions import PIECES_END, REDUCE, Action, ApplyRule, GenToken, Reduce
from tranx.grammar.asdl import Cardinality, Constructor, Field, Grammar
from tranx.errors import InvalidAction, TranxError
from tranx.grammar.tree import Node


@dataclass(frozen=True, slots=True)
class Frontier:
    """An open field, the step whose ApplyRule created it (-1 for the root), and its state: the field's id, or
    `TransitionSystem.num_fields` more while a value of a piece type is being written (the literal state)."""

    field: Field
    parent_step: int
    state: int

    @property
    def in_literal(self) -> bool:
        return self.state != self.field.id


@dataclass(frozen=True)
class ValidActions:
    """What may come next: ApplyRule of `constructors`, GenToken when `token`, Reduce when `reduce`."""

    constructors: tuple[Constructor, ...]
    token: bool
    reduce: bool

    @property
    def constructor_ids(self) -> tuple[int, ...]:
        return tuple(c.id for c in self.constructors)

    def allows(self, action: Action) -> bool:
        return self.why_not(action) is None

    def why_not(self, action: Action) -> str | None:
        """None when `action` is valid, else the reason it is not."""
        if isinstance(action, ApplyRule):
            if action.constructor in self.constructors:
                return None
            if not self.constructors:
                return "the frontier field is primitive or closed; ApplyRule is not allowed"
            names = ", ".join(c.name for c in self.constructors[:8])
            more = ", ..." if len(self.constructors) > 8 else ""
            return f"constructor {action.constructor.name} is not one of {names}{more}"
        if isinstance(action, GenToken):
            if not self.token:
                return "the frontier field is not primitive; GenToken is not allowed"
            if not isinstance(action.value, str):
                return f"a token must be a str, not {type(action.value).__name__}"
            return None
        if isinstance(action, Reduce):
            return None if self.reduce else "the frontier field is single; Reduce is not allowed"
        return f"not an action: {action!r}"


NOTHING_VALID = ValidActions((), False, False)
IN_LITERAL = ValidActions((), True, False)  # inside a multi-token value: more pieces, or PIECES_END


def _field_valid_actions(grammar: Grammar, field: Field) -> ValidActions:
    closable = field.cardinality is not Cardinality.SINGLE
    if field.is_primitive:
        return ValidActions((), True, closable)
    return ValidActions(grammar.constructors_of(field.type), False, closable)


class TransitionSystem:
    """Per-grammar tables shared by all hypotheses (valid actions per field, cached rules)."""

    def __init__(self, grammar: Grammar):
        self.grammar = grammar
        fields = (*grammar.fields, grammar.root_field)
        self.num_fields = len(fields)  # field ids are [0, num_fields); literal states [num_fields, 2 num_fields)
        self._pieces = {f.id: f.is_primitive and f.type in grammar.piece_types for f in fields}
        self._valid = {f.id: _field_valid_actions(grammar, f) for f in fields}
        self._valid.update({f.id + self.num_fields: IN_LITERAL for f in fields if self._pieces[f.id]})
        self._rules = tuple(ApplyRule(c) for c in grammar.constructors)
        self._reversed_fields = tuple(tuple(reversed(c.fields)) for c in grammar.constructors)

    def rule(self, constructor: Constructor) -> ApplyRule:
        return self._rules[constructor.id]

    def initial(self) -> "Hypothesis":
        root = self.grammar.root_field
        return Hypothesis(self, None, ((Frontier(root, -1, root.id)), None), 0)

    def valid_for_field(self, field: Field) -> ValidActions:
        return self._valid[field.id]

    @property
    def states(self) -> tuple[tuple[int, Field], ...]:
        """Every frontier state (id, field): the fields, then the literal states of the piece-type fields."""
        fields = {f.id: f for f in (*self.grammar.fields, self.grammar.root_field)}
        return tuple((state, fields[state % self.num_fields]) for state in sorted(self._valid))

    def valid_for_state(self, state: int) -> ValidActions:
        return self._valid[state]

    def is_pieces(self, field: Field) -> bool:
        return self._pieces[field.id]

    def oracle(self, tree: Node) -> list[Action]:
        """The action sequence that builds `tree` (pre-order, Reduce closing optional/multiple)."""
        actions: list[Action] = []
        todo: list = [tree]
        while todo:
            item = todo.pop()
            if isinstance(item, str):
                actions.append(GenToken(item))
            elif isinstance(item, tuple):  # the pieces of a piece-type value
                actions.extend(GenToken(piece) for piece in item)
                actions.append(GenToken(PIECES_END))
            elif item is REDUCE:
                actions.append(REDUCE)
            else:
                actions.append(self._rules[item.constructor.id])
                fields = item.constructor.fields
                for i in range(len(fields) - 1, -1, -1):
                    value, cardinality = item.values[i], fields[i].cardinality
                    if cardinality is Cardinality.MULTIPLE:
                        todo.append(REDUCE)
                        todo.extend(reversed(value))
                    elif value is None:
                        if cardinality is Cardinality.SINGLE:
                            raise TranxError(f"field {fields[i]!r} is single but empty in {item!r}")
                        todo.append(REDUCE)
                    else:
                        todo.append(value)
        return actions

    def replay(self, actions: Iterable[Action]) -> "Hypothesis":
        hypothesis = self.initial()
        for action in actions:
            hypothesis = hypothesis.apply(action)
        return hypothesis


class Hypothesis:
    """A partial tree as an immutable action sequence plus a stack of open frontier fields.

    Both are cons lists, so `apply` is O(1) and hypotheses in a beam share their prefixes.
    """

    __slots__ = ("system", "_actions", "_stack", "length")

    def __init__(self, system: TransitionSystem, actions, stack, length: int):
        self.system = system
        self._actions = actions  # (last action, previous cons) or None
        self._stack = stack  # (Frontier, rest) or None
        self.length = length

    @property
    def frontier(self) -> Frontier | None:
        return self._stack[0] if self._stack is not None else None

    @property
    def is_complete(self) -> bool:
        return self._stack is None

    @property
    def actions(self) -> tuple[Action, ...]:
        out = []
        cell = self._actions
        while cell is not None:
            out.append(cell[0])
            cell = cell[1]
        return tuple(reversed(out))

    def valid_actions(self) -> ValidActions:
        return valid_actions(self)

    def apply(self, action: Action) -> "Hypothesis":
        stack = self._stack
        if stack is None:
            raise InvalidAction(action, "<none>", "the hypothesis is already complete")
        frontier, rest = stack
        field = frontier.field
        reason = self.system._valid[frontier.state].why_not(action)
        if reason is not None:
            raise InvalidAction(action, repr(field), reason)
        keep_open = field.cardinality is Cardinality.MULTIPLE
        if isinstance(action, ApplyRule):
            stack = stack if keep_open else rest
            for child in self.system._reversed_fields[action.constructor.id]:
                stack = (Frontier(child, self.length, child.id), stack)
        elif isinstance(action, GenToken):
            if frontier.in_literal:  # a piece, or the end of the value
                stack = rest if action.value == PIECES_END else stack
            else:
                stack = stack if keep_open else rest
                if self.system._pieces[field.id] and action.value != PIECES_END:  # a value's first piece
                    stack = (Frontier(field, frontier.parent_step, field.id + self.system.num_fields), stack)
        else:
            stack = rest
        return Hypothesis(self.system, (action, self._actions), stack, self.length + 1)

    def tree(self) -> Node:
        if not self.is_complete:
            raise TranxError(f"hypothesis is incomplete: frontier {self.frontier.field!r} is open")
        return build_tree(self.actions, self.system.grammar.piece_types)

    def __repr__(self) -> str:
        return f"Hypothesis(length={self.length}, frontier={self.frontier})"


def valid_actions(hypothesis: Hypothesis) -> ValidActions:
    """The grammar constraint: which actions may extend `hypothesis`."""
    frontier = hypothesis.frontier
    if frontier is None:
        return NOTHING_VALID
    return hypothesis.system._valid[frontier.state]


def build_tree(actions: Iterable[Action], piece_types: frozenset[str] = frozenset()) -> Node:
    """Assemble the tree of a complete, valid action sequence (iterative: trees can be deep); a value of one of
    `piece_types` is the tuple of its pieces."""
    frames: list[list] = []  # [constructor, values, items of the open multiple field or None]
    result = None
    pieces: list[str] | None = None  # the open value of a piece type

    def deliver(value) -> None:
        nonlocal result
        while True:
            if not frames:
                result = value
                return
            frame = frames[-1]
            field = frame[0].fields[len(frame[1])]
            if field.cardinality is Cardinality.MULTIPLE:
                frame[2].append(value)
                return
            frame[1].append(value)
            if not _complete_frame(frame):
                return
            frames.pop()
            value = Node(frame[0], tuple(frame[1]))

    for action in actions:
        if isinstance(action, ApplyRule):
            frame = [action.constructor, [], None]
            if not action.constructor.fields:
                deliver(Node(action.constructor, ()))
                continue
            _open_multiple(frame)
            frames.append(frame)
        elif isinstance(action, GenToken):
            if pieces is not None:
                if action.value == PIECES_END:
                    value, pieces = tuple(pieces), None
                    deliver(value)
                else:
                    pieces.append(action.value)
            elif frames and frames[-1][0].fields[len(frames[-1][1])].type in piece_types:
                if action.value == PIECES_END:
                    deliver(())
                else:
                    pieces = [action.value]
            else:
                deliver(action.value)
        else:
            frame = frames[-1]
            field = frame[0].fields[len(frame[1])]
            if field.cardinality is Cardinality.MULTIPLE:
                frame[1].append(tuple(frame[2]))
            else:
                frame[1].append(None)
            if _complete_frame(frame):
                frames.pop()
                deliver(Node(frame[0], tuple(frame[1])))
    if result is None or frames or pieces is not None:
        raise TranxError("the action sequence does not build a complete tree")
    return result


def _open_multiple(frame: list) -> None:
    fields = frame[0].fields
    i = len(frame[1])
    frame[2] = [] if i < len(fields) and fields[i].cardinality is Cardinality.MULTIPLE else None


def _complete_frame(frame: list) -> bool:
    """Advance past a filled field; True when all fields of the frame are filled."""
    if len(frame[1]) == len(frame[0].fields):
        return True
    _open_multiple(frame)
    return False
