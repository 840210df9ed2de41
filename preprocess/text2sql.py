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
from pathlib import Path

from .datasets import _CHECKOUT, ENV_VAR, DataRootError, RawExample

__all__ = ["FILES", "SPLIT_KINDS", "TEXT2SQL_FOLDER", "load_text2sql", "text2sql_folder"]

TEXT2SQL_FOLDER = "text2sql"
#: The file of each data set, in ``<data root>/text2sql/``.
FILES = {"geoquery": "geography.json", "atis": "atis.json", "advising": "advising.json"}
SPLITS = ("train", "dev", "test")
SPLIT_KINDS = ("question", "query")


def text2sql_folder(data_root: str | os.PathLike | None = None) -> Path:
    """``<data root>/text2sql``, the root chosen as ``resolve_data_root`` chooses it; DataRootError when absent."""
    if data_root is not None and str(data_root) != "":
        candidates = [(Path(data_root).expanduser(), "data_root")]
    elif os.environ.get(ENV_VAR):
        candidates = [(Path(os.environ[ENV_VAR]).expanduser(), ENV_VAR)]
    else:
        candidates = [(_CHECKOUT.parent / "shared" / "data", "default beside the checkout"),
                      (_CHECKOUT / "data" / "raw", "default in the checkout")]
    tried = []
    for root, how in candidates:
        folder = root / TEXT2SQL_FOLDER
        if folder.is_dir():
            return folder
        tried.append(f"{folder} ({how})")
    raise DataRootError(f"data root not found for text2sql: tried {', '.join(tried)}; "
                        f"pass --data-root DIR or set {ENV_VAR}")


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
    with open(text2sql_folder(data_root) / FILES[dataset], encoding="utf-8") as f:
        queries = json.load(f)
    out: list[RawExample] = []
    for i, query in enumerate(queries):
        examples = {v["name"]: v.get("example", "") for v in query.get("variables", [])}
        for j, sentence in enumerate(query["sentences"]):
            where = query["query-split"] if split_kind == "query" else sentence["question-split"]
            if where != split:  # Advising's "exclude" matches no split
                continue
            given = sentence.get("variables", {})
            variables = {name: given.get(name) or examples.get(name, "") for name in {**examples, **given}}
            variables = {name: value for name, value in variables.items() if value != ""}
            meta = {"query": i, "sentence": j, "variables": dict(sorted(variables.items()))}
            out.append(RawExample(f"{split}/{len(out)}", dataset, split, sentence["text"], query["sql"][0], meta))
    return out
