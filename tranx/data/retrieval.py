"""Retrieval augmentation: an intent's word units are followed by the code of its nearest training pairs.

`train.retrieve = k` (0: off) appends, after a `[SEP]` unit each, the metric tokens (`Language.tokenize`) of the
substituted code of the k training pairs whose canonical intents are nearest by BM25 (the first `MAX_TOKENS` of
each). The encoder reads them with the intent, and the copy mechanism can take a name, attribute or string from
them, as retrieval-augmented code generators do. BM25 over the intents' words rather than sentence embeddings: it
needs no second encoder at run time, is deterministic, and is exact about the API names intents share.

In training, a pair never retrieves itself or a pair with the same code (the model would learn to copy answers
it will not be given at test time). Slot names (`str_0`, `var_1`) are not query terms: every intent has them. The
index (the training intents' terms and their codes' tokens) is saved with the checkpoint (`retrieval.json`).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from pathlib import Path

from tranx.errors import TranxError
from tranx.io import write_json

FORMAT = "tranx-retrieval"
SEPARATOR = "[SEP]"
MAX_TOKENS = 48
K1, B = 1.2, 0.75  # the usual BM25 constants


def query_terms(words, slot_names=()) -> list[str]:
    """The BM25 terms of an intent's word units: lowercased, without slot names and punctuation."""
    skip = set(slot_names)
    return [w.lower() for w in words if w not in skip and any(c.isalnum() for c in w)]


class RetrievalIndex:
    def __init__(self, intents: list[list[str]], codes: list[list[str]], neighbours: int):
        if len(intents) != len(codes):
            raise TranxError(f"retrieval index: {len(intents)} intents but {len(codes)} codes")
        if neighbours < 1:
            raise TranxError(f"train.retrieve must be at least 1 to build an index, got {neighbours}")
        self.intents, self.codes, self.neighbours = intents, codes, neighbours
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, terms in enumerate(intents):
            for term, count in Counter(terms).items():
                self._postings[term].append((i, count))
        n = len(intents)
        self._idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self._postings.items()}
        self._lengths = [len(t) for t in intents]
        self._mean_length = sum(self._lengths) / n if n else 1.0
        self._code_key = [" ".join(c) for c in codes]

    @classmethod
    def build(cls, units: list[list[str]], slot_names: list[list[str]], codes: list[str], language,
              neighbours: int) -> "RetrievalIndex":
        """From the training pairs: their intents' word units (as the model reads them), slot names and
        substituted code."""
        return cls([query_terms(u, s) for u, s in zip(units, slot_names)],
                   [list(language.tokenize(code)) for code in codes], neighbours)

    def scores(self, terms: list[str]) -> dict[int, float]:
        """BM25 score of every training intent sharing a term with `terms` (the others score 0)."""
        out: dict[int, float] = defaultdict(float)
        for term, q in Counter(terms).items():
            idf = self._idf.get(term)
            if idf is None:
                continue
            for i, tf in self._postings[term]:
                norm = tf + K1 * (1 - B + B * self._lengths[i] / self._mean_length)
                out[i] += q * idf * tf * (K1 + 1) / norm
        return out

    def nearest(self, terms: list[str], exclude: int | None = None) -> list[int]:
        """The indices of the `neighbours` best-scoring training pairs (ties: the earlier pair), without pair
        `exclude` and any pair with its code; fewer when fewer share a term."""
        scored = self.scores(terms)
        banned = self._code_key[exclude] if exclude is not None else None
        ranked = sorted((i for i, s in scored.items() if s > 0 and self._code_key[i] != banned),
                        key=lambda i: (-scored[i], i))
        return ranked[:self.neighbours]

    def augment(self, words: list[str], slot_names=(), exclude: int | None = None) -> list[str]:
        """`words` followed by `[SEP]` and the code tokens of each nearest training pair."""
        out = list(words)
        for i in self.nearest(query_terms(words, slot_names), exclude):
            out += [SEPARATOR, *self.codes[i][:MAX_TOKENS]]
        return out

    # --- with a checkpoint ----------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> None:
        write_json(Path(folder) / "retrieval.json", {"format": FORMAT, "version": 1, "neighbours": self.neighbours,
                                                     "intents": self.intents, "codes": self.codes})

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "RetrievalIndex | None":
        """The index saved in `folder`, or None when there is none."""
        path = Path(folder) / "retrieval.json"
        if not path.is_file():
            return None
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            if obj.get("format") != FORMAT:
                raise TranxError(f"{path} is not a tranx retrieval index")
            return cls(obj["intents"], obj["codes"], obj["neighbours"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise TranxError(f"{path}: malformed retrieval index ({type(exc).__name__}: {exc})") from None
