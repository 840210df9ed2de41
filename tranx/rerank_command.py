"""`tranx reconstructor` (train p(intent | code) on a data set) and `tranx rerank` (reorder an n-best predictions
file by the model's score plus the reconstructor's, then score it); tranx.cli parses the arguments."""

from __future__ import annotations

import json
from pathlib import Path

from tranx.errors import TranxError


def reconstructor_command(args) -> int:
    from tranx.data.pipeline import DEV_SEED, split_examples
    from tranx.threads import set_threads
    from tranx.training.reconstruct import train_reconstructor
    from preprocess.datasets import data_folder
    from tranx.provenance import file_hashes
    if min(args.epochs, args.batch_size, args.patience) < 1:
        raise TranxError(f"--epochs, --patience and --batch-size must be at least 1, got {args.epochs}, "
                         f"{args.patience} and {args.batch_size}")
    set_threads(args.threads)
    seed = DEV_SEED if args.seed is None else args.seed
    splits = split_examples(args.dataset, args.data_root, seed=seed, splits=["train", "dev"])
    trained = {"dataset": args.dataset, "dev_seed": seed,
               "data": file_hashes(data_folder(args.dataset, args.data_root))}
    summary = train_reconstructor(splits["train"], splits["dev"], args.out, epochs=args.epochs,
                                  patience=args.patience, batch_size=args.batch_size, trained=trained,
                                  resume=args.resume)
    print(json.dumps(summary))
    return 0


def rerank_command(args) -> int:
    from tranx.data.pipeline import DEV_SEED, split_examples
    from tranx.decoding.reconstruction_rerank import reconstruction_scores, reranked_rows
    from tranx.evaluation.reports import score_and_report
    from tranx.io import write_jsonl
    from tranx.nn.reconstructor import Reconstructor
    from tranx.threads import set_threads
    if not args.weight >= 0:
        raise TranxError(f"--weight must be at least 0, got {args.weight}")
    if args.n_best is not None and args.n_best < 1:
        raise TranxError(f"--n-best must be at least 1, got {args.n_best}")
    rows = _read_rows(Path(args.predictions))
    set_threads(args.threads)
    folder = Path(args.reconstructor)
    reconstructor = Reconstructor.from_pretrained(folder)
    reranked = reranked_rows(rows, reconstruction_scores(rows, reconstructor), args.weight, coverage=args.coverage)
    changed = sum(a.get("prediction") != b["prediction"] for a, b in zip(rows, reranked))
    if args.n_best is not None:  # the first is what is scored; a shorter file to keep
        lists = ("predictions", "scores", "model_scores", "reconstruction")
        reranked = [{**r, **{k: r[k][:args.n_best] for k in lists}} for r in reranked]
    write_jsonl(args.out, reranked)
    print(f"{len(rows)} rows reranked into {args.out} (weight {args.weight:g}"
          + (", coverage first" if args.coverage else "") + f"): the first candidate changed for {changed}")
    raw = split_examples(args.dataset, args.data_root, seed=DEV_SEED if args.seed is None else args.seed,
                         splits=[args.split])[args.split]
    ids = {r["id"] for r in rows}
    raw = [e for e in raw if e.id in ids]  # a --limit'ed predictions file is scored on its own examples
    result = None
    if args.result:
        from preprocess.datasets import data_folder
        decoding = (f"the n-best list of {args.predictions} reordered by the model's score + {args.weight:g} x "
                    f"the reconstructor's" + (", coverage first" if args.coverage else ""))
        payload = {"decoding": decoding, "predictions_reranked": args.predictions, "reconstructor": str(folder),
                   "weight": args.weight,
                   "coverage_first": args.coverage, "first_changed": changed,
                   "reconstructor_trained": reconstructor.trained,
                   "reconstructor_summary": Reconstructor.run_summary(folder)}
        result = {"path": args.result, "payload": payload,
                  "how": {"config": {"weight": args.weight, "coverage": args.coverage},
                          "data_folders": {args.dataset: data_folder(args.dataset, args.data_root)}}}
    return score_and_report(args.out, raw, args.dataset, args.split, args.report, result=result,
                            data_root=args.data_root)


def _read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise TranxError(f"predictions file not found: {path}")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TranxError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or "id" not in row:
            raise TranxError(f"{path}:{number}: a row is an object with an id")
        rows.append(row)
    if not rows:
        raise TranxError(f"{path} has no predictions")
    return rows


def add_parsers(commands, data_root_help: str, dataset_type) -> None:
    """The two subcommands' arguments (tranx.cli calls this)."""
    rc = commands.add_parser(
        "reconstructor", help="train p(intent | code) on a data set's training pairs, for tranx rerank")
    rc.add_argument("--dataset", required=True, type=dataset_type)
    rc.add_argument("--out", required=True, help="the run folder to write (best/, metrics.jsonl, curves.png)")
    rc.add_argument("--epochs", type=int, default=30, help="at most (default 30)")
    rc.add_argument("--patience", type=int, default=4, help="epochs without a lower dev NLL before stopping")
    rc.add_argument("--resume", action="store_true", help="continue --out from its last/ state (the same arguments)")
    rc.add_argument("--batch-size", type=int, default=64)
    rc.add_argument("--data-root", default=None, help=data_root_help)
    rc.add_argument("--seed", type=int, default=None, help="seed of the held-out dev split (as in preprocess)")
    rc.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    rc.set_defaults(func=reconstructor_command)

    rr = commands.add_parser(
        "rerank", help="reorder an n-best predictions file (tranx eval --n-best N) by the model's score plus "
                       "WEIGHT x the reconstructor's log p(intent | code) per intent token, and score it")
    rr.add_argument("predictions", metavar="PREDICTIONS.jsonl")
    rr.add_argument("--reconstructor", required=True, help="a tranx reconstructor run (its best/) or checkpoint")
    rr.add_argument("--weight", type=float, required=True, help="of the reconstructor's score (choose it on dev)")
    rr.add_argument("--coverage", action="store_true", help="candidates naming more of the intent's backquoted "
                    "names and quoted values first, as --rerank coverage (the combined score orders each level)")
    rr.add_argument("--dataset", required=True, type=dataset_type)
    rr.add_argument("--split", required=True, choices=("train", "dev", "test"))
    rr.add_argument("--out", required=True, metavar="RERANKED.jsonl", help="the reranked predictions file")
    rr.add_argument("--n-best", type=int, default=None, help="candidates kept per row in --out (default: all)")
    rr.add_argument("--data-root", default=None, help=data_root_help)
    rr.add_argument("--seed", type=int, default=None, help="seed of the held-out dev split (as in preprocess)")
    rr.add_argument("--report", default=None, help="also write the full score report (every id listed) as JSON")
    rr.add_argument("--result", default=None, metavar="RESULT.json",
                    help="also write the scores with their provenance, e.g. under bench/results/ for the README")
    rr.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    rr.set_defaults(func=rerank_command)
