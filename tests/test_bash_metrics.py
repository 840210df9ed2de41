import math
from pathlib import Path

import pytest

from tranx.evaluation.bash_metrics import (
    char_bleu,
    corpus_char_bleu,
    corpus_nlc2cmd,
    nlc2cmd_score,
    nlc2cmd_topk,
    utilities_and_flags,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nl2bash"


# ------------------------------------------------------------------------------------------------ char BLEU
def test_identical_strings():
    assert char_bleu("find . -name '*.c'", "find . -name '*.c'") == pytest.approx(1.0)


def test_brevity_penalty_by_hand():
    # every n-gram of "abcd" is in "abcdef": precisions 4/4, 3/3, 2/2, 1/1; BP = exp(1 - 6/4)
    assert char_bleu("abcd", "abcdef") == pytest.approx(math.exp(-0.5))


def test_clipping_by_hand():
    # hyp "abab" vs ref "abcab": p1 = 4/4, p2 = ab,ba,ab -> ab clipped at 2, ba 0 -> 2/3,
    # p3 = aba, bab -> 0/2 -> nltk method0 float_info.min, so ~0
    assert char_bleu("abab", "abcab") < 1e-70
    # hyp "abcab" vs ref "abcabc": p1 5/5, p2 4/4, p3 3/3, p4 2/2, BP exp(1 - 6/5)
    assert char_bleu("abcab", "abcabc") == pytest.approx(math.exp(1 - 6 / 5))


def test_no_4gram_match_is_zero():
    # shorter than 4 characters: no 4-gram, nltk returns bp * float_info.min ** 0.25 (~1e-77), i.e. 0
    s = char_bleu("abc", "abc")
    assert 0.0 < s < 1e-70
    assert char_bleu("xyz", "abc") == 0.0  # no unigram match: exactly 0
    assert char_bleu("", "abc") == 0.0


def test_multi_reference_uses_closest_length():
    assert char_bleu("abcd", ["abcdef", "abcd"]) == pytest.approx(1.0)


def test_grouping_counts_groups_once():
    preds = [["abcd"], ["abcd"], ["xyz"]]
    refs = ["abcd", "zzzz", "abcd"]
    groups = ["same", "same", "other"]
    # group "same": "abcd" vs refs {abcd, zzzz} -> 1; group "other": 0 -> mean 50 (not 100/3)
    assert corpus_char_bleu(preds, refs, groups) == pytest.approx(50.0)


def test_top_k_is_best_of_first_k():
    preds = [["xyz", "abcd"]]
    assert corpus_char_bleu(preds, ["abcd"], ["g"], k=1) == 0.0
    assert corpus_char_bleu(preds, ["abcd"], ["g"], k=3) == pytest.approx(100.0)


# ------------------------------------------------------------------------------------------------ NLC2CMD
def test_nlc2cmd_identical():
    assert nlc2cmd_score("ls -la /tmp", "ls -la /tmp") == pytest.approx(1.0)


def test_nlc2cmd_different_utility():
    assert nlc2cmd_score("cat -l", "ls -l") == pytest.approx(-1.0)


def test_nlc2cmd_half_flags():
    # F_gt = {-l, -a}, F_pred = {-l}: flag = (2*1 - 2) / 2 = 0 -> (1 + 0) / 2
    assert nlc2cmd_score("ls -l", "ls -l -a") == pytest.approx(0.5)
    # combined short flags are split like bashlint: -la == -l -a
    assert nlc2cmd_score("ls -la", "ls -l -a") == pytest.approx(1.0)
    # {-type, -name} vs {-type, -size}: (2 - 3) / 2 = -0.5 -> (1 - 0.5) / 2 = 0.25; arguments ignored
    assert nlc2cmd_score("find . -type d -size +1", "find / -type f -name x") == pytest.approx(0.25)


def test_nlc2cmd_official_readme_example():
    gt = "find . -type f -ctime -3 | tail -n 5"
    assert nlc2cmd_score("find . -type f | tail -n 5", gt) == pytest.approx(0.75)


def test_nlc2cmd_pipelines_aligned_in_order():
    gt = "cat f | grep x"
    assert nlc2cmd_score("grep x | cat f", gt) == pytest.approx(-1.0)
    assert nlc2cmd_score("cat f", gt) == pytest.approx(0.0)  # (1 + -1) / 2: missing utility padded
    assert nlc2cmd_score("cat f | grep x | wc -l", gt) == pytest.approx(1 / 3)
    assert [u for u, _ in utilities_and_flags("a | b $(c) && d")] == ["a", "b", "c", "d"]


def test_nlc2cmd_topk_rule():
    assert nlc2cmd_topk(["cat", "ls -l"], "ls -l", k=2) == pytest.approx(1.0)
    assert nlc2cmd_topk(["cat", "ls -l"], "ls -l", k=1) == pytest.approx(-1.0)
    assert corpus_nlc2cmd([["ls -l"], ["cat"]], ["ls -l", "ls"]) == pytest.approx(0.0)


# ------------------------------------------------------------------------------------------------ data
@pytest.mark.skipif(not DATA.is_dir(), reason="NL2Bash data absent")
def test_test_set_self_and_constant():
    cms = (DATA / "test.cm.filtered").read_text(encoding="utf-8").splitlines()
    nls = (DATA / "test.nl.filtered").read_text(encoding="utf-8").splitlines()
    assert len(cms) == len(nls) == 606
    assert corpus_char_bleu([[c] for c in cms], cms, nls) == pytest.approx(100.0)
    # one test command is a bare assignment (PROMPT_COMMAND=...) with no utility: the official compute_metric
    # returns 0.0 when there is nothing to align, so self-scoring gives 605/606, every other command scores 1
    assert corpus_nlc2cmd([[c] for c in cms], cms) == pytest.approx(605 / 606)
    assert nlc2cmd_score("x=1", "x=1") == 0.0
    low = corpus_char_bleu([["ls"]] * len(cms), cms, nls)
    assert low < 1.0
    assert corpus_nlc2cmd([["ls"]] * len(cms), cms) < -0.5


@pytest.mark.skipif(not DATA.is_dir(), reason="NL2Bash data absent")
def test_tranx_score_reports_the_nl2bash_metrics(tmp_path, capsys):
    import json
    from preprocess.splits import split_examples
    from tranx.cli import main
    raw = split_examples("nl2bash", splits=["test"])["test"]
    for name, rows in (("gold", [{"id": e.id, "prediction": e.code} for e in raw]),
                       ("ls", [{"id": e.id, "prediction": "ls"} for e in raw])):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        assert main(["score", "--dataset", "nl2bash", "--split", "test", str(path)]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        if name == "gold":  # one test command (an assignment) has no utility: NLC2CMD 0 for it, as the official code
            assert summary["char_bleu_top1"] == 100.0 and summary["nlc2cmd_top1"] == pytest.approx(605 / 606, abs=1e-4)
        else:
            assert summary["char_bleu_top1"] == 0.0 and summary["nlc2cmd_top1"] < -0.99
