"""The offline engine: runs a Pulumi Python program in-process on Pulumi's own mocks and records
what the engine would see (`offline.py`: `run_program`, `plan_environment`, `Plan`, plan.json), the
mocks that answer as the providers would (`mocks.py`), and the Kubernetes manifests of a plan
(`render.py`). Everything that touches Pulumi internals lives in `internals.py`, the only module
of Sahab that imports `pulumi.runtime` (tests/engine/test_pulumi_internals.py guards it).

The lowest layer of `sahab`: the gate, cost, the live operations and the CLI build on it; it
imports none of them.
"""
