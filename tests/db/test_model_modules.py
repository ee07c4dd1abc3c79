"""Each area's ORM module can be imported first, in a fresh process (a CLI command needing only its tables)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (REPO / "gis" / "db").glob("models_*.py"))


def test_there_are_area_modules_to_check() -> None:
    assert len(MODULES) >= 6


@pytest.mark.parametrize("module", MODULES)
def test_an_area_model_module_imports_first_in_a_fresh_process(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import gis.db.{module}, gis.db.models as m; "
                           "print(len(m.Base.metadata.tables))"],
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-800:]
    assert int(done.stdout.strip()) >= 60
