"""Command line: list the book's experiments and run any of them at any profile.

    python -m tap list
    python -m tap plan --profile full          # what each chapter costs, estimated on this machine
    python -m tap run ch01 --profile full --out results/
    python -m tap playbook reviews.csv --text review --label stars --budget 10m   # your own data

A problem the project can explain (an unknown name, data or a model that cannot be had, an
output folder that cannot be written) is printed as one line on stderr, without a traceback
(``--debug`` shows it): exit status 2 for a wrong command line, 1 for a run that failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .chapters import EXPERIMENTS, chapter
from .chapters.harness import Outcome
from .core.devices import is_main_process
from .core.profiles import PROFILE_ENV, PROFILES, get_profile
from .data.datasets import DataUnavailableError
from .models.pretrained import ModelUnavailableError

# Errors whose message already says what is wrong and how to fix it (DataFormatError is a ValueError).
PROJECT_ERRORS = (ValueError, DataUnavailableError, ModelUnavailableError)
USAGE_ERROR, RUN_FAILED = 2, 1
# Ctrl-C during a long run: one line instead of a traceback (exit status 130, as a shell reports SIGINT).
INTERRUPTED = "interrupted: finished runs are in the run cache; the same command resumes from them."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tap",
        description="Run the experiments of The Transformer Adaptation Playbook outside the notebooks. "
        "Each run writes its records (JSON) and figures (PNG) to a folder; trained runs are cached "
        "under $TAP_CACHE_DIR.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments and profiles")
    run = sub.add_parser("run", help="run one experiment")
    run.add_argument("experiment", help=f"one of: {', '.join(EXPERIMENTS)}")
    run.add_argument(
        "--profile",
        default=os.environ.get(PROFILE_ENV, "book"),
        help=f"run profile: {', '.join(PROFILES)} (default: $TAP_PROFILE or book)",
    )
    run.add_argument("--out", type=Path, default=Path("tap-results"), help="output folder (default: tap-results)")
    run.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    plan = sub.add_parser("plan", help="estimate what each chapter trains and how long it takes here")
    plan.add_argument(
        "--profile",
        default=os.environ.get(PROFILE_ENV, "book"),
        help=f"run profile: {', '.join(PROFILES)} (default: $TAP_PROFILE or book)",
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    add_playbook_parser(sub)
    return parser


def add_playbook_parser(sub) -> None:
    """``playbook``: chapter 07's comparison on the reader's own labelled texts."""
    from .playbook.command import METHOD_KEYS

    pb = sub.add_parser(
        "playbook",
        help="compare every adaptation method on your own labelled texts",
        description="Every adaptation method, each at the learning rate validation chooses, on your labelled "
        "texts within a time budget; writes report.md, report.html, results.json, figures and the best adapter.",
    )
    pb.add_argument("data", help="a CSV/TSV, JSON Lines or Parquet file, a folder of them, or a Hub dataset id")
    pb.add_argument("--text", default="text", help="the column holding the texts (default: text)")
    pb.add_argument("--label", default="label", help="the column holding the labels (default: label)")
    pb.add_argument("--test", help="a test file, or a split of the Hub dataset (default: 20%% carved by content)")
    pb.add_argument("--config", help="the Hub dataset's configuration")
    pb.add_argument("--split", default="train", help="the Hub dataset's split to train on (default: train)")
    pb.add_argument("--model", help="a Hub model id or a local folder (default: the profile's)")
    pb.add_argument("--budget", default="10m", help="wall-clock time for the whole comparison (default: 10m)")
    pb.add_argument("--methods", default=",".join(METHOD_KEYS), help=f"default: {','.join(METHOD_KEYS)}")
    pb.add_argument("--out", type=Path, help="output folder (default: playbook-<data name>)")
    pb.add_argument(
        "--seed",
        type=int,
        default=0,
        help="another seed draws other training, validation and test examples (when a set is larger than its size), "
        "another initial head and batch order",
    )
    pb.add_argument("--drop-empty", action="store_true", help="leave out rows with an empty text or label")
    pb.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    pb.add_argument(
        "--profile",
        default=os.environ.get(PROFILE_ENV, "book"),
        help=f"run profile: {', '.join(PROFILES)} (default: $TAP_PROFILE or book)",
    )
    pb.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def output_folder(out: Path, *parts: str) -> Path:
    """Create ``out/<parts>`` and check it can be written, before any experiment runs: a bad
    ``--out`` found after hours of training would lose the figures."""
    folder = out.joinpath(*parts)
    fix = "Pass a folder (created if missing) that you can write to."
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"Cannot use --out {out}: cannot create {folder} ({err.strerror}). {fix}") from err
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"Cannot use --out {out}: {folder} is not writable. {fix}")
    return folder


def write_outcome(outcome: Outcome, folder: Path) -> None:
    """The records (``records.json``) and one PNG per figure, and a summary line per run;
    under ``accelerate launch``, from the main process only."""
    if not is_main_process():
        return
    (folder / "records.json").write_text(json.dumps(outcome.records, indent=1, default=str))
    for name, fig in outcome.figures.items():
        fig.savefig(folder / f"{name}.png", dpi=120, bbox_inches="tight")
    for name, record in outcome.records.items():
        if "test_accuracy" in record:
            print(f"{name:40} test accuracy {100 * record['test_accuracy']:.1f}% on {record['test_size']:,}")
    print(f"records and figures written to {folder}")


def run(args: argparse.Namespace) -> int:
    """``run``: check the names and the output folder, then run the experiment."""
    try:
        profile = get_profile(args.profile)
        experiment = chapter(args.experiment).experiment
        folder = output_folder(args.out, args.experiment, profile.name)
    except ValueError as err:
        return _report(err, USAGE_ERROR, args.debug)
    os.environ[PROFILE_ENV] = profile.name
    try:
        write_outcome(experiment(profile), folder)
    except PROJECT_ERRORS as err:
        return _report(err, RUN_FAILED, args.debug)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    return 0


def plan(args: argparse.Namespace) -> int:
    """``plan``: every chapter's jobs and estimates at the profile (nothing is trained or downloaded)."""
    from . import plan as planning  # imports every chapter: only when asked

    try:
        profile = get_profile(args.profile)
    except ValueError as err:
        return _report(err, USAGE_ERROR, args.debug)
    plans = planning.plan(profile)
    print(json.dumps(planning.as_json(plans, profile), indent=1) if args.json else planning.render(plans, profile))
    return 0


def playbook(args: argparse.Namespace) -> int:
    """``playbook``: check the input (exit status 2, nothing written), plan, compare, report."""
    from .playbook import report
    from .playbook.command import run_playbook

    try:
        profile = get_profile(args.profile)
        if args.out:
            report.output_folder(args.out, "")  # a file there: refused before any work
        os.environ[PROFILE_ENV] = profile.name
        result = run_playbook(
            args.data,
            args.text,
            args.label,
            args.test,
            args.model,
            args.budget,
            args.methods,
            args.seed,
            args.dry_run,
            profile,
            args.config,
            args.split,
            args.drop_empty,
        )
    except ValueError as err:  # bad input: found before any training
        return _report(err, USAGE_ERROR, args.debug)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    if args.dry_run:
        return 0
    folder = report.write(result, args.out)
    print(f"report: {folder / 'report.html'}")
    return 0


def _report(err: Exception, status: int, debug: bool) -> int:
    """Print ``err`` as one line on stderr and return ``status``; re-raise it under ``--debug``."""
    if debug:
        raise err
    message = " ".join(str(err).split())  # one line, whatever the message's layout
    hint = "" if status == USAGE_ERROR else " (rerun with --debug for the traceback)"
    print(f"error: {message}{hint}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        for name, (_, description) in EXPERIMENTS.items():
            print(f"{name:8} {description}")
        print(f"\nprofiles: {', '.join(PROFILES)}")
        return 0
    if args.command == "plan":
        return plan(args)
    if args.command == "playbook":
        return playbook(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
