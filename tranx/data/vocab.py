"""Vocabularies as JSON: token <-> id tables, and the sentencepiece model of the intents.

* ``Vocab``: an ordered token table with optional special tokens (``<pad>`` = 0, ``<unk>`` = 1 by default). Unknown
  tokens map to ``<unk>`` when the table has one, else raise ``KeyError``. Saved as a small versioned JSON file.
* ``primitive_vocab(action_lists, cutoff)``: the GenToken values of the training actions that occur at least
  ``cutoff`` times, most frequent first (ties by token), after ``<pad>``, ``<unk>``. Rarer tokens can only be copied.
* ``production_vocab(grammar)``: the constructor names in id order, without specials, so that a production's id in
  the table **is** ``Constructor.id`` (the rule embedding table is indexed by that id).
* ``IntentPieces``: a sentencepiece model trained on the training intents, for the non-BERT (LSTM) encoder of the
  input-representation ablation. Saved as ``intent.model`` (sentencepiece's own format) and ``intent.pieces.json``
  (the piece list, readable). Piece 0 is ``<pad>``, 1 is ``<unk>``; slot names (``var_0``, ``str_0``, ...) are
  whole pieces. Training is single-threaded with a fixed seed, and reproducible.

Every file is written atomically. Left out: word-piece tokenizers of BERT encoders (they ship with the encoder),
embedding matrices, any pickling.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from tranx.grammar.asdl import Grammar
from tranx.errors import TranxError
from tranx.io import write_json

__all__ = ["PAD", "UNK", "Vocab", "IntentPieces", "primitive_vocab", "production_vocab", "SLOT_SYMBOLS"]

PAD, UNK = "<pad>", "<unk>"
FORMAT, VERSION = "tranx-vocab", 1
PIECES_FORMAT = "tranx-intent-pieces"
#: Slot names kept whole by the intent model (preprocess.substitution numbers slots per kind from 0).
SLOT_SYMBOLS = tuple(f"{kind}_{i}" for kind in ("var", "str") for i in range(20))


class Vocab:
    """An ordered token table: ``specials`` first, then ``tokens``; ``vocab[token]`` is its id."""

    def __init__(self, tokens: Iterable[str], *, specials: Sequence[str] = (PAD, UNK), name: str = "",
                 meta: dict | None = None, types: dict[str, Iterable[str]] | None = None):
        """`types`: for a primitive vocabulary, the tokens each primitive type keeps (a vocabulary per type over
        one shared table); None when every type may use every token."""
        self.name = name
        self.specials = tuple(specials)
        self.meta = dict(meta or {})
        self._tokens: list[str] = []
        self._ids: dict[str, int] = {}
        for token in (*self.specials, *tokens):
            if not isinstance(token, str):
                raise TypeError(f"a token must be a str, not {type(token).__name__}")
            if token in self._ids:
                raise ValueError(f"duplicate token {token!r} in vocabulary {name!r}")
            self._ids[token] = len(self._tokens)
            self._tokens.append(token)
        self.types: dict[str, tuple[int, ...]] | None = None
        if types is not None:
            self.types = {}
            for type_name, members in sorted(types.items()):
                missing = [t for t in members if t not in self._ids]
                if missing:
                    raise ValueError(f"type {type_name!r} of vocabulary {name!r} lists unknown token {missing[0]!r}")
                self.types[type_name] = tuple(sorted(self._ids[t] for t in members))

    @classmethod
    def from_counts(cls, counts: Counter, *, cutoff: int = 1, specials: Sequence[str] = (PAD, UNK),
                    name: str = "") -> "Vocab":
        """Tokens with ``count >= cutoff``, most frequent first, ties in token order."""
        kept = sorted((t for t, c in counts.items() if c >= cutoff and t not in specials),
                      key=lambda t: (-counts[t], t))
        meta = {"cutoff": cutoff, "types_seen": len(counts), "types_kept": len(kept),
                "token_coverage": round(sum(counts[t] for t in kept) / max(1, sum(counts.values())), 4)}
        return cls(kept, specials=specials, name=name, meta=meta)

    # --- look-ups -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._tokens)

    def __getitem__(self, token: str) -> int:
        return self.id(token)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return ((self._tokens, self.specials, self.name, self.types)
                == (other._tokens, other.specials, other.name, other.types))

    def __repr__(self) -> str:
        return f"Vocab({self.name!r}, {len(self)} tokens, specials={list(self.specials)})"

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(self._tokens)

    @property
    def unk_id(self) -> int | None:
        return self._ids.get(UNK) if UNK in self.specials else None

    @property
    def pad_id(self) -> int | None:
        return self._ids.get(PAD) if PAD in self.specials else None

    def id(self, token: str) -> int:
        """The id of ``token``; ``<unk>``'s id for an unknown token, or KeyError when there is no ``<unk>``."""
        found = self._ids.get(token)
        if found is not None:
            return found
        if self.unk_id is None:
            raise KeyError(f"token {token!r} is not in vocabulary {self.name!r} (which has no {UNK})")
        return self.unk_id

    def token(self, index: int) -> str:
        if not 0 <= index < len(self._tokens):
            raise IndexError(f"id {index} out of range for vocabulary {self.name!r} of size {len(self)}")
        return self._tokens[index]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.id(t) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.token(i) for i in ids]

    # --- JSON -----------------------------------------------------------------------------------
    def to_json(self) -> dict:
        out = {"format": FORMAT, "version": VERSION, "name": self.name, "specials": list(self.specials),
               "tokens": self._tokens[len(self.specials):], "meta": self.meta}
        if self.types is not None:
            out["types"] = {name: [self._tokens[i] for i in ids] for name, ids in self.types.items()}
        return out

    @classmethod
    def from_json(cls, obj: dict) -> "Vocab":
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise TranxError(f"not a tranx vocabulary (expected \"format\": \"{FORMAT}\")")
        if obj.get("version") != VERSION:
            raise TranxError(f"vocabulary format version {obj.get('version')!r} is not supported (expected {VERSION})")
        try:
            return cls(obj["tokens"], specials=obj["specials"], name=obj.get("name", ""), meta=obj.get("meta"),
                       types=obj.get("types"))
        except (KeyError, TypeError, ValueError) as exc:
            raise TranxError(f"malformed vocabulary: {exc}") from None

    def save(self, path: str | os.PathLike) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocab":
        try:
            obj = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise TranxError(f"{path}: not JSON: {exc}") from None
        return cls.from_json(obj)


def _gen_token_values(actions: Iterable) -> Iterator[str]:
    from tranx.grammar.actions import GenToken
    for action in actions:
        if isinstance(action, GenToken):
            yield action.value
        elif isinstance(action, (list, tuple)) and len(action) == 2 and action[0] == "GenToken":
            yield action[1]


def primitive_vocab(action_lists: Iterable[Iterable], *, cutoff: int = 3, name: str = "primitive") -> Vocab:
    """The GenToken values of ``action_lists`` (Action objects or ``action_to_json`` lists) seen ``cutoff``+ times."""
    counts: Counter = Counter()
    for actions in action_lists:
        counts.update(_gen_token_values(actions))
    return Vocab.from_counts(counts, cutoff=cutoff, name=name)


def typed_primitive_vocab(system, action_lists: Iterable[Iterable], *, cutoff: int = 3,
                          name: str = "primitive") -> Vocab:
    """A vocabulary per primitive type over one table: a token is kept for a type when the GenToken actions of
    ``action_lists`` put it in a field of that type ``cutoff``+ times (``system``: the grammar's TransitionSystem)."""
    from tranx.grammar.actions import PIECES_END, GenToken, action_from_json
    counts: Counter = Counter()
    for actions in action_lists:
        hypothesis = system.initial()
        for item in actions:
            action = item if not isinstance(item, (list, tuple)) else action_from_json(system.grammar, list(item))
            if isinstance(action, GenToken):
                counts[hypothesis.frontier.field.type, action.value] += 1
            hypothesis = hypothesis.apply(action)
    totals: Counter = Counter()
    for (_, token), count in counts.items():
        totals[token] += count
    kept = {(t, token) for (t, token), count in counts.items() if count >= cutoff and token not in (PAD, UNK)}
    kept |= {(t, PIECES_END) for t, _ in counts if t in system.grammar.piece_types}  # every value must be closable
    tokens = sorted({token for _, token in kept}, key=lambda token: (-totals[token], token))
    types: dict[str, list[str]] = {}
    for type_name, token in kept:
        types.setdefault(type_name, []).append(token)
    meta = {"cutoff": cutoff, "per_type": True, "types_seen": len(totals), "types_kept": len(tokens),
            "token_coverage": round(sum(c for key, c in counts.items() if key in kept) / max(1, sum(counts.values())), 4)}
    return Vocab(tokens, name=name, meta=meta, types=types)


def production_vocab(grammar: Grammar) -> Vocab:
    """Constructor names in id order (no specials): ``vocab[c.name] == c.id``."""
    return Vocab((c.name for c in grammar.constructors), specials=(), name="production",
                 meta={"grammar": grammar.name})


# ------------------------------------------------------------------------------------------------ sentencepiece

def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class IntentPieces:
    """A sentencepiece model of intents: ``encode(text) -> ids``, ``pieces(text) -> pieces``."""

    MODEL, PIECES = "intent.model", "intent.pieces.json"

    def __init__(self, model_bytes: bytes, settings: dict | None = None):
        import sentencepiece as spm
        self.model_bytes = model_bytes
        self.settings = dict(settings or {})
        self._sp = spm.SentencePieceProcessor(model_proto=model_bytes)

    @classmethod
    def train(cls, texts: Iterable[str], *, vocab_size: int = 2000, model_type: str = "unigram", seed: int = 1234,
              user_symbols: Sequence[str] = SLOT_SYMBOLS) -> "IntentPieces":
        """Train on ``texts``. ``vocab_size`` is an upper bound: a small corpus gives fewer pieces."""
        import sentencepiece as spm
        texts = [t for t in texts if t.strip()]
        if not texts:
            raise TranxError("cannot train an intent model on no text")
        spm.set_random_generator_seed(seed)
        model = io.BytesIO()
        settings = {"vocab_size": vocab_size, "model_type": model_type, "seed": seed,
                    "character_coverage": 1.0, "user_defined_symbols": list(user_symbols)}
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size, model_type=model_type,
                character_coverage=1.0, hard_vocab_limit=False, num_threads=1, pad_id=0, unk_id=1, bos_id=-1,
                eos_id=-1, user_defined_symbols=list(user_symbols), minloglevel=2)
        except RuntimeError as exc:
            raise TranxError(f"sentencepiece training failed: {exc}") from None
        return cls(model.getvalue(), settings)

    def __len__(self) -> int:
        return self._sp.get_piece_size()

    @property
    def vocab(self) -> list[str]:
        return [self._sp.id_to_piece(i) for i in range(len(self))]

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text, out_type=int)

    def pieces(self, text: str) -> list[str]:
        return self._sp.encode(text, out_type=str)

    def decode(self, ids: Sequence[int]) -> str:
        return self._sp.decode(list(ids))

    def save(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        _atomic_write_bytes(folder / self.MODEL, self.model_bytes)
        write_json(folder / self.PIECES, {"format": PIECES_FORMAT, "version": VERSION, "settings": self.settings,
                                          "pieces": self.vocab})

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "IntentPieces":
        folder = Path(folder)
        try:
            meta = json.loads((folder / cls.PIECES).read_text(encoding="utf-8"))
            model = (folder / cls.MODEL).read_bytes()
        except (OSError, ValueError) as exc:
            raise TranxError(f"cannot load intent pieces from {folder}: {exc}") from None
        if meta.get("format") != PIECES_FORMAT or meta.get("version") != VERSION:
            raise TranxError(f"{folder / cls.PIECES}: not a version-{VERSION} {PIECES_FORMAT} file")
        pieces = cls(model, meta.get("settings"))
        if pieces.vocab != meta.get("pieces"):
            raise TranxError(f"{folder}: {cls.MODEL} does not match {cls.PIECES}")
        return pieces
