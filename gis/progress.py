"""How long work reports its progress: one callable type that every engine and service takes.

Engines and services call ``progress(stage, fraction)``; the CLI draws it as a rich bar, the job queue stores it
for the web app. This module imports nothing so that pure cores can use it.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, float], None]
"""``progress(stage, fraction)``: ``stage`` names the step in words, ``fraction`` runs from 0 to 1."""


def noop_progress(_stage: str, _fraction: float) -> None:
    """Progress that goes nowhere (the default when no one is watching)."""
