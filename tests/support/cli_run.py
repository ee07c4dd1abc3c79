"""``wangge ARGS`` run in the test process the way the console script runs it, with a subprocess's result.

A subprocess pays Python's start-up and the CLI's imports on every call (seconds each, dozens of calls
per file); ``gis.cli.main`` called here pays them once. It is the console script's own entry point, so
an error still comes out as its one ``error:`` line on stderr with exit status 1. What only a real
process proves (the installed entry point, a clean exit without a traceback) keeps a few subprocess
tests: tests/cli/test_db_commands.py and each file's ``one_error_line``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner


@dataclass
class Done:
    """What ``subprocess.run(..., capture_output=True, text=True)`` gives a test: status and both streams."""

    returncode: int
    stdout: str
    stderr: str


class _ConsoleScript:
    """Stands in for a click command in ``CliRunner.invoke``: runs ``gis.cli.main`` with ``sys.argv`` set."""

    name = "wangge"

    def main(self, args: Sequence[str], prog_name: str, **_extra: Any) -> None:
        from gis.cli import main

        saved = sys.argv
        sys.argv = [prog_name, *args]
        try:
            main()
        finally:
            sys.argv = saved


def wangge(env: Mapping[str, str], *args: str) -> Done:
    """Run ``wangge ARGS`` with ``env``'s WANGGE_* settings (and no others) in this process.

    ``env`` is what the subprocess would have been given; only its WANGGE_* and COLUMNS entries
    matter here, and WANGGE_* variables it lacks are unset for the call, as they were for the child.
    """
    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith("WANGGE_")}
    overrides.update({k: v for k, v in env.items() if k.startswith("WANGGE_")})
    overrides["COLUMNS"] = env.get("COLUMNS", "200")
    result = CliRunner().invoke(_ConsoleScript(), list(args), env=overrides)  # type: ignore[arg-type]
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # A real process would have printed the traceback and died; tests that look for one must see it.
        stderr += "Traceback (most recent call last):\n" + "".join(traceback.format_exception(result.exception))
    return Done(result.exit_code, result.stdout, stderr)
