"""tree-sitter languages: a grammar induced from observed parse trees, code <-> tree round trips with oracle replay,
unseen shapes, the JSON description, token checks; NL2Bash (when the shared data is present) and a few Python standard
library files (tree-sitter-python) to show that nothing is Bash-specific."""

from __future__ import annotations

import json
import re
import sysconfig
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_bash")

from tranx.errors import ConversionError, GrammarError  # noqa: E402
from tranx.grammar.transition import TransitionSystem, valid_actions  # noqa: E402
from tranx.grammar.tree import Node  # noqa: E402
from tranx.languages.tree_sitter_grammar import induce_grammar  # noqa: E402
from tranx.languages.tree_sitter_language import TreeSitterLanguage, UnseenShape, round_trip  # noqa: E402
from model_fixtures import assert_replays  # noqa: E402

# Written as the induced grammar writes them (one space between words, none around `;` before it), so the text comes
# back identical: pipes, flags, quotes, $(...), backquotes, ${...}, redirections, -exec ... \;, &&, ||, assignments.
BASH = [
    "find . -name '*.txt' -exec rm {} \\;",
    'find . -type f -name "*.log" | xargs grep -l error',
    "ls -la /tmp | sort -k5 -n | head -n 3",
    'echo "Hello, $USER" > greeting.txt',
    "tar -czf backup.tar.gz $(find . -name '*.py' -mtime -1)",
    "mkdir -p build && cd build && cmake ..",
    "grep -r TODO src 2>&1 >> todo.log",
    "cat file.txt | tr -d '\\n' | wc -c",
    "du -sh * | sort -h",
    "find /var/log -mtime +7 -exec gzip {} \\;",
    "chmod 755 ~/bin/*.sh; ls -l ~/bin",
    "echo `date` ${HOME}/x",
    "cp -r src/ dst/ || echo failed",
    "VAR=1 make -j4 all",
]
LANGUAGE = TreeSitterLanguage("bash", BASH, name="bash")


@pytest.mark.parametrize("code", BASH)
def test_bash_round_trips(code):
    tree = LANGUAGE.parse(code)
    text = LANGUAGE.unparse(tree)
    assert text == code == LANGUAGE.canonicalize(text)
    assert LANGUAGE.parse(text) == tree
    assert_replays(LANGUAGE, tree)


def test_induced_bash_grammar():
    conversion, grammar = LANGUAGE.conversion, LANGUAGE.grammar
    assert grammar.root_type == "program"
    assert sorted(grammar.primitive_types) == [
        "FILE_DESCRIPTOR", "NUMBER", "RAW_STRING", "STRING_CONTENT", "VARIABLE_NAME", "WORD"]
    assert (len(grammar.types), len(grammar.constructors)) == (7, 24)
    report = conversion.report
    assert (report.programs, report.errors, report.text_dropped, report.pinned, report.failures) == (14, 0, 0, 0, [])
    # a constructor per observed shape, its concrete syntax in a comment; runs are `*` fields
    assert "pipeline(command* command)  -- command (\"|\" command)*" in conversion.asdl_text
    assert "list_1(command command, command command2)  -- command \"&&\" command2" in conversion.asdl_text
    assert "command_1(command_name name, word* argument)  -- name argument+" in conversion.asdl_text
    # leaves are tokens of their kind; a field that only ever held one leaf kind holds its tokens directly
    assert repr(LANGUAGE.parse("ls -l")) == (
        "program_1(command=command_1(name=command_name(word='ls'), argument=(word(text='-l'),)))")
    assert repr(LANGUAGE.parse('echo "a $x" > f')) == (
        "program_1(command=redirected_statement(body=command_1(name=command_name(word='echo'), argument=("
        "string(string_content=(string_content(text='a '), simple_expansion(variable_name='x'))),)), "
        "redirect=(file_redirect_1(destination='f'),)))")


def test_whitespace_rule():
    # each gap gets the whitespace class training used there most: one space between words and around `|`
    assert LANGUAGE.canonicalize("ls   -l  |wc   -c") == "ls -l | wc -c"
    assert LANGUAGE.canonicalize("find . -name '*.txt' \\\n    -exec rm {} \\;") == "find . -name '*.txt' -exec rm {} \\;"
    assert LANGUAGE.canonicalize("echo `date`   ${HOME}/x") == "echo `date` ${HOME}/x"
    assert LANGUAGE.tokenize('echo "Hello, $USER" > greeting.txt') == [
        "echo", '"', "Hello, ", "$", "USER", '"', ">", "greeting.txt"]
    # newlines and indentation come from training too (here: a script of several lines, with a here-document)
    scripts = ["if [ -f x ]; then\n  echo yes\nelse\n  echo no\nfi", "cat <<EOF\nhello  world\n  $x\nEOF\necho done",
               "for f in *.txt; do\n  mv \"$f\" \"${f%.txt}.md\"\ndone", "f() {\n  ls -l\n}\nf"]
    language = TreeSitterLanguage("bash", scripts + ["x=$((1 + 2)); echo $x # a comment"], name="scripts")
    for code in scripts:
        assert language.canonicalize(code) == code
        assert_replays(language, language.parse(code))
    assert language.canonicalize("x=$((1 + 2));   echo $x") == "x=$((1 + 2)); echo $x"  # comments are dropped


def test_unseen_shapes_are_rejected_by_name():
    with pytest.raises(UnseenShape, match=re.escape(
            "unseen shape: if_statement('if', condition: _, condition: ';', 'then', _, ';', 'fi') in field 'command' "
            "of program(_) (a kind never seen")):
        LANGUAGE.parse("if true; then ls; fi")
    with pytest.raises(UnseenShape, match=re.escape(
            "unseen shape: file_redirect(descriptor: _, '>', destination: _) (a shape never seen in the training")):
        LANGUAGE.parse("grep -r x src 2> err.log")
    with pytest.raises(ConversionError, match="tree-sitter cannot parse the code") as info:
        LANGUAGE.parse("echo 'unterminated")
    assert not isinstance(info.value, UnseenShape)
    report = round_trip(LANGUAGE, BASH + ["ls >| out", "if true; then ls; fi", "echo 'unterminated"])
    assert (report.total, report.errors, report.unseen, report.trees, report.exact, report.spacing) == (
        17, 1, 2, 14, 14, 14)


def test_unparse_checks_trees():
    c = LANGUAGE.grammar.constructor
    with pytest.raises(ConversionError, match="at least one value"):  # a run is never empty
        LANGUAGE.unparse(Node(c("program_1"), (Node(c("command_1"), (Node(c("command_name"), ("ls",)), ())),)))
    with pytest.raises(ConversionError, match="cannot stand where type 'command'"):
        LANGUAGE.unparse(Node(c("program_1"), (Node(c("word"), ("ls",)),)))
    with pytest.raises(ConversionError, match="non-empty WORD token"):
        LANGUAGE.unparse(Node(c("program_1"), (Node(c("command_2"), (Node(c("command_name"), ("",)),)),)))
    # a tree built directly, as the decoder does
    tree = Node(c("program_1"), (Node(c("pipeline"), ((
        Node(c("command_1"), (Node(c("command_name"), ("ls",)), (Node(c("word"), ("-l",)),))),
        Node(c("command_2"), (Node(c("command_name"), ("wc",)),))),)),))
    assert LANGUAGE.unparse(tree) == "ls -l | wc"


def test_token_ok_parses_the_token_in_a_training_context():
    ok = LANGUAGE.token_ok
    assert ok("WORD", "-name") and ok("WORD", "*.py") and ok("NUMBER", "3") and ok("RAW_STRING", "'*.py'")
    assert ok("VARIABLE_NAME", "USER") and ok("STRING_CONTENT", "Hello, ") and ok("FILE_DESCRIPTOR", "2")
    assert not any([ok("WORD", "a b"), ok("WORD", "$x"), ok("WORD", ""), ok("NUMBER", "x3"), ok("RAW_STRING", "*.py"),
                    ok("STRING_CONTENT", 'a"b'), ok("FILE_DESCRIPTOR", "x"), ok("word", "ls"), ok("WS", " ")])
    assert LANGUAGE.encode_literal("WORD", "-l") == LANGUAGE.decode_literal("WORD", "-l") == "-l"
    with pytest.raises(ConversionError, match="not a NUMBER token"):
        LANGUAGE.encode_literal("NUMBER", "x")


def test_substitution_is_textual():
    code, used = LANGUAGE.substitute("find . -name '*.txt' -exec rm {} \\;", {"str_0": "'*.txt'", "str_1": "absent"})
    assert (code, used) == ("find . -name str_0 -exec rm {} \\;", frozenset({"str_0"}))
    assert LANGUAGE.restore(code, {"str_0": "'*.txt'"}) == "find . -name '*.txt' -exec rm {} \\;"
    assert LANGUAGE.check("ls") is None and LANGUAGE.pretty("ls   -l") == "ls -l" and LANGUAGE.pretty("'") == "'"


def test_json_description_rebuilds_the_language():
    description = json.loads(json.dumps(LANGUAGE.to_json()))
    loaded = TreeSitterLanguage.from_json(description)
    assert loaded.to_json() == LANGUAGE.to_json()
    assert loaded.grammar.text == LANGUAGE.grammar.text
    for code in BASH + ["ls   -l  |wc   -c"]:
        assert repr(loaded.parse(code)) == repr(LANGUAGE.parse(code))
        assert loaded.unparse(loaded.parse(code)) == LANGUAGE.canonicalize(code)
    assert all(loaded.token_ok(t, v) == LANGUAGE.token_ok(t, v) for t, v in [("WORD", "-x"), ("WORD", "a b")])
    # a checkpoint's grammar is adopted when it is the induced one: trees hold its constructors
    adopted = TreeSitterLanguage.from_json(description, grammar=LANGUAGE.grammar)
    assert adopted.grammar is LANGUAGE.grammar and adopted.parse(BASH[0]) == LANGUAGE.parse(BASH[0])
    assert TreeSitterLanguage("bash", BASH, name="bash", grammar=LANGUAGE.grammar).grammar is LANGUAGE.grammar
    with pytest.raises(GrammarError, match="no longer induces the checkpoint's action grammar"):
        TreeSitterLanguage("bash", BASH[:3], name="bash", grammar=LANGUAGE.grammar)
    with pytest.raises(GrammarError, match="unknown format"):
        TreeSitterLanguage.from_json({**description, "format": 99})


def _stdlib_sample() -> dict[str, str]:
    folder = Path(sysconfig.get_paths()["stdlib"])
    files = {name: folder / name for name in ("bisect.py", "colorsys.py", "fnmatch.py", "heapq.py", "keyword.py",
                                              "textwrap.py")}
    if not all(path.is_file() for path in files.values()):
        pytest.skip(f"standard library sources not found in {folder}")
    return {name: path.read_text(encoding="utf-8") for name, path in files.items()}


def test_python_standard_library_files_round_trip():
    """Nothing above is Bash-specific: the same converter on tree-sitter-python."""
    pytest.importorskip("tree_sitter_python")
    files = _stdlib_sample()
    language = TreeSitterLanguage("python", list(files.values()), name="python")
    report = language.conversion.report
    assert (report.errors, report.text_dropped, report.failures) == (0, 0, [])
    assert "string_content" in report.atomic  # its escape sequences are children, the text around them is not
    grammar = language.grammar
    assert grammar.root_type == "module_"  # `module` is an ASDL keyword
    assert {"IDENTIFIER", "INTEGER", "STRING_CONTENT"} <= grammar.primitive_types
    parser = language.reader.parser
    for name, code in files.items():
        tree = language.parse(code)
        text = language.unparse(tree)
        assert language.parse(text) == tree, name
        assert _squeeze(text, parser) == _squeeze(code, parser), name  # the same text up to whitespace and extras
        assert_replays(language, tree)
    # blocks are indented from the line of their statement
    assert language.canonicalize("def f(a):\n  if a:\n     return a\n  return None\n") == (
        "def f(a):\n    if a:\n        return a\n    return None")


def _squeeze(code: str, parser) -> str:
    """`code` without whitespace, comments and line continuations."""
    source = code.encode("utf-8")
    extras, stack = [], [parser.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.is_extra:
            extras.append((node.start_byte, node.end_byte))
        else:
            stack.extend(node.children)
    kept, position = [], 0
    for start, end in sorted(extras):
        kept.append(source[position:start])
        position = end
    kept.append(source[position:])
    return "".join(re.sub(r"\\\r?\n", "", b"".join(kept).decode("utf-8")).split())


# --- NL2Bash ------------------------------------------------------------------------------------------------------

def _nl2bash() -> Path:
    from preprocess.datasets import DataRootError, resolve_data_root
    try:
        folder = resolve_data_root() / "nl2bash"
    except (FileNotFoundError, DataRootError) as exc:
        pytest.skip(f"NL2Bash data not found: {exc}")
    if not (folder / "train.cm.filtered").is_file():
        pytest.skip(f"NL2Bash data not found in {folder}")
    return folder


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_nl2bash_commands_round_trip():
    """The grammar induced from the 8,090 training commands (tree-sitter-bash 0.25.1): every command tree-sitter parses
    round-trips as a tree, and most as text; dev and test commands mostly have shapes seen in training."""
    folder = _nl2bash()
    train = _lines(folder / "train.cm.filtered")
    language = TreeSitterLanguage("bash", train, name="nl2bash")
    report = language.conversion.report
    # tree-sitter-bash rejects 17 commands (has_error); 10 lose a stray `\ ` tree-sitter shows no node for
    assert (report.programs, report.errors, report.text_dropped, report.pinned, report.failures) == (8090, 17, 10, 0, [])
    grammar = language.grammar
    assert (len(grammar.types), len(grammar.constructors), len(grammar.primitive_types)) == (5, 55, 9)
    trip = round_trip(language, train)
    assert (trip.total, trip.errors, trip.unseen, trip.trees, trip.failures) == (8090, 17, 0, 8073, [])
    # text: 7,572 identical; 7,831 up to the amount of whitespace; the rest add or drop a space (`a|b` -> `a | b`,
    # `$( cmd )` -> `$(cmd)`) or lose what tree-sitter does not keep (a stray `\ `, a comment)
    assert (trip.exact, trip.spacing) == (7572, 7831)
    system = TransitionSystem(grammar)
    lengths = []
    for code in train:
        try:
            tree = language.parse(code)
        except ConversionError:
            continue
        hypothesis = system.initial()
        for action in system.oracle(tree):
            assert valid_actions(hypothesis).allows(action), (code, action)
            hypothesis = hypothesis.apply(action)
        assert hypothesis.tree() == tree
        lengths.append(hypothesis.length)
    assert len(lengths) == 8073 and round(sum(lengths) / len(lengths), 1) == 20.8 and max(lengths) == 83
    # every training token passes the token check of its type
    tokens = {(field.type, token) for code in train[:2000] for field, token in _tokens(language, code)}
    assert all(language.token_ok(*pair) for pair in tokens)
    # held-out commands: tree-sitter errors, and shapes never seen in training
    for split, counts in (("dev", (609, 2, 4, 603)), ("test", (606, 4, 3, 599))):
        trip = round_trip(language, _lines(folder / f"{split}.cm.filtered"))
        assert (trip.total, trip.errors, trip.unseen, trip.trees) == counts, split
    # the description alone rebuilds it
    loaded = TreeSitterLanguage.from_json(json.loads(json.dumps(language.to_json())), grammar=grammar)
    assert all(loaded.parse(code) == language.parse(code) for code in train[:300] if _parses(language, code))


def _tokens(language, code: str):
    try:
        stack = [language.parse(code)]
    except ConversionError:
        return
    while stack:
        node = stack.pop()
        for field, value in zip(node.constructor.fields, node.values):
            for item in value if isinstance(value, tuple) else (value,):
                if field.is_primitive:
                    yield field, item
                else:
                    stack.append(item)


def _parses(language, code: str) -> bool:
    try:
        language.parse(code)
        return True
    except ConversionError:
        return False


def test_induce_grammar_alone():
    conversion = induce_grammar("bash", ["ls -l", "ls -l | wc", "echo 'x"], name="tiny")
    assert conversion.report.rejected == [2] and conversion.grammar.name == "tiny"
    assert conversion.asdl_text.startswith("program = program(command command)  -- command\n")
    with pytest.raises(GrammarError, match="no tree-sitter grammar module 'tree_sitter_nosuchlanguage'"):
        induce_grammar("nosuchlanguage", [])
    with pytest.raises(GrammarError, match="none of the 1 programs parses"):
        induce_grammar("bash", ["echo 'x"])


def test_a_tree_sitter_task_trains_saves_its_induced_grammar_and_translates(tmp_path):
    """`tree-sitter:bash` as a task's language: induced from the task's training commands, kept in the checkpoint
    (language.json), so a copied checkpoint translates without the data."""
    import json
    import shutil
    from tranx.cli import main
    from tranx.translator import Translator
    pairs = [("list files in {d}", "ls -l {d}"), ("count lines of {d}", "wc -l {d}"),
             ("find text files under {d}", 'find {d} -name "*.txt"'), ("show disk usage of {d}", "du -sh {d}"),
             ("print the first lines of {d}", "head -n 5 {d}"), ("sort {d} and remove duplicates", "sort {d} | uniq")]
    lines = [json.dumps({"intent": intent.format(d=d), "code": code.format(d=d), "split": split})
             for d, split in (("docs", "train"), ("src", "train"), ("tmp", "train"), ("etc", "train"), ("var", "dev"),
                              ("lib", "test")) for intent, code in pairs]
    (tmp_path / "pairs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = tmp_path / "bash.json"
    task.write_text(json.dumps({"data": "pairs.jsonl", "language": "tree-sitter:bash", "metric": "exact_match",
                                "selection_metric": "exact_match", "match": "tokens", "token_cutoff": 1}),
                    encoding="utf-8")
    run = tmp_path / "run"
    config = str(Path(__file__).resolve().parents[1] / "configs" / "tiny.json")
    assert main(["train", config, f"train.dataset={task}", "train.max_epochs=2", "train.eval_beam_size=1",
                 "--threads", "1", "--out", str(run)]) == 0
    moved = tmp_path / "elsewhere"
    shutil.copytree(run / "best", moved)
    (tmp_path / "pairs.jsonl").unlink()  # the checkpoint must not need the training programs
    assert json.loads((moved / "language.json").read_text(encoding="utf-8"))
    translator = Translator.from_pretrained(moved)
    assert translator.language.grammar is translator.model.grammar
    found = translator.translate("list files in src", beam_size=3, n_best=3)
    assert found
    for candidate in found:  # each is a command of the induced grammar, in its canonical form
        assert translator.language.canonicalize(candidate.code) == candidate.code
