"""The `tranx` command: a thin layer over the library. Errors print one line, never a traceback."""

from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tranx", description=__doc__)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
