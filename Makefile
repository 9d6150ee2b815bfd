# The two commands: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The tested versions: .venv, CI and the Docker image install from these (`make lock` refreshes).
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
LOCK_FLAGS := --python-version 3.11 --universal --quiet
VNU_VERSION := 26.9.27
VNU := .tools/vnu.jar

.PHONY: demo test quick lint bench lock clean

# Python may cache compiled modules here even where the machine's environment says not to (this
# one sets PYTHONDONTWRITEBYTECODE=1): without the cache pytest rewrote and compiled every test
# module on every run (collecting the suite: 11-13 s, 4 s with it), once per xdist process, and
# each `mailer` process a test starts compiled the package again.
unexport PYTHONDONTWRITEBYTECODE

$(STAMP): pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(DEV_LOCK) -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mailer demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/deptry src
	$(BIN)/deptry tests bench --ignore DEP002,DEP004
	$(BIN)/hadolint Dockerfile

# Every test, spread over every core by pytest-xdist (-n auto: two processes here). Tests that
# need a resource of their own make it (a free port, a temporary folder, a PostgreSQL database
# named at random), so they run side by side: docs/benchmarks.md has the times.
test: lint $(VNU)
	$(BIN)/pytest -q -n auto

# The W3C Nu Html Checker for the page tests (30 MB, from the npm registry; run with Java).
$(VNU):
	mkdir -p .tools
	cd .tools && npm pack --silent vnu-jar@$(VNU_VERSION) >/dev/null \
		&& tar -xzf vnu-jar-$(VNU_VERSION).tgz package/build/dist/vnu.jar \
		&& mv package/build/dist/vnu.jar vnu.jar && rm -rf package vnu-jar-$(VNU_VERSION).tgz

# The inner loop: ruff, then every test but the slow, browser and PostgreSQL ones (`make test`,
# which CI runs, has them all), spread over every core by pytest-xdist. The goal is 2 minutes;
# on this 2-core machine, quiet, it takes about 1 minute (56-63 s): docs/benchmarks.md.
quick: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -q -n auto -m "not slow and not browser and not postgres" -k "not postgresql"

bench: $(STAMP)
	$(BIN)/python -m bench

# Re-pin after a change to pyproject.toml's dependencies; `make lock UPGRADE=1` also takes
# newer releases. Run `make test` after it: the pins are what the tests passed with.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) $(if $(UPGRADE),--upgrade) -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev -c $(LOCK) $(LOCK_FLAGS) \
		$(if $(UPGRADE),--upgrade) -o $(DEV_LOCK)
	$(BIN)/pip install --quiet -c $(DEV_LOCK) -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache demo-workspace
