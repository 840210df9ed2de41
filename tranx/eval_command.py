"""`tranx eval`: decode a data-set split, write the predictions, score them (and run them, for a task with unit
tests); tranx.cli parses the arguments."""

from __future__ import annotations

import json
from pathlib import Path

from preprocess.tasks import TASKS, get_task
from tranx.errors import TranxError
from tranx.evaluation.reports import check_execution_args, execute_and_report, score_and_report

WITH_TESTS = tuple(name for name, task in TASKS.items() if task.unit_tests)


def eval_command(args, load_translator) -> int:
    """Run `tranx eval` with the parsed `args`; `load_translator(path, threads, precision)` gives the Translator."""
    from tranx.data.pipeline import DEV_SEED, split_examples
    from tranx.evaluation.evaluate import predict, predict_samples
    from tranx.io import write_jsonl
    if args.execute and not get_task(args.dataset).unit_tests:
        raise TranxError(f"--execute needs unit tests: only --dataset {', '.join(WITH_TESTS)} has them, "
                         f"not {args.dataset}")
    if args.samples is not None and args.samples < 1:
        raise TranxError(f"--samples must be at least 1, got {args.samples}")
    if args.runs_first and not get_task(args.dataset).unit_tests:
        raise TranxError(f"--runs-first needs unit tests: only --dataset {', '.join(WITH_TESTS)} has them, "
                         f"not {args.dataset}")
    if args.runs_first and args.samples:
        raise TranxError("--runs-first orders a beam's candidates: it does not go with --samples")
    if getattr(args, "reconstructor", None) and args.samples:
        raise TranxError("--reconstructor orders a beam's candidates: it does not go with --samples")
    if args.execute or args.runs_first:
        check_execution_args(args.workers, args.timeout)
    if args.limit is not None and args.limit < 1:
        raise TranxError(f"--limit must be at least 1, got {args.limit}")
    if args.beam_size is not None and args.beam_size < 1:
        raise TranxError(f"--beam-size must be at least 1, got {args.beam_size}")
    if args.n_best is not None and args.n_best < 1:
        raise TranxError(f"--n-best must be at least 1, got {args.n_best}")
    if args.length_penalty is not None and not args.length_penalty >= 0:
        raise TranxError(f"--length-penalty must be at least 0, got {args.length_penalty}")
    if Path(args.out).is_dir():  # before decoding, not after
        raise TranxError(f"--out {args.out} is a folder; give the predictions file to write")
    translator = load_translator(args.run, args.threads, getattr(args, "precision", "fp32"))
    raw = split_examples(args.dataset, args.data_root, seed=DEV_SEED if args.seed is None else args.seed,
                         splits=[args.split])[args.split]
    if args.limit is not None:
        raw = raw[:args.limit]  # scored against these references only
    # top-3 metrics (of shell tasks) need the 3 best; the top-1 is the same however many are kept
    n_best = args.n_best or (3 if get_task(args.dataset).shell_metrics else 1)
    beam_size = max(args.beam_size or translator.config.train.beam_size, n_best)
    ran = None  # --runs-first's counts
    if args.samples:
        rows = predict_samples(translator, raw, num_samples=args.samples, top_k=args.top_k,
                               temperature=args.temperature, seed=1 if args.seed is None else args.seed)
        how = f"{args.samples} samples each, top-k {args.top_k}, temperature {args.temperature:g}"
    else:
        rerank = args.rerank or translator.config.train.rerank
        penalty = translator.config.train.length_penalty if args.length_penalty is None else args.length_penalty
        rows = predict(translator, raw, beam_size=beam_size, n_best=beam_size if args.runs_first else n_best,
                       rerank=rerank, length_penalty=penalty)
        how = (f"beam size {beam_size}" + (f", {n_best} best kept" if n_best > 1 else "")
               + (f", length penalty {penalty:g}" if penalty != 1 else "")
               + (f", reranked by {rerank}" if rerank != "none" else "")
               + (f", reconstruction weight {translator.reconstruction_weight:g} ({args.reconstructor})"
                  if translator.reconstructor is not None else ""))
        if args.runs_first:
            rows, ran = _runs_first(rows, args)
            rows = [{**r, **{k: r[k][:n_best] for k in ("predictions", "scores", "runs") if k in r}} for r in rows]
            how += ", candidates that run on the tests' inputs first"
            print(f"runs first: {ran['candidates_that_run']} of {ran['candidates']} candidates of {ran['problems']} "
                  f"problems run on their tests' inputs; the first candidate changed for {ran['first_changed']}")
    write_jsonl(args.out, rows)
    result = None
    if args.result:
        from preprocess.datasets import data_folder
        run = Path(args.run)
        payload = {"run": str(run), "dataset": args.dataset, "split": args.split, "decoding": how,
                   "train_summary": train_summary(run, translator)}
        if ran is not None:
            payload["runs_first"] = ran
        result = {"path": args.result, "payload": payload,
                  "how": {"config": translator.config.to_json(),
                          "data_folders": {args.dataset: data_folder(args.dataset, args.data_root)}}}
    failed = sum(1 for r in rows if "error" in r)
    print(f"{len(rows)} predictions written to {args.out} ({how}"
          + (f"; {failed} without a candidate, scored as misses)" if failed else ")"))
    if args.execute:
        score_and_report(args.out, raw, args.dataset, args.split, args.report, quiet=True, data_root=args.data_root)
        return execute_and_report(args.out, args.dataset, args.split, args.data_root, args.workers, args.timeout,
                                   args.details, ids=[e.id for e in raw], result=result, snippets=args.snippets)
    return score_and_report(args.out, raw, args.dataset, args.split, args.report, result=result,
                            data_root=args.data_root)


def train_summary(run: Path, translator) -> dict | None:
    """The run's summary.json; for a run not finished (still training, or killed before resuming), its progress so
    far from last/state.json, marked `"unfinished": true`; None for a checkpoint folder."""
    from tranx.training.checkpoint import read_progress
    summary_file = run / "summary.json"
    if summary_file.is_file():
        return json.loads(summary_file.read_text())
    progress = read_progress(run / "last")
    if progress is None:
        return None
    return {"unfinished": True, f"best_{translator.task.selection_metric}": progress["best"],
            "best_epoch": progress["best_epoch"], "epochs": progress["epoch"],
            "max_epochs": translator.config.train.max_epochs, "train_seconds": round(progress["seconds"], 1)}


def _runs_first(rows: list[dict], args) -> tuple[list[dict], dict]:
    from preprocess.tasks import get_harness
    from tranx.evaluation.runs_first import runs_first
    from tranx.execution.unit_tests import load_problems
    decoded = {r["id"] for r in rows}
    problems = [p for p in load_problems(args.dataset, args.split, args.data_root) if p.id in decoded]
    return runs_first(rows, problems, get_harness(args.dataset), workers=args.workers, timeout=args.timeout,
                      snippets=args.snippets)
