"""Tests for preprocess.substitution (lexical substitution, pure and invertible)."""

from __future__ import annotations

import ast
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from preprocess.substitution import (
    Slot,
    SlotMap,
    Substitution,
    canonicalize_intent,
    find_quoted_spans,
    restore,
    substitute_code,
    substitute_code_with_usage,
)


def _data_root() -> Path:
    env = os.environ.get("TRANX_DATA_ROOT")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared/data"


def _conala(split: str) -> list[dict]:
    path = _data_root() / "conala" / f"conala-{split}.json"
    if not path.is_file():
        pytest.skip(f"CoNaLa data not found at {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def _django_train() -> list[tuple[str, str]]:
    root = _data_root() / "django"
    if not (root / "all.anno").is_file() or not (root / "all.code").is_file():
        pytest.skip(f"Django data not found at {root}")
    anno = (root / "all.anno").read_text(encoding="utf-8").splitlines()
    code = (root / "all.code").read_text(encoding="utf-8").splitlines()
    assert len(anno) == len(code)
    return [(a.strip(), c.strip()) for a, c in zip(anno[:16000], code[:16000])]


# ----------------------------------------------------------------- canonicalize_intent
CONALA_CASES = [
    # (intent, canonical intent, [(name, value, quote)])
    ("sort list `my_list` by `key`", "sort list var_0 by var_1", [("var_0", "my_list", "`"), ("var_1", "key", "`")]),
    ("open file 'data.txt' in mode 'r'", "open file str_0 in mode var_0", [("str_0", "data.txt", "'"), ("var_0", "r", "'")]),
    ('split "a b c" on " "', "split str_0 on str_1", [("str_0", "a b c", '"'), ("str_1", " ", '"')]),
    ("execute os command ''TASKKILL /F /IM firefox.exe''", "execute os command str_0", [("str_0", "TASKKILL /F /IM firefox.exe", "''")]),
    # apostrophes in ordinary English never open a quote
    ("get items from list `a` that don't appear in list `b`", "get items from list var_0 that don't appear in list var_1",
     [("var_0", "a", "`"), ("var_1", "b", "`")]),
    ("Update a user's name as 'Bob Marley'", "Update a user's name as str_0", [("str_0", "Bob Marley", "'")]),
    ("fill list `myList` with 4 0's", "fill list var_0 with 4 0's", [("var_0", "myList", "`")]),
    ("sort by elements' float values", "sort by elements' float values", []),
    # apostrophe inside a quoted value does not close it
    ("replace quote in string \"didn't\" with empty string ''", "replace quote in string str_0 with empty string str_1",
     [("str_0", "didn't", '"'), ("str_1", "", "'")]),
    ("split 'user's name' now", "split str_0 now", [("str_0", "user's name", "'")]),
    # the same value twice gets the same slot; quote kinds do not matter
    ("add `x` to `y` then `x` again and 'x'", "add var_0 to var_1 then var_0 again and var_0", [("var_0", "x", "`"), ("var_1", "y", "`")]),
    # identifier -> var whatever the quote; identifiers are stripped; keywords are not identifiers
    ("Sum numbers in a list 'your_list'", "Sum numbers in a list var_0", [("var_0", "your_list", "'")]),
    ("convert `date_stngs ` to datetime", "convert var_0 to datetime", [("var_0", "date_stngs", "`")]),
    ("check if `x` is `True`", "check if var_0 is str_0", [("var_0", "x", "`"), ("str_0", "True", "`")]),
    # non-identifiers -> str: list-like, dotted, numbers
    ("append `[3, 4]` to `os.path`, value `0`", "append str_0 to str_1, value str_2",
     [("str_0", "[3, 4]", "`"), ("str_1", "os.path", "`"), ("str_2", "0", "`")]),
    # quotes nested in a backtick span stay inside it
    ("call `format` with `('1', '2')`", "call var_0 with str_0", [("var_0", "format", "`"), ("str_0", "('1', '2')", "`")]),
    # escapes are decoded (\n means a newline, as in the code); unknown escapes stay
    ("split on '\\n' and '\\d+'", "split on str_0 and str_1", [("str_0", "\n", "'"), ("str_1", "\\d+", "'")]),
    # string prefixes belong to the quote
    ("a unicode string u'm\\xfasica'", "a unicode string str_0", [("str_0", "m\xfasica", "u'")]),
    # no quotes, unbalanced quotes, empty intent
    ("print current date and time", "print current date and time", []),
    ("convert a list `listofdict into a dictionary", "convert a list `listofdict into a dictionary", []),
    ("it is 'unbalanced", "it is 'unbalanced", []),
    ("", "", []),
    ("``", "str_0", [("str_0", "", "`")]),
]


@pytest.mark.parametrize("intent,expected,slots", CONALA_CASES)
def test_canonicalize_intent_conala(intent, expected, slots):
    got, sm = canonicalize_intent(intent)
    assert got == expected
    assert [(s.name, s.value, s.quote) for s in sm.slots] == slots
    for s in sm.slots:
        assert s.kind == s.name.split("_")[0]


def test_canonicalize_intent_django():
    a = "call the function io.open with 3 arguments: potfile, string 'r' and encoding set to string 'utf-8'."
    got, sm = canonicalize_intent(a, style="strings")
    assert got == "call the function io.open with 3 arguments: potfile, string str_0 and encoding set to string str_1."
    assert dict(sm) == {"str_0": "r", "str_1": "utf-8"}
    assert all(sm.kind(n) == "str" for n in sm)
    got, sm = canonicalize_intent('raise ValueError with "Key \'%s\' not found" replaced with key', style="strings")
    assert got == "raise ValueError with str_0 replaced with key" and dict(sm) == {"str_0": "Key '%s' not found"}
    # "raw string" in front of the quote: no escape decoding
    _, sm = canonicalize_intent("call re.compile with raw string '^\\d\\b$' and string '\\n'", style="strings")
    assert list(sm.values()) == ["^\\d\\b$", "\n"]


def test_find_quoted_spans_offsets():
    text = "a `b` and u'c' or ''d e''"
    spans = find_quoted_spans(text)
    assert [text[s.start : s.end] for s in spans] == ["`b`", "u'c'", "''d e''"]
    assert [s.content for s in spans] == ["b", "c", "d e"]


def test_bad_arguments():
    with pytest.raises(ValueError):
        canonicalize_intent("x", style="sql")
    with pytest.raises(TypeError):
        canonicalize_intent(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not parse"):
        substitute_code("def (:", SlotMap())


# ----------------------------------------------------------------- SlotMap
def test_slotmap_json_and_immutability():
    _, sm = canonicalize_intent("write `text` to 'out.txt' with \"a\\tb\" and `[1, 2]`")
    assert isinstance(sm.to_json(), str)
    assert SlotMap.from_json(sm.to_json()) == sm
    assert SlotMap.from_json(sm.to_list()) == sm
    assert hash(SlotMap.from_json(sm.to_json())) == hash(sm)
    assert dict(sm) == {"var_0": "text", "str_0": "out.txt", "str_1": "a\tb", "str_2": "[1, 2]"}
    assert sm.kind("var_0") == "var" and sm.quote("str_0") == "'" and sm.slot("str_2").value == "[1, 2]"
    assert sm.names_of_kind("str") == ["str_0", "str_1", "str_2"]
    with pytest.raises(AttributeError):
        sm._slots = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        sm["var_0"] = "y"  # type: ignore[index]
    with pytest.raises(ValueError):
        SlotMap.from_json('[{"name": "var_0", "kind": "str", "value": "x", "quote": "`"}]')
    with pytest.raises(ValueError):
        SlotMap([Slot("var_0", "var", "x", "`"), Slot("var_1", "var", "x", "'")])
    with pytest.raises(ValueError):
        SlotMap.from_json("{}")


# ----------------------------------------------------------------- substitute / restore
SUB_CASES = [
    # (intent, code, substituted)
    ("Concatenate elements of a list 'x' of multiple integers", "sum(d * 10 ** i for i, d in enumerate(x[::-1]))",
     "sum((d * 10 ** i for i, d in enumerate(var_0[::-1])))"),
    ("pull a value with key 'name' from a json object `item`", "print(item['name'])", "print(var_1['var_0'])"),
    ("open the file 'words.txt' in 'rU' mode", "f = open('words.txt', 'rU')", "f = open('str_0', 'var_0')"),
    ("append values `[3, 4]` to a set `a`", "a.update([3, 4])", "var_0.update(str_0)"),
    ("check `os.path` of `f`", "os.path.exists(f)", "str_0.exists(var_0)"),
    ("set attribute `attr` of `obj` with keyword `key` in function `fn`",
     "def fn(key=1):\n    obj.attr = key\nfn(key=2)",
     "def var_3(var_2=1):\n    var_1.var_0 = var_2\nvar_3(var_2=2)"),
    ("import module `numpy` as `np`", "import numpy as np", "import var_0 as var_1"),
    ("zero `0` and `True`", "x = 0 if y else True", "x = str_0 if y else str_1"),
    ("split on '\\n'", "s.split('\\n')", "s.split('str_0')"),
    ("u-string 'abc'", "f(u'abc')", "f(u'var_0')"),
    ("value 'unused' is not in code", "print(1)", "print(1)"),
    ("tuple `(2, 3)` in list", "x = (2, 3) not in y", "x = str_0 not in y"),
    ("unpack into `a, b`", "a, b = f()", "str_0 = f()"),
]


@pytest.mark.parametrize("intent,code,expected", SUB_CASES)
def test_substitute_and_restore_known_answers(intent, code, expected):
    _, sm = canonicalize_intent(intent)
    c = ast.unparse(ast.parse(code))
    got = substitute_code(code, sm)
    assert got == expected
    assert restore(got, sm) == c


def test_substitute_returns_canonical_code():
    assert substitute_code("x=( 1 )", SlotMap()) == "x = 1"
    _, used = substitute_code_with_usage("print( 'a' )", canonicalize_intent("print 'b'")[1])
    assert used == frozenset()


def test_restore_decoded_code():
    _, sm = canonicalize_intent("write `text` to file 'out.txt' and add `[1, 2]` or 'a b'")
    assert dict(sm) == {"var_0": "text", "str_0": "out.txt", "str_1": "[1, 2]", "str_2": "a b"}
    # slots used in other roles than in training
    assert restore("open('str_0').write(var_0)", sm) == "open('out.txt').write(text)"
    assert restore("f('var_0', 'str_1')", sm) == "f('text', '[1, 2]')"
    # Name('str_k') is the inverse of a subtree substitution: the parsed value when it is
    # an expression (even a dotted name such as out.txt), else the string constant
    assert restore("x = str_1 + str_2", sm) == "x = [1, 2] + 'a b'"
    assert restore("open(str_0)", sm) == "open(out.txt)"
    assert restore("var_0.str_0", sm) == "text.str_0"  # a non-identifier cannot be an attribute
    # a slot that is not in the map is left untouched
    assert restore("f(var_0, var_7, 'str_9', str_9)", sm) == "f(text, var_7, 'str_9', str_9)"
    # escaping via ast
    _, sm2 = canonicalize_intent("print \"it's\" and 'a\\nb' and 'back\\\\slash'")
    assert restore("print(str_0, str_1, str_2)", sm2) == "print(\"it's\", 'a\\nb', 'back\\\\slash')"
    # ctx is kept for restored targets
    _, sm3 = canonicalize_intent("unpack into `a, b`")
    tree = ast.parse(restore("str_0 = f()", sm3))
    assert isinstance(tree.body[0].targets[0].ctx, ast.Store)
    compile(tree, "<t>", "exec")


def test_restore_textual_fallback():
    _, sm = canonicalize_intent("write `text` to file 'out.txt' with `x + 1` and `[1, 2]`")
    # does not parse: textual replacement
    got = restore("var_0.write('str_0' * str_1 + str_2 , str_9 ; obj.var_0 (", sm)
    assert got == "text.write('out.txt' * (x + 1) + [1, 2] , str_9 ; obj.text ("
    assert restore('f("str_0"', sm) == "f('out.txt'"
    assert restore("f('str_0' my_var_0 var_0x", sm) == "f('out.txt' my_var_0 var_0x"
    _, sm2 = canonicalize_intent("print 'a b'")
    assert restore("print(str_0", sm2) == "print('a b'"


def test_off_switch_is_identity():
    off = Substitution(enabled=False)
    intent = "sort list `my_list` by 'key'"
    got, sm = off.canonicalize_intent(intent)
    assert got == intent and len(sm) == 0
    code = "sorted(my_list, key = 'key')"
    assert off.substitute_code(code, sm) == code
    assert off.restore("var_0 + str_0", sm) == "var_0 + str_0"
    # functional switch too
    _, sm_on = canonicalize_intent(intent)
    assert canonicalize_intent(intent, enabled=False) == (intent, SlotMap())
    assert substitute_code(code, sm_on, enabled=False) == code
    assert restore("var_0", sm_on, enabled=False) == "var_0"
    on = Substitution(style="identifiers")
    assert on.restore(on.substitute_code(code, on.canonicalize_intent(intent)[1]), sm_on) == ast.unparse(ast.parse(code))
    with pytest.raises(ValueError):
        Substitution(style="bash")


# ----------------------------------------------------------------- round trips over the data
def _stats_line(name: str, n: int, applied: int, slots: Counter, used: Counter) -> str:
    tot_slots = sum(k * v for k, v in slots.items())
    tot_used = sum(k * v for k, v in used.items())
    return (
        f"{name}: {n} examples, substitution applies in {applied} ({applied / n:.1%}); "
        f"slots/example {tot_slots / n:.3f} (used {tot_used / n:.3f}); "
        f"slots used {tot_used}/{tot_slots} ({tot_used / max(tot_slots, 1):.1%}); "
        f"slots-per-example histogram {dict(sorted(slots.items()))}"
    )


@pytest.mark.parametrize("split", ["train", "test"])
def test_round_trip_conala(split):
    data = _conala(split)
    failures = []
    slots_hist, used_hist = Counter(), Counter()
    applied = 0
    for r in data:
        intent = r["rewritten_intent"] or r["intent"]
        canon, sm = canonicalize_intent(intent)
        c = ast.unparse(ast.parse(r["snippet"]))
        sub, used = substitute_code_with_usage(c, sm)
        if restore(sub, sm) != c:
            failures.append((intent, c, sub))
        assert SlotMap.from_json(sm.to_json()) == sm
        for name in sm:  # every slot name is visible in the canonical intent
            assert name in canon
        slots_hist[len(sm)] += 1
        used_hist[len(used)] += 1
        applied += bool(used)
    print("\n" + _stats_line(f"CoNaLa {split}", len(data), applied, slots_hist, used_hist))
    assert not failures, failures[:5]
    if split == "train":
        assert len(data) == 2379
        assert applied / len(data) > 0.80
        assert sum(k * v for k, v in used_hist.items()) / sum(k * v for k, v in slots_hist.items()) > 0.90


def _complete(code: str) -> ast.Module | None:
    """Minimal completion of a Django header line (for the round trip only)."""
    for cand in (code, code + " pass", "if True: pass\n" + code + " pass", "try: pass\n" + code + " pass",
                 code + " pass\nexcept: pass", code + "\ndef _f(): pass"):
        try:
            return ast.parse(cand)
        except SyntaxError:
            continue
    return None


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::SyntaxWarning")
def test_round_trip_django_train():
    data = _django_train()
    failures = []
    alone = skipped_alone = 0
    slots_hist, used_hist = Counter(), Counter()
    applied = 0
    for anno, code in data:
        try:
            tree = ast.parse(code)
            alone += 1
        except SyntaxError:
            skipped_alone += 1
            tree = _complete(code)  # headers (if/def/else...) need a completion
            assert tree is not None, code
        c = ast.unparse(tree)
        _, sm = canonicalize_intent(anno, style="strings")
        assert all(s.kind == "str" for s in sm.slots)
        sub, used = substitute_code_with_usage(c, sm)
        if restore(sub, sm) != c:
            failures.append((anno, c, sub))
        slots_hist[len(sm)] += 1
        used_hist[len(used)] += 1
        applied += bool(used)
    print(f"\nDjango train: {alone} lines parse alone, {skipped_alone} need a completion (all completed)")
    print(_stats_line("Django train", len(data), applied, slots_hist, used_hist))
    assert not failures, failures[:5]
    assert alone + skipped_alone == 16000
    assert applied / len(data) > 0.12
