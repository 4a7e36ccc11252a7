"""Command line: list the book's experiments and run any of them at any profile.

    python -m tap list
    python -m tap run ch01 --profile full --out results/
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .experiments import EXPERIMENTS, get_experiment
from .profiles import PROFILE_ENV, PROFILES, get_profile


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
    run.add_argument("--profile", default=os.environ.get(PROFILE_ENV, "book"),
                     help=f"run profile: {', '.join(PROFILES)} (default: $TAP_PROFILE or book)")
    run.add_argument("--out", type=Path, default=Path("tap-results"), help="output folder (default: tap-results)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        for name, (_, description) in EXPERIMENTS.items():
            print(f"{name:8} {description}")
        print(f"\nprofiles: {', '.join(PROFILES)}")
        return 0
    try:
        profile = get_profile(args.profile)
        experiment = get_experiment(args.experiment)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    os.environ[PROFILE_ENV] = profile.name
    outcome = experiment(profile)
    folder = args.out / args.experiment / profile.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "records.json").write_text(json.dumps(outcome.records, indent=1, default=str))
    for name, fig in outcome.figures.items():
        fig.savefig(folder / f"{name}.png", dpi=120, bbox_inches="tight")
    for name, record in outcome.records.items():
        if "test_accuracy" in record:
            print(f"{name:40} test accuracy {100 * record['test_accuracy']:.1f}% on {record['test_size']:,}")
    print(f"records and figures written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
