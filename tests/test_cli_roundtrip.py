"""`tranx roundtrip`: targets, the summary line, the failures file, exit codes and bad input."""

import pytest

import tranx.data.roundtrip as roundtrip
from tranx.cli import main


def write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_directory_and_files(tmp_path, capsys):
    write(tmp_path, "pkg/a.py", "def f(x, *a, k=1):\n    return {**x, 'k': f'{k!r}'}\n")
    write(tmp_path, "pkg/sub/b.py", "match p:\n    case [1, *r]:\n        pass\n")
    bad = write(tmp_path, "bad.py", "def (:\n")
    failures = tmp_path / "failures.txt"
    code = main(["roundtrip", "--failures", str(failures), str(tmp_path / "pkg"), str(bad)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert out[-1] == "roundtrip: 2/3 exact, 1 not parseable, 0 failed"
    text = failures.read_text()
    assert f"NOT PARSEABLE {bad}" in text and "SyntaxError" in text


def test_failures_exit_1_and_are_listed(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "a.py", "x = 1\n")
    monkeypatch.setattr(roundtrip, "check_snippet",
                        lambda snippet, *args: (roundtrip.FAILED, "code differs: boom"))
    failures = tmp_path / "f.txt"
    assert main(["roundtrip", "--workers", "1", "--failures", str(failures), str(path)]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1] == "roundtrip: 0/1 exact, 0 not parseable, 1 failed"
    assert f"FAILED {path}\ncode differs: boom" in failures.read_text()


def test_tree_sitter_language_is_induced_from_the_files_checked(tmp_path, capsys):
    write(tmp_path, "src/a.py", "def f(x):\n    return [y * 2 for y in x if y]\n")
    write(tmp_path, "src/b.py", "import os\nprint(os.path.join('a', 'b'))\n")
    commented = write(tmp_path, "src/c.py", "x = 1  # the tree keeps no comment here\n")
    failures = tmp_path / "f.txt"
    code = main(["roundtrip", "--language", "tree-sitter:python", "--workers", "1", "--failures", str(failures),
                 str(tmp_path / "src")])
    assert capsys.readouterr().out.strip().splitlines()[-1] == "roundtrip: 2/3 exact, 0 not parseable, 1 failed"
    assert code == 1
    assert f"FAILED {commented}\nsame tree, but the text differs beyond whitespace" in failures.read_text()


def test_dataset_split(tmp_path, capsys):
    code = main(["roundtrip", "--failures", str(tmp_path / "f.txt"), "conala:test"])
    assert code == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "roundtrip: 500/500 exact, 0 not parseable, 0 failed"


def test_missing_data_root_is_one_line(tmp_path, capsys):
    code = main(["roundtrip", "--data-root", str(tmp_path / "nowhere"), "django:test"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "data root not found" in err[0] and str(tmp_path / "nowhere") in err[0]
    assert "--data-root" in err[0] and "TRANX_DATA_ROOT" in err[0]


@pytest.mark.parametrize("target, message", [
    ("nope.py", "no such file, directory or data set: 'nope.py'"),
    ("conala:dev", "unknown split 'dev' for 'conala'"),
    ("cobol:train", "unknown dataset 'cobol'"),
])
def test_bad_targets(target, message, capsys):
    assert main(["roundtrip", target]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_undecodable_file_is_not_parseable(tmp_path, capsys):
    path = tmp_path / "latin.py"
    path.write_bytes(b"# -*- coding: utf-8 -*-\nx = '\xff'\n")
    assert main(["roundtrip", "--failures", str(tmp_path / "f.txt"), str(path)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "roundtrip: 0/1 exact, 1 not parseable, 0 failed"


def test_a_tree_sitter_language_is_checked_alone(tmp_path, capsys):
    code = main(["roundtrip", "--workers", "1", "--failures", str(tmp_path / "f.txt"), "kb13:test", "nl2bash:test"])
    err = capsys.readouterr().err
    assert code == 2
    assert "a tree-sitter language is checked alone" in err and "lark:regex, tree-sitter:bash" in err
