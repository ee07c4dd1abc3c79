"""Shared by the report-map tests: where screenshots go, the browser to use, and the CLI call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cli_run

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "maps"
INCIDENTS = 60
CLOSED_EVERY = 3  # every third test incident is closed


def wangge_map(env: dict[str, str], *args: str) -> cli_run.Done:
    """`wangge map export ARGS` through the console script's entry point, in this process."""
    return cli_run.wangge(env, "map", "export", *args)


def wangge_map_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`wangge map export ARGS` in a subprocess, as a user would run it: for what only a real process shows."""
    return subprocess.run([sys.executable, "-m", "gis.cli", "map", "export", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=600)
