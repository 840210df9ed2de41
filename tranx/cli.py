"""The `tranx` command: a thin layer over the library. Errors print one line, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import TranxError


def _cmd_roundtrip(args) -> int:
    from .roundtrip import collect_snippets, run_roundtrip, write_failures
    snippets = collect_snippets(args.targets, args.data_root)
    report = run_roundtrip(snippets, language=args.language, workers=args.workers)
    write_failures(report, Path(args.failures))
    if report.failed:
        print(f"failures written to {args.failures}", file=sys.stderr)
    print(report.summary())
    return 1 if report.failed else 0


_DATASETS = ("conala", "django", "codeinsight")
_DATA_ROOT_HELP = ("folder holding conala/, django/, codeinsight/ (default: $TRANX_DATA_ROOT, "
                   "else ../shared/data beside the checkout, else data/raw)")
_LIST_LIMIT = 10


def _cmd_preprocess(args) -> int:
    from preprocess.pipeline import DEV_SEED, preprocess_dataset, write_preprocessed
    if args.token_cutoff is not None and args.token_cutoff < 1:
        raise ValueError(f"--token-cutoff must be >= 1, got {args.token_cutoff}")
    result = preprocess_dataset(args.dataset, args.data_root, substitution=not args.no_substitution,
                                seed=DEV_SEED if args.seed is None else args.seed, workers=args.workers)
    stats = write_preprocessed(result, args.out, token_cutoff=args.token_cutoff,
                               intent_vocab_size=args.intent_vocab_size)
    for reason, ids in stats["dropped_before_split"].items():
        print(f"dropped before splitting ({reason}): {len(ids)}: {', '.join(ids)}")
    for split, s in stats["splits"].items():
        reasons = ", ".join(f"{r}: {n}" for r, n in s["skipped_by_reason"].items()) or "none"
        kept = " (kept, they score as misses)" if split == "test" and s["skipped"] else ""
        print(f"{split}: {s['written']} examples written of {s['raw']}; skipped {s['skipped']} ({reasons}){kept}; "
              f"actions avg {s['avg_actions']} max {s['max_actions']}; slots/example {s['slots']['slots_per_example']},"
              f" with a slot used in the code {100 * s['slots']['frac_with_slot_used']:.1f}%")
    print("vocab: " + ", ".join(f"{k} {v}" for k, v in stats["vocab"].items())
          + f" (token cutoff {stats['token_cutoff']}); written to {args.out}")
    summary = {"dataset": args.dataset, "out": str(args.out), "substitution": stats["substitution"],
               "examples": {k: v["written"] for k, v in stats["splits"].items()},
               "skipped": {k: v["skipped_by_reason"] for k, v in stats["splits"].items()},
               "avg_actions": {k: v["avg_actions"] for k, v in stats["splits"].items()},
               "vocab": stats["vocab"]}
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def _some(items: list, show) -> str:
    shown = ", ".join(show(i) for i in items[:_LIST_LIMIT])
    return shown + (f", ... (+{len(items) - _LIST_LIMIT} more)" if len(items) > _LIST_LIMIT else "")


def _cmd_score(args) -> int:
    from preprocess.pipeline import DEV_SEED, comparison_key, split_examples
    from .io import write_json
    from .scoring import score_predictions
    if not Path(args.predictions).is_file():  # before loading the references: fail fast, one line
        what = "not a file" if Path(args.predictions).exists() else "not found"
        raise FileNotFoundError(f"predictions file {what}: {args.predictions}")
    raw = split_examples(args.dataset, args.data_root, seed=DEV_SEED if args.seed is None else args.seed,
                         splits=[args.split])[args.split]
    references = {e.id: e.code for e in raw}
    report = score_predictions(args.predictions, references, args.dataset, canonicalize=comparison_key(args.dataset))
    if report.missing_ids:
        print(f"missing: {report.missing} of {report.n} ids have no prediction (scored as misses): "
              f"{_some(report.missing_ids, str)}")
    if report.unknown_ids:
        print(f"unknown ids (not in {args.dataset} {args.split}), ignored: "
              f"{_some(report.unknown_ids, _unknown)}")
    if report.duplicate_ids:
        print(f"duplicate ids, first kept: {_some(report.duplicate_ids, _dup)}")
    if report.malformed_lines:
        print(f"malformed lines, ignored: {_some(report.malformed_lines, _bad)}")
    out = report.to_json()
    if args.report:
        write_json(args.report, {**out, "split": args.split})
    summary = {"dataset": args.dataset, "split": args.split, "bleu": round(out["bleu"], 4),
               "exact_match": round(out["exact_match"], 4), "n": out["n"], "scored": out["scored"],
               "missing": out["missing"], "unknown": out["unknown"], "duplicates": out["duplicates"],
               "malformed": out["malformed"], "predictions": out["path"]}
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def _unknown(u: dict) -> str:
    return f"line {u['line']}: {u['id']}"


def _dup(d: dict) -> str:
    return f"line {d['line']}: {d['id']} (first on line {d['first_line']})"


def _bad(m: dict) -> str:
    return f"line {m['line']}: {m['reason']}"


class _Parser(argparse.ArgumentParser):
    """Usage mistakes give one line on stderr (and exit status 2), not the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tranx", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    roundtrip = commands.add_parser(
        "roundtrip", help="check code -> tree -> actions -> code on files, folders or data sets")
    roundtrip.add_argument("targets", nargs="+", metavar="TARGET",
                           help="a .py file, a directory, or DATASET:SPLIT (e.g. conala:train, django:test)")
    roundtrip.add_argument("--language", default="python")
    roundtrip.add_argument("--data-root", default=None,
                           help="folder holding conala/, django/, codeinsight/ (default: $TRANX_DATA_ROOT, "
                                "else ../shared/data beside the checkout, else data/raw)")
    roundtrip.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    roundtrip.add_argument("--failures", default="roundtrip-failures.txt",
                           help="file listing failed and unparseable snippets")
    roundtrip.set_defaults(func=_cmd_roundtrip)

    pre = commands.add_parser(
        "preprocess", help="write a data set's splits as JSON Lines, its vocabularies and stats.json")
    pre.add_argument("--dataset", required=True, choices=_DATASETS)
    pre.add_argument("--out", required=True, type=Path, help="output folder (<split>.jsonl, stats.json, vocab/)")
    pre.add_argument("--data-root", default=None, help=_DATA_ROOT_HELP)
    pre.add_argument("--no-substitution", action="store_true", help="keep quoted values (ablation)")
    pre.add_argument("--token-cutoff", type=int, default=None,
                     help="minimum training frequency of a primitive token (default: 3, Django 15)")
    pre.add_argument("--intent-vocab-size", type=int, default=None,
                     help="upper bound of the intent sentencepiece vocabulary (default: 2000, Django 4000)")
    pre.add_argument("--seed", type=int, default=None,
                     help="seed of the held-out dev split of CoNaLa and CodeInsight (default: 1234)")
    pre.add_argument("--workers", type=int, default=None, help="processes (default: up to 8)")
    pre.set_defaults(func=_cmd_preprocess)

    score = commands.add_parser(
        "score", help="score a JSON Lines predictions file ({\"id\": ..., \"prediction\": ...} per line)")
    score.add_argument("predictions", metavar="PREDICTIONS.jsonl")
    score.add_argument("--dataset", required=True, choices=_DATASETS)
    score.add_argument("--split", required=True, choices=("train", "dev", "test"))
    score.add_argument("--data-root", default=None, help=_DATA_ROOT_HELP)
    score.add_argument("--seed", type=int, default=None, help="seed of the held-out dev split (as in preprocess)")
    score.add_argument("--report", default=None, help="also write the full report (every id listed) as JSON here")
    score.set_defaults(func=_cmd_score)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): a status to return, as for the other errors
        return exc.code if isinstance(exc.code, int) else 0
    try:
        return args.func(args)
    except (TranxError, ValueError, OSError) as exc:  # DataRootError is a ValueError
        print(f"tranx {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tranx {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
