"""``knas text-data``, ``knas text-score``, ``knas text-finetune``, ``knas text-summary``,
``knas text-report``: the text study (:mod:`knas.text`)."""
from __future__ import annotations

import argparse
import json
import sys


def _n_arg(value: str) -> int | None:
    if value == "all":
        return None
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {value!r}")
    return n


def _emit(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_data(args: argparse.Namespace) -> int:
    """Write ``train.tsv``/``dev.tsv`` of a task in its GLUE layout (download, or generate the smoke task)."""
    from knas.text.data import fetch_glue, load_task, make_smoke_task, write_task

    if args.from_dir:
        splits = load_task(args.task, args.from_dir)
    elif args.task == "smoke":
        splits = make_smoke_task(args.n_train, args.n_dev, args.seed)
    else:
        splits = fetch_glue(args.task)
    for p in write_task(args.task, splits, args.out):
        print(p)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score the baseline and the 30 candidates with MGM -> table (.csv or .parquet)."""
    from knas.utils import get_device, write_table

    from knas.text.data import NUM_LABELS, load_task
    from knas.text.model import load_model_and_tokenizer
    from knas.text.score import score_candidates

    splits = load_task(args.task, args.data_dir)
    model, tok = load_model_and_tokenizer(args.model, train_rows=splits["train"], num_labels=NUM_LABELS,
                                          seed=args.seed, max_length=args.max_length,
                                          device=get_device(args.device))
    table = score_candidates(model, tok, splits["train"], n=args.n, max_length=args.max_length,
                             seed=args.seed, chunk=args.chunk, log=_emit)
    table.insert(0, "task", args.task)
    table.insert(1, "model", args.model)
    write_table(args.out, table)
    best = table.dropna(subset=["rank"]).sort_values("rank").head(5)
    print(json.dumps({"out": args.out, "top": list(best["candidate"])}))
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    """Fine-tune one candidate (by name, or by MGM rank in a score table) with one seed -> JSON."""
    from knas.utils import read_table, write_json

    from knas.text.finetune import FinetuneConfig, run_finetune
    from knas.text.score import candidate_at_rank

    if (args.candidate is None) == (args.rank is None):
        raise ValueError("give exactly one of --candidate NAME and --rank R (with --scores)")
    rank = None
    if args.rank is not None:
        if not args.scores:
            raise ValueError("--rank needs --scores (the table written by `knas text-score`)")
        scores = read_table(args.scores)
        name = candidate_at_rank(scores, args.rank)
        rank = args.rank
    else:
        name = args.candidate
    cfg = FinetuneConfig(lr=args.lr, batch_size=args.batch_size, epochs=args.epochs, max_length=args.max_length,
                         seed=args.seed, device=args.device)
    res = run_finetune(args.task, args.model, name, cfg, None, data_dir=args.data_dir, log=_emit)
    res["mgm_rank"] = rank
    write_json(args.out, res)
    print(json.dumps({"candidate": res["candidate"], "seed": res["seed"], "dev_accuracy": res["dev_accuracy"]}))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """Mean/std dev accuracy per candidate -> table; prints it."""
    from knas.utils import read_table, write_table

    from knas.text.summary import read_runs, summarize

    scores = read_table(args.scores) if args.scores else None
    table = summarize(read_runs(args.runs), scores)
    write_table(args.out, table)
    if bool(table["smoke"].any()):
        _emit("NOTE: smoke configuration (tiny random RoBERTa and/or generated task); not a benchmark result")
    print(table.to_string(index=False))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """KNAS Table 2 of the text study as a Markdown section."""
    from knas.text.report import text_report

    text_report(args.summary, args.scores, args.runs, args.out)
    return 0


def add_cli(sub: argparse._SubParsersAction) -> None:
    """Register the text-study sub-commands on the ``knas`` parser's sub-parser set."""
    from knas.text.data import TASKS
    from knas.text.finetune import FinetuneConfig
    from knas.text.score import DEFAULT_N

    d = FinetuneConfig()

    p = sub.add_parser("text-data", help="text study: write a task's GLUE TSVs (download / generate)")
    p.add_argument("--task", required=True, choices=TASKS, help="text.task: " + ", ".join(TASKS))
    p.add_argument("--out", required=True, help="output directory (train.tsv, dev.tsv)")
    p.add_argument("--from-dir", default=None, help="read GLUE TSVs from here instead (validate and copy)")
    p.add_argument("--seed", type=int, default=0, help="smoke task: generator seed (default 0)")
    p.add_argument("--n-train", type=int, default=400, help="smoke task: training pairs (default 400)")
    p.add_argument("--n-dev", type=int, default=200, help="smoke task: dev pairs (default 200)")
    p.set_defaults(func=cmd_data)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--task", required=True, choices=TASKS, help="text.task: " + ", ".join(TASKS))
        p.add_argument("--data-dir", default=None,
                       help="directory with GLUE train.tsv/dev.tsv (default: datasets.load_dataset / generate)")
        p.add_argument("--model", default="roberta-large", help="'tiny' (smoke) or a RoBERTa checkpoint (default roberta-large)")
        p.add_argument("--max-length", type=int, default=d.max_length, help=f"tokens per pair (default {d.max_length})")
        p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")

    p = sub.add_parser("text-score", help="text study: MGM of the baseline and the 30 rewired candidates")
    common(p)
    p.add_argument("--out", required=True, help="score table (.csv or .parquet)")
    p.add_argument("--n", type=_n_arg, default=DEFAULT_N, help=f"training examples, or 'all' (default {DEFAULT_N})")
    p.add_argument("--seed", type=int, default=0, help="example draw and head init (default 0)")
    p.add_argument("--chunk", type=int, default=16, help="examples per backward pass (default 16; halved on CUDA OOM)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("text-finetune", help="text study: fine-tune one candidate with one seed")
    common(p)
    p.add_argument("--candidate", default=None, help="wiring name: identity (baseline) or e.g. highway-L3")
    p.add_argument("--rank", type=int, default=None, help="the candidate of this MGM rank in --scores (1 = best)")
    p.add_argument("--scores", default=None, help="score table from `knas text-score`")
    p.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    p.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (KNAS: 3e-5 MRPC, 2e-5 RTE; default {d.lr})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default {d.batch_size}")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"default {d.epochs}")
    p.add_argument("--out", required=True, help="result JSON")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("text-summary", help="text study: mean/std dev accuracy per candidate")
    p.add_argument("runs", nargs="+", help="result JSONs of `knas text-finetune`")
    p.add_argument("--scores", default=None, help="score table (adds MGM and rank)")
    p.add_argument("--out", required=True, help="summary table (.csv or .parquet)")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("text-report", help="text study: KNAS Table-2-like Markdown section")
    p.add_argument("runs", nargs="+", help="fine-tuning result JSONs")
    p.add_argument("--summary", required=True, help="summary table (`knas text-summary`)")
    p.add_argument("--scores", required=True, help="score table (`knas text-score`)")
    p.add_argument("--out", required=True, help="Markdown section to write")
    p.set_defaults(func=cmd_report)
