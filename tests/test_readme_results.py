"""The README's results table is what bench/readme_tables.py generates from the result files in bench/results/."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tables():
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "bench" / "readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_results_table_matches_the_result_files():
    tables = _tables()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert tables.render(readme) == readme, "README.md results table is out of date: run bench/readme_tables.py"


def test_reported_result_files_carry_provenance():
    tables = _tables()
    for spec in tables.ROWS:
        path = ROOT / "bench" / "results" / spec[1]
        if not path.is_file():
            continue
        provenance = json.loads(path.read_text(encoding="utf-8"))["provenance"]
        assert provenance["command"].startswith(("tranx eval ", "tranx rerank ")) and len(provenance["commit"]) == 40
        assert provenance["data"] and all(len(h) == 64 for files in provenance["data"].values() for h in files.values())
        assert {"cpu_count", "torch_threads", "platform"} <= set(provenance["machine"])
        if provenance["command"].startswith("tranx eval "):
            assert provenance["config"]["train"]["dataset"]
        else:  # a decoded n-best file reordered: the reordering's settings
            assert {"weight", "coverage"} <= set(provenance["config"])


def test_every_result_file_names_the_command_and_commit_that_wrote_it():
    """No hand-made result file: each one under bench/results/ was written through tranx.provenance."""
    missing = []
    for path in sorted((ROOT / "bench" / "results").glob("*.json")):
        provenance = json.loads(path.read_text(encoding="utf-8")).get("provenance") or {}
        if not provenance.get("command") or len(provenance.get("commit") or "") != 40:
            missing.append(path.name)
    assert missing == []
