"""Command line: list the book's experiments and run any of them at any profile.

    python -m tap list
    python -m tap plan --profile full          # what each chapter costs, estimated on this machine
    python -m tap run ch01 --profile full --out results/

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
from .data import DataUnavailableError
from .devices import is_main_process
from .models import ModelUnavailableError
from .profiles import PROFILE_ENV, PROFILES, get_profile
from .runs import Outcome

# Errors whose message already says what is wrong and how to fix it (DataFormatError is a ValueError).
PROJECT_ERRORS = (ValueError, DataUnavailableError, ModelUnavailableError)
USAGE_ERROR, RUN_FAILED = 2, 1


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
    return parser


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
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
