"""Decode a data-set split with a `Translator` (its scores: `tranx.evaluation.scoring.task_scores`).

Decoding starts from the raw intent, exactly as a user's call would: no gold information reaches the
model. An intent the translator rejects, or one without any parseable candidate, gets an empty
prediction and so scores as a miss; its reason is kept in the predictions file.
"""

from __future__ import annotations

from typing import Sequence

from tqdm import tqdm

from tranx.errors import TranxError


def _prepared_chunks(translator, examples: Sequence, batch_size: int, desc: str, progress: bool | None):
    """(chunk, examples of it the translator accepts, {id: why not} for the others) per batch, with a progress bar."""
    bar = tqdm(total=len(examples), desc=desc, unit="intent", disable=None if progress is None else not progress,
               leave=False)
    with bar:
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            good, rejected = [], {}
            for e in chunk:
                try:
                    translator.prepare(e.intent)
                    good.append(e)
                except TranxError as exc:
                    rejected[e.id] = str(exc)
            yield chunk, good, rejected
            bar.update(len(chunk))


def predict(translator, examples: Sequence, *, beam_size: int = 15, n_best: int = 1, batch_size: int = 32,
            rerank: str | None = None, length_penalty: float | None = None,
            progress: bool | None = None) -> list[dict]:
    """Rows `{"id", "intent", "prediction", "predictions", "scores"}` in the order of `examples` (RawExample-like)."""
    from tranx.evaluation.meaning import same_for
    rows = []
    same = same_for(translator.task, rerank or translator.config.train.rerank)
    for chunk, good, rejected in _prepared_chunks(translator, examples, batch_size, "decode", progress):
        results = translator.translate([e.intent for e in good], beam_size=beam_size, n_best=n_best,
                                       batch_size=batch_size, rerank=rerank,
                                       length_penalty=length_penalty, same=same) if good else []
        by_id = {e.id: r for e, r in zip(good, results)}
        for e in chunk:
            candidates = by_id.get(e.id, [])
            row = {"id": e.id, "intent": e.intent, "prediction": candidates[0].code if candidates else "",
                   "predictions": [c.code for c in candidates], "scores": [round(c.score, 5) for c in candidates]}
            if e.id in rejected:
                row["error"] = rejected[e.id]
            elif not candidates:
                row["error"] = "no complete, parseable hypothesis"
            rows.append(row)
    return rows


def predict_samples(translator, examples: Sequence, *, num_samples: int, top_k: int | None = 50,
                    temperature: float = 1.0, seed: int = 1, batch_size: int = 32,
                    progress: bool | None = None) -> list[dict]:
    """Rows `{"id", "intent", "prediction", "predictions", "scores"}` with `num_samples` ancestral samples per example
    (`prediction` is the first sample; a sample that failed is ""), in the order of `examples`."""
    import torch
    rows = []
    torch.manual_seed(seed)  # the sampler draws from torch's global generator
    for chunk, good, rejected in _prepared_chunks(translator, examples, batch_size, "sample", progress):
        drawn = translator.sample([e.intent for e in good], num_samples=num_samples, top_k=top_k,
                                  temperature=temperature, batch_size=batch_size) if good else []
        by_id = {e.id: candidates for e, candidates in zip(good, drawn)}
        for e in chunk:
            codes = [c.code for c in by_id.get(e.id, [])] or [""] * num_samples
            row = {"id": e.id, "intent": e.intent, "prediction": codes[0], "predictions": codes,
                   "scores": [round(c.score, 5) if c.code else None for c in by_id.get(e.id, [])]}
            if e.id in rejected:
                row["error"] = rejected[e.id]
            rows.append(row)
    return rows
