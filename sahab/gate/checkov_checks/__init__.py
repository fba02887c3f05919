"""Sahab's custom checkov checks (CKV_SAHAB_<n>), one class per file, loaded by checkov with
`--external-checks-dir sahab/gate/checkov_checks`. Their passing and failing fixtures live in
tests/policy/checkov_fixtures/ (not here: checkov loads every YAML under this folder as a graph
check). These files run under .venv-checkov's interpreter, never Sahab's."""
