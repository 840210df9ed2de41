"""`tokens:python`: Python code as a flat sequence of its tokens, the target of the grammar-free ablation.

The action grammar has one constructor, `Tokens(token* tokens)`: the decoder (same encoder, attention and copy)
emits one GenToken per token and Reduce to stop, so nothing but "a token, or the end" constrains it, and its output
may not parse (the ablation reports the share). Tokens are those of Python's `tokenize` module, with two
departures, both so that this decoder sees what the grammar decoder sees:
- a string literal is three tokens, its opening (prefix and quote), its body and its closing quote, because the
  grammar decoder's string is a primitive token holding the body, which the copy mechanism can take from the intent
  (a substituted `'str_0'` is the intent's word `str_0` in quotes);
- NEWLINE, INDENT and DEDENT become the tokens `<newline>`, `<indent>`, `<dedent>`; comments and non-logical line
  breaks are dropped.
Code that parses is tokenized in its canonical form (`ast.unparse`), the form the grammar decoder is trained to
write; decoded tokens are joined with single spaces (four per indentation level), and `pretty` then gives code that
parses the same form as the grammar decoder's output. Substitution, restoring and metric tokens are Python's.
"""

from __future__ import annotations

import io
import re
import tokenize
import warnings

from tranx.errors import ConversionError
from tranx.grammar.asdl import Grammar, parse_asdl
from tranx.grammar.tree import Node

NAME = "tokens:python"
NEWLINE, INDENT, DEDENT = "<newline>", "<indent>", "<dedent>"
TOKEN_TYPE = "token"
GRAMMAR_TEXT = """-- Python code as a flat sequence of its tokens (tranx.languages.python_tokens): no grammar.
module PythonTokens
{
    code = Tokens(token* tokens)
}
"""
_STRING = re.compile(r"(?is)([rbuf]*)('''|\"\"\"|'|\")(.*)\2")
_OPENING = re.compile(r"(?i)[rbuf]*('''|\"\"\"|'|\")")
_SKIPPED = {tokenize.ENCODING, tokenize.ENDMARKER, tokenize.NL, tokenize.COMMENT}


def token_grammar() -> Grammar:
    return parse_asdl(GRAMMAR_TEXT, file="<tokens:python>", name="python_tokens",
                      primitive_types=frozenset({TOKEN_TYPE}))


def python_tokens(code: str) -> list[str]:
    """The token sequence of `code`. Lenient, since decoded code need not be Python: an unclosed bracket ends the
    sequence where the text ends, and text tokenize cannot read stays as it is (error tokens)."""
    out: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in _SKIPPED or (tok.type == tokenize.ERRORTOKEN and not tok.string.strip()):
                continue
            if tok.type == tokenize.NEWLINE:
                out.append(NEWLINE)
            elif tok.type == tokenize.INDENT:
                out.append(INDENT)
            elif tok.type == tokenize.DEDENT:
                out.append(DEDENT)
            elif tok.type == tokenize.STRING and (match := _STRING.fullmatch(tok.string)):
                prefix, quote, body = match.groups()
                out += [prefix + quote, body, quote] if body else [prefix + quote, quote]
            else:
                out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # EOF inside brackets or a string: keep what was read
    while out and out[-1] in (NEWLINE, DEDENT):  # the end of the code closes every line and block
        out.pop()
    return out


def join_tokens(tokens) -> str:
    """Tokens -> code: one line per `<newline>`, four spaces per open `<indent>`, a string's pieces glued back,
    other tokens separated by one space (valid Python wherever the tokens are)."""
    lines, line, depth = [], [], 0
    tokens, i = list(tokens), 0
    while i < len(tokens):
        token = tokens[i]
        if token == NEWLINE:
            lines.append("    " * depth + " ".join(line))
            line = []
        elif token == INDENT:
            depth += 1
        elif token == DEDENT:
            depth = max(0, depth - 1)
        elif (opening := _OPENING.fullmatch(token)) is not None:
            closing = opening.group(1)
            if i + 1 < len(tokens) and tokens[i + 1] == closing:
                line.append(token + closing)
                i += 1
            elif i + 2 < len(tokens) and tokens[i + 2] == closing:
                line.append(token + tokens[i + 1] + closing)
                i += 2
            else:  # an unclosed string: written as decoded
                line.append(token)
        else:
            line.append(token)
        i += 1
    if line:
        lines.append("    " * depth + " ".join(line))
    return "\n".join(lines)


class PythonTokensLanguage:
    name = NAME

    def __init__(self, grammar: Grammar | None = None):
        from tranx.languages.python import PythonLanguage
        self.grammar = grammar or token_grammar()
        try:
            self._tokens = self.grammar.constructor("Tokens")
        except Exception:
            raise ConversionError(f"grammar {self.grammar.name!r} is not the token grammar of {NAME} "
                                  f"(it has no constructor Tokens)") from None
        self._python = PythonLanguage()

    def parse(self, code: str) -> Node:
        if not isinstance(code, str):
            raise ConversionError(f"expected code as text, got {type(code).__name__}")
        with warnings.catch_warnings():  # invalid escapes such as '\d' warn on parsing
            warnings.simplefilter("ignore")
            try:  # the canonical form of code that parses (ast.unparse's), else the code as it is
                code = self._python.canonicalize(code)
            except ConversionError:
                pass
        return Node(self._tokens, (tuple(python_tokens(code)),))

    def unparse(self, tree: Node) -> str:
        if tree.constructor.name != "Tokens":
            raise ConversionError(f"not a token sequence: {tree.constructor.name}")
        return join_tokens(tree.values[0])

    def canonicalize(self, code: str) -> str:
        return self.unparse(self.parse(code))

    def token_ok(self, type_name: str, token: str) -> bool:
        return type_name == TOKEN_TYPE and bool(token)  # no constraint beyond being a token

    def encode_literal(self, type_name: str, value) -> str:
        return value

    def decode_literal(self, type_name: str, token: str):
        return token

    def substitute(self, code: str, slots):
        return self._python.substitute(code, slots)

    def restore(self, code: str, slots) -> str:
        return self._python.restore(code, slots)  # on the AST, or as text where the code does not parse

    def tokenize(self, code: str) -> list[str]:
        return self._python.tokenize(code)

    def check(self, code: str) -> str | None:
        return None  # no grammar, no check: whether the output parses is what this language's ablation measures

    def pretty(self, code: str, style: str = "plain") -> str:
        return self._python.pretty(code, style)  # code that does not parse comes back as it is
