#!/usr/bin/env bash
# Creates (or refreshes) the project's two virtual environments:
#   .venv          Sahab, the Pulumi program, the workloads and the test tools
#   .venv-checkov  checkov alone: it pins packaging<24, which pulumi (>=26) cannot share
#   .venv-nca      network-config-analyzer alone (the gate's connectivity check)
# Idempotent: a stamp of the dependency files skips work that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
# This machine's pip config names an extra local index that may be absent: hide that one warning.
pip_q() { "$@" 2> >(grep -v "is neither a file nor a directory" >&2); }
stamp_of() { cat pyproject.toml constraints.txt "$0" 2>/dev/null | sha256sum | cut -c1-16; }
want=$(stamp_of)

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
if [ "$(cat .venv/.sahab-stamp 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Sahab into .venv (first run takes a few minutes)" >&2
  pip_q .venv/bin/python -m pip install -q --upgrade pip wheel
  # torch first and pinned: resolving it together with deepspeed and the rest backtracks for a long time.
  pip_q .venv/bin/python -m pip install -q "torch==2.13.0"
  pip_q .venv/bin/python -m pip install -q -c constraints.txt -e ".[ml,gpu,dev]"
  echo "$want" > .venv/.sahab-stamp
fi

ck_want=$(cat scripts/checkov-requirements.txt | sha256sum | cut -c1-16)
if [ ! -x .venv-checkov/bin/checkov ] || [ "$(cat .venv-checkov/.sahab-stamp 2>/dev/null)" != "$ck_want" ]; then
  echo "setup: installing checkov into .venv-checkov" >&2
  "$PY" -m venv .venv-checkov
  pip_q .venv-checkov/bin/python -m pip install -q --upgrade pip
  pip_q .venv-checkov/bin/python -m pip install -q -r scripts/checkov-requirements.txt
  echo "$ck_want" > .venv-checkov/.sahab-stamp
fi

# network-config-analyzer (the gate's connectivity check) pins PyYAML and networkx versions that
# neither .venv nor .venv-checkov can share: its own venv too.
nca_want=$(cat scripts/nca-requirements.txt | sha256sum | cut -c1-16)
if [ ! -x .venv-nca/bin/nca ] || [ "$(cat .venv-nca/.sahab-stamp 2>/dev/null)" != "$nca_want" ]; then
  echo "setup: installing network-config-analyzer into .venv-nca" >&2
  "$PY" -m venv .venv-nca
  pip_q .venv-nca/bin/python -m pip install -q --upgrade pip
  pip_q .venv-nca/bin/python -m pip install -q -r scripts/nca-requirements.txt
  echo "$nca_want" > .venv-nca/.sahab-stamp
fi
