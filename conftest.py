"""Test-suite settings: every chapter re-run by nbval uses the `smoke` profile."""

import os

os.environ.setdefault("TAP_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:  # tests in parallel processes share the cores, threads too:
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])  # each (and each notebook's kernel) takes its share
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
