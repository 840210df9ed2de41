"""Train / dev / test splits of the shared data sets, fixed and documented.

Splits (``split_examples``), all fixed and documented:

* ``conala``: ``dev`` = 200 examples of the official train file, the indices
  ``sorted(random.Random(seed).sample(range(2379), 200))`` with ``seed`` = ``DEV_SEED`` (1234); ``train`` = the other
  2,179; ``test`` = the official 500.
* ``django``: by line, ``train`` 0-15999, ``dev`` 16000-16999, ``test`` 17000-18804 (16,000 / 1,000 / 1,805).
* ``nl-rx-turk``, ``nl-rx-synth``: the standard split files (6,500 / 1,000 / 2,500; ``dev`` = their ``val`` files).
* ``geoquery`` (question split, 549 / 49 / 279) and ``geoquery-query`` (query split): text2sql-data's own splits.
* ``nl2bash``: the standard filtered split files (8,090 / 609 / 606).
* ``kb13``: ``dev`` = 60 of the 618 train rows (drawn as for CoNaLa), ``train`` = the other 558, ``test`` = the 206 of
  the ``val`` files (the published test set).
* ``codeinsight``: the 6 train rows whose Stack Overflow question is in CoNaLa test (``CODEINSIGHT_CONALA_TEST_OVERLAP``,
  listed in the data set's README) are dropped first; then ``dev`` = 150 of the remaining 1,545 train rows, drawn the
  same way as for CoNaLa; ``train`` = the other 1,395; ``test`` = the official 1,860.

Ids are the raw ids (``train/17``; a CoNaLa or CodeInsight dev example keeps its ``train/...`` id; Django ``dev/16000``).

Left out: processing examples (tranx.data.pipeline) and reading files (preprocess.datasets).
"""

from __future__ import annotations

import random
from typing import Iterable

from .datasets import RawExample, load_examples

DEV_SEED = 1234
DEV_SIZES = {"conala": 200, "codeinsight": 150, "kb13": 60}
#: Data sets whose files define a dev split of their own.
OWN_DEV = ("django", "nl-rx-turk", "nl-rx-synth", "geoquery", "geoquery-query", "nl2bash")
SPLITS = ("train", "dev", "test")
#: CodeInsight train rows whose question is in CoNaLa test (its README, "Overlap with the other shared data").
CODEINSIGHT_CONALA_TEST_OVERLAP = ("train/336", "train/536", "train/665", "train/683", "train/927", "train/1535")
#: Rows each data set drops before splitting, by reason (reported by preprocessing).
DROPPED_BEFORE_SPLIT = {"codeinsight": {"question in CoNaLa test": CODEINSIGHT_CONALA_TEST_OVERLAP}}


def _hold_out(examples: list[RawExample], size: int, seed: int) -> tuple[list[RawExample], list[RawExample]]:
    if size > len(examples):
        raise ValueError(f"cannot hold out {size} of {len(examples)} examples")
    chosen = set(random.Random(seed).sample(range(len(examples)), size))
    return ([e for i, e in enumerate(examples) if i not in chosen],
            [e for i, e in enumerate(examples) if i in chosen])


def split_examples(dataset: str, data_root=None, *, seed: int = DEV_SEED,
                   splits: Iterable[str] = SPLITS) -> dict[str, list[RawExample]]:
    """``{split: raw examples}`` for ``train``/``dev``/``test`` (module docstring), in file order."""
    wanted = tuple(splits)
    for split in wanted:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    out: dict[str, list[RawExample]] = {}
    from .user_tasks import DEV_SHARE, is_task_file
    if is_task_file(dataset) and dataset not in DEV_SIZES:
        out = {split: load_examples(dataset, split, data_root) for split in SPLITS}
        if not out["dev"] and len(out["train"]) > 1:  # no dev lines: hold a share of train out, as for CoNaLa
            out["train"], out["dev"] = _hold_out(out["train"], max(1, round(DEV_SHARE * len(out["train"]))), seed)
        return {s: out[s] for s in wanted}
    if dataset in OWN_DEV:
        for split in wanted:
            out[split] = load_examples(dataset, split, data_root)
        return out
    if dataset not in DEV_SIZES:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(sorted([*DEV_SIZES, *OWN_DEV]))}")
    if "train" in wanted or "dev" in wanted:
        train = load_examples(dataset, "train", data_root)
        dropped = {i for ids in DROPPED_BEFORE_SPLIT.get(dataset, {}).values() for i in ids}
        train = [e for e in train if e.id not in dropped]
        train, dev = _hold_out(train, DEV_SIZES[dataset], seed)
        if "train" in wanted:
            out["train"] = train
        if "dev" in wanted:
            out["dev"] = dev
    if "test" in wanted:
        out["test"] = load_examples(dataset, "test", data_root)
    return {s: out[s] for s in wanted}
