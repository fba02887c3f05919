#!/usr/bin/env bash
# Creates (or refreshes) the project's two virtual environments:
#   .venv          Sahab, the Pulumi program with both cloud SDKs, the workloads, the test and lint tools
#                  (the dev extra pulls aws-deploy, azure-deploy, local, verify and azure)
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

# A tool whose pins no other environment can share gets a venv of its own, refreshed when its
# requirements file changes: side_venv DIR REQUIREMENTS BINARY WHAT
side_venv() {
  local dir=$1 reqs=$2 bin=$3 what=$4 want
  want=$(sha256sum < "$reqs" | cut -c1-16)
  if [ ! -x "$dir/bin/$bin" ] || [ "$(cat "$dir/.sahab-stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing $what into $dir" >&2
    "$PY" -m venv "$dir"
    pip_q "$dir/bin/python" -m pip install -q --upgrade pip
    pip_q "$dir/bin/python" -m pip install -q -r "$reqs"
    echo "$want" > "$dir/.sahab-stamp"
  fi
}
# checkov pins packaging<24; network-config-analyzer (the gate's connectivity check) pins PyYAML and networkx.
side_venv .venv-checkov scripts/checkov-requirements.txt checkov checkov
side_venv .venv-nca scripts/nca-requirements.txt nca network-config-analyzer
