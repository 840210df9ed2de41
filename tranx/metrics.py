"""Official evaluation metrics (pure functions, no torch; REFERENCE.md section 5).

What is here:

* ``tokenize_for_bleu_eval`` -- the official BLEU tokenizer (Wang Ling et al. 2016, as used by the official
  evaluation script): pad every character outside ``[A-Za-z0-9_]`` with spaces, split ASCII camelCase
  (``([a-z])([A-Z])``), collapse whitespace, turn ``"`` and ``'`` into a backtick, split on spaces.
* ``corpus_bleu`` -- corpus-level BLEU (default BLEU-4) on the 0-100 scale: clipped n-gram counts summed over the
  corpus, geometric mean of the modified precisions, brevity penalty ``exp(1 - r/c)`` when ``c < r``, no smoothing,
  one reference per hypothesis.  It agrees with ``sacrebleu`` (``tokenize='none', smooth_method='none'``).
* ``token_scores`` -- BLEU and exact match (equal token lists) of predictions against the *raw* reference snippets.
* ``canonical_python`` / ``default_canonicalize`` / ``canonical_scores`` -- exact match of the canonical code
  (``ast.unparse(ast.parse(code))``), plus BLEU with the same tokenizer on the raw strings.

Which one a data set reports is the task's (``preprocess.tasks.Task.match``).  What is left out: multiple references
per hypothesis, smoothing, sentence-level BLEU variants, execution-based metrics (unit tests), and the
canonicalisation of program lines that do not parse on their own (``if x:``, ``else:``) -- callers pass their own
``canonicalize`` for that.
"""

from __future__ import annotations

import ast
import math
import re
from collections import Counter
from typing import Callable, Hashable, Sequence

__all__ = [
    "tokenize_for_bleu_eval",
    "corpus_bleu",
    "exact_match",
    "token_scores",
    "canonical_python",
    "default_canonicalize",
    "canonical_scores",
]

_NON_WORD_RE = re.compile(r"([^A-Za-z0-9_])")
_CAMEL_RE = re.compile(r"([a-z])([A-Z])")
_SPACES_RE = re.compile(r"\s+")

# Prefix of ``default_canonicalize`` for code that does not parse.  ``ast.unparse`` drops comments, so its output
# never starts with ``#``: an unparsable snippet can never equal a parsable one.
_UNPARSED_PREFIX = "#<unparsed> "


def tokenize_for_bleu_eval(code: str) -> list[str]:
    """Tokenize code the way the official evaluation script does.

    Steps, in the official order: space-pad each character outside ``[A-Za-z0-9_]`` (non-ASCII letters included),
    split camelCase at a lowercase-uppercase ASCII boundary, collapse whitespace, replace ``"`` and ``'`` by a
    backtick, split on spaces and drop empty strings.  (Quote replacement after collapsing is equivalent to before:
    quotes are not whitespace.)

    >>> tokenize_for_bleu_eval("df.sortValues(by='a')")
    ['df', '.', 'sort', 'Values', '(', 'by', '=', '`', 'a', '`', ')']
    """
    code = _NON_WORD_RE.sub(r" \1 ", code)
    code = _CAMEL_RE.sub(r"\1 \2", code)
    code = _SPACES_RE.sub(" ", code)
    code = code.replace('"', "`").replace("'", "`")
    return [tok for tok in code.split(" ") if tok]


def _ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(
    hypotheses: Sequence[Sequence[str]],
    references: Sequence[Sequence[str]],
    max_order: int = 4,
) -> float:
    """Corpus-level BLEU on the 0-100 scale, one reference per hypothesis, no smoothing.

    For each order ``n`` the clipped matches and the hypothesis n-gram totals are summed over the corpus; BLEU is
    ``BP * exp(mean(log p_n))`` with ``BP = exp(1 - r/c)`` when the total hypothesis length ``c`` is below the total
    reference length ``r``.  Returns 0.0 when the corpus is empty, ``c`` is 0, or any precision is zero (including
    an order with no hypothesis n-gram at all).
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"corpus_bleu: {len(hypotheses)} hypotheses but {len(references)} references")
    if max_order < 1:
        raise ValueError(f"corpus_bleu: max_order must be >= 1, got {max_order}")
    matches = [0] * max_order
    totals = [0] * max_order
    hyp_len = 0
    ref_len = 0
    for hyp, ref in zip(hypotheses, references):
        hyp_len += len(hyp)
        ref_len += len(ref)
        for n in range(1, max_order + 1):
            hyp_counts = _ngram_counts(hyp, n)
            if not hyp_counts:
                continue
            ref_counts = _ngram_counts(ref, n)
            totals[n - 1] += sum(hyp_counts.values())
            matches[n - 1] += sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_order
    brevity = 1.0 if hyp_len >= ref_len else math.exp(1.0 - ref_len / hyp_len)
    return 100.0 * brevity * math.exp(log_precision)


def exact_match(hyp_tokens: Sequence[str], ref_tokens: Sequence[str]) -> bool:
    """True when the two token sequences are equal."""
    return list(hyp_tokens) == list(ref_tokens)


def _check_lengths(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")


def token_scores(predictions: Sequence[str], references: Sequence[str]) -> dict:
    """BLEU (0-100) and exact match (percentage of equal token lists); references are the raw snippets.

    An empty list of predictions scores 0 on both.
    """
    _check_lengths(predictions, references)
    hyps = [tokenize_for_bleu_eval(p) for p in predictions]
    refs = [tokenize_for_bleu_eval(r) for r in references]
    n = len(hyps)
    exact = sum(exact_match(h, r) for h, r in zip(hyps, refs))
    return {
        "bleu": corpus_bleu(hyps, refs),
        "exact_match": 100.0 * exact / n if n else 0.0,
        "n": n,
    }


def canonical_python(code: str) -> str | None:
    """``ast.unparse(ast.parse(code))``, or None when the code does not parse."""
    try:
        return ast.unparse(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # ValueError: null bytes in source; RecursionError/MemoryError: pathologically nested input.
        return None


def default_canonicalize(code: str) -> str:
    """Exact-match key: the canonical Python code when it parses, else the official token list.

    Unparsable code gives ``"#<unparsed> " + " ".join(tokenize_for_bleu_eval(code))``: whitespace-insensitive (so
    ``if  x :`` equals ``if x:``), and never equal to the key of code that parses (``ast.unparse`` output never
    starts with ``#``).  Caveat of the fallback: it inherits the tokenizer's quote folding (``'a'`` equals ``"a"``).
    """
    canonical = canonical_python(code)
    if canonical is not None:
        return canonical
    return _UNPARSED_PREFIX + " ".join(tokenize_for_bleu_eval(code))


def canonical_scores(
    predictions: Sequence[str],
    references: Sequence[str],
    canonicalize: Callable[[str], Hashable | None] | None = None,
) -> dict:
    """Accuracy of canonical code (``exact_match``, percentage) and BLEU (0-100, official tokenizer on the raw strings).

    A prediction is correct when ``canonicalize(prediction) == canonicalize(reference)``.  ``canonicalize`` defaults
    to ``default_canonicalize``; a caller-supplied one may return None for "cannot canonicalise", which never counts
    as a match.
    """
    _check_lengths(predictions, references)
    key = canonicalize or default_canonicalize
    correct = 0
    for pred, ref in zip(predictions, references):
        pred_key = key(pred)
        if pred_key is not None and pred_key == key(ref):
            correct += 1
    n = len(predictions)
    bleu = corpus_bleu(
        [tokenize_for_bleu_eval(p) for p in predictions],
        [tokenize_for_bleu_eval(r) for r in references],
    )
    return {"bleu": bleu, "exact_match": 100.0 * correct / n if n else 0.0, "n": n}


def sentence_bleu(hypothesis: Sequence[str], reference: Sequence[str], max_order: int = 4) -> float:
    """Smoothed sentence BLEU (0-100) for a per-sample reward: add-one smoothing of the n-gram precisions for
    n >= 2 (Lin & Och 2004; sacrebleu's ``add-k`` with k = 1), brevity penalty as in ``corpus_bleu``; 0.0 for an
    empty hypothesis or no unigram match."""
    if not hypothesis:
        return 0.0
    log_precision = 0.0
    for n in range(1, max_order + 1):
        hyp_counts, ref_counts = _ngram_counts(hypothesis, n), _ngram_counts(reference, n)
        total = sum(hyp_counts.values())
        matched = sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
        if n > 1:
            matched, total = matched + 1, total + 1
        if matched == 0:
            return 0.0
        log_precision += math.log(matched / total) / max_order
    brevity = 1.0 if len(hypothesis) >= len(reference) else math.exp(1.0 - len(reference) / len(hypothesis))
    return 100.0 * brevity * math.exp(log_precision)
