"""tranx: grammar-constrained natural-language-to-code translation.

The public API is deliberately small; everything else lives in its own module.
"""

from tranx.threads import choose_wait_policy as _choose_wait_policy

# The OpenMP wait policy is read when torch loads, so it is chosen first (tranx/threads.py says why).
_choose_wait_policy()

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
    if name == "Reconstructor":
        from .nn.reconstructor import Reconstructor
        return Reconstructor
    raise AttributeError(f"module 'tranx' has no attribute {name!r}")


__all__ = [
    "Action", "ApplyRule", "GenToken", "Reduce", "Cardinality", "Constructor", "Field", "Grammar",
    "load_grammar", "parse_asdl", "ConversionError", "GrammarError", "InvalidAction", "TranxError",
    "get_language", "Hypothesis", "TransitionSystem", "ValidActions", "valid_actions", "Node",
    "Translator", "Candidate", "CheckpointError", "Reconstructor",
]
