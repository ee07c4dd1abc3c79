"""The API's status, action, tag and level codes, and a check that none is visible text of a page in Chinese mode.

The pages word every code through the i18n tables; a code showing through (``reported``, ``elderly_alone``,
``5min``) is a missing word. The list is read from the Python tables that define the codes, so a new code
is checked as soon as it exists.
"""

from __future__ import annotations

import re

from gis.cases.workflow import ACTIONS, STATUSES
from gis.catalogue import LEVELS
from gis.services.residents import WELFARE_TAGS
from gis.visits import DEFAULT_CADENCE, PURPOSES

# Codes too plain to tell from words in a page's own English-free text are still codes: all are checked.
API_CODES = sorted({*STATUSES, *ACTIONS, *LEVELS, *WELFARE_TAGS, *DEFAULT_CADENCE, *PURPOSES, "urgent", "normal",
                    "overdue", "due_soon", "on_time", "urge", "supervise", "missed"})


def visible_codes(text: str) -> list[str]:
    """The codes that stand as words in ``text`` (not inside a longer identifier such as a user name)."""
    return sorted(code for code in API_CODES
                  if re.search(rf"(?<![A-Za-z0-9_]){re.escape(code)}(?![A-Za-z0-9_])", text))
