"""The `tranx` command: a thin layer over the library. Errors print one line, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from preprocess.tasks import TASKS

from tranx.config import RERANKERS
from tranx.errors import TranxError
from tranx.eval_command import WITH_TESTS
from tranx.nn.precision import PRECISIONS
from tranx.evaluation.reports import check_execution_args, execute_and_report, require_file, score_and_report


def _cmd_roundtrip(args) -> int:
    from tranx.data.roundtrip import collect_snippets, run_roundtrip, write_failures
    snippets = collect_snippets(args.targets, args.data_root, language=args.language)
    report = run_roundtrip(snippets, language=args.language, workers=args.workers, data_root=args.data_root)
    write_failures(report, Path(args.failures))
    if report.failed:
        print(f"failures written to {args.failures}", file=sys.stderr)
    print(report.summary())
    return 1 if report.failed else 0


_DATASETS = tuple(TASKS)


def _dataset(name: str) -> str:
    """argparse type of --dataset: a shipped data set, or the path of a user's task file."""
    from preprocess.user_tasks import is_task_file
    if name in TASKS or is_task_file(name):
        return name
    raise argparse.ArgumentTypeError(f"{name!r} is neither a data set ({', '.join(_DATASETS)}) nor a task file (.json)")
_DATA_ROOT_HELP = ("folder holding one folder per data set (default: $TRANX_DATA_ROOT, "
                   "else ../shared/data beside the checkout, else data/raw)")


def _cmd_preprocess(args) -> int:
    from tranx.data.pipeline import DEV_SEED, preprocess_dataset, write_preprocessed
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


def _cmd_score(args) -> int:
    from tranx.data.pipeline import DEV_SEED, split_examples
    require_file(args.predictions)  # before loading the references: fail fast, one line
    raw = split_examples(args.dataset, args.data_root, seed=DEV_SEED if args.seed is None else args.seed,
                         splits=[args.split])[args.split]
    return score_and_report(args.predictions, raw, args.dataset, args.split, args.report, data_root=args.data_root,
                            restyle=not args.as_written)


# --- the model: train, eval, translate -------------------------------------------------------------

#: Settings that fix what a run's checkpoint and vocabulary mean: a resumed run keeps them.
_FIXED_ON_RESUME = ("train.dataset", "train.substitution", "train.token_cutoff")


def _cmd_train(args) -> int:
    from tranx.config import load_config
    from tranx.io import write_json
    overrides = list(args.overrides)
    if args.threads is not None and args.threads < 1:
        raise TranxError(f"--threads must be at least 1, got {args.threads}")
    if args.resume is not None:
        if args.out is not None:
            raise TranxError("--resume RUN continues RUN in place: leave out --out")
        run = Path(args.resume)
        if not (run / "config.json").is_file():
            raise TranxError(f"{run} is not a run folder: config.json is missing")
        if not (run / "last").is_dir():
            raise TranxError(f"{run} has no last/ checkpoint to resume from (start it with "
                             f"`tranx train CONFIG --out {run}`)")
        config = load_config(run / "config.json")
        before = config.to_json()
        config.override(overrides)
        after = config.to_json()
        changed = [f"{section}.{key}" for section in ("model", "train") for key in after[section]
                   if after[section][key] != before[section][key]]
        fixed = [k for k in changed if k.startswith("model.") or k in _FIXED_ON_RESUME]
        if fixed:
            raise TranxError(f"cannot change {', '.join(fixed)} when resuming {run} (start a new run instead)")
        if changed:
            write_json(run / "config.json", config.to_json())
        if args.threads is not None:  # this machine's setting: not saved into the resumed run's config
            config.train.threads = args.threads
    else:
        if not args.overrides:
            raise TranxError("give a CONFIG file (or --resume RUN)")
        if args.out is None:
            raise TranxError("--out RUN is required (the run folder to write)")
        config_path, overrides = overrides[0], overrides[1:]
        if "=" in config_path and not Path(config_path).exists():
            raise TranxError(f"the first argument is the CONFIG file, got {config_path!r}")
        config = load_config(config_path, overrides)
        if args.threads is not None:
            config.train.threads = args.threads
        run = Path(args.out)
        if run.exists() and not run.is_dir():
            raise TranxError(f"--out {run} exists and is not a folder")
    from tranx.training.train import Trainer
    trainer = Trainer(config, run, resume=args.resume is not None)
    summary = trainer.train()
    print(json.dumps({"run": str(run), **summary}, ensure_ascii=False))
    return 0


def _cmd_rl(args) -> int:
    from tranx.rl.commands import rl
    return rl(args)


def _cmd_ablate(args) -> int:
    from tranx.ablation.runner import ablate
    return ablate(args)


def _cmd_critical(args) -> int:
    from tranx.rl.commands import critical
    return critical(args)


def _load_translator(path: str, threads: int | None, precision: str = "fp32"):
    from tranx.translator import Translator, set_threads
    if threads is not None and threads < 1:
        raise TranxError(f"--threads must be at least 1, got {threads}")
    set_threads(threads)
    return Translator.from_pretrained(path, precision=precision)


def _precision_arg(parser) -> None:
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 (default; every reported number), bf16 or int8: the BERT encoder and the "
                             "decoder's LSTM cell in bfloat16 (on a CPU with native bfloat16 only) or with int8 weights "
                             "(dynamic quantization) for faster decoding (speed and dev scores: README, Speed and load)")


def _ordering_args(parser) -> None:
    """How the beam's candidates are ordered (eval and translate alike)."""
    parser.add_argument("--rerank", choices=RERANKERS, default=None,
                        help="none (the model's order), coverage (candidates naming more of the intent's backquoted "
                             "names and quoted values first) or equivalence (candidates grouped by meaning, where the "
                             "task can tell it, the most probable meaning first); default: the model config's "
                             "train.rerank")
    parser.add_argument("--length-penalty", type=float, default=None, metavar="ALPHA",
                        help="order by log-probability / actions ** ALPHA (0: the sum, 1: the mean per action; more "
                             "favours longer programs); default: the model config's train.length_penalty")
    parser.add_argument("--reconstructor", default=None, metavar="RUN",
                        help="a tranx reconstructor run: candidates ordered by the model's score plus WEIGHT x its "
                             "log p(intent | code) per intent token (with --rerank coverage: within each coverage "
                             "level)")
    parser.add_argument("--reconstruction-weight", type=float, default=None, metavar="WEIGHT",
                        help="with --reconstructor (choose it on dev: bench/reconstruction_grid.py)")


def _with_reconstructor(translator, args):
    """The translator with the --reconstructor of `args` (if any), checked before any decoding."""
    if (args.reconstructor is None) != (args.reconstruction_weight is None):
        raise TranxError("--reconstructor and --reconstruction-weight go together")
    if args.reconstructor is not None:
        from tranx.nn.reconstructor import Reconstructor
        translator.with_reconstructor(Reconstructor.from_pretrained(args.reconstructor), args.reconstruction_weight)
    return translator


def _cmd_eval(args) -> int:
    from tranx.eval_command import eval_command
    return eval_command(args, lambda *how: _with_reconstructor(_load_translator(*how), args))


def _cmd_execute(args) -> int:
    check_execution_args(args.workers, args.timeout)
    require_file(args.predictions)
    return execute_and_report(args.predictions, args.dataset, args.split, args.data_root, args.workers, args.timeout,
                               args.details, snippets=args.snippets)


def _cmd_translate(args) -> int:
    from tranx.translate_command import check_translate_args, translate_command
    check_translate_args(args)  # before the model loads
    return translate_command(args, _with_reconstructor(_load_translator(args.run, args.threads, args.precision), args))


def _cmd_ensemble(args) -> int:
    from tranx.decoding.ensemble import combine
    from tranx.translator import Translator, resolve_checkpoint
    if len(args.runs) < 2:
        raise TranxError(f"an ensemble needs at least two runs, got {len(args.runs)}")
    folders = [resolve_checkpoint(run) for run in args.runs]
    ensemble = combine([Translator.from_pretrained(folder) for folder in folders])
    ensemble.save_pretrained(args.out)
    print(json.dumps({"ensemble": str(args.out), "members": [str(folder) for folder in folders]}))
    return 0


def _execution_args(parser) -> None:
    parser.add_argument("--workers", type=int, default=None, help="programs run in parallel (default: all cores)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per test file (default: the data "
                        "set's harness, as its authors ran it)")
    parser.add_argument("--details", default=None, metavar="RESULTS.jsonl",
                        help="also write each problem's outcomes, verdicts and errors here")
    parser.add_argument("--snippets", action="store_true",
                        help="a candidate that defines no function (what a snippet model writes) runs as the "
                             "body of the function the problem's tests call, with the signature the problem gives")


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
                           help=f"a file, a directory (its files of the language), or DATASET:SPLIT (data sets: "
                                f"{', '.join(_DATASETS)})")
    roundtrip.add_argument("--language", default=None,
                           help="python, lark:NAME, lark:PATH.lark or tree-sitter:NAME (induced from the data set's "
                                "training programs, or from the files checked); default: each data set's own, else "
                                "python")
    roundtrip.add_argument("--data-root", default=None,
                           help=_DATA_ROOT_HELP)
    roundtrip.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    roundtrip.add_argument("--failures", default="roundtrip-failures.txt",
                           help="file listing failed and unparseable snippets")
    roundtrip.set_defaults(func=_cmd_roundtrip)

    pre = commands.add_parser(
        "preprocess", help="write a data set's splits as JSON Lines, its vocabularies and stats.json")
    pre.add_argument("--dataset", required=True, type=_dataset)
    pre.add_argument("--out", required=True, type=Path, help="output folder (<split>.jsonl, stats.json, vocab/)")
    pre.add_argument("--data-root", default=None, help=_DATA_ROOT_HELP)
    pre.add_argument("--no-substitution", action="store_true", help="keep quoted values (ablation)")
    pre.add_argument("--token-cutoff", type=int, default=None,
                     help="minimum training frequency of a primitive token (default: the task's token_cutoff)")
    pre.add_argument("--intent-vocab-size", type=int, default=None,
                     help="upper bound of the intent sentencepiece vocabulary (default: the task's intent_vocab_size)")
    pre.add_argument("--seed", type=int, default=None,
                     help="seed of a dev split held out of train (default: 1234)")
    pre.add_argument("--workers", type=int, default=None, help="processes (default: up to 8)")
    pre.set_defaults(func=_cmd_preprocess)

    score = commands.add_parser(
        "score", help="score a JSON Lines predictions file ({\"id\": ..., \"prediction\": ...} per line)")
    score.add_argument("predictions", metavar="PREDICTIONS.jsonl")
    score.add_argument("--dataset", required=True, type=_dataset)
    score.add_argument("--split", required=True, choices=("train", "dev", "test"))
    score.add_argument("--data-root", default=None, help=_DATA_ROOT_HELP)
    score.add_argument("--seed", type=int, default=None, help="seed of the held-out dev split (as in preprocess)")
    score.add_argument("--report", default=None, help="also write the full report (every id listed) as JSON here")
    score.add_argument("--as-written", action="store_true",
                       help="score predictions as written, not rewritten in the task's reference_style "
                            "(e.g. references whose strings were quoted by the astor code generator)")
    score.set_defaults(func=_cmd_score)

    train = commands.add_parser(
        "train", help="train a model: CONFIG [KEY=VALUE ...] --out RUN, or --resume RUN [KEY=VALUE ...]",
        usage="tranx train CONFIG [KEY=VALUE ...] --out RUN [--threads N]\n"
              "       tranx train --resume RUN [KEY=VALUE ...] [--threads N]")
    train.add_argument("overrides", nargs="*", metavar="ARG",
                       help="the config file, then overrides such as train.max_epochs=5 (with --resume: only "
                            "overrides, applied to RUN/config.json and saved back)")
    train.add_argument("--out", default=None, help="the run folder to write (config.json, best/, last/, ...)")
    train.add_argument("--resume", default=None, metavar="RUN", help="continue RUN from its last/ checkpoint")
    train.add_argument("--threads", type=int, default=None,
                       help="torch threads (default: the config's train.threads, else all cores); not saved on --resume")
    train.set_defaults(func=_cmd_train)

    ev = commands.add_parser(
        "eval", help="decode a data-set split with a trained model, write the predictions and score them")
    ev.add_argument("run", metavar="RUN", help="a run folder (its best/ is used) or a checkpoint folder")
    ev.add_argument("--dataset", required=True, type=_dataset)
    ev.add_argument("--split", required=True, choices=("train", "dev", "test"))
    ev.add_argument("--out", required=True, metavar="PREDICTIONS.jsonl", help="the predictions file to write")
    ev.add_argument("--beam-size", type=int, default=None, help="default: the model config's train.beam_size")
    _ordering_args(ev)
    ev.add_argument("--n-best", type=int, default=None,
                    help="candidates kept per intent (the first is scored by BLEU and exact match; top-k metrics "
                         "use the rest); default 3 for tasks scored top-3 (shell commands), else 1")
    ev.add_argument("--limit", type=int, default=None, help="only the first N examples of the split")
    ev.add_argument("--data-root", default=None, help=_DATA_ROOT_HELP)
    ev.add_argument("--seed", type=int, default=None, help="seed of the held-out dev split (as in preprocess)")
    ev.add_argument("--report", default=None, help="also write the full score report (every id listed) as JSON")
    ev.add_argument("--result", default=None, metavar="RESULT.json",
                    help="also write the scores with their provenance (command, commit, config, data hashes, "
                         "machine), e.g. under bench/results/ for the README")
    ev.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    _precision_arg(ev)
    ev.add_argument("--samples", type=int, default=None, metavar="N",
                    help="draw N ancestral samples per intent instead of beam search (for pass@k)")
    ev.add_argument("--top-k", type=int, default=50, help="with --samples: sample among the k best actions "
                    "per step (default 50)")
    ev.add_argument("--temperature", type=float, default=1.0, help="with --samples (default 1.0)")
    ev.add_argument("--execute", action="store_true",
                    help=f"run the predictions against the unit tests (see tranx execute; tasks: {', '.join(WITH_TESTS)})")
    ev.add_argument("--runs-first", action="store_true",
                    help="tasks with unit tests: the beam's candidates that run on the tests' inputs (the tests' "
                         "calls of the solution, their expected values never read) without an error go first "
                         "(tranx/evaluation/runs_first.py)")
    _execution_args(ev)
    ev.set_defaults(func=_cmd_eval)

    ex = commands.add_parser(
        "execute", help="run a predictions file against a data set's unit tests in the sandbox; pass@k")
    ex.add_argument("predictions", metavar="PREDICTIONS.jsonl",
                    help='{"id": "test/17", "prediction": ...} or {"id": ..., "predictions": [n samples]} per line')
    ex.add_argument("--dataset", required=True, choices=WITH_TESTS)
    ex.add_argument("--split", required=True, choices=("train", "dev", "test"),
                    help="dev: the training problems held out for model selection (ids train/N)")
    ex.add_argument("--data-root", default=None, help=_DATA_ROOT_HELP)
    _execution_args(ex)
    ex.set_defaults(func=_cmd_execute)

    en = commands.add_parser(
        "ensemble", help="combine trained runs into one checkpoint that decodes with their averaged distributions")
    en.add_argument("runs", nargs="+", metavar="RUN", help="run folders (their best/) or checkpoint folders")
    en.add_argument("--out", required=True, help="the ensemble checkpoint folder to write")
    en.set_defaults(func=_cmd_ensemble)

    rl = commands.add_parser(
        "rl", help="fine-tune a trained run by RL on a checkable reward, with a (prioritized) KL to it",
        usage="tranx rl RUN CONFIG [KEY=VALUE ...] --out RUN2 [--threads N]\n"
              "       tranx rl --resume RUN2 [KEY=VALUE ...] [--threads N]")
    rl.add_argument("args", nargs="*", metavar="ARG", help="the supervised run, the RL config file (configs/rl-*.json), "
                    "then overrides such as rl.kl=standard rl.alpha=1 (with --resume: rl.steps, rl.eval_every, ...)")
    rl.add_argument("--out", default=None, help="the RL run folder to write")
    rl.add_argument("--resume", default=None, metavar="RUN2", help="continue RUN2 from its last/ checkpoint")
    rl.add_argument("--threads", type=int, default=None, help="torch threads (default: the config's rl.threads)")
    rl.set_defaults(func=_cmd_rl)

    cr = commands.add_parser(
        "critical", help="find the critical actions of a model: where changing the greedy action flips the outcome")
    cr.add_argument("run", metavar="RUN", help="a run folder (its best/ is used) or a checkpoint folder")
    cr.add_argument("--dataset", default=None, help="the task whose problems and reward are used "
                    "(default: the run's own)")
    cr.add_argument("--split", default="dev", choices=("train", "dev", "test"))
    cr.add_argument("--data-root", default=None, help=_DATA_ROOT_HELP)
    cr.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N problems")
    cr.add_argument("--max-branches", type=int, default=4, help="least certain steps branched per program")
    cr.add_argument("--alternatives", type=int, default=2, help="next-best actions tried at each branch point")
    cr.add_argument("--certainty", default="entropy", choices=("entropy", "max_prob"))
    cr.add_argument("--threshold", type=float, default=None,
                    help="branch only at steps with certainty J below this (default: no bound)")
    cr.add_argument("--out", default=None, metavar="REPORT.json", help="write the full report (every problem)")
    cr.add_argument("--threads", type=int, default=None, help="torch threads (default: the free cores)")
    cr.add_argument("--workers", type=int, default=1, help="sandbox workers for unit tests (default 1)")
    cr.add_argument("--snippets", action="store_true", help="a program that defines no function runs as the body "
                    "of the function the problem's tests call (as tranx execute --snippets)")
    cr.set_defaults(func=_cmd_critical)

    from tranx.ablation.runner import USAGE as ABLATE_USAGE, add_arguments as add_ablate_arguments
    ab = commands.add_parser(
        "ablate", help="the ablation study: the full model and one variant per removed component over seeds, "
                       "test decoded once per run, paired bootstrap against the full model",
        usage=ABLATE_USAGE)
    add_ablate_arguments(ab)
    ab.set_defaults(func=_cmd_ablate)
    from tranx.rerank_command import add_parsers as add_rerank_parsers
    add_rerank_parsers(commands, _DATA_ROOT_HELP, _dataset)
    tr = commands.add_parser("translate", help="translate intents into code with a trained model")
    tr.add_argument("run", metavar="RUN", help="a run folder (its best/ is used) or a checkpoint folder")
    tr.add_argument("intents", nargs="+", metavar="INTENT", help="an intent; - reads one intent per line of stdin")
    tr.add_argument("--n-best", type=int, default=1, help="candidates to print per intent (default 1)")
    tr.add_argument("--beam-size", type=int, default=None, help="default: the model config's train.beam_size")
    _ordering_args(tr)
    tr.add_argument("--sample", default=None, metavar="CODE",
                    help="Python statements giving the intent's variables sample values (\"s = 'a,b'\"): the beam's "
                         "candidates run on them in the sandbox and those that run go first (each printed with "
                         "whether it ran)")
    tr.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    _precision_arg(tr)
    tr.set_defaults(func=_cmd_translate)
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
