"""The dependency rules of docs/architecture.md, checked by import-linter (contracts in pyproject.toml).

A contract that never fails proves nothing, so each one is also shown to catch a violation: the
Python files of the four root packages are copied to a scratch directory, one throwaway module that
breaks the contract is added there (the working tree is never touched), and lint-imports, run on the
copy with only that contract, must report it broken. The chains matter most: a pure module that
imports a service, and a service that reaches ``rich`` through a pure helper, are refused.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROOT_PACKAGES = ("gis", "api", "web", "migrations")


def lint_imports() -> str:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is a test dependency"
    return lint


def contract_ids() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"] for c in config["tool"]["importlinter"]["contracts"]}


def test_import_contracts_hold() -> None:
    done = subprocess.run([lint_imports(), "--no-logo"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


# contract id → (path of the throwaway module in the copy, its source): each breaks exactly that rule
VIOLATIONS: dict[str, tuple[str, str]] = {
    "database": ("gis/partition/_probe.py", "import sqlalchemy\n"),
    "edge-libraries": ("gis/services/_probe.py", "import typer\n"),
    "map-libraries": ("gis/coverage/_probe.py", "import folium\n"),
    # a pure module importing a service: the chain to sqlalchemy starts with this direct import
    "pure-core": ("gis/_probe.py", "from gis.services import jobs\n"),
    # a service reaching rich through a pure helper module, not directly
    "services": ("gis/services/_probe.py", "import gis._probe_helper\n"),
    "db-layer": ("gis/db/_probe.py", "from gis.services import jobs\n"),
    "settings-errors": ("gis/settings.py", "\nimport gis.progress\n"),  # appended to the copy
    "api-cli": ("api/_probe.py", "import gis.cli\n"),
    "report-maps": ("gis/maps/_probe.py", "from gis.db import engine\n"),
}
HELPERS = {"services": {"gis/_probe_helper.py": "import rich\n"}}  # the pure link of the services' chain


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("contracts")
    only_python = shutil.ignore_patterns("node_modules", "__pycache__", "static", "data", "*.js", "*.css", "*.html")
    for package in ROOT_PACKAGES:
        shutil.copytree(REPO / package, root / package, ignore=only_python)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    clean = run_on(root)  # the copy as it is keeps every contract: what breaks one below is its probe
    assert clean.returncode == 0 and "0 broken" in clean.stdout, clean.stdout + clean.stderr
    yield root


def run_on(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    selected = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run([lint_imports(), "--no-logo", "--no-cache", *selected], cwd=root, capture_output=True,
                          text=True, env={"PYTHONPATH": str(root), "PATH": str(Path(sys.executable).parent)})


def test_every_contract_has_a_violation_to_catch() -> None:
    assert set(VIOLATIONS) == contract_ids()


@pytest.mark.parametrize("contract", sorted(VIOLATIONS))
def test_each_contract_catches_its_violation(scratch: Path, contract: str) -> None:
    relative, source = VIOLATIONS[contract]
    probe = scratch / relative
    before = probe.read_text(encoding="utf-8") if probe.exists() else None
    probe.write_text((before or "") + source, encoding="utf-8")
    helpers = HELPERS.get(contract, {})
    for path, text in helpers.items():
        (scratch / path).write_text(text, encoding="utf-8")
    try:
        done = run_on(scratch, contract)
    finally:
        if before is None:
            probe.unlink()
        else:
            probe.write_text(before, encoding="utf-8")
        for path in helpers:
            (scratch / path).unlink()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 broken" in done.stdout, done.stdout + done.stderr
