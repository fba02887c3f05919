# The two commands the README promises, plus a few conveniences. Each target installs what it needs.
.PHONY: setup servers plan test lint check bench

setup:
	@scripts/setup.sh

servers:  ## Debian's redis-server, PostgreSQL and prometheus/promtool (tests and `sahab local` run them on loopback)
	@scripts/servers.sh

plan: setup  ## the main job: the uae-central platform as a credential-free plan
	@.venv/bin/sahab plan uae-central

test: setup servers  ## the whole test suite (what CI runs)
	@.venv/bin/python -m pytest -q -n 3 --dist loadfile --no-loadscope-reorder --durations=20

# Stops at the first tool that finds something; each is configured in pyproject.toml.
lint: setup  ## ruff, suppressions with reasons, import contracts and cycles, declared dependencies, mypy (CI runs it)
	@echo "lint: ruff check" && .venv/bin/ruff check .
	@echo "lint: ruff format --check" && .venv/bin/ruff format --check .
	@echo "lint: every noqa / type: ignore has its reason" && .venv/bin/python scripts/lint_suppressions.py
	@echo "lint: import contracts" && .venv/bin/lint-imports --no-cache --no-logo
	@echo "lint: import cycles" && .venv/bin/python scripts/import_cycles.py
	@echo "lint: deptry" && .venv/bin/deptry .
	@echo "lint: mypy" && .venv/bin/mypy

check: setup  ## plan + policy packs + checkov + Kubernetes schemas for uae-central
	@.venv/bin/sahab check uae-central

bench: setup
	@for b in benchmarks/*.py; do .venv/bin/python $$b || exit 1; done
