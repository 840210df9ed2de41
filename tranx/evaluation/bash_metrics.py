"""NL2Bash metrics: character BLEU (NL2Bash repository) and the NLC2CMD score (NeurIPS 2020).

Research (sources read, not copied; the NL2Bash code is GPL-3.0, so everything here is re-implemented):

Character BLEU (``char_bleu``, ``corpus_char_bleu``)
  * TellinaTool/nl2bash @ 466c5fe8, ``eval/eval_tools.py``, ``get_automatic_evaluation_metrics``:
    ``bleu = nltk.translate.bleu_score.sentence_bleu(command_gts, pred_cmd)`` where ``command_gts`` is the list of
    **all gold command strings of the NL group** and ``pred_cmd`` a raw string. So nltk iterates over characters:
    character n-grams, default weights (0.25,)*4, **no smoothing_function, no auto_reweigh**, and the group's gold
    commands are *multiple references of one BLEU call* (clipping by the max count over references, brevity penalty
    with the closest reference length), not a max over per-reference scores.
    (The smoothed, tokenised ``eval/token_based.py::sentence_bleu_score`` is commented out there; ``corpus_bleu_score``
    with method1 smoothing is only printed as "Corpus BLEU".)
  * Aggregation: ``top_k_bleu[group, i]`` for the i-th prediction of a group; top-1 = mean over groups of column 0,
    top-3 = mean over groups of ``max`` over the first 3 columns (same for 5 and 10). Groups come from
    ``encoder_decoder/data_utils.py::group_parallel_data`` keyed by the *basic-tokenised* NL string (joined tokens of
    ``nlp_tools.tokenizer.basic_tokenizer``); here ``groups`` is taken as given (exact keys), callers may normalise.
    The repository reports the value in [0, 1]; the leaderboard (and this module's corpus function) uses x100.
  * nltk version: ``requirements.txt`` pins ``nltk==3.4.5``. nltk/nltk tag 3.4.5, ``nltk/translate/bleu_score.py``:
    ``corpus_bleu`` returns the int 0 when there is no unigram match; otherwise ``SmoothingFunction.method0`` replaces a
    zero precision by ``sys.float_info.min`` (after a warning) so the score is a tiny positive number
    (about 1e-77 when one order of four is zero), **not exactly 0**. The same code is still in nltk 3.5-3.8.
    ``modified_precision``'s denominator is ``max(1, #hyp n-grams)``; brevity penalty is 0 for an empty hypothesis,
    1 when hyp is longer than the closest reference (ties broken to the shorter one), else exp(1 - r/c).
    We reproduce this bit for bit (float_info.min included), so hypotheses shorter than 4 characters, or without a
    shared 4-gram, score ~1e-77 (0.0 to any printed precision), and an empty hypothesis scores 0.

NLC2CMD (``nlc2cmd_score``, ``corpus_nlc2cmd``)
  * The official ``metric/metric_utils.py`` (IBM box link, not fetchable; identical copies read in
    magnumresearchgroup/Magnum-NLC2CMD ``src/model/utils/metric/metric_utils.py`` @ 224bf3fd). ``compute_metric``:
    parse both commands with bashlint (``data_tools.bash_parser``), take utility nodes in preorder, **pad the shorter
    list with None** (so a missing or extra utility gives U = 0, score -1 for that position), per pair
    ``conf * (U * (1 + flag) / 2 - (1 - U))`` with U = lower-cased names equal, flag =
    ``(2|G & P| - |G | P|) / max(1, |P|, |G|)`` on *sets* of flag names, 1.0 when both are empty; mean over
    positions (0.0 when both commands have no utility). An older copy of the same file (one-sided flag score, no
    padding: only ground-truth utilities counted) also circulates; the padded symmetric one is the final version.
  * Flags in bashlint: the man-page grammar (nl2bash ``bashlint/grammar.py::BashGrammar.push``) **splits combined
    short flags** (``-la`` -> ``-l``, ``-a``), cuts an attached argument (``-n5`` -> ``-n``, ``--color=auto`` ->
    ``--color``) and keeps single-dash long flags of e.g. ``find`` (``-name``) whole. Without the grammar we
    approximate this (``split_flags=True``): ``--x=y`` -> ``--x``; for a utility in ``SINGLE_DASH_LONG_UTILITIES``
    the word is kept; otherwise ``-abc`` (letters) -> ``-a -b -c`` and ``-n5``/``-d:`` -> ``-n``/``-d``; ``-5`` kept,
    except right after another flag, where ``-<digit>...`` is taken as that flag's argument (``-ctime -3``): with it the
    official README example (``find . -type f -ctime -3 | tail -n 5`` vs ``find . -type f | tail -n 5``) gives 0.75.
    Known deviations: bashlint also treats commands nested as arguments (``find -exec rm``, ``xargs ls``, ``sudo cmd``)
    as utilities and counts their flags under the outer utility too; tree-sitter sees them as plain words, so here they
    count as flags/arguments of the outer utility only. Parse errors are tolerated (tree-sitter recovers).
  * Top-k aggregation (competition rules, Agarwal et al. 2021, from the paper text, not verified in code here):
    for the predictions of one example, the max score if any prediction scores > 0, else the mean of the scores.
    Confidence is 1 here.
"""
from __future__ import annotations

import math
import sys
from collections import Counter, defaultdict
from typing import Iterable, Sequence

__all__ = [
    "char_bleu",
    "sentence_bleu",
    "corpus_char_bleu",
    "nlc2cmd_score",
    "nlc2cmd_topk",
    "corpus_nlc2cmd",
    "utilities_and_flags",
    "SINGLE_DASH_LONG_UTILITIES",
]


# --------------------------------------------------------------------------------------------------- BLEU (nltk 3.4.5)
def _ngrams(seq: Sequence, n: int) -> Counter:
    if len(seq) < n:
        return Counter()
    return Counter(tuple(seq[i:i + n]) for i in range(len(seq) - n + 1))


def sentence_bleu(references: Sequence[Sequence], hypothesis: Sequence, max_n: int = 4) -> float:
    """nltk 3.4.5 ``sentence_bleu(references, hypothesis)`` with uniform weights 1/max_n and no smoothing."""
    weights = [1.0 / max_n] * max_n
    if not references:
        raise ValueError("at least one reference is required")
    numerators, denominators = [], []
    for n in range(1, max_n + 1):
        counts = _ngrams(hypothesis, n)
        max_counts: dict = {}
        for ref in references:
            ref_counts = _ngrams(ref, n)
            for g in counts:
                max_counts[g] = max(max_counts.get(g, 0), ref_counts[g])
        numerators.append(sum(min(c, max_counts[g]) for g, c in counts.items()))
        denominators.append(max(1, sum(counts.values())))
    hyp_len = len(hypothesis)
    closest = min((len(r) for r in references), key=lambda rl: (abs(rl - hyp_len), rl))
    if hyp_len > closest:
        bp = 1.0
    elif hyp_len == 0:
        bp = 0.0
    else:
        bp = math.exp(1 - closest / hyp_len)
    if numerators[0] == 0:
        return 0.0
    logs = []
    for w, num, den in zip(weights, numerators, denominators):
        p = num / den if num != 0 else sys.float_info.min  # nltk method0
        logs.append(w * math.log(p))
    return bp * math.exp(math.fsum(logs))


def char_bleu(hypothesis: str, reference: str | Sequence[str]) -> float:
    """Character BLEU in [0, 1] of one prediction: nltk ``sentence_bleu(refs, hyp)`` on raw strings.

    ``reference`` may be one string or a list of strings (the gold commands of an NL group, used as multiple
    references in one BLEU computation, as the NL2Bash repository does).
    """
    refs = [reference] if isinstance(reference, str) else list(reference)
    return sentence_bleu([list(r) for r in refs], list(hypothesis))


def _group(references: Sequence[str], groups: Sequence[str]) -> dict:
    if len(references) != len(groups):
        raise ValueError("references and groups must have the same length")
    by_group: dict = defaultdict(list)
    for i, g in enumerate(groups):
        by_group[g].append(i)
    return by_group


def corpus_char_bleu(predictions: Sequence[Sequence[str]], references: Sequence[str], groups: Sequence[str],
                     k: int = 1) -> float:
    """NL2Bash top-k BLEU x100: mean over NL groups of the max over the first k predictions of the BLEU of the
    prediction against all gold commands of the group (multi-reference).

    ``predictions[i]`` is the n-best list of example i. Examples of one group share the description, so the group's
    predictions are those of its first example (the repository decodes each distinct description once). An empty
    n-best list scores 0.
    """
    if len(predictions) != len(references):
        raise ValueError("predictions and references must have the same length")
    by_group = _group(references, groups)
    if not by_group:
        return 0.0
    total = 0.0
    for idx in by_group.values():
        refs = [references[i] for i in idx]
        preds = list(predictions[idx[0]])[:k]
        total += max((char_bleu(p, refs) for p in preds), default=0.0)
    return 100.0 * total / len(by_group)


# ------------------------------------------------------------------------------------------------------------ NLC2CMD
SINGLE_DASH_LONG_UTILITIES = frozenset({"find", "java", "gcc", "g++", "cc", "clang", "ffmpeg", "convert", "xdotool",
                                        "iptables", "openssl", "dig", "mplayer", "qemu", "tcpdump"})

_PARSER = None


def _parser():
    global _PARSER
    if _PARSER is None:
        import tree_sitter
        import tree_sitter_bash
        _PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))
    return _PARSER


def _normalise_flags(utility: str, word: str, split_flags: bool) -> list[str]:
    if word.startswith("--"):
        return [word.split("=", 1)[0]] if split_flags else [word]
    if not split_flags or len(word) <= 2 or utility in SINGLE_DASH_LONG_UTILITIES or not word[1].isalpha():
        return [word]
    if word[1:].isalpha():
        return ["-" + c for c in word[1:]]
    return [word[:2]]


def utilities_and_flags(command: str, split_flags: bool = True) -> list[tuple[str, frozenset]]:
    """(lower-cased utility, set of flags) for each ``command`` node of the tree-sitter parse, in preorder."""
    tree = _parser().parse(command.encode("utf-8"))
    out: list[tuple[str, frozenset]] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "command":
            name = node.child_by_field_name("name")
            if name is not None:
                util = name.text.decode("utf-8", "replace").lower()
                flags: set = set()
                prev_flag = False
                for arg in node.children_by_field_name("argument"):
                    text = arg.text.decode("utf-8", "replace") if arg.type == "word" else ""
                    is_flag = text.startswith("-") and len(text) > 1
                    if is_flag and prev_flag and text[1].isdigit():
                        is_flag = False  # a flag's numeric argument (find -mtime -3), not a flag
                    if is_flag:
                        flags.update(_normalise_flags(util, text, split_flags))
                    prev_flag = is_flag
                out.append((util, frozenset(flags)))
        stack.extend(reversed(node.children))
    return out


def _flag_score(gt: frozenset, pred: frozenset) -> float:
    if not gt and not pred:
        return 1.0
    return (2 * len(gt & pred) - len(gt | pred)) / max(1, len(gt), len(pred))


def nlc2cmd_score(prediction: str, reference: str, confidence: float = 1.0, split_flags: bool = True) -> float:
    """NLC2CMD score of one prediction in [-1, 1] (official ``compute_metric`` with u1 = u2 = 1)."""
    gt = utilities_and_flags(reference, split_flags)
    pr = utilities_and_flags(prediction, split_flags)
    n = max(len(gt), len(pr))
    if n == 0:
        return 0.0
    scores = []
    for i in range(n):
        g = gt[i] if i < len(gt) else None
        p = pr[i] if i < len(pr) else None
        u = float(g is not None and p is not None and g[0] == p[0])
        f = _flag_score(g[1] if g else frozenset(), p[1] if p else frozenset())
        scores.append(confidence * (u * (1 + f) / 2 - (1 - u)))
    return sum(scores) / n


def nlc2cmd_topk(predictions: Iterable[str], reference: str, k: int = 1, split_flags: bool = True) -> float:
    """Competition rule over the first k predictions: max score if any is > 0, else their mean (-1 if none)."""
    scores = [nlc2cmd_score(p, reference, 1.0, split_flags) for p in list(predictions)[:k]]
    if not scores:
        return -1.0
    best = max(scores)
    return best if best > 0 else sum(scores) / len(scores)


def corpus_nlc2cmd(predictions: Sequence[Sequence[str]], references: Sequence[str], k: int = 1,
                   split_flags: bool = True) -> float:
    """Mean over examples of ``nlc2cmd_topk`` (range -1..1, not scaled)."""
    if len(predictions) != len(references):
        raise ValueError("predictions and references must have the same length")
    if not references:
        return 0.0
    return sum(nlc2cmd_topk(p, r, k, split_flags) for p, r in zip(predictions, references)) / len(references)
