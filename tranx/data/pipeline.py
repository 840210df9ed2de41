"""Preprocessing: raw data-set examples -> training examples as JSON Lines, plus vocabularies and counts.

``preprocess_dataset(dataset)`` reads a shared data set (``preprocess.datasets``), makes the splits, and turns every
raw example into an :class:`Example`: the canonical intent and its slot map (``preprocess.substitution``), the intent
word units (``preprocess.words``), the substituted canonical code in parseable form (lines of a larger program completed
by the task's ``to_parseable``), and the oracle actions of its tree (``tranx.grammar.transition``), checked by replaying them.
``write_preprocessed`` writes ``<out>/<split>.jsonl``, ``<out>/stats.json`` and ``<out>/vocab/`` atomically.

Splits: ``preprocess.splits`` (``split_examples``, re-exported here).

An example that cannot be processed gets a ``skip_reason`` (one of ``SKIP_REASONS``) and a ``skip_detail``: train and
dev examples with a reason are left out of the JSONL files (and counted per reason); **test examples are always
written**, with empty actions, so that an unprocessable test example still counts (as a miss) when scoring.

Left out on purpose: model-specific encoding (word pieces, tensors, copy targets), de-duplication, caching.
"""

from __future__ import annotations

import functools

import json
import os
import random
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterable

from preprocess.datasets import RawExample
from preprocess.splits import DROPPED_BEFORE_SPLIT, DEV_SEED, DEV_SIZES, SPLITS, split_examples
from preprocess.substitution import EMPTY_SLOTS, canonicalize_intent
from preprocess.tasks import get_task
from preprocess.words import split_words

from tranx.grammar.actions import action_to_json
from tranx.errors import ConversionError, TranxError
from tranx.io import write_json, write_jsonl
from tranx.languages import get_language
from tranx.grammar.transition import TransitionSystem

__all__ = [
    "DEV_SEED", "DEV_SIZES", "SKIP_REASONS", "Example",
    "PreprocessResult", "build_vocabs", "preprocess_dataset", "process_example", "read_examples", "split_examples",
    "write_preprocessed",
]

SKIP_REASONS = ("code not parseable", "substitution failed", "no grammar tree", "round trip mismatch")


# ------------------------------------------------------------------------------------------------------- examples

@dataclass
class Example:
    """One preprocessed example; ``to_json()`` is one JSONL row, ``from_json`` reads it back."""

    id: str
    dataset: str
    split: str
    intent: str  # raw
    canonical_intent: str  # quoted values replaced by slot names
    words: list[str]  # word units of canonical_intent
    word_spans: list[list[int]]  # [start, end) of each word in canonical_intent
    slots: list[dict]  # SlotMap.to_list()
    slots_used: list[str]  # slot names that occur in canonical_code
    code: str  # raw gold code (what scoring compares with)
    canonical_code: str | None  # substituted canonical code, parseable form; None when skipped
    actions: list[list]  # oracle actions as action_to_json lists; [] when skipped
    skip_reason: str | None = None
    skip_detail: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict | str) -> "Example":
        if isinstance(obj, str):
            obj = json.loads(obj)
        if not isinstance(obj, dict):
            raise ValueError(f"an Example is a JSON object, not {type(obj).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(obj) - names
        if unknown:
            raise ValueError(f"unknown Example fields: {', '.join(sorted(unknown))}")
        try:
            return cls(**obj)
        except TypeError as exc:
            raise ValueError(f"bad Example: {exc}") from None

    @property
    def ok(self) -> bool:
        return self.skip_reason is None

    def slot_map(self):
        from preprocess.substitution import SlotMap
        return SlotMap.from_json(self.slots)


def read_examples(path: str | os.PathLike) -> list[Example]:
    """Examples of a JSONL file written by ``write_preprocessed``."""
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                try:
                    out.append(Example.from_json(line))
                except ValueError as exc:
                    raise ValueError(f"{path}:{lineno}: {exc}") from None
    return out


# --------------------------------------------------------------------------------------------------------- splits


# ----------------------------------------------------------------------------------------------------- processing

@dataclass(frozen=True)
class _Settings:
    dataset: str
    substitution: bool
    language: str
    data_root: str | None = None


@functools.lru_cache(maxsize=16)
def task_language(dataset: str, data_root=None, language: str | None = None):
    """The language of `dataset`'s task (or `language`); a tree-sitter language is induced from the task's training
    programs (tranx.languages.tree_sitter_grammar). Cached: every example of a split asks for it."""
    name = language or get_task(dataset).language
    if name.startswith("tree-sitter:"):
        programs = [get_task(dataset).to_parseable(e.code)
                    for e in split_examples(dataset, data_root, splits=["train"])["train"]]
        return get_language(name, programs=programs)
    return get_language(name)


def process_example(raw: RawExample, split: str, *, substitution: bool = True, language: str = "python",
                    system: TransitionSystem | None = None, data_root=None) -> Example:
    """One raw example -> an :class:`Example` (with ``skip_reason`` set when a step fails; never raises on data)."""
    lang = task_language(raw.dataset, data_root, language)
    system = system or TransitionSystem(lang.grammar)
    canonical_intent, slots = canonicalize_intent(raw.intent, style=get_task(raw.dataset).intent_style, enabled=substitution)
    words = split_words(canonical_intent)
    ex = Example(raw.id, raw.dataset, split, raw.intent, canonical_intent, [w.text for w in words],
                 [[w.start, w.end] for w in words], slots.to_list(), [], raw.code, None, [])
    reason, detail = _process_code(ex, raw, slots if substitution else EMPTY_SLOTS, lang, system)
    if reason is not None:
        ex.skip_reason, ex.skip_detail = reason, detail[:300]
    return ex


def _process_code(ex: Example, raw: RawExample, slots, lang, system) -> tuple[str | None, str]:
    code = get_task(raw.dataset).to_parseable(raw.code)
    with warnings.catch_warnings():  # invalid escapes such as '\d' in the data warn on parsing
        warnings.simplefilter("ignore")
        try:
            getattr(lang, "parse_ast", lang.parse)(code)  # Python: the cheaper syntax check before the tree
        except ConversionError as exc:
            return "code not parseable", str(exc)
        try:
            substituted, used = lang.substitute(code, slots)
        except (ValueError, TypeError, RecursionError) as exc:
            return "substitution failed", f"{type(exc).__name__}: {exc}"
        try:
            tree = lang.parse(substituted)
            actions = system.oracle(tree)
            replayed = system.replay(actions).tree()
            canonical = lang.unparse(replayed)
            expected = lang.canonicalize(substituted)  # ast.unparse is not always idempotent: compare re-parsed
        except (TranxError, RecursionError) as exc:
            return "no grammar tree", f"{type(exc).__name__}: {exc}"
    if replayed != tree or canonical != expected:
        return "round trip mismatch", f"replayed code {canonical[:120]!r} != {expected[:120]!r}"
    ex.canonical_code = canonical
    ex.actions = [action_to_json(a) for a in actions]
    ex.slots_used = sorted(used, key=lambda name: [s["name"] for s in ex.slots].index(name))
    return None, ""


def _process_chunk(args) -> list[Example]:
    settings, split, raws = args
    lang = task_language(settings.dataset, settings.data_root, settings.language)
    system = TransitionSystem(lang.grammar)
    return [process_example(r, split, substitution=settings.substitution, language=settings.language,
                            data_root=settings.data_root,
                            system=system) for r in raws]


def _process_all(raws: list[RawExample], split: str, settings: _Settings, workers: int) -> list[Example]:
    if workers <= 1 or len(raws) < 2000:
        return _process_chunk((settings, split, raws))
    from concurrent.futures import ProcessPoolExecutor
    size = -(-len(raws) // (workers * 4))
    chunks = [(settings, split, raws[i:i + size]) for i in range(0, len(raws), size)]
    with ProcessPoolExecutor(workers) as pool:
        return [ex for part in pool.map(_process_chunk, chunks) for ex in part]


# -------------------------------------------------------------------------------------------------------- results

@dataclass
class PreprocessResult:
    dataset: str
    settings: dict
    examples: dict[str, list[Example]]  # every example, skipped ones included
    dropped: dict[str, list[str]] = field(default_factory=dict)  # removed before splitting, by reason
    vocab_sizes: dict[str, int] = field(default_factory=dict)

    def kept(self, split: str) -> list[Example]:
        """What goes into ``<split>.jsonl``: train/dev without skipped examples, test in full."""
        rows = self.examples[split]
        return rows if split == "test" else [e for e in rows if e.ok]

    def stats(self) -> dict:
        splits = {}
        for split, rows in self.examples.items():
            ok = [e for e in rows if e.ok]
            lengths = [len(e.actions) for e in ok]
            n_slots = [len(e.slots) for e in rows]
            n_used = [len(e.slots_used) for e in ok]
            splits[split] = {
                "raw": len(rows), "processed": len(ok), "written": len(self.kept(split)),
                "skipped": len(rows) - len(ok),
                "skipped_by_reason": dict(sorted(Counter(e.skip_reason for e in rows if not e.ok).items())),
                "skipped_ids": [e.id for e in rows if not e.ok][:50],
                "avg_actions": round(sum(lengths) / len(lengths), 2) if lengths else 0.0,
                "max_actions": max(lengths, default=0),
                "slots": {
                    "examples_with_slots": sum(1 for n in n_slots if n),
                    "frac_with_slot_used": round(sum(1 for n in n_used if n) / len(ok), 4) if ok else 0.0,
                    "slots_per_example": round(sum(n_slots) / len(rows), 3) if rows else 0.0,
                    "used_slots_per_example": round(sum(n_used) / len(ok), 3) if ok else 0.0,
                    "frac_slots_used": round(sum(n_used) / sum(len(e.slots) for e in ok), 4)
                    if any(e.slots for e in ok) else 0.0,
                },
            }
        return {"format": "tranx-preprocess", "version": 1, "dataset": self.dataset, **self.settings,
                "dropped_before_split": self.dropped, "splits": splits, "vocab": self.vocab_sizes}


def preprocess_dataset(dataset: str, data_root=None, *, substitution: bool = True, seed: int = DEV_SEED,
                       language: str | None = None, workers: int | None = None,
                       splits: Iterable[str] = SPLITS) -> PreprocessResult:
    """Split and process ``dataset`` (only ``splits``: training never needs test) in ``language`` (default: the
    task's); vocabularies are built by ``write_preprocessed`` (or ``build_vocabs``)."""
    language = language or get_task(dataset).language
    raw = split_examples(dataset, data_root, seed=seed, splits=splits)
    settings = _Settings(dataset, substitution, language, None if data_root is None else str(data_root))
    workers = workers if workers is not None else min(8, os.cpu_count() or 1)
    examples = {split: _process_all(rows, split, settings, workers) for split, rows in raw.items()}
    dropped = {reason: list(ids) for reason, ids in DROPPED_BEFORE_SPLIT.get(dataset, {}).items()}
    return PreprocessResult(dataset, {"substitution": substitution, "seed": seed, "language": language,
                                      "intent_style": get_task(dataset).intent_style}, examples, dropped)


def build_vocabs(result: PreprocessResult, out: str | os.PathLike, *, token_cutoff: int | None = None,
                 intent_vocab_size: int | None = None) -> dict[str, int]:
    """Write ``<out>/vocab/`` from the training examples only; returns the sizes (also kept in ``result``)."""
    from tranx.data.vocab import IntentPieces, primitive_vocab, production_vocab
    train = result.kept("train")
    cutoff = get_task(result.dataset).token_cutoff if token_cutoff is None else token_cutoff
    folder = Path(out) / "vocab"
    primitive = primitive_vocab((e.actions for e in train), cutoff=cutoff)
    productions = production_vocab(task_language(result.dataset, None, result.settings["language"]).grammar)
    primitive.save(folder / "primitive.json")
    productions.save(folder / "production.json")
    size = intent_vocab_size or get_task(result.dataset).intent_vocab_size
    pieces = IntentPieces.train([e.canonical_intent for e in train], vocab_size=size, seed=result.settings["seed"])
    pieces.save(folder)
    result.settings["token_cutoff"] = cutoff
    result.vocab_sizes = {"primitive": len(primitive), "production": len(productions), "intent_pieces": len(pieces)}
    return result.vocab_sizes


def write_preprocessed(result: PreprocessResult, out: str | os.PathLike, *, token_cutoff: int | None = None,
                       intent_vocab_size: int | None = None) -> dict:
    """Write ``<split>.jsonl``, ``vocab/`` and ``stats.json`` under ``out``; returns the stats."""
    out = Path(out)
    for split in result.examples:
        write_jsonl(out / f"{split}.jsonl", (e.to_json() for e in result.kept(split)))
    build_vocabs(result, out, token_cutoff=token_cutoff, intent_vocab_size=intent_vocab_size)
    stats = result.stats()
    write_json(out / "stats.json", stats)
    return stats
