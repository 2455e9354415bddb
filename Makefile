# The verbs: make run, make test, make lint, make package, make bench.
# uv is used from PATH, or installed (pinned) into .tools/ on first use; it never
# downloads a Python: the machine's own 3.11 or 3.12 is used.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
export UV_FROZEN := 1
# make test's workers (pytest-xdist): the end-to-end tests mostly wait on their stack's
# processes, so two workers on two cores take about half the time of one.
# PARALLEL= runs the suite in one process.
PARALLEL ?= -n 2 --dist loadgroup --no-loadscope-reorder
# More of pytest's options for make test, e.g. PYTEST_ARGS='--durations=40 -x'.
PYTEST_ARGS ?=

.PHONY: help setup browser run test test-fast lint package bench image clean

help:
	@echo "make run      start the whole local stack with demo data (Ctrl-C stops it)"
	@echo "make test     run the whole test suite (unit, component, end to end, infra)"
	@echo "make lint     ruff, ruff format --check, mypy --strict, bandit (high), pip-audit of uv.lock"
	@echo "make package  build the three Lambda zips into dist/"
	@echo "make bench    benchmarks of the local stack (about 5 min): bench/results/"
	@echo "make image    build the ECS image (needs a Docker engine)"

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The venv's bytecode is compiled once here: uv does not by default, and where the
# environment sets PYTHONDONTWRITEBYTECODE nothing writes it later either, so every process
# the tests start (the local stack's tiers, the CLI, the workers) would compile boto3,
# botocore, fastapi and pydantic from source again (about 0.7 s of CPU each).
setup: $(UV)
	$(UV) sync --compile-bytecode

run: setup
	$(UV) run query-service local up

# The console's browser tests drive Debian's chromium (Playwright's own browser download
# cannot work without internet). Installed here when missing, as root; anything else is
# told what to run. CONSOLE_TEST_CHROMIUM names another binary instead.
browser:
	@if [ -n "$$CONSOLE_TEST_CHROMIUM" ] || command -v chromium >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "make test needs Chromium for the console's browser tests: run" \
		     "'sudo apt-get install -y chromium', or set CONSOLE_TEST_CHROMIUM" >&2; exit 1; \
	fi; \
	echo "installing Debian's chromium for the console's browser tests"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -qq chromium >/dev/null 2>&1 \
		|| { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| { echo "could not install chromium with apt-get: see the lines above" >&2; exit 1; }

test: setup browser
	$(UV) run pytest $(PARALLEL) $(PYTEST_ARGS)

test-fast: setup
	$(UV) run pytest tests/unit tests/component

lint: setup
	$(UV) run ruff check src tests tools bench
	$(UV) run ruff format --check src tests tools bench
	$(UV) run mypy
	$(UV) run bandit --quiet --recursive src tools/package_lambdas.py tools/audit_lock.py --severity-level high
	UV=$(UV) $(UV) run python tools/audit_lock.py

package: setup
	$(UV) run python tools/package_lambdas.py

# Not part of `make test`: it loads the machine for minutes. Results: bench/results/.
bench: setup
	$(UV) run python -m bench.run $(BENCH_ARGS)

image:
	docker build --platform linux/amd64 -t query-service:local .

clean:
	rm -rf .venv .tools dist .pytest_cache .mypy_cache .ruff_cache .local
