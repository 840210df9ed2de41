"""Reranking n-best lists with the reconstructor (tranx.nn.reconstructor): each candidate's score becomes

    model score + weight * log p(intent | candidate) / (intent tokens + 1)

where the model score is the one beam search ordered by (log-probability per action, the config's length
penalty). Per token, so that one weight suits short and long intents. With `coverage` the candidates naming more of
the intent's backquoted names and quoted values still come first (tranx.decoding.rerank), the combined score
ordering each coverage level; an empty program stays last. The weight is chosen on dev
(bench/reconstruction_grid.py), never on test. Used by `Translator.translate` (a translator with a reconstructor)
and by `tranx rerank` on predictions files.
"""

from __future__ import annotations

from typing import Sequence

from tranx.decoding.rerank import intent_mentions, mention_coverage
from tranx.errors import TranxError
from tranx.nn.reconstructor import reconstruction_tokens

__all__ = ["per_token_scores", "reconstruction_order", "reconstruction_scores", "reranked_rows"]


def per_token_scores(reconstructor, codes_per_intent: Sequence[Sequence[str]],
                     intents: Sequence[str]) -> list[list[float]]:
    """log p(intent | code) / (intent tokens + 1) of every code of every intent, in one batched pass."""
    flat = reconstructor.log_likelihood([c for codes in codes_per_intent for c in codes],
                                        [i for codes, i in zip(codes_per_intent, intents) for _ in codes])
    out, at = [], 0
    for codes, intent in zip(codes_per_intent, intents):
        tokens = len(reconstruction_tokens(intent)) + 1
        out.append([ll / tokens for ll in flat[at:at + len(codes)]])
        at += len(codes)
    return out


def reconstruction_order(codes: Sequence[str], model_scores: Sequence[float], reconstruction: Sequence[float],
                         weight: float, intent: str, *, coverage: bool = False) -> tuple[list[int], list[float]]:
    """(positions best first, combined scores by position); a stable sort, so ties keep the model's order."""
    if not len(codes) == len(model_scores) == len(reconstruction):
        raise TranxError(f"{len(codes)} candidates but {len(model_scores)} model scores and {len(reconstruction)} "
                         f"reconstruction scores")
    combined = [s + weight * r for s, r in zip(model_scores, reconstruction)]
    mentions = intent_mentions(intent) if coverage else []
    order = sorted(range(len(codes)), key=lambda i: (not codes[i].strip(), -mention_coverage(codes[i], mentions),
                                                     -combined[i]))
    return order, combined


def reconstruction_scores(rows: Sequence[dict], reconstructor) -> list[list[float]]:
    """Per predictions-file row ({"intent", "predictions", ...}): the per-token reconstruction score of each of
    its candidates."""
    for row in rows:
        if "intent" not in row or not isinstance(row.get("predictions"), list):
            raise TranxError(f"row {row.get('id', '?')}: reranking needs the intent and the n-best `predictions` "
                             f"(write them with tranx eval --n-best N)")
    return per_token_scores(reconstructor, [r["predictions"] for r in rows], [r["intent"] for r in rows])


def reranked_rows(rows: Sequence[dict], reconstruction: Sequence[Sequence[float]], weight: float, *,
                  coverage: bool = False) -> list[dict]:
    """Rows with `predictions` reordered by the combined score (`scores` become the combined scores; the model's
    are kept as `model_scores`, the reconstructor's as `reconstruction`)."""
    out = []
    for row, recon in zip(rows, reconstruction):
        predictions = row["predictions"]
        scores = row.get("scores") or [0.0] * len(predictions)
        if len(scores) != len(predictions):
            raise TranxError(f"row {row.get('id', '?')}: {len(predictions)} predictions but {len(scores)} scores")
        order, combined = reconstruction_order(predictions, scores, recon, weight, row["intent"], coverage=coverage)
        out.append({**row, "prediction": predictions[order[0]] if order else "",
                    "predictions": [predictions[i] for i in order], "scores": [round(combined[i], 5) for i in order],
                    "model_scores": [scores[i] for i in order], "reconstruction": [round(recon[i], 5) for i in order]})
    return out
