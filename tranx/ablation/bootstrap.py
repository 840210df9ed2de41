"""Paired bootstrap over test examples: is system A's score different from system B's on the same examples?

Each resample draws the test examples with replacement (the same draw for both systems: paired) and recomputes both
scores on it; the delta's distribution gives a 95% percentile interval and a two-sided p-value.

* Accuracy (exact match, DFA accuracy): a 0/1 per example; the score of a resample is 100 * its mean.
* Corpus BLEU: not an average of per-example numbers. A resample's BLEU is recomputed from the n-gram statistics of
  the examples drawn, summed with their multiplicities: exactly what `tranx.metrics.corpus_bleu` computes on the
  resampled token lists (same clipped counts, same brevity penalty, 0 when a precision is 0), but without
  re-tokenizing and re-counting 10,000 times. `ExampleScores.bleu` counts with `tranx.metrics`' own n-gram helper,
  and the tests check the result against `corpus_bleu` on resampled corpora.

Over seeds, variant seed s is paired with full seed s: one draw of examples per resample, the delta of each seed pair
on it, averaged over the pairs (the delta of the seed-averaged scores). The interval is then over test examples
only: the spread between seeds is reported separately (mean +- std over seeds), seeds are not resampled.

p-value: two-sided, from the bootstrap distribution: 2 * min(share of resampled deltas <= 0, share >= 0), with the
usual +1 in numerator and denominator so that it is never exactly 0 (a finite number of resamples cannot show that),
capped at 1. It is below 0.05 about when the 95% interval excludes 0. Deltas within 1e-9 of 0 count on both sides.

Deterministic: numpy's PCG64 generator seeded with `seed`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from tranx.metrics import _ngram_counts  # the n-gram counts corpus_bleu uses: same statistics, same BLEU

__all__ = ["BootstrapResult", "ExampleScores", "paired_bootstrap", "paired_bootstrap_accuracy",
           "paired_bootstrap_bleu"]

MAX_ORDER = 4
_ZERO = 1e-9  # deltas this close to 0 are ties
_CHUNK = 500  # resamples drawn at once (memory: chunk x examples counts)


@dataclass(frozen=True)
class ExampleScores:
    """One system's result on each test example, in a form that resamples.

    `kind` is "accuracy" (`stats`: [n, 1], 1.0 for a correct example) or "bleu" (`stats`: [n, 2 * 4 + 2]: clipped
    n-gram matches for n = 1..4, hypothesis n-grams for n = 1..4, hypothesis length, reference length)."""
    kind: str
    stats: np.ndarray

    @classmethod
    def accuracy(cls, correct: Sequence[bool | int | float]) -> "ExampleScores":
        values = np.asarray([float(c) for c in correct], dtype=np.float64).reshape(-1, 1)
        if np.any((values != 0.0) & (values != 1.0)):
            raise ValueError("accuracy scores are 0 or 1 per example")
        return cls("accuracy", values)

    @classmethod
    def bleu(cls, hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> "ExampleScores":
        """From token lists (`tranx.metrics.tokenize_for_bleu_eval` of the prediction and of the raw reference)."""
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
        rows = []
        for hyp, ref in zip(hypotheses, references):
            matches, totals = [], []
            for n in range(1, MAX_ORDER + 1):
                hyp_counts, ref_counts = _ngram_counts(hyp, n), _ngram_counts(ref, n)
                totals.append(sum(hyp_counts.values()))
                matches.append(sum(min(c, ref_counts[g]) for g, c in hyp_counts.items()))
            rows.append(matches + totals + [len(hyp), len(ref)])
        return cls("bleu", np.asarray(rows, dtype=np.float64).reshape(-1, 2 * MAX_ORDER + 2))

    def __len__(self) -> int:
        return self.stats.shape[0]

    def score(self) -> float:
        """The score on the whole test set (0-100)."""
        return float(self.scores(np.ones((1, len(self))))[0])

    def scores(self, counts: np.ndarray) -> np.ndarray:
        """The score (0-100) of each resample; `counts` [resamples, n]: how often each example was drawn."""
        summed = counts @ self.stats  # [resamples, k]
        if self.kind == "accuracy":
            return 100.0 * summed[:, 0] / counts.sum(axis=1)
        return np.array([_bleu_of(row) for row in summed])


def _bleu_of(summed: np.ndarray) -> float:
    """Corpus BLEU from summed statistics, as `tranx.metrics.corpus_bleu` computes it (0 when a precision is 0)."""
    matches, totals = summed[:MAX_ORDER], summed[MAX_ORDER:2 * MAX_ORDER]
    hyp_len, ref_len = summed[2 * MAX_ORDER], summed[2 * MAX_ORDER + 1]
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / MAX_ORDER
    brevity = 1.0 if hyp_len >= ref_len else math.exp(1.0 - ref_len / hyp_len)
    return 100.0 * brevity * math.exp(log_precision)


@dataclass(frozen=True)
class BootstrapResult:
    """delta: A minus B on the whole test set (mean over seed pairs); low / high: the percentile interval of the
    resampled deltas; p_value: two-sided; mean_resampled: the mean of the resampled deltas."""
    delta: float
    low: float
    high: float
    p_value: float
    mean_resampled: float
    confidence: float
    resamples: int
    seed: int
    examples: int
    pairs: int

    def to_json(self, digits: int = 4) -> dict:
        out = asdict(self)
        for key in ("delta", "low", "high", "mean_resampled"):
            out[key] = round(out[key], digits)
        out["p_value"] = float(f"{self.p_value:.4g}")
        return out


def paired_bootstrap(pairs: Sequence[tuple[ExampleScores, ExampleScores]], *, resamples: int = 10_000,
                     seed: int = 1, confidence: float = 0.95) -> BootstrapResult:
    """Paired bootstrap of score(A) - score(B) over test examples, for one (A, B) pair or several (seed s of a
    variant, seed s of the full model), all on the same examples; see the module docstring."""
    if not pairs:
        raise ValueError("paired_bootstrap needs at least one (A, B) pair")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    n = len(pairs[0][0])
    for a, b in pairs:
        if len(a) != n or len(b) != n:
            raise ValueError(f"every system must be scored on the same {n} examples (got {len(a)} and {len(b)})")
        if a.kind != b.kind or a.kind != pairs[0][0].kind:
            raise ValueError("every system must be scored with the same metric")
    if n == 0:
        raise ValueError("no test examples to resample")
    observed = float(np.mean([a.score() - b.score() for a, b in pairs]))
    rng = np.random.Generator(np.random.PCG64(seed))
    deltas = []
    for start in range(0, resamples, _CHUNK):
        size = min(_CHUNK, resamples - start)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)  # [size, n]
        deltas.append(np.mean([a.scores(counts) - b.scores(counts) for a, b in pairs], axis=0))
    d = np.concatenate(deltas)
    d[np.abs(d) <= _ZERO] = 0.0
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(d, [tail, 1.0 - tail])
    at_most, at_least = int(np.sum(d <= 0.0)), int(np.sum(d >= 0.0))
    p_value = min(1.0, 2.0 * (min(at_most, at_least) + 1) / (resamples + 1))
    if abs(observed) <= _ZERO:
        observed = 0.0
    return BootstrapResult(delta=observed, low=float(low), high=float(high), p_value=p_value,
                           mean_resampled=float(np.mean(d)), confidence=confidence, resamples=resamples, seed=seed,
                           examples=n, pairs=len(pairs))


def paired_bootstrap_accuracy(a: Sequence[bool | int], b: Sequence[bool | int], **kwargs) -> BootstrapResult:
    """Exact match (or any 0/1 per example) of A minus B, in points."""
    return paired_bootstrap([(ExampleScores.accuracy(a), ExampleScores.accuracy(b))], **kwargs)


def paired_bootstrap_bleu(a: Sequence[Sequence[str]], b: Sequence[Sequence[str]], references: Sequence[Sequence[str]],
                          **kwargs) -> BootstrapResult:
    """Corpus BLEU of A minus B, from token lists of both systems' predictions and of the references."""
    return paired_bootstrap([(ExampleScores.bleu(a, references), ExampleScores.bleu(b, references))], **kwargs)
