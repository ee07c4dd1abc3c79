# The two commands: `make demo` (set up, load the demo district, serve) and `make test`.
# Both do all their own set-up on a fresh Debian/Ubuntu machine (scripts/bootstrap.sh).

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench deps db-start db-stop clean

$(STAMP): pyproject.toml scripts/bootstrap.sh web/package-lock.json
	bash scripts/bootstrap.sh

deps: $(STAMP)

db-start: deps
	$(BIN)/wangge db start

db-stop:
	$(BIN)/wangge db stop

## make test: start the local PostGIS (installing it if needed) and run every test against it, on every core
## (pytest-xdist; each worker makes its own databases; a file's tests stay on one worker, so a module's world is
## built once). TEST_WORKERS=0 runs in one process; the slowest tests and the suite's time are printed.
TEST_WORKERS ?= auto
test: db-start
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

## make lint: the gates CI runs before the tests: ruff, mypy on gis and api, import-linter's layer contracts.
lint: deps
	$(BIN)/ruff check gis api web tests bench migrations scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

## make demo: local PostGIS, demo district loaded, analyses computed, web app on http://127.0.0.1:8000
demo: deps
	$(BIN)/wangge demo

## make bench: the benchmarks that compare us with the tools a user would otherwise pick.
bench: db-start
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	-$(BIN)/wangge db stop
	rm -rf $(VENV) .wangge
