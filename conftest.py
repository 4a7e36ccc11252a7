"""Test-suite settings: every chapter re-run by nbval uses the `smoke` profile."""

import os

os.environ.setdefault("TAP_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
