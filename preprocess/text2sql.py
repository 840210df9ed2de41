"""Reader for text2sql-data v4 (Finegan-Dollak et al. 2018): GeoQuery, ATIS and Advising in canonical SQL.

``load_text2sql(dataset, split)`` reads ``<data root>/text2sql/{geography,atis,advising}.json`` (see that folder's
README) into ``RawExample`` records, one per question:

* ``intent`` = the question text with variable names in place of values (``cities in state_name0``), as in the file;
* ``code`` = the query's ``sql[0]``, anonymised the same way (``... = "state_name0" ;``): the paper uses only
  ``sql[0]``, and so do we;
* ``meta`` = ``{"query": i, "sentence": j, "variables": {name: value}}``: ``i`` the query's index in the file, ``j``
  the question's index among its query's sentences, and the values to substitute for execution: the question's own
  ``variables``, where a value is ``""`` or missing the query's ``variables[].example`` (as the README says); a name
  left with no value at all is dropped (37 Advising entries, of 3 names that their query's SQL does not use).

Splits: ``split_kind="question"`` (default) uses ``sentences[].question-split`` (Iyer et al. 2017: GeoQuery 549 /
49 / 279), ``split_kind="query"`` uses the query's ``query-split`` (all paraphrases of a query in one split). The
956 Advising questions marked ``exclude`` in the question split are left out of it (no split holds them); the query
split keeps them, as its counts in the README do (2,040 / 515 / 1,832). Ids ``<split>/<k>`` count that split's
questions in file order: queries in order, each query's sentences in order.

The data root is found as for the other data sets (``preprocess.datasets.resolve_data_root``: ``data_root``, else
``$TRANX_DATA_ROOT``, else ``../shared/data`` beside the checkout, else ``<checkout>/data/raw``); it must hold the
``text2sql`` folder.

Left out: the ``sql[1:]`` variants, the smaller data sets of the repository (10-fold splits), tokenisation.
"""

from __future__ import annotations

import json
import os

from .datasets import TEXT2SQL_FILES, RawExample, read_text2sql, text2sql_folder

__all__ = ["FILES", "SPLIT_KINDS", "load_text2sql", "text2sql_folder"]

FILES = TEXT2SQL_FILES  # the file of each data set, in ``<data root>/text2sql/``
SPLITS = ("train", "dev", "test")
SPLIT_KINDS = ("question", "query")


def load_text2sql(dataset: str, split: str, data_root: str | os.PathLike | None = None, *,
                  split_kind: str = "question") -> list[RawExample]:
    """The questions of ``dataset`` (geoquery, atis, advising) in ``split`` (train, dev, test) of the question or
    query split, in file order; see the module docstring."""
    if dataset not in FILES:
        raise ValueError(f"unknown text2sql dataset {dataset!r}; valid: {', '.join(FILES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} for {dataset!r}; valid: {', '.join(SPLITS)}")
    if split_kind not in SPLIT_KINDS:
        raise ValueError(f"unknown split_kind {split_kind!r}; valid: {', '.join(SPLIT_KINDS)}")
    return read_text2sql(text2sql_folder(data_root), dataset, split, split_kind, dataset)
