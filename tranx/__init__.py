"""tranx: grammar-constrained natural-language-to-code translation.

The public API is deliberately small; everything else lives in its own module.
"""

import os as _os

# OpenMP threads that wait for work spin on their core; beside other CPU-bound processes that costs more than
# the thread gains (tranx/threads.py). Read by the OpenMP runtime when torch loads, so set it first.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from tranx.grammar.actions import Action, ApplyRule, GenToken, Reduce
from tranx.grammar.asdl import Cardinality, Constructor, Field, Grammar, load_grammar, parse_asdl
from tranx.errors import ConversionError, GrammarError, InvalidAction, TranxError
from tranx.languages import get_language
from tranx.grammar.transition import Hypothesis, TransitionSystem, ValidActions, valid_actions
from tranx.grammar.tree import Node

__version__ = "0.1.0"


def __getattr__(name: str):
    # The model side imports torch; load it only when asked, so grammar-only use stays light.
    if name in ("Translator", "Candidate", "CheckpointError"):
        from . import translator
        return getattr(translator, name)
    raise AttributeError(f"module 'tranx' has no attribute {name!r}")


__all__ = [
    "Action", "ApplyRule", "GenToken", "Reduce", "Cardinality", "Constructor", "Field", "Grammar",
    "load_grammar", "parse_asdl", "ConversionError", "GrammarError", "InvalidAction", "TranxError",
    "get_language", "Hypothesis", "TransitionSystem", "ValidActions", "valid_actions", "Node",
    "Translator", "Candidate", "CheckpointError",
]
