"""`tranx translate`: intents from the command line or stdin in, candidates printed (tranx.cli parses the arguments)."""

from __future__ import annotations

import os
import sys

from tranx.errors import TranxError
from tranx.translator import MAX_INTENT_CHARS


def _read_stdin_intents() -> list[tuple[str, object]]:
    """(label, intent or error message) for each non-blank line of stdin, decoded as UTF-8."""
    out = []
    for number, line in enumerate(sys.stdin.buffer.read().split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            out.append((f"line {number}", line.decode("utf-8")))
        except UnicodeDecodeError as exc:
            out.append((f"line {number}", TranxError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})")))
    return out


def _argv_intent(intent: str):
    """A command-line intent; bytes that are not UTF-8 arrive as lone surrogates (surrogateescape)."""
    try:
        intent.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(intent)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return TranxError(f"intent is not valid UTF-8 ({exc.reason} at byte {exc.start})")
        return TranxError("intent is not valid UTF-8")
    return intent


def check_translate_args(args) -> None:
    if args.n_best < 1:
        raise TranxError(f"--n-best must be at least 1, got {args.n_best}")
    if args.beam_size is not None and args.beam_size < 1:
        raise TranxError(f"--beam-size must be at least 1, got {args.beam_size}")
    if args.length_penalty is not None and not args.length_penalty >= 0:
        raise TranxError(f"--length-penalty must be at least 0, got {args.length_penalty}")
    if args.sample is not None:
        from tranx.execution.sample_inputs import check_sample
        check_sample(args.sample)


def translate_command(args, translator) -> int:
    """Print the candidates of each intent (arguments, or lines of stdin for `-`); bad intents are errors on stderr
    naming the intent, and the exit status is 2 when there was one."""
    items: list[tuple[str | None, object]] = []
    for intent in args.intents:
        if intent == "-":
            items += _read_stdin_intents()
        else:
            items.append((None, _argv_intent(intent)))
    labelled = len(items) > 1 or any(label for label, _ in items)
    beam_size = max(args.beam_size or translator.config.train.beam_size, args.n_best)
    from tranx.evaluation.meaning import same_for
    same = same_for(translator.task, args.rerank or translator.config.train.rerank)
    status, shown_any = 0, False
    for index, (label, intent) in enumerate(items):
        where = f"{label}: " if label else ""
        if not isinstance(intent, TranxError):
            try:
                candidates = translator.translate(intent, beam_size=beam_size, n_best=args.n_best,
                                                  rerank=args.rerank, length_penalty=args.length_penalty,
                                                  same=same, sample=args.sample)
            except TranxError as exc:
                intent = exc
        if isinstance(intent, TranxError):
            print(f"tranx translate: error: {where}{intent}", file=sys.stderr)
            status = 2
            continue
        if len(intent) > MAX_INTENT_CHARS:
            print(f"tranx translate: note: {where}intent of {len(intent)} characters cut to its first "
                  f"{MAX_INTENT_CHARS}", file=sys.stderr)
        if shown_any:
            print()
        shown_any = True
        if labelled:
            shown = intent if len(intent) <= 80 else intent[:77] + "..."
            print(f"## {label or f'intent {index + 1}'}: {shown}")
        if not candidates:
            print("# no complete, parseable candidate found")
        for rank, candidate in enumerate(candidates, start=1):
            ran = "" if candidate.ran is None else f", on the sample: {candidate.ran.replace('_', ' ')}"
            print(f"# {rank} (score {candidate.score:.4f}{ran})")
            print(candidate.code or "# (the empty program)")
    return status
