"""The ``python -m skmatch`` command line: fit a model, recommend, evaluate.

Every command reads and writes files, so a model can be trained and served without
writing Python. Errors in the input (a missing file or column, an unknown model,
parameter or user id) print one message to stderr and exit with status 2. See
``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from skmatch import FeatureSpec, __version__
from skmatch._cli._io import coerce_ids, parse_times, read_table, read_users
from skmatch._cli._models import model_classes, parse_params, resolve_model
from skmatch.exceptions import UnknownIdError, format_values
from skmatch.features import OOV
from skmatch.metrics import evaluate
from skmatch.models._persist import load_model

__all__ = ["build_parser", "main"]

_SPEC = FeatureSpec().get_params(deep=False)

_MAIN_EPILOG = """\
examples:
  python -m skmatch fit --data train.csv --model SASRec --out sasrec.skm
  python -m skmatch recommend --model-file sasrec.skm --users 1 2 3 -k 10
  python -m skmatch evaluate --model-file sasrec.skm --data test.csv -k 10 20

Run 'python -m skmatch COMMAND --help' for the options of a command.
"""

_FIT_EPILOG = f"""\
{textwrap.fill("models: " + ", ".join(model_classes()), 79, subsequent_indent="  ")}

examples:
  python -m skmatch fit --data ratings.csv --model Popularity --out pop.skm
  python -m skmatch fit --data ratings.parquet --model YoutubeDNN --out ytdnn.skm \\
      --param n_epochs=5 --param embed_dim=32 --param hidden_dims=[64,32] \\
      --param random_state=0 --item-features genres --max-seq-len 20
  python -m skmatch fit --data events.csv --user-col uid --item-col sku \\
      --time-col ts --model SASRec --out sasrec.skm

--param values are JSON where they parse (16, 1e-3, true, null, [64,32]), else text (cpu).
"""

_RECOMMEND_EPILOG = """\
examples:
  python -m skmatch recommend --model-file sasrec.skm --users 1 2 3 -k 5
  python -m skmatch recommend --model-file sasrec.skm --users-file users.txt \\
      -k 20 --out recs.csv
  python -m skmatch recommend --model-file pop.skm --users 1 --no-filter-seen

The output has one row per (user, rank): columns user, rank (1 = best), item, score.
A user gets fewer than k rows when fewer than k items qualify.
"""

_EVALUATE_EPILOG = """\
examples:
  python -m skmatch evaluate --model-file sasrec.skm --data test.csv
  python -m skmatch evaluate --model-file sasrec.skm --data test.csv -k 10 20 --json

Each user of --data is ranked against the whole catalogue from its fit-time history,
with its fit-time items excluded; its rows in --data are the relevant items.
"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m skmatch`` and its three commands.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="python -m skmatch",
        description="Fit retrieval models on interaction files, recommend and evaluate.",
        epilog=_MAIN_EPILOG,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"skmatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser(
        "fit",
        help="fit a model on a file of interactions and save it",
        description="Fit a model on a CSV or Parquet file of interactions (one row per\n"
        "event) and save it with the model's save(): a file that loads without pickle.",
        epilog=_FIT_EPILOG,
        formatter_class=_formatter,
    )
    fit.add_argument("--data", required=True, metavar="PATH", help="interactions: CSV or Parquet")
    fit.add_argument("--model", required=True, metavar="NAME", help="model class (see below)")
    fit.add_argument("--out", required=True, metavar="PATH", help="where to write the model")
    fit.add_argument(
        "--user-col", default=_SPEC["user_col"], metavar="COL", help="default: %(default)s"
    )
    fit.add_argument(
        "--item-col", default=_SPEC["item_col"], metavar="COL", help="default: %(default)s"
    )
    fit.add_argument(
        "--time-col",
        default=_SPEC["time_col"],
        metavar="COL",
        help="event time, numeric or date-time; default: %(default)s (row order when that "
        "column is absent, or when given '')",
    )
    for side in ("user", "item"):
        fit.add_argument(
            f"--{side}-features",
            nargs="+",
            action="extend",
            default=[],
            metavar="COL",
            help=f"side-feature columns of the {side}s",
        )
    fit.add_argument(
        "--max-seq-len",
        type=int,
        default=None,
        metavar="N",
        help=f"history window; default: the model's ({_SPEC['max_seq_len']}; 20 for the "
        "multi-interest models)",
    )
    fit.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model constructor parameter, repeatable (e.g. n_epochs=5)",
    )
    fit.set_defaults(func=_fit)

    rec = commands.add_parser(
        "recommend",
        help="top-k items for users, as CSV",
        description="Recommend the top-k items to users of a saved model, as CSV.",
        epilog=_RECOMMEND_EPILOG,
        formatter_class=_formatter,
    )
    rec.add_argument("--model-file", required=True, metavar="PATH", help="a saved model")
    who = rec.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", nargs="+", metavar="ID", help="user ids")
    who.add_argument(
        "--users-file",
        metavar="PATH",
        help="CSV or Parquet with a user column, or a text file with one id a line",
    )
    rec.add_argument(
        "--user-col",
        metavar="COL",
        help="user column of --users-file; default: the one used at fit time",
    )
    rec.add_argument("-k", type=int, default=10, help="items per user; default: %(default)s")
    rec.add_argument(
        "--no-filter-seen",
        dest="filter_seen",
        action="store_false",
        help="also recommend the items already in a user's fit-time history",
    )
    rec.add_argument("--out", metavar="PATH", help="CSV to write; default: standard output")
    rec.set_defaults(func=_recommend)

    ev = commands.add_parser(
        "evaluate",
        help="ranking metrics on held-out interactions",
        description="Ranking metrics (recall, NDCG, hit rate, MRR, precision, coverage)\n"
        "of a saved model on held-out interactions, as skmatch.metrics.evaluate computes.",
        epilog=_EVALUATE_EPILOG,
        formatter_class=_formatter,
    )
    ev.add_argument("--model-file", required=True, metavar="PATH", help="a saved model")
    ev.add_argument(
        "--data", required=True, metavar="PATH", help="held-out interactions: CSV or Parquet"
    )
    ev.add_argument(
        "-k",
        type=int,
        nargs="+",
        action="extend",
        metavar="K",
        help="cut-offs, repeatable (-k 10 20 or -k 10 -k 20); default: 10",
    )
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.set_defaults(func=_evaluate)
    return parser


# ---------------------------------------------------------------------- commands
def _fit(args: argparse.Namespace) -> None:
    out = Path(args.out).resolve()
    if not out.parent.is_dir():  # checked before training, not after
        raise FileNotFoundError(
            f"The folder of --out {args.out!r} does not exist: {out.parent}."
        )
    if out.is_dir():
        raise IsADirectoryError(f"--out {args.out!r} is a folder; name the model file.")
    if not os.access(out.parent, os.W_OK):
        raise PermissionError(f"The folder of --out {args.out!r} is not writable: {out.parent}.")
    cls = resolve_model(args.model)
    params = parse_params(args.param, cls)
    time_col = args.time_col or None
    window = {} if args.max_seq_len is None else {"max_seq_len": args.max_seq_len}
    spec = cls()._default_spec().set_params(  # the model's own window unless given
        user_col=args.user_col,
        item_col=args.item_col,
        time_col=time_col,
        user_features=tuple(args.user_features),
        item_features=tuple(args.item_features),
        **window,
    )
    frame = parse_times(read_table(args.data), time_col)
    model = cls(feature_spec=spec, **params)
    start = time.perf_counter()
    model.fit(frame)
    seconds = time.perf_counter() - start
    model.save(args.out)
    print(
        f"{cls.__name__} fitted on {len(frame):,} interactions: {model.n_users_:,} users, "
        f"{model.n_items_:,} items, {seconds:.1f} s."
    )
    losses = getattr(model, "loss_curve_", None)
    if losses and len(losses) == 1:
        print(f"Loss {losses[-1]:.4f} after 1 epoch.")
    elif losses:
        print(f"Loss {losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} epochs.")
    print(f"Saved to {args.out}.")


def _recommend(args: argparse.Namespace) -> None:
    model = load_model(args.model_file)
    spec = model.feature_spec_
    if args.users is not None:
        raw = args.users
    else:
        raw = read_users(args.users_file, args.user_col or spec.user_col)
        if not raw:
            raise ValueError(f"{args.users_file!r} holds no user ids.")
    users = coerce_ids(raw, spec.users_)
    _check_known_users(users, spec)
    ids, scores = model.recommend(users, k=args.k, filter_seen=args.filter_seen)
    n, k = ids.shape
    table = pd.DataFrame(
        {
            "user": np.repeat(users, k),
            "rank": np.tile(np.arange(1, k + 1), n),
            "item": ids.ravel(),
            "score": scores.ravel(),
        }
    )
    table = table[np.isfinite(table["score"].to_numpy())]  # drop padding
    if args.out is None:
        table.to_csv(sys.stdout, index=False)
    else:
        table.to_csv(args.out, index=False)
        print(f"Wrote {len(table):,} recommendations for {n:,} users to {args.out}.")


def _check_known_users(users: np.ndarray, spec: FeatureSpec) -> None:
    """Refuse user ids unseen during fit (a typo would get cold-start items silently)."""
    unknown = spec.encode_users(users, handle_unknown="oov") == OOV
    if unknown.any():
        bad = pd.unique(users[unknown])
        known = spec.users_.categories[:3].tolist()
        raise UnknownIdError(
            f"{unknown.sum()} of the {users.size} user id(s) are unknown to the model "
            f"({bad.size} distinct), first {format_values(bad.tolist())}. Give ids of the "
            f"{spec.user_col!r} column the model was fitted on (e.g. {format_values(known)})."
        )


def _evaluate(args: argparse.Namespace) -> None:
    model = load_model(args.model_file)
    spec = model.feature_spec_
    data = read_table(args.data, text_columns=[spec.user_col, spec.item_col])
    for col, vocab in ((spec.user_col, spec.users_), (spec.item_col, spec.items_)):
        if col in data.columns:
            data[col] = coerce_ids(data[col].tolist(), vocab)
    metrics = evaluate(model, data, k=args.k or [10])
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(_format_metrics(metrics))


def _format_metrics(metrics: dict[str, float]) -> str:
    """A text table of ``{"name@k": value}``: one row per metric, one column per k.

    Examples
    --------
    >>> print(_format_metrics({"ndcg@10": 0.25, "ndcg@20": 0.3, "mrr@10": 0.125}))
    metric     @10     @20
    ndcg    0.2500  0.3000
    mrr     0.1250
    """
    rows: dict[str, dict[str, float]] = {}
    ks: list[str] = []
    for key, value in metrics.items():
        name, _, k = key.partition("@")
        rows.setdefault(name, {})[k] = value
        if k not in ks:
            ks.append(k)
    width = max(len("metric"), *(len(name) for name in rows))
    lines = ["metric".ljust(width) + "".join(f"{'@' + k:>8}" for k in ks)]
    for name, values in rows.items():
        cells = "".join(f"{values[k]:8.4f}" if k in values else "" for k in ks)
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)


# ---------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``python -m skmatch``; default: ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 when the input is wrong (the message goes to stderr). Argument
        errors and ``--help`` exit through :class:`SystemExit` as with any argparse tool.
    """
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, TypeError, OSError) as exc:  # skmatch's errors are ValueErrors
        print(f"skmatch {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 2
    return 0


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:  # "[Errno 2] ..." is noise
        return f"{exc.strerror}: {str(exc.filename)!r}."
    return str(exc)
