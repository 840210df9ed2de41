"""Tests for tranx.data.pipeline: splits, examples, skipped examples, outputs. Offline; skipped without the data."""

from __future__ import annotations

import json

import pytest

from preprocess.datasets import DataRootError, RawExample, from_parseable, resolve_data_root
from preprocess.splits import CODEINSIGHT_CONALA_TEST_OVERLAP
from tranx.data.pipeline import (
    DEV_SEED,
    Example,
    PreprocessResult,
    preprocess_dataset,
    process_example,
    read_examples,
    split_examples,
    write_preprocessed,
)
from preprocess.substitution import restore
from tranx.evaluation.scoring import comparison_key
from tranx.grammar.actions import action_from_json
from tranx.io import write_jsonl
from tranx.languages import get_language
from tranx.grammar.transition import TransitionSystem


def _need(dataset: str) -> None:
    try:
        resolve_data_root(None, dataset)
    except DataRootError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def conala() -> PreprocessResult:
    _need("conala")
    return preprocess_dataset("conala", workers=1)


@pytest.fixture(scope="module")
def system() -> TransitionSystem:
    return TransitionSystem(get_language("python").grammar)


def _replay_code(system: TransitionSystem, actions: list) -> str:
    grammar = system.grammar
    tree = system.replay(action_from_json(grammar, a) for a in actions).tree()
    return get_language("python").unparse(tree)


# ------------------------------------------------------------------------------------------------------------ splits
@pytest.mark.parametrize("dataset, sizes", [
    ("conala", (2179, 200, 500)),
    ("django", (16000, 1000, 1805)),
    ("codeinsight", (1395, 150, 1860)),
])
def test_split_sizes(dataset, sizes):
    _need(dataset)
    splits = split_examples(dataset)
    assert tuple(len(splits[s]) for s in ("train", "dev", "test")) == sizes
    ids = [e.id for s in splits.values() for e in s]
    assert len(ids) == len(set(ids))


def test_django_splits_by_line():
    _need("django")
    splits = split_examples("django")
    assert splits["train"][0].id == "train/0" and splits["train"][-1].id == "train/15999"
    assert splits["dev"][0].id == "dev/16000" and splits["test"][0].id == "test/17000"


@pytest.mark.parametrize("dataset", ["conala", "codeinsight"])
def test_dev_split_is_deterministic_and_held_out_of_train(dataset):
    _need(dataset)
    a = split_examples(dataset, splits=["train", "dev"])
    b = split_examples(dataset, seed=DEV_SEED, splits=["dev"])
    assert [e.id for e in a["dev"]] == [e.id for e in b["dev"]]
    assert all(e.id.startswith("train/") for e in a["dev"])  # dev keeps the raw train ids
    assert not {e.id for e in a["dev"]} & {e.id for e in a["train"]}
    other = split_examples(dataset, seed=DEV_SEED + 1, splits=["dev"])
    assert [e.id for e in other["dev"]] != [e.id for e in a["dev"]]


def test_codeinsight_drops_the_conala_test_rows():
    _need("codeinsight")
    splits = split_examples("codeinsight", splits=["train", "dev"])
    kept = {e.id for s in splits.values() for e in s}
    assert len(kept) == 1551 - 6
    assert not kept & set(CODEINSIGHT_CONALA_TEST_OVERLAP)


# ---------------------------------------------------------------------------------------------------------- examples
def test_known_example(conala):
    ex = {e.id: e for e in conala.examples["test"]}["test/2"]
    assert ex.intent == "check if all elements in list `myList` are identical"
    assert ex.canonical_intent == "check if all elements in list var_0 are identical"
    assert ex.slots == [{"name": "var_0", "kind": "var", "value": "myList", "quote": "`"}]
    assert ex.slots_used == ["var_0"]
    assert ex.words[5:7] == ["list", "var_0"] and ex.word_spans[6] == [30, 35]
    assert ex.code == "all(x == myList[0] for x in myList)"
    assert ex.canonical_code == "all((x == var_0[0] for x in var_0))"
    assert ex.actions[:5] == [["ApplyRule", "Module"], ["ApplyRule", "Expr"], ["ApplyRule", "Call"],
                              ["ApplyRule", "Name"], ["GenToken", "all"]]
    assert ex.actions.count(["GenToken", "var_0"]) == 2 and ex.actions[-1] == ["Reduce"]
    assert ex.skip_reason is None


def test_conala_counts(conala):
    stats = conala.stats()["splits"]
    assert {s: v["raw"] for s, v in stats.items()} == {"train": 2179, "dev": 200, "test": 500}
    assert len(conala.kept("test")) == 500
    assert 0.75 < stats["train"]["slots"]["frac_with_slot_used"] < 0.9


def test_actions_replay_to_canonical_code_and_restore(conala, system):
    lang = get_language("python")
    for split, rows in conala.examples.items():
        for ex in rows[::7]:
            assert ex.ok, (ex.id, ex.skip_reason, ex.skip_detail)
            assert _replay_code(system, ex.actions) == ex.canonical_code
            restored = restore(ex.canonical_code, ex.slot_map())
            assert lang.canonicalize(restored) == lang.canonicalize(ex.code), ex.id


def test_django_examples_sample(system):
    _need("django")
    splits = split_examples("django")
    key = comparison_key("django")
    for split, rows in splits.items():
        for raw in rows[::97]:
            ex = process_example(raw, split, system=system)
            assert ex.ok, (ex.id, ex.skip_detail)
            assert _replay_code(system, ex.actions) == ex.canonical_code
            line = from_parseable("django", restore(ex.canonical_code, ex.slot_map()))
            assert key(line) == key(raw.code), ex.id


def test_django_comparison_key_handles_headers():
    key = comparison_key("django")
    assert key("if x :") == key("if x:") == key("if x:\n    pass")
    assert key("else :") == key("else:") != key("try :")
    assert key("x = 1") == key("x=1") != key("x = 2")
    assert key("if x") != key("if y")  # not parseable: token fallback
    assert comparison_key("conala") is None


def test_codeinsight_sample(system):
    _need("codeinsight")
    test = split_examples("codeinsight", splits=["test"])["test"]
    for raw in test[::61]:
        ex = process_example(raw, "test", system=system)
        assert ex.ok and ex.id.startswith("test/") and ex.canonical_code.lstrip().startswith(("def ", "import", "from"))
        assert _replay_code(system, ex.actions) == ex.canonical_code


def test_no_substitution_keeps_intent(system):
    raw = RawExample("train/0", "conala", "train", "sort list `a`", "sorted(a)")
    ex = process_example(raw, "train", substitution=False, system=system)
    assert ex.canonical_intent == "sort list `a`" and ex.slots == [] and ex.canonical_code == "sorted(a)"
    ex = process_example(raw, "train", system=system)
    assert ex.canonical_intent == "sort list var_0" and ex.canonical_code == "sorted(var_0)"


# ------------------------------------------------------------------------------------------- skipped examples, output
def _broken(split: str) -> RawExample:
    return RawExample(f"{split}/9", "conala", split, "print `x`", "print(x", {})


def test_unprocessable_examples_get_a_reason(system):
    ex = process_example(_broken("train"), "train", system=system)
    assert ex.skip_reason == "code not parseable" and ex.actions == [] and ex.canonical_code is None
    assert ex.canonical_intent == "print var_0"  # the intent side is still there (a test example can be predicted)


def test_test_examples_are_never_dropped(tmp_path, system):
    good = [process_example(RawExample(f"{s}/{i}", "conala", s, f"print `v{i}` now", f"print(v{i}, 'now')"), s,
                            system=system) for s in ("train", "test") for i in range(4)]
    rows = {"train": [e for e in good if e.split == "train"] + [process_example(_broken("train"), "train")],
            "dev": [],
            "test": [e for e in good if e.split == "test"] + [process_example(_broken("test"), "test")]}
    result = PreprocessResult("conala", {"substitution": True, "seed": DEV_SEED, "language": "python",
                                         "intent_style": "identifiers"}, rows)
    stats = write_preprocessed(result, tmp_path, token_cutoff=1, intent_vocab_size=60)
    train, test = read_examples(tmp_path / "train.jsonl"), read_examples(tmp_path / "test.jsonl")
    assert len(train) == 4 and all(e.ok for e in train)
    assert len(test) == 5 and test[-1].id == "test/9" and test[-1].skip_reason == "code not parseable"
    assert stats["splits"]["train"]["skipped_by_reason"] == {"code not parseable": 1}
    assert stats["splits"]["test"]["written"] == 5 and stats["splits"]["test"]["processed"] == 4
    on_disk = json.loads((tmp_path / "stats.json").read_text())
    assert on_disk["vocab"] == stats["vocab"] and stats["vocab"]["production"] > 100
    assert {p.name for p in (tmp_path / "vocab").iterdir()} >= {"primitive.json", "production.json", "intent.model",
                                                                  "intent.pieces.json"}


def test_example_jsonl_round_trip(conala, tmp_path):
    rows = conala.examples["dev"][:20]
    write_jsonl(tmp_path / "dev.jsonl", (e.to_json() for e in rows))
    assert read_examples(tmp_path / "dev.jsonl") == rows
    assert Example.from_json(json.dumps(rows[0].to_json())) == rows[0]
    with pytest.raises(ValueError, match="unknown Example fields"):
        Example.from_json({**rows[0].to_json(), "extra": 1})
