"""A user's own grammar and pairs (preprocess.user_tasks): the README tutorial's three commands on the tutorial's
arithmetic grammar, and the errors a malformed task or data file gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preprocess.datasets import load_examples
from preprocess.splits import split_examples
from preprocess.tasks import TaskError, get_task
from preprocess.user_tasks import UserTaskError

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "data" / "tutorial" / "arith.task.json"


def _task(tmp_path: Path, lines: list, **fields) -> str:
    (tmp_path / "pairs.jsonl").write_text("\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n",
                                          encoding="utf-8")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"data": "pairs.jsonl", **fields}), encoding="utf-8")
    return str(path)


def test_a_task_file_is_a_task_with_paths_relative_to_it():
    task = get_task(str(TUTORIAL))
    assert task.name == str(TUTORIAL) and task.metric == "exact_match" and task.match == "canonical"
    assert task.language == "lark:" + str(ROOT / "data" / "tutorial" / "arith.lark")
    assert task.data == str(ROOT / "data" / "tutorial" / "arith.jsonl")
    splits = split_examples(str(TUTORIAL))
    assert {s: len(rows) for s, rows in splits.items()} == {"train": 180, "dev": 30, "test": 30}
    first = splits["train"][1]
    assert (first.id, first.intent, first.code) == ("train/1", "the sum of 68 and 74", "68 + 74")


def test_without_dev_lines_dev_is_a_tenth_of_train_drawn_with_the_shared_seed(tmp_path):
    name = _task(tmp_path, [{"intent": f"number {i}", "code": str(i)} for i in range(20)] +
                 [{"intent": "last", "code": "1", "split": "test"}], language="python")
    assert load_examples(name, "dev") == []  # the file has no dev lines...
    splits = split_examples(name)  # ...so a tenth of train is held out
    train, dev, test = splits["train"], splits["dev"], splits["test"]
    assert (len(train), len(dev), len(test)) == (18, 2, 1)
    assert {e.code for e in train} | {e.code for e in dev} == {str(i) for i in range(20)}
    assert all(e.id.startswith("train/") for e in dev) and get_task(name).language == "python"


@pytest.mark.parametrize("lines, message", [
    (['{"intent": "a", "code": "1"}', "not json"], r"pairs.jsonl:2: not JSON"),
    ([{"intent": "a"}], r"pairs.jsonl:1: expected an object with string \"intent\" and \"code\""),
    ([{"intent": "a", "code": "1", "split": "valid"}], r"pairs.jsonl:1: split 'valid' is not one of train, dev, test"),
])
def test_bad_data_lines_are_named_with_their_line(tmp_path, lines, message):
    with pytest.raises(UserTaskError, match=message):
        load_examples(_task(tmp_path, lines), "train")
    with pytest.raises(UserTaskError, match=message):
        split_examples(_task(tmp_path, lines))


def test_a_task_file_without_data_is_refused(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text('{"language": "python"}', encoding="utf-8")
    with pytest.raises(TaskError, match=r"empty.json: \"data\" \(the JSON Lines file of pairs\) is missing"):
        get_task(str(path))


def test_the_tutorial_in_three_commands(tmp_path, capsys):
    from tranx.cli import main
    run = tmp_path / "arith"
    assert main(["train", str(ROOT / "configs" / "tiny.json"), f"train.dataset={TUTORIAL}", "train.max_epochs=2",
                 "train.eval_beam_size=1", "--threads", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--dataset", str(TUTORIAL), "--split", "test", "--beam-size", "2",
                 "--out", str(tmp_path / "test.jsonl"), "--threads", "1"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scores["n"] == 30 and scores["scored"] == 30 and 0.0 <= scores["exact_match"] <= 100.0
    assert main(["translate", str(run), "the sum of 3 and 4", "--threads", "1"]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith("#")]
    from tranx.languages import get_language
    arith = get_language(get_task(str(TUTORIAL)).language)
    assert printed and arith.canonicalize(printed[0]) == printed[0]  # a program of the tutorial's grammar


def test_rl_runs_on_a_users_lark_grammar(tmp_path, capsys):
    """The RL stage on the tutorial's grammar: samples of its language, the exact-match reward, the same grammar
    tables for policy and reference (the KL of an unchanged policy is zero at the first step)."""
    from tranx.cli import main
    run, rl = tmp_path / "arith", tmp_path / "arith-rl"
    assert main(["train", str(ROOT / "configs" / "tiny.json"), f"train.dataset={TUTORIAL}", "train.max_epochs=1",
                 "train.eval_beam_size=1", "--threads", "1", "--out", str(run)]) == 0
    config = tmp_path / "rl.json"
    config.write_text('{"rl": {"reward": "exact_match", "steps": 2, "eval_every": 2, "problems_per_step": 4, '
                      '"dev_limit": 6}}', encoding="utf-8")
    assert main(["rl", str(run), str(config), "--out", str(rl)]) == 0
    rows = [json.loads(line) for line in (rl / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["type"] == "train"]
    assert len(train) == 2 and train[0]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert sum(train[0]["outcomes"].values()) == 16  # 4 problems x 4 samples, each scored by exact match
    assert [r["step"] for r in rows if r["type"] == "dev"] == [0, 2]
