"""Tests for preprocess.datasets: readers of the shared data, data-root resolution, Django line completion."""

import ast
import collections
import json

import pytest

from preprocess import datasets as D
from preprocess.datasets import (
    DATASETS, DataRootError, RawExample, complete_code, completion_kind, from_parseable, load_examples, parse_target,
    resolve_data_root, strip_completion, to_parseable,
)


def canon(src: str) -> str:
    return ast.unparse(D._parse(src))  # ast.parse without the data's invalid-escape warnings


@pytest.fixture(scope="module")
def django_all():
    return load_examples("django", "all")


# ------------------------------------------------------------------------------------------------------ known answers

@pytest.mark.parametrize("dataset,split,count,first,last", [
    ("conala", "train", 2379, "train/0", "train/2378"),
    ("conala", "test", 500, "test/0", "test/499"),
    ("django", "train", 16000, "train/0", "train/15999"),
    ("django", "dev", 1000, "dev/16000", "dev/16999"),
    ("django", "test", 1805, "test/17000", "test/18804"),
    ("django", "all", 18805, "all/0", "all/18804"),
    ("codeinsight", "train", 1551, "train/0", "train/1550"),
    ("codeinsight", "test", 1860, "test/0", "test/1859"),
])
def test_counts_and_ids(dataset, split, count, first, last):
    xs = load_examples(dataset, split)
    assert len(xs) == count
    assert (xs[0].id, xs[-1].id) == (first, last)
    assert len({x.id for x in xs}) == count
    assert all(x.dataset == dataset and x.split == split for x in xs)
    json.dumps([x.meta for x in xs])  # meta stays JSON-serialisable


def test_conala_train0():
    x = load_examples("conala", "train")[0]
    assert x.intent == "Concatenate elements of a list 'x' of multiple integers to a single integer"
    assert x.code == "sum(d * 10 ** i for i, d in enumerate(x[::-1]))"
    assert x.meta == {"question_id": 41067960,
                      "intent": "How to convert a list of multiple integers into a single integer?",
                      "rewritten_intent": x.intent}


@pytest.mark.parametrize("split,nulls", [("train", 79), ("test", 23)])
def test_conala_null_rewritten_intent_falls_back(split, nulls):
    xs = [x for x in load_examples("conala", split) if x.meta["rewritten_intent"] is None]
    assert len(xs) == nulls
    assert all(x.intent == x.meta["intent"] and x.intent for x in xs)


def test_django_line0_and_splits_agree(django_all):
    x = load_examples("django", "train")[0]
    assert (x.id, x.intent, x.code) == ("train/0", "from threading import local into default name space.",
                                        "from threading import local")
    dev, test = load_examples("django", "dev"), load_examples("django", "test")
    assert [(x.intent, x.code) for x in dev] == [(x.intent, x.code) for x in django_all[16000:17000]]
    assert test[-1].code == "self . endElement ( name )"


def test_codeinsight_test0():
    x = load_examples("codeinsight", "test")[0]
    assert x.id == "test/0"
    assert x.intent == "Add 1 to each integer value in a list lst0"
    assert x.code == "def test(lst0):\n    return [x+1 for x in lst0]\n"
    assert x.meta["lib"] == ["NoImport"] and x.meta["labels"] == ["list", "loop", "math"]
    assert x.meta["prompt"].startswith(x.meta["nl"]) and len(x.meta["unit_tests"]) == 3
    assert x.meta["function_header"] == "def test(lst0):"  # the prompt's signature, for tranx execute --snippets


def test_raw_example_is_hashable_and_meta_not_compared():
    a = RawExample("train/0", "conala", "train", "i", "c", {"k": [1]})
    b = RawExample("train/0", "conala", "train", "i", "c")
    assert a == b and hash(a) == hash(b) and b.meta == {}
    with pytest.raises(AttributeError):
        a.code = "x"  # frozen


# -------------------------------------------------------------------------------------------------------- data root

def _fake_conala(root):
    (root / "conala").mkdir(parents=True)
    rec = [{"question_id": 1, "intent": "orig", "rewritten_intent": None, "snippet": "x = 1"}]
    (root / "conala" / "conala-test.json").write_text(json.dumps(rec))
    return root


def test_root_explicit(tmp_path, monkeypatch):
    monkeypatch.setenv(D.ENV_VAR, str(tmp_path / "elsewhere"))
    root = _fake_conala(tmp_path / "mine")
    assert resolve_data_root(root, "conala") == root
    assert resolve_data_root(str(root)) == root
    assert load_examples("conala", "test", data_root=root) == [
        RawExample("test/0", "conala", "test", "orig", "x = 1")]


def test_root_env(tmp_path, monkeypatch):
    root = _fake_conala(tmp_path)
    monkeypatch.setenv(D.ENV_VAR, str(root))
    assert resolve_data_root(dataset="conala") == root
    assert len(load_examples("conala", "test")) == 1


def test_root_default_is_shared_data(monkeypatch):
    monkeypatch.delenv(D.ENV_VAR, raising=False)
    root = resolve_data_root(dataset="django")
    assert (root / "django" / "all.code").is_file()


def test_root_missing_message(tmp_path, monkeypatch):
    missing = tmp_path / "nope"
    with pytest.raises(DataRootError) as e:
        resolve_data_root(missing, "conala")
    msg = str(e.value)
    assert isinstance(e.value, ValueError) and "\n" not in msg
    assert str(missing / "conala") in msg and "--data-root" in msg and D.ENV_VAR in msg
    # a root without the data set's folder is not good enough
    (tmp_path / "django").mkdir()
    monkeypatch.setenv(D.ENV_VAR, str(tmp_path))
    with pytest.raises(DataRootError, match="codeinsight"):
        load_examples("codeinsight", "test")
    # defaults: both tried paths are named
    monkeypatch.delenv(D.ENV_VAR)
    monkeypatch.setattr(D, "_CHECKOUT", tmp_path / "checkout")
    with pytest.raises(DataRootError) as e:
        resolve_data_root(dataset="conala")
    msg = str(e.value)
    assert str(tmp_path / "shared" / "data" / "conala") in msg
    assert str(tmp_path / "checkout" / "data" / "raw" / "conala") in msg


# ----------------------------------------------------------------------------------------------------- names / specs

@pytest.mark.parametrize("dataset,split,needle", [
    ("conla", "train", "conla"), ("conala", "dev", "dev"), ("django", "valid", "valid"), ("codeinsight", "all", "all"),
])
def test_unknown_names(dataset, split, needle):
    with pytest.raises(ValueError, match=needle) as e:
        load_examples(dataset, split)
    assert "valid:" in str(e.value)


def test_parse_target():
    assert parse_target("conala:train") == ("conala", "train")
    assert parse_target("django:dev") == ("django", "dev")
    for bad in ["conala", "conala:", ":train", "conala:train:x", ""]:
        with pytest.raises(ValueError, match="DATASET:SPLIT"):
            parse_target(bad)
    with pytest.raises(ValueError, match="unknown split"):
        parse_target("conala:dev")
    with pytest.raises(ValueError, match="unknown dataset"):
        parse_target("foo:train")


def test_datasets_listing():
    assert DATASETS == {"conala": ("train", "test"), "django": ("train", "dev", "test", "all"),
                        "codeinsight": ("train", "test"), "nl-rx-turk": ("train", "dev", "test"),
                        "nl-rx-synth": ("train", "dev", "test"), "kb13": ("train", "test"),
                        "geoquery": ("train", "dev", "test"), "geoquery-query": ("train", "dev", "test"),
                        "nl2bash": ("train", "dev", "test")}


def test_parseable_identity_outside_django():
    src = "if x:\n    pass"
    for d in ("conala", "codeinsight"):
        assert to_parseable(d, "else :") == "else :" and from_parseable(d, src) == src
    assert to_parseable("django", "else :") == complete_code("else :")
    assert from_parseable("django", src) == "if x:"
    with pytest.raises(ValueError):
        to_parseable("nope", "x")


# -------------------------------------------------------------------------------------------- Django line completion

M = D.CONTEXT_MARKER
TABLE = [
    ("if x == 1 :", "if x == 1:\n    pass", "if x == 1:"),
    ("elif not self . y :", f"if True:\n    {M}\nelif not self.y:\n    pass", "elif not self.y:"),
    ("else :", f"if True:\n    {M}\nelse:\n    pass", "else:"),
    ("try :", f"try:\n    pass\nexcept:\n    {M}", "try:"),
    ("except :", f"try:\n    {M}\nexcept:\n    pass", "except:"),
    ("except ValueError :", f"try:\n    {M}\nexcept ValueError:\n    pass", "except ValueError:"),
    ("except ( KeyError , TypeError ) as e :", f"try:\n    {M}\nexcept (KeyError, TypeError) as e:\n    pass",
     "except (KeyError, TypeError) as e:"),
    ("finally :", f"try:\n    {M}\nfinally:\n    pass", "finally:"),
    ("def __init__ ( self , * args , ** kwargs ) :", "def __init__(self, *args, **kwargs):\n    pass",
     "def __init__(self, *args, **kwargs):"),
    ("class Foo ( object ) :", "class Foo(object):\n    pass", "class Foo(object):"),
    ("for k , v in d . items ( ) :", "for k, v in d.items():\n    pass", "for k, v in d.items():"),
    ("while True :", "while True:\n    pass", "while True:"),
    ("with open ( f ) as fh :", "with open(f) as fh:\n    pass", "with open(f) as fh:"),
    ("@ property", f"@property\ndef {M}():\n    pass", "@property"),
    ("@ register . filter ( is_safe = True )", f"@register.filter(is_safe=True)\ndef {M}():\n    pass",
     "@register.filter(is_safe=True)"),
    ("from threading import local", "from threading import local", "from threading import local"),
    ("pass", "pass", "pass"),
]


@pytest.mark.parametrize("line,completed,stripped", TABLE)
def test_completion_table(line, completed, stripped):
    c = canon(complete_code(line))
    assert c == completed
    assert strip_completion(c) == stripped
    assert canon(complete_code(stripped)) == c


def test_strip_leaves_other_code_alone():
    for src in ["if x:\n    return y", "x = 1\ny = 2", "try:\n    pass\nexcept:\n    pass", "not python ("]:
        assert strip_completion(src) == src
    # a completed clause with a real body round-trips through a multi-line "line"
    c = f"if True:\n    {M}\nelse:\n    return y"
    assert strip_completion(c) == "else:\n    return y" and canon(complete_code("else:\n    return y")) == c


def test_invariant_all_django_lines(django_all):
    kinds = collections.Counter()
    failures = []
    for x in django_all:
        kind = completion_kind(x.code)
        kinds[kind] += 1
        c = canon(complete_code(x.code))
        s = strip_completion(c)
        if canon(complete_code(s)) != c or (kind and ("\n" in s or completion_kind(s) != kind)):
            failures.append((x.id, x.code, s))
    assert failures == []
    assert kinds == {None: 11319, "if": 2363, "def": 2162, "else": 595, "for": 484, "class": 456, "except": 434,
                     "try": 431, "@": 231, "elif": 183, "with": 73, "while": 54, "finally": 20}


def test_marker_absent_from_data(django_all):
    assert not any(D.CONTEXT_MARKER in x.code for x in django_all)
    assert not any(D.CONTEXT_MARKER in x.code for d in ("conala", "codeinsight") for s in DATASETS[d]
                   for x in load_examples(d, s))
