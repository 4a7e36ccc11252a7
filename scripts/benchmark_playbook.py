"""How well ``python -m tap playbook`` keeps its budget: the command on IMDB with a time budget
(10 minutes unless told otherwise), then its planned against its actual time and its decision.
A benchmark, not a test: it takes as long as the budget says, and its times are this machine's.

    python scripts/benchmark_playbook.py [--budget 10m] [--profile book]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tap import __main__ as cli


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10m")
    parser.add_argument("--profile", default="book")
    parser.add_argument("--out", type=Path, help="keep the report here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "imdb"
        start = time.perf_counter()
        status = cli.main(
            ["playbook", "stanfordnlp/imdb", "--test", "test", "--budget", args.budget, "--profile", args.profile]
            + ["--out", str(out)]
        )
        wall = time.perf_counter() - start
        if status:
            return status
        results = json.loads((out / "results.json").read_text())
    plan = results["plan"]
    print(f"budget {plan['budget_s']:.0f} s: planned {plan['estimate_s']:.0f} s, took {results['actual_s']:.0f} s ")
    print(f"(command wall time {wall:.0f} s; {plan['train']:,} training examples, {plan['runs']} neural runs)")
    print(results["decision"]["decision"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
