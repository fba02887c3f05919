# The two commands the README promises, plus a few conveniences. Each target installs what it needs.
.PHONY: setup servers plan test check bench

setup:
	@scripts/setup.sh

servers:  ## Debian's redis-server, PostgreSQL and prometheus/promtool (tests and `sahab local` run them on loopback)
	@scripts/servers.sh

plan: setup  ## the main job: the uae-central platform as a credential-free plan
	@.venv/bin/sahab plan uae-central

test: setup servers  ## the whole test suite (what CI runs)
	@.venv/bin/python -m pytest -q -n 2 --dist loadfile

check: setup  ## plan + policy packs + checkov + Kubernetes schemas for uae-central
	@.venv/bin/sahab check uae-central

bench: setup
	@for b in benchmarks/*.py; do .venv/bin/python $$b || exit 1; done
