"""`winnow review serve|import|export|summary|compare`: human review of curated outputs and models.

The web framework, pyarrow readers and (for compare) torch load only when a
handler runs, so `winnow --help` imports none of them.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from winnow.core.errors import UserError, WinnowError, positive_int

DEFAULT_PORT = 8765
DEFAULT_HOST = "127.0.0.1"
DEFAULT_SAMPLE = 200
DEFAULT_COMPARE_SAMPLES = 20
DEVICES = ("auto", "cpu", "cuda")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text}")
    return value


def _default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "reviewer"


def _server_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free one")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"interface to listen on (default {DEFAULT_HOST}, this machine only)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="a host name or address clients use to reach a non-loopback --host (repeatable; required "
                             "there): other Host and Origin headers are refused")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--reviewer", default=None, help="name stored with each label (default: your user name)")


def register(subparsers: argparse._SubParsersAction) -> None:
    review = subparsers.add_parser(
        "review", help="human review: label documents in a browser, summarise agreement with the filters, compare models",
        description="Human review of Winnow outputs. Labels live as Parquet under DIR/review/.",
    )
    sub = review.add_subparsers(dest="review_command", metavar="SUBCOMMAND")
    sub.required = True

    serve = sub.add_parser("serve", help="label a stratified sample of an output directory in the browser")
    serve.add_argument("dir", metavar="DIR", type=Path, help="a curate, select or dedup output directory")
    serve.add_argument("--sample", type=positive_int, default=DEFAULT_SAMPLE, help=f"documents to review (default {DEFAULT_SAMPLE})")
    serve.add_argument("--score-bands", type=_non_negative_int, default=0,
                       help="also split kept documents into N classifier-score quantile bands (default 0: no)")
    serve.add_argument("--score-column", default=None, help="classifier_<name>_score column for --score-bands (default: the first)")
    _server_args(serve)
    serve.set_defaults(handler=_serve)

    imp = sub.add_parser("import", help="add labels made elsewhere (JSONL or CSV: id, label[, reviewer, note])")
    imp.add_argument("dir", metavar="DIR", type=Path, help="the output directory the labels are about")
    imp.add_argument("file", metavar="FILE", type=Path, help="labels file (.jsonl or .csv)")
    imp.add_argument("--reviewer", default="import", help="reviewer for rows that name none (default import)")
    imp.set_defaults(handler=_import)

    exp = sub.add_parser("export", help="write the labels of DIR as JSONL or CSV")
    exp.add_argument("dir", metavar="DIR", type=Path)
    exp.add_argument("--output", required=True, type=Path, metavar="FILE", help=".jsonl or .csv")
    exp.set_defaults(handler=_export)

    summary = sub.add_parser("summary", help="agreement of humans with each filter, thresholds, kappa, model votes")
    summary.add_argument("dir", metavar="DIR", type=Path, help="an output directory with labels, or a run with votes")
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.set_defaults(handler=_summary)

    compare = sub.add_parser("compare", help="blind side-by-side vote on two runs' generations")
    compare.add_argument("--run", action="append", required=True, type=Path, metavar="RUN_DIR",
                         help="a `winnow train` run directory; give exactly two")
    compare.add_argument("--prompts", type=Path, metavar="FILE", help=".txt (one per line) or .jsonl (\"prompt\"); default: fresh documents")
    compare.add_argument("--samples", type=positive_int, default=DEFAULT_COMPARE_SAMPLES,
                         help=f"items to vote on, cycling through the prompts (default {DEFAULT_COMPARE_SAMPLES})")
    compare.add_argument("--max-new-tokens", type=positive_int, default=100, help="default 100")
    compare.add_argument("--temperature", type=float, default=0.8, help="default 0.8; 0 = greedy")
    compare.add_argument("--top-k", type=positive_int, default=None)
    compare.add_argument("--device", choices=DEVICES, default="auto", help="default: cuda when available")
    _server_args(compare)
    compare.set_defaults(handler=_compare)


def _allowed_hosts(args: argparse.Namespace) -> list[str]:
    """The Host names the server will accept; checked before any slow work, so a refusal comes first
    (an ExposureError, a ConfigurationError: exit 2)."""
    from winnow.review.app import allowed_hosts_for

    return allowed_hosts_for(args.host, args.allow_host)


def _listen(app_factory, host: str, port: int, what: str, allowed: list[str]) -> int:
    from winnow.review.server import bind, serve, url_of, warn_if_exposed

    sock = bind(host, port)  # a ServeError (exit 2) names the host and port it could not use
    warn_if_exposed(host, allowed)
    print(f"{what}: {url_of(sock, host)}  (Ctrl-C to stop)", flush=True)
    serve(app_factory(), sock)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from winnow.review.app import ReviewSession, create_review_app
    from winnow.review.sample import draw_sample
    from winnow.review.source import load_index, load_texts

    allowed = _allowed_hosts(args)
    try:
        index = load_index(args.dir)
        items = draw_sample(index, args.sample, args.seed, args.score_bands, args.score_column)
        if not items:
            raise UserError(f"{args.dir}: nothing to review: documents/, rejected/ and duplicates/ hold no records")
        texts = load_texts(item.record for item in items)
        session = ReviewSession(args.dir, items, texts, args.reviewer or _default_reviewer())
    except WinnowError:
        raise  # ReviewInputError, LabelsError: a missing directory exits 2, an unreadable file 3
    except ValueError as exc:  # the sampler's checks of --sample, --score-bands and --score-column
        raise UserError(str(exc)) from None
    strata = len({item.stratum for item in items})
    print(f"{args.dir}: {len(items)} documents from {strata} strata; "
          f"{session.progress()['labelled']} already labelled by {session.reviewer}")
    return _listen(lambda: create_review_app(session, args.host, args.allow_host), args.host, args.port, "review", allowed)


def _import(args: argparse.Namespace) -> int:
    from winnow.review.labels import import_labels
    from winnow.review.source import load_index

    index = load_index(args.dir)
    count, folder = import_labels(args.dir, args.file, index.by_id.keys(), args.reviewer)
    print(f"{args.file}: imported {count} labels into {folder}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from winnow.review.labels import export_labels

    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: no such directory")
    count = export_labels(args.dir, args.output)
    print(f"{args.output}: {count} labels")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from winnow.review.labels import review_dir
    from winnow.review.stats import review_summary, summary_rows

    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: no such directory")
    summary = review_summary(args.dir)
    if summary is None:
        raise UserError(f"{review_dir(args.dir)}: no labels or votes (looked for labels-*.parquet and votes-*.parquet)")
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    # piped output (a file, a CI log) gets full-width rows instead of wrapped reason names
    console = Console(width=None if sys.stdout.isatty() else 200)
    labels = summary.get("labels")
    if labels:
        console.print(f"{labels['total']} labels by {', '.join(labels['reviewers'])}; "
                      f"{labels['documents_decided']} documents decided by majority")
        if labels["unknown_ids"]:
            console.print(f"warning: {labels['unknown_ids']} labelled id(s) are not in this output", style="yellow")
    for title, (header, rows) in summary_rows(summary).items():
        table = Table(title=title)
        for h in header:
            table.add_column(h, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from winnow.review.compare import CompareSession, create_compare_app, generate_items, plan_items, read_prompts

    allowed = _allowed_hosts(args)
    if len(args.run) != 2:
        raise UserError(f"give exactly two --run directories, got {len(args.run)}")
    for run in args.run:
        if not run.is_dir():
            raise UserError(f"--run {run}: no such run directory")
    if args.temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {args.temperature}")
    # LabelsError's subclasses reach the CLI as they are: a missing prompts file exits 2, a malformed one 3.
    prompts = read_prompts(args.prompts) if args.prompts else [""]
    items = plan_items(prompts, args.samples, args.seed)
    session = CompareSession(args.run[0], args.run[1], items, args.reviewer or _default_reviewer())
    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available")
    print(f"generating {len(items)} continuations with each run on {device}...", file=sys.stderr, flush=True)
    # CheckpointError's subclasses as they are: a run without a checkpoint exits 2, a corrupt one 3.
    session.items = generate_items(
        args.run[0], args.run[1], items, args.max_new_tokens, args.temperature, args.top_k, device
    )
    return _listen(lambda: create_compare_app(session, args.host, args.allow_host), args.host, args.port, "compare",
                   allowed)
