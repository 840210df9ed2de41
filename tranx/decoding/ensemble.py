"""Ensembles: several trained translators that decode as one, their step distributions averaged.

`combine([a, b])` checks that the members read intents and write actions the same way (data set,
grammar, primitive-token vocabulary, substitution and word splitting) and returns one Translator whose
search averages the members' action probabilities at every step (tranx.decoding.search.mixture). Each member
keeps its own encoder, word vocabulary and weights. An ensemble checkpoint is a folder with
`ensemble.json` and the members' own checkpoint folders under `members/`; `Translator.from_pretrained`
reads it like any other checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tranx.errors import CheckpointError, TranxError
from tranx.io import atomic_folder

FORMAT, FORMAT_VERSION = "tranx-ensemble", 1
INDEX = "ensemble.json"


def combine(translators: list):
    """One Translator (of the members' own class) decoding with all of `translators`; checks they read and write
    alike."""
    if len(translators) < 2:
        raise TranxError("an ensemble needs at least two translators")
    first = translators[0]
    for number, other in enumerate(translators[1:], start=2):
        for what, mine, theirs in _shared_settings(first, other):
            if mine != theirs:
                raise TranxError(f"ensemble member {number} does not match member 1: its {what} differs "
                                 f"({_short(theirs)} against {_short(mine)})")
    members = [member for t in translators for member in t.members]
    return type(first)(first.config, first.model, task=first.task, others=members[1:])


def _shared_settings(a, b):
    ta, tb = a.config.train, b.config.train
    yield "task", a.task.to_json(), b.task.to_json()
    yield "train.substitution", ta.substitution, tb.substitution
    yield "train.split_dotted_words", ta.split_dotted_words, tb.split_dotted_words
    yield "train.retrieve", ta.retrieve, tb.retrieve  # the words every member reads
    yield "model.copy", a.config.model.copy, b.config.model.copy
    yield "grammar", a.model.grammar.text, b.model.grammar.text
    yield "primitive-token vocabulary", a.model.tokens.tokens, b.model.tokens.tokens


def _short(value) -> str:
    if isinstance(value, (list, tuple)):
        return f"{len(value)} tokens"
    if isinstance(value, dict) and "name" in value:
        return f"task {value['name']}"
    text = str(value)
    return text if len(text) <= 40 else f"{len(text)} characters"


def save_ensemble(translator, folder: str | os.PathLike) -> None:
    with atomic_folder(folder) as tmp:
        names = []
        for number, member in enumerate(translator.members):
            name = f"members/{number}"
            member.save_pretrained(tmp / name)
            names.append(name)
        index = {"format": FORMAT, "format_version": FORMAT_VERSION, "members": names}
        (tmp / INDEX).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")


def load_ensemble(folder: Path, load_member):
    """The members listed in `folder`/ensemble.json, each opened with `load_member(path)`, combined."""
    try:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{folder}/{INDEX} is corrupted: {exc}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT or not isinstance(index.get("members"), list):
        raise CheckpointError(f"{folder}/{INDEX} is not a tranx ensemble index")
    if index.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{folder}: ensemble format version {index.get('format_version')} is not supported "
                              f"(this tranx reads version {FORMAT_VERSION})")
    members = []
    for name in index["members"]:
        path = folder / str(name)
        if not path.resolve().is_relative_to(folder.resolve()) or (path / INDEX).exists():
            raise CheckpointError(f"{folder}/{INDEX}: member {name!r} is not a checkpoint inside the ensemble")
        members.append(load_member(path))
    try:
        return combine(members)
    except TranxError as exc:
        raise CheckpointError(f"{folder}: {exc}") from None
